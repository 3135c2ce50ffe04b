//! The status endpoint: nginx's `stub_status` text and Prometheus metrics, per worker.
//!
//! Each worker counts its own connections and responses in [`Stats`] (plain
//! `Cell`s: no atomics, nothing shared on the request path). A request for
//! `--status-path` is answered by the worker that accepted the connection,
//! with that worker's numbers, as nginx's `stub_status` is per worker
//! process unless its shared-memory zone is on. `<status-path>/metrics` is
//! the same plus the loop's own metrics, in Prometheus text format, each
//! sample labelled `worker="N"`.

use std::cell::Cell;
use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use waiter_loop::net::TcpStream;

use crate::request::{Head, Method};
use crate::response::{HeaderValue, ResponseHead};
use crate::send::{self, Body};
use crate::server::Worker;
use crate::status::Status;

/// The status-endpoint part of a [`Config`](crate::Config).
#[derive(Clone, Debug, Default)]
pub struct StatusConfig {
    /// Where `stub_status` is served (`None`, the default: nowhere); the
    /// metrics are at this path plus `/metrics`.
    pub path: Option<String>,
    /// The `worker` label of this worker's samples (the binary numbers its workers from 0).
    pub worker: usize,
}

/// Sampling period of the event-loop delay histogram when the status
/// endpoint is on: 10 ms, Node's `monitorEventLoopDelay` default.
pub(crate) const DELAY_RESOLUTION: Duration = Duration::from_millis(10);

/// One worker's counters. Gauges are derived: active connections are
/// `Worker::active`, waiting ones are the active ones neither reading nor writing.
#[derive(Default)]
pub(crate) struct Stats {
    accepts: Cell<u64>,
    handled: Cell<u64>,
    requests: Cell<u64>,
    /// Responses by status class: index 0 for 1xx ... 4 for 5xx.
    responses: [Cell<u64>; 5],
    bytes_sent: Cell<u64>,
    /// INVARIANT: connections between the first byte of a request and its parsed head.
    reading: Cell<usize>,
    /// INVARIANT: requests being answered.
    writing: Cell<usize>,
}

impl Stats {
    /// A connection was accepted and will be served (the two counts differ
    /// in nginx only when it runs out of memory or connections mid-accept).
    pub(crate) fn accepted(&self) {
        self.accepts.set(self.accepts.get() + 1);
        self.handled.set(self.handled.get() + 1);
    }

    pub(crate) fn request_started(&self) {
        self.requests.set(self.requests.get() + 1);
        self.writing.set(self.writing.get() + 1);
    }

    pub(crate) fn request_finished(&self) {
        self.writing.set(self.writing.get() - 1);
    }

    pub(crate) fn responded(&self, status: Status, bytes: u64) {
        let class = usize::from(status.code() / 100).clamp(1, 5) - 1;
        self.responses[class].set(self.responses[class].get() + 1);
        self.bytes_sent.set(self.bytes_sent.get() + bytes);
    }
}

/// Marks a connection as reading a request head while alive.
pub(crate) struct Reading<'a>(&'a Stats);

impl<'a> Reading<'a> {
    pub(crate) fn start(stats: &'a Stats) -> Reading<'a> {
        stats.reading.set(stats.reading.get() + 1);
        Reading(stats)
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.0.reading.set(self.0.reading.get() - 1);
    }
}

/// Whether `head` asks for the status page; if so, answers it.
///
/// # Errors
///
/// The send error.
pub(crate) async fn respond(
    worker: &Worker,
    stream: &TcpStream,
    head: &Head<'_>,
    keep_alive: bool,
) -> Option<io::Result<()>> {
    let base = worker.config.status.path.as_deref()?;
    let path = head.path.split('?').next().unwrap_or_default();
    let metrics = match path.strip_prefix(base) {
        Some("") => false,
        Some("/metrics") => true,
        _ => return None,
    };
    static TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
    static PROMETHEUS: HeaderValue = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    let body = if metrics { prometheus(worker) } else { stub_status(worker) };
    let mut response = ResponseHead::new(Status::OK);
    response.keep_alive = keep_alive;
    response.content_type = Some(if metrics { &PROMETHEUS } else { &TEXT });
    response.content_length = Some(body.len() as u64);
    let mut out = Vec::with_capacity(256);
    worker.write_head(&response, &mut out);
    let body = if head.method == Method::Head { Body::Empty } else { Body::Memory(vec![body.as_bytes()]) };
    Some(send::send(&worker.lp, stream, worker.config.send_timeout, &out, body).await)
}

struct Gauges {
    active: usize,
    reading: usize,
    writing: usize,
    waiting: usize,
}

fn gauges(worker: &Worker) -> Gauges {
    let s = &worker.stats;
    let active = worker.active.get();
    let (reading, writing) = (s.reading.get(), s.writing.get());
    Gauges { active, reading, writing, waiting: active.saturating_sub(reading + writing) }
}

/// nginx's exact text, trailing spaces included.
fn stub_status(worker: &Worker) -> String {
    let s = &worker.stats;
    let g = gauges(worker);
    format!(
        "Active connections: {} \nserver accepts handled requests\n {} {} {} \nReading: {} Writing: {} Waiting: {} \n",
        g.active,
        s.accepts.get(),
        s.handled.get(),
        s.requests.get(),
        g.reading,
        g.writing,
        g.waiting
    )
}

fn prometheus(worker: &Worker) -> String {
    let s = &worker.stats;
    let g = gauges(worker);
    let m = worker.lp.metrics();
    let w = worker.config.status.worker;
    let mut out = String::with_capacity(4096);
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{{worker=\"{w}\"{labels}}} {value}");
        }
    };
    let counter = "counter";
    let gauge = "gauge";
    metric(
        "waiter_connections_accepted_total",
        counter,
        "Connections accepted.",
        &[("", s.accepts.get() as f64)],
    );
    metric(
        "waiter_connections_handled_total",
        counter,
        "Connections handled.",
        &[("", s.handled.get() as f64)],
    );
    metric(
        "waiter_http_requests_total",
        counter,
        "Requests parsed and answered.",
        &[("", s.requests.get() as f64)],
    );
    let classes = [",class=\"1xx\"", ",class=\"2xx\"", ",class=\"3xx\"", ",class=\"4xx\"", ",class=\"5xx\""];
    let by_class: Vec<(&str, f64)> =
        classes.iter().zip(&s.responses).map(|(l, c)| (*l, c.get() as f64)).collect();
    metric("waiter_http_responses_total", counter, "Responses by status class.", &by_class);
    metric(
        "waiter_http_sent_bytes_total",
        counter,
        "Response bytes sent, heads included.",
        &[("", s.bytes_sent.get() as f64)],
    );
    metric("waiter_connections_active", gauge, "Open connections.", &[("", g.active as f64)]);
    metric(
        "waiter_connections_reading",
        gauge,
        "Connections reading a request head.",
        &[("", g.reading as f64)],
    );
    metric("waiter_connections_writing", gauge, "Requests being answered.", &[("", g.writing as f64)]);
    metric("waiter_connections_waiting", gauge, "Idle keep-alive connections.", &[("", g.waiting as f64)]);
    metric("waiter_loop_iterations_total", counter, "Event-loop ticks.", &[("", m.iterations as f64)]);
    metric("waiter_loop_events_total", counter, "Readiness events dispatched.", &[("", m.events as f64)]);
    metric(
        "waiter_loop_idle_seconds_total",
        counter,
        "Time blocked waiting for events.",
        &[("", m.idle_time.as_secs_f64())],
    );
    metric(
        "waiter_loop_active_handles",
        gauge,
        "Active, referenced loop handles.",
        &[("", m.active_handles as f64)],
    );
    if let Some(d) = m.loop_delay {
        metric(
            "waiter_loop_delay_seconds",
            gauge,
            "Event-loop delay, sampled every 10 ms.",
            &[
                (",quantile=\"0.5\"", d.p50.as_secs_f64()),
                (",quantile=\"0.99\"", d.p99.as_secs_f64()),
                (",quantile=\"1\"", d.max.as_secs_f64()),
            ],
        );
    }
    out
}
