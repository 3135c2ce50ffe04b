//! `waiter_http::app` with chunked request bodies (RFC 9112 §7.1): decoded
//! for the handler, keep-alive and pipelining after them, the body limit and
//! timeout, `Expect`, the framing refusals, and curl as a client.

mod app_common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use app_common::{closed_by_server, connect, read_response, start};
use waiter_http::app::AppConfig;

const HEAD: &str = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";

/// A chunked body on a new connection: status, body, `Connection`, and whether the server closed.
fn exchange(config: AppConfig, raw: &[u8]) -> (u16, Vec<u8>, Option<String>, bool) {
    let mut c = connect(start(config));
    c.write_all(raw).unwrap();
    let r = read_response(&mut c, false).expect("a response");
    let connection = r.header("Connection").map(str::to_owned);
    let closed = connection.as_deref() == Some("close") && closed_by_server(&mut c);
    (r.status, r.body, connection, closed)
}

#[test]
fn a_chunked_body_reaches_the_handler_decoded_and_the_connection_stays() {
    let raw = format!(
        "{HEAD}5;name=value\r\nhello\r\n1\r\n \r\n6 ; a=\"b;c\"\r\nworld!\r\n0\r\nX-Checksum: 1\r\n\r\n"
    );
    let mut c = connect(start(AppConfig::default()));
    c.write_all(raw.as_bytes()).unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello world!"[..]), "decoded");
    assert_eq!(r.header("X-Length"), Some("12"), "handler saw 12 bytes");
    assert_eq!(r.header("Connection"), Some("keep-alive"), "kept alive");
    c.write_all(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello\n"[..]), "the next request");

    // Bare LFs, as the head parser admits them; an empty body.
    let raw = "POST /echo HTTP/1.1\nHost: t\nTransfer-Encoding: chunked\n\n3\nabc\n0\nT: 1\n\n";
    let (status, body, connection, _) = exchange(AppConfig::default(), raw.as_bytes());
    assert_eq!(
        (status, body.as_slice(), connection.as_deref()),
        (200, &b"abc"[..], Some("keep-alive")),
        "LF"
    );
    let (status, body, _, _) = exchange(AppConfig::default(), format!("{HEAD}0\r\n\r\n").as_bytes());
    assert_eq!((status, body.len()), (200, 0), "no chunks");
    let raw =
        "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(
        exchange(AppConfig::default(), raw.as_bytes()).2.as_deref(),
        Some("close"),
        "Connection: close"
    );
}

#[test]
fn pipelined_requests_after_chunked_bodies_are_not_desynchronised() {
    // The first body holds what looks like a request; the bytes after each
    // last chunk are the next request.
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
    let raw = format!(
        "{HEAD}{:x}\r\n{smuggled}\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n{HEAD}2\r\nhi\r\n0\r\nT: x\r\n\r\nDELETE /last HTTP/1.1\r\nHost: t\r\n\r\n",
        smuggled.len()
    );
    let mut c = connect(start(AppConfig::default()));
    c.write_all(raw.as_bytes()).unwrap();
    let answers: Vec<(u16, Vec<u8>)> =
        (0..4).map(|_| read_response(&mut c, false).map(|r| (r.status, r.body)).unwrap()).collect();
    let expected: Vec<(u16, Vec<u8>)> = vec![
        (200, smuggled.as_bytes().to_vec()),
        (200, b"hello\n".to_vec()),
        (200, b"hi".to_vec()),
        (404, b"no DELETE /last\n".to_vec()),
    ];
    assert_eq!(answers, expected);
}

#[test]
fn a_body_sent_byte_by_byte_decodes_the_same() {
    let raw = format!(
        "{HEAD}4;x=y\r\nwxyz\r\n3\r\n123\r\n0\r\nTrailer: v\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
    );
    let mut c = connect(start(AppConfig::default()));
    c.set_nodelay(true).unwrap();
    let (head, body) = raw.split_at(HEAD.len());
    c.write_all(head.as_bytes()).unwrap();
    for byte in body.as_bytes() {
        c.write_all(std::slice::from_ref(byte)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"wxyz123"[..]), "the body");
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello\n"[..]), "the request after it");
}

#[test]
fn malformed_chunked_framing_is_refused_and_closed() {
    let cases: [(&str, String, u16); 8] = [
        ("empty size", format!("{HEAD}\r\nabc\r\n0\r\n\r\n"), 400),
        ("not hex", format!("{HEAD}0x3\r\nabc\r\n0\r\n\r\n"), 400),
        ("2^64", format!("{HEAD}10000000000000000\r\n"), 400),
        ("no CRLF after the data", format!("{HEAD}3\r\nabcd\r\n0\r\n\r\n"), 400),
        ("bare CR", format!("{HEAD}3\rabc\r\n0\r\n\r\n"), 400),
        ("long extensions", format!("{HEAD}3;x={}\r\nabc\r\n0\r\n\r\n", "v".repeat(9000)), 400),
        ("trailers", format!("{HEAD}0\r\nX: {}\r\n\r\n", "t".repeat(33 * 1024)), 431),
        ("u64::MAX size", format!("{HEAD}ffffffffffffffff\r\n"), 413),
    ];
    for (label, raw, status) in cases {
        let (got, _, connection, closed) = exchange(AppConfig::default(), raw.as_bytes());
        assert_eq!((got, connection.as_deref(), closed), (status, Some("close"), true), "{label}");
    }
}

#[test]
fn framing_headers_around_chunked_stay_refused() {
    let cases: [(&str, &str, u16); 6] = [
        ("with Content-Length (RFC 9112 §6.3)", "Transfer-Encoding: chunked\r\nContent-Length: 3", 400),
        ("Content-Length first", "Content-Length: 3\r\nTransfer-Encoding: chunked", 400),
        ("chunked twice", "Transfer-Encoding: chunked, chunked", 400),
        ("not last", "Transfer-Encoding: chunked, gzip", 400),
        ("registered coding first", "Transfer-Encoding: gzip, chunked", 501),
        ("unknown coding", "Transfer-Encoding: x-foo\r\nTransfer-Encoding: chunked", 501),
    ];
    for (label, lines, status) in cases {
        let raw = format!("POST /echo HTTP/1.1\r\nHost: t\r\n{lines}\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        let (got, _, connection, closed) = exchange(AppConfig::default(), raw.as_bytes());
        assert_eq!((got, connection.as_deref(), closed), (status, Some("close"), true), "{label}");
    }
    // HTTP/1.0 with Transfer-Encoding: faulty framing, then a close (RFC 9112 §6.1).
    let raw = "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let (got, _, connection, closed) = exchange(AppConfig::default(), raw.as_bytes());
    assert_eq!((got, connection.as_deref(), closed), (400, Some("close"), true), "HTTP/1.0");
}

#[test]
fn the_body_limit_counts_decoded_bytes_and_refuses_before_reading_past_it() {
    let config = AppConfig { max_body: 100, ..AppConfig::default() };
    let exact = format!("{HEAD}40\r\n{}\r\n24\r\n{}\r\n0\r\n\r\n", "a".repeat(64), "b".repeat(36));
    let (status, body, connection, _) = exchange(config.clone(), exact.as_bytes());
    assert_eq!((status, body.len(), connection.as_deref()), (200, 100, Some("keep-alive")), "100 of 100");
    // 101 announced: 413 at the size line, the data never sent.
    let over = format!("{HEAD}40\r\n{}\r\n25\r\n", "a".repeat(64));
    let (status, _, connection, closed) = exchange(config, over.as_bytes());
    assert_eq!((status, connection.as_deref(), closed), (413, Some("close"), true), "101 of 100");
}

#[test]
fn a_slow_chunked_body_times_out_as_a_content_length_one() {
    let config = AppConfig { body_timeout: Duration::from_millis(500), ..AppConfig::default() };
    let mut c = connect(start(config));
    let started = Instant::now();
    c.write_all(format!("{HEAD}5\r\nab").as_bytes()).unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!(r.status, 408, "a body that stops");
    assert!(started.elapsed() >= Duration::from_millis(500), "not before the timeout");
    assert!(closed_by_server(&mut c), "closed after 408");

    // A byte every 100 ms: the timeout is for the whole body, not each read.
    let config = AppConfig { body_timeout: Duration::from_millis(500), ..AppConfig::default() };
    let mut c = connect(start(config));
    c.write_all(HEAD.as_bytes()).unwrap();
    let started = Instant::now();
    let mut trickle = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for byte in b"1\r\na\r\n".iter().cycle().take(40) {
            if trickle.write_all(std::slice::from_ref(byte)).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let r = read_response(&mut c, false).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(r.status, 408, "a trickling body");
    assert!(elapsed >= Duration::from_millis(500) && elapsed < Duration::from_millis(1500), "{elapsed:?}");
    let _ = writer.join();
}

#[test]
fn expect_continue_with_a_chunked_body() {
    let mut c = connect(start(AppConfig::default()));
    c.write_all(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut interim = [0u8; 25];
    c.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n", "100 Continue before the body");
    c.write_all(b"2\r\nok\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(b"0\r\n\r\n").unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]), "the body after 100, once");
    // As after a `Content-Length` body sent with `Expect`.
    assert_eq!(r.header("Connection"), Some("close"));

    // The whole body with the head: no 100, as for `Content-Length`.
    let raw = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    let mut c = connect(start(AppConfig::default()));
    c.write_all(raw.as_bytes()).unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]), "no interim response");
}

#[test]
fn curl_sends_a_chunked_body() {
    let addr = start(AppConfig::default());
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut curl = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-H", "Transfer-Encoding: chunked", "--data-binary", "@-"])
        .args(["-D", "-", &format!("http://{addr}/echo")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let mut stdin = curl.stdin.take().unwrap();
    let sent = body.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&sent));
    let out = curl.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "curl: {out:?}");
    let split = out.stdout.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&out.stdout[..split]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("X-Length: 200000"), "{head}");
    assert!(out.stdout[split..] == body[..], "the body echoed byte for byte");
}
