//! waiter-loop: an event-loop runtime in the tradition of libuv.
//!
//! One thread asks the kernel which descriptors are ready (epoll, or poll(2)
//! for contrast), runs the callback of each ready event, and asks again. The
//! tick is libuv's: timers → pending → poll → check (immediates) → closing,
//! and after every callback the next-tick queue and then the microtask queue
//! drain until both are empty, as in Node. On top sit Node's verbs
//! (`set_timeout`, `set_interval`, `set_immediate`, `next_tick`,
//! `queue_microtask`), async tasks whose wake-ups are microtasks, a thread
//! pool for work that would block, signals, and non-blocking sockets.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use waiter_loop::Loop;
//!
//! let lp = Loop::new().unwrap();
//! let out = lp.block_on(async {
//!     let lp = Loop::current().unwrap();
//!     let (a, b) = (lp.sleep(Duration::from_millis(20)).unwrap(), lp.sleep(Duration::from_millis(30)).unwrap());
//!     a.await;
//!     b.await; // started together: 30 ms in all, not 50
//!     "done"
//! });
//! assert_eq!(out, "done");
//! ```
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod event_loop;
mod metrics;
pub mod net;
mod poller;
mod remote;
mod run;
mod signal;
mod slab;
mod sys;
mod task;
mod time;
mod timer;
mod trace;
mod unwind;
mod watch;
mod work;

pub use event_loop::{Builder, Immediate, Loop, Phase};
pub use metrics::{DelaySummary, Histogram, MetricsSnapshot, SlowCallback};
pub use poller::{Backend, Interest, Readiness};
pub use remote::Handle;
pub use signal::{block_signals, Signal, SignalWatch, Signals};
pub use sys::{nofile_limit, open_beneath, set_nofile_limit};
pub use task::{yield_now, yield_to_loop, JoinHandle};
pub use time::{Elapsed, Sleep, Timeout};
pub use timer::Timer;
pub use watch::Watch;
pub use work::{threadpool_size, Work, WorkError, WorkHandle};

use std::future::Future;
use std::io;
use std::time::Duration;

fn current_or_panic(what: &str) -> Loop {
    Loop::current().unwrap_or_else(|| panic!("waiter_loop::{what} called outside a running loop"))
}

/// Spawns a task on the loop running on this thread ([`Loop::spawn`]).
///
/// # Panics
///
/// Outside [`Loop::run`] or [`Loop::block_on`].
pub fn spawn<F: Future + 'static>(future: F) -> JoinHandle<F::Output> {
    current_or_panic("spawn").spawn(future)
}

/// A future completing after `delay` on the current loop ([`Loop::sleep`]).
///
/// # Errors
///
/// `InvalidInput` when `delay` overflows the loop's clock.
///
/// # Panics
///
/// Outside [`Loop::run`] or [`Loop::block_on`].
pub fn sleep(delay: Duration) -> io::Result<Sleep> {
    current_or_panic("sleep").sleep(delay)
}

/// Runs `future` with a deadline on the current loop ([`Loop::timeout`]).
///
/// # Errors
///
/// `InvalidInput` when `delay` overflows the loop's clock.
///
/// # Panics
///
/// Outside [`Loop::run`] or [`Loop::block_on`].
pub fn timeout<F: Future>(delay: Duration, future: F) -> io::Result<Timeout<F>> {
    current_or_panic("timeout").timeout(delay, future)
}

/// Runs `work` on the thread pool for the current loop ([`Loop::spawn_blocking`]).
///
/// # Errors
///
/// The pool failing to start a thread.
///
/// # Panics
///
/// Outside [`Loop::run`] or [`Loop::block_on`].
pub fn spawn_blocking<T, W>(work: W) -> io::Result<WorkHandle<T>>
where
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
{
    current_or_panic("spawn_blocking").spawn_blocking(work)
}
