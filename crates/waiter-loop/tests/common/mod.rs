//! Helpers shared by the integration tests in `tests/*.rs`, each of which
//! pulls this module in with `mod common;`. As a subdirectory module it is
//! not a test target of its own.

// Each test crate compiles this module separately and uses only part of it.
#![allow(dead_code)]

pub mod twin;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

/// Polls `cond` every millisecond until it holds or `limit` passes; returns
/// whether it held. For gates between threads whose timing the scheduler
/// decides (a loaded machine can delay a new thread by tens of ms).
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Counts jobs running at once on other threads, and holds each one until
/// `want` have run together: concurrency proven by counting, not by a sleep
/// long enough for the scheduler to start every thread (under load it was
/// not). A job that waits `limit` in vain gives up, and so do all later
/// ones, so a pool that runs fewer at once fails on [`most`](Gate::most)
/// in about `limit`, not by hanging.
#[derive(Default)]
pub struct Gate {
    running: AtomicUsize,
    most: AtomicUsize,
    gave_up: AtomicBool,
}

impl Gate {
    /// Counts a job in, then waits until `want` have been running at once.
    pub fn enter(&self, want: usize, limit: Duration) {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let met = wait_until(limit, || {
            self.most.load(Ordering::SeqCst) >= want || self.gave_up.load(Ordering::SeqCst)
        });
        if !met {
            self.gave_up.store(true, Ordering::SeqCst);
        }
    }

    /// Counts a job out.
    pub fn leave(&self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }

    /// The most jobs that were running at once.
    pub fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

/// A temporary file removed on drop, named `waiter-NAME-PID` in the temp directory.
pub struct TempFile(pub std::path::PathBuf);

impl TempFile {
    /// Creates the file with `contents`.
    pub fn new(name: &str, contents: &[u8]) -> TempFile {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!("waiter-{name}-{}", std::process::id()));
        std::fs::File::create(&path).unwrap().write_all(contents).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
