//! An outside audit of the API server example (`examples/api_server.rs`) as a
//! client of a Node/Express API would use it: HEAD, methods a route does not
//! have, what `POST /users` stores and where it says it stored it, input
//! PostgreSQL cannot store, and a database that goes away and comes back
//! (behind a proxy the test takes down: the cluster is shared). Raw sockets,
//! so that framing errors show. Each test names the behaviour it pins down;
//! those added with a fix fail without it.

mod api_example;
mod common;
mod proxy;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use api_example::Server;

use proxy::Proxy;

fn start(db_port: u16) -> Server {
    api_example::start(&format!("postgres://waiter@127.0.0.1:{db_port}/waiter"))
}

/// One response read off a kept-alive connection: framed by its
/// `Content-Length`, with no body when it answers HEAD.
struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

fn read_reply(reader: &mut BufReader<TcpStream>, head_only: bool) -> Reply {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "connection closed; head so far: {head}");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let reply = Reply { status, head, body: String::new() };
    let length: usize = reply.header("content-length").expect("Content-Length").parse().unwrap();
    let mut body = vec![0; if head_only { 0 } else { length }];
    reader.read_exact(&mut body).unwrap();
    Reply { body: String::from_utf8(body).unwrap(), ..reply }
}

/// Sends `requests` (raw) on one connection and reads one reply per entry
/// of `head_only` (whether that request was a HEAD).
fn exchange(addr: SocketAddr, requests: &[u8], head_only: &[bool]) -> Vec<Reply> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(requests).unwrap();
    let mut reader = BufReader::new(stream);
    head_only.iter().map(|&h| read_reply(&mut reader, h)).collect()
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    exchange(addr, format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(), &[false]).remove(0)
}

fn post_user(addr: SocketAddr, body: &str) -> Reply {
    let request = format!(
        "POST /users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    exchange(addr, request.as_bytes(), &[false]).remove(0)
}

#[test]
fn head_is_get_without_the_body_and_the_connection_stays_framed() {
    let server = start(common::cluster().port);
    let requests = b"HEAD /users/1 HTTP/1.1\r\nHost: t\r\n\r\n\
        HEAD /slow HTTP/1.1\r\nHost: t\r\n\r\n\
        HEAD /nope HTTP/1.1\r\nHost: t\r\n\r\n\
        GET /users/2 HTTP/1.1\r\nHost: t\r\n\r\n";
    let replies = exchange(server.addr, requests, &[true, true, true, false]);
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 404, 200], "{}", replies[0].head);
    // HEAD announces the length GET would send.
    let get_1 = get(server.addr, "/users/1");
    assert_eq!(replies[0].header("content-length").unwrap(), get_1.body.len().to_string());
    // After three HEADs, the GET's reply is read where it starts.
    let user: serde_json::Value = serde_json::from_str(&replies[3].body).unwrap();
    assert_eq!(user["id"], 2);
}

#[test]
fn a_method_a_route_does_not_have_is_405_naming_the_ones_it_has() {
    let server = start(common::cluster().port);
    let requests = b"PUT /users/1 HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}\
        DELETE /users/1 HTTP/1.1\r\nHost: t\r\n\r\n\
        POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n\
        GET /users HTTP/1.1\r\nHost: t\r\n\r\n\
        DELETE /nope HTTP/1.1\r\nHost: t\r\n\r\n";
    let replies = exchange(server.addr, requests, &[false; 5]);
    let seen: Vec<(u16, Option<&str>)> = replies.iter().map(|r| (r.status, r.header("allow"))).collect();
    assert_eq!(
        seen,
        [
            (405, Some("GET, HEAD")),
            (405, Some("GET, HEAD")),
            (405, Some("GET, HEAD")),
            (405, Some("POST")),
            (404, None)
        ]
    );
}

#[test]
fn a_created_user_is_stored_exactly_and_its_location_given() {
    let server = start(common::cluster().port);
    let names = [
        r#"Robert'); DROP TABLE users;--"#,
        r#"quote " backslash \ tab	end"#,
        "Zoë 日本語 🎉 \u{202e}",
        "$1 %s {} \\x00 NULL",
    ];
    for name in names {
        let body = serde_json::json!({ "name": name, "email": "a@b.c", "id": 1, "admin": true }).to_string();
        let created = post_user(server.addr, &body);
        assert_eq!(created.status, 201, "{}\n{}", created.head, created.body);
        let row: serde_json::Value = serde_json::from_str(&created.body).unwrap();
        assert_eq!(row["name"], name);
        let id = row["id"].as_i64().unwrap();
        assert_ne!(id, 1, "a client-sent id is not used");
        // RFC 9110 §15.3.2: the new resource is named by Location.
        let location = created.header("location").expect("201 with a Location").to_string();
        assert_eq!(location, format!("/users/{id}"));
        let read = get(server.addr, &location);
        assert_eq!(read.status, 200);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&read.body).unwrap(), row);
    }
    assert_eq!(get(server.addr, "/users/1").status, 200, "the table is still there");
}

#[test]
fn a_name_postgres_cannot_store_is_the_client_s_error() {
    let server = start(common::cluster().port);
    for body in [r#"{"name":"a\u0000b"}"#, r#"{"name":"ok","email":"x\u0000"}"#] {
        let reply = post_user(server.addr, body);
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        let error: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert!(error["error"].as_str().unwrap().contains("U+0000"), "{}", reply.body);
    }
}

#[test]
fn a_database_that_is_down_is_503_without_a_wait_and_served_again_when_back() {
    let mut proxy = Proxy::start(common::cluster().port);
    let server = start(proxy.port());
    assert_eq!(get(server.addr, "/users/1").status, 200);
    assert_eq!(get(server.addr, "/slow").status, 200);
    proxy.down();
    std::thread::sleep(Duration::from_millis(50));
    // The pool waits out a restart for 2 s, then says so (before: 30 s, then 500).
    let started = Instant::now();
    let reply = get(server.addr, "/users/1");
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.body.contains("database unavailable"), "{}", reply.body);
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    // While it stays down: at once.
    for path in ["/slow", "/users/2"] {
        let started = Instant::now();
        let reply = get(server.addr, path);
        assert_eq!(reply.status, 503, "{path}: {}", reply.body);
        assert!(started.elapsed() < Duration::from_millis(500), "{path}: {:?}", started.elapsed());
    }
    proxy.up();
    let back = Instant::now();
    loop {
        let reply = get(server.addr, "/users/1");
        if reply.status == 200 {
            break;
        }
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert!(back.elapsed() < Duration::from_millis(2500), "still down: {}", reply.body);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(get(server.addr, "/slow").status, 200);
}

#[test]
fn a_user_posted_with_a_chunked_body_is_created() {
    // As Node's fetch or http.request with a streamed body sends it: no
    // Content-Length, the JSON in chunks split mid-token; a request
    // pipelined after it is answered in turn.
    let server = start(common::cluster().port);
    let body = serde_json::json!({ "name": "chunked Zoë", "email": "c@d.e" }).to_string();
    let (a, b) = body.split_at(7);
    let request = format!(
        "POST /users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\nGET /users/1 HTTP/1.1\r\nHost: t\r\n\r\n",
        a.len(),
        b.len()
    );
    let replies = exchange(server.addr, request.as_bytes(), &[false, false]);
    assert_eq!(replies[0].status, 201, "{}\n{}", replies[0].head, replies[0].body);
    let row: serde_json::Value = serde_json::from_str(&replies[0].body).unwrap();
    assert_eq!((row["name"].as_str(), row["email"].as_str()), (Some("chunked Zoë"), Some("c@d.e")));
    assert_eq!(replies[1].status, 200, "the pipelined GET");
    let read = get(server.addr, replies[0].header("location").expect("a Location"));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&read.body).unwrap(), row);
}
