//! UDP on 127.0.0.1: `send_to`/`recv_from`, a receive that waits for a late
//! datagram, connected `send`/`recv`, ICMP "port unreachable" surfacing
//! as `ConnectionRefused` on a connected socket, and the callback form
//! (`recv_start`).

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use waiter_loop::net::UdpSocket;
use waiter_loop::Loop;

mod common;

fn run<F: Future>(lp: &Loop, f: F) -> F::Output {
    common::run_within(lp, Duration::from_secs(10), f)
}

fn bind(lp: &Loop) -> UdpSocket {
    UdpSocket::bind(lp, "127.0.0.1:0".parse().unwrap()).unwrap()
}

#[test]
fn send_to_and_recv_from() {
    let lp = Loop::new().unwrap();
    let (a, b) = (bind(&lp), bind(&lp));
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    run(&lp, async {
        for msg in [&b"one"[..], b"two", b""] {
            assert_eq!(a.send_to(msg, b_addr).await.unwrap(), msg.len());
        }
        let mut buf = [0; 64];
        for msg in [&b"one"[..], b"two", b""] {
            let (n, from) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!((&buf[..n], from), (msg, a_addr), "datagrams keep their boundaries and order");
        }
        // A datagram longer than the buffer is truncated.
        a.send_to(b"0123456789", b_addr).await.unwrap();
        let (n, _) = b.recv_from(&mut buf[..4]).await.unwrap();
        assert_eq!(&buf[..n], b"0123");
    });
    assert_eq!(lp.active_handles(), 0);
}

#[test]
fn recv_waits_for_a_late_datagram() {
    let lp = Loop::new().unwrap();
    let (a, b) = (bind(&lp), bind(&lp));
    let b_addr = b.local_addr().unwrap();
    let started = Instant::now();
    let (got, waited) = run(&lp, async {
        waiter_loop::spawn(async move {
            waiter_loop::sleep(Duration::from_millis(50)).unwrap().await;
            a.send_to(b"late", b_addr).await.unwrap();
        });
        let mut buf = [0; 16];
        let (n, _) = b.recv_from(&mut buf).await.unwrap();
        (buf[..n].to_vec(), started.elapsed())
    });
    assert_eq!(got, b"late");
    assert!(waited >= Duration::from_millis(50), "received before it was sent: {waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

#[test]
fn connected_send_and_recv() {
    let lp = Loop::new().unwrap();
    let (a, b) = (bind(&lp), bind(&lp));
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    assert_eq!(a.peer_addr().unwrap_err().kind(), io::ErrorKind::NotConnected);
    a.connect(b_addr).unwrap();
    b.connect(a_addr).unwrap();
    assert_eq!(a.peer_addr().unwrap(), b_addr);
    run(&lp, async {
        assert_eq!(a.send(b"ping").await.unwrap(), 4);
        let mut buf = [0; 16];
        assert_eq!(b.recv(&mut buf).await.unwrap(), 4);
        assert_eq!(&buf[..4], b"ping");
        b.send(b"pong").await.unwrap();
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"pong");
    });
}

#[test]
fn port_unreachable_is_connection_refused() {
    let lp = Loop::new().unwrap();
    let a = bind(&lp);
    let gone = bind(&lp).local_addr().unwrap(); // bound and dropped: nothing listens there now
    a.connect(gone).unwrap();
    let err = run(&lp, async {
        a.send(b"anyone?").await.unwrap();
        a.recv(&mut [0; 16]).await.unwrap_err()
    });
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert!(err.to_string().starts_with("recv (fd "), "context: {err}");
    assert_eq!(lp.active_handles(), 0);
}

#[test]
fn recv_start_calls_back_per_datagram_until_stopped() {
    let lp = Loop::new().unwrap();
    let _guard = common::guard(&lp);
    let server = Rc::new(bind(&lp));
    let client = bind(&lp);
    let (server_addr, client_addr) = (server.local_addr().unwrap(), client.local_addr().unwrap());
    type Seen = Vec<io::Result<(Vec<u8>, SocketAddr)>>;
    let seen: Rc<RefCell<Seen>> = Rc::default();
    let log = seen.clone();
    let receiving = server
        .recv_start(move |lp, got| {
            assert!(Loop::current().is_some() && lp.active_handles() > 0, "a callback runs on the loop");
            log.borrow_mut().push(got.map(|(bytes, from)| (bytes.to_vec(), from)));
        })
        .unwrap();
    assert!(receiving.is_active());
    run(&lp, async {
        for msg in [&b"one"[..], b"", b"three"] {
            client.send_to(msg, server_addr).await.unwrap();
        }
        while seen.borrow().len() < 3 {
            waiter_loop::sleep(Duration::from_millis(1)).unwrap().await;
        }
    });
    let got: Vec<_> = seen.borrow_mut().drain(..).map(Result::unwrap).collect();
    let want: Vec<(Vec<u8>, SocketAddr)> =
        [&b"one"[..], b"", b"three"].iter().map(|m| (m.to_vec(), client_addr)).collect();
    assert_eq!(got, want, "one call per datagram, boundaries and order kept");
    assert_eq!(lp.active_handles(), 1, "waiting for the next datagram holds the loop");
    // Stopped, it calls no more, and no longer holds the loop.
    receiving.stop();
    assert!(!receiving.is_active());
    run(&lp, async {
        client.send_to(b"after stop", server_addr).await.unwrap();
        waiter_loop::sleep(Duration::from_millis(20)).unwrap().await;
    });
    lp.run().unwrap();
    assert!(seen.borrow().is_empty(), "a callback after stop: {:?}", seen.borrow());
    assert_eq!(lp.active_handles(), 0);
    assert!(!lp.is_alive());
}

#[test]
fn recv_start_goes_on_after_port_unreachable() {
    let lp = Loop::new().unwrap();
    let _guard = common::guard(&lp);
    let peer = bind(&lp);
    let a = Rc::new(bind(&lp));
    let gone = bind(&lp).local_addr().unwrap();
    a.connect(gone).unwrap();
    let seen: Rc<RefCell<Vec<io::Result<Vec<u8>>>>> = Rc::default();
    let log = seen.clone();
    let receiving =
        a.clone().recv_start(move |_, got| log.borrow_mut().push(got.map(|(b, _)| b.to_vec()))).unwrap();
    run(&lp, async {
        a.send(b"anyone?").await.unwrap();
        while seen.borrow().is_empty() {
            waiter_loop::sleep(Duration::from_millis(1)).unwrap().await;
        }
        // Still receiving: reconnect to a live peer and hear from it.
        a.connect(peer.local_addr().unwrap()).unwrap();
        peer.send_to(b"here", a.local_addr().unwrap()).await.unwrap();
        while seen.borrow().len() < 2 {
            waiter_loop::sleep(Duration::from_millis(1)).unwrap().await;
        }
    });
    let seen = seen.borrow();
    let err = seen[0].as_ref().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(seen[1].as_ref().unwrap(), b"here");
    assert!(receiving.is_active());
    drop(receiving);
    lp.run().unwrap();
    assert_eq!(lp.active_handles(), 0);
}
