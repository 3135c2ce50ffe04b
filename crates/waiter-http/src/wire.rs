//! Reading requests off a connection and the lingering close after the
//! last response: the socket side that every HTTP/1.1 connection task needs.
//!
//! Shared by the static server (`conn.rs`) and the handler server
//! ([`crate::app`]), which read and close in the same way. What it keeps
//! small is an idle keep-alive connection: a [`ReadBuf`] owns no heap while
//! nothing is pending, a read that may find nothing goes through one
//! [`Scratch`] buffer per loop instead of an allocation or a zeroed stack
//! array, and waits are bounded by a [`Deadline`] slot instead of a timer.

use std::cell::{RefCell, RefMut};
use std::io;
use std::net::Shutdown;
use std::time::{Duration, Instant};

use waiter_loop::net::TcpStream;
use waiter_loop::Loop;

use crate::deadline::{Deadline, When};

/// Bytes a read asks for: a typical request head fits, and a pipelined
/// batch of small ones arrives in few reads.
pub(crate) const READ_CHUNK: usize = 4096;

/// After the last response, how long the connection keeps reading (and
/// discarding) before it closes, so that unread request bytes do not make the
/// kernel answer with a reset that destroys the response in flight (nginx's
/// `lingering_close`, whose `lingering_time` is 30 s). Like nginx, there is no
/// byte cap: a client that pipelined far ahead still gets every answer it was
/// sent; the time bounds what a hostile client can make us read.
pub(crate) const LINGER_TIME: Duration = Duration::from_secs(2);

/// One loop's buffer for the first read of a request, shared by its
/// connections: the read needs neither a zeroed stack array nor an
/// allocation when it finds nothing (a spurious wake-up).
pub(crate) struct Scratch(RefCell<Box<[u8]>>);

impl Scratch {
    pub(crate) fn new() -> Scratch {
        Scratch(RefCell::new(vec![0; READ_CHUNK].into_boxed_slice()))
    }

    /// The buffer itself, for a read whose bytes are answered (or copied
    /// out) before the borrow ends.
    pub(crate) fn borrow(&self) -> RefMut<'_, Box<[u8]>> {
        self.0.borrow_mut()
    }
}

/// The unconsumed bytes read from a connection.
#[derive(Default)]
pub(crate) struct ReadBuf {
    /// INVARIANT: `start <= data.len()`; `data` is empty (unallocated) when
    /// nothing is pending.
    data: Vec<u8>,
    start: usize,
}

impl ReadBuf {
    pub(crate) fn pending(&self) -> &[u8] {
        &self.data[self.start..]
    }

    /// Drops `n` pending bytes, giving the buffer back once all are gone.
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.data.len());
        if self.start == self.data.len() {
            *self = ReadBuf::default();
        }
    }

    /// Takes `n` pending bytes out (a request body): the buffer itself, with
    /// no copy, when they are all it holds.
    pub(crate) fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.pending().len());
        if self.start == 0 && n == self.data.len() {
            return std::mem::take(self).data;
        }
        let taken = self.pending()[..n].to_vec();
        self.consume(n);
        taken
    }

    /// A buffer holding a copy of `bytes` (what a read left unanswered).
    pub(crate) fn copied(bytes: &[u8]) -> ReadBuf {
        ReadBuf { data: bytes.to_vec(), start: 0 }
    }

    /// One non-blocking read: `Ok(0)` at end-of-stream, `WouldBlock` when
    /// nothing is there.
    pub(crate) fn try_fill(&mut self, scratch: &Scratch, stream: &TcpStream) -> io::Result<usize> {
        if self.data.is_empty() {
            let mut first = scratch.0.borrow_mut();
            let n = stream.try_read(&mut first)?;
            self.data.extend_from_slice(&first[..n]);
            return Ok(n);
        }
        if self.start > 0 {
            self.data.drain(..self.start);
            self.start = 0;
        }
        let len = self.data.len();
        self.data.resize(len + READ_CHUNK, 0);
        let read = stream.try_read(&mut self.data[len..]);
        self.data.truncate(len + *read.as_ref().unwrap_or(&0));
        read
    }
}

/// Reads more of a request, until `deadline`: `Some(true)` when bytes came,
/// `Some(false)` when the time ran out, `None` at end-of-stream.
pub(crate) async fn read_more(
    scratch: &Scratch,
    stream: &TcpStream,
    timer: &Deadline,
    buf: &mut ReadBuf,
    deadline: Instant,
) -> io::Result<Option<bool>> {
    loop {
        match buf.try_fill(scratch, stream) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(true)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match timer.readable(stream, When::At(deadline), false).await {
                    Ok(ready) => ready?,
                    Err(_) => return Ok(Some(false)),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// How a connection ends.
pub(crate) enum Close {
    /// The peer went away, or stayed idle too long: just close.
    Now,
    /// The server ended it after a response: shut down writing, drain, close.
    AfterResponse,
}

impl Close {
    /// Ends the connection this way (the descriptor itself closes when the
    /// stream is dropped).
    pub(crate) async fn finish(self, lp: &Loop, stream: &TcpStream) {
        if let Close::AfterResponse = self {
            // Boxed: rare, and no connection need carry its state before.
            Box::pin(linger(lp, stream)).await;
        }
    }
}

/// Closes after a final response: shut down writing so the client reads
/// end-of-stream, then read and discard what it still sends, for
/// [`LINGER_TIME`] at most.
async fn linger(lp: &Loop, stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER_TIME;
    // On the heap: an array here would sit in every connection's future, idle ones included.
    let mut sink = vec![0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(read) = lp.timeout(left, stream.read(&mut sink)) else { return };
        match read.await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(bytes: &[u8], start: usize) -> ReadBuf {
        ReadBuf { data: bytes.to_vec(), start }
    }

    #[test]
    fn consuming_everything_gives_the_buffer_back() {
        let mut b = buf(b"abcdef", 0);
        b.consume(2);
        assert_eq!(b.pending(), b"cdef");
        b.consume(100);
        assert_eq!(b.pending(), b"");
        assert_eq!(b.data.capacity(), 0);
    }

    #[test]
    fn take_moves_a_whole_buffer_and_copies_a_part() {
        let mut whole = buf(b"body", 0);
        let ptr = whole.data.as_ptr();
        let taken = whole.take(4);
        assert_eq!((taken.as_slice(), taken.as_ptr()), (&b"body"[..], ptr));
        assert_eq!(whole.data.capacity(), 0);

        let mut part = buf(b"headbody+next", 4);
        assert_eq!(part.take(4), b"body");
        assert_eq!(part.pending(), b"+next");
        assert_eq!(part.take(99), b"+next");
        assert_eq!(part.data.capacity(), 0);
    }
}
