//! Timer order: (deadline, start order); a timer started inside the timers
//! phase waits for the next tick even when it is already due.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use waiter_loop::{Loop, Timer};

mod common;
use common::{assert_closed, guard};

#[test]
fn timer_order_equal_delays_fire_in_start_order() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let order = Rc::new(RefCell::new(Vec::new()));
    for i in 0..200u32 {
        let order = order.clone();
        let delay = Duration::from_millis(u64::from(i % 2) * 3);
        lp.set_timeout(delay, move |lp| order.borrow_mut().push((i, lp.metrics().iterations))).unwrap();
    }
    // All 200 due before the first tick: one timers phase runs them all.
    std::thread::sleep(Duration::from_millis(5));
    lp.run().unwrap();
    let order = order.borrow();
    let ids: Vec<u32> = order.iter().map(|o| o.0).collect();
    let zero: Vec<u32> = (0..200).step_by(2).collect();
    let three: Vec<u32> = (1..200).step_by(2).collect();
    assert_eq!(ids, [zero, three].concat(), "by deadline, then by start order");
    assert!(order.iter().all(|o| o.1 == 0), "all in the first tick");
    assert_closed(&lp);
}

#[test]
fn timer_order_due_timers_run_by_deadline_not_start_order() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let order = Rc::new(RefCell::new(Vec::new()));
    for ms in [20u64, 10, 15, 0, 5] {
        let order = order.clone();
        lp.set_timeout(Duration::from_millis(ms), move |lp| {
            order.borrow_mut().push((ms, lp.metrics().iterations))
        })
        .unwrap();
    }
    std::thread::sleep(Duration::from_millis(25));
    lp.run().unwrap();
    assert_eq!(*order.borrow(), [(0, 0), (5, 0), (10, 0), (15, 0), (20, 0)]);
    assert_closed(&lp);
}

#[test]
fn timer_order_zero_delay_timer_started_in_a_timer_waits_for_the_next_tick() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let log = Rc::new(RefCell::new(Vec::new()));
    lp.set_timeout(Duration::ZERO, {
        let log = log.clone();
        move |lp| {
            log.borrow_mut().push(("a", lp.metrics().iterations));
            let log = log.clone();
            lp.set_timeout(Duration::ZERO, move |lp| {
                log.borrow_mut().push(("started by a", lp.metrics().iterations))
            })
            .unwrap();
            // Due (1 ms) before this timers phase ends, yet it must wait.
            std::thread::sleep(Duration::from_millis(2));
        }
    })
    .unwrap();
    lp.set_timeout(Duration::ZERO, {
        let log = log.clone();
        move |lp| log.borrow_mut().push(("b", lp.metrics().iterations))
    })
    .unwrap();
    // A zero delay is 1 ms (Node's floor): make the timer due at the first timers phase.
    std::thread::sleep(Duration::from_millis(2));
    lp.run().unwrap();
    assert_eq!(*log.borrow(), [("a", 0), ("b", 0), ("started by a", 1)]);
    assert_closed(&lp);
}

#[test]
fn timer_order_restarting_itself_does_not_starve_the_loop() {
    // A zero-delay timer that starts another each time must yield to the
    // rest of the tick: an immediate queued alongside runs after the first.
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let log = Rc::new(RefCell::new(Vec::new()));
    fn again(lp: &Loop, n: u32, log: Rc<RefCell<Vec<String>>>) {
        log.borrow_mut().push(format!("timer {n} @{}", lp.metrics().iterations));
        if n < 3 {
            lp.set_timeout(Duration::ZERO, move |lp| again(lp, n + 1, log)).unwrap();
            // Due (1 ms) by the next timers phase: each restart costs one tick.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    lp.set_timeout(Duration::ZERO, {
        let log = log.clone();
        move |lp| again(lp, 1, log)
    })
    .unwrap();
    lp.set_immediate({
        let log = log.clone();
        move |lp| log.borrow_mut().push(format!("immediate @{}", lp.metrics().iterations))
    });
    // A zero delay is 1 ms (Node's floor): make the timer due at the first timers phase.
    std::thread::sleep(Duration::from_millis(2));
    lp.run().unwrap();
    assert_eq!(*log.borrow(), ["timer 1 @0", "immediate @0", "timer 2 @1", "timer 3 @2"]);
    assert_closed(&lp);
}

#[test]
fn timer_order_interval_rearms_after_timers_due_in_the_same_pass() {
    // An interval re-armed during the timers phase is not run twice in one pass.
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let ticks = Rc::new(RefCell::new(Vec::new()));
    let me: Rc<std::cell::OnceCell<Timer>> = Rc::default();
    let t = lp
        .set_interval(Duration::from_millis(1), {
            let (ticks, me) = (ticks.clone(), me.clone());
            move |lp| {
                ticks.borrow_mut().push(lp.metrics().iterations);
                if ticks.borrow().len() == 3 {
                    me.get().unwrap().clear();
                }
            }
        })
        .unwrap();
    me.set(t).unwrap();
    // Late by far more than the interval: still one run per pass.
    std::thread::sleep(Duration::from_millis(10));
    lp.run().unwrap();
    let ticks = ticks.borrow();
    assert_eq!(ticks.len(), 3);
    assert!(ticks.windows(2).all(|w| w[0] < w[1]), "one run per tick: {ticks:?}");
    assert_closed(&lp);
}
