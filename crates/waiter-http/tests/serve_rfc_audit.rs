//! Regressions from the RFC 9110/9112 audit of `waiter serve` (issue 3): each
//! test sends raw bytes and asserts the exact status and framing. What the
//! bad-input corpus (`crates/waiter/tests/reliability/bad_requests.tsv`)
//! already covers is not repeated here.

mod serve_common;

use std::io::{Read, Write};

use serve_common::{closed_by_server, read_response, start};

/// RFC 9110 §2.5: a higher minor version of a major version the server
/// implements is processed as the highest minor it implements (1.1), so it
/// persists by default; 505 is for a major version it does not implement.
#[test]
fn http_1_2_to_1_9_are_served_as_1_1() {
    let server = start(&[("a.txt", b"A"), ("b.txt", b"BB")], |_| {});
    let mut stream = server.connect();
    stream
        .write_all(
            b"GET /a.txt HTTP/1.2\r\nHost: t\r\n\r\nHEAD /b.txt HTTP/1.9\r\nHost: t\r\n\r\n\
              GET /b.txt HTTP/1.9\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let r = read_response(&mut stream, false).expect("a response to HTTP/1.2");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"A"[..]), "HTTP/1.2 GET");
    assert_eq!(r.header("Connection"), None, "kept alive as 1.1, without saying so");
    let r = read_response(&mut stream, true).expect("a response to the pipelined HEAD");
    assert_eq!((r.status, r.header("Content-Length")), (200, Some("2")), "HTTP/1.9 HEAD, in order");
    let r = read_response(&mut stream, false).expect("a response to the last request");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"BB"[..]), "HTTP/1.9 GET");
    assert_eq!(r.header("Connection"), Some("close"), "Connection: close honoured");
    assert!(closed_by_server(&mut stream), "closed after Connection: close");

    // A request line that arrives in pieces still decides only once it is whole.
    let mut stream = server.connect();
    stream.write_all(b"GET /a.txt HTTP/1.").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    stream.write_all(b"2\r\nHost: t\r\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    stream.write_all(b"\r\n").unwrap();
    let r = read_response(&mut stream, false).expect("a response to a split HTTP/1.2 head");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"A"[..]), "split HTTP/1.2");
}

/// RFC 9110 §10.1.1: an expectation other than `100-continue` may be refused
/// with 417; it is, in HTTP/1.1, and the connection closes (an unmet
/// expectation leaves the body's fate unknown). In HTTP/1.0 `Expect` is ignored.
#[test]
fn an_unknown_expectation_is_417_and_close() {
    let server = start(&[("a.txt", b"A")], |_| {});
    for expect in ["foo", "100-continue, x-bar", "100-continue=1"] {
        let mut stream = server.connect();
        let raw = format!("GET /a.txt HTTP/1.1\r\nHost: t\r\nExpect: {expect}\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        stream.write_all(raw.as_bytes()).unwrap();
        let r = read_response(&mut stream, false).expect("a response");
        assert_eq!(r.status, 417, "Expect: {expect}");
        assert_eq!(r.header("Connection"), Some("close"), "Expect: {expect}");
        assert!(closed_by_server(&mut stream), "closed, the pipelined request unanswered: {expect}");
    }
    for (label, raw) in [
        ("100-continue, any case", "GET /a.txt HTTP/1.1\r\nHost: t\r\nExpect: 100-Continue\r\n\r\n"),
        ("HTTP/1.0 ignores Expect", "GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\nExpect: foo\r\n\r\n"),
    ] {
        let mut stream = server.connect();
        stream.write_all(raw.as_bytes()).unwrap();
        stream.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let r = read_response(&mut stream, false).expect("a response");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"A"[..]), "{label}");
        let r = read_response(&mut stream, false).expect("the pipelined response");
        assert_eq!(r.status, 200, "{label}: kept alive");
    }
}

/// RFC 9112 §6.1: a transfer coding the server does not know is 501 (when
/// the framing is otherwise sound: `chunked` last) and a close; not ending
/// in `chunked` stays 400 (§6.3). Registered codings before `chunked` are
/// accepted, and the body, framed by `chunked`, is discarded: the
/// connection goes on.
#[test]
fn an_unknown_transfer_coding_is_501_and_close() {
    let server = start(&[("a.txt", b"A")], |_| {});
    let exchange = |te: &str| {
        let mut stream = server.connect();
        let raw = format!(
            "GET /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n"
        );
        stream.write_all(raw.as_bytes()).unwrap();
        let r = read_response(&mut stream, false).expect("a response");
        if r.status == 200 {
            assert_eq!(r.header("Connection"), None, "TE {te}: kept alive");
            let next = read_response(&mut stream, false).expect("the pipelined response");
            assert_eq!(next.status, 200, "TE {te}: the request after the body");
        } else {
            assert_eq!(r.header("Connection"), Some("close"), "TE {te}: close, the body is not read");
            assert!(closed_by_server(&mut stream), "TE {te}: closed, nothing more answered");
        }
        r.status
    };
    assert_eq!(exchange("x-foo, chunked"), 501, "unknown coding");
    assert_eq!(exchange("br, chunked"), 501, "unregistered as a transfer coding");
    assert_eq!(exchange("x-foo"), 400, "not ending in chunked");
    assert_eq!(exchange("deflate, chunked"), 200, "registered coding");
    assert_eq!(exchange("x-gzip, chunked"), 200, "registered alias");
}

/// RFC 9112 §3.2.3: a CONNECT's target is in authority-form, a well-formed
/// request that a static server does not serve: 405 with `Allow`, like any
/// other method (nginx too), not 400; the connection stays usable.
#[test]
fn connect_is_405_not_400() {
    let server = start(&[("a.txt", b"A")], |_| {});
    let mut stream = server.connect();
    stream
        .write_all(b"CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let r = read_response(&mut stream, false).expect("a response to CONNECT");
    assert_eq!((r.status, r.header("Allow")), (405, Some("GET, HEAD")), "CONNECT");
    assert_eq!(r.header("Connection"), None, "kept alive");
    let r = read_response(&mut stream, false).expect("the pipelined response");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"A"[..]), "answered in order after CONNECT");
    let mut stream = server.connect();
    stream.write_all(b"CONNECT t HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let r = read_response(&mut stream, false).expect("a response");
    assert_eq!((r.status, r.header("Connection")), (400, Some("close")), "authority-form needs a port");
}

/// RFC 9110 §15.2: no 1xx to an HTTP/1.0 client. The handler server
/// (`waiter_http::app`), which reads bodies, answered `Expect: 100-continue`
/// from a 1.0 client with `100 Continue`; it now waits for the body.
#[test]
fn app_sends_no_100_continue_to_http_1_0() {
    use waiter_http::app::{App, AppConfig, Request, Response};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || -> std::io::Result<()> {
        let lp = waiter_loop::Loop::new()?;
        let echo = |req: Request| async move { Response::text(waiter_http::Status::OK, req.body) };
        let app = App::bind(&lp, "127.0.0.1:0".parse().unwrap(), AppConfig::default(), echo)?;
        tx.send(app.local_addr()?).unwrap();
        lp.block_on(app.run())
    });
    let addr = rx.recv_timeout(serve_common::CLIENT_TIMEOUT).expect("the app did not start");
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_write_timeout(Some(serve_common::CLIENT_TIMEOUT)).unwrap();
    c.write_all(b"POST /echo HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n").unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_millis(300))).unwrap();
    let mut early = [0u8; 1];
    let got = c.read(&mut early);
    assert!(
        matches!(&got, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "nothing before the body: {got:?} {:?}",
        String::from_utf8_lossy(&early)
    );
    c.set_read_timeout(Some(serve_common::CLIENT_TIMEOUT)).unwrap();
    c.write_all(b"ok").unwrap();
    let r = read_response(&mut c, false).expect("the response");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]), "the body answered, no 100 first");
}
