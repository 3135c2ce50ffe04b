//! `million_timers` and `timer_cancel`: 1,000,000 timers started then fired, or started then cleared.
//!
//! Run: `cargo bench -p waiter-loop --bench million_timers [-- --runs 5]` (bench/loop.sh runs it
//! pinned with `taskset -c 1` next to `bench/libuv/million_timers.c`). Each run prints
//! `RESULT <scenario> <impl> <ns per timer>`; bench/loop_report.py takes the medians.
//!
//! What each side does, timed from before the first start to after the last callback:
//!
//! - `million_timers`, waiter: `set_timeout(1 ms, cb)` 1,000,000 times from the main script,
//!   then `run()`; the callback bumps a counter captured by `Rc` (so each callback is a real,
//!   allocated closure, as in a program). libuv (C): `uv_timer_init` + `uv_timer_start(1 ms)` on
//!   handles in one array, then `uv_run`. tokio has no callback timer: the report fills its column
//!   from the `million_timers/sleep_tasks` run below, the way a tokio program writes `setTimeout`.
//! - `million_timers/sleep_tasks`, waiter: `spawn(async { sleep(1 ms).await; count += 1 })`
//!   1,000,000 times, then `run()`. tokio: the same with `spawn_local` and `tokio::time::sleep`
//!   in a `LocalSet` on a `current_thread` runtime (`enable_all`, like `#[tokio::main]`).
//! - `timer_cancel`, waiter: `set_timeout(1 ms, cb)` 1,000,000 times keeping the `Timer`s,
//!   `clear()` each, then `run()` (which finds nothing alive). tokio: 1,000,000
//!   `Box::pin(sleep(1 ms))` each polled once (which is when tokio registers a sleep in its
//!   wheel), then all dropped (which deregisters them), no task per timer. libuv: init + start
//!   + `uv_timer_stop` on each, then `uv_run`.
//!
//! Equal 1 ms delays: starting a million timers takes far longer than 1 ms, so the wall clock
//! measures the loop rather than the delay (libuv's own `million_timers` spreads deadlines over
//! a second and so mostly measures that second).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use waiter_loop::Loop;

mod common;
use common::{per_op, run_cases, tokio_runtime, Case, WARMUP_ROUNDS};

const TIMERS: usize = 1_000_000;
const DELAY: Duration = Duration::from_millis(1);

fn waiter_timers() -> Duration {
    let lp = Loop::new().expect("loop");
    let fired = Rc::new(Cell::new(0usize));
    let started = Instant::now();
    for _ in 0..TIMERS {
        let fired = fired.clone();
        lp.set_timeout(DELAY, move |_| fired.set(fired.get() + 1)).expect("set_timeout");
    }
    lp.run().expect("run");
    let elapsed = started.elapsed();
    assert_eq!(fired.get(), TIMERS);
    elapsed
}

fn waiter_sleep_tasks() -> Duration {
    let lp = Loop::new().expect("loop");
    let fired = Rc::new(Cell::new(0usize));
    let started = Instant::now();
    for _ in 0..TIMERS {
        let fired = fired.clone();
        lp.spawn(async move {
            waiter_loop::sleep(DELAY).expect("sleep").await;
            fired.set(fired.get() + 1);
        });
    }
    lp.run().expect("run");
    let elapsed = started.elapsed();
    assert_eq!(fired.get(), TIMERS);
    elapsed
}

fn tokio_sleep_tasks() -> Duration {
    let rt = tokio_runtime();
    let local = tokio::task::LocalSet::new();
    let fired = Rc::new(Cell::new(0usize));
    let started = Instant::now();
    for _ in 0..TIMERS {
        let fired = fired.clone();
        local.spawn_local(async move {
            tokio::time::sleep(DELAY).await;
            fired.set(fired.get() + 1);
        });
    }
    // A LocalSet completes once every task spawned on it has.
    rt.block_on(local);
    let elapsed = started.elapsed();
    assert_eq!(fired.get(), TIMERS);
    elapsed
}

fn waiter_cancel() -> Duration {
    let lp = Loop::new().expect("loop");
    let fired = Rc::new(Cell::new(0usize));
    let mut timers = Vec::with_capacity(TIMERS);
    let started = Instant::now();
    for _ in 0..TIMERS {
        let fired = fired.clone();
        timers.push(lp.set_timeout(DELAY, move |_| fired.set(fired.get() + 1)).expect("set_timeout"));
    }
    for t in &timers {
        t.clear();
    }
    lp.run().expect("run");
    let elapsed = started.elapsed();
    assert_eq!(fired.get(), 0);
    elapsed
}

fn tokio_cancel() -> Duration {
    let rt = tokio_runtime();
    rt.block_on(async {
        let mut sleeps = Vec::with_capacity(TIMERS);
        let started = Instant::now();
        for _ in 0..TIMERS {
            sleeps.push(Box::pin(tokio::time::sleep(DELAY)));
        }
        std::future::poll_fn(|cx| {
            for s in sleeps.iter_mut() {
                assert!(Pin::new(s).as_mut().poll(cx).is_pending(), "a 1 ms sleep fired early");
            }
            Poll::Ready(())
        })
        .await;
        drop(sleeps);
        started.elapsed()
    })
}

fn main() {
    eprintln!("million_timers: {TIMERS} timers per run");
    let case = |s: &str, i, f: fn() -> Duration| -> Case {
        (s.to_string(), i, Box::new(move || per_op(f(), TIMERS)))
    };
    run_cases(
        vec![
            case("million_timers", "waiter", waiter_timers),
            case("million_timers/sleep_tasks", "waiter", waiter_sleep_tasks),
            case("million_timers/sleep_tasks", "tokio", tokio_sleep_tasks),
            case("timer_cancel", "waiter", waiter_cancel),
            case("timer_cancel", "tokio", tokio_cancel),
        ],
        WARMUP_ROUNDS,
    );
}
