//! `EINTR`: a signal whose handler is installed without `SA_RESTART`
//! interrupts the loop's `epoll_pwait2`/`poll` again and again; each
//! interrupted wait is retried with a recomputed timeout, so `run` returns
//! `Ok`, the timer fires once and never early. One test in this file: the
//! handler is process-wide.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use waiter_loop::Loop;

mod common;

static HANDLED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_usr2(_: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::SeqCst);
}

/// Installs `on_usr2` for SIGUSR2 with no `SA_RESTART`, as a foreign library might.
fn install_handler() {
    // SAFETY: a zeroed sigaction is valid; the handler only touches an atomic.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_usr2 as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = 0;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut()), 0);
    }
}

/// Ticks of a loop that runs one `delay` timer, undisturbed.
fn quiet_ticks(delay: Duration) -> u64 {
    let lp = Loop::new().unwrap();
    lp.set_timeout(delay, |_| {}).unwrap();
    lp.run().unwrap();
    lp.metrics().iterations
}

#[test]
fn eintr_interrupted_waits_are_retried_and_the_timer_keeps_its_deadline() {
    const DELAY: Duration = Duration::from_millis(200);
    install_handler();
    let quiet = quiet_ticks(DELAY);

    let lp = Loop::new().unwrap();
    let _guard = common::guard(&lp);
    // SAFETY: pthread_self has no preconditions.
    let loop_thread = unsafe { libc::pthread_self() };
    let done = Arc::new(AtomicBool::new(false));
    let sender = thread::spawn({
        let done = done.clone();
        move || {
            let mut sent = 0;
            while !done.load(Ordering::SeqCst) {
                // SAFETY: the loop thread outlives this one (it joins it below).
                assert_eq!(unsafe { libc::pthread_kill(loop_thread, libc::SIGUSR2) }, 0);
                sent += 1;
                thread::sleep(Duration::from_millis(2));
            }
            sent
        }
    });
    let fired = Rc::new(Cell::new(0));
    let started = Instant::now();
    let late = Rc::new(Cell::new(None));
    lp.set_timeout(DELAY, {
        let (fired, late, done) = (fired.clone(), late.clone(), done.clone());
        move |_| {
            fired.set(fired.get() + 1);
            late.set(Some(started.elapsed()));
            done.store(true, Ordering::SeqCst);
        }
    })
    .unwrap();
    let ran = lp.run();
    done.store(true, Ordering::SeqCst);
    let sent = sender.join().unwrap();
    ran.expect("run retries EINTR instead of failing");
    let took = late.get().expect("the timer fired");
    assert_eq!(fired.get(), 1);
    assert!(took >= DELAY, "fired after {took:?}, before its {DELAY:?} deadline");
    let handled = HANDLED.load(Ordering::SeqCst);
    let ticks = lp.metrics().iterations;
    // Each interrupted wait ends a tick early; the loop then waits again for
    // what is left. A signal that lands outside the wait interrupts nothing,
    // hence a lower bound, not an equality.
    assert!(handled > 0, "no signal was handled ({sent} sent)");
    assert!(
        ticks > quiet,
        "{ticks} ticks with {handled} signals handled, {quiet} without: no wait was interrupted"
    );
    eprintln!("{sent} sent, {handled} handled, {ticks} ticks ({quiet} undisturbed), fired after {took:?}");
}
