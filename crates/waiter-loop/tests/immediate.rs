//! Immediates (Node's `setImmediate`): FIFO in the check phase, cancellable,
//! and one queued from an immediate waits for the next tick.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use waiter_loop::{Immediate, Loop};

mod common;
use common::{assert_closed, guard};

type Log = Rc<RefCell<Vec<(String, u64)>>>;

fn push(log: &Log, lp: &Loop, what: impl Into<String>) {
    log.borrow_mut().push((what.into(), lp.metrics().iterations));
}

#[test]
fn immediate_runs_in_fifo_order_in_one_tick() {
    let lp = Loop::new().unwrap();
    let log: Log = Rc::default();
    for i in 0..100 {
        let log = log.clone();
        lp.set_immediate(move |lp| push(&log, lp, i.to_string()));
    }
    lp.run().unwrap();
    let log = log.borrow();
    let order: Vec<String> = log.iter().map(|e| e.0.clone()).collect();
    assert_eq!(order, (0..100).map(|i: i32| i.to_string()).collect::<Vec<_>>());
    assert!(log.iter().all(|e| e.1 == 0), "all in the first tick");
    assert_eq!(lp.metrics().iterations, 1);
    assert_closed(&lp);
}

#[test]
fn immediate_cleared_before_run_never_runs() {
    let lp = Loop::new().unwrap();
    let count = Rc::new(Cell::new(0));
    let bump = || {
        let count = count.clone();
        move |_: &Loop| count.set(count.get() + 1)
    };
    let a = lp.set_immediate(bump());
    let b = lp.set_immediate(|_| panic!("a cleared immediate ran"));
    let c = lp.set_immediate(bump());
    b.clear();
    b.clear();
    lp.run().unwrap();
    assert_eq!(count.get(), 2);
    // Clearing after the fact is harmless.
    a.clear();
    c.clear();
    assert_closed(&lp);
}

#[test]
fn immediate_cleared_by_an_earlier_immediate_of_the_same_pass_never_runs() {
    let lp = Loop::new().unwrap();
    let log: Log = Rc::default();
    let victim: Rc<RefCell<Option<Immediate>>> = Rc::default();
    lp.set_immediate({
        let (log, victim) = (log.clone(), victim.clone());
        move |lp| {
            push(&log, lp, "first");
            victim.borrow().as_ref().unwrap().clear();
        }
    });
    *victim.borrow_mut() = Some(lp.set_immediate(|_| panic!("a cleared immediate ran")));
    lp.set_immediate({
        let log = log.clone();
        move |lp| push(&log, lp, "third")
    });
    lp.run().unwrap();
    assert_eq!(*log.borrow(), [("first".to_string(), 0), ("third".to_string(), 0)]);
    assert_closed(&lp);
}

#[test]
fn immediate_clearing_itself_or_a_stale_handle_is_harmless() {
    let lp = Loop::new().unwrap();
    let log: Log = Rc::default();
    let me: Rc<RefCell<Option<Immediate>>> = Rc::default();
    let first = lp.set_immediate({
        let (log, me) = (log.clone(), me.clone());
        move |lp| {
            push(&log, lp, "self-clearing");
            me.borrow().as_ref().unwrap().clear();
            // Queued after this pass began: waits a tick, and must not be
            // mistaken for the one just cleared.
            let log = log.clone();
            lp.set_immediate(move |lp| push(&log, lp, "queued by it"));
        }
    });
    *me.borrow_mut() = Some(first.clone());
    lp.run().unwrap();
    first.clear();
    let later = lp.set_immediate({
        let log = log.clone();
        move |lp| push(&log, lp, "later")
    });
    // A handle from a finished run clears nothing new.
    first.clear();
    lp.run().unwrap();
    later.clear();
    assert_eq!(
        *log.borrow(),
        [("self-clearing".to_string(), 0), ("queued by it".to_string(), 1), ("later".to_string(), 2)]
    );
    assert_closed(&lp);
}

#[test]
fn immediate_queued_from_an_immediate_waits_a_tick() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let log: Log = Rc::default();
    fn chain(lp: &Loop, log: Log, n: u32) {
        push(&log, lp, format!("immediate {n}"));
        if n < 5 {
            lp.set_immediate(move |lp| chain(lp, log, n + 1));
        }
    }
    lp.set_immediate({
        let log = log.clone();
        move |lp| chain(lp, log, 1)
    });
    lp.set_immediate({
        let log = log.clone();
        move |lp| push(&log, lp, "sibling")
    });
    lp.run().unwrap();
    let want: Vec<(String, u64)> = [
        ("immediate 1", 0),
        ("sibling", 0),
        ("immediate 2", 1),
        ("immediate 3", 2),
        ("immediate 4", 3),
        ("immediate 5", 4),
    ]
    .into_iter()
    .map(|(s, t)| (s.to_string(), t))
    .collect();
    assert_eq!(*log.borrow(), want);
    assert_eq!(lp.metrics().iterations, 5);
    assert_closed(&lp);
}

#[test]
fn immediate_pending_keeps_poll_from_blocking() {
    // An immediate queued by a timer runs in the same tick: poll must not
    // wait for the next (far) timer first.
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let log: Log = Rc::default();
    lp.set_timeout(Duration::ZERO, {
        let log = log.clone();
        move |lp| {
            let log = log.clone();
            lp.set_immediate(move |lp| push(&log, lp, "immediate"));
        }
    })
    .unwrap();
    let far = lp.set_timeout(Duration::from_secs(5), |_| {}).unwrap();
    // A zero delay is 1 ms (Node's floor): make the timer due at the first timers phase.
    std::thread::sleep(Duration::from_millis(2));
    let started = std::time::Instant::now();
    while log.borrow().is_empty() {
        assert!(lp.run_once().unwrap());
    }
    assert!(started.elapsed() < Duration::from_secs(2), "poll blocked for {:?}", started.elapsed());
    assert_eq!(*log.borrow(), [("immediate".to_string(), 0)]);
    far.clear();
    lp.run().unwrap();
    assert_closed(&lp);
}

#[test]
fn immediate_from_an_io_callback_runs_before_a_zero_timer() {
    // Node: inside an I/O callback, setImmediate always beats setTimeout(0).
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let log: Log = Rc::default();
    lp.queue_work(|| (), {
        let log = log.clone();
        move |lp, _| {
            let l = log.clone();
            lp.set_timeout(Duration::ZERO, move |lp| push(&l, lp, "timeout")).unwrap();
            let l = log.clone();
            lp.set_immediate(move |lp| push(&l, lp, "immediate"));
            // The zero delay is 1 ms (Node's floor): due by the next timers phase.
            std::thread::sleep(Duration::from_millis(2));
        }
    })
    .unwrap();
    lp.run().unwrap();
    let log = log.borrow();
    assert_eq!(log.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["immediate", "timeout"]);
    assert_eq!(log[1].1, log[0].1 + 1);
    assert_closed(&lp);
}
