//! Shared by the `app_*` tests: a `waiter_http::app` server on its own
//! thread and loop, with a small API handler, and the raw client of
//! `serve_common`.
#![allow(dead_code, unused_imports)] // each test file uses a different part

use std::net::SocketAddr;
use std::time::Duration;

use waiter_http::app::{App, AppConfig, Request, Response};
use waiter_http::Status;
use waiter_loop::Loop;

#[path = "../serve_common/mod.rs"]
mod serve_common;
pub use serve_common::{closed_by_server, read_response, CLIENT_TIMEOUT};

/// The test API: `GET /hello`, `POST /echo` (the body back as JSON, with an
/// `X-Length` header), `GET /sleep?MS` (answers `MS` after sleeping that
/// long), anything else 404.
pub async fn handler(req: Request) -> Response {
    match (req.method.as_str(), req.path()) {
        ("GET", "/hello") => Response::text(Status::OK, "hello\n"),
        ("POST", "/echo") => {
            let len = waiter_http::HeaderValue::new(req.body.len().to_string()).unwrap();
            Response::json(Status::OK, req.body).with_header("X-Length", len)
        }
        ("GET", "/sleep") => {
            let ms: u64 = req.query().and_then(|q| q.parse().ok()).unwrap_or(0);
            waiter_loop::sleep(Duration::from_millis(ms)).unwrap().await;
            Response::text(Status::OK, ms.to_string())
        }
        _ => Response::text(Status::NOT_FOUND, format!("no {} {}\n", req.method, req.path())),
    }
}

/// Starts the test API on 127.0.0.1:0 with `config`; the server thread lives
/// as long as the test process.
pub fn start(config: AppConfig) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || -> std::io::Result<()> {
        let lp = Loop::new()?;
        let app = App::bind(&lp, "127.0.0.1:0".parse().unwrap(), config, handler)?;
        tx.send(app.local_addr()?).unwrap();
        lp.block_on(app.run())
    });
    rx.recv_timeout(CLIENT_TIMEOUT).expect("the app did not start")
}

/// A connected client with read and write timeouts.
pub fn connect(addr: SocketAddr) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    stream
}
