//! The thread pool: work that would block the loop runs here, results come back on the loop.
//!
//! Like libuv's threadpool: one pool per process, shared by every loop,
//! `WAITER_THREADPOOL_SIZE` threads (default 4, at most 1024), started
//! lazily. A job runs on a pool thread; its result is sent to the loop that
//! queued it through that loop's `Remote` and delivered there, in the poll
//! phase, as libuv's `uv__work_done` does. A job in flight keeps its loop
//! alive. Pool threads block every signal, so a signal meant for a loop's
//! signalfd is never taken by a worker.
//!
//! A job no thread has taken yet can be cancelled, as with libuv's
//! `uv_cancel`: it leaves the queue unrun, and its completion gets
//! [`WorkError::Cancelled`] (libuv's `UV_ECANCELED`) on the loop.

use std::any::Any;
use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Weak;
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};

use crate::event_loop::{Inner, Loop};
use crate::remote::RemoteItem;
use crate::task::JoinHandle;

/// What a job sends back: its value, or its panic.
type JobResult = std::thread::Result<Box<dyn Any + Send>>;

/// What a completion gets: the job's value, or why there is none.
type Outcome = Result<Box<dyn Any + Send>, WorkError>;

/// Turns a job's outcome into the user's typed callback.
type Finish = Box<dyn FnOnce(&Loop, Outcome)>;

/// The loop-side completion of a job, called with what the job returned.
pub(crate) struct WorkDone {
    /// The completion's type name, for the watchdog.
    label: &'static str,
    finish: Finish,
}

type Job = Box<dyn FnOnce() + Send>;

const DEFAULT_THREADS: usize = 4;
const MAX_THREADS: usize = 1024;

struct Pool {
    queue: Mutex<PoolQueue>,
    ready: Condvar,
    size: usize,
}

struct PoolQueue {
    /// Jobs no thread has taken, with their ids (for `cancel`).
    jobs: VecDeque<(u64, Job)>,
    next_id: u64,
    threads: usize,
    idle: usize,
}

/// The pool size `WAITER_THREADPOOL_SIZE` asks for: 1..=1024; anything else
/// is reported and replaced by the default.
fn configured_size(var: Option<&str>) -> Result<usize, String> {
    let Some(raw) = var else { return Ok(DEFAULT_THREADS) };
    match raw.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(format!("WAITER_THREADPOOL_SIZE={raw:?} is not a number from 1 to {MAX_THREADS}")),
    }
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let var = std::env::var("WAITER_THREADPOOL_SIZE").ok();
        let size = configured_size(var.as_deref()).unwrap_or_else(|msg| {
            eprintln!("waiter: {msg}; using {DEFAULT_THREADS} threads");
            DEFAULT_THREADS
        });
        Pool {
            queue: Mutex::new(PoolQueue { jobs: VecDeque::new(), next_id: 0, threads: 0, idle: 0 }),
            ready: Condvar::new(),
            size,
        }
    })
}

/// The number of threads the pool runs (or will run) with.
pub fn threadpool_size() -> usize {
    pool().size
}

impl Pool {
    /// Queues `job`; returns its id in the pool.
    fn submit(&'static self, job: Job) -> io::Result<u64> {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let id = q.next_id;
        q.next_id += 1;
        q.jobs.push_back((id, job));
        // A worker counted idle may already have been signalled for an earlier
        // job and not yet taken it: only jobs beyond the idle count are covered
        // by a new thread. (Checking `idle > 0` alone left a burst after a quiet
        // spell on one thread.)
        if q.idle > 0 {
            self.ready.notify_one();
        }
        if q.jobs.len() > q.idle && q.threads < self.size {
            let n = q.threads;
            std::thread::Builder::new()
                .name(format!("waiter-pool-{n}"))
                .spawn(move || self.worker())
                .map_err(|e| io::Error::new(e.kind(), format!("starting pool thread {n}: {e}")))?;
            q.threads += 1;
        }
        Ok(id)
    }

    /// Takes job `id` out of the queue if no thread has taken it yet.
    fn cancel(&self, id: u64) -> bool {
        let job = {
            let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            // Queued jobs are in id order, and the queue is short (a thread takes the front).
            let at = q.jobs.binary_search_by_key(&id, |(j, _)| *j);
            at.ok().and_then(|at| q.jobs.remove(at))
        };
        // Dropped outside the lock: the job owns the user's closure.
        job.is_some()
    }

    fn worker(&self) {
        // Signals belong to the loops' signalfds, never to a worker.
        let _ = crate::sys::block_signals(&crate::sys::SigSet::full());
        loop {
            let job = {
                let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                loop {
                    if let Some((_, job)) = q.jobs.pop_front() {
                        break job;
                    }
                    q.idle += 1;
                    q = self.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
                    q.idle -= 1;
                }
            };
            job();
        }
    }
}

/// Why a thread-pool job produced no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkError {
    /// The job panicked; the message is the panic's payload when it was a string.
    Panicked(String),
    /// The job was cancelled before a thread took it ([`Work::cancel`];
    /// libuv's `UV_ECANCELED`): it never ran.
    Cancelled,
}

impl fmt::Display for WorkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkError::Panicked(msg) => write!(f, "thread-pool job panicked: {msg}"),
            WorkError::Cancelled => f.write_str("thread-pool job cancelled before it started"),
        }
    }
}

impl Error for WorkError {}

impl From<WorkError> for io::Error {
    fn from(e: WorkError) -> io::Error {
        io::Error::other(e)
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

/// A job queued on the thread pool (libuv's `uv_work_t`), as
/// [`Loop::queue_work`] returns it. Dropping it changes nothing.
#[derive(Debug)]
pub struct Work {
    inner: Weak<Inner>,
    /// The completion's key in the loop's `work` slab.
    key: usize,
    /// The job's id in the pool.
    job: u64,
}

impl Work {
    /// Cancels the job if no pool thread has taken it yet (libuv's
    /// `uv_cancel`). Its completion then runs on the loop with
    /// `Err(WorkError::Cancelled)`, from the pending phase of the next tick,
    /// never inside `cancel`, as libuv calls a cancelled request's callback
    /// with `UV_ECANCELED` from the loop. Returns whether it was cancelled:
    /// `false` once a thread has taken the job (it runs to the end and its
    /// result is delivered as usual), or when it was cancelled already.
    pub fn cancel(&self) -> bool {
        let Some(inner) = self.inner.upgrade() else { return false };
        if inner.work.borrow().get(self.key).is_none() || !pool().cancel(self.job) {
            return false;
        }
        let key = self.key;
        Loop { inner }.defer(move |lp| lp.complete_work(key, Err(WorkError::Cancelled)));
        true
    }
}

/// The eventual result of a [`Loop::spawn_blocking`] job: await it (like a
/// [`JoinHandle`]), or [`cancel`](WorkHandle::cancel) the job before it starts.
#[derive(Debug)]
pub struct WorkHandle<T> {
    result: JoinHandle<Result<T, WorkError>>,
    work: Work,
}

impl<T> WorkHandle<T> {
    /// Cancels the job if no pool thread has taken it yet; awaiting the
    /// handle then gives `Err(WorkError::Cancelled)`. See [`Work::cancel`].
    pub fn cancel(&self) -> bool {
        self.work.cancel()
    }

    /// Whether the result is ready (or was already taken).
    pub fn is_finished(&self) -> bool {
        self.result.is_finished()
    }
}

impl<T> Future for WorkHandle<T> {
    type Output = Result<T, WorkError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.result).poll(cx)
    }
}

impl Loop {
    /// Runs `work` on the thread pool, then `done` on this loop with its
    /// result (libuv's `uv_queue_work`). The returned [`Work`] cancels it
    /// until a pool thread takes it.
    ///
    /// # Errors
    ///
    /// The pool failing to start a thread.
    pub fn queue_work<T, W, D>(&self, work: W, done: D) -> io::Result<Work>
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
        D: FnOnce(&Loop, Result<T, WorkError>) + 'static,
    {
        let finish: WorkDone = WorkDone {
            label: std::any::type_name::<D>(),
            finish: Box::new(move |lp, outcome: Outcome| {
                let result =
                    outcome.map(|value| *value.downcast::<T>().expect("a job's result has the job's type"));
                done(lp, result);
            }),
        };
        let key = self.inner.work.borrow_mut().insert(finish);
        let remote = self.inner.remote.clone();
        let submitted = pool().submit(Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(|| Box::new(work()) as Box<dyn Any + Send>));
            // The loop may be gone; its completion then has no one to run for.
            let _ = remote.send(RemoteItem::WorkDone(key, result));
        }));
        match submitted {
            Ok(job) => Ok(Work { inner: self.downgrade(), key, job }),
            Err(e) => {
                self.inner.work.borrow_mut().remove(key);
                Err(e)
            }
        }
    }

    /// Runs `work` on the thread pool and returns an awaitable for its result.
    ///
    /// # Errors
    ///
    /// The pool failing to start a thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = waiter_loop::Loop::new().unwrap();
    /// let sum = lp.spawn_blocking(|| (1..=100u64).sum::<u64>()).unwrap();
    /// assert_eq!(lp.block_on(sum), Ok(5050));
    /// ```
    pub fn spawn_blocking<T, W>(&self, work: W) -> io::Result<WorkHandle<T>>
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
    {
        let (result, completer) = JoinHandle::pair();
        let work = self.queue_work(work, move |_, result| completer.complete(result))?;
        Ok(WorkHandle { result, work })
    }

    /// Thread-pool jobs queued by this loop and not yet delivered.
    pub fn pending_work(&self) -> usize {
        self.inner.work.borrow().len()
    }

    /// Delivers a job's result from the pool (the poll phase).
    pub(crate) fn finish_work(&self, key: usize, result: JobResult) {
        self.complete_work(key, result.map_err(|payload| WorkError::Panicked(panic_message(&*payload))));
    }

    fn complete_work(&self, key: usize, outcome: Outcome) {
        let done = self.inner.work.borrow_mut().remove(key);
        if let Some(done) = done {
            self.invoke(done.label, |lp| (done.finish)(lp, outcome));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_size_is_validated() {
        assert_eq!(configured_size(None), Ok(DEFAULT_THREADS));
        assert_eq!(configured_size(Some("8")), Ok(8));
        assert!(configured_size(Some("0")).is_err());
        assert!(configured_size(Some("-3")).is_err());
        assert!(configured_size(Some("lots")).unwrap_err().contains("lots"));
        assert!(configured_size(Some("1025")).is_err());
    }
}
