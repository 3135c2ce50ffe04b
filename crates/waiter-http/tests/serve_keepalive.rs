//! `waiter serve` connection handling: keep-alive, pipelining, HTTP/1.0, `Connection: close`, limits.

mod serve_common;

use std::io::Write;

use serve_common::{closed_by_server, read_response, start};

#[test]
fn two_requests_on_one_connection() {
    let server = start(&[("a.txt", b"A"), ("b.txt", b"BB")], |_| {});
    let mut stream = server.connect();
    stream.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let r = read_response(&mut stream, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"A"[..]), "first");
    // HTTP/1.1 persists by default: `Connection: keep-alive` would be redundant (RFC 9112 §9.3).
    assert_eq!(r.header("Connection"), None, "kept alive without saying so");
    stream.write_all(b"GET /b.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let r = read_response(&mut stream, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"BB"[..]), "second on the same connection");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = start(&[("a.txt", b"A"), ("b.txt", b"BB"), ("c.txt", b"CCC")], |_| {});
    let mut stream = server.connect();
    stream
        .write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\nGET /b.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /c.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let bodies: Vec<(u16, Vec<u8>)> =
        (0..4).map(|_| read_response(&mut stream, false).unwrap()).map(|r| (r.status, r.body)).collect();
    assert_eq!(bodies[0], (200, b"A".to_vec()), "first");
    assert_eq!(bodies[1].0, 404, "second");
    assert_eq!(bodies[2], (200, b"BB".to_vec()), "third");
    assert_eq!(bodies[3], (200, b"CCC".to_vec()), "fourth");
    assert!(closed_by_server(&mut stream), "closed after Connection: close");
}

/// A client that sends many requests before reading any answer fills the
/// socket: the responses written from the connection's poll meet a full
/// send buffer part-way through, and what the socket did not take must
/// still go out whole and in order, followed by the remaining answers.
#[test]
fn pipelined_small_files_survive_a_full_send_buffer() {
    const LEN: usize = 15_000; // a small file: held in memory, answered from the poll
    const REQUESTS: usize = 1_000; // 15 MB of responses: more than the socket buffers hold
    let body: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let server = start(&[("s.bin", &body)], |c| c.max_requests = usize::MAX);
    let mut stream = server.connect();
    // Warm the open-file cache, so every pipelined request is a cache hit.
    stream.write_all(b"GET /s.bin HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut stream, false).unwrap().body, body);
    let batch = b"GET /s.bin HTTP/1.1\r\nHost: t\r\n\r\n".repeat(REQUESTS);
    stream.write_all(&batch).unwrap();
    // Let the server run into the full buffer before anything is read.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut reader = stream.try_clone().unwrap();
    for i in 0..REQUESTS {
        let r = read_response(&mut reader, false).unwrap_or_else(|| panic!("closed before response {i}"));
        assert_eq!(r.status, 200, "response {i}");
        assert!(r.body == body, "response {i}: body differs");
    }
}

#[test]
fn http10_without_keep_alive_closes() {
    let server = start(&[("a.txt", b"A")], |_| {});
    let mut stream = server.connect();
    stream.write_all(b"GET /a.txt HTTP/1.0\r\n\r\n").unwrap();
    let r = read_response(&mut stream, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"A"[..]), "served");
    assert_eq!(r.header("Connection"), Some("close"), "Connection: close");
    assert!(closed_by_server(&mut stream), "closed");

    let mut stream = server.connect();
    stream.write_all(b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
    let r = read_response(&mut stream, false).unwrap();
    assert_eq!(r.header("Connection"), Some("keep-alive"), "1.0 with keep-alive");
    stream.write_all(b"GET /a.txt HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut stream, false).unwrap().body, b"A", "second 1.0 request");
}

#[test]
fn connection_close_closes() {
    let server = start(&[("a.txt", b"A")], |_| {});
    let mut stream = server.connect();
    stream.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let r = read_response(&mut stream, false).unwrap();
    assert_eq!(r.header("Connection"), Some("close"), "Connection: close");
    assert!(closed_by_server(&mut stream), "closed");
}

#[test]
fn max_requests_per_connection() {
    let server = start(&[("a.txt", b"A")], |c| c.max_requests = 2);
    let mut stream = server.connect();
    stream
        .write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut stream, false).unwrap().header("Connection"), None, "first: kept alive");
    assert_eq!(
        read_response(&mut stream, false).unwrap().header("Connection"),
        Some("close"),
        "second is the last"
    );
    assert!(closed_by_server(&mut stream), "closed");
}

#[test]
fn body_on_get_is_discarded_without_desync() {
    let server = start(&[("a.txt", b"A"), ("b.txt", b"B")], |_| {});
    let mut stream = server.connect();
    stream
        .write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 26\r\n\r\nGET /evil HTTP/1.1\r\nX: \r\n\r\nGET /b.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut stream, false).unwrap().body, b"A", "first");
    assert_eq!(read_response(&mut stream, false).unwrap().body, b"B", "the body was skipped, not parsed");
}

#[test]
fn idle_keep_alive_times_out() {
    let server = start(&[("a.txt", b"A")], |c| c.keepalive_timeout = std::time::Duration::from_millis(200));
    let mut stream = server.connect();
    stream.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    read_response(&mut stream, false).unwrap();
    let start = std::time::Instant::now();
    assert!(closed_by_server(&mut stream), "closed when idle");
    let waited = start.elapsed();
    assert!(waited >= std::time::Duration::from_millis(150), "not before the timeout: {waited:?}");
}

#[test]
fn max_connections_pauses_accepting() {
    let server = start(&[("a.txt", b"A")], |c| c.max_connections = 1);
    let mut first = server.connect();
    first.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    read_response(&mut first, false).unwrap();
    let mut second = server.connect();
    second.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    second.set_read_timeout(Some(std::time::Duration::from_millis(300))).unwrap();
    let mut byte = [0u8; 1];
    let early = std::io::Read::read(&mut second, &mut byte);
    assert!(early.is_err(), "no answer while the first connection holds the only slot: {early:?}");
    drop(first);
    second.set_read_timeout(Some(serve_common::CLIENT_TIMEOUT)).unwrap();
    let r = read_response(&mut second, false).unwrap();
    assert_eq!(r.body, b"A", "served once the slot freed");
}

#[test]
fn stop_closes_idle_connections() {
    let server = start(&[("a.txt", b"A")], |_| {});
    let mut stream = server.connect();
    stream.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    read_response(&mut stream, false).unwrap();
    server.stop(); // fails the test if the idle connection kept the server from stopping
    assert!(closed_by_server(&mut stream), "idle connection closed");
}

/// Every kind of response says the same about its connection (RFC 9112
/// §9.3, as nginx): nothing on a kept-alive HTTP/1.1 connection,
/// `keep-alive` to an HTTP/1.0 client that asked for it, `close` when it
/// closes. The listing and status pages said `keep-alive` on 1.1 before.
#[test]
fn every_response_says_the_same_about_its_connection() {
    let server = start(&[("a.txt", b"AAAA"), ("dir/b.txt", b"B")], |c| {
        c.autoindex = true;
        c.status.path = Some("/status".into());
    });
    let etag = server.get("/a.txt", "").header("ETag").expect("an ETag").to_owned();
    let requests = [
        ("GET", "/a.txt", String::new(), 200),
        ("GET", "/missing", String::new(), 404),
        ("GET", "/dir", String::new(), 301),
        ("GET", "/dir/", String::new(), 200),
        ("HEAD", "/dir/", String::new(), 200),
        ("GET", "/status", String::new(), 200),
        ("GET", "/status/metrics", String::new(), 200),
        ("DELETE", "/a.txt", String::new(), 405),
        ("GET", "/a.txt", "Range: bytes=0-1\r\n".into(), 206),
        ("GET", "/a.txt", "Range: bytes=0-0,2-2\r\n".into(), 206),
        ("GET", "/a.txt", "Range: bytes=9-\r\n".into(), 416),
        ("GET", "/a.txt", format!("If-None-Match: {etag}\r\n"), 304),
        ("GET", "/a.txt", "If-Match: \"other\"\r\n".into(), 412),
    ];
    let connections = [
        ("HTTP/1.1", "", None),
        ("HTTP/1.0", "Connection: keep-alive\r\n", Some("keep-alive")),
        ("HTTP/1.1", "Connection: close\r\n", Some("close")),
        ("HTTP/1.0", "", Some("close")),
    ];
    for (method, path, extra, status) in &requests {
        for (version, connection, expected) in connections {
            let raw = format!("{method} {path} {version}\r\nHost: t\r\n{connection}{extra}\r\n");
            let r = server.exchange(raw.as_bytes());
            assert_eq!(r.status, *status, "{raw:?}");
            assert_eq!(r.header("Connection"), expected, "{raw:?}: {:?}", r.headers);
        }
    }
}

/// A GET with a chunked body (RFC 9112 §7.1) is answered, its body decoded
/// and discarded, and the connection goes on: the next request, pipelined
/// behind it or sent later, is answered. Before, the response said
/// `Connection: close` and the pipelined request was lost. A body past the
/// discard limit (64 KiB decoded) or a malformed one ends the connection
/// after the response instead, as does a client that never finishes it.
#[test]
fn a_chunked_body_on_get_is_discarded_and_the_connection_kept() {
    let server = start(&[("a.txt", b"A"), ("b.txt", b"B")], |c| {
        c.header_timeout = std::time::Duration::from_millis(500);
    });
    let head = "GET /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    let next = "GET /b.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    // Pipelined in one write; a chunk whose data looks like a request is data.
    let mut stream = server.connect();
    let body = format!("{:x}\r\n{next}\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n", next.len());
    stream.write_all(format!("{head}{body}{next}").as_bytes()).unwrap();
    let first = read_response(&mut stream, false).unwrap();
    assert_eq!((first.status, first.body.as_slice()), (200, &b"A"[..]), "the GET");
    assert_eq!(first.header("Connection"), None, "kept alive: {:?}", first.headers);
    assert_eq!(read_response(&mut stream, false).unwrap().body, b"B", "the pipelined request, once");
    // The body split across writes, the next request sent after it.
    stream.write_all(format!("{head}4\r\nab").as_bytes()).unwrap();
    assert_eq!(read_response(&mut stream, false).unwrap().body, b"A", "answered before its body");
    std::thread::sleep(std::time::Duration::from_millis(50));
    stream.write_all(b"cd\r\n0\r\n\r\n").unwrap();
    stream.write_all(next.as_bytes()).unwrap();
    assert_eq!(read_response(&mut stream, false).unwrap().body, b"B", "the request after the body");

    for (label, rest) in
        [("past the limit", "10001\r\n"), ("malformed", "zz\r\n"), ("never finished", "5\r\nab")]
    {
        let mut stream = server.connect();
        stream.write_all(format!("{head}{rest}").as_bytes()).unwrap();
        assert_eq!(read_response(&mut stream, false).unwrap().status, 200, "{label}: answered");
        assert!(closed_by_server(&mut stream), "{label}: then closed");
    }
}
