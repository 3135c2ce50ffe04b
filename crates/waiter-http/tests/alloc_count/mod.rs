//! A counting global allocator for the tests that pin how many heap
//! allocations one request costs (`app_request_allocations`,
//! `serve_request_allocations`), and the keep-alive client loop they measure
//! with. Declaring this module installs the allocator as the test binary's
//! global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Allocations made so far (never decremented) and bytes requested by them.
struct Counting {
    calls: AtomicUsize,
    bytes: AtomicUsize,
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds
// `GlobalAlloc`'s contract; the counters are plain atomics and allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's `layout` contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(new_size, Ordering::Relaxed);
        // SAFETY: as `alloc` and `dealloc`: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting { calls: AtomicUsize::new(0), bytes: AtomicUsize::new(0) };

/// Allocations (and reallocations) made so far by the whole process, and the
/// bytes they asked for.
pub fn counts() -> (usize, usize) {
    (COUNTING.calls.load(Ordering::Relaxed), COUNTING.bytes.load(Ordering::Relaxed))
}

/// Reads one response whose body is `body` into `buf` (no allocation),
/// asserting that exactly that one response came; returns the head's length.
pub fn read_response(s: &mut TcpStream, buf: &mut [u8], body: &[u8]) -> usize {
    let mut got = 0;
    loop {
        let n = s.read(&mut buf[got..]).unwrap();
        assert!(n > 0, "closed after {got} bytes");
        got += n;
        if let Some(end) = buf[..got].windows(4).position(|w| w == b"\r\n\r\n") {
            if got >= end + 4 + body.len() {
                assert_eq!(got, end + 4 + body.len(), "more than one response");
                assert_eq!(&buf[end + 4..got], body, "the expected body");
                return end + 4;
            }
        }
    }
}

/// Allocations (calls, bytes) per request over `requests` keep-alive
/// requests of `request` on one connection, each answered with `body`,
/// after 100 unmeasured ones (warm-up).
pub fn per_request(s: &mut TcpStream, request: &[u8], body: &[u8], requests: usize) -> (f64, f64) {
    let mut buf = [0u8; 4096];
    for _ in 0..100 {
        s.write_all(request).unwrap();
        read_response(s, &mut buf, body);
    }
    let before = counts();
    for _ in 0..requests {
        s.write_all(request).unwrap();
        read_response(s, &mut buf, body);
    }
    let after = counts();
    let n = requests as f64;
    ((after.0 - before.0) as f64 / n, (after.1 - before.1) as f64 / n)
}
