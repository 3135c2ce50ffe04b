//! Several loops: two on one thread never see each other's tasks or
//! `current`; four on four threads run timers and posts independently.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::mpsc;
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use waiter_loop::{Handle, Loop, Timer};

mod common;
use common::assert_closed;

fn guard(lp: &Loop) -> Timer {
    common::guard_for(lp, Duration::from_secs(20))
}

/// Whether `a` and `b` are the same loop: a handle started on one shows on the other.
fn same(a: &Loop, b: &Loop) -> bool {
    let before = b.active_handles();
    let t = a.set_timeout(Duration::from_secs(3600), |_| {}).unwrap();
    let same = b.active_handles() == before + 1;
    t.clear();
    same
}

#[test]
fn multi_loop_two_loops_on_one_thread_keep_their_own_current() {
    let (one, two) = (Loop::new().unwrap(), Loop::new().unwrap());
    assert!(same(&one, &one) && !same(&one, &two));
    let seen = one.block_on(async {
        let outer = Loop::current().unwrap();
        // Nested: the other loop runs to completion inside this one's future.
        let inner = two.block_on(async { same(&Loop::current().unwrap(), &two) });
        let restored = same(&Loop::current().unwrap(), &one);
        (same(&outer, &one), inner, restored)
    });
    assert_eq!(seen, (true, true, true));
    assert!(Loop::current().is_none());
    assert_closed(&one);
    assert_closed(&two);
}

#[test]
fn multi_loop_tasks_run_only_on_their_own_loop() {
    let (one, two) = (Loop::new().unwrap(), Loop::new().unwrap());
    let _guards = (guard(&one), guard(&two));
    let ran_on: Rc<RefCell<Vec<&str>>> = Rc::default();
    let t1 = one.spawn({
        let (ran_on, one) = (ran_on.clone(), one.clone());
        async move {
            assert!(same(&Loop::current().unwrap(), &one));
            ran_on.borrow_mut().push("one");
        }
    });
    let t2 = two.spawn({
        let (ran_on, two) = (ran_on.clone(), two.clone());
        async move {
            assert!(same(&Loop::current().unwrap(), &two));
            ran_on.borrow_mut().push("two");
        }
    });
    assert_eq!((one.task_count(), two.task_count()), (1, 1));
    two.run().unwrap();
    assert_eq!(*ran_on.borrow(), ["two"], "running loop two ran only its own task");
    assert!(!t1.is_finished() && t2.is_finished());
    one.run().unwrap();
    assert_eq!(*ran_on.borrow(), ["two", "one"]);
    assert_eq!((one.task_count(), two.task_count()), (0, 0));
    assert_closed(&one);
    assert_closed(&two);
}

#[test]
fn multi_loop_task_woken_by_another_loop_resumes_on_its_own() {
    // A task of loop one waits on something loop two's timer completes: the
    // wake crosses to loop one (through its handle) and the task resumes there.
    let (one, two) = (Loop::new().unwrap(), Loop::new().unwrap());
    let _guards = (guard(&one), guard(&two));
    let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
    let ready = Rc::new(Cell::new(false));
    let resumed_on_one = Rc::new(Cell::new(None));
    let task = one.spawn({
        let (waker, ready, resumed, one) =
            (waker.clone(), ready.clone(), resumed_on_one.clone(), one.clone());
        async move {
            poll_fn(|cx| {
                if ready.get() {
                    return Poll::Ready(());
                }
                *waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            })
            .await;
            resumed.set(Some(same(&Loop::current().unwrap(), &one)));
        }
    });
    one.run_nowait().unwrap();
    assert!(waker.borrow().is_some(), "the task ran once and parked");
    two.set_timeout(Duration::from_millis(5), {
        let (waker, ready) = (waker.clone(), ready.clone());
        move |_| {
            ready.set(true);
            waker.borrow_mut().take().unwrap().wake();
        }
    })
    .unwrap();
    two.run().unwrap();
    assert_eq!(resumed_on_one.get(), None, "loop two does not run loop one's task");
    assert!(one.is_alive(), "the wake is waiting in loop one's queue");
    one.run().unwrap();
    assert_eq!(resumed_on_one.get(), Some(true));
    assert!(task.is_finished());
    assert_closed(&one);
    assert_closed(&two);
}

const LOOPS: usize = 4;
const TICKS: u32 = 10;
const POSTS: u32 = 1_000;

/// Per-thread state of one loop in the four-loop test.
#[derive(Default)]
struct Worker {
    index: usize,
    ticks: u32,
    from_main: u32,
    from_ring: u32,
    next_main: u32,
    keep_alive: Option<Timer>,
}

thread_local! {
    static WORKER: RefCell<Worker> = RefCell::default();
}

/// Lets the loop end once everything it expects has arrived.
fn maybe_done() {
    WORKER.with(|w| {
        let mut w = w.borrow_mut();
        if w.ticks == TICKS && w.from_main == POSTS && w.from_ring == TICKS {
            if let Some(t) = w.keep_alive.take() {
                t.clear();
            }
        }
    });
}

#[test]
fn multi_loop_four_loops_on_four_threads_run_independently() {
    // Each loop: a 2 ms interval that fires TICKS times and posts to the next
    // loop of the ring each time; meanwhile the main thread posts POSTS
    // closures to every loop. Each loop ends once it has all it expects.
    let (handle_tx, handle_rx) = mpsc::channel::<(usize, Handle)>();
    let mut ring_rx = Vec::new();
    let mut ring_tx = Vec::new();
    for _ in 0..LOOPS {
        let (tx, rx) = mpsc::channel::<Handle>();
        ring_tx.push(tx);
        ring_rx.push(rx);
    }
    let threads: Vec<_> = ring_rx
        .into_iter()
        .enumerate()
        .map(|(i, next_rx)| {
            let handle_tx = handle_tx.clone();
            thread::spawn(move || {
                let lp = Loop::new().unwrap();
                let _guard = guard(&lp);
                let me = thread::current().id();
                handle_tx.send((i, lp.handle())).unwrap();
                let next: Handle = next_rx.recv_timeout(Duration::from_secs(10)).unwrap();
                let keep = lp
                    .set_timeout(Duration::from_secs(15), move |_| {
                        panic!("loop {i}: not everything arrived in 15 s")
                    })
                    .unwrap();
                WORKER.with(|w| {
                    let mut w = w.borrow_mut();
                    w.index = i;
                    w.keep_alive = Some(keep);
                });
                let me_interval: Rc<RefCell<Option<Timer>>> = Rc::default();
                let interval = lp
                    .set_interval(Duration::from_millis(2), {
                        let me_interval = me_interval.clone();
                        move |_| {
                            let ticks = WORKER.with(|w| {
                                let mut w = w.borrow_mut();
                                w.ticks += 1;
                                w.ticks
                            });
                            next.post(move |_| {
                                WORKER.with(|w| {
                                    let mut w = w.borrow_mut();
                                    assert_eq!(
                                        w.index,
                                        (i + 1) % LOOPS,
                                        "loop {i}'s post ran on loop {}",
                                        w.index
                                    );
                                    w.from_ring += 1;
                                });
                                maybe_done();
                            })
                            .unwrap();
                            if ticks == TICKS {
                                me_interval.borrow_mut().take().unwrap().clear();
                            }
                            maybe_done();
                        }
                    })
                    .unwrap();
                *me_interval.borrow_mut() = Some(interval);
                lp.run().unwrap();
                assert_eq!(thread::current().id(), me);
                let w = WORKER.with(|w| std::mem::take(&mut *w.borrow_mut()));
                assert_closed(&lp);
                (w.ticks, w.from_main, w.from_ring, lp.metrics().iterations)
            })
        })
        .collect();
    drop(handle_tx);

    let mut handles: Vec<Option<Handle>> = vec![None; LOOPS];
    for _ in 0..LOOPS {
        let (i, h) = handle_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        handles[i] = Some(h);
    }
    let handles: Vec<Handle> = handles.into_iter().map(Option::unwrap).collect();
    for (i, tx) in ring_tx.iter().enumerate() {
        tx.send(handles[(i + 1) % LOOPS].clone()).unwrap();
    }
    for n in 0..POSTS {
        for (i, h) in handles.iter().enumerate() {
            h.post(move |_| {
                WORKER.with(|w| {
                    let mut w = w.borrow_mut();
                    assert_eq!(w.index, i, "a post for loop {i} ran on loop {}", w.index);
                    assert_eq!(w.next_main, n, "loop {i}: posts out of order");
                    w.next_main += 1;
                    w.from_main += 1;
                });
                maybe_done();
            })
            .unwrap();
        }
    }
    for (i, t) in threads.into_iter().enumerate() {
        let (ticks, from_main, from_ring, iterations) =
            t.join().unwrap_or_else(|_| panic!("loop {i} failed"));
        assert_eq!((ticks, from_main, from_ring), (TICKS, POSTS, TICKS), "loop {i}");
        assert!(iterations >= u64::from(TICKS), "loop {i}: {iterations} ticks");
    }
}
