//! TCP echo on 127.0.0.1: async accept, read and write with exact byte
//! counts, the callback forms (`listen`, `read_start`), and the
//! one-reader-at-a-time rule.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use waiter_loop::net::{TcpListener, TcpStream};
use waiter_loop::Loop;

mod common;

const CLIENTS: usize = 8;
/// Larger than a loopback socket's buffers, so writes must wait for the reader.
const BYTES: usize = 512 * 1024;

fn run<F: Future>(lp: &Loop, f: F) -> F::Output {
    common::run_within(lp, Duration::from_secs(20), f)
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn pattern(seed: usize) -> Vec<u8> {
    (0..BYTES).map(|i| (i * 31 + seed * 7) as u8).collect()
}

/// Echoes until end-of-stream and returns how many bytes went back.
async fn echo(conn: TcpStream) -> usize {
    let mut buf = vec![0; 16 * 1024];
    let mut total = 0;
    loop {
        let n = conn.read(&mut buf).await.unwrap();
        if n == 0 {
            return total;
        }
        conn.write_all(&buf[..n]).await.unwrap();
        total += n;
    }
}

/// Sends a pattern from one task while reading the echo in this one (the
/// stream shared through an `Rc`), and returns what came back.
async fn client(addr: SocketAddr, seed: usize) -> Vec<u8> {
    let lp = Loop::current().unwrap();
    let stream = Rc::new(TcpStream::connect(&lp, addr).await.unwrap());
    assert_eq!(stream.peer_addr().unwrap(), addr);
    let writer = {
        let stream = stream.clone();
        lp.spawn(async move {
            stream.write_all(&pattern(seed)).await.unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut got = Vec::new();
    let mut buf = vec![0; 8 * 1024];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    writer.await;
    got
}

#[test]
fn tcp_echo() {
    let lp = Loop::new().unwrap();
    let listener = TcpListener::bind(&lp, localhost()).unwrap();
    let addr = listener.local_addr().unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    let echoed = Rc::new(Cell::new(0));
    let total = echoed.clone();
    run(&lp, async {
        let server = lp.spawn(async move {
            let mut echoes = Vec::new();
            for _ in 0..CLIENTS {
                let (conn, peer) = listener.accept().await.unwrap();
                assert_eq!(conn.peer_addr().unwrap(), peer);
                assert_eq!(conn.local_addr().unwrap(), addr);
                echoes.push(waiter_loop::spawn(echo(conn)));
            }
            for e in echoes {
                total.set(total.get() + e.await);
            }
        });
        let clients: Vec<_> = (0..CLIENTS).map(|seed| lp.spawn(client(addr, seed))).collect();
        for (seed, c) in clients.into_iter().enumerate() {
            let got = c.await;
            assert_eq!(got.len(), BYTES, "client {seed}: byte count");
            assert!(got == pattern(seed), "client {seed}: the echo differs from what was sent");
        }
        server.await;
    });
    assert_eq!(echoed.get(), CLIENTS * BYTES);
    assert_eq!(lp.task_count(), 0);
    assert_eq!(lp.active_handles(), 0);
}

#[test]
fn tcp_echo_callbacks() {
    let lp = Loop::new().unwrap();
    let listener = TcpListener::bind(&lp, localhost()).unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Rc::new(Cell::new(0));
    let ends = Rc::new(Cell::new(0));
    let readers = Rc::new(RefCell::new(Vec::new()));
    let (count, eofs, handles) = (received.clone(), ends.clone(), readers.clone());
    let listening = listener
        .listen(move |_lp, conn| {
            let (conn, _peer) = conn.unwrap();
            let (count, eofs) = (count.clone(), eofs.clone());
            let reading = Rc::new(conn)
                .read_start(move |_lp, data| match data.unwrap() {
                    [] => eofs.set(eofs.get() + 1),
                    chunk => count.set(count.get() + chunk.len()),
                })
                .unwrap();
            handles.borrow_mut().push(reading);
        })
        .unwrap();
    run(&lp, async {
        for seed in 0..CLIENTS {
            let stream = TcpStream::connect(&lp, addr).await.unwrap();
            stream.write_all(&pattern(seed)).await.unwrap();
        }
        while ends.get() < CLIENTS {
            lp.sleep(Duration::from_millis(1)).unwrap().await;
        }
    });
    assert_eq!(received.get(), CLIENTS * BYTES);
    assert_eq!(ends.get(), CLIENTS);
    assert!(readers.borrow().iter().all(|r| !r.is_active()), "reading ends at end-of-stream");
    assert!(listening.is_active());
    drop(listening);
    readers.borrow_mut().clear();
    lp.run().unwrap();
    assert_eq!(lp.task_count(), 0);
    assert_eq!(lp.active_handles(), 0);
}

#[test]
fn one_reader_at_a_time() {
    let lp = Loop::new().unwrap();
    let listener = TcpListener::bind(&lp, localhost()).unwrap();
    run(&lp, async {
        let client = TcpStream::connect(&lp, listener.local_addr().unwrap()).await.unwrap();
        let (conn, _) = listener.accept().await.unwrap();
        let conn = Rc::new(conn);
        let first = {
            let conn = conn.clone();
            lp.spawn(async move {
                let mut buf = [0; 8];
                conn.read(&mut buf).await.map(|n| buf[..n].to_vec())
            })
        };
        waiter_loop::yield_now().await;
        let err = conn.read(&mut [0; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other);
        assert!(err.to_string().contains("already waiting to read"), "{err}");
        client.write_all(b"first").await.unwrap();
        assert_eq!(first.await.unwrap(), b"first", "the first reader still gets the data");
    });
}

/// A queue of connections larger than the accept budget is taken in slices:
/// an immediate queued before accepting starts runs while some are still
/// queued (the accept task yielded to the loop), and every one is accepted.
#[test]
fn a_burst_of_connections_is_accepted_in_slices() {
    const BURST: usize = 300;
    let lp = Loop::new().unwrap();
    let listener = TcpListener::bind(&lp, localhost()).unwrap();
    let addr = listener.local_addr().unwrap();
    // Connected by the kernel before the loop runs: the whole burst is queued.
    let clients: Vec<_> = (0..BURST).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
    let accepted = Rc::new(Cell::new(0usize));
    let seen_by_immediate = Rc::new(Cell::new(None));
    let (count, seen) = (accepted.clone(), seen_by_immediate.clone());
    lp.set_immediate(move |_| seen.set(Some(count.get())));
    let count = accepted.clone();
    run(&lp, async move {
        let mut conns = Vec::new();
        while conns.len() < BURST {
            conns.push(listener.accept().await.unwrap());
            count.set(conns.len());
        }
    });
    drop(clients);
    assert_eq!(accepted.get(), BURST);
    let seen = seen_by_immediate.get().expect("the immediate ran");
    assert!(seen > 0 && seen < BURST, "the immediate saw {seen} of {BURST} accepted: no yield in between");
}
