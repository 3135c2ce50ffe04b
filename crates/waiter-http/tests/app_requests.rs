//! `waiter_http::app`: GET, POST with a body, the handler's 404, keep-alive,
//! pipelining order and HTTP/1.0, over real sockets.

mod app_common;

use std::io::Write;

use app_common::{closed_by_server, connect, read_response, start};
use waiter_http::app::AppConfig;

#[test]
fn get_post_and_404() {
    let addr = start(AppConfig::default());
    let mut c = connect(addr);
    c.write_all(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello\n"[..]), "GET");
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"), "GET type");
    assert_eq!(r.header("Connection"), Some("keep-alive"), "GET keep-alive");
    assert!(r.header("Date").is_some_and(|d| d.ends_with(" GMT")), "GET date");

    let body = br#"{"name":"ada","email":"ada@example.com"}"#;
    let post = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(post.as_bytes()).unwrap();
    c.write_all(body).unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &body[..]), "POST echoes its body");
    assert_eq!(r.header("X-Length"), Some(body.len().to_string().as_str()), "handler header");
    assert_eq!(r.header("Content-Type"), Some("application/json"), "POST type");

    c.write_all(b"DELETE /nothing HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (404, &b"no DELETE /nothing\n"[..]), "handler 404");
    assert_eq!(r.header("Connection"), Some("keep-alive"), "a 404 keeps the connection");
}

#[test]
fn post_body_in_pieces() {
    let addr = start(AppConfig::default());
    let mut c = connect(addr);
    let body = vec![b'x'; 20_000];
    c.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 20000\r\n\r\n").unwrap();
    for piece in body.chunks(3000) {
        c.write_all(piece).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.body.len()), (200, 20_000), "a body over several reads");
    assert!(r.body.iter().all(|&b| b == b'x'), "the body's bytes");
}

#[test]
fn a_head_in_pieces_and_a_body_in_the_head_s_read() {
    let addr = start(AppConfig::default());
    let mut c = connect(addr);
    // A head over several reads: the first read's bytes leave the shared
    // buffer for the connection's own, and the rest join them there.
    for piece in [&b"GET /hel"[..], b"lo HTTP/1.1\r\nHo", b"st: t\r\n", b"\r\n"] {
        c.write_all(piece).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello\n"[..]), "a head over four reads");
    // A whole head and its body in one read: the body is what the head left over.
    c.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello").unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]), "a body read with its head");
}

#[test]
fn pipelined_responses_keep_request_order() {
    let addr = start(AppConfig::default());
    let mut c = connect(addr);
    // The first request sleeps longest: a server answering concurrently would reorder.
    let mut batch = String::new();
    for ms in [60, 0, 30, 1] {
        batch.push_str(&format!("GET /sleep?{ms} HTTP/1.1\r\nHost: t\r\n\r\n"));
    }
    batch.push_str("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    c.write_all(batch.as_bytes()).unwrap();
    let mut bodies = Vec::new();
    for _ in 0..6 {
        bodies.push(String::from_utf8(read_response(&mut c, false).unwrap().body).unwrap());
    }
    assert_eq!(bodies, ["60", "0", "30", "1", "abc", "hello\n"], "responses in request order");
}

#[test]
fn keep_alive_many_requests_and_close() {
    let addr = start(AppConfig { max_requests: 5, ..AppConfig::default() });
    let mut c = connect(addr);
    for i in 1..=5 {
        c.write_all(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let r = read_response(&mut c, false).unwrap();
        assert_eq!(r.status, 200, "request {i}");
        let expected = if i < 5 { "keep-alive" } else { "close" };
        assert_eq!(r.header("Connection"), Some(expected), "request {i} of max_requests 5");
    }
    assert!(closed_by_server(&mut c), "closed after max_requests");

    let mut c = connect(addr);
    c.write_all(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!(r.header("Connection"), Some("close"), "Connection: close honoured");
    assert!(closed_by_server(&mut c), "closed after Connection: close");
}

#[test]
fn http_1_0() {
    let addr = start(AppConfig::default());
    let mut c = connect(addr);
    c.write_all(b"GET /hello HTTP/1.0\r\n\r\n").unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.header("Connection")), (200, Some("close")), "1.0 without keep-alive");
    assert!(closed_by_server(&mut c), "1.0 closes");

    let mut c = connect(addr);
    c.write_all(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /hello HTTP/1.0\r\n\r\n").unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!(r.header("Connection"), Some("keep-alive"), "1.0 with keep-alive");
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.header("Connection")), (200, Some("close")), "second 1.0 request");
}

#[test]
fn expect_continue() {
    let addr = start(AppConfig::default());
    let mut c = connect(addr);
    c.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let mut interim = [0u8; 25];
    std::io::Read::read_exact(&mut c, &mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n", "100 Continue before the body");
    c.write_all(b"ok").unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]), "the body after 100");
}

#[test]
fn a_client_pipelining_far_past_max_requests_gets_every_answer() {
    // After the last answer the server drains what the client still sends;
    // closing with requests unread would reset the connection and destroy
    // answers already sent but not yet read (a byte cap on the drain did).
    let addr = start(AppConfig { max_requests: 1000, ..AppConfig::default() });
    let mut c = connect(addr);
    let requests = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n".repeat(10_000);
    let mut writer = c.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&requests));
    // A client that reads a little after it writes, as a real one may.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut answered = 0;
    while let Some(r) = read_response(&mut c, false) {
        assert_eq!(r.status, 200, "answer {answered}");
        answered += 1;
        if answered == 1000 {
            break;
        }
    }
    let _ = sender.join();
    assert_eq!(answered, 1000, "answers that arrived before the connection ended");
}
