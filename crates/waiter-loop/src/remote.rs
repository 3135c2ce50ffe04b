//! Reaching the loop from other threads: `Handle::post`, woken through an eventfd.
//!
//! This is libuv's `uv_async_send`. Posts go into a mutex-guarded queue; the
//! first post after the loop last drained the queue rings the eventfd, later
//! ones ride on the same wake-up (coalescing). The loop clears the flag
//! *before* taking the queue, so a post that lands after the take always
//! rings again: none is lost.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::event_loop::Loop;
use crate::poller::{AnyPoller, Interest, Token};
use crate::sys;
use crate::unwind::Lent;

/// The token the loop's eventfd is registered under.
pub(crate) const WAKE_TOKEN: Token = Token(usize::MAX);

/// Work that reaches the loop from another thread.
pub(crate) enum RemoteItem {
    /// A closure posted through a [`Handle`].
    Post(&'static str, Box<dyn FnOnce(&Loop) + Send>),
    /// A task woken off the loop thread.
    Wake(usize),
    /// A thread-pool job finished with this result.
    WorkDone(usize, std::thread::Result<Box<dyn Any + Send>>),
}

/// The shared half of the loop: what other threads may touch.
pub(crate) struct Remote {
    queue: Mutex<Vec<RemoteItem>>,
    /// True from the first post after a drain until the next drain.
    notified: AtomicBool,
    closed: AtomicBool,
    eventfd: OwnedFd,
}

impl Remote {
    pub(crate) fn new() -> io::Result<Remote> {
        Ok(Remote {
            queue: Mutex::new(Vec::new()),
            notified: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            eventfd: sys::eventfd()?,
        })
    }

    pub(crate) fn register(&self, poller: &mut AnyPoller) -> io::Result<()> {
        poller.add(self.eventfd.as_raw_fd(), WAKE_TOKEN, Interest::READABLE)
    }

    /// Queues `item` and rings the eventfd unless a ring is already pending.
    pub(crate) fn send(&self, item: RemoteItem) -> io::Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the loop has been dropped"));
        }
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).push(item);
        if !self.notified.swap(true, Ordering::AcqRel) {
            sys::eventfd_notify(self.eventfd.as_fd())?;
        }
        Ok(())
    }

    /// Whether items are queued.
    ///
    /// The queue, not `notified`: a sender pushes its item, then sets
    /// `notified`; if the loop's `take` ran in between, it took the item
    /// already and the flag set afterwards announces nothing. Reading the flag
    /// here made a finished loop look alive (seen as `pool_a_burst_...`
    /// failing `assert_closed`). The wake-up that flag rang is harmless: the
    /// eventfd stays readable and the next tick takes an empty queue.
    pub(crate) fn has_pending(&self) -> bool {
        !self.queue.lock().unwrap_or_else(PoisonError::into_inner).is_empty()
    }

    /// Takes everything queued so far. Called on the loop thread.
    pub(crate) fn take(&self) -> Vec<RemoteItem> {
        // A failed drain only means a spurious wake-up later.
        let _ = sys::eventfd_drain(self.eventfd.as_fd());
        self.notified.store(false, Ordering::Release);
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts back, ahead of anything queued since, what a panicking callback
    /// left of a batch [`take`](Remote::take) returned, and rings again so the
    /// loop's next poll runs it. A thread-pool result is never lost: its job
    /// keeps the loop alive until delivered.
    pub(crate) fn requeue(&self, rest: VecDeque<RemoteItem>) {
        if rest.is_empty() {
            return;
        }
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let later = std::mem::replace(&mut *queue, Vec::from(rest));
        queue.extend(later);
        drop(queue);
        if !self.notified.swap(true, Ordering::AcqRel) {
            // Failing, the items still keep the loop alive and ride the next wake-up.
            let _ = sys::eventfd_notify(self.eventfd.as_fd());
        }
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

/// A `Send + Sync` handle to a loop, for other threads.
///
/// # Examples
///
/// ```
/// let lp = waiter_loop::Loop::new().unwrap();
/// let handle = lp.handle();
/// std::thread::spawn(move || handle.post(|_lp| println!("on the loop thread")).unwrap())
///     .join()
///     .unwrap();
/// lp.run().unwrap();
/// ```
#[derive(Clone)]
pub struct Handle {
    remote: Arc<Remote>,
}

impl Handle {
    pub(crate) fn new(remote: Arc<Remote>) -> Handle {
        Handle { remote }
    }

    /// Runs `f` on the loop thread, in the poll phase of its next tick.
    /// Posts from one thread run in the order they were made.
    ///
    /// A post does not keep a finished `run` going: it runs at the loop's
    /// next tick. Posts made while the loop is alive are never lost.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the loop has been dropped; the eventfd write failing.
    pub fn post<F: FnOnce(&Loop) + Send + 'static>(&self, f: F) -> io::Result<()> {
        self.remote.send(RemoteItem::Post(std::any::type_name::<F>(), Box::new(f)))
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("closed", &self.remote.closed.load(Ordering::Relaxed)).finish()
    }
}

impl Loop {
    /// Runs what other threads sent: the wake-up eventfd's I/O callback.
    pub(crate) fn run_remote(&self) {
        let items = VecDeque::from(self.inner.remote.take());
        let mut items = Lent::new(items, |rest| self.inner.remote.requeue(rest));
        while let Some(item) = items.get_mut().pop_front() {
            match item {
                RemoteItem::Post(label, f) => self.invoke(label, f),
                RemoteItem::Wake(key) => {
                    self.schedule_task(key);
                    self.drain_ticks();
                }
                RemoteItem::WorkDone(id, result) => self.finish_work(id, result),
            }
        }
    }
}
