//! async/await on the loop: `spawn`, `JoinHandle`, `block_on`, and task wake-ups.
//!
//! A task is a `!Send` future owned by the loop. Waking it queues it on the
//! microtask queue, exactly where Node resumes an `async` function after an
//! `await`, so tasks interleave with next-ticks and promises the way Node's
//! code does. A wake from another thread (a thread-pool job, a foreign
//! library) travels through the loop's `Remote` and lands in the same queue.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak as ArcWeak};
use std::task::{Context, Poll, Wake, Waker};

use crate::event_loop::{Inner, Loop, Microtask};
use crate::remote::{Remote, RemoteItem};
use crate::unwind::Lent;

thread_local! {
    /// The loop running on this thread, if any (see `Loop::current`).
    static CURRENT: RefCell<Option<Loop>> = const { RefCell::new(None) };
}

pub(crate) fn current() -> Option<Loop> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Calls `f` with the loop running on this thread if it is the loop that
/// owns `remote`. A loop is named by its `Remote` rather than by an id so that
/// a task's waker, which must hold the `Remote` anyway, stores nothing else.
fn with_loop_of<R>(remote: &ArcWeak<Remote>, f: impl FnOnce(&Loop) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| {
            c.borrow()
                .as_ref()
                .filter(|lp| std::ptr::eq(Arc::as_ptr(&lp.inner.remote), remote.as_ptr()))
                .map(f)
        })
        .ok()
        .flatten()
}

/// Restores the previously current loop when dropped.
pub(crate) struct EnterGuard {
    prev: Option<Loop>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

/// Marks the loop as running for the guard's lifetime.
pub(crate) struct RunGuard {
    _enter: EnterGuard,
    inner: Rc<Inner>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.inner.running.set(false);
    }
}

impl Loop {
    /// Makes this the current loop of the thread until the guard drops.
    pub(crate) fn enter(&self) -> EnterGuard {
        let prev = CURRENT.with(|c| c.borrow_mut().replace(self.clone()));
        EnterGuard { prev }
    }

    pub(crate) fn enter_run(&self) -> io::Result<RunGuard> {
        if self.inner.running.replace(true) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "the loop is already running: run() cannot be called from one of its callbacks",
            ));
        }
        Ok(RunGuard { _enter: self.enter(), inner: self.inner.clone() })
    }
}

/// A task the loop owns: its slab entry is three words.
///
/// Idle connections are tasks, so every byte here is multiplied by the
/// connections a server holds: the label comes from the future's vtable
/// ([`TaskFuture::label`]) rather than a field, and the waker is made from
/// `waker` for each poll (one reference-count increment) rather than stored.
pub(crate) struct Task {
    /// `None` while the task is being polled.
    future: Option<Pin<Box<dyn TaskFuture>>>,
    waker: Arc<TaskWaker>,
}

/// A spawned future, type-erased, that also names its type for the
/// loop's traces and watchdog.
trait TaskFuture: Future<Output = ()> {
    fn label(&self) -> &'static str;
}

impl<F: Future<Output = ()>> TaskFuture for F {
    fn label(&self) -> &'static str {
        std::any::type_name::<F>()
    }
}

/// The waker of a spawned task: one allocation of 40 bytes (glibc's 48-byte
/// chunk). Waking needs `Send + Sync`, so this cannot share the task's
/// (`!Send`) future's allocation without `unsafe`; what it holds is the
/// least that lets any thread find the task: its key and its loop's `Remote`.
struct TaskWaker {
    key: usize,
    remote: ArcWeak<Remote>,
    /// True while the task sits in the microtask queue, so repeated wakes queue it once.
    scheduled: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let local = with_loop_of(&self.remote, |lp| lp.schedule_task(self.key));
        if local.is_none() {
            if let Some(remote) = self.remote.upgrade() {
                // A dropped loop has no task left to wake.
                let _ = remote.send(RemoteItem::Wake(self.key));
            }
        }
    }
}

impl Loop {
    /// Starts running `future` as a task on this loop and returns a handle
    /// that resolves to its output, like a Promise. The task first runs from
    /// the microtask queue, after the current callback and its next-ticks.
    ///
    /// Dropping the `JoinHandle` detaches the task; it still runs to the end.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = waiter_loop::Loop::new().unwrap();
    /// let answer = lp.spawn(async { 6 * 7 });
    /// assert_eq!(lp.block_on(answer), 42);
    /// ```
    pub fn spawn<F: Future + 'static>(&self, future: F) -> JoinHandle<F::Output> {
        let (handle, completer) = JoinHandle::pair();
        // The wrapper's type name names `F` too (`..::spawn<F>::{{closure}}`).
        self.spawn_task(Box::pin(async move { completer.complete(future.await) }));
        handle
    }

    /// Starts running `future` as a task with no [`JoinHandle`]: for a task
    /// whose output nobody awaits (a server's connection), it saves the
    /// handle's shared state, one allocation per task.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// let lp = waiter_loop::Loop::new().unwrap();
    /// let done = Rc::new(Cell::new(false));
    /// let flag = done.clone();
    /// lp.spawn_detached(async move { flag.set(true) });
    /// lp.run().unwrap();
    /// assert!(done.get());
    /// ```
    pub fn spawn_detached<F: Future<Output = ()> + 'static>(&self, future: F) {
        self.spawn_task(Box::pin(future));
    }

    fn spawn_task(&self, future: Pin<Box<dyn TaskFuture>>) {
        let mut tasks = self.inner.tasks.borrow_mut();
        let key = tasks.next_key();
        let waker = Arc::new(TaskWaker {
            key,
            remote: Arc::downgrade(&self.inner.remote),
            scheduled: AtomicBool::new(true),
        });
        let inserted = tasks.insert(Task { future: Some(future), waker });
        debug_assert_eq!(inserted, key, "Slab::next_key named another slot");
        drop(tasks);
        self.schedule_task(key);
    }

    pub(crate) fn schedule_task(&self, key: usize) {
        self.inner.queue_microtask_entry(Microtask::Task(key));
    }

    /// Polls a woken task once; called from the microtask queue.
    pub(crate) fn poll_task(&self, key: usize) {
        let taken = {
            let mut tasks = self.inner.tasks.borrow_mut();
            tasks.get_mut(key).and_then(|t| {
                t.waker.scheduled.store(false, Ordering::Release);
                Some((t.future.take()?, Waker::from(t.waker.clone())))
            })
        };
        let Some((mut future, waker)) = taken else { return };
        let mut ready = false;
        // A task whose poll panics is over: its slot goes as the panic
        // unwinds (its future with it, never to be polled again), and the
        // `JoinHandle` awaiting it hears of it (see `Completer`'s drop).
        let unwinding = Lent::new(key, |key| {
            let removed = self.inner.tasks.borrow_mut().remove(key);
            drop(removed);
        });
        // `*future`: the `Pin<Box<..>>` is itself a `TaskFuture`, whose name is "Pin<Box<dyn ..>>".
        self.call_timed((*future).label(), |_| {
            ready = future.as_mut().poll(&mut Context::from_waker(&waker)).is_ready();
        });
        unwinding.keep();
        if ready {
            let removed = self.inner.tasks.borrow_mut().remove(key);
            // Dropped outside the borrow: a task's drop may touch the loop.
            drop(removed);
            drop(future);
        } else if let Some(t) = self.inner.tasks.borrow_mut().get_mut(key) {
            t.future = Some(future);
        }
    }

    /// Live tasks (spawned and not yet finished).
    pub fn task_count(&self) -> usize {
        self.inner.tasks.borrow().len()
    }

    /// Runs the loop until `future` completes and returns its output.
    ///
    /// `future` itself is polled between ticks (when woken); tasks it spawns
    /// run from the microtask queue as usual. While `future` is pending the
    /// loop keeps running even with no other handle, since another thread
    /// may still wake it.
    ///
    /// # Panics
    ///
    /// When called from inside a callback of this loop, or when the backend's
    /// wait fails (a broken invariant: a closed epoll descriptor).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let mut future = pin!(future);
        let flag =
            Arc::new(MainWaker { woken: AtomicBool::new(true), remote: Arc::downgrade(&self.inner.remote) });
        let waker = Waker::from(flag.clone());
        // Clones of `waker` may outlive this call (in a JoinHandle whose wait
        // was abandoned): marked woken for good, they can no longer stop a
        // later `run` as a wake-up inside a tick does.
        let _stale = Lent::new(&flag, |flag| flag.woken.store(true, Ordering::Release));
        let _enter = self.enter();
        // A pending main future keeps the loop alive, as a referenced handle would.
        let _alive = AliveGuard::new(self);
        loop {
            if flag.woken.swap(false, Ordering::AcqRel) {
                if let Poll::Ready(out) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
                    return out;
                }
                self.drain_ticks();
                if flag.woken.load(Ordering::Acquire) {
                    continue;
                }
            }
            if let Err(e) = self.run_once() {
                panic!("block_on: the loop failed: {e}");
            }
        }
    }
}

/// Counts as one referenced handle while alive.
struct AliveGuard<'a>(&'a Loop);

impl<'a> AliveGuard<'a> {
    fn new(lp: &'a Loop) -> AliveGuard<'a> {
        lp.inner.adjust_refs(false, true);
        AliveGuard(lp)
    }
}

impl Drop for AliveGuard<'_> {
    fn drop(&mut self) {
        self.0.inner.adjust_refs(true, false);
    }
}

/// The waker of `block_on`'s own future.
struct MainWaker {
    woken: AtomicBool,
    remote: ArcWeak<Remote>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.woken.swap(true, Ordering::AcqRel) {
            return;
        }
        // On the loop thread inside a tick: finish the tick without blocking in
        // poll (outside a tick, block_on polls the future next anyway).
        // Elsewhere: ring the loop so its poll returns.
        let on_loop = with_loop_of(&self.remote, |lp| {
            if lp.inner.running.get() {
                lp.inner.stopped.set(true);
            }
        });
        if on_loop.is_none() {
            if let Some(remote) = self.remote.upgrade() {
                let _ = remote.send(RemoteItem::Post("block_on wake-up", Box::new(|_| {})));
            }
        }
    }
}

struct JoinState<T> {
    value: Option<T>,
    waiter: Option<Waker>,
    finished: bool,
    /// The producer was dropped without a value: its task panicked (or
    /// its loop was dropped first).
    abandoned: bool,
}

/// The eventual output of a task or a thread-pool job; awaiting it is like
/// awaiting a Promise.
///
/// # Panics
///
/// Awaiting it panics when its task panicked, as awaiting a rejected promise
/// throws (a thread-pool job's panic is a [`WorkError`](crate::WorkError)
/// instead), and when it is polled again after returning its output.
pub struct JoinHandle<T> {
    state: Rc<RefCell<JoinState<T>>>,
}

/// The producing half of a [`JoinHandle`].
pub(crate) struct Completer<T> {
    state: Rc<RefCell<JoinState<T>>>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn pair() -> (JoinHandle<T>, Completer<T>) {
        let state =
            Rc::new(RefCell::new(JoinState { value: None, waiter: None, finished: false, abandoned: false }));
        (JoinHandle { state: state.clone() }, Completer { state })
    }

    /// Whether the output is ready (or was already taken), or will never
    /// come because the task panicked.
    pub fn is_finished(&self) -> bool {
        self.state.borrow().finished
    }
}

impl<T> Completer<T> {
    pub(crate) fn complete(self, value: T) {
        let waiter = {
            let mut s = self.state.borrow_mut();
            s.value = Some(value);
            s.finished = true;
            s.waiter.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

impl<T> Drop for Completer<T> {
    /// A producer dropped unfinished (its task panicked) wakes the awaiting
    /// task, whose `await` then panics in turn, as a rejected promise throws
    /// at its `await`: else it would wait forever.
    fn drop(&mut self) {
        let waiter = {
            let mut s = self.state.borrow_mut();
            if s.finished {
                return;
            }
            s.finished = true;
            s.abandoned = true;
            s.waiter.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.state.borrow_mut();
        if let Some(v) = s.value.take() {
            return Poll::Ready(v);
        }
        if s.abandoned {
            drop(s);
            panic!("the task behind this JoinHandle panicked (or its loop was dropped)");
        }
        assert!(!s.finished, "JoinHandle polled again after it returned its output");
        s.waiter = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle").field("finished", &self.is_finished()).finish()
    }
}

/// Yields to the loop: the task resumes from the check phase, as an
/// immediate, after the loop has polled for I/O once, so what this task does
/// in a burst (accepting a queue of connections, answering a pipelined batch)
/// cannot hold back other connections' events. Node's `await new
/// Promise(r => setImmediate(r))`; [`yield_now`] only lets other microtasks run.
pub async fn yield_to_loop(lp: &Loop) {
    let mut queued = false;
    std::future::poll_fn(|cx| {
        if queued {
            return Poll::Ready(());
        }
        queued = true;
        let waker = cx.waker().clone();
        lp.set_immediate(move |_| waker.wake());
        Poll::Pending
    })
    .await
}

/// Yields once: the task goes to the back of the microtask queue.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::{Task, TaskWaker};

    /// Every idle connection of a server is a task: these sizes are part of
    /// issue 3's 256 bytes per idle connection (`serve_idle_memory` adds them up).
    #[test]
    fn a_task_costs_a_32_byte_entry_and_a_40_byte_waker() {
        assert_eq!(crate::slab::entry_size::<Task>(), 32);
        // Plus the `Arc`'s two counts: 40 bytes requested, a 48-byte glibc chunk.
        assert_eq!(std::mem::size_of::<TaskWaker>(), 24);
    }
}
