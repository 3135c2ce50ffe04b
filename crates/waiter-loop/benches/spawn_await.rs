//! `spawn_await`: 1,000,000 trivial tasks spawned and awaited from an async main.
//!
//! Run: `cargo bench -p waiter-loop --bench spawn_await [-- --runs 5]` (bench/loop.sh runs it
//! pinned with `taskset -c 1`). Each run prints `RESULT <scenario> <impl> <ns per task>`;
//! bench/loop_report.py takes the medians. libuv has no tasks, so no libuv column.
//!
//! - `spawn_await`, waiter: inside `block_on`, `lp.spawn(async move { i })` 1,000,000 times
//!   keeping the `JoinHandle`s, then each awaited in turn and summed. tokio: the same with
//!   `tokio::task::spawn_local` inside `LocalSet::block_on` on a `current_thread` runtime
//!   (`enable_all`, like `#[tokio::main]`).
//! - `spawn_await/one_by_one`: each task is awaited before the next is spawned, so every
//!   task costs a round trip through the scheduler and a wake-up of the main future.

use std::time::{Duration, Instant};

use waiter_loop::Loop;

mod common;
use common::{per_op, run_cases, tokio_runtime, Case, WARMUP_ROUNDS};

const TASKS: usize = 1_000_000;

fn expected_sum() -> usize {
    TASKS * (TASKS - 1) / 2
}

fn waiter_batch() -> Duration {
    let lp = Loop::new().expect("loop");
    let started = Instant::now();
    let sum = lp.block_on(async {
        let lp = Loop::current().expect("inside block_on");
        let handles: Vec<_> = (0..TASKS).map(|i| lp.spawn(async move { i })).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await;
        }
        sum
    });
    let elapsed = started.elapsed();
    assert_eq!(sum, expected_sum());
    elapsed
}

fn tokio_batch() -> Duration {
    let rt = tokio_runtime();
    let local = tokio::task::LocalSet::new();
    let started = Instant::now();
    let sum = local.block_on(&rt, async {
        let handles: Vec<_> = (0..TASKS).map(|i| tokio::task::spawn_local(async move { i })).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.expect("task");
        }
        sum
    });
    let elapsed = started.elapsed();
    assert_eq!(sum, expected_sum());
    elapsed
}

fn waiter_one_by_one() -> Duration {
    let lp = Loop::new().expect("loop");
    let started = Instant::now();
    let sum = lp.block_on(async {
        let lp = Loop::current().expect("inside block_on");
        let mut sum = 0;
        for i in 0..TASKS {
            sum += lp.spawn(async move { i }).await;
        }
        sum
    });
    let elapsed = started.elapsed();
    assert_eq!(sum, expected_sum());
    elapsed
}

fn tokio_one_by_one() -> Duration {
    let rt = tokio_runtime();
    let local = tokio::task::LocalSet::new();
    let started = Instant::now();
    let sum = local.block_on(&rt, async {
        let mut sum = 0;
        for i in 0..TASKS {
            sum += tokio::task::spawn_local(async move { i }).await.expect("task");
        }
        sum
    });
    let elapsed = started.elapsed();
    assert_eq!(sum, expected_sum());
    elapsed
}

fn main() {
    eprintln!("spawn_await: {TASKS} tasks per run");
    let case = |s: &str, i, f: fn() -> Duration| -> Case {
        (s.to_string(), i, Box::new(move || per_op(f(), TASKS)))
    };
    run_cases(
        vec![
            case("spawn_await", "waiter", waiter_batch),
            case("spawn_await", "tokio", tokio_batch),
            case("spawn_await/one_by_one", "waiter", waiter_one_by_one),
            case("spawn_await/one_by_one", "tokio", tokio_one_by_one),
        ],
        WARMUP_ROUNDS,
    );
}
