//! Timers: `set_timeout`, `set_interval`, and the heap the timers phase drains.
//!
//! Deadlines are kept as nanoseconds since the loop's epoch in a binary
//! min-heap ordered by `(deadline, sequence)`, so equal deadlines fire in the
//! order they were started. A deadline is taken from a fresh clock read when
//! the timer starts, and a timer fires only once the loop's cached `now`
//! reaches it, so a timer never fires early (libuv's can, by up to a
//! millisecond, because it starts timers from the cached time: libuv#4773).
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
    referenced: bool,
    /// A `Wake` timer that fired and waits for its `Sleep` to see it: not
    /// live (no heap entry, no reference, cannot be cleared or refreshed).
    fired: bool,
    /// `None` only while the callback runs.
    callback: Option<TimerCallback>,
    label: &'static str,
}

impl TimerSlot {
    fn is_armed_as(&self, seq: u64) -> bool {
        self.seq == seq && !self.fired
    }
}

/// A timer taken off the heap. Its callback goes to the caller, to be
/// dropped once the heap's borrow is released: what the callback captured
/// may touch the loop when dropped (a guard that clears another timer).
pub(crate) struct Removed {
    /// Whether it still counted as a reference.
    pub(crate) referenced: bool,
    pub(crate) callback: Option<TimerCallback>,
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
        let key = self.slots.insert(TimerSlot {
            deadline,
            seq: 0,
            delay,
            repeat,
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

    /// Removes a live timer. A fired `Wake` timer stays for its `Sleep`
    /// (clearing a fired timer does nothing).
    pub(crate) fn stop(&mut self, key: usize) -> Option<Removed> {
        self.live_mut(key)?;
        self.release(key)
    }

    /// Removes a timer, fired or not (a `Sleep` being dropped).
    pub(crate) fn release(&mut self, key: usize) -> Option<Removed> {
        self.slots.remove(key).map(|s| Removed { referenced: s.referenced, callback: s.callback })
    }

    /// Sets a timer's ref flag; returns the old one, or `None` for a dead timer.
    pub(crate) fn set_ref(&mut self, key: usize, referenced: bool) -> Option<bool> {
        let slot = self.live_mut(key)?;
        Some(std::mem::replace(&mut slot.referenced, referenced))
    }

    /// A live timer's ref flag, or `None` for a dead timer.
    pub(crate) fn is_referenced(&self, key: usize) -> Option<bool> {
        self.slots.get(key).filter(|s| !s.fired).map(|s| s.referenced)
    }

    /// Restarts a live timer from `now` with its original delay.
    pub(crate) fn refresh(&mut self, key: usize, now: u64) -> bool {
        let Some(slot) = self.live_mut(key) else { return false };
        let deadline = now.saturating_add(slot.delay);
        self.arm(key, deadline);
        true
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

    /// Takes the next timer due at `now` that was started before sequence
    /// `limit`, leaving one-shot timers removed, repeating ones in place
    /// without their callback, and `Wake` ones in place, fired, unreferenced
    /// and without their waker. Returns `(key, callback, label, referenced)`.
    pub(crate) fn pop_due(
        &mut self,
        now: u64,
        limit: u64,
    ) -> Option<(usize, TimerCallback, &'static str, bool)> {
        loop {
            let Reverse((deadline, seq, key)) = *self.heap.peek()?;
            let live = self.slots.get(key).is_some_and(|s| s.is_armed_as(seq));
            if !live {
                self.heap.pop();
                continue;
            }
            if deadline > now || seq >= limit {
                return None;
            }
            self.heap.pop();
            let slot = self.slots.get_mut(key).expect("checked live");
            let label = slot.label;
            let referenced = slot.referenced;
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

    /// Whether the timer is pending and keeps the loop alive (Node's `timer.hasRef()`).
    pub fn has_ref(&self) -> bool {
        self.inner.upgrade().is_some_and(|inner| inner.timer_has_ref(self.key))
    }

    /// Whether the timer will still fire.
    pub fn is_active(&self) -> bool {
        self.inner.upgrade().is_some_and(|inner| inner.timers.borrow().is_live(self.key))
    }

    /// Restarts the timer from now with its original delay (Node's
    /// `timeout.refresh()`): the idle-timeout pattern without a new allocation.
    /// Returns whether the timer was still pending.
    pub fn refresh(&self) -> bool {
        self.inner.upgrade().is_some_and(|inner| {
            let now = inner.clock_nanos();
            inner.timers.borrow_mut().refresh(self.key, now)
        })
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
        let limit = h.next_seq();
        let order: Vec<usize> = std::iter::from_fn(|| h.pop_due(10, limit).map(|t| t.0)).collect();
        assert_eq!(order, vec![c, a, b]);
        assert_eq!(h.slots.len(), 0);
    }

    #[test]
    fn not_due_and_newly_started_timers_wait() {
        let mut h = TimerHeap::new();
        h.start(11, 11, once(), "late");
        let limit = h.next_seq();
        h.start(0, 0, once(), "started during the phase");
        assert!(h.pop_due(10, limit).is_none());
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
        let limit = h.next_seq();
        let (key, cb, _, referenced) = h.pop_due(5, limit).expect("due");
        assert_eq!(key, k);
        assert!(referenced);
        assert!(matches!(cb, TimerCallback::Wake(Some(_))), "the stored waker is handed out");
        assert!(!h.is_live(k));
        assert_eq!(h.is_referenced(k), None);
        assert!(!h.refresh(k, 100));
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
        let limit = h.next_seq();
        assert!(h.pop_due(10, limit).is_none());
        assert_eq!(h.poll_wake(k, &noop_waker()), Poll::Pending);
    }

    #[test]
    fn wake_and_callback_timers_share_one_order() {
        let mut h = TimerHeap::new();
        let a = h.start(10, 10, TimerCallback::Wake(None), "a");
        let b = h.start(10, 10, once(), "b");
        let c = h.start(10, 10, TimerCallback::Wake(None), "c");
        let d = h.start(3, 3, TimerCallback::Wake(None), "d");
        let limit = h.next_seq();
        let order: Vec<usize> = std::iter::from_fn(|| h.pop_due(10, limit).map(|t| t.0)).collect();
        assert_eq!(order, vec![d, a, b, c]);
    }

    #[test]
    fn overflowing_delay_is_an_error() {
        assert!(delay_nanos(Duration::MAX).is_err());
        assert_eq!(delay_nanos(Duration::from_millis(3)).unwrap(), 3_000_000);
    }
}
