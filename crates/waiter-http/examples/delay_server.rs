//! The first seed's API server with a timer for the database: every request is answered after 20 ms.
//!
//! Run: `cargo run --release -p waiter-http --example delay_server -- [PORT] [DELAY_MS]`
//! (defaults 17081, 20 ms), then `curl -v http://127.0.0.1:17081/` or
//! `wrk -t1 -c1000 -d10s http://127.0.0.1:17081/`.
//!
//! One loop on one thread serves every connection with `waiter_http::app`;
//! each request awaits `waiter_loop::sleep(DELAY_MS)`, so 10,000 connections
//! are 10,000 timers and 10,000 idle sockets, not 10,000 threads. It raises
//! its soft descriptor limit to the hard one first. Its twins, answering with
//! the same bytes (but the date), are `bench/baselines` (thread per
//! connection) and `bench/api/node_delay.js` (Node.js).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use waiter_http::app::{App, AppConfig, Request, Response};
use waiter_http::Status;
use waiter_loop::{nofile_limit, set_nofile_limit, Loop};

fn arg<T: std::str::FromStr>(n: usize, default: T, what: &str) -> io::Result<T> {
    match std::env::args().nth(n) {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{what} {text:?} (usage: delay_server [PORT] [DELAY_MS])"),
            )
        }),
    }
}

fn main() -> io::Result<()> {
    let port: u16 = arg(1, 17081, "port")?;
    let delay = Duration::from_millis(arg(2, 20, "delay in ms")?);
    let (soft, hard) = nofile_limit()?;
    if soft < hard {
        set_nofile_limit(hard)?;
    }
    let lp = Loop::new()?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let app = App::bind(&lp, addr, AppConfig::default(), move |_request: Request| async move {
        match waiter_loop::sleep(delay) {
            Ok(sleep) => {
                sleep.await;
                Response::text(Status::OK, "ok\n")
            }
            Err(e) => Response::text(Status::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        }
    })?;
    eprintln!(
        "delay_server: listening on {}, answering after {delay:?} ({} backend)",
        app.local_addr()?,
        lp.backend()
    );
    lp.block_on(app.run())
}
