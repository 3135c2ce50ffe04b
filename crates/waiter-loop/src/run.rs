//! `Loop::run` and its phases, in libuv's order and with libuv's names.
//!
//! One tick: cache `now` → timers → pending → poll → check → closing. After
//! every single callback the next-tick queue and then the microtask queue
//! drain, repeatedly, until both are empty (Node ≥ 11).
//!
//! A callback's panic unwinds out of `run`; the loop stays whole (see
//! `unwind.rs`), so running it again carries on as Node does after an
//! `'uncaughtException'` handler.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::event_loop::{Labeled, Loop, Microtask, Phase};
use crate::metrics::SlowCallback;
use crate::timer::{Pass, TimerCallback};
use crate::trace::TickTrace;
use crate::unwind::Lent;

/// How long `run` keeps going.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RunMode {
    /// Until nothing keeps the loop alive, or `stop`.
    Default,
    /// One tick, blocking in poll if there is nothing else to do.
    Once,
    /// One tick, never blocking.
    NoWait,
}

impl Loop {
    /// Runs the loop until no referenced handle or pending work is left, or
    /// until [`stop`](Loop::stop) (libuv's `UV_RUN_DEFAULT`).
    ///
    /// # Errors
    ///
    /// The backend's wait failing (not `EINTR`, which is retried), or `run`
    /// being called from inside a callback of the same loop.
    pub fn run(&self) -> io::Result<()> {
        self.run_mode(RunMode::Default).map(drop)
    }

    /// Runs one tick, blocking in poll if nothing is due (`UV_RUN_ONCE`).
    /// Returns whether the loop is still alive.
    ///
    /// # Errors
    ///
    /// As [`run`](Loop::run).
    pub fn run_once(&self) -> io::Result<bool> {
        self.run_mode(RunMode::Once)
    }

    /// Runs one tick without blocking (`UV_RUN_NOWAIT`). Returns whether the
    /// loop is still alive.
    ///
    /// # Errors
    ///
    /// As [`run`](Loop::run).
    pub fn run_nowait(&self) -> io::Result<bool> {
        self.run_mode(RunMode::NoWait)
    }

    fn run_mode(&self, mode: RunMode) -> io::Result<bool> {
        let _running = self.enter_run()?;
        // What the "main script" queued runs first: its next-ticks, then its promises.
        self.inner.phase.set(Phase::Main);
        self.drain_ticks();
        let mut alive = self.is_alive();
        if !alive {
            self.update_time();
        }
        let mut first = true;
        while alive && !self.inner.stopped.get() {
            self.update_time();
            let timers = self.run_timers();
            if mode == RunMode::Default && !std::mem::take(&mut first) && timers > 0 && !self.is_alive() {
                // libuv runs this phase at the end of an iteration (all but
                // the first) and checks liveness right after: timer callbacks
                // that leave nothing referenced end the loop before another
                // poll or check phase (an unref'd immediate they queued never runs).
                // Still a tick for the metrics; no trace line, as nothing polled.
                self.inner.metrics.iterations.set(self.inner.metrics.iterations.get() + 1);
                alive = false;
                break;
            }
            let pending = self.run_pending();
            // One fresh clock read serves both the timeout and the idle-time metric.
            let before_poll = Instant::now();
            let timeout = match mode {
                RunMode::Once if pending == 0 => self.backend_timeout(before_poll),
                RunMode::Default => self.backend_timeout(before_poll),
                _ => Some(Duration::ZERO),
            };
            let events = self.poll_io(timeout, before_poll)?;
            let check = self.run_check();
            let closing = self.run_closing();
            let mut trace = TickTrace { timers, pending, timeout, events, check, closing };
            if mode == RunMode::Once {
                // Poll may have returned because a timer came due: run it now,
                // so one `run_once` always makes forward progress (as libuv does).
                self.update_time();
                trace.timers += self.run_timers();
            }
            trace.finish(self);
            self.inner.metrics.iterations.set(self.inner.metrics.iterations.get() + 1);
            alive = self.is_alive();
            if mode != RunMode::Default {
                break;
            }
        }
        self.inner.stopped.set(false);
        Ok(alive)
    }

    /// How long poll may block: not at all when callbacks are already
    /// waiting, until the next timer otherwise, or indefinitely.
    fn backend_timeout(&self, now: Instant) -> Option<Duration> {
        let i = &self.inner;
        if i.stopped.get()
            || !i.pending.borrow().is_empty()
            || i.immediates.borrow().has_referenced()
            || !i.closing.borrow().is_empty()
            || !self.is_alive()
        {
            return Some(Duration::ZERO);
        }
        let deadline = i.timers.borrow_mut().next_deadline()?;
        // Measured from a fresh clock: the tick's own work has used some of the wait.
        let now = now.duration_since(i.epoch).as_nanos() as u64;
        Some(Duration::from_nanos(deadline.saturating_sub(now)))
    }

    /// Runs every timer due at the cached `now`, in (deadline, start) order,
    /// with the equal-delay timers that join them (see `timer.rs`). Timers
    /// started by these callbacks wait for the next tick.
    pub(crate) fn run_timers(&self) -> usize {
        self.inner.phase.set(Phase::Timers);
        let mut pass = Pass::new(self.inner.now_nanos(), self.inner.timers.borrow().next_seq());
        let mut ran = 0;
        loop {
            let due = self.inner.timers.borrow_mut().pop_due(&mut pass);
            let Some((key, cb, label, referenced)) = due else { break };
            ran += 1;
            match cb {
                TimerCallback::Once(f) => {
                    self.inner.adjust_refs(referenced, false);
                    self.invoke(label, f);
                }
                TimerCallback::Again(f) => {
                    self.inner.adjust_refs(referenced, false);
                    // Put back even when the callback panics, for a later refresh.
                    let mut f = Lent::new(f, |f| {
                        let cleared = self.inner.timers.borrow_mut().restore(key, f);
                        // Dropped outside the borrow: what it captured may clear a timer.
                        drop(cleared);
                    });
                    self.invoke(label, |lp| (f.get_mut())(lp));
                }
                TimerCallback::Wake(waker) => {
                    self.inner.adjust_refs(referenced, false);
                    // Invoked like a callback, so the woken task runs right
                    // here, before the next due timer, as the boxed closure did.
                    self.invoke(label, |_| waker.map_or((), Waker::wake));
                }
                TimerCallback::Repeat(f) => {
                    let seq = self.inner.timers.borrow().seq_of(key);
                    // The next run is due `interval` after this one *starts*, read
                    // fresh as Node's listOnTimeout does: after a slow timer
                    // earlier in the pass, the cached `now` would make it due at once.
                    let started = self.inner.clock_nanos();
                    // Re-armed even when the callback panics, as listOnTimeout
                    // re-arms in a `finally`: else a live interval that never
                    // fires would hold the loop for good.
                    let mut f = Lent::new(f, |f| {
                        if let Some(seq) = seq {
                            let cleared = self.inner.timers.borrow_mut().rearm(key, seq, f, started);
                            // Dropped outside the borrow: what it captured may clear a timer.
                            drop(cleared);
                        }
                    });
                    self.invoke(label, |lp| (f.get_mut())(lp));
                }
            }
        }
        ran
    }

    /// Runs the callbacks deferred to this tick; ones they defer wait a tick.
    fn run_pending(&self) -> usize {
        self.run_batch(Phase::Pending, &self.inner.pending)
    }

    /// Runs everything in `queue` as it stands; what the callbacks queue waits a tick.
    fn run_batch(&self, phase: Phase, queue: &RefCell<VecDeque<Labeled>>) -> usize {
        self.inner.phase.set(phase);
        let batch = std::mem::take(&mut *queue.borrow_mut());
        let ran = batch.len();
        // What a panicking callback leaves of the batch goes back to the front
        // of the queue: a close callback is never lost (libuv's `uv_close` promise).
        let mut batch = Lent::new(batch, |rest: VecDeque<Labeled>| {
            if !rest.is_empty() {
                let mut queue = queue.borrow_mut();
                for cb in rest.into_iter().rev() {
                    queue.push_front(cb);
                }
            }
        });
        while let Some(cb) = batch.get_mut().pop_front() {
            self.invoke(cb.label, cb.f);
        }
        ran
    }

    /// Waits for readiness up to `timeout` and dispatches each event.
    fn poll_io(&self, timeout: Option<Duration>, started: Instant) -> io::Result<usize> {
        self.inner.phase.set(Phase::Poll);
        let mut events = std::mem::take(&mut *self.inner.events.borrow_mut());
        let waited = self.wait_for_events(&mut events, timeout, started);
        let woke = Instant::now();
        self.inner.metrics.record_poll(woke - started, events.len());
        self.inner.now.set(woke);
        if let Err(e) = waited {
            *self.inner.events.borrow_mut() = events;
            return Err(io::Error::new(e.kind(), format!("{} wait failed: {e}", self.backend())));
        }
        let n = events.len();
        // If a callback panics, the events after it are dispatched from the
        // next tick's pending phase (epoll reports an edge once: dropped, it
        // would never come again), and the buffer goes back either way.
        let mut events = Lent::new((events, 0), |(events, next): (Vec<crate::poller::Event>, usize)| {
            for ev in &events[next..] {
                let (token, readiness) = (ev.token, ev.readiness);
                self.defer(move |lp| lp.dispatch(token, readiness));
            }
            *self.inner.events.borrow_mut() = events;
        });
        loop {
            let (events, next) = events.get_mut();
            let Some(&ev) = events.get(*next) else { break };
            *next += 1;
            self.dispatch(ev.token, ev.readiness);
        }
        Ok(n)
    }

    /// The backend's wait, honouring the builder's spin margin: sleep in the
    /// kernel until `margin` before the deadline, then poll without blocking
    /// until it passes. Kernel wake-ups are late by the timer slack plus the
    /// scheduler's latency (measured on this project's VMs: ~130 µs median,
    /// ~260 µs p99 for a plain `nanosleep`); the spin trades that much CPU
    /// per timed wait for timers on time to a few microseconds.
    fn wait_for_events(
        &self,
        events: &mut Vec<crate::poller::Event>,
        timeout: Option<Duration>,
        started: Instant,
    ) -> io::Result<()> {
        let mut poller = self.inner.poller.borrow_mut();
        let margin = self.inner.spin_margin;
        let Some(timeout) = timeout.filter(|t| !margin.is_zero() && !t.is_zero()) else {
            return poller.wait(events, timeout);
        };
        poller.wait(events, Some(timeout.saturating_sub(margin)))?;
        let deadline = started + timeout;
        while events.is_empty() && Instant::now() < deadline {
            std::hint::spin_loop();
            poller.wait(events, Some(Duration::ZERO))?;
        }
        Ok(())
    }

    /// Runs the immediates queued before this phase began.
    fn run_check(&self) -> usize {
        self.inner.phase.set(Phase::Check);
        let count = self.inner.immediates.borrow().queue.len();
        let mut ran = 0;
        for _ in 0..count {
            let (next, cleared) = {
                let mut q = self.inner.immediates.borrow_mut();
                let Some((id, cb)) = q.queue.pop_front() else { break };
                let cleared = q.forget(id);
                (cb, cleared)
            };
            if cleared {
                // Dropped outside the borrow: what it captured may queue or clear an immediate.
                drop(next);
                continue;
            }
            ran += 1;
            self.invoke(next.label, next.f);
        }
        ran
    }

    /// Runs the close callbacks queued so far; ones they queue wait a tick.
    fn run_closing(&self) -> usize {
        self.run_batch(Phase::Closing, &self.inner.closing)
    }

    /// Runs one callback, timed for the watchdog, then drains the queues.
    pub(crate) fn invoke(&self, label: &'static str, f: impl FnOnce(&Loop)) {
        self.call_timed(label, f);
        self.drain_ticks();
    }

    /// Runs one callback, timed when the watchdog is on; no draining.
    pub(crate) fn call_timed(&self, label: &'static str, f: impl FnOnce(&Loop)) {
        if self.inner.watchdog.borrow().is_none() {
            return f(self);
        }
        let started = Instant::now();
        f(self);
        let held = started.elapsed();
        let phase = self.inner.phase.get();
        let report = self.inner.watchdog.borrow().as_ref().and_then(|w| w.report_for(held));
        if let Some(report) = report {
            // Outside the borrow: a report may set or clear the watchdog.
            report(&SlowCallback { label, phase, held });
        }
    }

    /// Drains next-ticks, then microtasks, until both are empty.
    pub(crate) fn drain_ticks(&self) {
        loop {
            loop {
                let tick = self.inner.next_ticks.borrow_mut().pop_front();
                let Some(Labeled { label, f }) = tick else { break };
                self.call_timed(label, f);
            }
            loop {
                let micro = self.inner.microtasks.borrow_mut().pop_front();
                match micro {
                    Some(Microtask::Callback(Labeled { label, f })) => self.call_timed(label, f),
                    Some(Microtask::Task(key)) => self.poll_task(key),
                    None => break,
                }
            }
            if self.inner.next_ticks.borrow().is_empty() {
                break;
            }
        }
    }
}
