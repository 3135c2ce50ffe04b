//! `waiter serve` and bad requests: 400 then close, 431, 414, 505, 408.

mod serve_common;

use std::io::Write;

use serve_common::{closed_by_server, read_response, start};

fn exchange_and_close(server: &serve_common::TestServer, raw: &[u8]) -> (u16, bool) {
    let mut stream = server.connect();
    stream.write_all(raw).unwrap();
    let r = read_response(&mut stream, false).expect("a response");
    assert_eq!(r.header("Connection"), Some("close"), "error response says close");
    (r.status, closed_by_server(&mut stream))
}

#[test]
fn malformed_request_is_400_and_close() {
    let server = start(&[("a.txt", b"A")], |_| {});
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /a.txt HTTP/1.1\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        let (status, closed) = exchange_and_close(&server, raw);
        assert_eq!(status, 400, "{:?}", String::from_utf8_lossy(raw));
        assert!(closed, "closed after {:?}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn oversized_header_is_431() {
    let server = start(&[("a.txt", b"A")], |_| {});
    let raw = format!("GET /a.txt HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "x".repeat(10_000));
    let (status, closed) = exchange_and_close(&server, raw.as_bytes());
    assert_eq!(status, 431, "one header line over 8 KiB");
    assert!(closed, "closed");
    let many: String = (0..40).map(|i| format!("X-{i}: {}\r\n", "y".repeat(1000))).collect();
    let raw = format!("GET /a.txt HTTP/1.1\r\nHost: t\r\n{many}\r\n");
    assert_eq!(exchange_and_close(&server, raw.as_bytes()).0, 431, "a head over 32 KiB");
}

#[test]
fn long_uri_is_414_and_bad_version_505() {
    let server = start(&[("a.txt", b"A")], |_| {});
    let raw = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    assert_eq!(exchange_and_close(&server, raw.as_bytes()).0, 414, "request line over 8 KiB");
    assert_eq!(exchange_and_close(&server, b"GET / HTTP/2.0\r\nHost: t\r\n\r\n").0, 505, "HTTP/2.0");
}

#[test]
fn slow_head_is_408() {
    let server = start(&[("a.txt", b"A")], |c| c.header_timeout = std::time::Duration::from_millis(200));
    let mut stream = server.connect();
    stream.write_all(b"GET /a.txt HTTP/1.1\r\nHo").unwrap();
    let r = read_response(&mut stream, false).expect("a 408");
    assert_eq!(r.status, 408, "header timeout");
    assert!(closed_by_server(&mut stream), "closed");
    let mut silent = server.connect();
    assert!(closed_by_server(&mut silent), "a connection that never sends is closed without a word");
}
