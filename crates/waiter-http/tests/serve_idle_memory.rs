//! Heap held by one idle keep-alive connection of the static server, counted
//! allocation by allocation with a counting global allocator (issue 3's
//! target is ≤ 256 bytes of RSS per idle connection; `bench/serve.sh`
//! measures the RSS, this test says which allocations make it up).
//!
//! `cargo nextest run -p waiter-http --test serve_idle_memory --no-capture`
//! prints the table: every allocation size that grew by about one per
//! connection, with glibc's chunk size for it (request + 8, rounded up to 16,
//! at least 32), and the growth of shared tables (slab and slot vectors).
//! Measured at 1d8e772 (before the task, deadline and connection changes):
//! a 184-byte connection future (192-byte chunk) and a 48-byte waker (64),
//! plus a 64-byte task entry, a 56-byte watcher entry and a 40-byte slot:
//! 416 B, where `bench/serve.sh` measured 417 B of RSS.
mod serve_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Sizes at or above this are counted as one bucket: shared tables, not per-connection state.
const BIG: usize = 4096;

/// Live allocations per requested size (in 8-byte steps), and live bytes.
struct Counting {
    live: [AtomicUsize; BIG / 8 + 1],
    big_bytes: AtomicUsize,
}

fn bucket(size: usize) -> usize {
    size.div_ceil(8).min(BIG / 8)
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds
// `GlobalAlloc`'s contract; the counters are plain atomics and allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.live[bucket(layout.size())].fetch_add(1, Ordering::Relaxed);
        if layout.size() >= BIG {
            self.big_bytes.fetch_add(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: the caller's `layout` contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.live[bucket(layout.size())].fetch_sub(1, Ordering::Relaxed);
        if layout.size() >= BIG {
            self.big_bytes.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: `ptr` was allocated by `System` with `layout` (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting =
    Counting { live: [const { AtomicUsize::new(0) }; BIG / 8 + 1], big_bytes: AtomicUsize::new(0) };

fn snapshot() -> (Vec<usize>, usize) {
    (
        COUNTING.live.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
        COUNTING.big_bytes.load(Ordering::Relaxed),
    )
}

/// glibc's chunk for a request of `size` bytes on 64-bit Linux.
fn chunk(size: usize) -> usize {
    ((size + 8).div_ceil(16) * 16).max(32)
}

/// Connections: under the usual soft limit of 1,024 descriptors (two per connection here).
const N: usize = 400;

fn open_idle(server: &serve_common::TestServer, conns: &mut Vec<TcpStream>) {
    let request = b"GET /1k.bin HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut buf = [0u8; 4096];
    for _ in 0..N {
        let mut s = server.connect();
        s.write_all(request).unwrap();
        // The response is 1 KiB plus a head of a few hundred bytes: read until the body's end.
        let mut got = 0;
        while got < 1024 + 100 || !buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf[got..]).unwrap();
            assert!(n > 0, "closed after {got} bytes");
            got += n;
            let head_end = buf[..got].windows(4).position(|w| w == b"\r\n\r\n");
            if head_end.is_some_and(|end| got >= end + 4 + 1024) {
                break;
            }
        }
        conns.push(s);
    }
}

/// Waits until the allocation counts stop moving (the server has gone idle).
fn settle() -> (Vec<usize>, usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = snapshot();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = snapshot();
        if now == last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

#[test]
fn an_idle_keepalive_connection_holds_few_small_allocations() {
    let server = serve_common::start(&[("1k.bin", &[7u8; 1024])], |_| {});
    let mut conns = Vec::with_capacity(N);
    // Warm-up: the open-file cache, the scratch buffer, and every shared table
    // grown to N entries (then freed), so that only per-connection state differs below.
    open_idle(&server, &mut conns);
    conns.clear();
    let (before, big_before) = settle();
    open_idle(&server, &mut conns);
    let (after, big_after) = settle();

    let mut per_conn = 0.0;
    println!("per idle connection (N = {N}):");
    println!("| requested bytes | allocations per connection | glibc chunk bytes per connection |");
    println!("|---|---|---|");
    for (i, (a, b)) in after.iter().zip(&before).enumerate().take(BIG / 8) {
        let grown = *a as f64 - *b as f64;
        if grown.abs() < N as f64 / 10.0 {
            continue; // not per connection
        }
        let each = grown / N as f64;
        let bytes = each * chunk(i * 8) as f64;
        per_conn += bytes;
        println!("| {} | {each:.2} | {bytes:.0} |", i * 8);
    }
    let grown = (big_after as f64 - big_before as f64) / N as f64;
    println!("shared tables grew by {grown:.0} B per connection (warmed up: expected 0)");
    println!("total: {per_conn:.0} B per idle connection in its own allocations");
    // The whole idle connection must fit issue 3's 256 B: its own allocations
    // plus its entries in the loop's and the worker's tables, whose sizes their
    // own unit tests hold: a task entry (32 B), a watcher entry (56 B) and a
    // deadline slot (24 B).
    let tables = 32.0 + 56.0 + 24.0;
    println!("with its table entries ({tables} B): {:.0} B", per_conn + tables);
    assert!(
        per_conn + tables <= 256.0,
        "{per_conn:.0} B of allocations per idle connection, plus {tables} B"
    );
    drop(conns);
    server.stop();
}
