//! How late timers fire on an idle loop: p50/p99/max over 500 sleeps.
//!
//! Run: `cargo run --release --example timer_lateness` (`WAITER_BACKEND=poll`
//! for the millisecond-granular backend). The target is p99 ≤ 0.1 ms on epoll.

use std::time::{Duration, Instant};

use waiter_loop::{Histogram, Loop};

fn main() -> std::io::Result<()> {
    let lp = Loop::builder().timer_slack(Duration::from_nanos(1)).build()?;
    let mut hist = Histogram::new();
    let mut early = 0;
    for i in 0..500u64 {
        let delay = Duration::from_micros(1_000 + (i * 7919) % 9_000);
        let start = Instant::now();
        lp.block_on(lp.sleep(delay)?);
        let took = start.elapsed();
        if took < delay {
            early += 1;
        }
        hist.record(took.saturating_sub(delay));
    }
    let s = hist.summary();
    println!(
        "{} backend: {} timers, early: {early}, late p50 {:?} p99 {:?} max {:?}",
        lp.backend(),
        s.samples,
        s.p50,
        s.p99,
        s.max
    );
    Ok(())
}
