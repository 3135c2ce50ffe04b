//! The status endpoint: nginx's `stub_status` text and Prometheus metrics, for every worker.
//!
//! Each worker counts its own connections and responses in [`Stats`], and
//! every worker serving clones of one [`Config`](crate::Config) registers
//! its `Stats` with that configuration's [`StatusConfig`]. A request for
//! `--status-path` is answered by whichever worker accepted the connection,
//! with the sums over all of them, as nginx's `stub_status` counters live in
//! shared memory: with one page per worker, successive scrapes landed on
//! different workers and `requests` went 8, 14, 9, 10, 15.
//! `<status-path>/metrics` gives the same counters per worker, in Prometheus
//! text format, each sample labelled `worker="N"` (N in the order the
//! workers started), with every worker's loop metrics.
//!
//! Nothing is locked or shared-written on the request path: a worker's
//! counters are written by its own thread only, so an increment is a
//! relaxed load and store (the instructions a `Cell` compiles to), and
//! other workers' status pages read them with relaxed loads. A loop's own
//! metrics can only be read on its thread: each worker publishes a copy
//! once a second.

use std::fmt::Write as _;
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use waiter_loop::net::TcpStream;
use waiter_loop::{MetricsSnapshot, Timer};

use crate::conn::Reply;
use crate::request::Head;
use crate::response::HeaderValue;
use crate::send::{self, Body};
use crate::server::Worker;
use crate::status::Status;

/// The status-endpoint part of a [`Config`](crate::Config).
#[derive(Clone, Debug, Default)]
pub struct StatusConfig {
    /// Where `stub_status` is served (`None`, the default: nowhere); the
    /// metrics are at this path plus `/metrics`.
    pub path: Option<String>,
    /// The counters of every worker started with a clone of this
    /// configuration, in the order they started (their `worker` label).
    workers: Arc<Mutex<Vec<Stats>>>,
}

impl StatusConfig {
    /// Every registered worker's counters, in label order.
    fn workers(&self) -> Vec<Stats> {
        self.workers.lock().map_or_else(|poisoned| poisoned.into_inner().clone(), |w| w.clone())
    }
}

/// Sampling period of the event-loop delay histogram when the status
/// endpoint is on: 10 ms, Node's `monitorEventLoopDelay` default.
pub(crate) const DELAY_RESOLUTION: Duration = Duration::from_millis(10);

/// One worker's counters, shared with the other workers' status pages.
/// Gauges are derived: waiting connections are the open ones neither
/// reading nor writing.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stats(Arc<Counters>);

/// INVARIANT: written by one thread only, the worker's (see the module notes).
#[derive(Debug, Default)]
struct Counters {
    accepts: AtomicU64,
    handled: AtomicU64,
    requests: AtomicU64,
    /// Responses by status class: index 0 for 1xx ... 4 for 5xx.
    responses: [AtomicU64; 5],
    bytes_sent: AtomicU64,
    /// INVARIANT: connections accepted and not closed yet (`Worker::active`).
    open: AtomicU64,
    /// INVARIANT: connections between the first byte of a request and its parsed head.
    reading: AtomicU64,
    /// INVARIANT: requests being answered.
    writing: AtomicU64,
    /// The loop's metrics, as its worker last published them.
    loop_metrics: Mutex<Option<MetricsSnapshot>>,
}

/// Changes a counter that only this thread writes: a relaxed load and store,
/// no locked read-modify-write.
fn update(counter: &AtomicU64, change: impl FnOnce(u64) -> u64) {
    counter.store(change(counter.load(Relaxed)), Relaxed);
}

impl Stats {
    /// A connection was accepted and will be served (the two counts differ
    /// in nginx only when it runs out of memory or connections mid-accept).
    pub(crate) fn accepted(&self) {
        update(&self.0.accepts, |n| n + 1);
        update(&self.0.handled, |n| n + 1);
        update(&self.0.open, |n| n + 1);
    }

    /// A connection [`accepted`](Stats::accepted) has ended.
    pub(crate) fn closed(&self) {
        update(&self.0.open, |n| n.saturating_sub(1));
    }

    pub(crate) fn request_started(&self) {
        update(&self.0.requests, |n| n + 1);
        update(&self.0.writing, |n| n + 1);
    }

    pub(crate) fn request_finished(&self) {
        update(&self.0.writing, |n| n.saturating_sub(1));
    }

    pub(crate) fn responded(&self, status: Status, bytes: u64) {
        let class = usize::from(status.code() / 100).clamp(1, 5) - 1;
        update(&self.0.responses[class], |n| n + 1);
        update(&self.0.bytes_sent, |n| n + bytes);
    }

    fn publish(&self, metrics: MetricsSnapshot) {
        let mut slot = self.0.loop_metrics.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = Some(metrics);
    }

    fn published(&self) -> Option<MetricsSnapshot> {
        self.0.loop_metrics.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// Marks a connection as reading a request head while alive.
pub(crate) struct Reading<'a>(&'a Stats);

impl<'a> Reading<'a> {
    pub(crate) fn start(stats: &'a Stats) -> Reading<'a> {
        update(&stats.0.reading, |n| n + 1);
        Reading(stats)
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        update(&self.0 .0.reading, |n| n.saturating_sub(1));
    }
}

/// Registers `worker`'s counters with its configuration's status page and
/// starts publishing its loop metrics there once a second (an unref'd
/// interval, which never keeps a stopped server's loop alive).
///
/// # Errors
///
/// The loop refusing the interval.
pub(crate) fn register(worker: &Rc<Worker>) -> io::Result<Timer> {
    let stats = worker.stats.clone();
    stats.publish(worker.lp.metrics());
    worker.config.status.workers.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(stats);
    let weak = Rc::downgrade(worker);
    let timer = worker.lp.set_interval(Duration::from_secs(1), move |_| {
        if let Some(worker) = weak.upgrade() {
            worker.stats.publish(worker.lp.metrics());
        }
    })?;
    timer.unref();
    Ok(timer)
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
    reply: Reply,
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
    let mut response = reply.head(Status::OK);
    response.content_type = Some(if metrics { &PROMETHEUS } else { &TEXT });
    response.content_length = Some(body.len() as u64);
    let mut out = Vec::with_capacity(256);
    worker.write_head(&response, &mut out);
    let body = if reply.is_head { Body::Empty } else { Body::Memory(vec![body.as_bytes()]) };
    Some(send::send(&worker.lp, stream, worker.config.send_timeout, &out, body).await)
}

/// One worker's numbers, read at once.
#[derive(Default)]
struct Sample {
    accepts: u64,
    handled: u64,
    requests: u64,
    responses: [u64; 5],
    bytes_sent: u64,
    active: u64,
    reading: u64,
    writing: u64,
    waiting: u64,
}

impl Sample {
    fn of(stats: &Stats) -> Sample {
        let c = &stats.0;
        let (reading, writing) = (c.reading.load(Relaxed), c.writing.load(Relaxed));
        // Another worker's counters change while they are read: `active`
        // is made the sum of its parts, so the page always adds up.
        let waiting = c.open.load(Relaxed).saturating_sub(reading + writing);
        Sample {
            accepts: c.accepts.load(Relaxed),
            handled: c.handled.load(Relaxed),
            requests: c.requests.load(Relaxed),
            responses: std::array::from_fn(|i| c.responses[i].load(Relaxed)),
            bytes_sent: c.bytes_sent.load(Relaxed),
            active: reading + writing + waiting,
            reading,
            writing,
            waiting,
        }
    }

    fn plus(mut self, other: &Sample) -> Sample {
        self.accepts += other.accepts;
        self.handled += other.handled;
        self.requests += other.requests;
        for (sum, n) in self.responses.iter_mut().zip(other.responses) {
            *sum += n;
        }
        self.bytes_sent += other.bytes_sent;
        self.active += other.active;
        self.reading += other.reading;
        self.writing += other.writing;
        self.waiting += other.waiting;
        self
    }
}

/// nginx's exact text, trailing spaces included: the sums over every worker.
fn stub_status(worker: &Worker) -> String {
    let workers = worker.config.status.workers();
    let s = workers.iter().map(Sample::of).fold(Sample::default(), |sum, one| sum.plus(&one));
    format!(
        "Active connections: {} \nserver accepts handled requests\n {} {} {} \nReading: {} Writing: {} Waiting: {} \n",
        s.active, s.accepts, s.handled, s.requests, s.reading, s.writing, s.waiting
    )
}

/// Every worker's samples of every metric, each metric declared once.
fn prometheus(worker: &Worker) -> String {
    let workers = worker.config.status.workers();
    let samples: Vec<Sample> = workers.iter().map(Sample::of).collect();
    // This worker's loop is read live; the others' as they last published it.
    let loops: Vec<Option<MetricsSnapshot>> = workers
        .iter()
        .map(|stats| {
            if Arc::ptr_eq(&stats.0, &worker.stats.0) {
                Some(worker.lp.metrics())
            } else {
                stats.published()
            }
        })
        .collect();
    let mut out = String::with_capacity(2048 * workers.len());
    let mut metric =
        |name: &str, kind: &str, help: &str, per_worker: &dyn Fn(usize) -> Vec<(&'static str, f64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for w in 0..samples.len() {
                for (labels, value) in per_worker(w) {
                    let _ = writeln!(out, "{name}{{worker=\"{w}\"{labels}}} {value}");
                }
            }
        };
    let counter = "counter";
    let gauge = "gauge";
    let one = |value: u64| vec![("", value as f64)];
    metric("waiter_connections_accepted_total", counter, "Connections accepted.", &|w| {
        one(samples[w].accepts)
    });
    metric("waiter_connections_handled_total", counter, "Connections handled.", &|w| one(samples[w].handled));
    metric("waiter_http_requests_total", counter, "Requests parsed and answered.", &|w| {
        one(samples[w].requests)
    });
    metric("waiter_http_responses_total", counter, "Responses by status class.", &|w| {
        let classes =
            [",class=\"1xx\"", ",class=\"2xx\"", ",class=\"3xx\"", ",class=\"4xx\"", ",class=\"5xx\""];
        classes.into_iter().zip(samples[w].responses).map(|(l, n)| (l, n as f64)).collect()
    });
    metric("waiter_http_sent_bytes_total", counter, "Response bytes sent, heads included.", &|w| {
        one(samples[w].bytes_sent)
    });
    metric("waiter_connections_active", gauge, "Open connections.", &|w| one(samples[w].active));
    metric("waiter_connections_reading", gauge, "Connections reading a request head.", &|w| {
        one(samples[w].reading)
    });
    metric("waiter_connections_writing", gauge, "Requests being answered.", &|w| one(samples[w].writing));
    metric("waiter_connections_waiting", gauge, "Idle keep-alive connections.", &|w| one(samples[w].waiting));
    let of_loop = |w: usize, value: &dyn Fn(&MetricsSnapshot) -> f64| match &loops[w] {
        Some(m) => vec![("", value(m))],
        None => vec![],
    };
    metric("waiter_loop_iterations_total", counter, "Event-loop ticks.", &|w| {
        of_loop(w, &|m| m.iterations as f64)
    });
    metric("waiter_loop_events_total", counter, "Readiness events dispatched.", &|w| {
        of_loop(w, &|m| m.events as f64)
    });
    metric("waiter_loop_idle_seconds_total", counter, "Time blocked waiting for events.", &|w| {
        of_loop(w, &|m| m.idle_time.as_secs_f64())
    });
    metric("waiter_loop_active_handles", gauge, "Active, referenced loop handles.", &|w| {
        of_loop(w, &|m| m.active_handles as f64)
    });
    metric("waiter_loop_delay_seconds", gauge, "Event-loop delay, sampled every 10 ms.", &|w| match loops[w]
        .as_ref()
        .and_then(|m| m.loop_delay)
    {
        Some(d) => vec![
            (",quantile=\"0.5\"", d.p50.as_secs_f64()),
            (",quantile=\"0.99\"", d.p99.as_secs_f64()),
            (",quantile=\"1\"", d.max.as_secs_f64()),
        ],
        None => vec![],
    });
    out
}
