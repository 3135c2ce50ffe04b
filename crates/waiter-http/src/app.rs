//! A handler-based HTTP/1.1 server on waiter-loop, for programs that compute their responses.
//!
//! [`App`] accepts connections on a loop and runs one task per connection:
//! read a head with [`request::parse_with`] (its limits and its 400, 414,
//! 431 and 505 answers, as the static server gives them), read a
//! `Content-Length` body up to [`AppConfig::max_body`] (413 beyond it; a
//! chunked body is answered 411), call the handler with an owned
//! [`Request`], and write its [`Response`] behind a [`ResponseHead`]
//! (`Date`, `Content-Length`, `Connection`). Requests on one connection are
//! answered one after the other, so pipelined responses leave in order.
//!
//! The point is many mostly idle connections (the first seed's API server,
//! 10,000 clients each waiting 20 ms on a timer or a database), so an idle
//! connection owns no buffer: bytes are read through a stack array first
//! and copied to the heap only when a request arrives, and the buffer is
//! given back once everything read has been consumed.
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use waiter_http::app::{App, AppConfig, Request, Response};
//! use waiter_http::Status;
//!
//! let lp = waiter_loop::Loop::new()?;
//! let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
//! let app = App::bind(&lp, addr, AppConfig::default(), |req: Request| async move {
//!     match (req.method.as_str(), req.path()) {
//!         ("GET", "/hello") => Response::text(Status::OK, "hello\n"),
//!         _ => Response::text(Status::NOT_FOUND, "not found\n"),
//!     }
//! })?;
//! lp.block_on(app.run())?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use waiter_loop::net::{ListenOptions, TcpListener, TcpStream};
use waiter_loop::Loop;

use crate::request::{self, Body, Limits, Version};
use crate::response::{DateCache, HeaderValue, ResponseHead};
use crate::send::{self, Body as SendBody};
use crate::status::Status;

/// Bytes one read asks for: a request head and a small JSON body fit.
const READ_CHUNK: usize = 4096;

/// How long, and how many bytes, a connection closed by the server keeps
/// draining what the client still sends, so that unread bytes do not turn the
/// close into a reset that destroys the last response in flight.
/// Only the time is bounded, as in nginx's `lingering_close`: a byte cap
/// would reset a client that pipelined far ahead and destroy its answers.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Limits and timeouts of an [`App`].
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// Request head limits ([`Limits::max_discard_body`] is replaced by `max_body`).
    pub limits: Limits,
    /// Largest request body read for the handler (413 beyond). Default 1 MiB.
    pub max_body: u64,
    /// Time to receive a whole head, and a new connection's first byte (408 when a head is late). Default 10 s.
    pub header_timeout: Duration,
    /// Time to receive a whole body once its head arrived (408). Default 10 s.
    pub body_timeout: Duration,
    /// How long a keep-alive connection may sit idle between requests. Default 75 s (nginx).
    pub keepalive_timeout: Duration,
    /// Time allowed for each write of a response. Default 30 s.
    pub send_timeout: Duration,
    /// Requests served on one connection before it is closed. Default 10,000.
    pub max_requests: usize,
    /// Listen backlog. Default 4,096, for bursts of thousands of connections.
    pub backlog: u32,
}

impl Default for AppConfig {
    fn default() -> AppConfig {
        AppConfig {
            limits: Limits::default(),
            max_body: 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(75),
            send_timeout: Duration::from_secs(30),
            max_requests: 10_000,
            backlog: 4096,
        }
    }
}

/// A request as the handler sees it: owned, with its whole body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method as sent (`GET`, `POST`, …).
    pub method: String,
    /// The origin-form target: path and query (`/users/7?full=1`).
    pub target: String,
    /// The version.
    pub version: Version,
    /// Every header line in order: name as sent, value without surrounding whitespace.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body (`Content-Length` bytes; empty without one).
    pub body: Vec<u8>,
}

impl Request {
    /// The target without its query: `/users/7`.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(path, _)| path)
    }

    /// The query after `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, query)| query)
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }
}

/// A response from the handler: status, extra headers, body.
///
/// `Server`, `Date`, `Content-Length` and `Connection` are added by the
/// server; `Content-Length` is always the body's length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status.
    pub status: Status,
    /// `Content-Type`, if any.
    pub content_type: Option<HeaderValue>,
    /// Further header lines, sent in order (their values were checked by [`HeaderValue::new`]).
    pub headers: Vec<(&'static str, HeaderValue)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with `body` and no `Content-Type`.
    pub fn new(status: Status, body: impl Into<Vec<u8>>) -> Response {
        Response { status, content_type: None, headers: Vec::new(), body: body.into() }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: Status, body: impl Into<Vec<u8>>) -> Response {
        static TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
        Response { content_type: Some(TEXT.clone()), ..Response::new(status, body) }
    }

    /// An `application/json` response (the body is sent as given).
    pub fn json(status: Status, body: impl Into<Vec<u8>>) -> Response {
        static JSON: HeaderValue = HeaderValue::from_static("application/json");
        Response { content_type: Some(JSON.clone()), ..Response::new(status, body) }
    }

    /// Adds a header line. `name` must be a header name token (it is sent as given).
    pub fn with_header(mut self, name: &'static str, value: HeaderValue) -> Response {
        self.headers.push((name, value));
        self
    }
}

/// What the connection tasks share.
struct Shared<H> {
    lp: Loop,
    config: AppConfig,
    /// The parser's limits, with `max_discard_body` set to `config.max_body`
    /// so that a body the handler reads does not end keep-alive.
    limits: Limits,
    handler: H,
    date: RefCell<DateCache>,
}

/// A handler-based HTTP/1.1 server: a listener and the handler its connections call.
pub struct App<H> {
    shared: Rc<Shared<H>>,
    listener: TcpListener,
}

impl<H, F> App<H>
where
    H: Fn(Request) -> F + 'static,
    F: Future<Output = Response> + 'static,
{
    /// Listens on `addr` (port 0 picks a free port) with `handler` answering every request.
    ///
    /// # Errors
    ///
    /// The `socket`/`bind`/`listen` error.
    pub fn bind(lp: &Loop, addr: SocketAddr, config: AppConfig, handler: H) -> io::Result<App<H>> {
        let options = ListenOptions { backlog: config.backlog, ..ListenOptions::default() };
        let listener = TcpListener::bind_with(lp, addr, options)?;
        let limits = Limits { max_discard_body: config.max_body, ..config.limits.clone() };
        let date = RefCell::new(DateCache::new(SystemTime::now()));
        Ok(App { shared: Rc::new(Shared { lp: lp.clone(), config, limits, handler, date }), listener })
    }

    /// The address it listens on.
    ///
    /// # Errors
    ///
    /// `getsockname`'s error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections until accepting fails, each served by a task of its own.
    ///
    /// # Errors
    ///
    /// The `accept` error that ended it (descriptor exhaustion is waited
    /// out by the listener, not returned).
    pub async fn run(self) -> io::Result<()> {
        loop {
            let (stream, _peer) = self.listener.accept().await?;
            drop(self.shared.lp.spawn(serve(self.shared.clone(), stream)));
        }
    }
}

impl<H> std::fmt::Debug for App<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("addr", &self.listener.local_addr().ok()).finish()
    }
}

/// How [`Connection::fill`] ended.
#[derive(Debug, PartialEq, Eq)]
enum Filled {
    Bytes,
    TimedOut,
    Closed,
}

/// One connection's socket and the bytes read but not yet consumed.
struct Connection<'a> {
    lp: &'a Loop,
    stream: &'a TcpStream,
    /// INVARIANT: `start <= buf.len()`; `buf` is unallocated when nothing is pending.
    buf: Vec<u8>,
    start: usize,
}

impl Connection<'_> {
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Takes `n` pending bytes out, giving the buffer back once all are taken.
    fn take(&mut self, n: usize) -> Vec<u8> {
        let end = self.start + n.min(self.pending().len());
        let taken = self.buf[self.start..end].to_vec();
        self.start = end;
        if self.start == self.buf.len() {
            self.buf = Vec::new();
            self.start = 0;
        }
        taken
    }

    /// Reads once without waiting. With nothing pending the read goes to a
    /// stack array, so a spurious wake-up of an idle connection allocates nothing.
    fn read_now(&mut self) -> io::Result<usize> {
        if self.buf.is_empty() {
            let mut chunk = [0u8; READ_CHUNK];
            let n = self.stream.try_read(&mut chunk)?;
            self.buf.extend_from_slice(&chunk[..n]);
            return Ok(n);
        }
        self.buf.drain(..self.start);
        self.start = 0;
        let len = self.buf.len();
        self.buf.resize(len + READ_CHUNK, 0);
        let read = self.stream.try_read(&mut self.buf[len..]);
        self.buf.truncate(len + read.as_ref().map_or(0, |n| *n));
        read
    }

    /// Reads at least one more byte, waiting until `deadline`.
    async fn fill(&mut self, deadline: Instant) -> io::Result<Filled> {
        loop {
            match self.read_now() {
                Ok(0) => return Ok(Filled::Closed),
                Ok(_) => return Ok(Filled::Bytes),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.lp.timeout(left, self.stream.readable())?.await.is_err() {
                return Ok(Filled::TimedOut);
            }
        }
    }
}

/// Serves one connection until it closes.
async fn serve<H, F>(shared: Rc<Shared<H>>, stream: TcpStream)
where
    H: Fn(Request) -> F,
    F: Future<Output = Response>,
{
    // Pipelined responses are separate writes: without NODELAY the second
    // waits for the client's delayed ACK of the first.
    let _ = stream.set_nodelay(true);
    let mut conn = Connection { lp: &shared.lp, stream: &stream, buf: Vec::new(), start: 0 };
    match exchange(&shared, &mut conn).await {
        Ok(false) => {}
        Ok(true) => drain(&mut conn).await,
        Err(e) => {
            if !matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::TimedOut
            ) {
                eprintln!("waiter app: connection: {e}");
            }
        }
    }
}

/// Answers requests until the connection ends; `Ok(true)` when the server
/// ended it after a response (the caller then drains), `Ok(false)` when the
/// client went away or stayed idle too long.
async fn exchange<H, F>(shared: &Shared<H>, conn: &mut Connection<'_>) -> io::Result<bool>
where
    H: Fn(Request) -> F,
    F: Future<Output = Response>,
{
    let config = &shared.config;
    let mut served = 0usize;
    loop {
        if conn.pending().is_empty() {
            let idle = if served == 0 { config.header_timeout } else { config.keepalive_timeout };
            if conn.fill(Instant::now() + idle).await? != Filled::Bytes {
                return Ok(false);
            }
        }
        let deadline = Instant::now() + config.header_timeout;
        let (mut request, body, keep_alive, expect) = loop {
            match request::parse_with(conn.pending(), &shared.limits) {
                Ok(Some((head, used))) => {
                    let headers: Vec<(String, Vec<u8>)> =
                        head.headers().map(|(n, v)| (n.to_owned(), v.to_vec())).collect();
                    let expect = headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("expect"));
                    let request = Request {
                        method: head.method.as_str().to_owned(),
                        target: head.path.to_owned(),
                        version: head.version,
                        headers,
                        body: Vec::new(),
                    };
                    let parsed = (request, head.body, head.keep_alive, expect);
                    conn.take(used);
                    break parsed;
                }
                Ok(None) => match conn.fill(deadline).await? {
                    Filled::Bytes => {}
                    Filled::TimedOut => return error(shared, conn, Status::REQUEST_TIMEOUT).await,
                    Filled::Closed => return Ok(false),
                },
                Err(e) => return error(shared, conn, e.status()).await,
            }
        };
        served += 1;
        match body {
            Body::None => {}
            Body::Chunked => return error(shared, conn, Status::LENGTH_REQUIRED).await,
            Body::Length(n) if n > config.max_body => {
                return error(shared, conn, Status::CONTENT_TOO_LARGE).await
            }
            Body::Length(n) => {
                // `n <= max_body`, a `usize` on every platform this runs on.
                let n = n as usize;
                if expect && conn.pending().len() < n {
                    write(shared, conn, b"HTTP/1.1 100 Continue\r\n\r\n", &[]).await?;
                }
                let deadline = Instant::now() + config.body_timeout;
                while conn.pending().len() < n {
                    match conn.fill(deadline).await? {
                        Filled::Bytes => {}
                        Filled::TimedOut => return error(shared, conn, Status::REQUEST_TIMEOUT).await,
                        Filled::Closed => return Ok(false),
                    }
                }
                request.body = conn.take(n);
            }
        }
        let keep_alive = keep_alive && served < config.max_requests;
        let response = (shared.handler)(request).await;
        respond(shared, conn, &response, keep_alive).await?;
        if !keep_alive {
            return Ok(true);
        }
    }
}

/// Sends `response` with its head.
async fn respond<H>(
    shared: &Shared<H>,
    conn: &Connection<'_>,
    response: &Response,
    keep_alive: bool,
) -> io::Result<()> {
    let mut head = ResponseHead::new(response.status);
    head.keep_alive = keep_alive;
    head.content_length = Some(response.body.len() as u64);
    head.content_type = response.content_type.as_ref();
    let mut out = Vec::with_capacity(256);
    {
        let mut date = shared.date.borrow_mut();
        date.update(SystemTime::now());
        head.write(&mut out, &date);
    }
    if !response.headers.is_empty() {
        // Insert the handler's lines before the empty line that ends the head.
        out.truncate(out.len() - 2);
        for (name, value) in &response.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_str().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
    write(shared, conn, &out, &response.body).await
}

/// Writes a head and a body with one `writev` when the socket takes them.
async fn write<H>(shared: &Shared<H>, conn: &Connection<'_>, head: &[u8], body: &[u8]) -> io::Result<()> {
    let body = if body.is_empty() { SendBody::Empty } else { SendBody::Memory(vec![body]) };
    send::send(&shared.lp, conn.stream, shared.config.send_timeout, head, body).await
}

/// Answers a request that cannot be served with `status`, then closes: the
/// framing of whatever follows is unknown.
async fn error<H>(shared: &Shared<H>, conn: &mut Connection<'_>, status: Status) -> io::Result<bool> {
    respond(shared, conn, &Response::text(status, format!("{status}\n")), false).await?;
    Ok(true)
}

/// Closes after a final response: shut down writing so the client reads
/// end-of-stream, then read and discard what it still sends, for a while.
async fn drain(conn: &mut Connection<'_>) {
    if conn.stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + DRAIN_TIME;
    loop {
        conn.take(usize::MAX);
        if !matches!(conn.fill(deadline).await, Ok(Filled::Bytes)) {
            return;
        }
    }
}
