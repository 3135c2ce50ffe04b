//! A peer that resets the connection mid-stream gives an `io::Error` (with
//! context) to whoever reads or writes next, never a panic or a hang; a peer
//! that shuts down its writing side gives reads of 0 (end-of-stream).
//!
//! A close with unread data in the receive buffer sends RST instead of FIN
//! (RFC 2525 §2.17), which is how these tests reset a connection.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::rc::Rc;
use std::time::Duration;

use waiter_loop::net::TcpStream;
use waiter_loop::Loop;

mod common;
use common::tcp_pair as pair;

fn run<F: Future>(lp: &Loop, f: F) -> F::Output {
    common::run_within(lp, Duration::from_secs(20), f)
}

/// Makes `b` reset the connection: it closes with data of `a`'s unread.
async fn reset_by(a: &TcpStream, b: TcpStream) {
    a.write_all(b"never read").await.unwrap();
    // Let the bytes land in b's receive buffer before b closes.
    waiter_loop::sleep(Duration::from_millis(10)).unwrap().await;
    drop(b);
}

fn is_reset_or_pipe(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe)
}

#[test]
fn reset_while_reading_is_an_error() {
    let lp = Loop::new().unwrap();
    run(&lp, async {
        let (a, b) = pair(&lp).await;
        b.write_all(b"hello").await.unwrap();
        let mut buf = [0; 16];
        assert_eq!(a.read(&mut buf).await.unwrap(), 5);
        let a = Rc::new(a);
        let pending_read = {
            let a = a.clone();
            waiter_loop::spawn(async move { a.read(&mut [0; 16]).await })
        };
        reset_by(&a, b).await;
        let err = pending_read.await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        assert!(err.to_string().starts_with("read (fd "), "context: {err}");
        // Afterwards the connection is dead, not a source of panics.
        let err = a.write(b"x").await.unwrap_err();
        assert!(is_reset_or_pipe(&err), "{err}");
        assert!(err.to_string().starts_with("write (fd "), "context: {err}");
        assert_eq!(a.read(&mut buf).await.unwrap(), 0);
    });
    assert_eq!(lp.active_handles(), 0);
}

#[test]
fn reset_while_writing_is_an_error() {
    let lp = Loop::new().unwrap();
    run(&lp, async {
        let (a, b) = pair(&lp).await;
        let a = Rc::new(a);
        let writer = {
            let a = a.clone();
            // Far more than the socket buffers hold: the writer parks until the reset.
            waiter_loop::spawn(async move { a.write_all(&vec![7; 64 * 1024 * 1024]).await })
        };
        let mut buf = [0; 1024];
        assert!(b.read(&mut buf).await.unwrap() > 0);
        drop(b);
        let err = writer.await.unwrap_err();
        assert!(is_reset_or_pipe(&err), "{err}");
        assert!(err.to_string().starts_with("write (fd "), "context: {err}");
    });
    assert_eq!(lp.active_handles(), 0);
}

#[test]
fn reset_reaches_read_start_as_an_error() {
    let lp = Loop::new().unwrap();
    let seen: Rc<RefCell<Vec<io::Result<Vec<u8>>>>> = Rc::default();
    let log = seen.clone();
    run(&lp, async {
        let (a, b) = pair(&lp).await;
        let a = Rc::new(a);
        let reading =
            a.clone().read_start(move |_lp, data| log.borrow_mut().push(data.map(<[u8]>::to_vec))).unwrap();
        b.write_all(b"data").await.unwrap();
        while seen.borrow().is_empty() {
            waiter_loop::sleep(Duration::from_millis(1)).unwrap().await;
        }
        reset_by(&a, b).await;
        while reading.is_active() {
            waiter_loop::sleep(Duration::from_millis(1)).unwrap().await;
        }
    });
    let seen = seen.borrow();
    assert_eq!(seen.len(), 2, "one chunk, then the error, then nothing: {seen:?}");
    assert_eq!(seen[0].as_ref().unwrap(), b"data");
    assert_eq!(seen[1].as_ref().unwrap_err().kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(lp.task_count(), 0);
}

#[test]
fn fin_reads_as_zero() {
    let lp = Loop::new().unwrap();
    run(&lp, async {
        let (a, b) = pair(&lp).await;
        b.write_all(b"last words").await.unwrap();
        b.shutdown(Shutdown::Write).unwrap();
        let mut buf = [0; 64];
        let mut got = Vec::new();
        loop {
            match a.read(&mut buf).await.unwrap() {
                0 => break,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
        assert_eq!(got, b"last words");
        assert_eq!(a.read(&mut buf).await.unwrap(), 0, "end-of-stream stays end-of-stream");
        // Half-closed: the other direction still works.
        a.write_all(b"reply").await.unwrap();
        let n = b.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"reply");
    });
    assert_eq!(lp.active_handles(), 0);
}
