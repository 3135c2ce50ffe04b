//! Timers: a timeout fires once and never before its delay, an interval
//! repeats until cleared, `refresh` restarts, and impossible delays are errors.

use std::cell::{Cell, OnceCell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use waiter_loop::{Loop, Timer};

mod common;
use common::{assert_closed, guard};

#[test]
fn timer_timeouts_fire_once_and_never_early() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let fired = Rc::new(RefCell::new(Vec::new()));
    for ms in [50u64, 0, 20, 1, 5] {
        let fired = fired.clone();
        let start = Instant::now();
        lp.set_timeout(Duration::from_millis(ms), move |_| fired.borrow_mut().push((ms, start.elapsed())))
            .unwrap();
    }
    assert_eq!(lp.active_handles(), 5);
    let started = Instant::now();
    lp.run().unwrap();
    let took = started.elapsed();

    let fired = fired.borrow();
    let order: Vec<u64> = fired.iter().map(|f| f.0).collect();
    assert_eq!(order, vec![0, 1, 5, 20, 50], "each fires once, shortest first");
    for &(ms, after) in fired.iter() {
        assert!(after >= Duration::from_millis(ms), "the {ms} ms timer fired early, after {after:?}");
        assert!(after < Duration::from_millis(ms + 2_000), "the {ms} ms timer fired after {after:?}");
    }
    assert!(took >= Duration::from_millis(50) && took < Duration::from_secs(3), "run took {took:?}");
    assert_closed(&lp);
}

#[test]
fn timer_never_fires_early_across_many_delays() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let early = Rc::new(RefCell::new(Vec::new()));
    let fired = Rc::new(Cell::new(0));
    for i in 0..300u64 {
        // Sub-millisecond and odd delays too: the poll backend rounds its wait
        // up to whole milliseconds, epoll waits to the nanosecond.
        let delay = Duration::from_micros((i * 7_919) % 12_000);
        let (early, fired) = (early.clone(), fired.clone());
        let start = Instant::now();
        lp.set_timeout(delay, move |_| {
            fired.set(fired.get() + 1);
            let after = start.elapsed();
            if after < delay {
                early.borrow_mut().push((delay, after));
            }
        })
        .unwrap();
    }
    lp.run().unwrap();
    assert_eq!(fired.get(), 300);
    assert!(early.borrow().is_empty(), "timers fired early (delay, after): {:?}", early.borrow());
    assert_closed(&lp);
}

#[test]
fn timer_interval_runs_n_times_then_clears_itself() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let count = Rc::new(Cell::new(0u32));
    let me: Rc<OnceCell<Timer>> = Rc::new(OnceCell::new());
    let start = Instant::now();
    let interval = Duration::from_millis(5);
    let t = lp
        .set_interval(interval, {
            let (count, me) = (count.clone(), me.clone());
            move |_| {
                count.set(count.get() + 1);
                let after = start.elapsed();
                assert!(after >= interval * count.get(), "run {} came early, after {after:?}", count.get());
                if count.get() == 5 {
                    me.get().expect("the interval's own handle").clear();
                }
            }
        })
        .unwrap();
    me.set(t.clone()).unwrap();
    lp.run().unwrap();
    assert_eq!(count.get(), 5);
    assert!(!t.is_active());
    assert!(!t.has_ref());
    assert_closed(&lp);
}

#[test]
fn timer_interval_cleared_by_another_timer_stops() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let count = Rc::new(Cell::new(0u32));
    let interval = lp
        .set_interval(Duration::from_millis(2), {
            let count = count.clone();
            move |_| count.set(count.get() + 1)
        })
        .unwrap();
    let cleared_at = Rc::new(Cell::new(None));
    lp.set_timeout(Duration::from_millis(30), {
        let (count, cleared_at) = (count.clone(), cleared_at.clone());
        move |_| {
            interval.clear();
            cleared_at.set(Some(count.get()));
        }
    })
    .unwrap();
    lp.run().unwrap();
    let at = cleared_at.get().expect("the clearing timer ran");
    assert!(at >= 1, "a 2 ms interval ran {at} times in 30 ms");
    assert!(at <= 15, "a 2 ms interval ran {at} times in 30 ms: early");
    assert_eq!(count.get(), at, "the interval ran after it was cleared");
    assert_closed(&lp);
}

#[test]
fn timer_clear_inside_own_callback_is_harmless() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let count = Rc::new(Cell::new(0));
    let me: Rc<OnceCell<Timer>> = Rc::new(OnceCell::new());
    let t = lp
        .set_timeout(Duration::from_millis(1), {
            let (count, me) = (count.clone(), me.clone());
            move |_| {
                count.set(count.get() + 1);
                let me = me.get().unwrap();
                assert!(!me.is_active(), "a one-shot timer is no longer pending while it runs");
                me.clear();
                me.clear();
            }
        })
        .unwrap();
    me.set(t.clone()).unwrap();
    lp.run().unwrap();
    assert_eq!(count.get(), 1);
    t.clear();
    assert_closed(&lp);
}

#[test]
fn timer_cleared_by_an_earlier_timer_of_the_same_pass_never_fires() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let log = Rc::new(RefCell::new(Vec::new()));
    let victim: Rc<OnceCell<Timer>> = Rc::new(OnceCell::new());
    lp.set_timeout(Duration::ZERO, {
        let (log, victim) = (log.clone(), victim.clone());
        move |_| {
            log.borrow_mut().push("first");
            victim.get().unwrap().clear();
        }
    })
    .unwrap();
    let v = lp
        .set_timeout(Duration::ZERO, {
            let log = log.clone();
            move |_| log.borrow_mut().push("victim")
        })
        .unwrap();
    victim.set(v).unwrap();
    lp.set_timeout(Duration::ZERO, {
        let log = log.clone();
        move |_| log.borrow_mut().push("last")
    })
    .unwrap();
    // Make all three due before the first timers phase.
    std::thread::sleep(Duration::from_millis(2));
    lp.run().unwrap();
    assert_eq!(*log.borrow(), ["first", "last"]);
    assert_closed(&lp);
}

#[test]
fn timer_cleared_before_run_never_fires() {
    let lp = Loop::new().unwrap();
    let t = lp.set_timeout(Duration::from_millis(1), |_| panic!("a cleared timer fired")).unwrap();
    assert!(t.is_active());
    assert_eq!(lp.active_handles(), 1);
    t.clear();
    t.clear();
    assert!(!t.is_active());
    assert_eq!(lp.active_handles(), 0);
    let started = Instant::now();
    lp.run().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "run waited for a cleared timer");
    assert_closed(&lp);
}

#[test]
fn timer_dropping_the_handle_does_not_clear_it() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let count = Rc::new(Cell::new(0));
    drop(
        lp.set_timeout(Duration::from_millis(3), {
            let count = count.clone();
            move |_| count.set(count.get() + 1)
        })
        .unwrap(),
    );
    lp.run().unwrap();
    assert_eq!(count.get(), 1);
    assert_closed(&lp);
}

#[test]
fn timer_refresh_restarts_from_now() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let start = Instant::now();
    let fired = Rc::new(RefCell::new(Vec::new()));
    let t = lp
        .set_timeout(Duration::from_millis(60), {
            let fired = fired.clone();
            move |_| fired.borrow_mut().push(start.elapsed())
        })
        .unwrap();
    let refreshed = Rc::new(Cell::new(false));
    lp.set_timeout(Duration::from_millis(30), {
        let (t, refreshed) = (t.clone(), refreshed.clone());
        move |_| refreshed.set(t.refresh())
    })
    .unwrap();
    lp.run().unwrap();
    assert!(refreshed.get(), "refresh of a pending timer returns true");
    let fired = fired.borrow();
    assert_eq!(fired.len(), 1, "a refreshed timer fires once");
    assert!(
        fired[0] >= Duration::from_millis(90),
        "refreshed at ≥30 ms with 60 ms to go, fired at {:?}",
        fired[0]
    );
    assert!(fired[0] < Duration::from_secs(3), "fired at {:?}", fired[0]);
    assert!(!t.refresh(), "refresh of a fired timer returns false");
    assert_closed(&lp);
}

#[test]
fn timer_refresh_of_an_interval_keeps_it_repeating() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let count = Rc::new(Cell::new(0u32));
    let me: Rc<OnceCell<Timer>> = Rc::new(OnceCell::new());
    let start = Instant::now();
    let t = lp
        .set_interval(Duration::from_millis(10), {
            let (count, me) = (count.clone(), me.clone());
            move |_| {
                count.set(count.get() + 1);
                let me = me.get().unwrap();
                if count.get() == 3 {
                    me.clear();
                } else {
                    assert!(me.refresh(), "refresh inside the interval's own callback");
                }
            }
        })
        .unwrap();
    me.set(t).unwrap();
    lp.run().unwrap();
    assert_eq!(count.get(), 3);
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_closed(&lp);
}

#[test]
fn timer_zero_delay_is_one_millisecond() {
    // Node: "When delay is ... less than 1 ..., the delay will be set to 1."
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let started = Instant::now();
    let fired = Rc::new(RefCell::new(Vec::new()));
    let t = lp
        .set_timeout(Duration::ZERO, {
            let fired = fired.clone();
            move |_| fired.borrow_mut().push(started.elapsed())
        })
        .unwrap();
    assert!(t.is_active() && t.has_ref());
    let sub_ms = lp
        .set_timeout(Duration::from_micros(300), {
            let fired = fired.clone();
            move |_| fired.borrow_mut().push(started.elapsed())
        })
        .unwrap();
    assert!(sub_ms.is_active());
    lp.run().unwrap();
    let fired = fired.borrow();
    assert_eq!(fired.len(), 2, "each fires once");
    for after in fired.iter() {
        assert!(*after >= Duration::from_millis(1), "a delay under 1 ms fired after {after:?}");
    }
    assert!(!t.is_active());
    assert_closed(&lp);
}

#[test]
fn timer_duration_max_is_invalid_input_not_a_panic() {
    let lp = Loop::new().unwrap();
    let err = lp.set_timeout(Duration::MAX, |_| unreachable!()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    let err = lp.set_interval(Duration::MAX, |_| unreachable!()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    let err = lp.set_timeout(Duration::from_secs(u64::MAX / 1_000_000_000), |_| unreachable!()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    // Large but representable: a century.
    let century = lp.set_timeout(Duration::from_secs(100 * 365 * 86_400), |_| unreachable!()).unwrap();
    assert_eq!(lp.active_handles(), 1);
    century.clear();
    lp.run().unwrap();
    assert_closed(&lp);
}

#[test]
fn timer_set_interval_zero_repeats_every_millisecond() {
    // Node's setInterval(f, 0) runs every 1 ms, never once per tick.
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let started = Instant::now();
    let runs = Rc::new(RefCell::new(Vec::new()));
    let me: Rc<OnceCell<Timer>> = Rc::default();
    let t = lp
        .set_interval(Duration::ZERO, {
            let (runs, me) = (runs.clone(), me.clone());
            move |_| {
                runs.borrow_mut().push(started.elapsed());
                if runs.borrow().len() == 5 {
                    me.get().unwrap().clear();
                }
            }
        })
        .unwrap();
    me.set(t).unwrap();
    lp.run().unwrap();
    let runs = runs.borrow();
    assert_eq!(runs.len(), 5);
    for (n, after) in runs.iter().enumerate() {
        let floor = Duration::from_millis(n as u64 + 1);
        assert!(*after >= floor, "run {} came after {after:?}, before {floor:?}", n + 1);
    }
    assert_closed(&lp);
}

#[test]
fn timer_started_after_run_returned_runs_in_the_next_run() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let count = Rc::new(Cell::new(0));
    for round in 1..=3 {
        let c = count.clone();
        lp.set_timeout(Duration::from_millis(2), move |_| c.set(c.get() + 1)).unwrap();
        lp.run().unwrap();
        assert_eq!(count.get(), round);
        assert_closed(&lp);
    }
}

#[test]
fn timer_spin_before_timers_never_fires_early_and_keeps_order() {
    // The opt-in spin margin sleeps in the kernel until just before the
    // deadline, then polls without blocking: still never early.
    let lp = Loop::builder().spin_before_timers(Duration::from_micros(300)).build().unwrap();
    let _guard = guard(&lp);
    let fired = Rc::new(RefCell::new(Vec::new()));
    for i in 0..40u64 {
        let delay = Duration::from_micros(200 + (i * 7_919) % 8_000);
        let fired = fired.clone();
        let start = Instant::now();
        lp.set_timeout(delay, move |_| fired.borrow_mut().push((i, delay, start.elapsed()))).unwrap();
    }
    lp.run().unwrap();
    let fired = fired.borrow();
    assert_eq!(fired.len(), 40);
    for &(i, delay, after) in fired.iter() {
        assert!(after >= delay, "timer {i} ({delay:?}) fired after {after:?}");
        assert!(after < delay + Duration::from_secs(1), "timer {i} ({delay:?}) fired after {after:?}");
    }
    assert!(fired.windows(2).all(|w| w[0].1 <= w[1].1), "fired out of deadline order");
    assert_closed(&lp);
}
