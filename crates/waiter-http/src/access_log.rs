//! The access log: nginx `common`/`combined` lines, buffered per worker.
//!
//! Each worker appends its lines to its own 64 KiB buffer and writes the
//! buffer out when it fills, once a second (an unref'd interval timer) and
//! when the server stops, so logging costs no system call per request.
//!
//! The write itself happens on the loop thread, as nginx's does: it is one
//! append of at most [`BUFFER`] bytes into the page cache (microseconds), made
//! at most once per ~500 requests or once a second, which is cheaper than a
//! round trip through the thread pool and keeps lines in order without a lock.
//!
//! Rotation: [`AccessLogConfig::reopen`] (the binary calls it on SIGHUP)
//! bumps a generation shared by every worker's copy of the configuration;
//! each worker compares it at its next flush and reopens its file first.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use waiter_loop::Timer;

use crate::calendar::Utc;
use crate::request::{Head, Version};
use crate::response::ResponseHead;
use crate::server::Worker;
use crate::status::Status;

/// Bytes buffered before a write: nginx's `access_log ... buffer=64k`.
pub const BUFFER: usize = 64 * 1024;

/// Where the access log goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LogTarget {
    /// No access log (the default).
    #[default]
    Off,
    /// The process's standard output.
    Stdout,
    /// A file, opened for appending (created if missing).
    File(PathBuf),
}

impl LogTarget {
    /// `off`, `stdout`, or a path.
    pub fn parse(value: &str) -> LogTarget {
        match value {
            "off" => LogTarget::Off,
            "stdout" | "-" => LogTarget::Stdout,
            path => LogTarget::File(PathBuf::from(path)),
        }
    }
}

/// nginx's two predefined formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent`.
    #[default]
    Common,
    /// `common` plus ` "$http_referer" "$http_user_agent"`.
    Combined,
}

/// The access-log part of a [`Config`](crate::Config).
///
/// # Examples
///
/// ```
/// use waiter_http::access_log::{AccessLogConfig, LogFormat, LogTarget};
///
/// let mut config = waiter_http::Config::new(".").unwrap();
/// config.access_log = AccessLogConfig::new(LogTarget::Stdout, LogFormat::Combined);
/// config.access_log.reopen(); // what SIGHUP does
/// ```
#[derive(Clone, Debug, Default)]
pub struct AccessLogConfig {
    /// Where lines go.
    pub target: LogTarget,
    /// How lines look.
    pub format: LogFormat,
    /// Bumped by [`reopen`](Self::reopen); shared by every clone.
    generation: Arc<AtomicU64>,
}

impl AccessLogConfig {
    /// A log to `target` in `format`.
    pub fn new(target: LogTarget, format: LogFormat) -> AccessLogConfig {
        AccessLogConfig { target, format, generation: Arc::default() }
    }

    /// Asks every worker sharing this configuration to reopen its log file at
    /// its next flush (within a second): log rotation's SIGHUP.
    pub fn reopen(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
    }
}

enum Sink {
    Stdout,
    File(File),
}

/// One worker's access log.
pub(crate) struct AccessLog {
    config: AccessLogConfig,
    /// INVARIANT: written out before it grows past [`BUFFER`] plus one line.
    buf: RefCell<Vec<u8>>,
    sink: RefCell<Sink>,
    /// The generation the sink was opened at.
    opened: Cell<u64>,
    /// `[23/Nov/2026:11:44:10 +0000]` for the second in `time_secs`.
    time: RefCell<(u64, String)>,
}

fn open(target: &LogTarget) -> io::Result<Sink> {
    match target {
        LogTarget::Off | LogTarget::Stdout => Ok(Sink::Stdout),
        LogTarget::File(path) => OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map(Sink::File)
            .map_err(|e| io::Error::new(e.kind(), format!("access log {}: {e}", path.display()))),
    }
}

impl AccessLog {
    /// The log `config` asks for, `None` when it is off.
    ///
    /// # Errors
    ///
    /// The log file failing to open, with its path.
    pub(crate) fn open(config: &AccessLogConfig) -> io::Result<Option<AccessLog>> {
        if config.target == LogTarget::Off {
            return Ok(None);
        }
        Ok(Some(AccessLog {
            sink: RefCell::new(open(&config.target)?),
            opened: Cell::new(config.generation.load(Ordering::Relaxed)),
            config: config.clone(),
            buf: RefCell::new(Vec::with_capacity(BUFFER)),
            time: RefCell::new((u64::MAX, String::new())),
        }))
    }

    fn record(&self, entry: &Entry, status: Status, body_bytes: u64) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let full = {
            let mut time = self.time.borrow_mut();
            if time.0 != now {
                *time = (now, local_time(now));
            }
            let mut buf = self.buf.borrow_mut();
            let format = self.config.format;
            entry.write(&mut buf, &time.1, status, body_bytes, format);
            buf.len() >= BUFFER
        };
        if full {
            self.flush();
        }
    }

    /// Writes the buffer out (reopening the file first after a SIGHUP).
    pub(crate) fn flush(&self) {
        let generation = self.config.generation.load(Ordering::Relaxed);
        if generation != self.opened.get() {
            self.opened.set(generation);
            match open(&self.config.target) {
                Ok(sink) => *self.sink.borrow_mut() = sink,
                Err(e) => eprintln!("waiter: reopening the {e}; still writing to the old file"),
            }
        }
        let mut buf = self.buf.borrow_mut();
        if buf.is_empty() {
            return;
        }
        let written = match &mut *self.sink.borrow_mut() {
            Sink::Stdout => io::stdout().lock().write_all(&buf),
            Sink::File(file) => file.write_all(&buf),
        };
        if let Err(e) = written {
            eprintln!("waiter: access log: {e} ({} bytes lost)", buf.len());
        }
        buf.clear();
    }
}

/// Starts a worker's background timers, all unref'd so they never keep a
/// stopped server's loop alive: the access log's once-a-second flush, and,
/// when the status endpoint is on, the event-loop delay sampler and the
/// publishing of the loop's metrics (which registers the worker's counters
/// with the status page: see `stub_status`).
///
/// # Errors
///
/// The loop refusing a timer.
pub(crate) fn start_timers(worker: &Rc<Worker>) -> io::Result<Vec<Timer>> {
    let mut timers = Vec::new();
    if worker.log.is_some() {
        let weak = Rc::downgrade(worker);
        let flush = worker.lp.set_interval(Duration::from_secs(1), move |_| {
            if let Some(log) = weak.upgrade().as_ref().and_then(|w| w.log.as_ref()) {
                log.flush();
            }
        })?;
        flush.unref();
        timers.push(flush);
    }
    if worker.config.status.path.is_some() {
        timers.push(worker.lp.monitor_event_loop_delay(crate::stub_status::DELAY_RESOLUTION)?);
        timers.push(crate::stub_status::register(worker)?);
    }
    Ok(timers)
}

/// What a log line needs from a request, copied out of the head.
struct Entry {
    peer: Option<SocketAddr>,
    request: Vec<u8>,
    referer: Option<Vec<u8>>,
    user_agent: Option<Vec<u8>>,
}

impl Entry {
    fn new(peer: Option<SocketAddr>, head: &Head<'_>, format: LogFormat) -> Entry {
        let version = match head.version {
            Version::Http10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        };
        let request = format!("{} {} {version}", head.method.as_str(), head.target).into_bytes();
        let (mut referer, mut user_agent) = (None, None);
        if format == LogFormat::Combined {
            for (name, value) in head.headers() {
                if name.eq_ignore_ascii_case("referer") {
                    referer.get_or_insert_with(|| value.to_vec());
                } else if name.eq_ignore_ascii_case("user-agent") {
                    user_agent.get_or_insert_with(|| value.to_vec());
                }
            }
        }
        Entry { peer, request, referer, user_agent }
    }

    fn write(&self, out: &mut Vec<u8>, time: &str, status: Status, body_bytes: u64, format: LogFormat) {
        match self.peer {
            Some(peer) => {
                let _ = write!(out, "{}", peer.ip());
            }
            None => out.push(b'-'),
        }
        let _ = write!(out, " - - {time} \"");
        escape(out, &self.request);
        let _ = write!(out, "\" {} {body_bytes}", status.code());
        if format == LogFormat::Combined {
            // As nginx: `-` for a field not sent, `""` for one sent empty.
            for field in [&self.referer, &self.user_agent] {
                out.extend_from_slice(b" \"");
                match field {
                    Some(value) => escape(out, value),
                    None => out.push(b'-'),
                }
                out.push(b'"');
            }
        }
        out.push(b'\n');
    }
}

/// Appends `bytes` escaped as nginx's `ngx_escape_uri(..., NGX_ESCAPE_REFRESH)`
/// does for logs: `"`, `\`, control bytes and bytes ≥ 0x7f become `\xHH`.
pub fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            out.extend_from_slice(&[b'\\', b'x', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        } else {
            out.push(b);
        }
    }
}

/// `[23/Nov/2026:11:44:10 +0000]` for `secs` since the epoch, in UTC (nginx
/// prints local time; servers and containers run in UTC, and the offset is
/// printed, so the line stays unambiguous).
pub fn local_time(secs: u64) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let t = Utc::from_secs(secs);
    format!(
        "[{:02}/{}/{}:{:02}:{:02}:{:02} +0000]",
        t.day,
        MONTHS[(t.month - 1) as usize],
        t.year,
        t.hour,
        t.minute,
        t.second
    )
}

/// What [`Worker::write_head`] and the writes saw for the request being answered.
#[derive(Clone, Copy, Default)]
pub(crate) struct Seen {
    status: Option<Status>,
    head_bytes: u64,
    /// Bytes of the response the socket took (head included): what
    /// actually left, as nginx's `$bytes_sent`, even when the response
    /// was cut short.
    sent: u64,
}

thread_local! {
    /// What the request being polled on this thread has seen, so `write_head`
    /// can tell it its status without threading a context through every
    /// responder. [`Scoped`] moves a request's value in before each poll and
    /// back out after it: no allocation, no reference count per request.
    static CURRENT: Cell<Option<Seen>> = const { Cell::new(None) };
}

/// Logs the answer to a request that never parsed (400, 408, 414, 431,
/// 505), as nginx does: the request field is what arrived of the request
/// line (`-` when nothing did).
pub(crate) fn unparsed(worker: &Worker, peer: Option<SocketAddr>, pending: &[u8], status: Status, body: u64) {
    let Some(log) = &worker.log else { return };
    let line = pending.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = &line[..line.len().min(MAX_UNPARSED_LINE)];
    let request = if line.is_empty() { b"-".to_vec() } else { line.to_vec() };
    log.record(&Entry { peer, request, referer: None, user_agent: None }, status, body);
}

/// Bytes of an unparsed request line that [`unparsed`] logs.
const MAX_UNPARSED_LINE: usize = 2048;

/// Called by [`Worker::write_head`] with every response head it writes.
pub(crate) fn saw_head(worker: &Worker, response: &ResponseHead<'_>, head_bytes: usize) {
    let head_bytes = head_bytes as u64;
    let inside_a_request = CURRENT.with(|c| match c.get() {
        Some(seen) => {
            c.set(Some(Seen { status: Some(response.status), head_bytes, ..seen }));
            true
        }
        None => false,
    });
    if !inside_a_request {
        // Answers outside a parsed request (400, 408): count them here.
        worker.stats.responded(response.status, head_bytes + response.content_length.unwrap_or(0));
    }
}

/// Called by `send.rs` with every write the socket took, so that the log
/// and the counters have what actually left; outside a logged request
/// (the handler server, the rest of a response `conn::answer_now` began)
/// it does nothing.
pub(crate) fn wrote(bytes: usize) {
    CURRENT.with(|c| {
        if let Some(seen) = c.get() {
            c.set(Some(Seen { sent: seen.sent + bytes as u64, ..seen }));
        }
    });
}

/// Runs `respond` (the answer to `head`) as one request: counted for the
/// status page, logged when it completes.
pub(crate) async fn request<F: Future<Output = io::Result<bool>> + Unpin>(
    worker: &Worker,
    peer: Option<SocketAddr>,
    head: &Head<'_>,
    respond: F,
) -> io::Result<bool> {
    worker.stats.request_started();
    let entry = worker.log.as_ref().map(|log| Entry::new(peer, head, log.config.format));
    let mut scoped = std::pin::pin!(Scoped { seen: Seen::default(), inner: respond });
    let result = scoped.as_mut().await;
    let seen = scoped.seen;
    worker.stats.request_finished();
    if let Some(status) = seen.status {
        worker.stats.responded(status, seen.sent);
        // nginx logs a response cut short (the client gone, a send timeout)
        // too, with the body bytes that left: `$body_bytes_sent`.
        if let (Some(log), Some(entry)) = (&worker.log, &entry) {
            log.record(entry, status, seen.sent.saturating_sub(seen.head_bytes));
        }
    }
    result
}

/// Sets [`CURRENT`] around every poll of `inner`, and keeps what the poll saw.
struct Scoped<F> {
    seen: Seen,
    inner: F,
}

impl<F: Future + Unpin> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let previous = CURRENT.with(|c| c.replace(Some(self.seen)));
        let out = Pin::new(&mut self.inner).poll(cx);
        let seen = CURRENT.with(|c| c.replace(previous));
        self.seen = seen.unwrap_or(self.seen);
        out
    }
}

impl fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLog").field("config", &self.config).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_format() {
        // 2026-11-23T11:44:10Z
        assert_eq!(local_time(1_795_434_250), "[23/Nov/2026:11:44:10 +0000]");
        assert_eq!(local_time(0), "[01/Jan/1970:00:00:00 +0000]");
        assert_eq!(local_time(951_782_400), "[29/Feb/2000:00:00:00 +0000]");
    }

    #[test]
    fn escaping() {
        let mut out = Vec::new();
        escape(&mut out, b"GET /a\"b\\c\x01\x7f\xff d");
        assert_eq!(out, b"GET /a\\x22b\\x5Cc\\x01\\x7F\\xFF d");
    }
}
