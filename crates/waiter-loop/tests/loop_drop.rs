//! Dropping a loop frees it, and everything on it, unless what is on it
//! holds the loop: a task that never finishes with a `Loop` clone inside is
//! a reference cycle the loop cannot break by itself (see `Loop`'s
//! "Dropping"); `Loop::close` breaks it. Whether the loop was freed shows
//! through a `Handle`: posting to a dropped loop fails with `BrokenPipe`.

use std::cell::Cell;
use std::future::pending;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use waiter_loop::{Handle, Loop};

/// Sets its flag when dropped: what a task or a callback owns.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

fn freed(handle: &Handle) -> bool {
    match handle.post(|_| {}) {
        Ok(()) => false,
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}");
            true
        }
    }
}

/// A loop whose only task never finishes and captured a `Loop` clone,
/// plus a timer and an immediate whose callbacks hold clones too.
fn cyclic_loop(dropped: &Rc<Cell<bool>>) -> (Loop, Handle) {
    let lp = Loop::new().unwrap();
    let (held, flag) = (lp.clone(), DropFlag(dropped.clone()));
    lp.spawn_detached(async move {
        let _owned = flag;
        held.sleep(Duration::from_millis(1)).unwrap().await;
        pending::<()>().await;
    });
    let held = lp.clone();
    lp.set_refreshable_timeout(Duration::from_millis(1), move |_| {
        let _ = held.backend();
    })
    .unwrap();
    lp.run().unwrap();
    assert_eq!(lp.task_count(), 1, "the task waits for good");
    // Queued after the last run: it waits in the queue, holding its clone.
    let held = lp.clone();
    lp.set_immediate(move |_| {
        let _ = held.backend();
    })
    .unref();
    let handle = lp.handle();
    (lp, handle)
}

/// The documented cycle: without `close`, dropping the user's last `Loop`
/// frees nothing (the task's clone keeps it). If this starts failing, the
/// loop learned to break the cycle: update `Loop`'s docs.
#[test]
fn a_task_holding_a_clone_keeps_a_dropped_loop() {
    let dropped = Rc::new(Cell::new(false));
    let (lp, handle) = cyclic_loop(&dropped);
    drop(lp);
    assert!(!dropped.get() && !freed(&handle), "the cycle holds the loop");
}

/// `close` drops the task, the timer's and the immediate's callbacks, and
/// the clones they held: the last user `Loop` then frees the loop. Before
/// the fix there was no way to free it short of ending the task.
#[test]
fn close_breaks_the_cycle_and_drop_frees_the_loop() {
    let dropped = Rc::new(Cell::new(false));
    let (lp, handle) = cyclic_loop(&dropped);
    lp.close().unwrap();
    assert!(dropped.get(), "the task's future was dropped");
    assert_eq!((lp.task_count(), lp.active_handles()), (0, 0));
    assert!(!lp.is_alive());
    assert!(!freed(&handle), "the user's Loop still holds it");
    drop(lp);
    assert!(freed(&handle), "nothing else held the loop");
}

/// A task that reaches the loop through `Loop::current` instead of a
/// captured clone makes no cycle: dropping the loop frees it, task and all.
#[test]
fn a_task_using_the_current_loop_is_freed_with_it() {
    let dropped = Rc::new(Cell::new(false));
    let lp = Loop::new().unwrap();
    let flag = DropFlag(dropped.clone());
    lp.spawn_detached(async move {
        let _owned = flag;
        // Bound first: a temporary `Loop` in the awaited expression would
        // live across the await, inside the task.
        let sleep = Loop::current().unwrap().sleep(Duration::from_millis(1)).unwrap();
        sleep.await;
        pending::<()>().await;
    });
    lp.run().unwrap();
    let handle = lp.handle();
    drop(lp);
    assert!(dropped.get() && freed(&handle));
}

/// After `close` the loop is empty but whole: it runs new work, and the
/// handles of what it dropped are stale (no-ops), not pointing at new timers.
#[test]
fn a_closed_loop_runs_new_work() {
    let lp = Loop::new().unwrap();
    let old = lp.set_timeout(Duration::from_secs(60), |_| unreachable!("dropped by close")).unwrap();
    lp.set_immediate(|_| unreachable!("dropped by close"));
    lp.next_tick(|_| unreachable!("dropped by close"));
    assert!(lp.is_alive());
    lp.close().unwrap();
    assert!(!lp.is_alive() && !old.is_active());
    let ran = Rc::new(Cell::new(0));
    let r = ran.clone();
    let new = lp.set_timeout(Duration::from_millis(1), move |_| r.set(r.get() + 1)).unwrap();
    old.clear();
    assert!(new.is_active(), "clearing a stale timer leaves the new one");
    lp.run().unwrap();
    assert_eq!(ran.get(), 1);
}

/// Like `run`, `close` refuses from inside one of the loop's callbacks.
#[test]
fn close_refuses_while_the_loop_runs() {
    let lp = Loop::new().unwrap();
    let refused = Rc::new(Cell::new(false));
    let r = refused.clone();
    lp.set_immediate(move |lp| r.set(lp.close().is_err()));
    lp.run().unwrap();
    assert!(refused.get());
}
