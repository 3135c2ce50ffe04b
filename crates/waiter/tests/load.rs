//! `waiter load` against a real `waiter serve`: its counts agree with the
//! server's own (`stub_status`), bytes add up to file size × requests, idle
//! connections are held, and bad command lines are refused. Then against
//! small misbehaving servers written here (a thread per connection,
//! blocking std sockets): 500s are status errors, a server that closes
//! after each response is reconnected to, chunked and close-delimited bodies
//! are framed, a silent server times out, and at `--rate` a 200 ms stall
//! shows up in the corrected latencies of the requests due during it.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{connect, root_with, spawn, wait_exit, Running};
use serde_json::Value;

const FILE_LEN: usize = 1024;

/// Every `waiter load` run here ends within this, or the test fails: a hang is a bug.
const RUN_LIMIT: Duration = Duration::from_secs(15);

fn load(args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_waiter"))
        .arg("load")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start waiter load");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(RUN_LIMIT) {
        Ok(out) => out.expect("waiter load's output"),
        Err(_) => {
            common::kill(pid, "KILL");
            panic!("waiter load {args:?} still running after {RUN_LIMIT:?}");
        }
    }
}

/// Runs `waiter load` with `--json` and returns the parsed object.
fn load_json(args: &[&str]) -> Value {
    let out = load(&[args, &["--json"]].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}: {stdout}{}", out.status, String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn u(v: &Value, path: &str) -> u64 {
    v.pointer(path).and_then(Value::as_u64).unwrap_or_else(|| panic!("no integer at {path} in {v}"))
}

/// The server's `accepts handled requests` line from `stub_status`.
fn server_counts(server: &Server) -> [u64; 3] {
    let mut stream = connect(server.0.addr);
    stream.write_all(b"GET /status HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let line = body.lines().nth(2).unwrap_or_else(|| panic!("stub_status: {response:?}"));
    let n: Vec<u64> = line.split_whitespace().map(|n| n.parse().unwrap()).collect();
    [n[0], n[1], n[2]]
}

/// A `waiter serve` stopped with SIGTERM when dropped, so a failed test leaves no server behind.
struct Server(Running);

impl Drop for Server {
    fn drop(&mut self) {
        common::kill(self.0.child.id(), "TERM");
        wait_exit(&mut self.0.child);
    }
}

fn start(root: &std::path::Path, args: &[&str]) -> Server {
    Server(spawn(&[], root, args))
}

#[test]
fn counts_agree_with_the_server() {
    let root = root_with("load-counts", &[("1k.bin", &[b'x'; FILE_LEN])]);
    // --max-requests 50: the server closes each connection after 50 responses,
    // so reconnects happen and must be counted.
    let server = start(&root, &["--workers", "1", "--status-path", "/status", "--max-requests", "50"]);
    let url = format!("http://{}/1k.bin", server.0.addr);
    let report = load_json(&[&url, "-c", "8", "-d", "1s"]);
    let requests = u(&report, "/requests");
    assert!(requests > 100, "some requests in a second: {report}");
    for kind in ["connect", "read", "write", "status", "timeout"] {
        assert_eq!(u(&report, &format!("/errors/{kind}")), 0, "{kind} errors: {report}");
    }
    assert_eq!(u(&report, "/body_bytes"), requests * FILE_LEN as u64, "body bytes = file size x requests");
    assert!(u(&report, "/bytes") > requests * FILE_LEN as u64, "bytes read include the heads");
    let reconnects = u(&report, "/reconnects");
    assert!(reconnects >= (requests / 50).saturating_sub(8), "a reconnect per 50 requests: {report}");
    assert_eq!(u(&report, "/connections"), 8);
    let [accepts, _, served] = server_counts(&server);
    assert_eq!(served, requests + 1, "the server answered what was counted (+ this status request)");
    assert_eq!(accepts, 8 + reconnects + 1, "connections the server accepted (+ this one)");
    let rps = report["rps"].as_f64().unwrap();
    let duration = report["duration_s"].as_f64().unwrap();
    assert!((rps * duration - requests as f64).abs() < 1.0, "rps x duration = requests");
    assert!((1.0..5.0).contains(&duration), "duration {duration}");
    let lat = &report["latency_us"];
    assert!(u(lat, "/p50") <= u(lat, "/p99") && u(lat, "/p99") <= u(lat, "/max"), "ordered quantiles: {lat}");
    drop(server);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn idle_connections_are_held_and_their_closing_counted() {
    let root = root_with("load-idle", &[("a.txt", b"hello")]);
    let server = start(&root, &["--workers", "1", "--header-timeout", "1", "--keepalive-timeout", "1"]);
    let url = format!("http://{}/a.txt", server.0.addr);
    let report = load_json(&[&url, "-c", "1", "--idle", "20", "-d", "300ms"]);
    assert_eq!((u(&report, "/idle"), u(&report, "/idle_closed")), (20, 0), "held open: {report}");
    // Past the server's 1 s header timeout the idle ones (never sent a request) are closed by it (the
    // busy one is not idle), and each closing is noticed.
    let report = load_json(&[&url, "-c", "1", "--idle", "20", "-d", "2500ms"]);
    assert_eq!(u(&report, "/idle_closed"), 20, "closed by the server: {report}");
    assert_eq!(u(&report, "/errors/read"), 0, "the busy connection kept going: {report}");
    drop(server);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn text_report_reads_like_wrk() {
    let root = root_with("load-text", &[("a.txt", b"hello")]);
    let server = start(&root, &["--workers", "1"]);
    let out = load(&[
        &format!("http://{}/missing", server.0.addr),
        "-c",
        "2",
        "-d",
        "200ms",
        "--latency",
        "-t",
        "1",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for line in [
        "Running ",
        "Latency Distribution",
        "99.9%",
        "Non-2xx or 3xx responses: ",
        "Requests/sec:",
        "Transfer/sec:",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn bad_command_lines_are_refused() {
    for (args, code, says) in [
        (&["https://127.0.0.1:1/"][..], 2, "only http://"),
        (&["http://example.com/"], 2, "no DNS"),
        (&["http://127.0.0.1:1/", "-t", "2"], 2, "invalid value"),
        (&["http://127.0.0.1:1/", "-d", "10parsecs"], 2, "unknown unit"),
        (&["http://127.0.0.1:1/", "-H", "NoColon"], 2, "Name: value"),
        (&["http://127.0.0.1:1/", "-c", "0"], 2, "--idle"),
        (&["http://127.0.0.1:1/", "-c", "1000000"], 1, "RLIMIT_NOFILE"),
    ] {
        let out = load(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?} says {says:?}: {err}");
    }
    // Nothing listens there: no connection at all is an error, not an empty report.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = load(&[&format!("http://{free}/"), "-c", "2", "-d", "1s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no connection could be opened") && err.contains("refused"), "{err}");
    let help = load(&["--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in
        ["--connections", "--duration", "--rate", "--idle", "--header", "--timeout", "--json", "latency_us"]
    {
        assert!(help.contains(flag), "--help explains {flag}");
    }
}

// ---- misbehaving servers --------------------------------------------------

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

/// `waiter load http://ADDR/ --json ARGS...`, parsed.
fn load_at(addr: SocketAddr, args: &[&str]) -> Value {
    load_json(&[&[format!("http://{addr}/").as_str()], args].concat())
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
    let report = load_at(addr, &["-c", "4", "-d", "500ms"]);
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
    let report = load_at(addr, &["-c", "4", "-d", "500ms"]);
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
    let report = load_at(addr, &["-c", "2", "-d", "300ms"]);
    let requests = u(&report, "/requests");
    assert!(requests > 10, "{report}");
    assert_no_socket_errors(&report);
    assert_eq!(u(&report, "/body_bytes"), 10 * requests, "de-chunked body bytes");
    assert_eq!(u(&report, "/bytes"), (chunked.len() as u64) * requests, "bytes read");
    assert_eq!(u(&report, "/reconnects"), 0, "kept alive");

    let until_close = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nseven b";
    let (addr, _) = serve(Behaviour { response: until_close, close: true, stall_at: None });
    let report = load_at(addr, &["-c", "2", "-d", "300ms"]);
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
    let report = load_at(addr, &["-c", "1", "-d", "2s", "--rate", "200"]);
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

#[test]
fn a_silent_server_times_out_and_the_run_still_ends() {
    // It reads the requests and never answers.
    let (addr, seen) = serve(Behaviour { response: b"", close: false, stall_at: None });
    let report = load_at(addr, &["-c", "2", "-d", "1s", "--timeout", "300ms"]);
    assert_eq!(u(&report, "/requests"), 0, "{report}");
    let timeouts = u(&report, "/errors/timeout");
    assert!(timeouts >= 4, "each connection times out about every 300 ms: {report}");
    assert!(u(&report, "/reconnects") >= timeouts - 2, "a timed-out connection is replaced: {report}");
    assert!(
        report["duration_s"].as_f64().unwrap() < 5.0,
        "the last request waits its timeout, no more: {report}"
    );
    assert!(seen.requests.load(Ordering::SeqCst) as u64 >= timeouts, "each timeout was a request sent");
}

#[test]
fn a_vanished_server_ends_a_fixed_rate_run_on_time() {
    // It answers one request with `Connection: close` and stops listening: every reconnect is refused.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        drop(listener);
        let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        answer(conn, Behaviour { response, close: true, stall_at: None }, &Seen::default());
    });
    let report = load_at(addr, &["-c", "1", "-d", "1s", "--rate", "50"]);
    assert_eq!(u(&report, "/requests"), 1, "{report}");
    assert!(u(&report, "/errors/connect") >= 5, "refused reconnects counted: {report}");
    assert!(report["duration_s"].as_f64().unwrap() < 3.0, "ended with its duration: {report}");
}
