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
//! Every write the socket takes is counted for the access log
//! ([`crate::access_log::wrote`]), so a response cut short logs what left.

use std::fs::File;
use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

use waiter_loop::net::TcpStream;
use waiter_loop::{Loop, Sleep};

use crate::range::ByteRange;

/// Linux moves at most this much per `sendfile` call (`MAX_RW_COUNT`).
const MAX_SENDFILE: u64 = 0x7fff_f000;

/// `TCP_NOTSENT_LOWAT` of every connection (set once, when it is accepted, so
/// that a response costs no extra system call): `sendfile` queues at most this
/// much beyond what the window lets leave at once.
///
/// Without it `sendfile` fills the whole autotuned send buffer (megabytes),
/// most of it past the receiver's window, and each acknowledgement then
/// transmits the next segments from the softirq of the core that sent it,
/// the client's: on loopback that put the server's transmit work on the
/// load generator's core, which was the bottleneck (10 MiB responses at
/// 100 connections: 1.1–1.5 GB/s). With the queue kept short, segments
/// leave from our own `sendfile` calls on the server's core (2.1–2.3 GB/s
/// for 4–32 KiB here, 1.5–1.7 at 64 KiB), at the price of more wake-ups per
/// response. It also bounds the memory a slow reader pins (nginx relies on
/// `sendfile_max_chunk` for fairness instead; h2o gets the same effect by
/// writing small copied chunks only when the socket is writable).
pub(crate) const NOTSENT_LOWAT: u32 = 16 * 1024;

/// What follows a response head.
#[derive(Debug)]
pub(crate) enum Body<'a> {
    /// Nothing (HEAD, 304, an empty file).
    Empty,
    /// One in-memory piece, sent with the head in one `writev`: a small
    /// file or a short text.
    One(&'a [u8]),
    /// In-memory pieces, sent with the head in one `writev`: a slice of a
    /// small file, or the parts of a `multipart/byteranges` body.
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
        Body::One(piece) => writev(lp, stream, timeout, &[head, piece]).await,
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

/// Runs `op` bounded by `limit`; the timer starts only once `op` has to wait,
/// so a write the socket takes at once costs no timer at all.
async fn bounded<T>(lp: &Loop, limit: Duration, op: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    let mut op = pin!(op);
    let mut sleep: Option<Sleep> = None;
    poll_fn(|cx| {
        if let Poll::Ready(out) = op.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        let sleep = match &mut sleep {
            Some(sleep) => sleep,
            None => match lp.sleep(limit) {
                Ok(started) => sleep.insert(started),
                Err(e) => return Poll::Ready(Err(e)),
            },
        };
        Pin::new(sleep).poll(cx).map(|()| {
            Err(io::Error::new(io::ErrorKind::TimedOut, format!("the client took no bytes for {limit:?}")))
        })
    })
    .await
}

/// Slices a `writev` passes without a heap allocation.
const INLINE: usize = 4;

/// Writes all of `pieces` with as few `writev`s as the socket allows.
async fn writev(lp: &Loop, stream: &TcpStream, timeout: Duration, pieces: &[&[u8]]) -> io::Result<()> {
    let mut inline = [&[][..]; INLINE];
    let mut spilled;
    let rest: &mut [&[u8]] = if pieces.len() <= INLINE {
        inline[..pieces.len()].copy_from_slice(pieces);
        &mut inline[..pieces.len()]
    } else {
        spilled = pieces.to_vec();
        &mut spilled
    };
    let mut first = 0;
    let mut left: usize = rest.iter().map(|p| p.len()).sum();
    while left > 0 {
        while rest[first].is_empty() {
            first += 1;
        }
        let mut n = if rest.len() - first <= INLINE {
            let mut slices = [IoSlice::new(&[]); INLINE];
            let count = rest.len() - first;
            for (slot, piece) in slices.iter_mut().zip(&rest[first..]) {
                *slot = IoSlice::new(piece);
            }
            bounded(lp, timeout, stream.writev(&slices[..count])).await?
        } else {
            let slices: Vec<IoSlice<'_>> = rest[first..].iter().map(|p| IoSlice::new(p)).collect();
            bounded(lp, timeout, stream.writev(&slices)).await?
        };
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "writev wrote nothing"));
        }
        crate::access_log::wrote(n);
        left -= n;
        while first < rest.len() && n >= rest[first].len() {
            n -= rest[first].len();
            first += 1;
        }
        if let Some(partial) = rest.get_mut(first) {
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
        let n = bounded(lp, timeout, stream.sendfile(file, &mut offset, count)).await?;
        crate::access_log::wrote(n);
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the file ended at offset {offset}, before {end}"),
            ));
        }
    }
    Ok(())
}
