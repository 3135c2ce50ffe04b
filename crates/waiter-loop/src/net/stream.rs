//! Byte-stream plumbing shared by TCP and Unix streams: connect, read, write,
//! `writev`, `sendfile`, and the `read_start` callback loop (plus the
//! `MSG_MORE` write only [`TcpStream`](super::TcpStream) exposes).
//!
//! The logic lives once, on `SocketIo`; [`stream_methods!`] gives
//! [`TcpStream`](super::TcpStream) and [`UnixStream`](super::UnixStream)
//! the same documented public methods over it.

use std::fs::File;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd};

use super::{SocketIo, StopProbe};
use crate::event_loop::Loop;
use crate::poller::{Interest, Readiness};
use crate::sys;
use crate::sys::net::{SockAddr, SockType};

/// Bytes `read_start` reads per call: Node's and libuv's customary 64 KiB.
/// The buffer exists only while the socket is readable, so an idle stream
/// holds none.
const READ_CHUNK: usize = 64 * 1024;

/// Slices handed to one `writev` (Linux's `UIO_MAXIOV`; more is `EINVAL`).
const MAX_IOV: usize = 1024;

impl SocketIo {
    /// Connects a new stream socket to `addr`, waiting for the handshake.
    pub(crate) async fn connect(lp: &Loop, addr: &SockAddr) -> io::Result<SocketIo> {
        let fd = sys::net::socket(addr, SockType::Stream)?;
        let connected = match sys::net::connect(fd.as_fd(), addr) {
            // Unix sockets never say EINPROGRESS: they fail with EAGAIN when the
            // listener's backlog is full. BSDs say ECONNREFUSED there, and so do we.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    "the listener's backlog is full",
                ))
            }
            other => other?,
        };
        let io = SocketIo::new(lp, fd)?;
        if !connected {
            io.once(Interest::WRITABLE, finish_connect).await?;
        }
        Ok(io)
    }

    /// Reads into `buf`, waiting for data or end-of-stream.
    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.once(Interest::READABLE, |fd| self.read_draining(fd, buf))
            .await
            .map_err(|e| self.context("read", e))
    }

    /// One `read`; a short one (0 < n < len) drained the socket's receive
    /// queue, so readiness is forgotten here rather than by a second `read`
    /// that would only say `EAGAIN` (tokio and libuv do the same). New data
    /// raises a new edge; a pending hang-up stays cached.
    ///
    /// The read is a `recvfrom(2)`, not a `read(2)`: the same socket receive
    /// without the VFS layer around it (`vfs_read` and `fdget_pos` were
    /// 3.5–4% of a static server's CPU at 1 KiB requests; nginx uses `recv`).
    fn read_draining(&self, fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        let (n, _) = sys::net::recv_from(fd, buf)?;
        if n > 0 && n < buf.len() {
            self.reg.clear_bits(Readiness::READABLE);
        }
        Ok(n)
    }

    /// Reads into `buf` if data is there now; `WouldBlock` otherwise.
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self.try_io(Interest::READABLE, |fd| self.read_draining(fd, buf)) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(self.context("read", e)),
            other => other,
        }
    }

    /// One `writev` if the socket has room now; `WouldBlock` otherwise.
    /// Refused while another task waits to write: its bytes would interleave.
    pub(crate) fn try_writev(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.busy[1].get() {
            return Err(io::Error::other("another task is already writing (one writer at a time)"));
        }
        let bufs = &bufs[..bufs.len().min(MAX_IOV)];
        match self.try_io(Interest::WRITABLE, |fd| sys::writev(fd, bufs)) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(self.context("writev", e)),
            other => other,
        }
    }

    /// Writes some of `buf`, waiting for room.
    pub(crate) async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.once(Interest::WRITABLE, |fd| sys::net::send(fd, buf))
            .await
            .map_err(|e| self.context("write", e))
    }

    /// Writes all of `buf`.
    pub(crate) async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        let turn = self.turn(Interest::WRITABLE)?;
        while !buf.is_empty() {
            let n =
                self.io(&turn, |fd| sys::net::send(fd, buf)).await.map_err(|e| self.context("write", e))?;
            if n == 0 {
                return Err(self.context("write", io::ErrorKind::WriteZero.into()));
            }
            buf = &buf[n..];
        }
        Ok(())
    }

    /// One `writev`: some of `bufs`, gathered.
    pub(crate) async fn writev(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let bufs = &bufs[..bufs.len().min(MAX_IOV)];
        self.once(Interest::WRITABLE, |fd| sys::writev(fd, bufs)).await.map_err(|e| self.context("writev", e))
    }

    /// One `sendmsg` with `MSG_MORE`: some of `bufs`, gathered, with the
    /// last partial segment held for the bytes the next write adds.
    pub(crate) async fn writev_more(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let bufs = &bufs[..bufs.len().min(MAX_IOV)];
        self.once(Interest::WRITABLE, |fd| sys::sendmsg(fd, bufs, libc::MSG_MORE))
            .await
            .map_err(|e| self.context("sendmsg", e))
    }

    /// Writes all of `bufs`, resuming partial `writev`s where they stopped.
    pub(crate) async fn writev_all(&self, bufs: &[IoSlice<'_>]) -> io::Result<()> {
        let turn = self.turn(Interest::WRITABLE)?;
        let mut rest: Vec<&[u8]> = bufs.iter().map(|b| &**b).filter(|b| !b.is_empty()).collect();
        let mut first = 0;
        while first < rest.len() {
            let slices: Vec<IoSlice<'_>> =
                rest[first..].iter().take(MAX_IOV).map(|b| IoSlice::new(b)).collect();
            let mut n =
                self.io(&turn, |fd| sys::writev(fd, &slices)).await.map_err(|e| self.context("writev", e))?;
            if n == 0 {
                return Err(self.context("writev", io::ErrorKind::WriteZero.into()));
            }
            while n > 0 {
                let len = rest[first].len();
                if n < len {
                    rest[first] = &rest[first][n..];
                    break;
                }
                n -= len;
                first += 1;
            }
        }
        Ok(())
    }

    /// One `sendfile`: up to `count` bytes of `file` from `*offset`, advancing it.
    pub(crate) async fn sendfile(&self, file: &File, offset: &mut u64, count: usize) -> io::Result<usize> {
        self.once(Interest::WRITABLE, |fd| sys::sendfile(fd, file.as_fd(), offset, count))
            .await
            .map_err(|e| self.context("sendfile", e))
    }

    /// Sends exactly `count` bytes of `file` from `*offset`.
    pub(crate) async fn sendfile_all(
        &self,
        file: &File,
        offset: &mut u64,
        mut count: usize,
    ) -> io::Result<()> {
        let turn = self.turn(Interest::WRITABLE)?;
        while count > 0 {
            let n = self
                .io(&turn, |fd| sys::sendfile(fd, file.as_fd(), offset, count))
                .await
                .map_err(|e| self.context("sendfile", e))?;
            if n == 0 {
                let e = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the file ended at offset {offset}, {count} bytes short"),
                );
                return Err(self.context("sendfile", e));
            }
            count -= n;
        }
        Ok(())
    }

    /// `shutdown(2)`.
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        sys::net::shutdown(self.fd(), how).map_err(|e| self.context("shutdown", e))
    }

    /// The `read_start` task's body: waits until readable, then reads into a
    /// fresh chunk until `WouldBlock`, calling `on_read` with each piece.
    /// Ends after passing on end-of-stream (`Ok(&[])`) or an error, or once stopped.
    pub(crate) async fn read_loop<F>(&self, stop: StopProbe, mut on_read: F)
    where
        F: FnMut(&Loop, io::Result<&[u8]>),
    {
        loop {
            if let Err(e) = self.ready(Interest::READABLE).await {
                if let Ok(lp) = self.loop_() {
                    on_read(&lp, Err(e));
                }
                return;
            }
            let mut buf = vec![0; READ_CHUNK];
            loop {
                let Ok(lp) = self.loop_() else { return };
                let done = match self.try_read(&mut buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Ok(n) => {
                        on_read(&lp, Ok(&buf[..n]));
                        n == 0
                    }
                    Err(e) => {
                        on_read(&lp, Err(e));
                        true
                    }
                };
                if done || stop.is_stopped() {
                    return;
                }
            }
        }
    }
}

/// Finishes a non-blocking connect once the socket is writable: its pending
/// error if it failed, `WouldBlock` while it is still in progress.
fn finish_connect(fd: BorrowedFd<'_>) -> io::Result<()> {
    if let Some(e) = sys::net::take_error(fd)? {
        return Err(e);
    }
    match sys::net::peer_addr(fd) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Err(io::ErrorKind::WouldBlock.into()),
        Err(e) => Err(e),
    }
}

/// The public byte-stream methods of a socket type with a `SocketIo` field
/// named `io`: the same for [`TcpStream`](super::TcpStream) and
/// [`UnixStream`](super::UnixStream).
macro_rules! stream_methods {
    ($stream:ident) => {
        impl $stream {
            /// Reads into `buf`, waiting until data or end-of-stream arrives.
            /// `Ok(0)` means end-of-stream (the peer shut down its writing
            /// side) or an empty `buf`.
            ///
            /// # Errors
            ///
            /// The kernel's error with the socket's address
            /// (`ConnectionReset` after the peer reset the connection, for
            /// instance); `Other` while another task is already reading;
            /// `BrokenPipe` once the loop is gone.
            pub async fn read(&self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                self.io.read(buf).await
            }

            /// Reads into `buf` if data is there now, without waiting.
            ///
            /// # Errors
            ///
            /// `WouldBlock` when nothing is there: the next wait (in
            /// [`readable`](Self::readable), say) then parks until the
            /// backend reports more. Otherwise as [`read`](Self::read).
            pub fn try_read(&self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                self.io.try_read(buf)
            }

            /// Waits until the stream may be readable, without reading: a
            /// connection can then take a buffer only once data has arrived.
            /// Readiness is a hint: follow with [`try_read`](Self::try_read)
            /// until it says `WouldBlock`.
            ///
            /// # Errors
            ///
            /// `Other` while another task is already reading; `BrokenPipe`
            /// once the loop is gone.
            pub async fn readable(&self) -> ::std::io::Result<()> {
                self.io.ready($crate::Interest::READABLE).await
            }

            /// The poll form of [`readable`](Self::readable), for a
            /// hand-written future that waits for data and something else
            /// at once without boxing or nesting a future: `Ready` when the
            /// stream may be readable, else `Pending` with the task's waker
            /// kept until the backend reports readiness or the stream is
            /// dropped. Only the latest caller's waker is kept, so one task
            /// at a time should poll it.
            ///
            /// # Errors
            ///
            /// `BrokenPipe` once the loop is gone.
            pub fn poll_readable(
                &self,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                self.io.poll_ready(cx, $crate::Interest::READABLE)
            }

            /// Writes some of `buf`, waiting until there is room, and
            /// returns how much was written.
            ///
            /// # Errors
            ///
            /// The kernel's error with the socket's address (`BrokenPipe` or
            /// `ConnectionReset` once the peer has gone); `Other` while
            /// another task is already writing; `BrokenPipe` once the loop is gone.
            pub async fn write(&self, buf: &[u8]) -> ::std::io::Result<usize> {
                self.io.write(buf).await
            }

            /// Writes all of `buf`, waiting for room as often as needed.
            ///
            /// # Errors
            ///
            /// As [`write`](Self::write); some of `buf` may have been sent.
            pub async fn write_all(&self, buf: &[u8]) -> ::std::io::Result<()> {
                self.io.write_all(buf).await
            }

            /// Writes some of `bufs` with one `writev(2)` (at most 1,024
            /// slices) if the stream has room now, without waiting, and
            /// returns how much was written: a server can answer a request
            /// from the task's poll that read it, with no future to build.
            ///
            /// # Errors
            ///
            /// `WouldBlock` when there is no room: the next write (with
            /// [`writev`](Self::writev), say) then parks until the backend
            /// reports some. `Other` while another task is waiting to write.
            /// Otherwise as [`writev`](Self::writev).
            pub fn try_writev(&self, bufs: &[::std::io::IoSlice<'_>]) -> ::std::io::Result<usize> {
                self.io.try_writev(bufs)
            }

            /// Writes some of `bufs` with one `writev(2)` (at most 1,024
            /// slices) and returns how much was written.
            ///
            /// # Errors
            ///
            /// As [`write`](Self::write).
            pub async fn writev(&self, bufs: &[::std::io::IoSlice<'_>]) -> ::std::io::Result<usize> {
                self.io.writev(bufs).await
            }

            /// Writes all of `bufs` in order, resuming each partial `writev`
            /// where it stopped.
            ///
            /// # Errors
            ///
            /// As [`write`](Self::write); some of `bufs` may have been sent.
            pub async fn writev_all(&self, bufs: &[::std::io::IoSlice<'_>]) -> ::std::io::Result<()> {
                self.io.writev_all(bufs).await
            }

            /// Sends up to `count` bytes of `file` from `*offset` with one
            /// `sendfile(2)` (the kernel copies, user space never sees the
            /// bytes), advances `*offset`, and returns how many were sent:
            /// 0 at the end of the file.
            ///
            /// # Errors
            ///
            /// As [`write`](Self::write); `InvalidInput` for an offset beyond `off_t`.
            pub async fn sendfile(
                &self,
                file: &::std::fs::File,
                offset: &mut u64,
                count: usize,
            ) -> ::std::io::Result<usize> {
                self.io.sendfile(file, offset, count).await
            }

            /// Sends exactly `count` bytes of `file` from `*offset`,
            /// advancing `*offset` as they go.
            ///
            /// # Errors
            ///
            /// As [`sendfile`](Self::sendfile); `UnexpectedEof` when the file
            /// ends first.
            pub async fn sendfile_all(
                &self,
                file: &::std::fs::File,
                offset: &mut u64,
                count: usize,
            ) -> ::std::io::Result<()> {
                self.io.sendfile_all(file, offset, count).await
            }

            /// Shuts down reading, writing (the peer reads end-of-stream), or both.
            ///
            /// # Errors
            ///
            /// `NotConnected` when the stream is not connected.
            pub fn shutdown(&self, how: ::std::net::Shutdown) -> ::std::io::Result<()> {
                self.io.shutdown(how)
            }

            /// The callback form of reading (libuv's `uv_read_start`, Node's
            /// `'data'` events): a task reads whenever the stream is readable
            /// and calls `on_read` with each chunk, then once with `Ok(&[])`
            /// at end-of-stream or with the error, and stops. A 64 KiB buffer
            /// exists only while data is being read.
            ///
            /// The task holds one `Rc` of the stream; keep a clone to write
            /// to it meanwhile. Dropping the returned handle stops the reading.
            ///
            /// # Errors
            ///
            /// `BrokenPipe` once the loop is gone.
            pub fn read_start<F>(
                self: ::std::rc::Rc<Self>,
                on_read: F,
            ) -> ::std::io::Result<$crate::net::StopHandle>
            where
                F: FnMut(&$crate::Loop, ::std::io::Result<&[u8]>) + 'static,
            {
                let lp = self.io.loop_()?;
                Ok($crate::net::spawn_stoppable(&lp, move |stop| async move {
                    self.io.read_loop(stop, on_read).await
                }))
            }
        }

        $crate::net::impl_as_fd!($stream, stream => stream.io);
    };
}
pub(crate) use stream_methods;
