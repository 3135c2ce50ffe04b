//! The `Loop`: its state, how it is built, and the Node-style scheduling API.
//!
//! A `Loop` is a cheap, clonable, single-threaded handle (`Rc`) to one event
//! loop. Everything it owns sits in `RefCell`s that are never borrowed across
//! a user callback, so callbacks may schedule anything on the loop they run
//! on. The phases themselves live in `run.rs`; this file holds the state and
//! the verbs that fill its queues.

use std::cell::{Cell, RefCell};
use std::collections::{HashSet, VecDeque};
use std::io;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::metrics::{Metrics, Watchdog};
use crate::poller::{AnyPoller, Backend, Event};
use crate::remote::{Handle, Remote};
use crate::signal::SignalState;
use crate::slab::Slab;
use crate::task::Task;
use crate::timer::{delay_nanos, Removed, Timer, TimerCallback, TimerHeap, MIN_CALLBACK_DELAY};
use crate::watch::Watcher;
use crate::work::WorkDone;

/// A callback queued on one of the loop's phases or queues.
pub(crate) struct Labeled {
    pub(crate) label: &'static str,
    pub(crate) f: Box<dyn FnOnce(&Loop)>,
}

impl Labeled {
    pub(crate) fn new<F: FnOnce(&Loop) + 'static>(f: F) -> Labeled {
        Labeled { label: std::any::type_name::<F>(), f: Box::new(f) }
    }
}

/// An entry of the microtask queue: a callback, or a woken task to poll.
pub(crate) enum Microtask {
    Callback(Labeled),
    Task(usize),
}

/// The phase the loop is in, for traces and watchdog reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Outside `run`: the "main script".
    Main,
    /// Running expired timers.
    Timers,
    /// Running callbacks deferred from the previous iteration.
    Pending,
    /// Waiting for and dispatching I/O readiness.
    Poll,
    /// Running immediates.
    Check,
    /// Running close callbacks.
    Closing,
}

pub(crate) struct ImmediateQueue {
    /// INVARIANT: ids strictly increase from front to back.
    pub(crate) queue: VecDeque<(u64, Labeled)>,
    /// Cleared immediates still in `queue`.
    /// INVARIANT: every id here is in `queue` (so `cleared.len() <= queue.len()`).
    pub(crate) cleared: HashSet<u64>,
    /// Unref'd immediates still in `queue`, none of them cleared.
    /// INVARIANT: every id here is in `queue` and not in `cleared`.
    pub(crate) unrefed: HashSet<u64>,
    pub(crate) next_id: u64,
}

impl ImmediateQueue {
    /// Whether a referenced immediate waits: only those keep the loop alive
    /// and poll from blocking (Node's `clearImmediate` drops the immediate's
    /// reference at once; an unref'd one runs only if the loop turns anyway).
    pub(crate) fn has_referenced(&self) -> bool {
        self.queue.len() > self.cleared.len() + self.unrefed.len()
    }

    /// Whether immediate `id` is queued and neither cleared nor run.
    fn is_pending(&self, id: u64) -> bool {
        let (Some(first), Some(last)) = (self.queue.front(), self.queue.back()) else { return false };
        // Ids are consecutive from front to back: cleared ones stay queued until the check phase.
        (first.0..=last.0).contains(&id) && !self.cleared.contains(&id)
    }

    /// Takes immediate `id` (just popped) out of the side sets; returns whether it was cleared.
    pub(crate) fn forget(&mut self, id: u64) -> bool {
        if !self.unrefed.is_empty() {
            self.unrefed.remove(&id);
        }
        !self.cleared.is_empty() && self.cleared.remove(&id)
    }
}

/// The loop's state. Only ever touched from the thread that created it.
pub(crate) struct Inner {
    pub(crate) poller: RefCell<AnyPoller>,
    /// Whether the backend reports edges (epoll) rather than levels (poll).
    pub(crate) edge: bool,
    pub(crate) epoch: Instant,
    /// The time cached at the start of the tick (and after each poll).
    pub(crate) now: Cell<Instant>,
    pub(crate) timers: RefCell<TimerHeap>,
    pub(crate) next_ticks: RefCell<VecDeque<Labeled>>,
    pub(crate) microtasks: RefCell<VecDeque<Microtask>>,
    pub(crate) pending: RefCell<VecDeque<Labeled>>,
    pub(crate) immediates: RefCell<ImmediateQueue>,
    pub(crate) closing: RefCell<VecDeque<Labeled>>,
    pub(crate) watchers: RefCell<Slab<Watcher>>,
    pub(crate) tasks: RefCell<Slab<Task>>,
    pub(crate) work: RefCell<Slab<WorkDone>>,
    pub(crate) signals: RefCell<SignalState>,
    pub(crate) events: RefCell<Vec<Event>>,
    pub(crate) remote: Arc<Remote>,
    /// Active, referenced handles: what keeps `run` going.
    pub(crate) refs: Cell<usize>,
    pub(crate) stopped: Cell<bool>,
    pub(crate) running: Cell<bool>,
    pub(crate) phase: Cell<Phase>,
    pub(crate) metrics: Metrics,
    pub(crate) watchdog: RefCell<Option<Watchdog>>,
    pub(crate) trace: bool,
    /// How long before a timer's deadline poll stops sleeping and spins.
    pub(crate) spin_margin: Duration,
}

/// A handle to an event loop.
///
/// Cloning is cheap and every clone drives the same loop. A `Loop` is not
/// `Send`: other threads reach it through [`Loop::handle`].
///
/// # Dropping
///
/// The loop is freed, with every task, timer and queued callback on it,
/// when its last `Loop` is dropped. A `Loop` held *by* the loop counts too:
/// a task (or a timer's, an immediate's, a watcher's callback) that captured
/// a clone keeps the loop alive while that task or callback is stored in it,
/// a reference cycle (`Rc`), so a task that never finishes, holding a clone,
/// leaks the loop and everything on it once the user's last `Loop` goes.
/// The loop cannot break that cycle by itself: a clone inside a task and a
/// clone in the user's hands are the same `Rc` reference, so when a `Loop`
/// is dropped nothing tells whether the references left are only the
/// loop's own (then nobody could run it again) or a user's that will call
/// `run` later (then tearing the loop down would be wrong). libuv leaves
/// the same decision to its user: `uv_loop_close` fails with `EBUSY` while
/// handles are open. Two ways out: inside tasks, reach the loop through
/// [`Loop::current`] (or the crate's free functions, such as
/// [`sleep`](crate::sleep)) instead of capturing a clone; or call
/// [`close`](Loop::close) before dropping the last `Loop`, which drops every
/// task and callback on it, clones included.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let lp = waiter_loop::Loop::new().unwrap();
/// lp.set_timeout(Duration::from_millis(1), |lp| {
///     lp.next_tick(|_| println!("tick after the timer"));
/// }).unwrap();
/// lp.run().unwrap();
/// ```
#[derive(Clone)]
pub struct Loop {
    pub(crate) inner: Rc<Inner>,
}

/// Configures a [`Loop`] before it is created.
#[derive(Debug, Default)]
pub struct Builder {
    backend: Option<Backend>,
    timer_slack: Option<Duration>,
    trace: Option<bool>,
    spin_margin: Duration,
}

impl Builder {
    /// Chooses the readiness backend (default: `WAITER_BACKEND`, else epoll).
    pub fn backend(mut self, backend: Backend) -> Builder {
        self.backend = Some(backend);
        self
    }

    /// Sets the creating thread's timer slack (`PR_SET_TIMERSLACK`). The
    /// kernel's default of 50 µs lets timed waits run that much late; a
    /// loop that wants timers on time to the microsecond asks for less.
    pub fn timer_slack(mut self, slack: Duration) -> Builder {
        self.timer_slack = Some(slack);
        self
    }

    /// Wakes from the kernel `margin` before each timed wait ends and spins
    /// (polling without blocking) for the rest, so timers fire within
    /// microseconds of their deadline instead of within the kernel's wake-up
    /// latency. Costs up to `margin` of CPU per timed wait; off (zero) by
    /// default. 300 µs covers the p99 wake-up latency measured here.
    pub fn spin_before_timers(mut self, margin: Duration) -> Builder {
        self.spin_margin = margin;
        self
    }

    /// Prints a line per tick to stderr (default: `WAITER_TRACE=1`).
    pub fn trace(mut self, on: bool) -> Builder {
        self.trace = Some(on);
        self
    }

    /// Creates the loop.
    ///
    /// # Errors
    ///
    /// Fails when `WAITER_BACKEND` names no backend, or when the kernel
    /// refuses the epoll instance, the eventfd, or the timer slack.
    pub fn build(self) -> io::Result<Loop> {
        let backend = match self.backend {
            Some(b) => b,
            None => Backend::from_env()?,
        };
        if let Some(slack) = self.timer_slack {
            crate::sys::set_timer_slack(slack.as_nanos().clamp(1, u64::MAX as u128) as u64)?;
        }
        crate::sys::ignore_sigpipe()?;
        let mut poller = AnyPoller::new(backend)?;
        let remote = Arc::new(Remote::new()?);
        remote.register(&mut poller)?;
        let trace = self.trace.unwrap_or_else(|| std::env::var("WAITER_TRACE").is_ok_and(|v| v == "1"));
        let now = Instant::now();
        let edge = poller.edge_triggered();
        Ok(Loop {
            inner: Rc::new(Inner {
                poller: RefCell::new(poller),
                edge,
                epoch: now,
                now: Cell::new(now),
                timers: RefCell::new(TimerHeap::new()),
                next_ticks: RefCell::new(VecDeque::new()),
                microtasks: RefCell::new(VecDeque::new()),
                pending: RefCell::new(VecDeque::new()),
                immediates: RefCell::new(ImmediateQueue {
                    queue: VecDeque::new(),
                    cleared: HashSet::new(),
                    unrefed: HashSet::new(),
                    next_id: 0,
                }),
                closing: RefCell::new(VecDeque::new()),
                watchers: RefCell::new(Slab::new()),
                tasks: RefCell::new(Slab::new()),
                work: RefCell::new(Slab::new()),
                signals: RefCell::new(SignalState::new()),
                events: RefCell::new(Vec::with_capacity(1024)),
                remote,
                refs: Cell::new(0),
                stopped: Cell::new(false),
                running: Cell::new(false),
                phase: Cell::new(Phase::Main),
                metrics: Metrics::default(),
                watchdog: RefCell::new(None),
                trace,
                spin_margin: self.spin_margin,
            }),
        })
    }
}

impl Inner {
    /// Nanoseconds since the loop's epoch, read fresh from the clock.
    pub(crate) fn clock_nanos(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// The cached `now` in nanoseconds since the epoch.
    pub(crate) fn now_nanos(&self) -> u64 {
        self.now.get().duration_since(self.epoch).as_nanos() as u64
    }

    /// Records that a handle started or stopped counting toward liveness.
    pub(crate) fn adjust_refs(&self, before: bool, after: bool) {
        match (before, after) {
            (false, true) => self.refs.set(self.refs.get() + 1),
            (true, false) => {
                let refs = self.refs.get();
                assert!(refs > 0, "ref count underflow");
                self.refs.set(refs - 1);
            }
            _ => {}
        }
    }

    pub(crate) fn stop_timer(&self, key: usize) {
        let removed = self.timers.borrow_mut().stop(key);
        if let Some(Removed { referenced, callback }) = removed {
            self.adjust_refs(referenced, false);
            // Dropped outside the borrow: what it captured may clear a timer.
            drop(callback);
        }
    }

    /// Removes a `Sleep`'s timer, fired or not.
    pub(crate) fn release_timer(&self, key: usize) {
        let removed = self.timers.borrow_mut().release(key);
        if let Some(Removed { referenced, callback }) = removed {
            self.adjust_refs(referenced, false);
            drop(callback);
        }
    }

    pub(crate) fn set_timer_ref(&self, key: usize, referenced: bool) {
        let old = self.timers.borrow_mut().set_ref(key, referenced);
        if let Some(old) = old {
            self.adjust_refs(old, referenced);
        }
    }

    /// Restarts a timer (see [`Timer::refresh`]); returns whether it is pending.
    pub(crate) fn refresh_timer(&self, key: usize) -> bool {
        let now = self.clock_nanos();
        let refreshed = self.timers.borrow_mut().refresh(key, now);
        if let Some(counted) = refreshed {
            self.adjust_refs(false, counted);
        }
        refreshed.is_some()
    }

    pub(crate) fn timer_has_ref(&self, key: usize) -> bool {
        self.timers.borrow().is_referenced(key).unwrap_or(false)
    }

    pub(crate) fn queue_microtask_entry(&self, m: Microtask) {
        self.microtasks.borrow_mut().push_back(m);
    }
}

impl Loop {
    /// Creates a loop with the default configuration (see [`Builder`]).
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    pub fn new() -> io::Result<Loop> {
        Builder::default().build()
    }

    /// Starts configuring a loop.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The backend this loop polls with.
    pub fn backend(&self) -> Backend {
        self.inner.poller.borrow().backend()
    }

    /// The time cached at the start of the current tick (libuv's `uv_now`).
    pub fn now(&self) -> Instant {
        self.inner.now.get()
    }

    /// The phase the loop is running (`Phase::Main` outside `run`).
    pub fn phase(&self) -> Phase {
        if self.inner.running.get() {
            self.inner.phase.get()
        } else {
            Phase::Main
        }
    }

    /// Re-reads the clock into the cached `now` (libuv's `uv_update_time`).
    pub fn update_time(&self) {
        self.inner.now.set(Instant::now());
    }

    /// A `Send + Sync` handle through which other threads post work here.
    pub fn handle(&self) -> Handle {
        Handle::new(self.inner.remote.clone())
    }

    /// The loop running on this thread right now, if any.
    ///
    /// Set for the duration of [`run`](Loop::run) and its siblings and of
    /// [`block_on`](Loop::block_on), and restored afterwards, so loops on
    /// the same thread never see each other.
    pub fn current() -> Option<Loop> {
        crate::task::current()
    }

    pub(crate) fn downgrade(&self) -> Weak<Inner> {
        Rc::downgrade(&self.inner)
    }

    /// Runs `f` once `delay` has elapsed (Node's `setTimeout`). The returned
    /// [`Timer`] clears it.
    ///
    /// A delay under 1 ms is 1 ms, as Node sets a delay "less than 1" to 1:
    /// `set_timeout(ZERO, g)` started after `set_timeout(1 ms, f)` runs after
    /// `f`. Unlike Node, which also sets delays over 2147483647 ms (24.8 days)
    /// to 1 ms, a long delay is kept as given (up to the clock's range).
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `delay` overflows the loop's clock.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// let lp = waiter_loop::Loop::new().unwrap();
    /// let t = lp.set_timeout(Duration::from_secs(60), |_| unreachable!()).unwrap();
    /// t.clear();
    /// lp.run().unwrap(); // returns at once: nothing is left to wait for
    /// ```
    pub fn set_timeout<F: FnOnce(&Loop) + 'static>(&self, delay: Duration, f: F) -> io::Result<Timer> {
        self.start_timer(
            delay.max(MIN_CALLBACK_DELAY),
            TimerCallback::Once(Box::new(f)),
            std::any::type_name::<F>(),
        )
    }

    /// Runs `f` once `delay` has elapsed, as [`set_timeout`](Loop::set_timeout)
    /// does, and again each time the returned [`Timer`] is
    /// [`refresh`](Timer::refresh)ed, even after it ran: Node's `setTimeout`,
    /// whose `refresh()` reactivates a timeout that already ran. Hence an
    /// `FnMut`. Once it ran, the timer holds no reference (the loop may
    /// exit), but keeps its callback until [`clear`](Timer::clear)ed or the
    /// loop is dropped: dropping the `Timer` does not free it.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `delay` overflows the loop's clock.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{cell::Cell, rc::Rc, time::Duration};
    /// let lp = waiter_loop::Loop::new().unwrap();
    /// let runs = Rc::new(Cell::new(0));
    /// let r = runs.clone();
    /// let idle = lp.set_refreshable_timeout(Duration::from_millis(1), move |_| r.set(r.get() + 1)).unwrap();
    /// lp.run().unwrap();
    /// assert!(idle.refresh(), "a timer that ran is armed again");
    /// lp.run().unwrap();
    /// assert_eq!(runs.get(), 2);
    /// idle.clear(); // frees its callback
    /// ```
    pub fn set_refreshable_timeout<F: FnMut(&Loop) + 'static>(
        &self,
        delay: Duration,
        f: F,
    ) -> io::Result<Timer> {
        let delay = delay.max(MIN_CALLBACK_DELAY);
        self.start_timer(delay, TimerCallback::Again(Box::new(f)), std::any::type_name::<F>())
    }

    /// Runs `f` every `interval` until cleared (Node's `setInterval`).
    ///
    /// An interval under 1 ms is 1 ms, as in Node (`setInterval(f, 0)` runs
    /// every millisecond, never every tick); a long one is kept as given, as
    /// in [`set_timeout`](Loop::set_timeout).
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `interval` overflows the loop's clock.
    pub fn set_interval<F: FnMut(&Loop) + 'static>(&self, interval: Duration, f: F) -> io::Result<Timer> {
        let interval = interval.max(MIN_CALLBACK_DELAY);
        self.start_timer(interval, TimerCallback::Repeat(Box::new(f)), std::any::type_name::<F>())
    }

    pub(crate) fn start_timer(
        &self,
        delay: Duration,
        cb: TimerCallback,
        label: &'static str,
    ) -> io::Result<Timer> {
        let delay = delay_nanos(delay)?;
        let deadline = self.inner.clock_nanos().saturating_add(delay);
        let key = self.inner.timers.borrow_mut().start(deadline, delay, cb, label);
        self.inner.adjust_refs(false, true);
        Ok(Timer { inner: self.downgrade(), key })
    }

    /// Runs `f` in the check phase of this tick, or of the next one when
    /// called from the check phase itself (Node's `setImmediate`).
    pub fn set_immediate<F: FnOnce(&Loop) + 'static>(&self, f: F) -> Immediate {
        let mut q = self.inner.immediates.borrow_mut();
        let id = q.next_id;
        q.next_id += 1;
        q.queue.push_back((id, Labeled::new(f)));
        Immediate { inner: self.downgrade(), id }
    }

    /// Runs `f` as soon as the current callback returns, before promises
    /// (Node's `process.nextTick`).
    pub fn next_tick<F: FnOnce(&Loop) + 'static>(&self, f: F) {
        self.inner.next_ticks.borrow_mut().push_back(Labeled::new(f));
    }

    /// Runs `f` after the current callback and its next-ticks (Node's `queueMicrotask`).
    pub fn queue_microtask<F: FnOnce(&Loop) + 'static>(&self, f: F) {
        self.inner.queue_microtask_entry(Microtask::Callback(Labeled::new(f)));
    }

    /// Defers `f` to the pending phase of the next tick (libuv's pending queue:
    /// I/O callbacks that must not run re-entrantly, such as a write error).
    pub fn defer<F: FnOnce(&Loop) + 'static>(&self, f: F) {
        self.inner.pending.borrow_mut().push_back(Labeled::new(f));
    }

    /// Runs `f` in the close phase of this tick (libuv's close callbacks,
    /// Node's `'close'` events): after immediates, once the handle is gone.
    pub fn on_close<F: FnOnce(&Loop) + 'static>(&self, f: F) {
        self.inner.closing.borrow_mut().push_back(Labeled::new(f));
    }

    /// Asks `run` to return at the end of the current tick (libuv's `uv_stop`).
    pub fn stop(&self) {
        self.inner.stopped.set(true);
    }

    /// Drops every task and every timer, immediate and queued callback
    /// (next-ticks, microtasks, pending, close, thread-pool completions) on
    /// this loop, and with them the `Loop` clones they hold: what breaks the
    /// reference cycle of a task that never finishes (see "Dropping" above).
    /// The loop stays usable, empty; [`Timer`]s and [`Immediate`]s of it go
    /// stale, and awaiting a [`JoinHandle`](crate::JoinHandle) of a dropped
    /// task panics, as when its task panicked. Results of thread-pool jobs
    /// still running are dropped when they arrive. Watchers and signal
    /// handlers are left as they are: drop their handles to close them.
    ///
    /// Unlike libuv's `uv_loop_close`, which refuses with `EBUSY` while a
    /// handle is open, this closes what is pending rather than failing: a
    /// Rust owner expects dropping to free.
    ///
    /// # Errors
    ///
    /// From inside a callback of this loop, while it runs (as [`run`](Loop::run)).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = waiter_loop::Loop::new().unwrap();
    /// let held = lp.clone();
    /// // Never finishes, and holds the loop: a cycle until `close`.
    /// lp.spawn_detached(async move { std::future::pending::<()>().await; drop(held) });
    /// lp.run().unwrap();
    /// lp.close().unwrap();
    /// assert_eq!(lp.task_count(), 0);
    /// ```
    pub fn close(&self) -> io::Result<()> {
        if self.inner.running.get() {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "the loop is running: close() cannot be called from one of its callbacks",
            ));
        }
        // What is dropped may queue more (a task's drop wakes the task
        // awaiting it); each round drops what the last one left.
        for _ in 0..CLOSE_ROUNDS {
            let i = &self.inner;
            let tasks = i.tasks.borrow_mut().take_all();
            let timers = i.timers.borrow_mut().take_all();
            for removed in &timers {
                self.inner.adjust_refs(removed.referenced, false);
            }
            let work = i.work.borrow_mut().take_all();
            let immediates = {
                let mut q = i.immediates.borrow_mut();
                q.cleared.clear();
                q.unrefed.clear();
                std::mem::take(&mut q.queue)
            };
            let ticks = std::mem::take(&mut *i.next_ticks.borrow_mut());
            let microtasks = std::mem::take(&mut *i.microtasks.borrow_mut());
            let pending = std::mem::take(&mut *i.pending.borrow_mut());
            let closing = std::mem::take(&mut *i.closing.borrow_mut());
            let empty = tasks.is_empty()
                && timers.is_empty()
                && work.is_empty()
                && immediates.is_empty()
                && ticks.is_empty()
                && microtasks.is_empty()
                && pending.is_empty()
                && closing.is_empty();
            // Dropped outside every borrow: what they captured may touch the loop.
            drop((tasks, timers, work, immediates, ticks, microtasks, pending, closing));
            if empty {
                break;
            }
        }
        Ok(())
    }

    /// Active, referenced handles: the count that keeps `run` going.
    pub fn active_handles(&self) -> usize {
        self.inner.refs.get()
    }

    /// Whether `run` would find anything to do (libuv's `uv_loop_alive`).
    pub fn is_alive(&self) -> bool {
        let i = &self.inner;
        i.refs.get() > 0
            || i.work.borrow().len() > 0
            || !i.pending.borrow().is_empty()
            || i.immediates.borrow().has_referenced()
            || !i.closing.borrow().is_empty()
            || !i.next_ticks.borrow().is_empty()
            || !i.microtasks.borrow().is_empty()
            || i.remote.has_pending()
    }
}

/// How many rounds [`Loop::close`] drops what the previous round's drops queued.
const CLOSE_ROUNDS: usize = 16;

/// A queued immediate (Node's `Immediate`); [`clear`](Immediate::clear) cancels it.
///
/// Like a timer it keeps the loop alive until it runs, unless
/// [`unref`](Immediate::unref)'d: then it runs only if the loop turns for
/// another reason (a referenced handle, another immediate), as in Node.
#[derive(Clone, Debug)]
pub struct Immediate {
    inner: Weak<Inner>,
    id: u64,
}

impl Immediate {
    /// Cancels the immediate if it has not run (Node's `clearImmediate`).
    pub fn clear(&self) {
        let Some(inner) = self.inner.upgrade() else { return };
        let mut q = inner.immediates.borrow_mut();
        if q.is_pending(self.id) {
            q.unrefed.remove(&self.id);
            q.cleared.insert(self.id);
        }
    }

    /// Lets the loop exit while this immediate waits (Node's `immediate.unref()`);
    /// it still runs in a check phase the loop reaches for another reason.
    pub fn unref(&self) -> &Immediate {
        self.set_ref(false)
    }

    /// Makes this immediate keep the loop alive again (Node's `immediate.ref()`).
    /// Does nothing once it ran or was cleared.
    pub fn ref_(&self) -> &Immediate {
        self.set_ref(true)
    }

    fn set_ref(&self, referenced: bool) -> &Immediate {
        if let Some(inner) = self.inner.upgrade() {
            let mut q = inner.immediates.borrow_mut();
            if q.is_pending(self.id) {
                if referenced {
                    q.unrefed.remove(&self.id);
                } else {
                    q.unrefed.insert(self.id);
                }
            }
        }
        self
    }

    /// Whether the immediate waits to run and keeps the loop alive (Node's
    /// `immediate.hasRef()`): false once it ran, was cleared, or was unref'd.
    pub fn has_ref(&self) -> bool {
        self.inner.upgrade().is_some_and(|inner| {
            let q = inner.immediates.borrow();
            q.is_pending(self.id) && !q.unrefed.contains(&self.id)
        })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.remote.close();
    }
}
