//! `waiter serve` and conditional GET: If-None-Match and If-Modified-Since → 304, If-Match → 412.

mod serve_common;

use serve_common::start;

#[test]
fn if_none_match_is_304() {
    let server = start(&[("a.txt", b"abc")], |_| {});
    let etag = server.get("/a.txt", "").header("ETag").unwrap().to_owned();
    let r = server.get("/a.txt", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(r.status, 304, "matching tag");
    assert!(r.header("Content-Length").is_none(), "no Content-Length on 304");
    assert_eq!(r.header("ETag"), Some(etag.as_str()), "ETag on 304");
    let r = server.get("/a.txt", &format!("If-None-Match: \"x\", W/{etag}\r\n"));
    assert_eq!(r.status, 304, "weak comparison in a list");
    let r = server.get("/a.txt", "If-None-Match: \"x\"\r\n");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"abc"[..]), "other tag");
    // The connection stays usable after a 304 (no body was sent).
    let mut stream = server.connect();
    use std::io::Write;
    stream
        .write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: *\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(serve_common::read_response(&mut stream, false).unwrap().status, 304, "* matches");
    assert_eq!(serve_common::read_response(&mut stream, false).unwrap().body, b"abc", "next response intact");
}

#[test]
fn if_modified_since_is_304() {
    let server = start(&[("a.txt", b"abc")], |_| {});
    let modified = server.get("/a.txt", "").header("Last-Modified").unwrap().to_owned();
    let r = server.get("/a.txt", &format!("If-Modified-Since: {modified}\r\n"));
    assert_eq!(r.status, 304, "same date");
    let r = server.get("/a.txt", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
    assert_eq!(r.status, 200, "older date");
    let r = server.get("/a.txt", &format!("If-None-Match: \"x\"\r\nIf-Modified-Since: {modified}\r\n"));
    assert_eq!(r.status, 200, "If-None-Match wins over the date");
}

#[test]
fn if_match_failing_is_412() {
    let server = start(&[("a.txt", b"abc")], |_| {});
    assert_eq!(server.get("/a.txt", "If-Match: \"nope\"\r\n").status, 412, "If-Match mismatch");
}
