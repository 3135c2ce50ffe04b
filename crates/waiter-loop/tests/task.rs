//! Tasks: `spawn` and its `JoinHandle`, detached tasks, `block_on` over
//! borrowed data, `yield_now`, and wake-ups from other threads.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use waiter_loop::{yield_now, Loop};

mod common;
use common::{assert_closed, guard};

/// A one-shot flag another thread sets, waking whoever waits on it.
#[derive(Default)]
struct Flag {
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Flag {
    fn set(&self) {
        self.set.store(true, Ordering::Release);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }

    fn wait(self: Arc<Self>) -> impl Future<Output = ()> {
        poll_fn(move |cx| {
            if self.set.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            // Set between the check and the store: the setter saw no waker.
            if self.set.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            Poll::Pending
        })
    }
}

#[test]
fn task_spawn_join_handle_gives_the_output() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let h = lp.spawn(async { 6 * 7 });
    assert!(!h.is_finished(), "a task first runs from the microtask queue, not inside spawn");
    assert_eq!(lp.task_count(), 1);
    assert_eq!(lp.block_on(h), 42);
    assert_eq!(lp.task_count(), 0);
    assert_closed(&lp);
}

#[test]
fn task_join_handle_awaited_from_another_task() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let out = Rc::new(Cell::new(None));
    let l = lp.clone();
    let first = lp.spawn(async move {
        l.sleep(Duration::from_millis(10)).unwrap().await;
        7
    });
    let second = lp.spawn(async move { first.await + 1 });
    lp.spawn({
        let out = out.clone();
        async move { out.set(Some(second.await * 10)) }
    });
    assert_eq!(lp.task_count(), 3);
    lp.run().unwrap();
    assert_eq!(out.get(), Some(80));
    assert_eq!(lp.task_count(), 0);
    assert_closed(&lp);
}

#[test]
fn task_join_handle_of_a_finished_task_is_ready_at_once() {
    let lp = Loop::new().unwrap();
    let h = lp.spawn(async { "done" });
    lp.run().unwrap();
    assert!(h.is_finished());
    assert_eq!(lp.task_count(), 0);
    let started = Instant::now();
    assert_eq!(lp.block_on(h), "done");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_closed(&lp);
}

#[test]
fn task_detached_task_still_runs_to_the_end() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let steps = Rc::new(RefCell::new(Vec::new()));
    let l = lp.clone();
    drop(lp.spawn({
        let steps = steps.clone();
        async move {
            steps.borrow_mut().push("started");
            l.sleep(Duration::from_millis(5)).unwrap().await;
            steps.borrow_mut().push("slept");
            yield_now().await;
            steps.borrow_mut().push("finished");
        }
    }));
    lp.run().unwrap();
    assert_eq!(*steps.borrow(), ["started", "slept", "finished"]);
    assert_eq!(lp.task_count(), 0);
    assert_closed(&lp);
}

#[test]
fn task_block_on_borrows_from_the_stack() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let text = String::from("borrowed");
    let mut seen: Vec<&str> = Vec::new();
    let n = lp.block_on(async {
        seen.push(&text);
        lp.sleep(Duration::from_millis(1)).unwrap().await;
        seen.push("after the sleep");
        seen.len()
    });
    assert_eq!(n, 2);
    assert_eq!(seen, ["borrowed", "after the sleep"]);
    assert_closed(&lp);
}

#[test]
fn task_current_loop_is_set_only_while_running() {
    assert!(Loop::current().is_none());
    let lp = Loop::new().unwrap();
    assert!(Loop::current().is_none(), "creating a loop does not make it current");
    let inside = lp.block_on(async {
        let current = Loop::current().expect("current inside block_on");
        // A timer started through `current` lands on this loop.
        let t = current.set_timeout(Duration::from_secs(60), |_| {}).unwrap();
        let seen = lp.active_handles();
        t.clear();
        // The free function spawns on the current loop too.
        let h = waiter_loop::spawn(async { Loop::current().is_some() });
        (seen, h.await)
    });
    assert_eq!(inside, (2, true), "block_on's own future plus the timer");
    assert!(Loop::current().is_none(), "restored after block_on");
    assert_closed(&lp);
}

#[test]
fn task_yield_now_interleaves_tasks() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let log = Rc::new(RefCell::new(Vec::new()));
    for name in ["a", "b", "c"] {
        let log = log.clone();
        lp.spawn(async move {
            for i in 0..3 {
                log.borrow_mut().push(format!("{name}{i}"));
                yield_now().await;
            }
        });
    }
    lp.run().unwrap();
    assert_eq!(*log.borrow(), ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]);
    assert_closed(&lp);
}

#[test]
fn task_yield_now_lets_queued_microtasks_run_first() {
    let lp = Loop::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = lp.clone();
    lp.spawn({
        let log = log.clone();
        async move {
            log.borrow_mut().push("task: before");
            let lg = log.clone();
            l.queue_microtask(move |_| lg.borrow_mut().push("microtask"));
            yield_now().await;
            log.borrow_mut().push("task: after");
        }
    });
    lp.run().unwrap();
    assert_eq!(*log.borrow(), ["task: before", "microtask", "task: after"]);
    assert_closed(&lp);
}

#[test]
fn task_block_on_woken_from_another_thread() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let flag = Arc::new(Flag::default());
    // Taken before the setter exists, so its 20 ms sleep cannot start earlier.
    let started = Instant::now();
    let setter = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            flag.set();
        })
    };
    lp.block_on(flag.wait());
    let took = started.elapsed();
    setter.join().unwrap();
    assert!(took >= Duration::from_millis(20) && took < Duration::from_secs(5), "took {took:?}");
    assert_closed(&lp);
}

#[test]
fn task_spawned_task_woken_from_another_thread_resumes_on_the_loop_thread() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let loop_thread = std::thread::current().id();
    let flag = Arc::new(Flag::default());
    let polls = Rc::new(Cell::new(0));
    let task = lp.spawn({
        let (flag, polls) = (flag.clone(), polls.clone());
        async move {
            let wait = flag.wait();
            let mut wait = std::pin::pin!(wait);
            poll_fn(|cx| {
                polls.set(polls.get() + 1);
                wait.as_mut().poll(cx)
            })
            .await;
            assert_eq!(std::thread::current().id(), loop_thread);
            "woken"
        }
    });
    let setter = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            flag.set();
        })
    };
    assert_eq!(lp.block_on(task), "woken");
    setter.join().unwrap();
    assert_eq!(polls.get(), 2, "polled once, then once more after the wake");
    assert_eq!(lp.task_count(), 0);
    assert_closed(&lp);
}

#[test]
fn task_many_wakes_from_another_thread_coalesce() {
    // A thread hammers a task's waker; the task is queued at most once at a
    // time, so it is polled far fewer times than it is woken.
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let polls = Rc::new(Cell::new(0u32));
    let task = lp.spawn({
        let (waker, done, polls) = (waker.clone(), done.clone(), polls.clone());
        poll_fn(move |cx| {
            polls.set(polls.get() + 1);
            if done.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            *waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        })
    });
    let hammer = {
        let (waker, done) = (waker.clone(), done.clone());
        std::thread::spawn(move || {
            let w = loop {
                if let Some(w) = waker.lock().unwrap().clone() {
                    break w;
                }
                std::thread::yield_now();
            };
            for _ in 0..100_000 {
                w.wake_by_ref();
            }
            done.store(true, Ordering::Release);
            w.wake();
        })
    };
    lp.block_on(task);
    hammer.join().unwrap();
    // The hammer's last wake may land after the task finished (it saw `done`
    // on an earlier wake): a stale wake-up still queued for the loop.
    lp.run().unwrap();
    assert!(polls.get() >= 2);
    assert!(polls.get() < 50_000, "polled {} times for 100,001 wakes", polls.get());
    assert_closed(&lp);
}

#[test]
fn task_waking_a_finished_task_is_harmless() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let stale: Rc<RefCell<Option<Waker>>> = Rc::default();
    lp.spawn({
        let stale = stale.clone();
        poll_fn(move |cx| {
            *stale.borrow_mut() = Some(cx.waker().clone());
            Poll::Ready(())
        })
    });
    lp.run().unwrap();
    assert_eq!(lp.task_count(), 0);
    // A new task may reuse the finished one's slot; the old waker must not reach it.
    let polls = Rc::new(Cell::new(0));
    let pending_forever = lp.spawn({
        let polls = polls.clone();
        poll_fn(move |_| {
            polls.set(polls.get() + 1);
            Poll::<()>::Pending
        })
    });
    lp.run_nowait().unwrap();
    assert_eq!(polls.get(), 1);
    let w = stale.borrow_mut().take().unwrap();
    w.wake_by_ref();
    std::thread::spawn(move || w.wake()).join().unwrap();
    while lp.is_alive() {
        lp.run_nowait().unwrap();
    }
    assert_eq!(polls.get(), 1, "a stale waker polled another task");
    assert!(!pending_forever.is_finished());
    assert_eq!(lp.task_count(), 1);
    assert_closed(&lp);
}

#[test]
fn task_block_on_leaves_the_loop_ready_to_run() {
    // block_on's wake-ups on the loop thread must not leak into a later run:
    // after it returns, run() runs what is queued, as on a fresh loop.
    type Case = (&'static str, fn(&Loop));
    let cases: [Case; 3] = [
        ("a sleep", |lp| lp.block_on(lp.sleep(Duration::from_millis(1)).unwrap())),
        ("a spawned task's JoinHandle", |lp| assert_eq!(lp.block_on(lp.spawn(async { 42 })), 42)),
        ("a future that yields", |lp| lp.block_on(yield_now())),
    ];
    let mut broken = Vec::new();
    for (what, block) in cases {
        let lp = Loop::new().unwrap();
        let _guard = guard(&lp);
        block(&lp);
        let fired = Rc::new(Cell::new(0));
        let f = fired.clone();
        lp.set_timeout(Duration::from_millis(1), move |_| f.set(f.get() + 1)).unwrap();
        lp.run().unwrap();
        if fired.get() != 1 {
            broken.push(what);
            // A second run does fire it: the first returned early, with work left.
            lp.run().unwrap();
            assert_eq!(fired.get(), 1);
        }
        assert_closed(&lp);
    }
    assert!(
        broken.is_empty(),
        "after block_on over {broken:?}, run() returned at once without running a due timer"
    );
}
