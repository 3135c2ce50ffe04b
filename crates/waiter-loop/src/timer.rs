//! Timers: `set_timeout`, `set_interval`, and the heap the timers phase drains.
//!
//! Deadlines are kept as nanoseconds since the loop's epoch in a binary
//! min-heap ordered by `(deadline, sequence)`, so equal deadlines fire in the
//! order they were started. A deadline is taken from a fresh clock read when
//! the timer starts, and a timer fires only once the loop's cached `now`
//! reaches it, so a timer never fires early (libuv's can, by up to a
//! millisecond, because it starts timers from the cached time: libuv#4773),
//! with one exception, Node's: equal-delay timers share a pass.
//!
//! Node keeps the timers of one duration in one list, stamped with the
//! millisecond they started in, and runs every timer of that list that is
//! due in one pass. Timers of one delay started a few microseconds apart in
//! the same millisecond therefore fire together in Node, with only the tick
//! queues drained between them. Here their nanosecond deadlines differ by
//! those microseconds, and a tick that starts between them (a spin-margin
//! wake-up lands on the first deadline to the microsecond) would run the
//! first alone and leave an immediate or an I/O callback to run before the
//! rest. So, within a pass, a callback timer not yet due joins it when the
//! callback timer fired just before it had the same delay and started in the
//! same millisecond of the loop's clock: it runs less than 1 ms early, as it
//! would in Node. [`Sleep`](crate::Sleep) futures keep their exact deadlines.
//!
//! Cancelling does not search the heap: the slot is removed and its heap
//! entry goes stale, to be skipped when it surfaces. The heap is rebuilt
//! without stale entries once they outnumber live ones, so a server that
//! resets a keep-alive timer per request holds O(live timers) memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Weak;
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::event_loop::{Inner, Loop};
use crate::slab::Slab;

/// An interval's callback.
pub(crate) type RepeatFn = Box<dyn FnMut(&Loop)>;

/// What runs when a timer fires.
pub(crate) enum TimerCallback {
    Once(Box<dyn FnOnce(&Loop)>),
    Repeat(RepeatFn),
    /// A refreshable one-shot's ([`Loop::set_refreshable_timeout`]): kept,
    /// dormant, once it has run, so that [`Timer::refresh`] can run it again.
    Again(RepeatFn),
    /// A [`Sleep`](crate::Sleep)'s: wake the task awaiting it, if one has
    /// polled it yet. Nothing is allocated per timer: the waker lives in the
    /// slot, and the slot outlives the firing (marked `fired`, no longer
    /// live) until the `Sleep` sees it or is dropped.
    Wake(Option<Waker>),
}

pub(crate) struct TimerSlot {
    /// INVARIANT: the heap holds exactly one live entry `(deadline, seq, key)` for this slot.
    deadline: u64,
    seq: u64,
    delay: u64,
    repeat: bool,
    /// An `Again` timer: refreshable after it fired.
    refreshable: bool,
    /// The user's ref flag; it counts toward the loop's references only while live.
    referenced: bool,
    /// Not live: a `Wake` timer that fired and waits for its `Sleep` to see
    /// it (no heap entry, no reference, cannot be cleared or refreshed), or
    /// an `Again` timer that ran and waits, dormant, for a refresh or a clear.
    fired: bool,
    /// `None` only while the callback runs.
    callback: Option<TimerCallback>,
    label: &'static str,
}

impl TimerSlot {
    fn is_armed_as(&self, seq: u64) -> bool {
        self.seq == seq && !self.fired
    }

    /// A fired refreshable timer, waiting for a refresh or a clear.
    fn is_dormant(&self) -> bool {
        self.fired && self.refreshable
    }

    /// What a pass groups by (see the module docs): a callback timer's
    /// delay and the millisecond it was started in; `None` for a `Sleep`'s.
    fn group(&self) -> Option<(u64, u64)> {
        let started = self.deadline.saturating_sub(self.delay);
        let sleep = matches!(self.callback, Some(TimerCallback::Wake(_)));
        (!sleep).then_some((self.delay, started / NANOS_PER_MILLI))
    }
}

const NANOS_PER_MILLI: u64 = 1_000_000;

/// One timers pass: what [`TimerHeap::pop_due`] runs.
pub(crate) struct Pass {
    /// The loop's cached time when the pass began.
    pub(crate) now: u64,
    /// Timers started from this sequence on (by the pass's callbacks) wait for the next pass.
    pub(crate) limit: u64,
    /// The group of the callback timer that fired last in this pass.
    group: Option<(u64, u64)>,
}

impl Pass {
    pub(crate) fn new(now: u64, limit: u64) -> Pass {
        Pass { now, limit, group: None }
    }
}

/// A timer taken off the heap. Its callback goes to the caller, to be
/// dropped once the heap's borrow is released: what the callback captured
/// may touch the loop when dropped (a guard that clears another timer).
pub(crate) struct Removed {
    /// Whether it still counted as a reference (referenced and live).
    pub(crate) referenced: bool,
    pub(crate) callback: Option<TimerCallback>,
}

impl From<TimerSlot> for Removed {
    fn from(s: TimerSlot) -> Removed {
        Removed { referenced: s.referenced && !s.fired, callback: s.callback }
    }
}

/// The loop's timers.
pub(crate) struct TimerHeap {
    slots: Slab<TimerSlot>,
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    next_seq: u64,
}

/// Rebuild the heap once stale entries exceed live ones by this many.
const COMPACT_SLACK: usize = 1024;

impl TimerHeap {
    pub(crate) fn new() -> TimerHeap {
        TimerHeap { slots: Slab::new(), heap: BinaryHeap::new(), next_seq: 0 }
    }

    /// The sequence number the next started timer will get: timers started
    /// from now on compare greater than every timer started before.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    fn arm(&mut self, key: usize, deadline: u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = self.slots.get_mut(key).expect("arming a live timer");
        slot.deadline = deadline;
        slot.seq = seq;
        self.heap.push(Reverse((deadline, seq, key)));
        if self.heap.len() > 2 * self.slots.len() + COMPACT_SLACK {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let slots = &self.slots;
        let live: Vec<_> = self
            .heap
            .drain()
            .filter(|Reverse((_, seq, key))| slots.get(*key).is_some_and(|s| s.is_armed_as(*seq)))
            .collect();
        self.heap = BinaryHeap::from(live);
    }

    pub(crate) fn start(
        &mut self,
        deadline: u64,
        delay: u64,
        callback: TimerCallback,
        label: &'static str,
    ) -> usize {
        let repeat = matches!(callback, TimerCallback::Repeat(_));
        let refreshable = matches!(callback, TimerCallback::Again(_));
        let key = self.slots.insert(TimerSlot {
            deadline,
            seq: 0,
            delay,
            repeat,
            refreshable,
            referenced: true,
            fired: false,
            callback: Some(callback),
            label,
        });
        self.arm(key, deadline);
        key
    }

    /// The slot of a live timer: started, and neither fired (one-shot) nor cleared.
    fn live_mut(&mut self, key: usize) -> Option<&mut TimerSlot> {
        self.slots.get_mut(key).filter(|s| !s.fired)
    }

    /// Removes a live or dormant timer. A fired `Wake` timer stays for its
    /// `Sleep` (clearing it does nothing).
    pub(crate) fn stop(&mut self, key: usize) -> Option<Removed> {
        self.slots.get(key).filter(|s| !s.fired || s.refreshable)?;
        self.release(key)
    }

    /// Removes a timer, fired or not (a `Sleep` being dropped).
    pub(crate) fn release(&mut self, key: usize) -> Option<Removed> {
        self.slots.remove(key).map(Removed::from)
    }

    /// Removes every timer, live, dormant or fired ([`Loop::close`]).
    pub(crate) fn take_all(&mut self) -> Vec<Removed> {
        self.heap.clear();
        self.slots.take_all().into_iter().map(Removed::from).collect()
    }

    /// Sets a timer's ref flag; returns the old one for a live timer, whose
    /// flag counts, or `None` (a dormant timer's flag is kept for its refresh).
    pub(crate) fn set_ref(&mut self, key: usize, referenced: bool) -> Option<bool> {
        let slot = self.slots.get_mut(key)?;
        if slot.is_dormant() {
            slot.referenced = referenced;
            return None;
        }
        let slot = self.live_mut(key)?;
        Some(std::mem::replace(&mut slot.referenced, referenced))
    }

    /// A live or dormant timer's ref flag, or `None` for a dead timer.
    pub(crate) fn is_referenced(&self, key: usize) -> Option<bool> {
        self.slots.get(key).filter(|s| !s.fired || s.refreshable).map(|s| s.referenced)
    }

    /// Restarts a live or dormant timer from `now` with its original delay.
    /// Returns `None` for a dead timer, else whether a reference was added
    /// (a referenced dormant timer becoming live).
    pub(crate) fn refresh(&mut self, key: usize, now: u64) -> Option<bool> {
        let slot = self.slots.get_mut(key).filter(|s| !s.fired || s.refreshable)?;
        let woke = std::mem::replace(&mut slot.fired, false);
        let counted = woke && slot.referenced;
        let deadline = now.saturating_add(slot.delay);
        self.arm(key, deadline);
        Some(counted)
    }

    /// A `Sleep`'s poll of its `Wake` timer: `Ready` once it fired (the slot
    /// is removed then), else `Pending` with `waker` stored for the firing
    /// (cloned only when it would not wake the same task). A cleared timer
    /// stays `Pending`, as a cleared `setTimeout` never runs.
    pub(crate) fn poll_wake(&mut self, key: usize, waker: &Waker) -> Poll<()> {
        let Some(slot) = self.slots.get_mut(key) else { return Poll::Pending };
        if slot.fired {
            self.slots.remove(key);
            return Poll::Ready(());
        }
        if let Some(TimerCallback::Wake(stored)) = &mut slot.callback {
            if !stored.as_ref().is_some_and(|w| w.will_wake(waker)) {
                *stored = Some(waker.clone());
            }
        }
        Poll::Pending
    }

    /// The earliest live deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<u64> {
        while let Some(Reverse((deadline, seq, key))) = self.heap.peek().copied() {
            if self.slots.get(key).is_some_and(|s| s.is_armed_as(seq)) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Takes the next timer due in `pass` (due at its `now`, or joining the
    /// callback timer before it: see the module docs) that was started
    /// before its `limit`, leaving one-shot timers removed, repeating ones in
    /// place without their callback, refreshable ones in place, dormant and
    /// without their callback, and `Wake` ones in place, fired, unreferenced
    /// and without their waker. Returns `(key, callback, label, referenced)`,
    /// `referenced` saying whether it counted as a reference.
    pub(crate) fn pop_due(&mut self, pass: &mut Pass) -> Option<(usize, TimerCallback, &'static str, bool)> {
        loop {
            let Reverse((deadline, seq, key)) = *self.heap.peek()?;
            let Some(slot) = self.slots.get(key).filter(|s| s.is_armed_as(seq)) else {
                self.heap.pop();
                continue;
            };
            if seq >= pass.limit
                || (deadline > pass.now && (pass.group.is_none() || slot.group() != pass.group))
            {
                return None;
            }
            self.heap.pop();
            let slot = self.slots.get_mut(key).expect("checked live");
            pass.group = slot.group().or(pass.group);
            let label = slot.label;
            let referenced = slot.referenced;
            if slot.refreshable {
                let cb = slot.callback.take().expect("a refreshable timer holds its callback");
                slot.fired = true;
                return Some((key, cb, label, referenced));
            }
            if slot.repeat {
                let cb = slot.callback.take().expect("repeating timer holds its callback");
                return Some((key, cb, label, referenced));
            }
            if let Some(TimerCallback::Wake(waker)) = &mut slot.callback {
                let waker = waker.take();
                slot.fired = true;
                slot.referenced = false;
                return Some((key, TimerCallback::Wake(waker), label, referenced));
            }
            let slot = self.slots.remove(key).expect("checked live");
            return Some((key, slot.callback.expect("one-shot timer holds its callback"), label, referenced));
        }
    }

    /// Puts a refreshable timer's callback back after it ran; the callback
    /// of a timer cleared meanwhile is handed back, for the caller to drop
    /// outside the heap's borrow.
    #[must_use = "a cleared timer's callback is dropped by the caller, outside the heap's borrow"]
    pub(crate) fn restore(&mut self, key: usize, cb: RepeatFn) -> Option<RepeatFn> {
        let Some(slot) = self.slots.get_mut(key) else { return Some(cb) };
        slot.callback = Some(TimerCallback::Again(cb));
        None
    }

    /// Puts a repeating timer's callback back and re-arms it for `now + delay`,
    /// unless it was refreshed (left as armed) meanwhile. A cleared timer's
    /// callback is handed back, for the caller to drop outside the borrow.
    #[must_use = "a cleared interval's callback is dropped by the caller, outside the heap's borrow"]
    pub(crate) fn rearm(&mut self, key: usize, seq_before: u64, cb: RepeatFn, now: u64) -> Option<RepeatFn> {
        let Some(slot) = self.slots.get_mut(key) else { return Some(cb) };
        slot.callback = Some(TimerCallback::Repeat(cb));
        if slot.seq == seq_before {
            let deadline = now.saturating_add(slot.delay);
            self.arm(key, deadline);
        }
        None
    }

    /// The current arming sequence of a live timer.
    pub(crate) fn seq_of(&self, key: usize) -> Option<u64> {
        self.slots.get(key).filter(|s| !s.fired).map(|s| s.seq)
    }

    /// Timer slots held, live or fired-and-unseen.
    #[cfg(test)]
    pub(crate) fn slots_len(&self) -> usize {
        self.slots.len()
    }

    /// Whether a timer is live.
    pub(crate) fn is_live(&self, key: usize) -> bool {
        self.slots.get(key).is_some_and(|s| !s.fired)
    }
}

/// The shortest delay [`Loop::set_timeout`] and [`Loop::set_interval`] take:
/// Node sets a delay "less than 1 or NaN" to 1 ms, so `setTimeout(f, 0)` is
/// a 1 ms timer that fires after `setTimeout(g, 1)` started before it.
/// Futures ([`Loop::sleep`], [`Loop::timeout`]) keep their exact delay.
pub(crate) const MIN_CALLBACK_DELAY: Duration = Duration::from_millis(1);

/// Converts a user-supplied delay to nanoseconds, rejecting ones that would
/// overflow the loop's clock (about 584 years) instead of wrapping.
pub(crate) fn delay_nanos(delay: Duration) -> std::io::Result<u64> {
    u64::try_from(delay.as_nanos()).ok().filter(|n| *n < u64::MAX / 2).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("timer delay {delay:?} is too large for the loop's clock"),
        )
    })
}

/// A started timer, as `setTimeout`/`setInterval` return in Node.
///
/// Dropping it does not clear it (as in Node: the returned object may be
/// ignored); call [`clear`](Timer::clear). It holds the loop weakly, so a
/// timer kept inside its own callback creates no cycle.
#[derive(Clone, Debug)]
pub struct Timer {
    pub(crate) inner: Weak<Inner>,
    pub(crate) key: usize,
}

impl Timer {
    /// Cancels the timer (Node's `clearTimeout`/`clearInterval`). Clearing
    /// a timer that already fired or was cleared does nothing.
    pub fn clear(&self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.stop_timer(self.key);
        }
    }

    /// Lets the loop exit while this timer is pending (Node's `timer.unref()`).
    pub fn unref(&self) -> &Timer {
        if let Some(inner) = self.inner.upgrade() {
            inner.set_timer_ref(self.key, false);
        }
        self
    }

    /// Makes this timer keep the loop alive again (Node's `timer.ref()`).
    pub fn ref_(&self) -> &Timer {
        if let Some(inner) = self.inner.upgrade() {
            inner.set_timer_ref(self.key, true);
        }
        self
    }

    /// Whether the timer is pending and keeps the loop alive (Node's
    /// `timer.hasRef()`); for a refreshable timer that ran, whether its
    /// refresh would (Node's `hasRef()` stays true after a timeout ran).
    pub fn has_ref(&self) -> bool {
        self.inner.upgrade().is_some_and(|inner| inner.timer_has_ref(self.key))
    }

    /// Whether the timer will still fire.
    pub fn is_active(&self) -> bool {
        self.inner.upgrade().is_some_and(|inner| inner.timers.borrow().is_live(self.key))
    }

    /// Restarts the timer from now with its original delay (Node's
    /// `timeout.refresh()`): the idle-timeout pattern without a new allocation.
    /// Returns whether the timer is pending now.
    ///
    /// A timer that was cleared stays cleared, as in Node. A timer that ran
    /// runs again only if it came from [`Loop::set_refreshable_timeout`]
    /// (Node reactivates any timeout that already ran): a
    /// [`set_timeout`](Loop::set_timeout) callback is an `FnOnce`, consumed
    /// by its run, so refreshing such a timer returns `false`, as does
    /// refreshing a fired [`Sleep`](crate::Sleep)'s.
    pub fn refresh(&self) -> bool {
        self.inner.upgrade().is_some_and(|inner| inner.refresh_timer(self.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn once() -> TimerCallback {
        TimerCallback::Once(Box::new(|_| {}))
    }

    #[test]
    fn equal_deadlines_pop_in_start_order() {
        let mut h = TimerHeap::new();
        let a = h.start(10, 10, once(), "a");
        let b = h.start(10, 10, once(), "b");
        let c = h.start(5, 5, once(), "c");
        let mut pass = Pass::new(10, h.next_seq());
        let order: Vec<usize> = std::iter::from_fn(|| h.pop_due(&mut pass).map(|t| t.0)).collect();
        assert_eq!(order, vec![c, a, b]);
        assert_eq!(h.slots.len(), 0);
    }

    #[test]
    fn not_due_and_newly_started_timers_wait() {
        let mut h = TimerHeap::new();
        h.start(11, 11, once(), "late");
        let limit = h.next_seq();
        h.start(0, 0, once(), "started during the phase");
        assert!(h.pop_due(&mut Pass::new(10, limit)).is_none());
        assert_eq!(h.next_deadline(), Some(0));
    }

    #[test]
    fn stale_entries_are_compacted() {
        let mut h = TimerHeap::new();
        for i in 0..10_000u64 {
            let k = h.start(i, i, once(), "t");
            drop(h.stop(k));
        }
        assert!(h.heap.len() <= COMPACT_SLACK + 1, "heap kept {} stale entries", h.heap.len());
        assert_eq!(h.next_deadline(), None);
    }

    fn noop_waker() -> Waker {
        Waker::noop().clone()
    }

    #[test]
    fn a_fired_wake_timer_is_dead_but_kept_for_its_sleep() {
        let mut h = TimerHeap::new();
        let k = h.start(5, 5, TimerCallback::Wake(None), "sleep");
        assert_eq!(h.poll_wake(k, &noop_waker()), Poll::Pending);
        let (key, cb, _, referenced) = h.pop_due(&mut Pass::new(5, h.next_seq())).expect("due");
        assert_eq!(key, k);
        assert!(referenced);
        assert!(matches!(cb, TimerCallback::Wake(Some(_))), "the stored waker is handed out");
        assert!(!h.is_live(k));
        assert_eq!(h.is_referenced(k), None);
        assert_eq!(h.refresh(k, 100), None);
        assert!(h.stop(k).is_none(), "clearing a fired timer does nothing");
        assert_eq!(h.next_deadline(), None);
        assert_eq!(h.slots.len(), 1, "the slot waits for its Sleep");
        assert_eq!(h.poll_wake(k, &noop_waker()), Poll::Ready(()));
        assert_eq!(h.slots.len(), 0);
    }

    #[test]
    fn a_cleared_wake_timer_never_completes() {
        let mut h = TimerHeap::new();
        let k = h.start(5, 5, TimerCallback::Wake(None), "sleep");
        assert_eq!(h.stop(k).map(|r| r.referenced), Some(true));
        assert!(h.pop_due(&mut Pass::new(10, h.next_seq())).is_none());
        assert_eq!(h.poll_wake(k, &noop_waker()), Poll::Pending);
    }

    #[test]
    fn wake_and_callback_timers_share_one_order() {
        let mut h = TimerHeap::new();
        let a = h.start(10, 10, TimerCallback::Wake(None), "a");
        let b = h.start(10, 10, once(), "b");
        let c = h.start(10, 10, TimerCallback::Wake(None), "c");
        let d = h.start(3, 3, TimerCallback::Wake(None), "d");
        let mut pass = Pass::new(10, h.next_seq());
        let order: Vec<usize> = std::iter::from_fn(|| h.pop_due(&mut pass).map(|t| t.0)).collect();
        assert_eq!(order, vec![d, a, b, c]);
    }

    const MS: u64 = NANOS_PER_MILLI;

    /// Two 5 ms timers started 0.3 ms apart in one millisecond run in one
    /// pass, the second 0.25 ms early, as in Node's one list per duration;
    /// a third started in the next millisecond, a `Sleep`, and a timer of
    /// another delay wait for their own deadlines. (Before the fix the pass
    /// at 5.15 ms ran the first alone.)
    #[test]
    fn equal_delay_timers_started_in_one_millisecond_share_a_pass() {
        let mut h = TimerHeap::new();
        let a = h.start(5 * MS + MS / 10, 5 * MS, once(), "a: started at 0.1 ms");
        let b = h.start(5 * MS + 4 * MS / 10, 5 * MS, once(), "b: at 0.4 ms");
        let other = h.start(5 * MS + 5 * MS / 10, 4 * MS, once(), "4 ms timer started at 1.5 ms");
        let sleep = h.start(5 * MS + 6 * MS / 10, 5 * MS, TimerCallback::Wake(None), "sleep at 0.6 ms");
        let next_ms = h.start(6 * MS + MS / 10, 5 * MS, once(), "started at 1.1 ms");
        let mut pass = Pass::new(5 * MS + 15 * MS / 100, h.next_seq());
        let order: Vec<usize> = std::iter::from_fn(|| h.pop_due(&mut pass).map(|t| t.0)).collect();
        assert_eq!(order, vec![a, b]);
        assert!([other, sleep, next_ms].iter().all(|k| h.is_live(*k)));
        let mut later = Pass::new(7 * MS, h.next_seq());
        let order: Vec<usize> = std::iter::from_fn(|| h.pop_due(&mut later).map(|t| t.0)).collect();
        assert_eq!(order, vec![other, sleep, next_ms]);
    }

    #[test]
    fn a_refreshable_timer_is_dormant_after_it_ran_until_refreshed_or_cleared() {
        let mut h = TimerHeap::new();
        let k = h.start(5, 5, TimerCallback::Again(Box::new(|_| {})), "again");
        let (key, cb, _, counted) = h.pop_due(&mut Pass::new(5, h.next_seq())).expect("due");
        assert_eq!((key, counted), (k, true));
        assert!(!h.is_live(k));
        assert_eq!(h.is_referenced(k), Some(true), "hasRef stays true, as in Node");
        let TimerCallback::Again(cb) = cb else { panic!("an Again callback") };
        assert!(h.restore(k, cb).is_none());
        assert_eq!(h.set_ref(k, false), None, "a dormant timer's flag does not count");
        assert_eq!(h.refresh(k, 10), Some(false), "unref'd: live again, adding no reference");
        assert_eq!(h.next_deadline(), Some(15));
        assert_eq!(h.set_ref(k, true), Some(false));
        let (_, cb, _, counted) = h.pop_due(&mut Pass::new(15, h.next_seq())).expect("due again");
        assert!(counted);
        drop(cb);
        let removed = h.stop(k).expect("a dormant timer can be cleared");
        assert!(!removed.referenced, "a dormant timer held no reference");
        assert_eq!(h.refresh(k, 20), None, "a cleared timer stays cleared");
        assert_eq!(h.slots.len(), 0);
    }

    #[test]
    fn overflowing_delay_is_an_error() {
        assert!(delay_nanos(Duration::MAX).is_err());
        assert_eq!(delay_nanos(Duration::from_millis(3)).unwrap(), 3_000_000);
    }
}
