//! Waking tasks of one loop from another task of it: an [`Event`] and a two-way [`race`].
//!
//! The server needs two wake-ups the loop has no handle for: "shut down"
//! (the accept loop stops waiting; idle connections hear it through
//! [`crate::deadline::Deadlines`]) and "a
//! connection closed" (an accept loop paused at the connection limit goes
//! on). Both are single-threaded, so `Cell`s and a map of wakers suffice.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A broadcast wake-up: [`Event::notify_all`] completes every [`Event::wait`]
/// future made before it.
#[derive(Debug, Default)]
pub(crate) struct Event {
    /// Bumped by every `notify_all`; a waiter is done once it differs from
    /// the value it started with.
    generation: Cell<u64>,
    next_key: Cell<u64>,
    waiters: RefCell<HashMap<u64, Waker>>,
}

impl Event {
    /// Wakes every current waiter.
    pub(crate) fn notify_all(&self) {
        self.generation.set(self.generation.get() + 1);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waker in waiters.into_values() {
            waker.wake();
        }
    }

    /// A future completing at the next [`notify_all`](Event::notify_all).
    pub(crate) fn wait(self: &Rc<Event>) -> Wait {
        let key = self.next_key.get();
        self.next_key.set(key + 1);
        Wait { event: self.clone(), key, generation: self.generation.get() }
    }
}

/// The future of [`Event::wait`]; dropping it unregisters its waker.
#[derive(Debug)]
pub(crate) struct Wait {
    event: Rc<Event>,
    key: u64,
    generation: u64,
}

impl Future for Wait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.event.generation.get() != self.generation {
            return Poll::Ready(());
        }
        self.event.waiters.borrow_mut().insert(self.key, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        self.event.waiters.borrow_mut().remove(&self.key);
    }
}

/// A flag that, once set, stays set and wakes whoever waits for it.
#[derive(Debug, Default)]
pub(crate) struct Latch {
    set: Cell<bool>,
    event: Rc<Event>,
}

impl Latch {
    /// Sets the flag and wakes every waiter.
    pub(crate) fn set(&self) {
        if !self.set.replace(true) {
            self.event.notify_all();
        }
    }

    /// Whether the flag is set.
    pub(crate) fn is_set(&self) -> bool {
        self.set.get()
    }

    /// Completes once the flag is set (at once if it already is).
    pub(crate) async fn wait(&self) {
        if !self.set.get() {
            self.event.wait().await;
        }
    }
}

/// Which of two raced futures finished first.
#[derive(Debug)]
pub(crate) enum Either<A, B> {
    /// The first.
    Left(A),
    /// The second.
    Right(B),
}

/// Runs `a` and `b` together; the first to finish wins and the other is dropped.
/// `a` is polled first, so it wins a tie.
pub(crate) async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let (mut a, mut b) = (pin!(a), pin!(b));
    poll_fn(|cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(out));
        }
        b.as_mut().poll(cx).map(Either::Right)
    })
    .await
}
