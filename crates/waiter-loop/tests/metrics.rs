//! Metrics: ticks and events counted, idle time in poll, the event-loop
//! delay histogram, and the watchdog that names a callback holding the loop.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use waiter_loop::{Interest, Loop, Phase, Signal, Watch};

mod common;
use common::{assert_closed, guard, spin};

#[test]
fn metrics_count_iterations_and_events() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let m = lp.metrics();
    assert_eq!((m.iterations, m.events, m.events_last_tick, m.active_handles), (0, 0, 0, 0));
    assert_eq!(m.loop_delay, None);

    // Five immediates, each queueing the next: five ticks, no I/O.
    fn chain(lp: &Loop, left: u32) {
        if left > 1 {
            lp.set_immediate(move |lp| chain(lp, left - 1));
        }
    }
    lp.set_immediate(|lp| chain(lp, 5));
    lp.run().unwrap();
    let m = lp.metrics();
    assert_eq!((m.iterations, m.events), (5, 0));

    // One post: one eventfd event in one tick.
    let handle = lp.handle();
    std::thread::spawn(move || handle.post(|_| {}).unwrap()).join().unwrap();
    lp.run().unwrap();
    let m = lp.metrics();
    assert_eq!((m.iterations, m.events, m.events_last_tick), (6, 1, 1));

    // Two readable sockets: two events in one tick.
    let (a1, b1) = UnixStream::pair().unwrap();
    let (a2, b2) = UnixStream::pair().unwrap();
    let watches: Rc<RefCell<Vec<Watch>>> = Rc::default();
    for s in [&a1, &a2] {
        let ws = watches.clone();
        let w = lp.watch(s.as_raw_fd(), Interest::READABLE, move |_, _| ws.borrow_mut().clear()).unwrap();
        watches.borrow_mut().push(w);
    }
    assert_eq!(lp.metrics().active_handles, 2);
    (&b1).write_all(b"1").unwrap();
    (&b2).write_all(b"2").unwrap();
    lp.run().unwrap();
    let m = lp.metrics();
    assert_eq!((m.iterations, m.events_last_tick), (7, 2), "{m:?}");
    assert_eq!(m.events, 3, "a dropped event (the first callback stops both) still counts");
    assert_closed(&lp);
}

#[test]
fn metrics_idle_time_grows_while_waiting_and_not_while_busy() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let before = lp.metrics().idle_time;
    let started = Instant::now();
    lp.set_timeout(Duration::from_millis(50), |_| {}).unwrap();
    lp.run().unwrap();
    let took = started.elapsed();
    let idle = lp.metrics().idle_time - before;
    assert!(idle >= Duration::from_millis(25), "waited 50 ms for a timer, idle {idle:?}");
    assert!(idle <= took, "idle {idle:?} > the whole run {took:?}");

    let before = lp.metrics().idle_time;
    lp.set_immediate(|_| spin(Duration::from_millis(50)));
    lp.run().unwrap();
    let idle = lp.metrics().idle_time - before;
    assert!(idle < Duration::from_millis(25), "busy for 50 ms, yet idle {idle:?}");
    assert_closed(&lp);
}

#[test]
fn metrics_event_loop_delay_p99_reflects_a_blocking_callback() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    assert_eq!(lp.metrics().loop_delay, None, "off until asked for");
    let monitor = lp.monitor_event_loop_delay(Duration::from_millis(10)).unwrap();
    assert!(!monitor.has_ref(), "the monitor does not hold the loop");
    assert_eq!(lp.active_handles(), 0);
    lp.set_timeout(Duration::from_millis(100), |_| spin(Duration::from_millis(30))).unwrap();
    lp.set_timeout(Duration::from_millis(300), |_| {}).unwrap();
    lp.run().unwrap();
    monitor.clear();
    let d = lp.metrics().loop_delay.expect("monitoring is on");
    assert!(d.samples >= 10, "a 10 ms monitor over 300 ms took {} samples", d.samples);
    // The sample that waited out the 30 ms block was due at most 10 ms into it.
    assert!(d.max >= Duration::from_millis(19), "{d:?}");
    assert!(d.p99 >= Duration::from_millis(18), "{d:?}");
    assert!(d.p50 < d.p99, "{d:?}");
    assert!(d.min <= d.p50 && d.p99 <= d.max, "{d:?}");
    assert_closed(&lp);
}

#[test]
fn metrics_watchdog_names_a_slow_callback() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let reports = Rc::new(RefCell::new(Vec::new()));
    lp.set_watchdog(Some(Duration::from_millis(10)), {
        let reports = reports.clone();
        move |slow| reports.borrow_mut().push((slow.label.to_string(), slow.phase, slow.held))
    });
    let fast = Rc::new(Cell::new(0));
    lp.set_timeout(Duration::from_millis(1), |_| spin(Duration::from_millis(20))).unwrap();
    for _ in 0..10 {
        let fast = fast.clone();
        lp.set_immediate(move |lp| {
            fast.set(fast.get() + 1);
            lp.next_tick(|_| {});
        });
    }
    lp.run().unwrap();
    assert_eq!(fast.get(), 10);
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1, "only the slow callback is reported: {reports:?}");
    let (label, phase, held) = &reports[0];
    assert!(
        label.contains("metrics_watchdog_names_a_slow_callback"),
        "the label names the function: {label}"
    );
    assert_eq!(*phase, Phase::Timers);
    assert!(*held >= Duration::from_millis(20) && *held < Duration::from_secs(5), "held {held:?}");
    assert_closed(&lp);
}

#[test]
fn metrics_watchdog_sees_next_ticks_and_tasks_in_their_phase() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let reports = Rc::new(RefCell::new(Vec::new()));
    lp.set_watchdog(Some(Duration::from_millis(10)), {
        let reports = reports.clone();
        move |slow| reports.borrow_mut().push((slow.label.to_string(), slow.phase))
    });
    lp.set_immediate(|lp| lp.next_tick(|_| spin(Duration::from_millis(15))));
    lp.on_close(|lp| {
        lp.spawn(async { spin(Duration::from_millis(15)) });
    });
    lp.run().unwrap();
    let reports = reports.borrow();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert_eq!(reports[0].1, Phase::Check);
    assert!(
        reports[0].0.contains("metrics_watchdog_sees_next_ticks_and_tasks_in_their_phase"),
        "{}",
        reports[0].0
    );
    assert_eq!(reports[1].1, Phase::Closing);
    assert!(
        reports[1].0.contains("metrics_watchdog_sees_next_ticks_and_tasks_in_their_phase"),
        "{}",
        reports[1].0
    );
    assert_closed(&lp);
}

#[test]
fn metrics_watchdog_off_reports_nothing() {
    let lp = Loop::new().unwrap();
    let reports = Rc::new(Cell::new(0));
    lp.set_watchdog(Some(Duration::from_millis(5)), {
        let reports = reports.clone();
        move |_| reports.set(reports.get() + 1)
    });
    lp.set_watchdog(None, |_| {});
    lp.set_immediate(|_| spin(Duration::from_millis(15)));
    lp.run().unwrap();
    assert_eq!(reports.get(), 0);
    assert_closed(&lp);
}

#[test]
fn metrics_watchdog_names_every_kind_of_slow_callback() {
    // `SlowCallback::label` is "the callback's type name (which names the
    // function it was written in)", whatever kind of callback held the loop.
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let reports = Rc::new(RefCell::new(Vec::new()));
    lp.set_watchdog(Some(Duration::from_millis(10)), {
        let reports = reports.clone();
        move |slow| reports.borrow_mut().push((slow.label.to_string(), slow.phase))
    });
    let slow = || spin(Duration::from_millis(15));
    lp.queue_work(|| (), move |_, _| slow()).unwrap();
    let handle = lp.handle();
    std::thread::spawn(move || handle.post(move |_| slow()).unwrap()).join().unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    (&b).write_all(b"x").unwrap();
    a.set_nonblocking(true).unwrap();
    let fd = a.as_raw_fd();
    let watch = lp
        .watch(fd, Interest::READABLE, move |_, _| {
            while (&a).read(&mut [0u8; 8]).is_ok_and(|n| n > 0) {}
            slow();
        })
        .unwrap();
    watch.unref();
    let signal: Rc<RefCell<Option<waiter_loop::SignalWatch>>> = Rc::default();
    let s = signal.clone();
    *signal.borrow_mut() = Some(
        lp.on_signal(Signal::USR2, move |_, _| {
            slow();
            s.borrow_mut().take();
        })
        .unwrap(),
    );
    // SAFETY: raise sends SIGUSR2 to this thread, which on_signal has blocked.
    assert_eq!(unsafe { libc::raise(libc::SIGUSR2) }, 0);
    lp.run().unwrap();
    drop(watch);
    let reports = reports.borrow();
    assert_eq!(reports.len(), 4, "{reports:?}");
    assert!(reports.iter().all(|r| r.1 == Phase::Poll), "{reports:?}");
    let unnamed: Vec<&String> = reports
        .iter()
        .map(|r| &r.0)
        .filter(|label| !label.contains("metrics_watchdog_names_every_kind_of_slow_callback"))
        .collect();
    assert!(unnamed.is_empty(), "labels that do not name the function: {unnamed:?}");
    assert_closed(&lp);
}
