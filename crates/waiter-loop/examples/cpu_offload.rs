//! Run: `cargo run --release --example cpu_offload`: a 2 s CPU-bound job off the loop, then on it.
//!
//! A 10 ms interval ticks throughout. The first seed's warning made visible:
//! the loop is one thread, so a callback that computes for two seconds stops
//! every timer, socket and promise for two seconds. Handing the job to the
//! thread pool (`spawn_blocking`, libuv's `uv_queue_work`) keeps the loop
//! free: the interval keeps time while the job runs. Run on the loop instead,
//! the same job holds the interval up for its whole length, and the watchdog
//! (`set_watchdog_stderr`) names the callback that did it.
//! Add `WAITER_BACKEND=poll` to compare backends, `WAITER_TRACE=1` to see the ticks.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use waiter_loop::{Histogram, Loop, Timer};

/// How long the CPU-bound job computes.
const JOB: Duration = Duration::from_secs(2);
/// The interval whose lateness shows whether the loop is responsive.
const TICK: Duration = Duration::from_millis(10);

/// CPU-bound work: counts primes by trial division until `budget` has
/// passed; returns how many it found and the largest.
fn count_primes_for(budget: Duration) -> (u64, u64) {
    let started = Instant::now();
    let (mut count, mut largest, mut n) = (0u64, 0u64, 2u64);
    loop {
        // Check the clock once per thousand candidates, not per candidate.
        for _ in 0..1_000 {
            if (2..).take_while(|d| d * d <= n).all(|d| n % d != 0) {
                count += 1;
                largest = n;
            }
            n += 1;
        }
        if started.elapsed() >= budget {
            return (count, largest);
        }
    }
}

/// Starts the 10 ms interval; each run records how late it came.
fn start_ticker(lp: &Loop) -> io::Result<(Timer, Rc<RefCell<Histogram>>)> {
    let lateness = Rc::new(RefCell::new(Histogram::new()));
    let record = lateness.clone();
    let mut due = Instant::now() + TICK;
    let timer = lp.set_interval(TICK, move |_| {
        let now = Instant::now();
        record.borrow_mut().record(now.saturating_duration_since(due));
        due = now + TICK;
    })?;
    Ok((timer, lateness))
}

fn report(how: &str, took: Duration, lateness: &Histogram, (count, largest): (u64, u64)) {
    let s = lateness.summary();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("job {how}: {count} primes up to {largest}, {:.2} s", took.as_secs_f64());
    println!(
        "  10 ms interval: {} runs, late by p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        s.samples,
        ms(s.p50),
        ms(s.p99),
        ms(s.max)
    );
}

fn main() -> io::Result<()> {
    let lp = Loop::new()?;
    // Any callback holding the loop for more than 50 ms is named on stderr.
    lp.set_watchdog_stderr(Duration::from_millis(50));
    println!("{} backend, {} pool threads", lp.backend(), waiter_loop::threadpool_size());

    // 1. Offloaded: the job runs on a pool thread; the loop only waits.
    let (ticker, lateness) = start_ticker(&lp)?;
    let started = Instant::now();
    let job = lp.spawn_blocking(|| count_primes_for(JOB))?;
    let result = lp.block_on(job).map_err(io::Error::from)?;
    let took = started.elapsed();
    ticker.clear();
    report("on the thread pool", took, &lateness.borrow(), result);

    // 2. For contrast, the same job inside a timer callback on the loop. The
    //    interval runs a few times before and after; the watchdog reports.
    let (ticker, lateness) = start_ticker(&lp)?;
    let outcome = Rc::new(Cell::new(None));
    let done = outcome.clone();
    lp.set_timeout(TICK * 5, move |lp| {
        let started = Instant::now();
        done.set(Some((count_primes_for(JOB), started.elapsed())));
        let ticker = ticker.clone();
        lp.set_timeout(TICK * 10, move |_| ticker.clear()).expect("a 100 ms timer");
    })?;
    lp.run()?;
    let (result, took) = outcome.take().expect("the job ran");
    report("on the loop", took, &lateness.borrow(), result);
    Ok(())
}
