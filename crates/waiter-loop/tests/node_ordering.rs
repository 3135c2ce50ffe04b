//! Callback ordering against Node.js: each program in `tests/js/` runs under
//! `node`, its twin is built here on a `Loop`, and both must print the same
//! lines in the same order.
//!
//! Node is the oracle, so `node` (v11 or later: immediates drain the queues
//! one by one) must be on `PATH`; without it every test fails, it never skips.
//! The twins run on the backend `WAITER_BACKEND` names (CI runs them twice:
//! epoll, then `WAITER_BACKEND=poll`).
//!
//! How a JS program translates, line by line:
//!
//! | Node                                   | twin                                      |
//! |----------------------------------------|-------------------------------------------|
//! | main script                            | the twin function, before `lp.run()`      |
//! | `process.nextTick(f)`                  | `lp.next_tick(f)`                         |
//! | `queueMicrotask(f)`, `promise.then(f)` | `lp.queue_microtask(f)`                   |
//! | `.then(f).then(g)`                     | `f` ends with `lp.queue_microtask(g)`     |
//! | `setImmediate(f)`, `clearImmediate`    | `lp.set_immediate(f)`, `Immediate::clear` |
//! | `setTimeout(f, ms)`, `setInterval`     | `lp.set_timeout`, `lp.set_interval`       |
//! | `fs.readFile(file, cb)`                | `lp.queue_work(read, done)`: poll phase   |
//! | a socket's `'connect'`                 | `lp.watch(fd, ..)` firing: poll phase     |
//! | a socket's `'close'` after `destroy()` | `Watch::close(f)`: close phase            |
//! | `queueMicrotask(async () => { .. })`   | `lp.spawn(async { .. })` (see below)      |
//! | `await` of a settled value             | `yield_now().await`                       |
//! | `process.on('exit', ..)`               | the line pushed after `lp.run()` returns  |
//!
//! Node runs an async function synchronously up to its first `await`; a
//! spawned task is first polled from the microtask queue, hence the
//! `queueMicrotask` wrapper on the JS side. Node's `await` of a settled
//! value costs one microtask hop while a Rust `.await` on a ready future
//! does not yield, hence `yield_now()`. A delay under 1 ms is 1 ms on both
//! sides (Node's rule, which `set_timeout` and `set_interval` follow), so
//! `setTimeout(f, 0)` translates as `set_timeout(Duration::ZERO, f)`. The
//! programs only use timer orders Node guarantees: a 1 ms timer against an
//! immediate queued from the main script is not one (the timer wins only if
//! the first tick starts a millisecond late), hence the programs that spin.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use waiter_loop::{yield_now, Immediate, Interest, Loop, Timer, Watch};

mod common;
use common::spin;
use common::twin::{check, script, Lines};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------------------
// The twins, each named after its program in tests/js/.
// ---------------------------------------------------------------------------

fn main_script(lp: &Loop, out: &Lines) {
    lp.set_immediate(out.cb("immediate 1"));
    lp.queue_microtask(out.cb("promise 1"));
    lp.next_tick(out.cb("tick 1"));
    lp.queue_microtask(out.cb("microtask 2"));
    lp.set_immediate(out.cb("immediate 2"));
    lp.next_tick(out.cb("tick 2"));
    lp.queue_microtask(out.cb("promise 3"));
    out.log("sync end");
}

fn io_immediate_before_timeout(lp: &Loop, out: &Lines) {
    let file = script("io_immediate_before_timeout");
    let o = out.clone();
    lp.queue_work(
        move || std::fs::read(file),
        move |lp, data| {
            let data = data.expect("the read job panicked").expect("reading the script");
            o.log(format!("read callback ({})", if data.is_empty() { "empty" } else { "non-empty" }));
            lp.set_timeout(Duration::ZERO, o.cb("timeout 0")).unwrap();
            lp.set_immediate(o.cb("immediate"));
            lp.queue_microtask(o.cb("promise"));
            lp.next_tick(o.cb("tick"));
        },
    )
    .unwrap();
    out.log("sync end");
}

fn check_drains_between_immediates(lp: &Loop, out: &Lines) {
    let o = out.clone();
    lp.set_immediate(move |lp| {
        o.log("immediate 1");
        lp.queue_microtask(o.cb("immediate 1: promise"));
        lp.next_tick(o.cb("immediate 1: tick"));
    });
    let o = out.clone();
    lp.set_immediate(move |lp| {
        o.log("immediate 2");
        let o = o.clone();
        lp.queue_microtask(move |lp| {
            o.log("immediate 2: microtask");
            lp.next_tick(o.cb("immediate 2: tick from microtask"));
        });
    });
    lp.set_immediate(out.cb("immediate 3"));
}

fn immediate_from_immediate(lp: &Loop, out: &Lines) {
    let o = out.clone();
    lp.set_immediate(move |lp| {
        o.log("immediate 1");
        lp.set_immediate(o.cb("immediate from immediate 1"));
        let o2 = o.clone();
        lp.queue_microtask(move |lp| {
            o2.log("microtask of immediate 1");
            lp.set_immediate(o2.cb("immediate from microtask"));
        });
        lp.set_timeout(Duration::ZERO, o.cb("timeout")).unwrap();
        // As the JS: the 1 ms timer is then certainly due at the next timers phase.
        spin(ms(3));
    });
    lp.set_immediate(out.cb("immediate 2"));
}

fn nest(lp: &Loop, out: &Lines, at: &'static str) {
    let o = out.clone();
    lp.next_tick(move |lp| {
        o.log(format!("{at}: tick A"));
        let o2 = o.clone();
        lp.queue_microtask(move |lp| {
            o2.log(format!("{at}: microtask from tick A"));
            let o3 = o2.clone();
            lp.next_tick(move |lp| {
                o3.log(format!("{at}: tick from microtask from tick A"));
                let o4 = o3.clone();
                lp.queue_microtask(move |lp| {
                    o4.log(format!("{at}: microtask from tick from microtask"));
                    lp.next_tick(o4.cb(&format!("{at}: tick, level 5")));
                });
            });
            lp.queue_microtask(o2.cb(&format!("{at}: microtask from microtask from tick A")));
        });
        lp.next_tick(o.cb(&format!("{at}: tick from tick A")));
    });
    let o = out.clone();
    lp.queue_microtask(move |lp| {
        o.log(format!("{at}: microtask B"));
        lp.next_tick(o.cb(&format!("{at}: tick from microtask B")));
        lp.queue_microtask(o.cb(&format!("{at}: microtask from microtask B")));
    });
}

fn nested_ticks_microtasks(lp: &Loop, out: &Lines) {
    nest(lp, out, "main");
    let o = out.clone();
    lp.set_immediate(move |lp| {
        o.log("immediate");
        nest(lp, &o, "immediate");
    });
    lp.set_immediate(out.cb("immediate 2"));
}

fn interval_three_runs(lp: &Loop, out: &Lines) {
    let interval: Rc<RefCell<Option<Timer>>> = Rc::default();
    let runs = Cell::new(0);
    let (o, slot) = (out.clone(), interval.clone());
    let timer = lp
        .set_interval(ms(1), move |lp| {
            runs.set(runs.get() + 1);
            let n = runs.get();
            o.log(format!("interval run {n}"));
            lp.next_tick(o.cb(&format!("tick after run {n}")));
            if n == 3 {
                slot.borrow().as_ref().expect("the interval was stored").clear();
                o.log("interval cleared");
            }
        })
        .unwrap();
    *interval.borrow_mut() = Some(timer);
}

fn cleared_timer(lp: &Loop, out: &Lines) {
    let never = lp.set_timeout(ms(2), out.cb("cleared in main: must not fire")).unwrap();
    never.clear();
    let second: Rc<RefCell<Option<Timer>>> = Rc::default();
    let (o, victim) = (out.clone(), second.clone());
    lp.set_timeout(ms(5), move |_| {
        o.log("timeout 1 clears timeout 2");
        victim.borrow().as_ref().expect("timeout 2 was stored").clear();
    })
    .unwrap();
    *second.borrow_mut() = Some(lp.set_timeout(ms(5), out.cb("timeout 2: must not fire")).unwrap());
    let o = out.clone();
    lp.set_timeout(ms(5), move |lp| {
        o.log("timeout 3");
        let victim: Rc<RefCell<Option<Immediate>>> = Rc::default();
        let (o2, slot) = (o.clone(), victim.clone());
        lp.set_immediate(move |_| {
            o2.log("immediate 1 clears immediate 2");
            slot.borrow().as_ref().expect("immediate 2 was stored").clear();
        });
        *victim.borrow_mut() = Some(lp.set_immediate(o.cb("immediate 2: must not fire")));
        lp.set_immediate(o.cb("immediate 3"));
    })
    .unwrap();
}

fn unref_timer(lp: &Loop, out: &Lines) {
    // 60 s: longer than TWIN_TIMEOUT, so a loop it held would fail the test.
    let long = lp.set_timeout(Duration::from_secs(60), out.cb("unref 60 s: must not fire")).unwrap();
    long.unref();
    out.log(format!("long hasRef: {}", long.has_ref()));
    lp.set_timeout(ms(1), out.cb("unref 1 ms fires while the loop lives")).unwrap().unref();
    lp.set_timeout(ms(20), out.cb("ref 20 ms")).unwrap();
    let back = lp.set_timeout(ms(30), out.cb("re-ref 30 ms fires")).unwrap();
    back.unref();
    back.ref_();
    out.log(format!("back hasRef: {}", back.has_ref()));
}

fn timer_order(lp: &Loop, out: &Lines) {
    for (delay, line) in [
        (20, "20 ms a"),
        (10, "10 ms a"),
        (20, "20 ms b"),
        (5, "5 ms a"),
        (10, "10 ms b"),
        (5, "5 ms b"),
        (20, "20 ms c"),
    ] {
        lp.set_timeout(ms(delay), out.cb(line)).unwrap();
    }
}

/// A socket pair whose first end is readable and non-blocking: the twin of a
/// TCP client whose connection has just been accepted.
fn readable_pair() -> (UnixStream, UnixStream) {
    let (ours, peer) = UnixStream::pair().expect("a socket pair");
    ours.set_nonblocking(true).unwrap();
    (&peer).write_all(b"x").unwrap();
    (ours, peer)
}

/// Reads `socket` until WouldBlock, as the edge-triggered contract asks.
fn drain(socket: &UnixStream) {
    let mut buf = [0u8; 16];
    loop {
        match (&*socket).read(&mut buf) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("reading the socket pair: {e}"),
        }
    }
}

/// The twin of a TCP client destroyed in its `'connect'` listener: one end
/// of a socket pair turns readable (poll phase), and its watch is closed
/// from that callback, so its close callback runs in the close phase.
fn close_after_immediates(lp: &Loop, out: &Lines) {
    let (ours, peer) = readable_pair();
    let fd = ours.as_raw_fd();
    let slot: Rc<RefCell<Option<Watch>>> = Rc::default();
    let sockets = Rc::new(RefCell::new(Some((ours, peer))));
    let (o, watch_slot) = (out.clone(), slot.clone());
    let watch = lp
        .watch(fd, Interest::READABLE, move |lp, _| {
            if let Some((ours, _)) = sockets.borrow().as_ref() {
                drain(ours);
            }
            o.log("connect (poll)");
            let o2 = o.clone();
            lp.set_immediate(move |lp| {
                o2.log("immediate (check)");
                lp.set_immediate(o2.cb("immediate from immediate (next check)"));
            });
            lp.next_tick(o.cb("tick after connect"));
            let watch = watch_slot.borrow_mut().take().expect("the watch was stored");
            let (o3, sockets) = (o.clone(), sockets.clone());
            watch.close(move |lp| {
                o3.log("close (closing)");
                lp.next_tick(o3.cb("tick after close"));
                // The descriptors outlive their watch (the "server.close()").
                drop(sockets.borrow_mut().take());
            });
            o.log("destroy called");
        })
        .expect("watching the socket pair");
    *slot.borrow_mut() = Some(watch);
}

fn async_await(lp: &Loop, out: &Lines) {
    out.log("main");
    let o = out.clone();
    drop(lp.spawn(async move {
        let lp = Loop::current().expect("a task runs on a loop");
        o.log("task: start");
        yield_now().await; // await null
        o.log("task: after await 1");
        lp.next_tick(o.cb("tick from task"));
        yield_now().await; // await null
        o.log("task: after await 2");
        let o2 = o.clone();
        // new Promise(resolve => queueMicrotask(() => { ..; resolve(42) }))
        let inner = lp.spawn(async move {
            o2.log("inner task: runs");
            42
        });
        let value = inner.await;
        o.log(format!("task: inner resolved to {value}"));
    }));
    lp.next_tick(out.cb("tick 1"));
    let o = out.clone();
    lp.queue_microtask(move |lp| {
        o.log("promise 1");
        lp.next_tick(o.cb("tick from promise 1"));
        lp.queue_microtask(o.cb("promise 1 then"));
    });
    lp.queue_microtask(out.cb("microtask 2"));
    out.log("main end");
}

fn timer_phase_drains(lp: &Loop, out: &Lines) {
    let o = out.clone();
    lp.set_timeout(ms(5), move |lp| {
        o.log("timeout 1");
        lp.queue_microtask(o.cb("timeout 1: promise"));
        lp.next_tick(o.cb("timeout 1: tick"));
    })
    .unwrap();
    let o = out.clone();
    lp.set_timeout(ms(5), move |lp| {
        o.log("timeout 2");
        lp.queue_microtask(o.cb("timeout 2: microtask"));
    })
    .unwrap();
    lp.set_timeout(ms(5), out.cb("timeout 3")).unwrap();
}

fn timer_immediate_vs_timeout(lp: &Loop, out: &Lines) {
    let o = out.clone();
    lp.set_timeout(ms(1), move |lp| {
        o.log("timeout");
        lp.set_timeout(Duration::ZERO, o.cb("timeout from timeout")).unwrap();
        lp.set_immediate(o.cb("immediate from timeout"));
        lp.next_tick(o.cb("tick from timeout"));
    })
    .unwrap();
}

fn async_sleep_between_timers(lp: &Loop, out: &Lines) {
    lp.set_timeout(ms(5), out.cb("timeout A")).unwrap();
    let o = out.clone();
    drop(lp.spawn(async move {
        o.log("task: sleeping");
        waiter_loop::sleep(ms(5)).expect("a valid delay").await;
        o.log("task: woke up");
        Loop::current().expect("a task runs on a loop").next_tick(o.cb("tick from task"));
    }));
    let o = out.clone();
    lp.queue_microtask(move |lp| {
        lp.set_timeout(ms(5), o.cb("timeout C")).unwrap();
    });
}

fn timer_refresh(lp: &Loop, out: &Lines) {
    lp.set_timeout(ms(50), out.cb("50 ms")).unwrap();
    let timeout = lp.set_timeout(ms(40), out.cb("40 ms timer, 40 ms after its refresh")).unwrap();
    let o = out.clone();
    lp.set_timeout(ms(20), move |_| {
        o.log("20 ms: refresh the 40 ms timer");
        assert!(timeout.refresh(), "the 40 ms timer was still pending");
    })
    .unwrap();
}

/// A promise resolved by hand (`new Promise(r => resolve = r)`): resolving
/// it wakes the task awaiting it, as a settling promise queues its reactions.
struct Deferred<T> {
    state: Rc<RefCell<(Option<T>, Option<Waker>)>>,
}

impl<T> Deferred<T> {
    fn new() -> Deferred<T> {
        Deferred { state: Rc::new(RefCell::new((None, None))) }
    }

    fn resolver(&self) -> impl FnOnce(T) {
        let state = self.state.clone();
        move |value| {
            let waker = {
                let mut s = state.borrow_mut();
                s.0 = Some(value);
                s.1.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

impl<T> Future for Deferred<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.state.borrow_mut();
        match s.0.take() {
            Some(value) => Poll::Ready(value),
            None => {
                s.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

fn promise_resolved_in_tick(lp: &Loop, out: &Lines) {
    let promise = Deferred::new();
    let resolve = Rc::new(Cell::new(Some(promise.resolver())));
    let o = out.clone();
    drop(lp.spawn(async move {
        o.log("task: waiting");
        let value: i32 = promise.await;
        o.log(format!("task: got {value}"));
        Loop::current().expect("a task runs on a loop").queue_microtask(o.cb("microtask from task"));
    }));
    let o = out.clone();
    lp.set_immediate(move |lp| {
        o.log("immediate 1");
        let o2 = o.clone();
        lp.next_tick(move |lp| {
            o2.log("tick: resolve(7)");
            resolve.take().expect("resolved once")(7);
            lp.next_tick(o2.cb("tick after resolve"));
        });
        lp.queue_microtask(o.cb("microtask of immediate 1"));
    });
    lp.set_immediate(out.cb("immediate 2"));
}

/// The twin of two TCP clients: two socket pairs, each watched; the second
/// callback to run (whichever fd the backend reports last) starts the
/// closing, since Node's order of the two 'connect' events is not fixed either.
fn close_from_close(lp: &Loop, out: &Lines) {
    let pairs = [readable_pair(), readable_pair()];
    let fds = [pairs[0].0.as_raw_fd(), pairs[1].0.as_raw_fd()];
    let pairs = Rc::new(pairs);
    let watches: Rc<RefCell<Vec<Watch>>> = Rc::default();
    let connected = Rc::new(Cell::new(0));
    for (i, fd) in fds.into_iter().enumerate() {
        let (o, all, open, connected) = (out.clone(), pairs.clone(), watches.clone(), connected.clone());
        let watch = lp
            .watch(fd, Interest::READABLE, move |lp, _| {
                drain(&all[i].0);
                connected.set(connected.get() + 1);
                if connected.get() != 2 {
                    return;
                }
                o.log("both connected (poll)");
                lp.set_immediate(o.cb("immediate (check)"));
                let first = open.borrow_mut().remove(0);
                let (o, watches, pairs) = (o.clone(), open.clone(), all.clone());
                first.close(move |lp| {
                    o.log("first close (closing)");
                    lp.set_immediate(o.cb("immediate from close (next check)"));
                    lp.next_tick(o.cb("tick from close"));
                    let second = watches.borrow_mut().remove(0);
                    let o2 = o.clone();
                    second.close(move |_| {
                        o2.log("second close (next closing)");
                        drop(pairs); // the descriptors outlive their watches
                    });
                    o.log("second destroy called");
                });
            })
            .expect("watching a socket pair");
        watches.borrow_mut().push(watch);
    }
}

fn timer_fresh_clock(lp: &Loop, out: &Lines) {
    let o = out.clone();
    lp.set_timeout(ms(40), move |lp| {
        o.log("timeout A");
        lp.set_immediate(o.cb("immediate from A"));
    })
    .unwrap();
    spin(ms(20));
    lp.set_timeout(ms(40), out.cb("timeout B, started 20 ms later")).unwrap();
}

fn interval_after_slow_callback(lp: &Loop, out: &Lines) {
    let o = out.clone();
    lp.set_timeout(ms(10), move |_| {
        o.log("slow 10 ms timeout");
        spin(ms(50));
    })
    .unwrap();
    let interval: Rc<RefCell<Option<Timer>>> = Rc::default();
    let runs = Cell::new(0);
    let (o, slot) = (out.clone(), interval.clone());
    let timer = lp
        .set_interval(ms(40), move |_| {
            runs.set(runs.get() + 1);
            o.log(format!("interval run {}", runs.get()));
            if runs.get() == 2 {
                slot.borrow().as_ref().expect("the interval was stored").clear();
            }
        })
        .unwrap();
    *interval.borrow_mut() = Some(timer);
    lp.set_timeout(ms(120), out.cb("120 ms timeout")).unwrap();
    spin(ms(50));
}

fn zero_timeout_is_one_ms(lp: &Loop, out: &Lines) {
    lp.set_timeout(ms(1), out.cb("timeout 1 ms, started first")).unwrap();
    lp.set_timeout(Duration::ZERO, out.cb("timeout 0 ms, started second")).unwrap();
    out.log("main end");
}

fn zero_timeout_from_io(lp: &Loop, out: &Lines) {
    let file = script("zero_timeout_from_io");
    let o = out.clone();
    lp.queue_work(
        move || std::fs::read(file),
        move |lp, data| {
            data.expect("the read job panicked").expect("reading the script");
            o.log("read callback");
            lp.set_timeout(ms(1), o.cb("timeout 1 ms, started first")).unwrap();
            lp.set_timeout(Duration::ZERO, o.cb("timeout 0 ms, started second")).unwrap();
            lp.set_immediate(o.cb("immediate"));
        },
    )
    .unwrap();
}

fn zero_interval(lp: &Loop, out: &Lines) {
    let start = Instant::now();
    let interval: Rc<RefCell<Option<Timer>>> = Rc::default();
    let runs = Cell::new(0);
    let (o, slot) = (out.clone(), interval.clone());
    let timer = lp
        .set_interval(Duration::ZERO, move |_| {
            runs.set(runs.get() + 1);
            let n = runs.get();
            o.log(format!("interval run {n}"));
            if n == 3 {
                slot.borrow().as_ref().expect("the interval was stored").clear();
                o.log(format!("three runs took at least 3 ms: {}", start.elapsed() >= ms(3)));
            }
        })
        .unwrap();
    *interval.borrow_mut() = Some(timer);
}

// ---------------------------------------------------------------------------
// One test per program, named after what it shows.
// ---------------------------------------------------------------------------

/// Declares one test per `test_name: program;` (the twin function and
/// `tests/js/PROGRAM.js` share the name) and the list of all programs.
macro_rules! node_twins {
    ($($test:ident: $program:ident;)*) => {
        $(
            #[test]
            fn $test() {
                check(stringify!($program), $program);
            }
        )*
        const PROGRAMS: &[&str] = &[$(stringify!($program)),*];
    };
}

node_twins! {
    async_tasks_interleave_with_ticks_and_microtasks: async_await;
    task_woken_by_timer_resumes_before_the_next_timer: async_sleep_between_timers;
    check_phase_drains_queues_between_immediates: check_drains_between_immediates;
    cleared_timers_and_immediates_never_fire: cleared_timer;
    close_callbacks_run_after_immediates_of_the_same_tick: close_after_immediates;
    handle_closed_from_close_callback_closes_next_tick: close_from_close;
    immediate_queued_in_check_phase_waits_a_tick: immediate_from_immediate;
    interval_reschedules_from_when_its_callback_starts: interval_after_slow_callback;
    interval_cleared_after_three_runs: interval_three_runs;
    io_callback_immediate_runs_before_zero_timeout: io_immediate_before_timeout;
    main_script_ticks_then_microtasks_then_immediates: main_script;
    nested_ticks_and_microtasks_drain_until_both_are_empty: nested_ticks_microtasks;
    task_resumes_one_microtask_after_its_promise_resolves: promise_resolved_in_tick;
    timer_deadline_is_taken_from_a_fresh_clock: timer_fresh_clock;
    timer_callback_immediate_runs_before_zero_timeout: timer_immediate_vs_timeout;
    timers_fire_in_deadline_then_creation_order: timer_order;
    timers_phase_drains_queues_between_timers: timer_phase_drains;
    refreshed_timer_restarts_from_now: timer_refresh;
    unref_timer_does_not_hold_the_loop: unref_timer;
    zero_interval_repeats_every_millisecond: zero_interval;
    zero_timeout_from_io_callback_is_a_one_ms_timer: zero_timeout_from_io;
    zero_timeout_runs_after_a_one_ms_timer_started_before_it: zero_timeout_is_one_ms;
}

/// Every program in `tests/js/` has a twin and a test, and every twin a program.
#[test]
fn every_js_program_has_a_twin() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let mut programs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(".js").map(str::to_string))
        // common.js holds the programs' shared helpers: it is no program itself.
        .filter(|program| program != "common")
        .collect();
    programs.sort();
    let mut twins: Vec<&str> = PROGRAMS.to_vec();
    twins.sort();
    assert_eq!(programs, twins, "tests/js/ and the twins in node_ordering.rs have drifted apart");
}
