//! The first seed's API server (`examples/api_server.rs`) run as a program
//! against the test cluster: every route, its status and its JSON.

mod api_example;
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use api_example::Server;

fn start() -> Server {
    api_example::start(&common::url("waiter", None))
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
