//! What keeps `run` going: referenced handles and queued work. Unref'd
//! handles do not; `run_nowait` / `run_once` report liveness; `stop` returns
//! early and a later `run` picks up where it left off.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use waiter_loop::{Backend, Loop, Timer};

mod common;
use common::{assert_closed, guard};

#[test]
fn loop_alive_backend_follows_waiter_backend() {
    // CI runs the suite twice; this is what makes the second run mean something.
    let want = match std::env::var("WAITER_BACKEND").as_deref() {
        Ok("poll") => Backend::Poll,
        Ok("epoll") | Err(_) => Backend::Epoll,
        Ok(other) => panic!("WAITER_BACKEND={other:?} names no backend"),
    };
    let lp = Loop::new().unwrap();
    assert_eq!(lp.backend(), want);
    assert_eq!(Loop::builder().backend(Backend::Poll).build().unwrap().backend(), Backend::Poll);
    assert_eq!(Loop::builder().backend(Backend::Epoll).build().unwrap().backend(), Backend::Epoll);
}

#[test]
fn loop_alive_empty_loop_returns_at_once() {
    let lp = Loop::new().unwrap();
    assert_closed(&lp);
    let started = Instant::now();
    lp.run().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "an empty run took {:?}", started.elapsed());
    assert_eq!(lp.metrics().iterations, 0, "an empty loop runs no tick");
    assert!(!lp.run_nowait().unwrap());
    assert!(!lp.run_once().unwrap());
    assert_closed(&lp);
}

#[test]
fn loop_alive_unrefd_timer_does_not_hold_the_loop() {
    let lp = Loop::new().unwrap();
    let t = lp.set_timeout(Duration::from_secs(30), |_| panic!("an unref'd timer held the loop")).unwrap();
    assert!(t.has_ref());
    assert_eq!(lp.active_handles(), 1);
    t.unref();
    assert!(!t.has_ref());
    assert!(t.is_active(), "unref does not stop the timer");
    assert_eq!(lp.active_handles(), 0);
    let started = Instant::now();
    lp.run().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "run waited {:?}", started.elapsed());
    assert!(t.is_active());
    t.clear();
    assert_closed(&lp);
}

#[test]
fn loop_alive_unrefd_timer_still_fires_while_others_hold_the_loop() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let fired = Rc::new(Cell::new(0));
    let t = lp
        .set_timeout(Duration::from_millis(5), {
            let fired = fired.clone();
            move |_| fired.set(fired.get() + 1)
        })
        .unwrap();
    t.unref();
    t.unref();
    assert_eq!(lp.active_handles(), 0, "unref twice counts once");
    lp.set_timeout(Duration::from_millis(30), |_| {}).unwrap();
    lp.run().unwrap();
    assert_eq!(fired.get(), 1);
    assert_closed(&lp);
}

#[test]
fn loop_alive_ref_again_holds_the_loop() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let fired = Rc::new(Cell::new(0));
    let start = Instant::now();
    let t = lp
        .set_timeout(Duration::from_millis(30), {
            let fired = fired.clone();
            move |_| fired.set(fired.get() + 1)
        })
        .unwrap();
    t.unref().ref_();
    t.ref_();
    assert!(t.has_ref());
    assert_eq!(lp.active_handles(), 1, "ref twice counts once");
    lp.run().unwrap();
    assert_eq!(fired.get(), 1);
    assert!(start.elapsed() >= Duration::from_millis(30));
    // Ref'ing a fired or cleared timer changes nothing.
    t.ref_();
    t.clear();
    assert_closed(&lp);
}

#[test]
fn loop_alive_run_nowait_never_blocks() {
    let lp = Loop::new().unwrap();
    let t = lp.set_timeout(Duration::from_secs(30), |_| panic!("fired")).unwrap();
    let started = Instant::now();
    assert!(lp.run_nowait().unwrap(), "a pending timer keeps the loop alive");
    assert!(lp.run_nowait().unwrap());
    assert!(started.elapsed() < Duration::from_secs(5), "run_nowait blocked for {:?}", started.elapsed());
    assert_eq!(lp.metrics().iterations, 2);
    t.clear();
    assert!(!lp.run_nowait().unwrap(), "nothing left");
    assert_closed(&lp);
}

#[test]
fn loop_alive_run_nowait_runs_what_is_due() {
    let lp = Loop::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    for what in ["timer", "immediate"] {
        let log = log.clone();
        if what == "timer" {
            lp.set_timeout(Duration::ZERO, move |_| log.borrow_mut().push(what)).unwrap();
        } else {
            lp.set_immediate(move |_| log.borrow_mut().push(what));
        }
    }
    // A zero delay is 1 ms (Node's floor): make the timer due at the first timers phase.
    std::thread::sleep(Duration::from_millis(2));
    assert!(!lp.run_nowait().unwrap(), "all done in one tick");
    assert_eq!(*log.borrow(), ["timer", "immediate"]);
    assert_closed(&lp);
}

#[test]
fn loop_alive_run_once_blocks_for_the_next_timer_only() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let fired = Rc::new(RefCell::new(Vec::new()));
    for ms in [20u64, 3_000] {
        let fired = fired.clone();
        lp.set_timeout(Duration::from_millis(ms), move |_| fired.borrow_mut().push(ms)).unwrap();
    }
    let started = Instant::now();
    assert!(lp.run_once().unwrap(), "the 3 s timer is still pending");
    let took = started.elapsed();
    assert_eq!(*fired.borrow(), [20]);
    assert!(took >= Duration::from_millis(20) && took < Duration::from_secs(2), "run_once took {took:?}");
    assert_eq!(lp.active_handles(), 1);
    assert_eq!(lp.metrics().iterations, 1);
    // Bring the long one forward and finish with run_once.
    let next = lp
        .set_timeout(Duration::from_millis(5), {
            let fired = fired.clone();
            move |_| fired.borrow_mut().push(5)
        })
        .unwrap();
    assert!(lp.run_once().unwrap());
    assert!(!next.is_active());
    assert_eq!(*fired.borrow(), [20, 5]);
    assert_eq!(lp.active_handles(), 1);
}

#[test]
fn loop_alive_run_once_returns_false_when_done() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let fired = Rc::new(Cell::new(0));
    let f = fired.clone();
    lp.set_timeout(Duration::from_millis(10), move |_| f.set(f.get() + 1)).unwrap();
    assert!(!lp.run_once().unwrap(), "the only timer fired: nothing is left");
    assert_eq!(fired.get(), 1);
    assert_closed(&lp);
}

#[test]
fn loop_alive_stop_from_a_callback_returns_with_work_left() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let count = Rc::new(Cell::new(0u32));
    let me: Rc<OnceCell<Timer>> = Rc::default();
    let t = lp
        .set_interval(Duration::from_millis(2), {
            let (count, me) = (count.clone(), me.clone());
            move |lp| {
                count.set(count.get() + 1);
                match count.get() {
                    3 => lp.stop(),
                    6 => me.get().unwrap().clear(),
                    _ => {}
                }
            }
        })
        .unwrap();
    me.set(t.clone()).unwrap();
    lp.run().unwrap();
    assert_eq!(count.get(), 3, "run returned at the end of the tick that called stop");
    assert!(lp.is_alive(), "the interval still holds the loop");
    assert_eq!(lp.active_handles(), 1);
    assert!(t.is_active());
    lp.run().unwrap();
    assert_eq!(count.get(), 6, "a later run continues");
    assert_closed(&lp);
}

#[test]
fn loop_alive_stop_finishes_the_current_tick() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let log = Rc::new(RefCell::new(Vec::new()));
    lp.set_timeout(Duration::ZERO, {
        let log = log.clone();
        move |lp| {
            log.borrow_mut().push("timer: stop");
            lp.stop();
        }
    })
    .unwrap();
    lp.set_immediate({
        let log = log.clone();
        move |_| log.borrow_mut().push("immediate, same tick")
    });
    lp.set_timeout(Duration::from_millis(50), {
        let log = log.clone();
        move |_| log.borrow_mut().push("later timer")
    })
    .unwrap();
    // A zero delay is 1 ms (Node's floor): make the timer due at the first timers phase.
    std::thread::sleep(Duration::from_millis(2));
    lp.run().unwrap();
    assert_eq!(*log.borrow(), ["timer: stop", "immediate, same tick"], "stop did not stop");
    assert_eq!(lp.metrics().iterations, 1);
    lp.run().unwrap();
    assert_eq!(*log.borrow(), ["timer: stop", "immediate, same tick", "later timer"]);
    assert_closed(&lp);
}

#[test]
fn loop_alive_stop_before_run_is_forgotten() {
    // Like uv_stop, a stop belongs to the run it interrupts: run resets it.
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let fired = Rc::new(Cell::new(0));
    lp.stop();
    lp.run().unwrap(); // nothing alive: returns at once and clears the flag
    let f = fired.clone();
    lp.set_timeout(Duration::from_millis(5), move |_| f.set(f.get() + 1)).unwrap();
    lp.run().unwrap();
    assert_eq!(fired.get(), 1);
    assert_closed(&lp);
}

#[test]
fn loop_alive_queued_callbacks_keep_the_loop_alive() {
    let lp = Loop::new().unwrap();
    let count = Rc::new(Cell::new(0));
    let bump = |count: &Rc<Cell<u32>>| {
        let count = count.clone();
        move |_: &Loop| count.set(count.get() + 1)
    };
    lp.set_immediate(bump(&count));
    assert!(lp.is_alive(), "an immediate");
    lp.run().unwrap();
    lp.defer(bump(&count));
    assert!(lp.is_alive(), "a deferred callback");
    lp.run().unwrap();
    lp.on_close(bump(&count));
    assert!(lp.is_alive(), "a close callback");
    lp.run().unwrap();
    lp.next_tick(bump(&count));
    assert!(lp.is_alive(), "a next-tick");
    lp.run().unwrap();
    lp.queue_microtask(bump(&count));
    assert!(lp.is_alive(), "a microtask");
    lp.run().unwrap();
    assert_eq!(count.get(), 5);
    assert_eq!(lp.active_handles(), 0, "none of these is a handle");
    assert_closed(&lp);
}

#[test]
fn loop_alive_run_from_inside_a_callback_is_an_error() {
    let lp = Loop::new().unwrap();
    let err = Rc::new(RefCell::new(None));
    lp.set_immediate({
        let err = err.clone();
        move |lp| *err.borrow_mut() = Some(lp.run().unwrap_err())
    });
    lp.run().unwrap();
    let err = err.borrow_mut().take().expect("the immediate ran");
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
    assert_closed(&lp);
}
