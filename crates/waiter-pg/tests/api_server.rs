//! The first seed's API server (`examples/api_server.rs`) run as a program
//! against the test cluster: every route, its status and its JSON.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The example's binary: cargo builds examples next to the test binaries
/// (`target/<profile>/examples/`) whenever it builds the tests.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("examples/api_server");
    assert!(bin.exists(), "{} missing: cargo builds examples with the tests", bin.display());
    bin
}

/// The running example; killed (by PID, it is our child) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let db = common::url("waiter", None);
    let mut child = Command::new(example_binary())
        .args(["--listen", "127.0.0.1:0", "--pool", "4", "--db", &db])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the api_server example");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("api_server exited before listening").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    Server { child, addr }
}

/// One request on a fresh connection: `(status line, body)`.
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a complete response");
    (head.to_string(), body.to_string())
}

fn status(head: &str) -> u16 {
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn every_route_answers_with_its_status_and_json() {
    common::cluster();
    let server = start();
    let addr = server.addr;

    // It seeded its own table: user 1 exists.
    let (head, body) = request(addr, "GET", "/users/1", "");
    assert_eq!(status(&head), 200, "{head}\n{body}");
    let user: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(user["id"], 1, "{body}");
    assert!(head.contains("Content-Type: application/json"), "{head}");

    let (head, body) = request(addr, "GET", "/users/999999999", "");
    assert_eq!(status(&head), 404, "{head}\n{body}");
    let (head, _) = request(addr, "GET", "/users/not-a-number", "");
    assert_eq!(status(&head), 404, "{head}");

    let (head, body) = request(addr, "POST", "/users", r#"{"name":"Ada","email":"ada@example.com"}"#);
    assert!(head.starts_with("HTTP/1.1 201 Created"), "{head}\n{body}");
    let created: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(created["name"], "Ada", "{body}");
    let id = created["id"].as_i64().expect("an id");
    let (head, body) = request(addr, "GET", &format!("/users/{id}"), "");
    assert_eq!(status(&head), 200, "the new user reads back: {head}");
    assert!(body.contains("ada@example.com"), "{body}");

    let (head, body) = request(addr, "POST", "/users", "{not json");
    assert_eq!(status(&head), 400, "{head}");
    let error: serde_json::Value = serde_json::from_str(&body).expect("a JSON error");
    assert!(error["error"].as_str().unwrap().contains("invalid JSON"), "{body}");

    let (head, _) = request(addr, "DELETE", "/slow", "");
    assert_eq!(status(&head), 405, "{head}");
    assert!(head.contains("\r\nAllow: GET"), "405 names the allowed methods: {head}");

    let started = Instant::now();
    let (head, body) = request(addr, "GET", "/slow", "");
    assert_eq!(status(&head), 200, "{head}\n{body}");
    assert!(started.elapsed() >= Duration::from_millis(20), "pg_sleep(0.02) took {:?}", started.elapsed());

    let (head, body) = request(addr, "GET", "/pool", "");
    assert_eq!(status(&head), 200, "{head}");
    let pool: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert!(pool["size"].as_u64().unwrap() >= 1 && pool["size"].as_u64().unwrap() <= 4, "{body}");
    // /slow's pipelined checkout was handed back once its request was answered.
    assert_eq!((pool["pipelined"].as_u64(), pool["in_use"].as_u64()), (Some(0), Some(0)), "{body}");
}
