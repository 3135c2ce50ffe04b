//! Heap allocations per keep-alive request of the static server, counted with
//! a counting global allocator: the common request (a small file fresh in the
//! open-file cache) is answered from the connection task's poll without
//! one (`conn::answer_now`). Before that it cost four: the read buffer, the
//! boxed answering future (~3 KB, moved into its box), the response head and
//! the resolved path.
//!
//! `cargo nextest run -p waiter-http --test serve_request_allocations --no-capture`
//! prints the figures.
mod alloc_count;
mod serve_common;

use std::io::{Read, Write};
use std::net::TcpStream;

use alloc_count::{counts, per_request, read_response};

/// Requests per measurement: the few allocations made once a second (the
/// `Date` text, the cache entry's revalidation on the thread pool) spread thin.
const REQUESTS: usize = 4000;

const FILE_LEN: usize = 1024;

/// The file's bytes.
const FILE: [u8; FILE_LEN] = [7u8; FILE_LEN];

#[test]
fn a_cached_small_file_costs_no_allocation_per_request() {
    let server = serve_common::start(&[("1k.bin", &FILE)], |c| c.max_requests = usize::MAX);
    let mut s = server.connect();
    let get = b"GET /1k.bin HTTP/1.1\r\nHost: t\r\n\r\n";
    let (calls, bytes) = per_request(&mut s, get, &FILE, REQUESTS);
    println!("200, 1 KiB: {calls:.3} allocations ({bytes:.0} B) per request");

    // The validator of the file, for a conditional request answered 304.
    s.write_all(get).unwrap();
    let mut buf = [0u8; 4096];
    let head_len = read_response(&mut s, &mut buf, &FILE);
    let head = std::str::from_utf8(&buf[..head_len]).unwrap();
    let etag = head.lines().find_map(|l| l.strip_prefix("ETag: ")).unwrap().to_owned();
    let conditional = format!("GET /1k.bin?v=2 HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\n\r\n");
    let (calls_304, bytes_304) = per_request(&mut s, conditional.as_bytes(), b"", REQUESTS);
    println!("304: {calls_304:.3} allocations ({bytes_304:.0} B) per request");

    // Once a second the Date text is formatted and the cache entry is
    // looked up again on the pool (~20 allocations): far below one per request.
    assert!(calls < 0.05, "{calls:.3} allocations per 200 request");
    assert!(calls_304 < 0.05, "{calls_304:.3} allocations per 304 request");
    drop(s);
    server.stop();
}

#[test]
fn pipelined_requests_cost_no_allocation_either() {
    let server = serve_common::start(&[("1k.bin", &FILE)], |c| c.max_requests = usize::MAX);
    let mut s = server.connect();
    let one = b"GET /1k.bin HTTP/1.1\r\nHost: t\r\n\r\n";
    let batch: Vec<u8> = one.iter().copied().cycle().take(one.len() * 4).collect();
    // Every response has the same length (the Date text has a fixed width).
    let mut buf = vec![0u8; 64 * 1024];
    s.write_all(one).unwrap();
    let len = read_response(&mut s, &mut buf, &FILE) + FILE_LEN;
    let mut round = |s: &mut TcpStream| {
        s.write_all(&batch).unwrap();
        s.read_exact(&mut buf[..4 * len]).unwrap();
        assert!(buf[..4 * len].chunks(len).all(|r| r.starts_with(b"HTTP/1.1 200 OK\r\n")));
    };
    for _ in 0..50 {
        round(&mut s);
    }
    let before = counts();
    let rounds = REQUESTS / 4;
    for _ in 0..rounds {
        round(&mut s);
    }
    let after = counts();
    let calls = (after.0 - before.0) as f64 / REQUESTS as f64;
    println!("pipelined by 4: {calls:.3} allocations per request");
    assert!(calls < 0.05, "{calls:.3} allocations per pipelined request");
    drop(s);
    server.stop();
}
