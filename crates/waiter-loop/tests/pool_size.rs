//! `WAITER_THREADPOOL_SIZE` resizes the pool. One test in this file: the
//! pool reads the variable once per process, and nextest gives each test its
//! own process, so nothing else here may touch the pool first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use waiter_loop::Loop;

mod common;

#[test]
fn pool_size_two_threads_run_four_200ms_jobs_in_two_rounds() {
    // Before the first pool use, which reads the variable.
    std::env::set_var("WAITER_THREADPOOL_SIZE", "2");
    assert_eq!(waiter_loop::threadpool_size(), 2);

    let lp = Loop::new().unwrap();
    let _guard = common::guard_for(&lp, Duration::from_secs(20));
    let gate = Arc::new(common::Gate::default());
    let started = Instant::now();
    let done = lp.block_on(async {
        let jobs: Vec<_> = (0..4u32)
            .map(|i| {
                let gate = gate.clone();
                lp.spawn_blocking(move || {
                    // Both threads in use, proven by counting: no job ends
                    // before two have run at once (or 5 s have passed).
                    gate.enter(2, Duration::from_secs(5));
                    std::thread::sleep(Duration::from_millis(200));
                    gate.leave();
                    i
                })
                .unwrap()
            })
            .collect();
        let mut done = Vec::new();
        for j in jobs {
            done.push(j.await.unwrap());
        }
        done
    });
    let took = started.elapsed();
    assert_eq!(done, [0, 1, 2, 3]);
    assert_eq!(gate.most(), 2, "two threads, both used");
    // At most two at once, 200 ms each: two rounds at least.
    assert!(took >= Duration::from_millis(400), "4 × 200 ms on 2 threads took {took:?}");
    assert_eq!(lp.active_handles(), 0);
    assert!(!lp.is_alive());
}
