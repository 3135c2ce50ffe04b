//! `next_tick` and `immediate`: 1,000,000 callbacks, each scheduling the next.
//!
//! Run: `cargo bench -p waiter-loop --bench next_tick [-- --runs 5]` (bench/loop.sh runs it
//! pinned with `taskset -c 1` next to `bench/libuv/immediate.c`). Each run prints
//! `RESULT <scenario> <impl> <ns per callback>`; bench/loop_report.py takes the medians.
//!
//! The pairing (no runtime has exactly the other's queues):
//!
//! - `next_tick`, waiter: a `next_tick` callback that queues the next one, 1,000,000 deep; the
//!   chain drains without leaving the queue (no poll in between), as `process.nextTick` does.
//!   tokio: a trivial `spawn_local` task that spawns the next one, in a `LocalSet` on a
//!   `current_thread` runtime: tokio's cheapest "run this after me" (its local run queue, with
//!   an I/O poll every 61 tasks). libuv has no such queue (Node implements it in JavaScript).
//! - `immediate`, waiter: a `set_immediate` callback that queues the next one, so each runs one
//!   tick later (timers, pending, a zero-timeout `epoll_wait`, check). tokio: `yield_now()` in a
//!   loop in the `block_on` future: each yield goes back to the scheduler, which polls the I/O
//!   driver without blocking before resuming it. libuv: Node's `setImmediate` recipe, a
//!   `uv_check` handle counting its calls plus an idle `uv_idle` handle so poll never blocks.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use waiter_loop::Loop;

mod common;
use common::{per_op, run_cases, tokio_runtime, Case, WARMUP_ROUNDS};

const CALLBACKS: usize = 1_000_000;

fn tick_chain(lp: &Loop, left: Rc<Cell<usize>>) {
    lp.next_tick(move |lp| {
        left.set(left.get() - 1);
        if left.get() > 0 {
            tick_chain(lp, left);
        }
    });
}

fn waiter_next_tick() -> Duration {
    let lp = Loop::new().expect("loop");
    let left = Rc::new(Cell::new(CALLBACKS));
    let started = Instant::now();
    tick_chain(&lp, left.clone());
    lp.run().expect("run");
    let elapsed = started.elapsed();
    assert_eq!(left.get(), 0);
    elapsed
}

fn spawn_chain(left: Rc<Cell<usize>>) {
    tokio::task::spawn_local(async move {
        left.set(left.get() - 1);
        if left.get() > 0 {
            spawn_chain(left);
        }
    });
}

fn tokio_spawn_chain() -> Duration {
    let rt = tokio_runtime();
    let local = tokio::task::LocalSet::new();
    let left = Rc::new(Cell::new(CALLBACKS));
    let started = Instant::now();
    let first = left.clone();
    local.spawn_local(async move { spawn_chain(first) });
    rt.block_on(local);
    let elapsed = started.elapsed();
    assert_eq!(left.get(), 0);
    elapsed
}

fn immediate_chain(lp: &Loop, left: Rc<Cell<usize>>) {
    lp.set_immediate(move |lp| {
        left.set(left.get() - 1);
        if left.get() > 0 {
            immediate_chain(lp, left);
        }
    });
}

fn waiter_immediate() -> Duration {
    let lp = Loop::new().expect("loop");
    let left = Rc::new(Cell::new(CALLBACKS));
    let started = Instant::now();
    immediate_chain(&lp, left.clone());
    lp.run().expect("run");
    let elapsed = started.elapsed();
    assert_eq!(left.get(), 0);
    elapsed
}

fn tokio_yield_now() -> Duration {
    let rt = tokio_runtime();
    rt.block_on(async {
        let started = Instant::now();
        for _ in 0..CALLBACKS {
            tokio::task::yield_now().await;
        }
        started.elapsed()
    })
}

fn main() {
    eprintln!("next_tick: {CALLBACKS} chained callbacks per run");
    let case = |s: &str, i, f: fn() -> Duration| -> Case {
        (s.to_string(), i, Box::new(move || per_op(f(), CALLBACKS)))
    };
    run_cases(
        vec![
            case("next_tick", "waiter", waiter_next_tick),
            case("next_tick", "tokio", tokio_spawn_chain),
            case("immediate", "waiter", waiter_immediate),
            case("immediate", "tokio", tokio_yield_now),
        ],
        WARMUP_ROUNDS,
    );
}
