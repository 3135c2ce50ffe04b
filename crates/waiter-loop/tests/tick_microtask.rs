//! The next-tick and microtask queues: next-ticks first, then microtasks,
//! repeated until both are empty, after every single callback (Node ≥ 11).
//! Node's output for the same programs is the oracle; it is quoted in each test.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use waiter_loop::Loop;

mod common;
use common::{assert_closed, guard};

type Log = Rc<RefCell<Vec<&'static str>>>;

fn rec(log: &Log, what: &'static str) -> impl FnOnce(&Loop) + 'static {
    let log = log.clone();
    move |_| log.borrow_mut().push(what)
}

/// ```js
/// process.nextTick(() => { log('A'); queueMicrotask(() => log('M2')); process.nextTick(() => log('C')); });
/// queueMicrotask(() => { log('M1'); process.nextTick(() => log('D')); queueMicrotask(() => log('M3')); });
/// process.nextTick(() => log('B'));
/// setTimeout(() => { log('T1'); process.nextTick(() => log('T1.tick')); queueMicrotask(() => log('T1.micro')); }, 0);
/// setTimeout(() => log('T2'), 0);
/// // node: A B C M1 M2 M3 D T1 T1.tick T1.micro T2
/// ```
#[test]
fn tick_microtask_nested_draining_matches_node() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let log: Log = Rc::default();
    lp.next_tick({
        let log = log.clone();
        move |lp| {
            log.borrow_mut().push("A");
            lp.queue_microtask(rec(&log, "M2"));
            lp.next_tick(rec(&log, "C"));
        }
    });
    lp.queue_microtask({
        let log = log.clone();
        move |lp| {
            log.borrow_mut().push("M1");
            lp.next_tick(rec(&log, "D"));
            lp.queue_microtask(rec(&log, "M3"));
        }
    });
    lp.next_tick(rec(&log, "B"));
    lp.set_timeout(Duration::ZERO, {
        let log = log.clone();
        move |lp| {
            log.borrow_mut().push("T1");
            lp.next_tick(rec(&log, "T1.tick"));
            lp.queue_microtask(rec(&log, "T1.micro"));
        }
    })
    .unwrap();
    lp.set_timeout(Duration::ZERO, rec(&log, "T2")).unwrap();
    // Both timers due together, so T2 shares T1's timers phase.
    std::thread::sleep(Duration::from_millis(2));
    lp.run().unwrap();
    assert_eq!(*log.borrow(), ["A", "B", "C", "M1", "M2", "M3", "D", "T1", "T1.tick", "T1.micro", "T2"]);
    assert_closed(&lp);
}

#[test]
fn tick_microtask_main_script_queues_drain_before_the_first_timer() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let log: Log = Rc::default();
    lp.set_timeout(Duration::ZERO, rec(&log, "timer")).unwrap();
    lp.set_immediate(rec(&log, "immediate"));
    lp.queue_microtask(rec(&log, "microtask"));
    lp.next_tick(rec(&log, "next tick"));
    // Without this the timer-or-immediate order is Node's race too: the zero
    // delay is 1 ms, due at the first timers phase only if it starts 1 ms late.
    std::thread::sleep(Duration::from_millis(2));
    lp.run().unwrap();
    assert_eq!(*log.borrow(), ["next tick", "microtask", "timer", "immediate"]);
    assert_closed(&lp);
}

#[test]
fn tick_microtask_microtask_that_queues_a_next_tick_lets_other_microtasks_go_first() {
    // node: M1 M2 T M3   (the next-tick waits for the microtask queue to empty)
    let lp = Loop::new().unwrap();
    let log: Log = Rc::default();
    lp.queue_microtask({
        let log = log.clone();
        move |lp| {
            log.borrow_mut().push("M1");
            let log2 = log.clone();
            lp.next_tick(move |lp| {
                log2.borrow_mut().push("T");
                lp.queue_microtask(rec(&log2, "M3"));
            });
        }
    });
    lp.queue_microtask(rec(&log, "M2"));
    lp.run().unwrap();
    assert_eq!(*log.borrow(), ["M1", "M2", "T", "M3"]);
    assert_closed(&lp);
}

#[test]
fn tick_microtask_deep_recursion_is_iterative_and_starves_nothing_else() {
    // 100,000 next-ticks, each queueing the next: no stack overflow, all run
    // before the timer (as in Node, next-ticks can starve I/O: by design).
    const N: u32 = 100_000;
    fn again(lp: &Loop, n: Rc<Cell<u32>>) {
        n.set(n.get() + 1);
        if n.get() < N {
            lp.next_tick(move |lp| again(lp, n));
        }
    }
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let n = Rc::new(Cell::new(0));
    let seen_by_timer = Rc::new(Cell::new(0));
    lp.set_timeout(Duration::ZERO, {
        let (n, seen) = (n.clone(), seen_by_timer.clone());
        move |_| seen.set(n.get())
    })
    .unwrap();
    lp.set_immediate({
        let n = n.clone();
        move |lp| lp.next_tick(move |lp| again(lp, n))
    });
    // A zero delay is 1 ms (Node's floor): make the timer due at the first timers phase.
    std::thread::sleep(Duration::from_millis(2));
    lp.run().unwrap();
    assert_eq!(n.get(), N);
    // The timer ran in the first tick, before the immediate started the chain.
    assert_eq!(seen_by_timer.get(), 0);
    // And the same through microtasks.
    let m = Rc::new(Cell::new(0u32));
    fn micro(lp: &Loop, m: Rc<Cell<u32>>) {
        m.set(m.get() + 1);
        if m.get() < N {
            lp.queue_microtask(move |lp| micro(lp, m));
        }
    }
    let m2 = m.clone();
    lp.queue_microtask(move |lp| micro(lp, m2));
    lp.run().unwrap();
    assert_eq!(m.get(), N);
    assert_closed(&lp);
}

#[test]
fn tick_microtask_drain_after_each_callback_of_every_phase() {
    // Each callback's next-tick runs before the next callback of the same phase.
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let log: Log = Rc::default();
    for (a, b) in [("imm 1", "imm 1 tick"), ("imm 2", "imm 2 tick")] {
        let log = log.clone();
        lp.set_immediate(move |lp| {
            log.borrow_mut().push(a);
            lp.next_tick(rec(&log, b));
        });
    }
    for (a, b) in [("close 1", "close 1 micro"), ("close 2", "close 2 micro")] {
        let log = log.clone();
        lp.on_close(move |lp| {
            log.borrow_mut().push(a);
            lp.queue_microtask(rec(&log, b));
        });
    }
    for (a, b) in [("pending 1", "pending 1 tick"), ("pending 2", "pending 2 tick")] {
        let log = log.clone();
        lp.defer(move |lp| {
            log.borrow_mut().push(a);
            lp.next_tick(rec(&log, b));
        });
    }
    lp.run().unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "pending 1",
            "pending 1 tick",
            "pending 2",
            "pending 2 tick",
            "imm 1",
            "imm 1 tick",
            "imm 2",
            "imm 2 tick",
            "close 1",
            "close 1 micro",
            "close 2",
            "close 2 micro"
        ]
    );
    assert_closed(&lp);
}

#[test]
fn tick_microtask_task_wakeups_are_microtasks() {
    // A spawned task first runs from the microtask queue: after the current
    // callback's next-ticks, in order with other microtasks.
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let log: Log = Rc::default();
    lp.set_immediate({
        let log = log.clone();
        move |lp| {
            log.borrow_mut().push("immediate");
            lp.queue_microtask(rec(&log, "microtask before"));
            let l = log.clone();
            lp.spawn(async move { l.borrow_mut().push("task") });
            lp.queue_microtask(rec(&log, "microtask after"));
            lp.next_tick(rec(&log, "next tick"));
        }
    });
    lp.set_immediate(rec(&log, "second immediate"));
    lp.run().unwrap();
    assert_eq!(
        *log.borrow(),
        ["immediate", "next tick", "microtask before", "task", "microtask after", "second immediate"]
    );
    assert_eq!(lp.task_count(), 0);
    assert_closed(&lp);
}
