//! Heap allocations per keep-alive request of a `waiter_http::app` server
//! whose handler is the API scenario's (`bench/api`: sleep, then answer
//! `ok\n`), counted with a counting global allocator.
//!
//! `cargo nextest run -p waiter-http --test app_request_allocations --no-capture`
//! prints the figures.
mod alloc_count;

use std::net::TcpStream;
use std::time::Duration;

use waiter_http::app::{App, AppConfig, Request, Response};
use waiter_http::Status;
use waiter_loop::Loop;

use alloc_count::per_request;

const REQUESTS: usize = 2000;

#[test]
fn an_api_request_costs_few_allocations() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || -> std::io::Result<()> {
        let lp = Loop::new()?;
        let config = AppConfig { max_requests: usize::MAX, ..AppConfig::default() };
        let app = App::bind(&lp, "127.0.0.1:0".parse().unwrap(), config, |_: Request| async {
            waiter_loop::sleep(Duration::ZERO).unwrap().await;
            Response::text(Status::OK, "ok\n")
        })?;
        tx.send(app.local_addr()?).unwrap();
        lp.block_on(app.run())
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).expect("the app did not start");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // What wrk sends.
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let (calls, bytes) = per_request(&mut s, request.as_bytes(), b"ok\n", REQUESTS);
    println!("GET / with a sleep: {calls:.3} allocations ({bytes:.0} B) per request");
    // The owned `Request` (method, target, the header list, one header's
    // name and value) and the response's body: 6, plus the `Date` text once a second.
    assert!(calls < 6.1, "{calls:.3} allocations per request");
}
