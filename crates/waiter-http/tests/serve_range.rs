//! `waiter serve` and `Range`: single, suffix, open, multiple (multipart/byteranges), 416, If-Range, HEAD.

mod serve_common;

use serve_common::start;

const DIGITS: &[u8] = b"0123456789abcdefghij";

fn big() -> Vec<u8> {
    (0..100_000u32).map(|i| (i % 251) as u8).collect()
}

#[test]
fn single_range() {
    let server = start(&[("d.txt", DIGITS)], |_| {});
    let r = server.get("/d.txt", "Range: bytes=2-5\r\n");
    assert_eq!(r.status, 206, "status");
    assert_eq!(r.body, b"2345", "body");
    assert_eq!(r.header("Content-Range"), Some("bytes 2-5/20"), "Content-Range");
    assert_eq!(r.header("Content-Length"), Some("4"), "Content-Length");
    let r = server.get("/d.txt", "Range: bytes=15-\r\n");
    assert_eq!((r.status, r.body.as_slice()), (206, &b"fghij"[..]), "open range");
}

#[test]
fn suffix_range() {
    let server = start(&[("d.txt", DIGITS)], |_| {});
    let r = server.get("/d.txt", "Range: bytes=-3\r\n");
    assert_eq!(r.status, 206, "status");
    assert_eq!(r.body, b"hij", "last 3 bytes");
    assert_eq!(r.header("Content-Range"), Some("bytes 17-19/20"), "Content-Range");
}

#[test]
fn ranges_of_a_large_file_use_sendfile() {
    let big = big();
    let server = start(&[("big.bin", &big)], |_| {});
    let r = server.get("/big.bin", "Range: bytes=50000-50999\r\n");
    assert_eq!(r.status, 206, "status");
    assert!(r.body == big[50_000..51_000], "body of the range");
    let r = server.get("/big.bin", "Range: bytes=0-9,-10\r\n");
    assert_eq!(r.status, 206, "multi status");
    let ct = r.header("Content-Type").unwrap().to_owned();
    let boundary = ct.strip_prefix("multipart/byteranges; boundary=").expect("multipart type");
    let body = r.body;
    let mut want = Vec::new();
    for (first, last) in [(0usize, 9usize), (99_990, 99_999)] {
        want.extend_from_slice(format!("\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {first}-{last}/100000\r\n\r\n").as_bytes());
        want.extend_from_slice(&big[first..=last]);
    }
    want.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    assert!(body == want, "multipart body over sendfile");
}

#[test]
fn multiple_ranges_are_multipart() {
    let server = start(&[("d.txt", DIGITS)], |_| {});
    let r = server.get("/d.txt", "Range: bytes=0-1,10-11\r\n");
    assert_eq!(r.status, 206, "status");
    let ct = r.header("Content-Type").unwrap();
    let boundary = ct.strip_prefix("multipart/byteranges; boundary=").expect("multipart type").to_owned();
    let want = format!(
        "\r\n--{b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-1/20\r\n\r\n01\
         \r\n--{b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 10-11/20\r\n\r\nab\
         \r\n--{b}--\r\n",
        b = boundary
    );
    assert_eq!(String::from_utf8(r.body.clone()).unwrap(), want, "multipart body");
    assert_eq!(r.header("Content-Length"), Some(want.len().to_string().as_str()), "Content-Length");
    assert!(r.header("Content-Range").is_none(), "no top-level Content-Range");
}

#[test]
fn unsatisfiable_range_is_416() {
    let server = start(&[("d.txt", DIGITS)], |_| {});
    let r = server.get("/d.txt", "Range: bytes=20-\r\n");
    assert_eq!(r.status, 416, "status");
    assert_eq!(r.header("Content-Range"), Some("bytes */20"), "Content-Range");
    assert_eq!(r.header("Content-Length"), Some("0"), "empty body");
}

/// A range-spec whose last byte is before its first is invalid (RFC 9110
/// §14.1.1); the header is rejected with 416, as nginx 1.22 answers
/// `bytes=5-2` (200 with the whole file before). Junk is still ignored.
#[test]
fn a_reversed_range_is_416() {
    let server = start(&[("d.txt", DIGITS)], |_| {});
    for header in ["bytes=5-2", "bytes=0-1,5-2"] {
        let r = server.get("/d.txt", &format!("Range: {header}\r\n"));
        assert_eq!(r.status, 416, "{header}: status");
        assert_eq!(r.header("Content-Range"), Some("bytes */20"), "{header}: Content-Range");
    }
    assert_eq!(server.get("/d.txt", "Range: bytes=abc\r\n").status, 200, "junk is ignored");
}

#[test]
fn if_range_and_head_ignore_or_apply() {
    let server = start(&[("d.txt", DIGITS)], |_| {});
    let etag = server.get("/d.txt", "").header("ETag").unwrap().to_owned();
    let r = server.get("/d.txt", &format!("Range: bytes=0-0\r\nIf-Range: {etag}\r\n"));
    assert_eq!((r.status, r.body.as_slice()), (206, &b"0"[..]), "If-Range with the current ETag");
    let r = server.get("/d.txt", "Range: bytes=0-0\r\nIf-Range: \"other\"\r\n");
    assert_eq!((r.status, r.body.len()), (200, 20), "If-Range with another ETag: the whole file");
    let r = server.exchange(b"HEAD /d.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-0\r\n\r\n");
    assert_eq!(r.status, 200, "HEAD ignores Range");
    let r = server.get("/d.txt", "Range: lines=1-2\r\n");
    assert_eq!(r.status, 200, "unknown unit ignored");
}
