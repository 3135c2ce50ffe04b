//! `TcpStream::writev_more` (`sendmsg` with `MSG_MORE`) over TCP on
//! 127.0.0.1, with `TCP_NODELAY` on as a server sets it: the bytes are held
//! while nothing follows them, a following `sendfile` sends them with its own
//! bytes and pushes its tail at once, for odd sizes and for a reader too slow
//! for `sendfile` to finish without waiting for room.

use std::fs::File;
use std::future::Future;
use std::io::{self, IoSlice};
use std::time::{Duration, Instant};

use waiter_loop::net::TcpStream;
use waiter_loop::Loop;

mod common;
use common::tcp_pair as pair;
use common::TempFile;

/// What a held tail would cost: Nagle waits for a delayed ACK (40 ms),
/// `MSG_MORE` or `TCP_CORK` for the probe timer (200 ms). The best of a few
/// tries must be well under it; loopback takes well under a millisecond.
const PROMPT: Duration = Duration::from_millis(30);

/// Tries per measurement: a loaded machine may delay one, not all.
const TRIES: usize = 3;

fn run<F: Future>(lp: &Loop, f: F) -> F::Output {
    common::run_within(lp, Duration::from_secs(20), f)
}

fn contents(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A connected pair whose server side has `TCP_NODELAY`, as waiter's HTTP server sets it.
async fn server_pair(lp: &Loop) -> (TcpStream, TcpStream) {
    let (server, client) = pair(lp).await;
    server.set_nodelay(true).unwrap();
    (server, client)
}

/// Reads exactly `len` bytes; returns them and when the last arrived.
async fn read_exact(stream: &TcpStream, len: usize) -> (Vec<u8>, Instant) {
    let mut got = Vec::with_capacity(len);
    let mut buf = vec![0; 64 * 1024];
    while got.len() < len {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "end of stream after {} of {len} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    (got, Instant::now())
}

#[test]
fn writev_more_is_held_until_the_kernel_gives_up() {
    let lp = Loop::new().unwrap();
    let (held_at_50ms, waited, got) = run(&lp, async {
        let (server, client) = server_pair(&lp).await;
        let sent = Instant::now();
        let n =
            server.writev_more(&[IoSlice::new(b"HTTP/1.1 200 OK\r\n"), IoSlice::new(b"\r\n")]).await.unwrap();
        assert_eq!(n, 19);
        lp.sleep(Duration::from_millis(50)).unwrap().await;
        let mut buf = [0u8; 64];
        let held = matches!(client.try_read(&mut buf), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        // Nothing follows: the probe timer sends it after all.
        let (got, at) = read_exact(&client, 19).await;
        (held, at - sent, got)
    });
    assert!(held_at_50ms, "a lone MSG_MORE write is held (nothing arrived within 50 ms)");
    assert!(waited >= Duration::from_millis(100), "held until the probe timer, got it after {waited:?}");
    assert_eq!(got, b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(lp.active_handles(), 0);
}

#[test]
fn writev_more_then_sendfile_arrives_whole_and_at_once() {
    let lp = Loop::new().unwrap();
    let body = contents(100 * 1024 + 3);
    let tmp = TempFile::new("more-odd", &body);
    let file = File::open(&tmp.0).unwrap();
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: n\r\n\r\n";
    // Below one segment, one segment's payload and one byte past it, past
    // the 64 KiB pipe of sendfile's splice, 100 KiB, and odd sizes.
    for len in [1, 1000, 1448, 1449, 16 * 1024 + 1, 64 * 1024, 64 * 1024 + 1, 100 * 1024, 100 * 1024 + 3] {
        let mut best = Duration::MAX;
        for _ in 0..TRIES {
            let (got, took) = run(&lp, async {
                let (server, client) = server_pair(&lp).await;
                let reader = waiter_loop::spawn(async move { read_exact(&client, head.len() + len).await });
                let start = Instant::now();
                assert_eq!(server.writev_more(&[IoSlice::new(head)]).await.unwrap(), head.len());
                let mut offset = 0;
                server.sendfile_all(&file, &mut offset, len).await.unwrap();
                let (got, at) = reader.await;
                (got, at - start)
            });
            assert_eq!(&got[..head.len()], head, "{len}: the head first");
            assert!(got[head.len()..] == body[..len], "{len}: then the body's bytes");
            best = best.min(took);
        }
        assert!(best < PROMPT, "{len}-byte body: the tail was held back ({best:?} at best)");
    }
    assert_eq!(lp.active_handles(), 0);
}

#[test]
fn a_slow_reader_gets_the_tail_promptly() {
    let lp = Loop::new().unwrap();
    // Several times a loopback socket's buffer, so sendfile has to wait for room.
    let len = 8 * 1024 * 1024 + 7;
    let body = contents(len);
    let tmp = TempFile::new("more-slow", &body);
    let file = File::open(&tmp.0).unwrap();
    let head = b"HTTP/1.1 200 OK\r\n\r\n";
    let mut best = Duration::MAX;
    for _ in 0..TRIES {
        let (got, sending, tail) = run(&lp, async {
            let (server, client) = server_pair(&lp).await;
            let reader = waiter_loop::spawn(async move {
                // The reader starts late: sendfile fills the socket and waits.
                waiter_loop::sleep(Duration::from_millis(100)).unwrap().await;
                read_exact(&client, head.len() + len).await
            });
            let start = Instant::now();
            server.writev_more(&[IoSlice::new(head)]).await.unwrap();
            let mut offset = 0;
            server.sendfile_all(&file, &mut offset, len).await.unwrap();
            let done = Instant::now();
            let (got, at) = reader.await;
            (got, done - start, at.saturating_duration_since(done))
        });
        assert!(sending >= Duration::from_millis(100), "sendfile waited for the reader ({sending:?})");
        assert_eq!(got.len(), head.len() + len);
        assert!(&got[..head.len()] == head && got[head.len()..] == body[..], "the bytes, in order");
        best = best.min(tail);
    }
    assert!(best < PROMPT, "the last bytes reached the reader {best:?} (at best) after sendfile returned");
    assert_eq!(lp.active_handles(), 0);
}
