//! Putting a response on the wire: one `writev` for a head with an in-memory
//! body, or a corked `writev` + `sendfile` for a file that stays in the kernel.
//!
//! This is the second seed's picture: the head and a small body leave in one
//! system call; a large body is never copied to user space. `TCP_CORK` holds
//! the head back until `sendfile` has added the first bytes, so they share a
//! segment, and uncorking flushes the tail (nginx's `tcp_nopush`).
//!
//! Every write waits at most the send timeout for the client to make room
//! (nginx's `send_timeout` is also per write, not per response): a slow
//! client downloading 1 GiB is fine, one that stopped reading is not.

use std::fs::File;
use std::io::{self, IoSlice};
use std::time::Duration;

use waiter_loop::net::TcpStream;
use waiter_loop::Loop;

use crate::range::ByteRange;

/// Linux moves at most this much per `sendfile` call (`MAX_RW_COUNT`).
const MAX_SENDFILE: u64 = 0x7fff_f000;

/// What follows a response head.
#[derive(Debug)]
pub(crate) enum Body<'a> {
    /// Nothing (HEAD, 304, an empty file).
    Empty,
    /// In-memory pieces, sent with the head in one `writev`: a small file,
    /// a slice of it, or the parts of a `multipart/byteranges` body.
    Memory(Vec<&'a [u8]>),
    /// File ranges, each preceded by its framing bytes (empty for a plain
    /// body), then a trailer: `sendfile` for the bytes.
    File {
        /// The open file.
        file: &'a File,
        /// `(framing before the range, the range)`, in order.
        parts: Vec<(Vec<u8>, ByteRange)>,
        /// Bytes after the last range (the multipart closing delimiter).
        trailer: Vec<u8>,
    },
}

/// Sends `head` then `body`, each write bounded by `timeout`.
///
/// # Errors
///
/// The socket's error, or `TimedOut` when the client took no bytes for `timeout`.
pub(crate) async fn send(
    lp: &Loop,
    stream: &TcpStream,
    timeout: Duration,
    head: &[u8],
    body: Body<'_>,
) -> io::Result<()> {
    match body {
        Body::Empty => writev(lp, stream, timeout, &[head]).await,
        Body::Memory(pieces) => {
            let mut all = Vec::with_capacity(pieces.len() + 1);
            all.push(head);
            all.extend(pieces);
            writev(lp, stream, timeout, &all).await
        }
        Body::File { file, parts, trailer } => {
            stream.set_cork(true)?;
            let mut pending: Vec<&[u8]> = vec![head];
            for (framing, range) in &parts {
                pending.push(framing);
                writev(lp, stream, timeout, &pending).await?;
                pending.clear();
                sendfile(lp, stream, timeout, file, *range).await?;
            }
            pending.push(&trailer);
            writev(lp, stream, timeout, &pending).await?;
            stream.set_cork(false)
        }
    }
}

/// Writes all of `pieces` (skipping empty ones) with as few `writev`s as the socket allows.
async fn writev(lp: &Loop, stream: &TcpStream, timeout: Duration, pieces: &[&[u8]]) -> io::Result<()> {
    let mut rest: Vec<&[u8]> = pieces.iter().copied().filter(|p| !p.is_empty()).collect();
    while !rest.is_empty() {
        let slices: Vec<IoSlice<'_>> = rest.iter().map(|p| IoSlice::new(p)).collect();
        let mut n = lp.timeout(timeout, stream.writev(&slices))?.await??;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "writev wrote nothing"));
        }
        let mut first = 0;
        while first < rest.len() && n >= rest[first].len() {
            n -= rest[first].len();
            first += 1;
        }
        rest.drain(..first);
        if let Some(partial) = rest.first_mut() {
            *partial = &partial[n..];
        }
    }
    Ok(())
}

/// Sends `range` of `file` with `sendfile`.
async fn sendfile(
    lp: &Loop,
    stream: &TcpStream,
    timeout: Duration,
    file: &File,
    range: ByteRange,
) -> io::Result<()> {
    let mut offset = range.first;
    let end = range.last + 1;
    while offset < end {
        let count = (end - offset).min(MAX_SENDFILE) as usize;
        let n = lp.timeout(timeout, stream.sendfile(file, &mut offset, count))?.await??;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the file ended at offset {offset}, before {end}"),
            ));
        }
    }
    Ok(())
}
