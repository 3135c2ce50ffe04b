//! A counting global allocator for the tests that pin how many heap
//! allocations one request costs (`app_request_allocations`,
//! `serve_request_allocations`). Declaring this module installs it as the
//! test binary's global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
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
