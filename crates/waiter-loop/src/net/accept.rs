//! Accepting connections, including when the descriptor table is full.
//!
//! When `accept4` fails with `EMFILE` (this process is at `RLIMIT_NOFILE`) or
//! `ENFILE` (the system is), the connection stays queued and the listener
//! stays readable. A level-triggered backend reports it again at once, so a
//! naive accept loop spins at 100% CPU; an edge-triggered one never reports it
//! again, so the queued clients hang until some new connection happens to
//! arrive. Two known answers:
//!
//! - **libuv's reserved descriptor** (`uv__emfile_trick`): keep one spare
//!   descriptor open (on `/dev/null`); at `EMFILE`, close it, accept every
//!   queued connection into the freed slot and close each at once, then
//!   reopen the spare. Clients see a clean close right away (they can retry
//!   or report) instead of hanging in the backlog, and the listener is back
//!   to waiting for readiness: no spinning under either backend.
//! - **nginx's pause** (`ngx_event_accept` disables accept events for a
//!   while): stop accepting for a back-off, then retry. Queued clients wait
//!   and are served once descriptors free up, if that happens before they
//!   give up; nothing spins, but nothing moves during the pause either.
//!
//! waiter does the first and falls back on the second: shedding is
//! immediate and deterministic, and keeps a full backlog from turning into
//! silent SYN drops. Shedding needs the spare, which is missing when it could
//! not be reopened (another thread took the freed slot first) or opened at
//! all (a listener adopted with the table already full); then, and for
//! `ENOBUFS` and `ENOMEM`, accepting pauses for [`PAUSE`] and tries again,
//! serving queued clients as descriptors free up. The spare is taken back
//! once the queue is empty, so queued clients get freed descriptors before
//! the reserve does. Either way [`Acceptor::accept`] never hands `EMFILE` or
//! `ENFILE` to its caller, whose natural reaction (log and accept again)
//! would be the very spin being avoided.
//!
//! A Linux quirk shapes the loop: with a full table `accept4` says `EMFILE`
//! even when the queue is empty (it reserves the descriptor before it looks),
//! so after shedding the listener waits for the next readiness report instead
//! of trying again.
//!
//! The spare costs one descriptor per listener (libuv keeps one per loop).

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use super::{context, spawn_stoppable, SocketIo, StopHandle};
use crate::event_loop::Loop;
use crate::poller::Interest;
use crate::sys;
use crate::sys::net::{SockAddr, SockOpt, SockType};

/// How long accepting pauses when no descriptor can be made free: long
/// enough to cost nothing measurable (ten failed `accept4` calls a second),
/// short enough that queued clients are served soon after descriptors free
/// up. nginx pauses 500 ms; libuv, which only sheds, does not pause.
pub(crate) const PAUSE: Duration = Duration::from_millis(100);

/// How many connections one accept task takes in a row before it yields to
/// the loop (see [`crate::yield_to_loop`]): a burst of thousands of queued
/// connections is taken in slices, between which the loop polls and the
/// connections already accepted (and everyone else) are served, instead of
/// in one callback that holds every other event back for the whole burst.
/// nginx takes one connection per readiness event unless `multi_accept` is
/// on; libuv takes the whole queue.
pub(crate) const ACCEPT_BUDGET: u32 = 64;

/// Turns an accepted descriptor and its peer's address into a connection.
pub(crate) type MakeConnection<T> = fn(&Loop, OwnedFd, SockAddr) -> io::Result<T>;

/// A listening socket and its spare descriptor; see the module documentation.
#[derive(Debug)]
pub(crate) struct Acceptor {
    io: SocketIo,
    /// The reserved descriptor that shedding spends; `None` when it could not
    /// be (re)opened, until the queue is next found empty with room for it.
    spare: RefCell<Option<OwnedFd>>,
    /// Connections taken since the queue was last empty or the task last
    /// yielded; see [`ACCEPT_BUDGET`].
    streak: Cell<u32>,
}

impl Acceptor {
    /// Creates a listening stream socket on `addr`, with `options` turned on before `bind`.
    pub(crate) fn bind(
        lp: &Loop,
        addr: &SockAddr,
        options: &[SockOpt],
        backlog: u32,
    ) -> io::Result<Acceptor> {
        let fd = sys::net::socket(addr, SockType::Stream)?;
        for &opt in options {
            sys::net::set_opt(fd.as_fd(), opt, true)?;
        }
        sys::net::bind(fd.as_fd(), addr)?;
        sys::net::listen(fd.as_fd(), backlog)?;
        Acceptor::new(lp, fd)
    }

    /// Adopts `fd`, a non-blocking socket that is already listening.
    pub(crate) fn new(lp: &Loop, fd: OwnedFd) -> io::Result<Acceptor> {
        let io = SocketIo::new(lp, fd)?;
        Ok(Acceptor { io, spare: RefCell::new(sys::open_dev_null().ok()), streak: Cell::new(0) })
    }

    pub(crate) fn io(&self) -> &SocketIo {
        &self.io
    }

    /// The next connection, made into a `T` by `make`.
    ///
    /// # Errors
    ///
    /// Errors that accepting again would only repeat (`EINVAL` when the
    /// socket is not listening, for instance), with the listener's address.
    /// Never `EMFILE` or `ENFILE`: see the module documentation.
    pub(crate) async fn accept<T>(&self, make: MakeConnection<T>) -> io::Result<T> {
        let (fd, addr) = self.accept_raw().await.map_err(|e| self.io.context("accept", e))?;
        make(&self.io.loop_()?, fd, addr)
    }

    async fn accept_raw(&self) -> io::Result<(OwnedFd, SockAddr)> {
        if self.streak.get() >= ACCEPT_BUDGET {
            self.streak.set(0);
            crate::yield_to_loop(&self.io.loop_()?).await;
        }
        let turn = self.io.turn(Interest::READABLE)?;
        loop {
            self.io.wait(&turn).await?;
            match self.io.try_io(Interest::READABLE, sys::net::accept) {
                Ok(conn) => {
                    self.streak.set(self.streak.get() + 1);
                    return Ok(conn);
                }
                // The queue is empty: wait for the next connection.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.streak.set(0);
                    self.reserve();
                }
                Err(e) if failed_while_queued(&e) => {}
                Err(e) => match e.raw_os_error() {
                    Some(libc::EMFILE | libc::ENFILE) if self.shed() => {}
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => self.pause().await?,
                    _ => return Err(e),
                },
            }
        }
    }

    /// libuv's trick: frees the spare, accepts every queued connection into
    /// the freed slot and closes it at once (the client reads end-of-stream),
    /// and reserves the spare again. Returns whether it got the queue down
    /// to `WouldBlock`: false when there was no spare, or when the freed slot
    /// was taken by someone else before the accept.
    ///
    /// The final `WouldBlock` clears the cached readiness, so the next
    /// accept waits for the next connection (see the Linux quirk above).
    fn shed(&self) -> bool {
        let Some(spare) = self.spare.take() else { return false };
        drop(spare);
        let drained = loop {
            match self.io.try_io(Interest::READABLE, sys::net::accept) {
                Ok((conn, _)) => drop(conn),
                Err(e) if failed_while_queued(&e) => {}
                Err(e) => break e.kind() == io::ErrorKind::WouldBlock,
            }
        };
        *self.spare.borrow_mut() = sys::open_dev_null().ok();
        drained
    }

    /// nginx's answer: stops accepting for [`PAUSE`].
    async fn pause(&self) -> io::Result<()> {
        self.io.loop_()?.sleep(PAUSE)?.await;
        Ok(())
    }

    /// Takes the spare back, if it is missing, once the queue is empty:
    /// queued clients get freed descriptors before the reserve does.
    fn reserve(&self) {
        let mut spare = self.spare.borrow_mut();
        if spare.is_none() {
            *spare = sys::open_dev_null().ok();
        }
    }

    /// The callback form: a task accepts connections and passes each to
    /// `on_connection` until an error (also passed on) or `stop`.
    pub(crate) fn listen<T, F>(self, make: MakeConnection<T>, mut on_connection: F) -> io::Result<StopHandle>
    where
        T: 'static,
        F: FnMut(&Loop, io::Result<T>) + 'static,
    {
        let lp = self.io.loop_()?;
        Ok(spawn_stoppable(&lp, move |stop| async move {
            loop {
                let conn = self.accept(make).await;
                let Ok(lp) = self.io.loop_() else { return };
                let failed = conn.is_err();
                on_connection(&lp, conn);
                if failed || stop.is_stopped() {
                    return;
                }
            }
        }))
    }
}

/// Whether `accept` failed for one queued connection only: Linux reports a
/// connection's pending network error from `accept` (having dequeued it), and
/// the next connection may be fine.
fn failed_while_queued(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EPROTO
                | libc::ENETDOWN
                | libc::ENETUNREACH
                | libc::EHOSTDOWN
                | libc::EHOSTUNREACH
                | libc::ENONET
        )
    )
}

/// Wraps a bind error with the address it was for.
pub(crate) fn bind_context(e: io::Error, addr: &SockAddr) -> io::Error {
    context(e, format_args!("listen on {addr}"))
}
