//! `waiter load` against small misbehaving servers written here (a thread
//! per connection, blocking std sockets): 500s are status errors, a server
//! that closes after each response is reconnected to, chunked and
//! close-delimited bodies are framed, and at `--rate` a 200 ms stall shows
//! up in the corrected latencies of the requests that were due during it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

/// How the test server answers.
#[derive(Clone, Copy)]
struct Behaviour {
    /// The bytes of each response.
    response: &'static [u8],
    /// Close the connection after each response.
    close: bool,
    /// Wait 200 ms before answering this request (counted from 1 over all connections).
    stall_at: Option<usize>,
}

/// What the test server saw.
#[derive(Default)]
struct Seen {
    accepted: AtomicUsize,
    requests: AtomicUsize,
}

/// Starts a server on 127.0.0.1 port 0 behaving as `how`; it lives until the test process ends.
fn serve(how: Behaviour) -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let counts = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            counts.accepted.fetch_add(1, Ordering::SeqCst);
            let counts = counts.clone();
            std::thread::spawn(move || answer(conn, how, &counts));
        }
    });
    (addr, seen)
}

fn answer(mut conn: TcpStream, how: Behaviour, seen: &Seen) {
    let _ = conn.set_nodelay(true);
    let mut pending = Vec::new();
    let mut buf = [0; 4096];
    loop {
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            let n = seen.requests.fetch_add(1, Ordering::SeqCst) + 1;
            if how.stall_at == Some(n) {
                std::thread::sleep(Duration::from_millis(200));
            }
            if conn.write_all(how.response).is_err() || how.close {
                return;
            }
        }
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

fn load_json(addr: SocketAddr, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_waiter"))
        .args(["load", &format!("http://{addr}/"), "--json"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}: {stdout}{}", out.status, String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn u(v: &Value, path: &str) -> u64 {
    v.pointer(path).and_then(Value::as_u64).unwrap_or_else(|| panic!("no integer at {path} in {v}"))
}

fn assert_no_socket_errors(report: &Value) {
    for kind in ["connect", "read", "write", "timeout"] {
        assert_eq!(u(report, &format!("/errors/{kind}")), 0, "{kind} errors: {report}");
    }
}

#[test]
fn server_errors_are_status_errors() {
    let response = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nerr";
    let (addr, seen) = serve(Behaviour { response, close: false, stall_at: None });
    let report = load_json(addr, &["-c", "4", "-d", "500ms"]);
    let requests = u(&report, "/requests");
    assert!(requests > 10, "{report}");
    assert_eq!(u(&report, "/errors/status"), requests, "every 500 counted: {report}");
    assert_eq!(seen.requests.load(Ordering::SeqCst) as u64, requests, "each request answered was counted");
    assert_no_socket_errors(&report);
}

#[test]
fn closing_server_is_reconnected() {
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    let (addr, seen) = serve(Behaviour { response, close: true, stall_at: None });
    let report = load_json(addr, &["-c", "4", "-d", "500ms"]);
    let (requests, reconnects) = (u(&report, "/requests"), u(&report, "/reconnects"));
    assert!(requests > 10, "{report}");
    assert_no_socket_errors(&report);
    assert_eq!(u(&report, "/errors/status"), 0);
    // Each response closes its connection: every request but each connection's
    // last is followed by a reconnect.
    assert!(
        (requests - 4..=requests).contains(&reconnects),
        "reconnects {reconnects} for {requests} requests"
    );
    assert_eq!(
        seen.accepted.load(Ordering::SeqCst) as u64,
        4 + reconnects,
        "connections the server accepted"
    );
    assert_eq!(u(&report, "/body_bytes"), 2 * requests);
}

#[test]
fn chunked_and_close_delimited_bodies_are_framed() {
    let chunked =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nabcd\r\n6\r\nefghij\r\n0\r\n\r\n";
    let (addr, _) = serve(Behaviour { response: chunked, close: false, stall_at: None });
    let report = load_json(addr, &["-c", "2", "-d", "300ms"]);
    let requests = u(&report, "/requests");
    assert!(requests > 10, "{report}");
    assert_no_socket_errors(&report);
    assert_eq!(u(&report, "/body_bytes"), 10 * requests, "de-chunked body bytes");
    assert_eq!(u(&report, "/bytes"), (chunked.len() as u64) * requests, "bytes read");
    assert_eq!(u(&report, "/reconnects"), 0, "kept alive");

    let until_close = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nseven b";
    let (addr, _) = serve(Behaviour { response: until_close, close: true, stall_at: None });
    let report = load_json(addr, &["-c", "2", "-d", "300ms"]);
    let requests = u(&report, "/requests");
    assert!(requests > 10, "{report}");
    assert_no_socket_errors(&report);
    assert_eq!(u(&report, "/body_bytes"), 7 * requests, "body up to the close");
}

#[test]
fn a_stall_is_charged_to_every_request_due_during_it() {
    // 200 requests/s on one connection: one due every 5 ms. The server stalls
    // 200 ms once, at the 100th: some 40 requests were due meanwhile and go
    // out late, back to back. From their due times they waited ~5..200 ms
    // (the top 10% of ~400); from when they were actually sent, only the
    // stalled one did (the top 0.25%).
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let (addr, _) = serve(Behaviour { response, close: false, stall_at: Some(100) });
    let report = load_json(addr, &["-c", "1", "-d", "2s", "--rate", "200"]);
    let requests = u(&report, "/requests");
    assert!((300..=400).contains(&requests), "about 400 requests at 200/s for 2 s: {report}");
    assert_no_socket_errors(&report);
    let (fixed, raw) = (&report["latency_us"], &report["latency_uncorrected_us"]);
    assert!(
        u(fixed, "/max") >= 190_000 && u(raw, "/max") >= 190_000,
        "both see the stalled request: {report}"
    );
    assert!(u(fixed, "/p99") >= 150_000, "corrected p99 covers the requests due during the stall: {fixed}");
    assert!(u(raw, "/p99") < 100_000, "uncorrected p99 hides them: {raw}");
    let (fixed_mean, raw_mean) = (fixed["mean"].as_f64().unwrap(), raw["mean"].as_f64().unwrap());
    assert!(fixed_mean > 2.0 * raw_mean, "corrected mean {fixed_mean} vs uncorrected {raw_mean}");
}
