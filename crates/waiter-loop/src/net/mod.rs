//! Non-blocking sockets on the loop: TCP, UDP and Unix streams, async and callback forms.
//!
//! Every socket is a descriptor created `CLOEXEC | NONBLOCK` plus a
//! registration with the loop it was made on. An operation is tried first and
//! parks its task only on `WouldBlock` (readiness starts optimistic), so one
//! that can complete at once costs one system call and no trip through the
//! poll phase; one that cannot resumes when the backend reports readiness.
//! Each operation runs until `WouldBlock` before it waits, which edge-triggered
//! epoll requires and level-triggered poll(2) is content with.
//!
//! Two forms, one implementation:
//! - **async**: [`TcpListener::accept`], [`TcpStream::read`],
//!   [`TcpStream::write_all`], ... awaited in tasks ([`Loop::spawn`]);
//! - **callbacks** (libuv's `uv_listen` and `uv_read_start`):
//!   [`TcpListener::listen`] and [`TcpStream::read_start`] spawn one task
//!   that awaits the async form and calls a closure, and return a
//!   [`StopHandle`].
//!
//! A socket wakes at most one waiting reader and one waiting writer, so one
//! task at a time may wait in each direction: a second one gets an error at
//! once instead of silently taking the first one's wake-up.
//!
//! # Examples
//!
//! ```
//! use waiter_loop::net::{TcpListener, TcpStream};
//! use waiter_loop::Loop;
//!
//! let lp = Loop::new().unwrap();
//! let listener = TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap()).unwrap();
//! let addr = listener.local_addr().unwrap();
//! let reply = lp.block_on(async {
//!     let server = waiter_loop::spawn(async move {
//!         let (conn, _peer) = listener.accept().await?;
//!         let mut buf = [0; 4];
//!         let n = conn.read(&mut buf).await?;
//!         conn.write_all(&buf[..n]).await
//!     });
//!     let client = TcpStream::connect(&lp, addr).await.unwrap();
//!     client.write_all(b"ping").await.unwrap();
//!     let mut buf = [0; 4];
//!     let n = client.read(&mut buf).await.unwrap();
//!     server.await.unwrap();
//!     buf[..n].to_vec()
//! });
//! assert_eq!(reply, b"ping");
//! ```

mod accept;
mod stream;
mod tcp;
mod udp;
mod unix;

pub use tcp::{ListenOptions, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::event_loop::Loop;
use crate::poller::Interest;
use crate::sys::net as sys;
use crate::watch::Registration;

/// A non-blocking socket registered with a loop: what every socket type is built on.
#[derive(Debug)]
pub(crate) struct SocketIo {
    /// Declared first so that it drops first: the descriptor leaves the
    /// backend before it closes (epoll would forget it anyway, poll would not).
    reg: Registration,
    fd: OwnedFd,
    /// INVARIANT: `busy[0]` (reading) and `busy[1]` (writing) are true exactly
    /// while a [`Turn`] for that direction is alive.
    busy: [Cell<bool>; 2],
}

/// The right to wait on a socket in one direction, held for one operation.
pub(crate) struct Turn<'a> {
    busy: &'a Cell<bool>,
    dir: Interest,
    reg: &'a Registration,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        // A dropped (cancelled) operation must not leave its waker behind.
        self.reg.cancel(self.dir);
        self.busy.set(false);
    }
}

impl SocketIo {
    /// Registers `fd`, a non-blocking socket, with `lp`.
    pub(crate) fn new(lp: &Loop, fd: OwnedFd) -> io::Result<SocketIo> {
        let reg = Registration::new(lp, fd.as_raw_fd())?;
        Ok(SocketIo { reg, fd, busy: Default::default() })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The loop the socket is registered with.
    pub(crate) fn loop_(&self) -> io::Result<Loop> {
        self.reg.loop_().ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "the loop has been dropped"))
    }

    /// Takes the turn to wait in `dir` (`READABLE` or `WRITABLE`).
    ///
    /// # Errors
    ///
    /// `Other` while another operation holds it: the registration would wake
    /// only one of the two waiters, and the other would hang.
    pub(crate) fn turn(&self, dir: Interest) -> io::Result<Turn<'_>> {
        let busy = &self.busy[usize::from(dir.is_writable())];
        if busy.replace(true) {
            let what = if dir.is_writable() { "write" } else { "read" };
            return Err(io::Error::other(format!(
                "fd {}: another task is already waiting to {what} (one reader and one writer at a time)",
                self.fd.as_raw_fd()
            )));
        }
        Ok(Turn { busy, dir, reg: &self.reg })
    }

    /// Runs `op` on the descriptor until it returns anything but
    /// `WouldBlock`, parking between tries until the backend reports readiness.
    pub(crate) async fn io<R>(
        &self,
        turn: &Turn<'_>,
        mut op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        self.reg.io(turn.dir, || op(self.fd.as_fd())).await
    }

    /// One operation in `dir`: takes the turn, then [`io`](SocketIo::io).
    pub(crate) async fn once<R>(
        &self,
        dir: Interest,
        op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        let turn = self.turn(dir)?;
        self.io(&turn, op).await
    }

    /// Runs `op` once, without waiting; a `WouldBlock` clears the cached
    /// readiness, so that the next wait parks until the backend reports more.
    /// When the socket is already known not to be ready, `op` is not even
    /// tried: the answer would be `EAGAIN`, so it is given without the syscall.
    pub(crate) fn try_io<R>(
        &self,
        dir: Interest,
        op: impl FnOnce(BorrowedFd<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        if !self.reg.is_ready(dir) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let result = op(self.fd.as_fd());
        if matches!(&result, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.reg.clear_ready(dir);
        }
        result
    }

    /// Waits until the socket may be ready in the turn's direction; readiness
    /// is a hint (it starts optimistic), so the next operation may still say
    /// `WouldBlock`, which [`try_io`](SocketIo::try_io) turns into a real wait.
    pub(crate) async fn wait(&self, turn: &Turn<'_>) -> io::Result<()> {
        poll_fn(|cx| self.reg.poll_ready(cx, turn.dir)).await.map(drop)
    }

    /// One poll of [`wait`](SocketIo::wait), without taking the turn.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Interest) -> Poll<io::Result<()>> {
        self.reg.poll_ready(cx, dir).map(|r| r.map(drop))
    }

    /// [`wait`](SocketIo::wait) in `dir`, taking the turn for it.
    pub(crate) async fn ready(&self, dir: Interest) -> io::Result<()> {
        let turn = self.turn(dir)?;
        self.wait(&turn).await
    }

    /// Adds what the socket is (its descriptor, and its peer's or its own
    /// address when the kernel still knows them) to an error from `op`.
    pub(crate) fn context(&self, op: &str, e: io::Error) -> io::Error {
        let fd = self.fd.as_fd();
        let addr = sys::peer_addr(fd)
            .map(|peer| format!(", peer {peer}"))
            .or_else(|_| sys::local_addr(fd).map(|local| format!(", local {local}")))
            .unwrap_or_default();
        context(e, format_args!("{op} (fd {}{addr})", fd.as_raw_fd()))
    }
}

/// Prefixes `e`'s message with `what` ("connect to 127.0.0.1:80"), keeping its kind.
pub(crate) fn context(e: io::Error, what: fmt::Arguments<'_>) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Implements `AsFd` and `AsRawFd` for a socket type: `impl_as_fd!(Type, s => <the SocketIo of s>)`.
macro_rules! impl_as_fd {
    ($ty:ty, $this:ident => $io:expr) => {
        impl ::std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                let $this = self;
                $io.fd()
            }
        }

        impl ::std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                ::std::os::fd::AsRawFd::as_raw_fd(&::std::os::fd::AsFd::as_fd(self))
            }
        }
    };
}
pub(crate) use impl_as_fd;

/// Stops a callback-driven socket ([`TcpListener::listen`],
/// [`TcpStream::read_start`] and their Unix twins). Once stopped, or
/// dropped, no further callback runs; the task behind it ends at its next
/// turn and drops the socket it owns.
#[derive(Debug)]
#[must_use = "dropping a StopHandle stops the callbacks"]
pub struct StopHandle {
    state: Rc<StopState>,
}

#[derive(Debug, Default)]
struct StopState {
    stopped: Cell<bool>,
    finished: Cell<bool>,
    /// The task's waker, so that `stop` can end a task parked on I/O.
    waker: RefCell<Option<Waker>>,
}

impl StopHandle {
    /// Stops the callbacks (libuv's `uv_read_stop`, or `uv_close` on a listener).
    pub fn stop(&self) {
        self.state.stopped.set(true);
        let waker = self.state.waker.take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Whether callbacks may still come: not stopped, and not ended by
    /// end-of-stream or an error.
    pub fn is_active(&self) -> bool {
        !self.state.stopped.get() && !self.state.finished.get()
    }
}

impl Drop for StopHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Spawns the task behind a [`StopHandle`]. `body` gets a probe of the stop
/// flag, to check between callbacks run in one turn.
fn spawn_stoppable<F, B>(lp: &Loop, body: B) -> StopHandle
where
    B: FnOnce(StopProbe) -> F,
    F: Future<Output = ()> + 'static,
{
    let state = Rc::new(StopState::default());
    let future = Box::pin(body(StopProbe(state.clone())));
    drop(lp.spawn(Stoppable { state: state.clone(), future }));
    StopHandle { state }
}

/// Whether the [`StopHandle`] of the running task was stopped.
pub(crate) struct StopProbe(Rc<StopState>);

impl StopProbe {
    pub(crate) fn is_stopped(&self) -> bool {
        self.0.stopped.get()
    }
}

/// A future that ends early when its [`StopHandle`] is stopped.
struct Stoppable<F> {
    state: Rc<StopState>,
    future: Pin<Box<F>>,
}

impl<F: Future<Output = ()>> Future for Stoppable<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.state.stopped.get() {
            return Poll::Ready(());
        }
        {
            let mut waker = self.state.waker.borrow_mut();
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
        }
        let done = self.future.as_mut().poll(cx);
        if done.is_ready() {
            self.state.finished.set(true);
        }
        done
    }
}
