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
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use waiter_loop::{yield_now, Immediate, Interest, Loop, Signal, SignalWatch, Timer, Watch};

mod common;
use common::{spin, wait_until};

/// Longer than any of these programs takes; a hung loop fails at this.
const LIMIT: Duration = Duration::from_secs(20);

/// The lines a twin prints, in order (its `console.log`).
#[derive(Clone, Default)]
struct Lines(Rc<RefCell<Vec<String>>>);

impl Lines {
    fn log(&self, line: impl Into<String>) {
        self.0.borrow_mut().push(line.into());
    }

    fn cb(&self, line: &str) -> impl FnOnce(&Loop) + 'static {
        let (out, line) = (self.clone(), line.to_string());
        move |_| out.log(line)
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

/// What a loop left behind once it ended.
#[derive(Debug)]
struct Ended {
    lines: Vec<String>,
    active_handles: usize,
    tasks: usize,
    alive: bool,
}

/// Builds a loop with `build` on a thread of its own, runs it to its end,
/// catching each panic out of `run` as the line `uncaught: MESSAGE` and
/// running again (Node with an `'uncaughtException'` handler), then logs
/// `exit`. Fails if that takes longer than [`LIMIT`].
fn run_catching(name: &str, build: fn(&Loop, &Lines)) -> Ended {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let lp = Loop::new().expect("a loop (does WAITER_BACKEND name a backend?)");
            let out = Lines::default();
            build(&lp, &out);
            loop {
                match catch_unwind(AssertUnwindSafe(|| lp.run())) {
                    Ok(ran) => break ran.expect("the loop runs"),
                    Err(panic) => out.log(format!("uncaught: {}", message(&*panic))),
                }
            }
            out.log("exit");
            let _ = tx.send(Ended {
                lines: out.take(),
                active_handles: lp.active_handles(),
                tasks: lp.task_count(),
                alive: lp.is_alive(),
            });
        })
        .expect("spawning the loop's thread");
    rx.recv_timeout(LIMIT).unwrap_or_else(|e| panic!("{name}: the loop did not end within {LIMIT:?} ({e})"))
}

fn message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".to_string())
}

/// Runs `node tests/js/audit/NAME.js` and returns its stdout's lines.
fn node_lines(name: &str) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js/audit").join(format!("{name}.js"));
    let out = Command::new("timeout")
        .arg("30")
        .arg("node")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("running `node {}` (Node.js is the oracle): {e}", path.display()));
    assert!(
        out.status.success(),
        "`node {}` failed ({}): {}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("node prints UTF-8").lines().map(str::to_string).collect()
}

/// The twin prints what `tests/js/audit/NAME.js` prints under node, and its
/// loop ends with nothing left.
fn check_against_node(name: &str, build: fn(&Loop, &Lines)) {
    let node = node_lines(name);
    let ended = run_catching(name, build);
    assert_eq!(ended.lines, node, "{name}: waiter (right) differs from node (left)");
    assert_closed(name, &ended);
}

fn assert_closed(name: &str, ended: &Ended) {
    assert_eq!(ended.active_handles, 0, "{name}: live handles left: {ended:?}");
    assert_eq!(ended.tasks, 0, "{name}: tasks left: {ended:?}");
    assert!(!ended.alive, "{name}: the loop is still alive: {ended:?}");
}

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
    check_against_node("interval_throws", |lp, out| {
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
    check_against_node("data_throws", |lp, out| {
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
    check_against_node("completion_throws", |lp, out| {
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
    let ended = run_catching("close", |lp, out| {
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
    assert_closed("close", &ended);
}

/// Two descriptors ready in one poll, the first callback panics. Before the
/// fix the second's event was dropped with the rest of the event list;
/// under epoll an edge is reported once, so it never ran (the test timed out).
#[test]
fn events_fetched_after_a_panicking_callback_are_still_dispatched() {
    let ended = run_catching("events", |lp, out| {
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
    assert_closed("events", &ended);
}

/// Before the fix a signal handler that panicked lost its callback and held
/// the loop forever, deaf to the next signal.
#[test]
fn a_signal_handler_that_panics_hears_the_next_signal() {
    let ended = run_catching("signal", |lp, out| {
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
    assert_closed("signal", &ended);
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
    let node = node_lines("await_throwing");
    assert_eq!(node, ["awaiter got: boom", "exit"], "node's oracle");
    let ended = run_catching("task", |lp, out| {
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
    assert_closed("task", &ended);
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
    check_against_node("cleared_immediate_liveness", |lp, out| {
        lp.set_timeout(ms(1), out.cb("unref timer: must not fire")).unwrap().unref();
        let immediate = lp.set_immediate(out.cb("cleared immediate: must not run"));
        assert!(lp.is_alive());
        immediate.clear();
        assert!(!lp.is_alive(), "only an unref'd timer and a cleared immediate are left");
        spin(ms(5));
        out.log("main end");
    });
}
