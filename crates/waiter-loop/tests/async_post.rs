//! Cross-thread posts through `Handle::post` (libuv's `uv_async_send`):
//! none lost, per-thread order kept, wake-ups coalesced, and a dropped loop
//! refuses posts with `BrokenPipe`.

use std::cell::RefCell;
use std::io;
use std::sync::{Arc, Barrier};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use waiter_loop::{Loop, Timer};

mod common;
use common::assert_closed;

const THREADS: usize = 8;
const PER_THREAD: u64 = 100_000;
const TOTAL: u64 = THREADS as u64 * PER_THREAD;

/// What the posts saw, kept on the loop thread (posts are `Send`; this is not).
#[derive(Default)]
struct Tally {
    count: u64,
    next: [u64; THREADS],
    out_of_order: Vec<(usize, u64, u64)>,
    wrong_thread: u64,
    loop_thread: Option<ThreadId>,
    /// Holds the loop until the last post arrives; fails the test if it never does.
    keep_alive: Option<Timer>,
}

thread_local! {
    static TALLY: RefCell<Tally> = RefCell::default();
}

fn arrive(sender: usize, seq: u64) {
    TALLY.with(|t| {
        let mut t = t.borrow_mut();
        t.count += 1;
        if t.next[sender] != seq {
            let want = t.next[sender];
            t.out_of_order.push((sender, want, seq));
        }
        t.next[sender] = seq + 1;
        if Some(thread::current().id()) != t.loop_thread {
            t.wrong_thread += 1;
        }
        if t.count == TOTAL {
            t.keep_alive.take().expect("the keep-alive timer").clear();
        }
    });
}

#[test]
fn async_post_800k_posts_from_8_threads_none_lost_order_kept_wakeups_coalesced() {
    let lp = Loop::new().unwrap();
    let keep_alive = lp
        .set_timeout(Duration::from_secs(120), |_| {
            let count = TALLY.with(|t| t.borrow().count);
            panic!("posts lost: {count} of {TOTAL} arrived in 120 s");
        })
        .unwrap();
    TALLY.with(|t| {
        let mut t = t.borrow_mut();
        t.loop_thread = Some(thread::current().id());
        t.keep_alive = Some(keep_alive);
    });
    let start = Arc::new(Barrier::new(THREADS));
    let senders: Vec<_> = (0..THREADS)
        .map(|sender| {
            let (handle, start) = (lp.handle(), start.clone());
            thread::spawn(move || {
                start.wait();
                for seq in 0..PER_THREAD {
                    handle.post(move |_| arrive(sender, seq)).unwrap();
                }
            })
        })
        .collect();
    let started = Instant::now();
    lp.run().unwrap();
    let took = started.elapsed();
    for s in senders {
        s.join().unwrap();
    }

    TALLY.with(|t| {
        let t = t.borrow();
        assert_eq!(t.count, TOTAL, "every post ran exactly once");
        assert!(
            t.out_of_order.is_empty(),
            "(sender, expected, got): {:?}",
            &t.out_of_order[..10.min(t.out_of_order.len())]
        );
        assert_eq!(t.next, [PER_THREAD; THREADS]);
        assert_eq!(t.wrong_thread, 0, "posts ran off the loop thread");
    });
    let m = lp.metrics();
    // Each wake-up carries every post queued since the last drain.
    assert!(
        m.iterations < TOTAL / 10,
        "{} ticks for {TOTAL} posts in {took:?}: wake-ups did not coalesce",
        m.iterations
    );
    assert!(m.events < TOTAL / 10, "{} eventfd events for {TOTAL} posts", m.events);
    eprintln!("{TOTAL} posts in {took:?}: {} ticks, {} events", m.iterations, m.events);
    assert_closed(&lp);
}

#[test]
fn async_post_to_a_dropped_loop_is_broken_pipe() {
    let lp = Loop::new().unwrap();
    let handle = lp.handle();
    let clone = lp.clone();
    drop(lp);
    // A clone still holds the loop: posts are accepted.
    handle.post(|_| {}).unwrap();
    drop(clone);
    let err = handle.post(|_| unreachable!("ran on a dropped loop")).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
    let err = thread::spawn(move || handle.post(|_| {}).unwrap_err()).join().unwrap();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
}

#[test]
fn async_post_wakes_a_loop_blocked_in_poll() {
    let lp = Loop::new().unwrap();
    let long = lp.set_timeout(Duration::from_secs(30), |_| panic!("the post never woke the loop")).unwrap();
    thread_local!(static LONG: RefCell<Option<Timer>> = const { RefCell::new(None) });
    LONG.with(|l| *l.borrow_mut() = Some(long));
    let handle = lp.handle();
    // Taken before the poster exists, so its 50 ms sleep cannot start earlier.
    let started = Instant::now();
    let poster = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        let posted = Instant::now();
        handle
            .post(move |_| {
                let latency = posted.elapsed();
                assert!(latency < Duration::from_secs(2), "the post ran {latency:?} after it was made");
                LONG.with(|l| l.borrow_mut().take().unwrap().clear());
            })
            .unwrap();
    });
    lp.run().unwrap();
    let took = started.elapsed();
    poster.join().unwrap();
    assert!(took >= Duration::from_millis(50) && took < Duration::from_secs(5), "run took {took:?}");
    assert_closed(&lp);
}

thread_local! {
    /// (post number, tick it ran in), for the small tests below.
    static RAN: RefCell<Vec<(u64, u64)>> = const { RefCell::new(Vec::new()) };
}

fn ran(n: u64, lp: &Loop) {
    RAN.with(|r| r.borrow_mut().push((n, lp.metrics().iterations)));
}

#[test]
fn async_post_made_before_run_runs_in_the_first_tick() {
    let lp = Loop::new().unwrap();
    let handle = lp.handle();
    thread::spawn(move || {
        for n in 0..3u64 {
            handle.post(move |lp| ran(n, lp)).unwrap();
        }
    })
    .join()
    .unwrap();
    assert!(lp.is_alive(), "queued posts are work to do");
    assert_eq!(lp.active_handles(), 0, "but not a handle");
    lp.run().unwrap();
    RAN.with(|r| assert_eq!(*r.borrow(), [(0, 0), (1, 0), (2, 0)]));
    assert_eq!(lp.metrics().iterations, 1);
    assert_closed(&lp);
}

#[test]
fn async_post_from_the_loop_thread_itself() {
    // A post from a callback runs in a later poll phase, not re-entrantly.
    let lp = Loop::new().unwrap();
    let handle = lp.handle();
    lp.set_immediate(move |lp| {
        ran(0, lp);
        handle.post(|lp| ran(2, lp)).unwrap();
        ran(1, lp);
    });
    lp.run().unwrap();
    RAN.with(|r| assert_eq!(*r.borrow(), [(0, 0), (1, 0), (2, 1)]));
    assert_closed(&lp);
}
