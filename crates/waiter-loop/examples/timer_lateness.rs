//! How late timers fire on an idle loop: p50/p99/max over 500 sleeps of 1–10 ms.
//!
//! Run: `cargo run --release --example timer_lateness` (`WAITER_BACKEND=poll`
//! for the millisecond-granular backend). It measures three loops: default,
//! timer slack 1 ns (`Builder::timer_slack`), and a 300 µs spin margin
//! (`Builder::spin_before_timers`), next to `std::thread::sleep` as the floor.

use std::time::{Duration, Instant};

use waiter_loop::{Histogram, Loop};

const SAMPLES: u64 = 500;

fn delay(i: u64) -> Duration {
    Duration::from_micros(1_000 + (i * 7919) % 9_000)
}

fn report(name: &str, hist: &Histogram, early: u64) {
    let s = hist.summary();
    println!(
        "{name:<34} early {early:>3}  late p50 {:>8.1} µs  p99 {:>8.1} µs  max {:>8.1} µs",
        s.p50.as_secs_f64() * 1e6,
        s.p99.as_secs_f64() * 1e6,
        s.max.as_secs_f64() * 1e6
    );
}

fn measure(name: &str, lp: &Loop) -> std::io::Result<()> {
    let (mut hist, mut early) = (Histogram::new(), 0);
    for i in 0..SAMPLES {
        let start = Instant::now();
        lp.block_on(lp.sleep(delay(i))?);
        let took = start.elapsed();
        early += u64::from(took < delay(i));
        hist.record(took.saturating_sub(delay(i)));
    }
    report(&format!("{name} ({})", lp.backend()), &hist, early);
    Ok(())
}

fn main() -> std::io::Result<()> {
    let (mut hist, mut early) = (Histogram::new(), 0);
    for i in 0..SAMPLES {
        let start = Instant::now();
        std::thread::sleep(delay(i));
        let took = start.elapsed();
        early += u64::from(took < delay(i));
        hist.record(took.saturating_sub(delay(i)));
    }
    report("std::thread::sleep (floor)", &hist, early);
    measure("waiter default", &Loop::new()?)?;
    measure("waiter slack 1ns", &Loop::builder().timer_slack(Duration::from_nanos(1)).build()?)?;
    measure("waiter spin 300µs", &Loop::builder().spin_before_timers(Duration::from_micros(300)).build()?)?;
    Ok(())
}
