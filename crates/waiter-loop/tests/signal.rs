//! Signals through signalfd: callbacks once per signal, an async stream,
//! unref'd watches, uncatchable signals refused, and SIGPIPE ignored.
//!
//! Signals are raised with `raise(3)`, which targets the calling thread:
//! the loop's thread, where watching a signal has blocked it so it queues
//! for the signalfd. A process-directed `kill` could land on another thread
//! of the test harness, which does not block it.

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use waiter_loop::{Loop, Signal, SignalWatch};

mod common;
use common::{assert_closed, guard};

fn raise(sig: Signal) {
    // SAFETY: raise only sends a signal to this thread, which blocks it.
    let rc = unsafe { libc::raise(sig.number()) };
    assert_eq!(rc, 0, "raise({sig:?}): {}", io::Error::last_os_error());
}

#[test]
fn signal_callback_runs_once_per_signal() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let got = Rc::new(RefCell::new(Vec::new()));
    let watch: Rc<RefCell<Option<SignalWatch>>> = Rc::default();
    let w = lp
        .on_signal(Signal::USR1, {
            let (got, watch) = (got.clone(), watch.clone());
            move |lp, sig| {
                got.borrow_mut().push((sig, lp.metrics().iterations));
                if got.borrow().len() == 3 {
                    watch.borrow_mut().take(); // stop listening: the loop may end
                } else {
                    // The next one a tick later, so the two are not merged
                    // (standard signals do not queue).
                    lp.set_timeout(Duration::ZERO, |_| raise(Signal::USR1)).unwrap();
                }
            }
        })
        .unwrap();
    *watch.borrow_mut() = Some(w);
    assert_eq!(lp.active_handles(), 1, "a signal watch is a handle");
    lp.set_timeout(Duration::from_millis(5), |_| raise(Signal::USR1)).unwrap();
    lp.run().unwrap();
    let got = got.borrow();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|(sig, _)| *sig == Signal::USR1));
    assert!(got.windows(2).all(|w| w[0].1 < w[1].1), "one per tick: {got:?}");
    assert_closed(&lp);
}

#[test]
fn signal_every_listener_hears_it() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let (a, b) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let wa = lp.on_signal(Signal::USR2, {
        let a = a.clone();
        move |_, _| a.set(a.get() + 1)
    });
    let wb = lp.on_signal(Signal::USR2, {
        let b = b.clone();
        move |_, _| b.set(b.get() + 1)
    });
    let watches = Rc::new(RefCell::new(vec![wa.unwrap(), wb.unwrap()]));
    lp.set_timeout(Duration::from_millis(1), |_| raise(Signal::USR2)).unwrap();
    lp.set_timeout(Duration::from_millis(50), move |_| watches.borrow_mut().clear()).unwrap();
    lp.run().unwrap();
    assert_eq!((a.get(), b.get()), (1, 1));
    assert_closed(&lp);
}

#[test]
fn signal_stream_receives_signals_in_order() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let got = lp.block_on(async {
        let mut signals = lp.signals(&[Signal::USR1, Signal::USR2]).unwrap();
        raise(Signal::USR2);
        let first = signals.recv().await;
        raise(Signal::USR1);
        let second = signals.recv().await;
        // From a callback this time, while the stream's task is parked.
        lp.set_timeout(Duration::from_millis(5), |_| raise(Signal::USR2)).unwrap();
        let third = signals.recv().await;
        [first, second, third]
    });
    assert_eq!(got, [Signal::USR2, Signal::USR1, Signal::USR2]);
    assert_closed(&lp);
}

#[test]
fn signal_int_term_and_hup_each_reach_their_own_callback() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let heard = Rc::new(RefCell::new(Vec::new()));
    let watches: Vec<SignalWatch> = [Signal::INT, Signal::TERM, Signal::HUP]
        .into_iter()
        .map(|sig| {
            let heard = heard.clone();
            lp.on_signal(sig, move |lp, got| {
                heard.borrow_mut().push((sig, got));
                if heard.borrow().len() == 3 {
                    lp.stop();
                }
            })
            .unwrap()
        })
        .collect();
    // The default action of each would end the process: only the signalfd
    // stands between these raises and the test's death.
    lp.set_timeout(Duration::from_millis(1), |_| {
        raise(Signal::TERM);
        raise(Signal::INT);
        raise(Signal::HUP);
    })
    .unwrap();
    lp.run().unwrap();
    // Pending together, they are read from the signalfd lowest number first.
    assert_eq!(
        *heard.borrow(),
        [(Signal::HUP, Signal::HUP), (Signal::INT, Signal::INT), (Signal::TERM, Signal::TERM)]
    );
    drop(watches);
    lp.run().unwrap();
    assert_closed(&lp);
}

#[test]
fn signal_unrefd_watch_does_not_hold_the_loop() {
    let lp = Loop::new().unwrap();
    let fired = Rc::new(Cell::new(0));
    let w = lp
        .on_signal(Signal::HUP, {
            let fired = fired.clone();
            move |_, _| fired.set(fired.get() + 1)
        })
        .unwrap();
    assert_eq!(lp.active_handles(), 1);
    w.unref();
    assert_eq!(lp.active_handles(), 0);
    let started = std::time::Instant::now();
    lp.run().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(fired.get(), 0);
    // Unref'd, it still hears signals while something else runs the loop.
    lp.set_timeout(Duration::from_millis(1), |_| raise(Signal::HUP)).unwrap();
    lp.set_timeout(Duration::from_millis(30), |_| {}).unwrap();
    lp.run().unwrap();
    assert_eq!(fired.get(), 1);
    w.ref_();
    assert_eq!(lp.active_handles(), 1);
    drop(w);
    let stream = lp.signals(&[Signal::WINCH]).unwrap();
    stream.unref();
    assert_closed(&lp);
    drop(stream);
    assert_closed(&lp);
}

#[test]
fn signal_kill_and_stop_cannot_be_caught() {
    for signo in [libc::SIGKILL, libc::SIGSTOP] {
        let err = Signal::from_number(signo).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    }
    for signo in [0, -1, 65, 1_000] {
        let err = Signal::from_number(signo).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{signo}: {err}");
    }
    let term = Signal::from_number(libc::SIGTERM).unwrap();
    assert_eq!(term, Signal::TERM);
    assert_eq!(term.name(), "SIGTERM");
    let lp = Loop::new().unwrap();
    assert_closed(&lp);
}

#[test]
fn signal_sigpipe_is_an_epipe_error_not_a_death() {
    // Rust's runtime already ignores SIGPIPE in `main`; put the default
    // (terminate) back, so only the loop can be what saves the process.
    // SAFETY: installing SIG_DFL involves no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let lp = Loop::new().unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    drop(b);
    let result = Rc::new(RefCell::new(None));
    lp.set_immediate({
        let result = result.clone();
        move |_| {
            let buf = b"into the void";
            // SAFETY: `a` is open; `buf` is a live slice of `buf.len()` bytes.
            let n = unsafe { libc::write(a.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
            let err = io::Error::last_os_error();
            let again = (&a).write(buf).unwrap_err();
            *result.borrow_mut() = Some((n, err.raw_os_error(), again.kind()));
        }
    });
    lp.run().unwrap();
    let (n, errno, again) = result.borrow_mut().take().expect("the write ran");
    assert_eq!(n, -1);
    assert_eq!(errno, Some(libc::EPIPE));
    assert_eq!(again, io::ErrorKind::BrokenPipe);
    assert_closed(&lp);
}
