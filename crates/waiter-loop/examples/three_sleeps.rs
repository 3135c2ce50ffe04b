//! The second seed's program: three sleeps of 1 s, 2 s and 3 s awaited together.
//!
//! Run: `cargo run --release --example three_sleeps` (add `WAITER_TRACE=1` to
//! see each tick's poll timeout, like the seed's strace listing; compare with
//! `strace -e epoll_pwait2 node examples/js/three_sleeps.js`).
//! Its JavaScript twin is `examples/js/three_sleeps.js`.

use std::time::{Duration, Instant};

use waiter_loop::Loop;

async fn sleep(millis: u64) -> u64 {
    waiter_loop::sleep(Duration::from_millis(millis)).expect("a valid delay").await;
    millis
}

fn main() -> std::io::Result<()> {
    let lp = Loop::new()?;
    let started = Instant::now();
    let events = lp.block_on(async {
        // Started together, like Promise.all([sleep(1000), sleep(2000), sleep(3000)]).
        let all = [1000, 2000, 3000].map(|ms| waiter_loop::spawn(sleep(ms)));
        let mut done = Vec::new();
        for handle in all {
            done.push(handle.await);
        }
        done
    });
    println!("done waiting for events {events:?} in {:.3} s", started.elapsed().as_secs_f64());
    Ok(())
}
