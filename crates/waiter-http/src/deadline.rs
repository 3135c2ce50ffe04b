//! Connection deadlines without a timer per wait: one slot per connection,
//! checked by one sweeping interval per worker.
//!
//! Why not `Loop::timeout` per wait: it boxes the awaited future and starts a
//! timer (a closure box, a shared flag, a heap entry) every time a connection
//! goes idle, which is once per keep-alive request, and an idle connection
//! then holds all of it. nginx keeps one timer node inside each connection
//! and checks deadlines from its timer tree; here each connection owns a
//! small slot in a per-worker table, a wait only writes its deadline and
//! waker there, and a [`Sweeper`] interval wakes the slots whose deadline has
//! passed. A deadline is therefore honoured late by up to one sweep period
//! (an eighth of the shortest timeout it serves, at most a second), never early.
//!
//! The table also answers "shutting down": [`Deadlines::shut_down`] wakes the
//! connections waiting idle, so no per-connection waiter list is needed either.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use waiter_loop::net::TcpStream;
use waiter_loop::{Loop, Timer};

/// One connection's wait: 24 bytes, one per connection (idle ones too).
#[derive(Default)]
struct Slot {
    /// When the current wait times out, in whole milliseconds after the
    /// table's epoch, rounded up so that it never ends early (`None`: nothing
    /// waits, or not yet). Milliseconds in a `u32` rather than an `Instant`
    /// (16 bytes) keep the slot at 24 bytes; they reach 49 days, past which
    /// a deadline saturates to "never".
    deadline: Option<NonZeroU32>,
    /// The waiting task, woken when the deadline passes or (idle) at shutdown.
    waker: Option<Waker>,
    /// Set by the sweep once `deadline` has passed.
    expired: bool,
    /// The wait is for the next request: shutting down ends it.
    idle: bool,
}

/// The deadline slots of one worker's connections.
pub(crate) struct Deadlines {
    /// What slot deadlines count milliseconds from.
    epoch: Instant,
    slots: RefCell<Vec<Slot>>,
    /// Indices of free slots.
    free: RefCell<Vec<u32>>,
    shutting_down: Cell<bool>,
}

/// How the outcome of [`Deadline::wait`] can end early.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// The deadline passed.
    Elapsed,
    /// The server is shutting down and the wait was idle.
    ShuttingDown,
}

impl Default for Deadlines {
    fn default() -> Deadlines {
        Deadlines {
            epoch: Instant::now(),
            slots: RefCell::default(),
            free: RefCell::default(),
            shutting_down: Cell::default(),
        }
    }
}

impl Deadlines {
    /// `at` as a slot deadline: milliseconds after the epoch, rounded up
    /// (at least 1, so that it is never "none").
    fn to_millis(&self, at: Instant) -> NonZeroU32 {
        // In u64, not through `as_nanos` (u128): a wait is armed per
        // keep-alive request, and a u128 division is a library call.
        let since = at.saturating_duration_since(self.epoch);
        let millis = since
            .as_secs()
            .saturating_mul(1000)
            .saturating_add(u64::from(since.subsec_nanos().div_ceil(1_000_000)));
        NonZeroU32::new(millis.clamp(1, u64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MAX)
    }

    /// A slot for a new connection, freed when the returned handle drops.
    pub(crate) fn register(self: &Rc<Deadlines>) -> Deadline {
        let reused = self.free.borrow_mut().pop();
        let index = match reused {
            Some(i) => i as usize,
            None => {
                let mut slots = self.slots.borrow_mut();
                slots.push(Slot::default());
                slots.len() - 1
            }
        };
        Deadline { owner: self.clone(), index }
    }

    /// Ends every idle wait, now and from now on.
    pub(crate) fn shut_down(&self) {
        self.shutting_down.set(true);
        let wakers: Vec<Waker> =
            self.slots.borrow_mut().iter_mut().filter(|s| s.idle).filter_map(|s| s.waker.take()).collect();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Wakes the waits whose deadline is at or before `now`.
    fn sweep(&self, now: Instant) {
        // Rounded down, against deadlines rounded up: never early.
        let now = now.saturating_duration_since(self.epoch).as_millis();
        let mut wakers = Vec::new();
        for slot in self.slots.borrow_mut().iter_mut() {
            if slot.deadline.is_some_and(|d| u128::from(d.get()) <= now) && !slot.expired {
                slot.expired = true;
                wakers.extend(slot.waker.take());
            }
        }
        // Woken outside the borrow: a waker may lead back here.
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Starts the interval that sweeps `deadlines` on `lp`, every eighth of
    /// `shortest` (between 10 ms and 1 s); it does not keep the loop alive.
    ///
    /// # Errors
    ///
    /// The loop refusing the interval.
    pub(crate) fn start_sweeper(
        deadlines: &Rc<Deadlines>,
        lp: &Loop,
        shortest: Duration,
    ) -> io::Result<Timer> {
        let period = (shortest / 8).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let weak: Weak<Deadlines> = Rc::downgrade(deadlines);
        let timer = lp.set_interval(period, move |_| {
            if let Some(d) = weak.upgrade() {
                d.sweep(Instant::now());
            }
        })?;
        timer.unref();
        Ok(timer)
    }
}

/// One connection's slot in its worker's [`Deadlines`].
pub(crate) struct Deadline {
    owner: Rc<Deadlines>,
    index: usize,
}

/// When a wait times out.
#[derive(Clone, Copy, Debug)]
pub(crate) enum When {
    /// This long after the wait first has to wait (one that is ready at once
    /// reads no clock).
    After(Duration),
    /// At this instant.
    At(Instant),
}

impl Deadline {
    /// Waits until `stream` may be readable, the deadline passes, or (when
    /// `idle`) the server shuts down.
    pub(crate) fn readable<'a>(
        &'a self,
        stream: &'a TcpStream,
        when: When,
        idle: bool,
    ) -> impl Future<Output = Result<io::Result<()>, Cut>> + 'a {
        self.wait(when, idle, move |cx| stream.poll_readable(cx))
    }

    /// Polls `poll` until it is ready, bounded as [`readable`](Deadline::readable) says.
    /// A hand-written future around a poll function, so that what an idle
    /// connection holds while it waits is a few words.
    pub(crate) fn wait<T, P>(&self, when: When, idle: bool, poll: P) -> Wait<'_, P>
    where
        P: FnMut(&mut Context<'_>) -> Poll<T> + Unpin,
    {
        Wait { slot: self, when: Some(when), idle, poll }
    }
}

/// The future of [`Deadline::wait`]; it empties its slot when it ends or is dropped.
pub(crate) struct Wait<'a, P> {
    slot: &'a Deadline,
    /// Taken when the deadline is written into the slot (at the first `Pending`).
    when: Option<When>,
    idle: bool,
    poll: P,
}

impl<T, P> Future for Wait<'_, P>
where
    P: FnMut(&mut Context<'_>) -> Poll<T> + Unpin,
{
    type Output = Result<T, Cut>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Cut>> {
        let this = &mut *self;
        this.slot.poll_wait(cx, &mut this.when, this.idle, &mut this.poll)
    }
}

impl<P> Drop for Wait<'_, P> {
    fn drop(&mut self) {
        if self.when.is_none() {
            self.slot.disarm();
        }
    }
}

impl Deadline {
    /// One poll of a wait bounded as [`wait`](Deadline::wait) says, for a
    /// caller that keeps the wait's state itself (a hand-written future):
    /// `when` is taken when the deadline is written into the slot (the first
    /// time `poll` is pending), and from then on the caller must
    /// [`disarm`](Deadline::disarm) the slot when it stops waiting.
    pub(crate) fn poll_wait<T>(
        &self,
        cx: &mut Context<'_>,
        when: &mut Option<When>,
        idle: bool,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<Result<T, Cut>> {
        let owner = &self.owner;
        if idle && owner.shutting_down.get() {
            return Poll::Ready(Err(Cut::ShuttingDown));
        }
        if let Poll::Ready(out) = poll(cx) {
            return Poll::Ready(Ok(out));
        }
        let mut slots = owner.slots.borrow_mut();
        let slot = &mut slots[self.index];
        if let Some(when) = when.take() {
            let deadline = match when {
                When::After(limit) => Instant::now() + limit,
                When::At(at) => at,
            };
            *slot = Slot { deadline: Some(owner.to_millis(deadline)), waker: None, expired: false, idle };
        }
        if slot.expired {
            return Poll::Ready(Err(Cut::Elapsed));
        }
        if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            slot.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Empties the slot after an armed wait ended or was given up.
    pub(crate) fn disarm(&self) {
        let old = std::mem::take(&mut self.owner.slots.borrow_mut()[self.index]);
        // The waker drops outside the borrow.
        drop(old);
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        // A wait its owner gave up without disarming leaves no waker behind.
        self.disarm();
        self.owner.free.borrow_mut().push(self.index as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_ends_at_its_deadline_not_before() {
        let lp = Loop::new().unwrap();
        let deadlines = Rc::new(Deadlines::default());
        let _sweeper = Deadlines::start_sweeper(&deadlines, &lp, Duration::from_millis(80)).unwrap();
        let slot = deadlines.register();
        let start = Instant::now();
        let out =
            lp.block_on(slot.wait(When::After(Duration::from_millis(80)), false, |_| Poll::<()>::Pending));
        assert_eq!(out, Err(Cut::Elapsed));
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(80), "ended early: {waited:?}");
        assert!(waited < Duration::from_secs(2), "ended late: {waited:?}");
    }

    #[test]
    fn shutting_down_ends_idle_waits_only() {
        let lp = Loop::new().unwrap();
        let deadlines = Rc::new(Deadlines::default());
        let (idle, busy) = (deadlines.register(), deadlines.register());
        assert_ne!(idle.index, busy.index);
        let d = deadlines.clone();
        lp.set_timeout(Duration::from_millis(10), move |_| d.shut_down()).unwrap();
        let out = lp.block_on(idle.wait(When::After(Duration::from_secs(60)), true, |_| Poll::<()>::Pending));
        assert_eq!(out, Err(Cut::ShuttingDown));
        let ready = lp.block_on(busy.wait(When::After(Duration::from_secs(60)), false, |_| Poll::Ready(7)));
        assert_eq!(ready, Ok(7));
    }

    #[test]
    fn a_slot_is_24_bytes() {
        // Part of issue 3's 256 bytes per idle connection (see `serve_idle_memory`).
        assert_eq!(std::mem::size_of::<Slot>(), 24);
    }

    #[test]
    fn deadlines_round_up_to_the_millisecond() {
        let d = Deadlines::default();
        assert_eq!(d.to_millis(d.epoch).get(), 1);
        assert_eq!(d.to_millis(d.epoch + Duration::from_micros(1500)).get(), 2);
        assert_eq!(d.to_millis(d.epoch + Duration::from_millis(7)).get(), 7);
        assert_eq!(d.to_millis(d.epoch + Duration::from_secs(100 * 86_400)), NonZeroU32::MAX);
    }

    #[test]
    fn slots_are_reused() {
        let deadlines = Rc::new(Deadlines::default());
        let first = deadlines.register().index;
        let second = deadlines.register().index;
        assert_eq!(first, second);
        assert_eq!(deadlines.slots.borrow().len(), 1);
    }
}
