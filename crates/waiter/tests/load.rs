//! `waiter load` against a real `waiter serve`: its counts agree with the
//! server's own (`stub_status`), bytes add up to file size × requests, idle
//! connections are held, and bad command lines are refused.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Output};

use common::{connect, root_with, spawn, wait_exit, Running};
use serde_json::Value;

const FILE_LEN: usize = 1024;

fn load(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_waiter")).arg("load").args(args).output().expect("run waiter load")
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
fn server_counts(server: &Running) -> [u64; 3] {
    let mut stream = connect(server.addr);
    stream.write_all(b"GET /status HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let line = body.lines().nth(2).unwrap_or_else(|| panic!("stub_status: {response:?}"));
    let n: Vec<u64> = line.split_whitespace().map(|n| n.parse().unwrap()).collect();
    [n[0], n[1], n[2]]
}

fn stop(mut server: Running) {
    common::kill(server.child.id(), "TERM");
    wait_exit(&mut server.child);
}

#[test]
fn counts_agree_with_the_server() {
    let root = root_with("load-counts", &[("1k.bin", &[b'x'; FILE_LEN])]);
    // --max-requests 50: the server closes each connection after 50 responses,
    // so reconnects happen and must be counted.
    let server = spawn(&[], &root, &["--workers", "1", "--status-path", "/status", "--max-requests", "50"]);
    let url = format!("http://{}/1k.bin", server.addr);
    let report = load_json(&[&url, "-c", "8", "-d", "1s"]);
    let requests = u(&report, "/requests");
    assert!(requests > 100, "some requests in a second: {report}");
    for kind in ["connect", "read", "write", "status", "timeout"] {
        assert_eq!(u(&report, &format!("/errors/{kind}")), 0, "{kind} errors: {report}");
    }
    assert_eq!(u(&report, "/body_bytes"), requests * FILE_LEN as u64, "body bytes = file size x requests");
    assert!(u(&report, "/bytes") > requests * FILE_LEN as u64, "bytes read include the heads");
    let reconnects = u(&report, "/reconnects");
    assert!(reconnects >= requests / 50 - 8, "a reconnect per 50 requests: {report}");
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
    stop(server);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn idle_connections_are_held_and_their_closing_counted() {
    let root = root_with("load-idle", &[("a.txt", b"hello")]);
    let server = spawn(&[], &root, &["--workers", "1", "--header-timeout", "1", "--keepalive-timeout", "1"]);
    let url = format!("http://{}/a.txt", server.addr);
    let report = load_json(&[&url, "-c", "1", "--idle", "20", "-d", "300ms"]);
    assert_eq!((u(&report, "/idle"), u(&report, "/idle_closed")), (20, 0), "held open: {report}");
    // Past the server's 1 s header timeout the idle ones (never sent a request) are closed by it (the
    // busy one is not idle), and each closing is noticed.
    let report = load_json(&[&url, "-c", "1", "--idle", "20", "-d", "2500ms"]);
    assert_eq!(u(&report, "/idle_closed"), 20, "closed by the server: {report}");
    assert_eq!(u(&report, "/errors/read"), 0, "the busy connection kept going: {report}");
    stop(server);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn text_report_reads_like_wrk() {
    let root = root_with("load-text", &[("a.txt", b"hello")]);
    let server = spawn(&[], &root, &["--workers", "1"]);
    let out =
        load(&[&format!("http://{}/missing", server.addr), "-c", "2", "-d", "200ms", "--latency", "-t", "1"]);
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
    stop(server);
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
