//! `sleep` and `timeout`: the async faces of `set_timeout`.

use std::future::pending;
use std::io;
use std::time::{Duration, Instant};

use waiter_loop::{Elapsed, Loop};

mod common;
use common::{assert_closed, guard};

#[test]
fn sleep_waits_at_least_its_delay() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    for ms in [0u64, 1, 30] {
        let started = Instant::now();
        lp.block_on(lp.sleep(Duration::from_millis(ms)).unwrap());
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(ms), "a {ms} ms sleep took {took:?}");
        assert!(took < Duration::from_millis(ms + 2_000), "a {ms} ms sleep took {took:?}");
    }
    assert_closed(&lp);
}

#[test]
fn sleep_free_function_uses_the_current_loop() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let started = Instant::now();
    lp.block_on(async { waiter_loop::sleep(Duration::from_millis(15)).unwrap().await });
    assert!(started.elapsed() >= Duration::from_millis(15));
    assert_closed(&lp);
}

#[test]
fn sleep_outside_a_running_loop_panics_in_the_free_function() {
    let err =
        std::panic::catch_unwind(|| waiter_loop::sleep(Duration::from_millis(1)).map(drop)).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("outside a running loop"), "{msg}");
}

#[test]
fn sleep_dropped_before_it_fires_clears_its_timer() {
    let lp = Loop::new().unwrap();
    let s = lp.sleep(Duration::from_secs(30)).unwrap();
    assert_eq!(lp.active_handles(), 1);
    assert!(s.timer().is_active());
    drop(s);
    assert_eq!(lp.active_handles(), 0);
    let started = Instant::now();
    lp.run().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_closed(&lp);
}

#[test]
fn sleep_unrefd_does_not_hold_the_loop() {
    let lp = Loop::new().unwrap();
    let s = lp.sleep(Duration::from_secs(30)).unwrap();
    s.timer().unref();
    let started = Instant::now();
    lp.run().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(s.timer().is_active());
    drop(s);
    assert_closed(&lp);
}

#[test]
fn sleep_that_already_fired_is_ready_at_once() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let s = lp.sleep(Duration::from_millis(5)).unwrap();
    lp.run().unwrap(); // the timer fires with nobody awaiting it yet
    assert!(!s.timer().is_active());
    let started = Instant::now();
    lp.block_on(s);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_closed(&lp);
}

#[test]
fn sleep_and_timeout_reject_an_overflowing_delay() {
    let lp = Loop::new().unwrap();
    assert_eq!(lp.sleep(Duration::MAX).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    let err = lp.timeout(Duration::MAX, async {}).err().expect("an overflowing deadline is refused");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_closed(&lp);
}

#[test]
fn timeout_ok_when_the_future_finishes_first() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let started = Instant::now();
    let out = lp.block_on(
        lp.timeout(Duration::from_secs(5), async {
            lp.sleep(Duration::from_millis(10)).unwrap().await;
            3
        })
        .unwrap(),
    );
    let took = started.elapsed();
    assert_eq!(out, Ok(3));
    assert!(took >= Duration::from_millis(10) && took < Duration::from_secs(4), "took {took:?}");
    // The deadline's timer went with the Timeout: nothing holds the loop.
    assert_closed(&lp);
    let started = Instant::now();
    lp.run().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn timeout_err_elapsed_when_the_deadline_passes_first() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let started = Instant::now();
    let out = lp
        .block_on(lp.timeout(Duration::from_millis(20), lp.sleep(Duration::from_secs(5)).unwrap()).unwrap());
    let took = started.elapsed();
    let _: Elapsed = out.expect_err("the deadline passed first");
    assert!(took >= Duration::from_millis(20) && took < Duration::from_secs(4), "took {took:?}");
    // The 5 s sleep was dropped with the Timeout and holds nothing.
    assert_closed(&lp);
}

#[test]
fn timeout_of_a_future_that_never_finishes() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let out = lp.block_on(lp.timeout(Duration::from_millis(10), pending::<()>()).unwrap());
    let elapsed = out.unwrap_err();
    assert_eq!(elapsed.to_string(), "deadline elapsed");
    let err: io::Error = elapsed.into();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_closed(&lp);
}

#[test]
fn timeout_of_a_ready_future_is_ok_even_with_a_zero_deadline() {
    let lp = Loop::new().unwrap();
    assert_eq!(lp.block_on(lp.timeout(Duration::ZERO, async { 1 }).unwrap()), Ok(1));
    assert_closed(&lp);
}

#[test]
fn sleep_three_started_together_take_the_longest_not_the_sum() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let started = Instant::now();
    lp.block_on(async {
        let sleeps = [300u64, 100, 200].map(|ms| lp.sleep(Duration::from_millis(ms)).unwrap());
        for s in sleeps {
            s.await;
        }
    });
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "took {took:?}");
    assert!(took < Duration::from_millis(550), "took {took:?}: closer to the sum (600 ms) than the max");
    assert_closed(&lp);
}

#[test]
fn sleep_three_spawned_tasks_take_the_longest_not_the_sum() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let started = Instant::now();
    let done = lp.block_on(async {
        let tasks = [100u64, 200, 300].map(|ms| {
            waiter_loop::spawn(async move {
                waiter_loop::sleep(Duration::from_millis(ms)).unwrap().await;
                ms
            })
        });
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await);
        }
        done
    });
    let took = started.elapsed();
    assert_eq!(done, [100, 200, 300]);
    assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(550), "took {took:?}");
    assert_eq!(lp.task_count(), 0);
    assert_closed(&lp);
}
