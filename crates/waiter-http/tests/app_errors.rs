//! `waiter_http::app` refusals: 400, 413, 431, 505, 408 and idle
//! timeouts, each answered and followed by a close (chunked bodies: `app_chunked.rs`).

mod app_common;

use std::io::Write;
use std::time::{Duration, Instant};

use app_common::{closed_by_server, connect, read_response, start};
use waiter_http::app::AppConfig;

/// Sends `raw` on a new connection; the status, and whether the server then closed.
fn refused(config: AppConfig, raw: &[u8]) -> (u16, Option<String>, bool) {
    let addr = start(config);
    let mut c = connect(addr);
    c.write_all(raw).unwrap();
    let r = read_response(&mut c, false).expect("a response");
    (r.status, r.header("Connection").map(str::to_owned), closed_by_server(&mut c))
}

#[test]
fn bad_requests() {
    let close = Some("close".to_owned());
    let cases: [(&str, &[u8], u16); 4] = [
        ("garbage", b"\x01\x02 nonsense\r\n\r\n", 400),
        ("no Host", b"GET /hello HTTP/1.1\r\n\r\n", 400),
        (
            "smuggling",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            400,
        ),
        ("version", b"GET /hello HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    ];
    for (label, raw, status) in cases {
        assert_eq!(refused(AppConfig::default(), raw), (status, close.clone(), true), "{label}");
    }
}

#[test]
fn oversize_body_is_413() {
    let config = AppConfig { max_body: 100, ..AppConfig::default() };
    let raw = format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n{}", "y".repeat(101));
    assert_eq!(refused(config.clone(), raw.as_bytes()), (413, Some("close".into()), true), "101 > 100");
    let raw = format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{}", "y".repeat(100));
    let addr = start(config);
    let mut c = connect(addr);
    c.write_all(raw.as_bytes()).unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.body.len()), (200, 100), "exactly max_body is served");
    assert_eq!(r.header("Connection"), Some("keep-alive"), "and keeps the connection");
}

#[test]
fn oversize_head_is_431() {
    let config = AppConfig::default();
    let raw = format!("GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "z".repeat(9000));
    assert_eq!(refused(config, raw.as_bytes()), (431, Some("close".into()), true), "an 9 KB header line");
}

#[test]
fn slow_head_is_408_and_idle_connection_closes() {
    let config = AppConfig {
        header_timeout: Duration::from_millis(300),
        keepalive_timeout: Duration::from_millis(300),
        ..AppConfig::default()
    };
    let addr = start(config);
    let mut c = connect(addr);
    let started = Instant::now();
    c.write_all(b"GET /hello HTTP/1.1\r\nHost").unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!(r.status, 408, "a head that never ends");
    assert!(started.elapsed() >= Duration::from_millis(300), "not before the timeout");
    assert!(closed_by_server(&mut c), "closed after 408");

    let mut c = connect(addr);
    c.write_all(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut c, false).unwrap().status, 200, "first request");
    let idle = Instant::now();
    assert!(closed_by_server(&mut c), "an idle keep-alive connection is closed");
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "after ~300 ms: {waited:?}"
    );
}
