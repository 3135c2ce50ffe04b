//! One tick, in libuv's order: timers → pending → poll (thread-pool
//! completions, posts, descriptor watches) → check → closing, with the
//! next-tick and microtask queues drained after every callback.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use waiter_loop::{Interest, Loop};

mod common;
use common::{assert_closed, guard};

thread_local! {
    /// What ran, with the tick it ran in. Thread-local so that posts from
    /// other threads (which must be `Send`) can write to it on the loop thread.
    static LOG: RefCell<Vec<(String, u64)>> = const { RefCell::new(Vec::new()) };
}

fn note(lp: &Loop, what: &str) {
    LOG.with(|l| l.borrow_mut().push((what.to_string(), lp.metrics().iterations)));
}

fn taken() -> Vec<(String, u64)> {
    LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// A callback that notes `what`, then queues a next-tick and a microtask
/// that must run before anything else of the tick.
fn noting(what: &'static str) -> impl FnOnce(&Loop) + Send + 'static {
    move |lp| {
        note(lp, what);
        lp.queue_microtask(move |lp| note(lp, &format!("{what}: microtask")));
        lp.next_tick(move |lp| note(lp, &format!("{what}: next tick")));
    }
}

fn entries(log: &[(String, u64)]) -> Vec<&str> {
    log.iter().map(|(s, _)| s.as_str()).collect()
}

#[test]
fn phase_order_one_tick_runs_timers_pending_poll_check_closing() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    // Queued in reverse phase order, so queueing order cannot explain the result.
    lp.on_close(noting("closing"));
    lp.set_immediate(noting("check"));
    let (a, mut b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.write_all(b"ping").unwrap();
    let mut reader = a.try_clone().unwrap();
    let watch = lp
        .watch(a.as_raw_fd(), Interest::READABLE, move |lp, ready| {
            assert!(ready.is_readable(), "{ready:?}");
            let mut buf = [0u8; 16];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
            noting("poll: watch")(lp);
        })
        .unwrap();
    // Readability alone must not keep this loop going after the first tick.
    watch.unref();
    let handle = lp.handle();
    std::thread::spawn(move || handle.post(noting("poll: post")).unwrap()).join().unwrap();
    lp.defer(noting("pending"));
    lp.set_timeout(Duration::ZERO, noting("timers")).unwrap();
    lp.next_tick(|lp| note(lp, "main script: next tick"));
    // A zero delay is 1 ms (Node's floor): make the timer due at the first timers phase.
    std::thread::sleep(Duration::from_millis(2));

    lp.run().unwrap();
    let log = taken();
    assert!(log.iter().all(|(_, tick)| *tick == 0), "all in the first tick: {log:?}");
    let mut got = entries(&log);
    // The two poll-phase sources come back in the kernel's order: compare them as a set.
    let poll = got.iter().position(|s| s.starts_with("poll")).expect("poll-phase callbacks ran");
    if got[poll] == "poll: watch" {
        got[poll..poll + 6].rotate_left(3);
    }
    assert_eq!(
        got,
        [
            "main script: next tick",
            "timers",
            "timers: next tick",
            "timers: microtask",
            "pending",
            "pending: next tick",
            "pending: microtask",
            "poll: post",
            "poll: post: next tick",
            "poll: post: microtask",
            "poll: watch",
            "poll: watch: next tick",
            "poll: watch: microtask",
            "check",
            "check: next tick",
            "check: microtask",
            "closing",
            "closing: next tick",
            "closing: microtask",
        ]
    );
    assert_eq!(lp.metrics().iterations, 1);
    drop(watch);
    assert_closed(&lp);
}

#[test]
fn phase_order_work_done_runs_in_the_poll_phase() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    lp.queue_work(
        || 6 * 7,
        |lp, result| {
            assert_eq!(result, Ok(42));
            note(lp, "work done");
            // From the poll phase: check and closing come later in this tick,
            // timers and pending only in the next one.
            lp.set_timeout(Duration::ZERO, noting("timers")).unwrap();
            lp.defer(noting("pending"));
            lp.set_immediate(noting("check"));
            lp.on_close(noting("closing"));
            // The zero delay is 1 ms: due by the next timers phase once this has taken 2.
            std::thread::sleep(Duration::from_millis(2));
        },
    )
    .unwrap();
    lp.run().unwrap();
    let log = taken();
    let done = log[0].1;
    let want: Vec<(String, u64)> = [
        ("work done", done),
        ("check", done),
        ("check: next tick", done),
        ("check: microtask", done),
        ("closing", done),
        ("closing: next tick", done),
        ("closing: microtask", done),
        ("timers", done + 1),
        ("timers: next tick", done + 1),
        ("timers: microtask", done + 1),
        ("pending", done + 1),
        ("pending: next tick", done + 1),
        ("pending: microtask", done + 1),
    ]
    .into_iter()
    .map(|(s, t)| (s.to_string(), t))
    .collect();
    assert_eq!(log, want);
    assert_eq!(lp.pending_work(), 0);
    assert_closed(&lp);
}

#[test]
fn phase_order_callbacks_a_phase_queues_for_itself_wait_a_tick() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    lp.set_timeout(Duration::ZERO, |lp| {
        note(lp, "timer");
        lp.set_timeout(Duration::ZERO, |lp| note(lp, "timer from timer")).unwrap();
        // Due (1 ms) by the next timers phase, yet not run in this one.
        std::thread::sleep(Duration::from_millis(2));
    })
    .unwrap();
    lp.defer(|lp| {
        note(lp, "pending");
        lp.defer(|lp| note(lp, "pending from pending"));
    });
    lp.set_immediate(|lp| {
        note(lp, "check");
        lp.set_immediate(|lp| note(lp, "check from check"));
    });
    lp.on_close(|lp| {
        note(lp, "closing");
        lp.on_close(|lp| note(lp, "closing from closing"));
    });
    // The first timer (1 ms, as in Node) is due at the first timers phase.
    std::thread::sleep(Duration::from_millis(2));
    lp.run().unwrap();
    let log = taken();
    let tick_of =
        |what: &str| log.iter().find(|(s, _)| s == what).unwrap_or_else(|| panic!("{what} never ran")).1;
    for phase in ["timer", "pending", "check", "closing"] {
        let again = match phase {
            "timer" => "timer from timer",
            "pending" => "pending from pending",
            "check" => "check from check",
            _ => "closing from closing",
        };
        assert_eq!(tick_of(phase), 0, "{log:?}");
        assert_eq!(tick_of(again), 1, "{again} waits exactly one tick: {log:?}");
    }
    assert_eq!(log.len(), 8);
    assert_eq!(
        entries(&log),
        [
            "timer",
            "pending",
            "check",
            "closing",
            "timer from timer",
            "pending from pending",
            "check from check",
            "closing from closing"
        ]
    );
    assert_closed(&lp);
}

#[test]
fn phase_order_watch_close_callback_runs_after_immediates() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let (a, _b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let watch = lp.watch(a.as_raw_fd(), Interest::READABLE, |_, _| panic!("nothing to read")).unwrap();
    lp.set_timeout(Duration::from_millis(5), move |lp| {
        note(lp, "timer: close the watch");
        lp.set_immediate(|lp| note(lp, "immediate"));
        watch.close(|lp| note(lp, "close callback"));
    })
    .unwrap();
    lp.run().unwrap();
    let log = taken();
    assert_eq!(entries(&log), ["timer: close the watch", "immediate", "close callback"]);
    assert!(log.iter().all(|(_, t)| *t == log[0].1), "one tick: {log:?}");
    assert_closed(&lp);
}
