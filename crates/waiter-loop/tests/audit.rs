//! An outside audit of the loop against Node's and libuv's semantics: the
//! probes the ordering suite (`node_ordering.rs`) and the libuv-style files
//! did not already make, each kept here as a regression test.
//!
//! A callback's panic is Node's uncaught exception: it unwinds out of
//! `run`. These tests catch it and run the loop again, as a Node program
//! with an `'uncaughtException'` handler goes on, and check the loop was
//! left whole: an interval fires again, a watcher or a signal handler
//! keeps its callback, queued callbacks, fetched events and thread-pool
//! results are not lost, and a panicked task is gone. Where Node shows the
//! same, its program in `tests/js/audit/` is the oracle (the ordering
//! suite's rule: `node` must be on `PATH`, the test never skips).
//!
//! The other findings: a callback's captures are user code too, and were
//! dropped while the loop held a borrow (clearing a timer, an interval
//! clearing itself, a cleared immediate, a refused `watch`), so an RAII
//! guard among them that touched the loop panicked; a watchdog report could
//! not turn the watchdog off; and a `block_on` waker that outlived its call
//! stopped a later `run` early.
//!
//! The panic tests run each loop on a thread of its own, so a loop left
//! hanging by a lost callback fails its test in time instead of hanging it.

use std::cell::{Cell, OnceCell, RefCell};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use waiter_loop::{yield_now, Immediate, Interest, Loop, Signal, SignalWatch, Timer, Watch};

mod common;
use common::twin::{self, Lines, LIMIT};
use common::{spin, wait_until};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------------------
// Twins of tests/js/audit/*.js.
// ---------------------------------------------------------------------------

/// Before the fix the interval's callback was lost with the panic while its
/// slot stayed live: the loop then waited forever for a timer that was in
/// no heap (this test timed out after `interval run 1`, `uncaught: boom`).
#[test]
fn an_interval_whose_callback_panics_fires_again() {
    twin::check("audit/interval_throws", |lp, out| {
        let me: Rc<OnceCell<Timer>> = Rc::default();
        let runs = Cell::new(0);
        let (o, slot) = (out.clone(), me.clone());
        let timer = lp
            .set_interval(ms(5), move |_| {
                runs.set(runs.get() + 1);
                o.log(format!("interval run {}", runs.get()));
                match runs.get() {
                    1 => panic!("boom"),
                    3 => slot.get().expect("the interval was stored").clear(),
                    _ => {}
                }
            })
            .unwrap();
        me.set(timer).unwrap();
    });
}

/// Reads what is there (the edge-triggered contract), as text.
fn read_available(mut socket: &UnixStream) -> String {
    let mut text = String::new();
    let mut buf = [0u8; 64];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return text,
            Ok(n) => text.push_str(std::str::from_utf8(&buf[..n]).expect("ASCII")),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return text,
            Err(e) => panic!("reading the socket pair: {e}"),
        }
    }
}

/// Before the fix the watcher's callback was dropped with the panic and the
/// watcher stayed registered and referenced: `b` was never seen and the
/// loop never ended.
#[test]
fn a_watcher_whose_callback_panics_still_hears_its_descriptor() {
    twin::check("audit/data_throws", |lp, out| {
        let (ours, peer) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let fd = ours.as_raw_fd();
        let sockets = Rc::new(RefCell::new(Some((ours, peer))));
        let watch: Rc<RefCell<Option<Watch>>> = Rc::default();
        let chunks = Cell::new(0);
        let (o, socks, me) = (out.clone(), sockets.clone(), watch.clone());
        let w = lp
            .watch(fd, Interest::READABLE, move |_, _| {
                let text = match socks.borrow().as_ref() {
                    Some((ours, _)) => read_available(ours),
                    None => return,
                };
                if text.is_empty() {
                    return;
                }
                chunks.set(chunks.get() + 1);
                o.log(format!("data {text}"));
                if chunks.get() == 1 {
                    panic!("boom");
                }
                me.borrow_mut().take(); // conn.destroy(): stop watching, then close
                socks.borrow_mut().take();
            })
            .unwrap();
        *watch.borrow_mut() = Some(w);
        fn write(sockets: &RefCell<Option<(UnixStream, UnixStream)>>, what: &[u8]) {
            if let Some((_, peer)) = sockets.borrow().as_ref() {
                (&*peer).write_all(what).unwrap();
            }
        }
        let socks = sockets.clone();
        lp.set_immediate(move |lp| {
            // client.write('a'), then client.end('b') 30 ms later
            write(&socks, b"a");
            lp.set_timeout(ms(30), move |_| write(&socks, b"b")).unwrap();
        });
    });
}

/// Before the fix the second result, taken off the cross-thread queue with
/// the first, was dropped with the panic while its job still counted as
/// pending work: the loop waited forever for it.
#[test]
fn a_pool_completion_that_panics_does_not_lose_the_next_one() {
    twin::check("audit/completion_throws", |lp, out| {
        let finished = Arc::new(AtomicUsize::new(0));
        let done = Rc::new(Cell::new(0));
        for _ in 0..2 {
            let (o, done, finished) = (out.clone(), done.clone(), finished.clone());
            lp.queue_work(
                move || finished.fetch_add(1, Ordering::SeqCst),
                move |_, result| {
                    result.expect("the job ran");
                    done.set(done.get() + 1);
                    o.log(format!("read done {}", done.get()));
                    if done.get() == 1 {
                        panic!("boom");
                    }
                },
            )
            .unwrap();
        }
        // Both results in before the loop first polls, so one wake-up brings both.
        assert!(wait_until(LIMIT, || finished.load(Ordering::SeqCst) == 2), "the pool ran the jobs");
        thread::sleep(ms(20));
    });
}

// ---------------------------------------------------------------------------
// libuv's promises, without a Node program.
// ---------------------------------------------------------------------------

/// libuv calls every `uv_close` callback. Before the fix the callbacks
/// queued after a panicking one, in the pending and in the close phase,
/// were dropped with the rest of their batch.
#[test]
fn a_deferred_or_close_callback_that_panics_does_not_lose_the_next_one() {
    let ended = twin::run("close", Loop::new, |lp, out| {
        lp.defer(|_| panic!("pending boom"));
        lp.defer(out.cb("second pending callback"));
        lp.on_close(|_| panic!("close boom"));
        lp.on_close(out.cb("second close callback"));
    });
    assert_eq!(
        ended.lines,
        [
            "uncaught: pending boom",
            "second pending callback",
            "uncaught: close boom",
            "second close callback",
            "exit"
        ]
    );
    ended.assert_closed("close");
}

/// Two descriptors ready in one poll, the first callback panics. Before the
/// fix the second's event was dropped with the rest of the event list;
/// under epoll an edge is reported once, so it never ran (the test timed out).
#[test]
fn events_fetched_after_a_panicking_callback_are_still_dispatched() {
    let ended = twin::run("events", Loop::new, |lp, out| {
        let pairs: Vec<(UnixStream, UnixStream)> = (0..2)
            .map(|_| {
                let (ours, peer) = UnixStream::pair().unwrap();
                ours.set_nonblocking(true).unwrap();
                (&peer).write_all(b"x").unwrap();
                (ours, peer)
            })
            .collect();
        let fds: Vec<_> = pairs.iter().map(|(ours, _)| ours.as_raw_fd()).collect();
        let pairs = Rc::new(pairs);
        let watches: Rc<RefCell<Vec<Watch>>> = Rc::default();
        let calls = Rc::new(Cell::new(0));
        for (i, fd) in fds.into_iter().enumerate() {
            let (o, pairs, all, calls) = (out.clone(), pairs.clone(), watches.clone(), calls.clone());
            let w = lp
                .watch(fd, Interest::READABLE, move |_, _| {
                    if read_available(&pairs[i].0).is_empty() {
                        return;
                    }
                    calls.set(calls.get() + 1);
                    if calls.get() == 1 {
                        panic!("boom");
                    }
                    o.log("the other descriptor's callback ran");
                    all.borrow_mut().clear();
                })
                .unwrap();
            watches.borrow_mut().push(w);
        }
    });
    assert_eq!(ended.lines, ["uncaught: boom", "the other descriptor's callback ran", "exit"]);
    ended.assert_closed("events");
}

/// Before the fix a signal handler that panicked lost its callback and held
/// the loop forever, deaf to the next signal.
#[test]
fn a_signal_handler_that_panics_hears_the_next_signal() {
    let ended = twin::run("signal", Loop::new, |lp, out| {
        let watch: Rc<RefCell<Option<SignalWatch>>> = Rc::default();
        let heard = Cell::new(0);
        let (o, me) = (out.clone(), watch.clone());
        let w = lp
            .on_signal(Signal::USR1, move |lp, _| {
                heard.set(heard.get() + 1);
                o.log(format!("SIGUSR1 {}", heard.get()));
                if heard.get() == 1 {
                    lp.set_timeout(ms(5), |_| raise(Signal::USR1)).unwrap();
                    panic!("boom");
                }
                me.borrow_mut().take();
            })
            .unwrap();
        *watch.borrow_mut() = Some(w);
        lp.set_timeout(ms(1), |_| raise(Signal::USR1)).unwrap();
    });
    assert_eq!(ended.lines, ["SIGUSR1 1", "uncaught: boom", "SIGUSR1 2", "exit"]);
    ended.assert_closed("signal");
}

fn raise(sig: Signal) {
    // SAFETY: raise only sends a signal to this thread, where the loop's
    // signal watch blocked it so it queues for the signalfd.
    let rc = unsafe { libc::raise(sig.number()) };
    assert_eq!(rc, 0, "raise({sig:?}): {}", std::io::Error::last_os_error());
}

/// Node: an async function that throws rejects its promise, and `await`ing
/// it throws in the awaiter (`tests/js/audit/await_throwing.js` prints
/// `awaiter got: boom`). A Rust panic cannot be caught at an `.await`, so it
/// unwinds out of `run` twice: the task's, then the awaiter's at its
/// `await`. Before the fix the panicked task's slot stayed (`task_count`
/// 1 for good) and the awaiter waited forever (2).
#[test]
fn a_task_that_panics_is_gone_and_its_awaiter_hears_of_it() {
    let node = twin::node_lines("audit/await_throwing");
    assert_eq!(node, ["awaiter got: boom", "exit"], "node's oracle");
    let ended = twin::run("task", Loop::new, |lp, out| {
        let failing = lp.spawn(async {
            yield_now().await;
            if out_of_luck() {
                panic!("boom");
            }
            1
        });
        let o = out.clone();
        lp.spawn_detached(async move {
            let value = failing.await;
            o.log(format!("not reached: {value}"));
        });
    });
    assert_eq!(
        ended.lines,
        [
            "uncaught: boom",
            "uncaught: the task behind this JoinHandle panicked (or its loop was dropped)",
            "exit"
        ]
    );
    ended.assert_closed("task");
}

/// Always true; keeps the compiler from calling the code after the panic dead.
fn out_of_luck() -> bool {
    std::hint::black_box(true)
}

// ---------------------------------------------------------------------------
// A callback's captures are user code too: dropped, they may touch the loop.
// ---------------------------------------------------------------------------

/// An RAII guard that clears its timer when dropped, as a connection's
/// state clears its idle timer.
struct ClearTimerOnDrop(Timer);

impl Drop for ClearTimerOnDrop {
    fn drop(&mut self) {
        self.0.clear();
    }
}

/// Before the fix, clearing a timer dropped its callback while the timer
/// heap was borrowed, so a guard captured by the callback that cleared
/// another timer panicked with "already borrowed" (from `Timer::clear`).
#[test]
fn clearing_a_timer_whose_callback_holds_another_timers_guard() {
    let lp = Loop::new().unwrap();
    let idle = ClearTimerOnDrop(lp.set_timeout(Duration::from_secs(3600), |_| unreachable!()).unwrap());
    let request = lp.set_timeout(Duration::from_secs(3600), move |_| drop(idle)).unwrap();
    assert_eq!(lp.active_handles(), 2);
    request.clear();
    assert_eq!(lp.active_handles(), 0, "the guard cleared the other timer");
    lp.run().unwrap();
    assert!(!lp.is_alive());
}

/// The same from inside the timers phase: an interval that clears itself
/// had its callback dropped under the heap's borrow when it came back.
#[test]
fn an_interval_clearing_itself_whose_callback_holds_a_timers_guard() {
    let lp = Loop::new().unwrap();
    let idle = ClearTimerOnDrop(lp.set_timeout(Duration::from_secs(3600), |_| unreachable!()).unwrap());
    let me: Rc<OnceCell<Timer>> = Rc::default();
    let runs = Rc::new(Cell::new(0));
    let (slot, count) = (me.clone(), runs.clone());
    let interval = lp
        .set_interval(ms(1), move |_| {
            let _owned = &idle;
            count.set(count.get() + 1);
            if count.get() == 2 {
                slot.get().expect("the interval was stored").clear();
            }
        })
        .unwrap();
    me.set(interval).unwrap();
    lp.run().unwrap();
    assert_eq!(runs.get(), 2);
    assert_eq!(lp.active_handles(), 0, "the guard cleared the idle timer");
    assert!(!lp.is_alive());
}

/// An immediate cleared before the check phase was dropped there under
/// the queue's borrow: a capture that clears an immediate panicked.
#[test]
fn a_cleared_immediate_whose_callback_clears_another_on_drop() {
    struct ClearImmediateOnDrop(Rc<OnceCell<Immediate>>);
    impl Drop for ClearImmediateOnDrop {
        fn drop(&mut self) {
            if let Some(immediate) = self.0.get() {
                immediate.clear();
            }
        }
    }
    let lp = Loop::new().unwrap();
    let out = Lines::default();
    lp.set_immediate(out.cb("first"));
    let target: Rc<OnceCell<Immediate>> = Rc::default();
    let guard = ClearImmediateOnDrop(target.clone());
    let second = lp.set_immediate(move |_| drop(guard));
    target.set(lp.set_immediate(out.cb("third: cleared by the guard"))).unwrap();
    second.clear();
    lp.run().unwrap();
    assert_eq!(out.take(), ["first"]);
    assert!(!lp.is_alive());
}

/// `watch` refusing a descriptor (here EEXIST: already watched) dropped
/// the refused callback under the watchers' borrow: a capture that stops a
/// watch when dropped panicked instead of the error coming back.
#[test]
fn a_refused_watch_drops_its_callback_outside_the_loops_borrow() {
    let lp = Loop::new().unwrap();
    let (a, _a_peer) = UnixStream::pair().unwrap();
    let (b, _b_peer) = UnixStream::pair().unwrap();
    let first = lp.watch(a.as_raw_fd(), Interest::READABLE, |_, _| {}).unwrap();
    let other = lp.watch(b.as_raw_fd(), Interest::READABLE, |_, _| {}).unwrap();
    assert_eq!(lp.active_handles(), 2);
    let err = lp
        .watch(a.as_raw_fd(), Interest::READABLE, move |_, _| {
            let _owned = &other;
        })
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EEXIST), "{err}");
    assert_eq!(lp.active_handles(), 1, "the refused callback's capture stopped its watch");
    drop(first);
    lp.run().unwrap();
    assert!(!lp.is_alive());
}

/// `block_on`'s waker can outlive it: here in the `JoinHandle` a timeout
/// gave up on. Before the fix, the task finishing during a later `run`
/// woke that stale waker, which stopped the run (as `stop()` does) with a
/// 100 ms timer still pending: `run` returned early.
#[test]
fn a_stale_block_on_waker_does_not_stop_a_later_run() {
    let lp = Loop::new().unwrap();
    let slow = lp.spawn(async {
        waiter_loop::sleep(ms(30)).unwrap().await;
        1
    });
    let gave_up = lp.block_on(lp.timeout(ms(5), slow).unwrap());
    assert!(gave_up.is_err(), "the timeout elapsed first");
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    lp.set_timeout(ms(100), move |_| f.set(true)).unwrap();
    lp.run().unwrap();
    assert!(fired.get(), "run() returned with its timer still pending");
    assert_eq!(lp.task_count(), 0);
    assert!(!lp.is_alive());
}

/// A watchdog report that turns the watchdog off (report once) ran inside
/// the loop's borrow of its watchdog: "RefCell already borrowed".
#[test]
fn a_watchdog_report_may_turn_the_watchdog_off() {
    let lp = Loop::new().unwrap();
    let reports = Rc::new(Cell::new(0));
    let (me, count) = (lp.clone(), reports.clone());
    lp.set_watchdog(Some(ms(5)), move |slow| {
        assert!(slow.held >= ms(5));
        count.set(count.get() + 1);
        me.set_watchdog(None, |_| {});
    });
    for _ in 0..2 {
        lp.set_immediate(|_| spin(ms(10)));
    }
    lp.run().unwrap();
    assert_eq!(reports.get(), 1, "one report, then the watchdog was off");
    assert!(!lp.is_alive());
}

/// `clearImmediate` drops the immediate's hold on the loop at once. Before,
/// a cleared immediate kept `is_alive()` true until a check phase popped
/// it: the loop ran a tick it had no reason to run, and an unref'd timer
/// due by then fired (`unref timer: must not fire`, unlike node).
#[test]
fn a_cleared_immediate_does_not_keep_the_loop_alive() {
    twin::check("audit/cleared_immediate_liveness", |lp, out| {
        lp.set_timeout(ms(1), out.cb("unref timer: must not fire")).unwrap().unref();
        let immediate = lp.set_immediate(out.cb("cleared immediate: must not run"));
        assert!(lp.is_alive());
        immediate.clear();
        assert!(!lp.is_alive(), "only an unref'd timer and a cleared immediate are left");
        spin(ms(5));
        out.log("main end");
    });
}

// ---------------------------------------------------------------------------
// What the first audit left alone (issue notes, "Left alone (loop)").
// ---------------------------------------------------------------------------

/// Node's `refresh()` reactivates a timeout that already ran, also from
/// its own callback, and `hasRef()` stays true after it ran. A
/// `set_timeout` callback is an `FnOnce`, consumed by its run, so the twin
/// uses `set_refreshable_timeout`. Before the fix there was no such timer:
/// `refresh()` on a timer that had run returned false and did nothing.
#[test]
fn a_refreshable_timeout_runs_again_when_refreshed_after_it_ran() {
    twin::check("audit/timer_refresh_after_fire", |lp, out| {
        let quiet = lp.set_refreshable_timeout(ms(1000), |_| unreachable!("unref: never")).unwrap();
        quiet.unref();
        let me: Rc<OnceCell<Timer>> = Rc::default();
        let runs = Rc::new(Cell::new(0));
        let (o, slot, r) = (out.clone(), me.clone(), runs.clone());
        let timer = lp
            .set_refreshable_timeout(ms(10), move |lp| {
                r.set(r.get() + 1);
                let t = slot.get().expect("the timer was stored").clone();
                o.log(format!("timeout run {}, hasRef {}", r.get(), t.has_ref()));
                match r.get() {
                    1 => {
                        let (o, quiet) = (o.clone(), quiet.clone());
                        lp.set_immediate(move |_| {
                            o.log(format!("after run 1: hasRef {}", t.has_ref()));
                            assert!(t.refresh(), "a refreshable timer that ran is armed again");
                            o.log(format!("refreshed: hasRef {}", t.has_ref()));
                            quiet.refresh();
                            o.log("unref'd timeout refreshed");
                        });
                    }
                    2 => assert!(t.refresh()),
                    _ => {}
                }
            })
            .unwrap();
        me.set(timer).unwrap();

        let cleared = lp.set_refreshable_timeout(ms(1), |_| unreachable!("cleared: never")).unwrap();
        cleared.clear();
        assert!(!cleared.refresh(), "a cleared timer stays cleared");
    });
}

/// A `set_timeout` timer that ran cannot run again (its `FnOnce` is
/// spent): `refresh()` says so and arms nothing.
#[test]
fn a_one_shot_timeout_that_ran_is_not_refreshed() {
    let lp = Loop::new().unwrap();
    let t = lp.set_timeout(ms(1), |_| {}).unwrap();
    lp.run().unwrap();
    assert!(!t.refresh());
    assert!(!t.is_active() && !lp.is_alive());
}

/// Node's `Immediate` has `ref()`, `unref()` and `hasRef()`: an unref'd
/// immediate does not hold the loop but runs when the loop turns anyway.
/// Before the fix `Immediate` had none of them.
#[test]
fn an_unrefd_immediate_runs_only_if_the_loop_turns_anyway() {
    twin::check("audit/immediate_ref", |lp, out| {
        let a = lp.set_immediate(out.cb("a: unref'd, ref'd again, runs"));
        a.unref().ref_();
        let (o, ran) = (out.clone(), a.clone());
        let b = lp.set_immediate(move |lp| {
            o.log(format!("b: unref'd, runs as a holds the loop; a.hasRef after it ran {}", ran.has_ref()));
            lp.set_immediate(o.cb("c: unref'd, runs as the timeout holds the loop")).unref();
            let o = o.clone();
            lp.set_timeout(ms(100), move |lp| {
                o.log("timeout");
                let e = lp.set_immediate(o.cb("e: never (unref'd, nothing holds the loop)"));
                e.unref();
                o.log(format!("e.hasRef {}", e.has_ref()));
            })
            .unwrap();
        });
        b.unref();
        out.log(format!("a.hasRef {}, b.hasRef {}", a.has_ref(), b.has_ref()));
        let d = lp.set_immediate(out.cb("d: never (cleared)"));
        d.unref().ref_();
        d.clear();
        d.ref_();
        out.log(format!("d.hasRef after clear {}", d.has_ref()));
    });
}

/// Unref'd immediates alone neither keep the loop alive nor stop poll from
/// blocking until a timer (Node's idle handle runs only for referenced
/// immediates), and run in the check phase after it.
#[test]
fn unrefd_immediates_let_poll_block() {
    let lp = Loop::new().unwrap();
    let ran: Rc<Cell<Option<Duration>>> = Rc::default();
    let started = std::time::Instant::now();
    let r = ran.clone();
    let im = lp.set_immediate(move |_| r.set(Some(started.elapsed())));
    im.unref();
    assert!(!lp.is_alive() && !im.has_ref());
    lp.run().unwrap();
    assert_eq!(ran.get(), None, "nothing held the loop: it did not turn");
    lp.set_timeout(ms(20), |_| {}).unwrap();
    lp.run().unwrap();
    let ran = ran.get().expect("the check phase ran the unref'd immediate");
    assert!(ran >= ms(19), "poll blocked until the timer, then the immediate ran: {ran:?}");
}

/// Node runs the timers of one duration started in one millisecond in one
/// pass. A loop that spins before its timers wakes at the first deadline
/// to the microsecond; before the fix it ran `t1` alone, then the
/// immediates, and `t2`, `t3` (0.3 and 0.6 ms later) on the next tick.
#[test]
fn equal_delay_timers_started_in_one_millisecond_fire_in_one_pass() {
    twin::check_on(
        "audit/equal_delay_same_ms",
        || Loop::builder().spin_before_timers(Duration::from_micros(300)).build(),
        |lp, out| {
            // The loop's clock counts from its creation: `now()` is that
            // instant until the first tick.
            let epoch = lp.now();
            let millis = |t: std::time::Instant| (t - epoch).as_millis();
            let mut tries = 1;
            loop {
                let before = millis(std::time::Instant::now());
                while millis(std::time::Instant::now()) == before {}
                let first = std::time::Instant::now();
                let timers: Vec<Timer> = ["t1", "t2", "t3"]
                    .into_iter()
                    .map(|name| {
                        let o = out.clone();
                        let t = lp
                            .set_timeout(ms(5), move |lp| {
                                o.log(name);
                                lp.next_tick(o.cb(&format!("{name}: tick")));
                                lp.set_immediate(o.cb(&format!("{name}: immediate")));
                            })
                            .unwrap();
                        if name != "t3" {
                            spin(Duration::from_micros(300));
                        }
                        t
                    })
                    .collect();
                if millis(first) == millis(std::time::Instant::now()) {
                    break;
                }
                timers.iter().for_each(Timer::clear);
                tries += 1;
                if tries == 50 {
                    break;
                }
            }
            out.log(if tries < 50 {
                "started in one millisecond"
            } else {
                "gave up: the machine is too busy"
            });
        },
    );
}
