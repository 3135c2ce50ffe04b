//! Descriptors on the loop: raw-fd watchers (libuv's `uv_poll_t`) and the
//! readiness registrations that the async sockets are built on.
//!
//! Two kinds share one slab, keyed by the token the backend reports:
//!
//! - a **callback watcher** calls `FnMut(&Loop, Readiness)` when its
//!   descriptor becomes ready, so foreign libraries can join the loop;
//! - an **I/O registration** caches readiness and wakes at most one reader
//!   and one writer task. Under edge-triggered epoll it is registered once
//!   for both directions (as nginx and mio do: no `epoll_ctl` per wait);
//!   under level-triggered poll(2) it is registered only for directions a
//!   task is waiting on, or poll would report the same level every tick.
//!
//! Readiness starts optimistic ("try it"): an operation runs first and only
//! a `WouldBlock` clears the cached bit and parks the task.

use std::future::poll_fn;
use std::io;
use std::os::fd::RawFd;
use std::rc::Weak;
use std::task::{ready, Context, Poll, Waker};

use crate::event_loop::{Inner, Loop};
use crate::poller::{Interest, Readiness, Token};
use crate::remote::WAKE_TOKEN;
use crate::signal::SIGNAL_TOKEN;
use crate::unwind::Lent;

type WatchCallback = Box<dyn FnMut(&Loop, Readiness)>;

pub(crate) struct Watcher {
    fd: RawFd,
    /// What the backend watches this descriptor for; `None` when not registered.
    registered: Option<Interest>,
    referenced: bool,
    kind: Kind,
}

enum Kind {
    Callback { interest: Interest, callback: Option<WatchCallback>, label: &'static str },
    Io { ready: Readiness, reader: Option<Waker>, writer: Option<Waker> },
}

impl Watcher {
    /// Whether this watcher keeps the loop alive: callback watchers while
    /// started, registrations while a task waits on them.
    fn counts(&self) -> bool {
        self.referenced
            && match &self.kind {
                Kind::Callback { .. } => true,
                Kind::Io { reader, writer, .. } => reader.is_some() || writer.is_some(),
            }
    }

    /// The interest the backend should hold for this watcher.
    fn wanted(&self, edge: bool) -> Option<Interest> {
        match &self.kind {
            Kind::Callback { interest, .. } => Some(*interest),
            // Edge-triggered: readable for good (no epoll_ctl per wait), writable
            // from the first time a writer has to wait, and then for good too,
            // so a connection whose responses always fit costs no EPOLLOUT wake-up.
            Kind::Io { writer, .. } if edge => {
                let writable = writer.is_some() || self.registered.is_some_and(Interest::is_writable);
                Some(if writable { Interest::BOTH } else { Interest::READABLE })
            }
            Kind::Io { reader, writer, .. } => match (reader.is_some(), writer.is_some()) {
                (true, true) => Some(Interest::BOTH),
                (true, false) => Some(Interest::READABLE),
                (false, true) => Some(Interest::WRITABLE),
                (false, false) => None,
            },
        }
    }
}

impl Inner {
    fn insert_watcher(&self, fd: RawFd, kind: Kind) -> io::Result<usize> {
        let key = self.watchers.borrow_mut().insert(Watcher { fd, registered: None, referenced: true, kind });
        if let Err(e) = self.sync_interest(key) {
            // Returned as the kernel said it (EEXIST, EPERM, ...): the caller
            // knows which descriptor it passed, and keeps `raw_os_error()`.
            let removed = self.watchers.borrow_mut().remove(key);
            // Dropped outside the borrow: what its callback captured may touch the loop.
            drop(removed);
            return Err(e);
        }
        let counts = self.watchers.borrow().get(key).is_some_and(Watcher::counts);
        self.adjust_refs(false, counts);
        Ok(key)
    }

    /// Brings the backend's registration in line with what the watcher wants.
    fn sync_interest(&self, key: usize) -> io::Result<()> {
        let mut watchers = self.watchers.borrow_mut();
        let Some(w) = watchers.get_mut(key) else { return Ok(()) };
        let wanted = w.wanted(self.edge);
        if wanted == w.registered {
            return Ok(());
        }
        let mut poller = self.poller.borrow_mut();
        match (w.registered, wanted) {
            (None, Some(i)) => poller.add(w.fd, Token(key), i)?,
            (Some(_), Some(i)) => poller.modify(w.fd, Token(key), i)?,
            (Some(_), None) => poller.delete(w.fd)?,
            (None, None) => {}
        }
        w.registered = wanted;
        Ok(())
    }

    /// Mutates a watcher and keeps the live-handle count in step.
    fn update_watcher<R>(&self, key: usize, f: impl FnOnce(&mut Watcher) -> R) -> Option<R> {
        let mut watchers = self.watchers.borrow_mut();
        let w = watchers.get_mut(key)?;
        let before = w.counts();
        let out = f(w);
        let after = w.counts();
        drop(watchers);
        self.adjust_refs(before, after);
        Some(out)
    }

    fn remove_watcher(&self, key: usize) {
        let removed = self.watchers.borrow_mut().remove(key);
        let Some(w) = removed else { return };
        self.adjust_refs(w.counts(), false);
        if w.registered.is_some() {
            // The descriptor may already be closed (epoll forgot it then); nothing to undo.
            let _ = self.poller.borrow_mut().delete(w.fd);
        }
        // Wakers and callbacks drop here, outside every borrow.
    }
}

impl Loop {
    /// Routes one readiness event to whoever waits on its token.
    pub(crate) fn dispatch(&self, token: Token, readiness: Readiness) {
        match token {
            WAKE_TOKEN => self.run_remote(),
            SIGNAL_TOKEN => self.run_signals(),
            Token(key) => self.dispatch_watcher(key, readiness),
        }
    }

    fn dispatch_watcher(&self, key: usize, readiness: Readiness) {
        let mut watchers = self.inner.watchers.borrow_mut();
        // A watcher stopped earlier in this pass is gone: its event is dropped.
        let Some(w) = watchers.get_mut(key) else { return };
        let before = w.counts();
        match &mut w.kind {
            Kind::Callback { callback, label, .. } => {
                let label = *label;
                let Some(cb) = callback.take() else { return };
                drop(watchers);
                // Back in its slot even if it panics: a watcher without its
                // callback would hold the loop and never be called again.
                let mut cb = Lent::new(cb, |cb| {
                    let mut watchers = self.inner.watchers.borrow_mut();
                    if let Some(Watcher { kind: Kind::Callback { callback: slot @ None, .. }, .. }) =
                        watchers.get_mut(key)
                    {
                        *slot = Some(cb);
                        return;
                    }
                    // Stopped meanwhile: dropped outside the borrow (its drop may touch the loop).
                    drop(watchers);
                    drop(cb);
                });
                self.invoke(label, |lp| (cb.get_mut())(lp, readiness));
            }
            Kind::Io { ready, reader, writer } => {
                *ready = *ready | readiness;
                let r = if readiness.is_readable() { reader.take() } else { None };
                let wr = if readiness.is_writable() { writer.take() } else { None };
                let after = w.counts();
                drop(watchers);
                self.inner.adjust_refs(before, after);
                if !self.inner.edge {
                    // Nothing waits on the delivered directions any more: stop polling them.
                    if let Err(e) = self.inner.sync_interest(key) {
                        self.inner.update_watcher(key, |w| {
                            if let Kind::Io { ready, .. } = &mut w.kind {
                                *ready = *ready | Readiness::ERROR;
                            }
                        });
                        eprintln!("waiter: poll: deregistering token {key}: {e}");
                    }
                }
                for waker in [r, wr].into_iter().flatten() {
                    waker.wake();
                }
                self.drain_ticks();
            }
        }
    }

    /// Watches a raw descriptor and calls `f` when it becomes ready for
    /// `interest` (libuv's `uv_poll_t`), so a foreign library's socket can
    /// join the loop.
    ///
    /// Under the default epoll backend readiness is edge-triggered: `f` must
    /// read or write until `WouldBlock` (or change the interest), or it will
    /// not hear of the same readiness again. That contract also makes it
    /// correct under the level-triggered poll backend.
    ///
    /// The descriptor must stay open while watched; dropping the [`Watch`]
    /// stops watching. Hang-ups and errors are reported whatever the interest.
    ///
    /// # Errors
    ///
    /// `EBADF` for a closed descriptor, `EEXIST` when it is already watched
    /// by this loop, `EPERM` for descriptors epoll cannot watch (regular files).
    pub fn watch<F>(&self, fd: RawFd, interest: Interest, f: F) -> io::Result<Watch>
    where
        F: FnMut(&Loop, Readiness) + 'static,
    {
        // A foreign descriptor may be stale: say so now, not as a silent non-event.
        crate::sys::check_open(fd)?;
        let kind =
            Kind::Callback { interest, callback: Some(Box::new(f)), label: std::any::type_name::<F>() };
        let key = self.inner.insert_watcher(fd, kind)?;
        Ok(Watch { inner: self.downgrade(), key })
    }
}

/// A started raw-descriptor watcher; see [`Loop::watch`]. Dropping it stops watching.
#[derive(Debug)]
#[must_use = "dropping a Watch stops watching the descriptor"]
pub struct Watch {
    inner: Weak<Inner>,
    key: usize,
}

impl Watch {
    /// Changes what the descriptor is watched for.
    ///
    /// # Errors
    ///
    /// `NotFound` once the watch was stopped; the backend refusing the change.
    pub fn set_interest(&self, interest: Interest) -> io::Result<()> {
        let inner = self.inner.upgrade().ok_or_else(loop_gone)?;
        inner
            .update_watcher(self.key, |w| {
                if let Kind::Callback { interest: i, .. } = &mut w.kind {
                    *i = interest;
                }
            })
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the watch was stopped"))?;
        inner.sync_interest(self.key)
    }

    /// Stops watching (libuv's `uv_poll_stop`). Events already fetched for
    /// this watcher in the current pass are dropped.
    pub fn stop(&self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.remove_watcher(self.key);
        }
    }

    /// Stops watching and runs `f` in the close phase (libuv's `uv_close`).
    pub fn close<F: FnOnce(&Loop) + 'static>(self, f: F) {
        if let Some(inner) = self.inner.upgrade() {
            inner.remove_watcher(self.key);
            Loop { inner }.on_close(f);
        }
    }

    /// Lets the loop exit while this watch is active.
    pub fn unref(&self) {
        self.set_ref(false);
    }

    /// Makes this watch keep the loop alive again.
    pub fn ref_(&self) {
        self.set_ref(true);
    }

    fn set_ref(&self, referenced: bool) {
        if let Some(inner) = self.inner.upgrade() {
            inner.update_watcher(self.key, |w| w.referenced = referenced);
        }
    }

    /// Whether the watch is still active.
    pub fn is_active(&self) -> bool {
        self.inner.upgrade().is_some_and(|inner| inner.watchers.borrow().get(self.key).is_some())
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop();
    }
}

fn loop_gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the loop has been dropped")
}

/// A descriptor's readiness, awaited by tasks; the seam between sockets and
/// the loop. Drop it before closing the descriptor.
#[derive(Debug)]
pub(crate) struct Registration {
    inner: Weak<Inner>,
    key: usize,
}

impl Registration {
    /// Registers `fd` with `lp`.
    pub(crate) fn new(lp: &Loop, fd: RawFd) -> io::Result<Registration> {
        let kind = Kind::Io { ready: Readiness::READABLE | Readiness::WRITABLE, reader: None, writer: None };
        let key = lp.inner.insert_watcher(fd, kind)?;
        Ok(Registration { inner: lp.downgrade(), key })
    }

    /// Ready when the cached readiness serves `dir` (one direction); otherwise
    /// parks the task until the backend reports it.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Interest) -> Poll<io::Result<Readiness>> {
        let inner = self.inner.upgrade().ok_or_else(loop_gone)?;
        let ready = inner.update_watcher(self.key, |w| {
            let Kind::Io { ready, reader, writer } = &mut w.kind else {
                unreachable!("a registration's key names an I/O watcher")
            };
            if ready.satisfies(dir) {
                return Some(*ready);
            }
            let slot = if dir.is_readable() { reader } else { writer };
            match slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
            None
        });
        match ready {
            None => Poll::Ready(Err(io::Error::new(io::ErrorKind::NotFound, "deregistered"))),
            Some(Some(r)) => Poll::Ready(Ok(r)),
            Some(None) => {
                inner.sync_interest(self.key)?;
                Poll::Pending
            }
        }
    }

    /// Forgets cached readiness for `dir` after an operation said `WouldBlock`.
    pub(crate) fn clear_ready(&self, dir: Interest) {
        let mut gone = Readiness::ERROR;
        if dir.is_readable() {
            gone = gone | Readiness::READABLE | Readiness::HUP;
        }
        if dir.is_writable() {
            gone = gone | Readiness::WRITABLE;
        }
        self.clear_bits(gone);
    }

    /// Whether the cached readiness serves `dir` (an operation may succeed).
    pub(crate) fn is_ready(&self, dir: Interest) -> bool {
        self.inner.upgrade().is_some_and(|inner| {
            matches!(
                inner.watchers.borrow().get(self.key),
                Some(Watcher { kind: Kind::Io { ready, .. }, .. }) if ready.satisfies(dir)
            )
        })
    }

    /// Forgets exactly the cached readiness bits in `gone`.
    pub(crate) fn clear_bits(&self, gone: Readiness) {
        let Some(inner) = self.inner.upgrade() else { return };
        inner.update_watcher(self.key, |w| {
            if let Kind::Io { ready, .. } = &mut w.kind {
                *ready = ready.remove(gone);
            }
        });
    }

    /// Runs `op` once `dir` is ready, parking on `WouldBlock`, until it
    /// returns anything else.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Interest,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            ready!(self.poll_ready(cx, dir))?;
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_ready(dir),
                other => return Poll::Ready(other),
            }
        }
    }

    /// The async form of [`poll_io`](Registration::poll_io).
    pub(crate) async fn io<R>(&self, dir: Interest, mut op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
        poll_fn(|cx| self.poll_io(cx, dir, &mut op)).await
    }

    /// Forgets the task waiting in `dir`: its operation finished or was
    /// dropped. Without this a cancelled read (say, under a timeout) would
    /// leave its waker behind and keep the loop alive for nobody.
    pub(crate) fn cancel(&self, dir: Interest) {
        let Some(inner) = self.inner.upgrade() else { return };
        let waker = inner
            .update_watcher(self.key, |w| match &mut w.kind {
                Kind::Io { reader, writer, .. } => {
                    if dir.is_readable() {
                        reader.take()
                    } else {
                        writer.take()
                    }
                }
                Kind::Callback { .. } => None,
            })
            .flatten();
        if waker.is_some() && !inner.edge {
            // Nobody waits in `dir` now: poll(2) must stop reporting its level.
            let _ = inner.sync_interest(self.key);
        }
    }

    /// The loop this registration belongs to, if it still exists.
    pub(crate) fn loop_(&self) -> Option<Loop> {
        self.inner.upgrade().map(|inner| Loop { inner })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.remove_watcher(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Watcher;

    /// One per socket, idle connections included: part of issue 3's 256
    /// bytes per idle connection (`serve_idle_memory` adds them up).
    #[test]
    fn a_watcher_entry_is_56_bytes() {
        assert_eq!(crate::slab::entry_size::<Watcher>(), 56);
    }
}
