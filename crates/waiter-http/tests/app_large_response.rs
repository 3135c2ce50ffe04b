//! `waiter_http::app`: a response larger than the socket takes at once (the
//! first `writev` is partial, the rest waits for room) arrives whole, and the
//! connection stays usable after it.

mod app_common;

use std::io::Write;
use std::time::Duration;

use app_common::{connect, read_response, start};
use waiter_http::app::AppConfig;

#[test]
fn an_echo_larger_than_the_socket_buffers_arrives_whole() {
    const LEN: usize = 8 * 1024 * 1024;
    let addr = start(AppConfig { max_body: LEN as u64, ..AppConfig::default() });
    let mut c = connect(addr);
    let body: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    c.write_all(format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {LEN}\r\n\r\n").as_bytes())
        .unwrap();
    c.write_all(&body).unwrap();
    // Not reading for a while: the server's first write fills the buffers and the rest must wait.
    std::thread::sleep(Duration::from_millis(200));
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.body.len()), (200, LEN), "status and length");
    assert!(r.body == body, "the echoed bytes, in order");

    c.write_all(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello\n"[..]), "the next request on the connection");
}
