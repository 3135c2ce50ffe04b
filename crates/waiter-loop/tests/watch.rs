//! Raw descriptor watches (libuv's `uv_poll_t`) on Unix socket pairs:
//! readable and writable callbacks, interest changes, stops inside a
//! callback, close callbacks, and the errors for bad descriptors.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use waiter_loop::{Backend, Interest, Loop, Readiness, Watch};

mod common;
use common::{assert_closed, guard};

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Reads until `WouldBlock`, as an edge-triggered watcher must; `None` at EOF.
fn drain(mut s: &UnixStream) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(out),
            Err(e) => panic!("read: {e}"),
        }
    }
}

type Slot = Rc<RefCell<Option<Watch>>>;

#[test]
fn watch_readable_callback_once_per_write() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let (a, b) = pair();
    let b = Rc::new(b);
    let got = Rc::new(RefCell::new(Vec::new()));
    let slot: Slot = Rc::default();
    let w = lp
        .watch(a.as_raw_fd(), Interest::READABLE, {
            let (got, slot, b) = (got.clone(), slot.clone(), b.clone());
            move |lp, ready| {
                assert!(ready.is_readable(), "{ready:?}");
                let data = drain(&a).expect("the peer is open");
                got.borrow_mut().push(String::from_utf8(data).unwrap());
                let n = got.borrow().len();
                if n == 3 {
                    slot.borrow_mut().take(); // stop watching
                } else {
                    let b = b.clone();
                    lp.set_timeout(Duration::from_millis(1), move |_| {
                        (&*b).write_all(format!("message {}", n + 1).as_bytes()).unwrap()
                    })
                    .unwrap();
                }
            }
        })
        .unwrap();
    *slot.borrow_mut() = Some(w);
    assert_eq!(lp.active_handles(), 1, "a started watch is a handle");
    (&*b).write_all(b"message 1").unwrap();
    lp.run().unwrap();
    assert_eq!(*got.borrow(), ["message 1", "message 2", "message 3"], "one callback per write");
    assert_closed(&lp);
}

#[test]
fn watch_set_interest_to_writable() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let (a, _b) = pair();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let slot: Slot = Rc::default();
    let w = lp
        .watch(a.as_raw_fd(), Interest::READABLE, {
            let (seen, slot) = (seen.clone(), slot.clone());
            move |_, ready| {
                seen.borrow_mut().push(ready);
                slot.borrow_mut().take();
            }
        })
        .unwrap();
    *slot.borrow_mut() = Some(w);
    lp.set_timeout(Duration::from_millis(10), {
        let (seen, slot) = (seen.clone(), slot.clone());
        move |_| {
            assert!(seen.borrow().is_empty(), "nothing to read, yet the watch fired: {:?}", seen.borrow());
            slot.borrow().as_ref().unwrap().set_interest(Interest::WRITABLE).unwrap();
        }
    })
    .unwrap();
    lp.run().unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].is_writable() && !seen[0].is_readable(), "{:?}", seen[0]);
    assert_closed(&lp);
}

#[test]
fn watch_set_interest_on_a_stopped_watch_is_an_error() {
    let lp = Loop::new().unwrap();
    let (a, _b) = pair();
    let w = lp.watch(a.as_raw_fd(), Interest::READABLE, |_, _| {}).unwrap();
    w.stop();
    assert!(!w.is_active());
    assert_eq!(w.set_interest(Interest::BOTH).unwrap_err().kind(), io::ErrorKind::NotFound);
    w.stop();
    assert_closed(&lp);
}

#[test]
fn watch_stop_inside_a_callback_drops_later_events_of_the_same_pass() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let (a1, b1) = pair();
    let (a2, b2) = pair();
    let (idle, _idle_peer) = pair();
    let idle = Rc::new(idle);
    let ran = Rc::new(RefCell::new(Vec::new()));
    let watches: Rc<RefCell<Vec<Option<Watch>>>> = Rc::new(RefCell::new(vec![None, None]));
    let reused: Slot = Rc::default();
    for (i, a) in [a1, a2].into_iter().enumerate() {
        let (ran, ws, reused, idle) = (ran.clone(), watches.clone(), reused.clone(), idle.clone());
        let w = lp
            .watch(a.as_raw_fd(), Interest::READABLE, move |lp, _| {
                let _keep_open = &a;
                ran.borrow_mut().push(i);
                // Stop the other watch (its event is already fetched), then
                // start a new one, which may take over the stopped one's slot.
                let other = ws.borrow_mut()[1 - i].take();
                drop(other);
                let w = lp
                    .watch(idle.as_raw_fd(), Interest::READABLE, |_, ready| {
                        panic!("a stale event reached a new watch: {ready:?}")
                    })
                    .unwrap();
                w.unref();
                *reused.borrow_mut() = Some(w);
                ws.borrow_mut()[i].take();
            })
            .unwrap();
        watches.borrow_mut()[i] = Some(w);
    }
    // Both readable before the first poll: both events come back in one pass.
    (&b1).write_all(b"x").unwrap();
    (&b2).write_all(b"y").unwrap();
    lp.run().unwrap();
    assert_eq!(ran.borrow().len(), 1, "the stopped watch's event was delivered: {:?}", ran.borrow());
    assert!(reused.borrow().as_ref().unwrap().is_active());
    reused.borrow_mut().take();
    assert_eq!(lp.metrics().iterations, 1);
    assert_closed(&lp);
}

/// Whether `err` is the OS error `code`, as a raw errno or in its message
/// (`watch_errors_carry_the_os_error_code` checks the raw errno itself).
fn is_os_error(err: &io::Error, code: i32) -> bool {
    err.raw_os_error() == Some(code)
        || err.to_string().contains(&io::Error::from_raw_os_error(code).to_string())
}

#[test]
fn watch_a_closed_descriptor_is_an_error() {
    let lp = Loop::new().unwrap();
    let err = lp.watch(999_999, Interest::READABLE, |_, _| unreachable!()).unwrap_err();
    assert!(is_os_error(&err, libc::EBADF), "{err}");
    let (a, _b) = UnixStream::pair().unwrap();
    let fd = a.into_raw_fd();
    // SAFETY: `fd` came from into_raw_fd and is closed exactly once, here.
    assert_eq!(unsafe { libc::close(fd) }, 0);
    let err = lp.watch(fd, Interest::READABLE, |_, _| unreachable!()).unwrap_err();
    assert!(is_os_error(&err, libc::EBADF), "{err}");
    let err = lp.watch(-1, Interest::WRITABLE, |_, _| unreachable!()).unwrap_err();
    assert!(is_os_error(&err, libc::EBADF), "{err}");
    assert_closed(&lp);
}

#[test]
fn watch_the_same_descriptor_twice_is_eexist() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let (a, b) = pair();
    let hits = Rc::new(Cell::new(0));
    let slot: Slot = Rc::default();
    let first = lp
        .watch(a.as_raw_fd(), Interest::READABLE, {
            let (hits, slot) = (hits.clone(), slot.clone());
            move |_, _| {
                hits.set(hits.get() + 1);
                slot.borrow_mut().take();
            }
        })
        .unwrap();
    let err =
        lp.watch(a.as_raw_fd(), Interest::WRITABLE, |_, _| panic!("the refused watch ran")).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
    assert_eq!(lp.active_handles(), 1, "the refused watch holds nothing");
    *slot.borrow_mut() = Some(first);
    (&b).write_all(b"still works").unwrap();
    lp.run().unwrap();
    assert_eq!(hits.get(), 1);
    // Once stopped, the descriptor may be watched again.
    let again = lp.watch(a.as_raw_fd(), Interest::READABLE, |_, _| {}).unwrap();
    drop(again);
    assert_closed(&lp);
}

#[test]
fn watch_close_runs_its_callback_in_the_close_phase() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let (a, b) = pair();
    let log = Rc::new(RefCell::new(Vec::new()));
    let slot: Slot = Rc::default();
    let w = lp
        .watch(a.as_raw_fd(), Interest::READABLE, {
            let (log, slot) = (log.clone(), slot.clone());
            move |lp, _| {
                drain(&a);
                log.borrow_mut().push(("readable", lp.metrics().iterations));
                let l = log.clone();
                lp.set_immediate(move |lp| l.borrow_mut().push(("immediate", lp.metrics().iterations)));
                let w = slot.borrow_mut().take().unwrap();
                assert!(w.is_active());
                let l = log.clone();
                w.close(move |lp| l.borrow_mut().push(("closed", lp.metrics().iterations)));
            }
        })
        .unwrap();
    *slot.borrow_mut() = Some(w);
    (&b).write_all(b"bye").unwrap();
    lp.run().unwrap();
    assert_eq!(*log.borrow(), [("readable", 0), ("immediate", 0), ("closed", 0)]);
    assert_closed(&lp);
}

#[test]
fn watch_unrefd_does_not_hold_the_loop() {
    let lp = Loop::new().unwrap();
    let (a, _b) = pair();
    let w = lp.watch(a.as_raw_fd(), Interest::READABLE, |_, _| panic!("nothing to read")).unwrap();
    w.unref();
    assert_eq!(lp.active_handles(), 0);
    let started = std::time::Instant::now();
    lp.run().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(w.is_active());
    w.ref_();
    assert_eq!(lp.active_handles(), 1);
    drop(w);
    assert_closed(&lp);
}

#[test]
fn watch_peer_hang_up_is_reported() {
    let lp = Loop::new().unwrap();
    let _guard = guard(&lp);
    let (a, b) = pair();
    type Seen = Rc<RefCell<Vec<(Readiness, Option<Vec<u8>>)>>>;
    let seen: Seen = Rc::default();
    let slot: Slot = Rc::default();
    let w = lp
        .watch(a.as_raw_fd(), Interest::READABLE, {
            let (seen, slot) = (seen.clone(), slot.clone());
            move |_, ready| {
                seen.borrow_mut().push((ready, drain(&a)));
                slot.borrow_mut().take();
            }
        })
        .unwrap();
    *slot.borrow_mut() = Some(w);
    lp.set_timeout(Duration::from_millis(5), move |_| drop(b)).unwrap();
    lp.run().unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].0.is_hup() && seen[0].0.is_readable(), "{:?}", seen[0].0);
    assert_eq!(seen[0].1, None, "a read after the hang-up is EOF");
    assert_closed(&lp);
}

#[test]
fn watch_a_regular_file_depends_on_the_backend() {
    // epoll cannot watch regular files (EPERM); poll(2) reports them always ready.
    let lp = Loop::new().unwrap();
    let file = File::open(std::env::current_exe().unwrap()).unwrap();
    let result = lp.watch(file.as_raw_fd(), Interest::READABLE, |_, _| {});
    match lp.backend() {
        Backend::Epoll => assert_eq!(result.unwrap_err().kind(), io::ErrorKind::PermissionDenied),
        Backend::Poll => drop(result.unwrap()),
    }
    assert_closed(&lp);
}

#[test]
fn watch_errors_carry_the_os_error_code() {
    // `Loop::watch` documents its errors as errno values (EBADF, EEXIST,
    // EPERM), so callers may match on `raw_os_error()`, as they can for a
    // std socket's errors.
    let lp = Loop::new().unwrap();
    let (a, _b) = pair();
    let err = lp.watch(999_999, Interest::READABLE, |_, _| {}).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
    let first = lp.watch(a.as_raw_fd(), Interest::READABLE, |_, _| {}).unwrap();
    let err = lp.watch(a.as_raw_fd(), Interest::READABLE, |_, _| {}).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EEXIST), "{err}");
    drop(first);
    if lp.backend() == Backend::Epoll {
        let file = File::open(std::env::current_exe().unwrap()).unwrap();
        let err = lp.watch(file.as_raw_fd(), Interest::READABLE, |_, _| {}).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    }
    assert_closed(&lp);
}
