//! Timers started from the check phase (inside an immediate): a zero delay
//! fires in the next tick's timers phase, before that tick's immediates.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use waiter_loop::Loop;

mod common;
use common::{assert_closed, guard};

type Log = Rc<RefCell<Vec<(&'static str, u64)>>>;

fn note(log: &Log, what: &'static str, lp: &Loop) {
    log.borrow_mut().push((what, lp.metrics().iterations));
}

#[test]
fn timer_from_check_zero_delay_fires_in_the_next_tick() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let log: Log = Rc::default();
    lp.set_immediate({
        let log = log.clone();
        move |lp| {
            note(&log, "check", lp);
            let log = log.clone();
            lp.set_timeout(Duration::ZERO, move |lp| note(&log, "timer", lp)).unwrap();
            // A zero delay is 1 ms (Node's floor): due by the next timers phase.
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    lp.run().unwrap();
    assert_eq!(*log.borrow(), [("check", 0), ("timer", 1)]);
    assert_eq!(lp.metrics().iterations, 2);
    assert_closed(&lp);
}

#[test]
fn timer_from_check_runs_before_the_immediates_of_the_next_tick() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let log: Log = Rc::default();
    lp.set_immediate({
        let log = log.clone();
        move |lp| {
            note(&log, "check 1", lp);
            let l = log.clone();
            lp.set_immediate(move |lp| note(&l, "check 2", lp));
            let l = log.clone();
            lp.set_timeout(Duration::ZERO, move |lp| note(&l, "timer", lp)).unwrap();
            // Due (1 ms) by the next timers phase, which runs before its check phase.
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    lp.run().unwrap();
    assert_eq!(*log.borrow(), [("check 1", 0), ("timer", 1), ("check 2", 1)]);
    assert_closed(&lp);
}

#[test]
fn timer_from_check_waits_its_full_delay() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let waited = Rc::new(RefCell::new(Vec::new()));
    lp.set_immediate({
        let waited = waited.clone();
        move |lp| {
            let started = Instant::now();
            lp.set_timeout(Duration::from_millis(20), move |_| waited.borrow_mut().push(started.elapsed()))
                .unwrap();
        }
    });
    lp.run().unwrap();
    let waited = waited.borrow();
    assert_eq!(waited.len(), 1);
    assert!(waited[0] >= Duration::from_millis(20), "fired after {:?}", waited[0]);
    assert!(waited[0] < Duration::from_secs(2), "fired after {:?}", waited[0]);
    assert_closed(&lp);
}

/// libuv's `timer_from_check`: check → timer → check … for ten rounds, each
/// timer started by an immediate and each immediate by a timer.
#[test]
fn timer_from_check_ping_pong_ten_rounds() {
    const ROUNDS: u32 = 10;
    fn check(lp: &Loop, checks: Rc<Cell<u32>>, timers: Rc<Cell<u32>>) {
        checks.set(checks.get() + 1);
        let tick = lp.metrics().iterations;
        lp.set_timeout(Duration::ZERO, move |lp| {
            assert_eq!(lp.metrics().iterations, tick + 1, "the timer waits exactly one tick");
            timers.set(timers.get() + 1);
            if timers.get() < ROUNDS {
                lp.set_immediate(move |lp| check(lp, checks, timers));
            }
        })
        .unwrap();
        // The zero delay is 1 ms (Node's floor): due by the next timers phase.
        std::thread::sleep(Duration::from_millis(2));
    }
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let (checks, timers) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    lp.set_immediate({
        let (checks, timers) = (checks.clone(), timers.clone());
        move |lp| check(lp, checks, timers)
    });
    lp.run().unwrap();
    assert_eq!((checks.get(), timers.get()), (ROUNDS, ROUNDS));
    assert_eq!(lp.metrics().iterations, u64::from(ROUNDS) + 1);
    assert_closed(&lp);
}
