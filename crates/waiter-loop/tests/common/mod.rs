//! Helpers shared by the integration tests in `tests/*.rs`, each of which
//! pulls this module in with `mod common;`. As a subdirectory module it is
//! not a test target of its own.

// Each test crate compiles this module separately and uses only part of it.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use waiter_loop::net::{TcpListener, TcpStream};
use waiter_loop::{Loop, Timer};

/// Fails a hung test instead of letting it hang: an unref'd timer that
/// panics after 10 s.
pub fn guard(lp: &Loop) -> Timer {
    guard_for(lp, Duration::from_secs(10))
}

/// [`guard`] with a limit of `limit` instead of 10 s.
pub fn guard_for(lp: &Loop, limit: Duration) -> Timer {
    let t = lp.set_timeout(limit, |_| panic!("guard: the test hung")).unwrap();
    t.unref();
    t
}

/// The loop ended with nothing left: no live handles and not alive.
pub fn assert_closed(lp: &Loop) {
    assert_eq!(lp.active_handles(), 0, "handles left open");
    assert!(!lp.is_alive(), "the loop is still alive");
}

/// Runs `f` to completion on `lp`, failing instead of hanging past `limit`.
pub fn run_within<F: Future>(lp: &Loop, limit: Duration, f: F) -> F::Output {
    lp.block_on(async { lp.timeout(limit, f).unwrap().await.expect("the test timed out") })
}

/// Busy-waits `d`, holding the thread (and so the loop) as a CPU-bound
/// callback would; like the JS programs' `spin`.
pub fn spin(d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// A connected TCP pair over 127.0.0.1: (the accepted server side, the client).
pub async fn tcp_pair(lp: &Loop) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    let client = TcpStream::connect(lp, listener.local_addr().unwrap()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (server, client)
}
