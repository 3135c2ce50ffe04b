//! The first seed's API server with a timer for the database: every request is answered after 20 ms.
//!
//! Run: `cargo run --release -p waiter-http --example delay_server -- [PORT] [DELAY_MS]`
//! (defaults 17081, 20 ms), then `curl -v http://127.0.0.1:17081/` or
//! `wrk -t1 -c1000 -d10s http://127.0.0.1:17081/`.
//!
//! One loop on one thread serves every connection with `waiter_http::app`;
//! each request awaits `waiter_loop::sleep(DELAY_MS)`, so 10,000 connections
//! are 10,000 timers and 10,000 idle sockets, not 10,000 threads. With
//! `DELAY_MS` 0 it answers at once, without a timer. It raises
//! its soft descriptor limit to the hard one first.
//!
//! `DELAY_SERVER_LATENESS=SECS` prints, every SECS seconds, how late the
//! handler's wait resumed (clock after the wait minus clock before it minus
//! the delay: timer lateness plus the loop's queueing), as percentiles over
//! that span, to stderr; without it the handler reads no clock. Its twins, answering with
//! the same bytes (but the date), are `bench/baselines` (thread per
//! connection) and `bench/api/node_delay.js` (Node.js).

use std::cell::RefCell;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use waiter_http::app::{App, AppConfig, Request, Response};
use waiter_http::Status;
use waiter_loop::{nofile_limit, set_nofile_limit, Histogram, Loop};

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
    let lateness = lateness_report(&lp)?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let app = App::bind(&lp, addr, AppConfig::default(), move |_request: Request| {
        let lateness = lateness.clone();
        async move {
            // DELAY_MS 0 is the exchange alone (the ceiling bench/api/bounds.sh
            // measures against nginx): no timer, no tick between request and answer.
            if delay.is_zero() {
                return Response::text(Status::OK, "ok\n");
            }
            let started = lateness.as_ref().map(|_| Instant::now());
            match waiter_loop::sleep(delay) {
                Ok(sleep) => {
                    sleep.await;
                    if let (Some(late), Some(started)) = (&lateness, started) {
                        late.borrow_mut().record(started.elapsed().saturating_sub(delay));
                    }
                    Response::text(Status::OK, "ok\n")
                }
                Err(e) => Response::text(Status::INTERNAL_SERVER_ERROR, format!("{e}\n")),
            }
        }
    })?;
    eprintln!(
        "delay_server: listening on {}, answering after {delay:?} ({} backend)",
        app.local_addr()?,
        lp.backend()
    );
    lp.block_on(app.run())
}

/// With `DELAY_SERVER_LATENESS=SECS`: the histogram the handler records its
/// lateness in, printed and emptied every SECS seconds by an unreferenced interval.
fn lateness_report(lp: &Loop) -> io::Result<Option<Rc<RefCell<Histogram>>>> {
    let Ok(every) = std::env::var("DELAY_SERVER_LATENESS") else { return Ok(None) };
    let secs: f64 = every.parse().ok().filter(|s: &f64| *s > 0.0).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("DELAY_SERVER_LATENESS={every:?}: want seconds > 0"),
        )
    })?;
    let late = Rc::new(RefCell::new(Histogram::new()));
    let shown = late.clone();
    let timer = lp.set_interval(Duration::from_secs_f64(secs), move |_| {
        let mut h = shown.borrow_mut();
        if !h.is_empty() {
            let q = |p| h.quantile(p).as_secs_f64() * 1e3;
            eprintln!(
                "delay_server: lateness of the wait over {} requests: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                h.len(),
                q(0.5),
                q(0.9),
                q(0.99),
                q(1.0)
            );
        }
        *h = Histogram::new();
    })?;
    timer.unref();
    Ok(Some(late))
}
