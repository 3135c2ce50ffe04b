//! Run: `cargo run --example ordering` (its Node twin: `node examples/js/ordering.js`).
//!
//! The first seed's pseudocode made visible: the main script schedules one
//! callback of each kind — timer, pending (`defer`), I/O (a socket-pair watch
//! and a thread-pool job), immediate, close, next-tick, microtask — and each
//! prints the iteration it ran in (`lp.metrics().iterations`: the ticks
//! completed before it) and its phase. The phase column is this program's
//! own label, written into each callback: the loop does not expose its
//! current phase. Callbacks queued from a phase that has already begun wait
//! for the next iteration, which the lines of iteration 1 show.
//!
//! Add `WAITER_BACKEND=poll` to run on poll(2) (same order), or
//! `WAITER_TRACE=1` for one line per tick on stderr with each phase's count.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use waiter_loop::{Interest, Loop, Watch};

/// Prints the iteration, the phase and what ran.
fn say(lp: &Loop, phase: &str, what: &str) {
    println!("{:>9}  {:<8}  {what}", lp.metrics().iterations, phase);
}

fn main() -> io::Result<()> {
    let lp = Loop::new()?;
    println!("iteration  phase     callback (backend: {})", lp.backend());
    say(&lp, "main", "the main script schedules one callback of each kind");

    lp.set_timeout(Duration::ZERO, |lp| {
        say(lp, "timers", "set_timeout(0)");
        lp.next_tick(|lp| {
            say(lp, "timers", "  next_tick queued by the timer: runs before the next callback")
        });
    })?;

    lp.defer(|lp| say(lp, "pending", "defer"));

    // I/O: one end of a socket pair, readable before the loop starts.
    let (ours, peer) = UnixStream::pair()?;
    ours.set_nonblocking(true)?;
    (&peer).write_all(b"!")?;
    let fd = ours.as_raw_fd();
    let watch: std::rc::Rc<std::cell::RefCell<Option<Watch>>> = Default::default();
    let slot = watch.clone();
    *watch.borrow_mut() = Some(lp.watch(fd, Interest::READABLE, move |lp, _| {
        // Read until WouldBlock (or end of stream), as edge-triggered epoll asks.
        let mut buf = [0u8; 16];
        while (&ours).read(&mut buf).is_ok_and(|n| n > 0) {}
        say(lp, "poll", "watch: the socket pair is readable");
        lp.defer(|lp| say(lp, "pending", "defer from the poll phase: the next iteration's pending phase"));
        if let Some(w) = slot.borrow_mut().take() {
            w.close(|lp| say(lp, "closing", "Watch::close from the poll phase: its close callback"));
        }
    })?);

    lp.queue_work(
        || 6 * 7,
        |lp, answer| {
            let answer = answer.expect("the job does not panic");
            say(lp, "poll", &format!("queue_work done ({answer}): the iteration depends on the pool thread"));
        },
    )?;

    lp.set_immediate(|lp| {
        say(lp, "check", "set_immediate");
        lp.set_immediate(|lp| say(lp, "check", "set_immediate from an immediate: the next iteration"));
    });

    lp.on_close(|lp| {
        say(lp, "closing", "on_close");
        lp.on_close(|lp| say(lp, "closing", "on_close from a close callback: the next iteration"));
    });

    // Queued last, run first: they drain before the first tick begins.
    lp.queue_microtask(|lp| say(lp, "main", "queue_microtask: after every next-tick"));
    lp.next_tick(|lp| say(lp, "main", "next_tick: drained as soon as the main script ends"));

    // A zero delay is 1 ms, as in Node: spin 2 ms, as the JS twin does, so
    // the timer is due in the first timers phase.
    let until = Instant::now() + Duration::from_millis(2);
    while Instant::now() < until {}

    lp.run()?;
    drop(peer);
    say(&lp, "done", &format!("run() returned; live handles: {}", lp.active_handles()));
    Ok(())
}
