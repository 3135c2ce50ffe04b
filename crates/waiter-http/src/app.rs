//! A handler-based HTTP/1.1 server on waiter-loop, for programs that compute their responses.
//!
//! [`App`] accepts connections on a loop and runs one task per connection:
//! read a head with [`request::parse_with`] (its limits and its 400, 414,
//! 431 and 505 answers, as the static server gives them), read a
//! `Content-Length` or chunked body up to [`AppConfig::max_body`] (413
//! beyond it; the chunked coding is decoded by `chunked.rs`, after which the
//! connection stays alive as after a `Content-Length` body; `Content-Length`
//! with `Transfer-Encoding`, and `Transfer-Encoding` in HTTP/1.0, are the
//! parser's 400 and a close: RFC 9112 §6.1, §6.3), call the handler with an owned
//! [`Request`], and write its [`Response`] behind a [`ResponseHead`]
//! (`Date`, `Content-Length`, `Connection`; to HEAD, the head alone). Requests on one connection are
//! answered one after the other, so pipelined responses leave in order.
//!
//! The point is many connections that mostly wait (the first seed's API
//! server, 10,000 clients each waiting 20 ms on a timer or a database), so a
//! connection is kept small and cheap per request: it owns no buffer between
//! requests (the socket side is [`crate::wire`]'s, as for the static server),
//! no timer (its timeouts are a slot swept once in a while), and its task's
//! future is little more than the handler's own: the rare and large steps
//! (error answers, a write that must wait for room) are boxed when they
//! happen. A request costs one `read`, the handler, and one `writev`; a
//! request that arrives whole is parsed in the loop's shared read buffer and
//! its response head is written in a shared buffer, so the only allocations
//! are the owned [`Request`]'s and the handler's own (6 for wrk's `GET /`
//! answered `ok\n`: method, target, the header list, its one header's name
//! and value, the body; test `app_request_allocations`).
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
use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, SystemTime};

use waiter_loop::net::{ListenOptions, TcpListener, TcpStream};
use waiter_loop::{yield_to_loop, Loop, Timer};

use crate::chunked;
use crate::deadline::{Deadline, Deadlines, When};
use crate::request::{self, Body, Limits, Version};
use crate::response::{DateCache, HeaderValue, ResponseHead};
use crate::send::{self, Body as SendBody};
use crate::status::Status;
use crate::wire::{self, Close, ReadBuf, Scratch};

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
    /// The body (`Content-Length` bytes, or a chunked body decoded, its trailers dropped; empty without one).
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
    /// The connections' timeouts: a slot each, swept by `sweeper`.
    deadlines: Rc<Deadlines>,
    sweeper: Timer,
    scratch: Scratch,
    /// Where each response head is written before its `writev`: no
    /// allocation per response unless the socket lacks room for it.
    head: RefCell<Vec<u8>>,
}

impl<H> Drop for Shared<H> {
    fn drop(&mut self) {
        self.sweeper.clear();
    }
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
        let deadlines = Rc::new(Deadlines::default());
        let shortest = config.header_timeout.min(config.body_timeout).min(config.keepalive_timeout);
        let sweeper = Deadlines::start_sweeper(&deadlines, lp, shortest)?;
        let shared = Shared {
            lp: lp.clone(),
            config,
            limits,
            handler,
            date,
            deadlines,
            sweeper,
            scratch: Scratch::new(),
            head: RefCell::new(Vec::with_capacity(256)),
        };
        Ok(App { shared: Rc::new(shared), listener })
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
            self.shared.lp.spawn_detached(serve(self.shared.clone(), stream));
        }
    }
}

impl<H> std::fmt::Debug for App<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("addr", &self.listener.local_addr().ok()).finish()
    }
}

/// Serves one connection until it closes.
// Not `async fn`: a fn's arguments would be stored twice in the future (as
// arguments and as moved-in locals), and every connection holds this future.
#[allow(clippy::manual_async_fn)]
fn serve<H, F>(shared: Rc<Shared<H>>, stream: TcpStream) -> impl Future<Output = ()>
where
    H: Fn(Request) -> F,
    F: Future<Output = Response>,
{
    async move {
        // Pipelined responses are separate writes: without NODELAY the second
        // waits for the client's delayed ACK of the first.
        let _ = stream.set_nodelay(true);
        let timer = shared.deadlines.register();
        match exchange(&shared, &stream, &timer).await {
            Ok(close) => close.finish(&shared.lp, &stream).await,
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
}

/// Requests one connection answers in a row before it lets the loop poll
/// for other connections' events: a client that keeps pipelining, to a
/// handler that never waits, would otherwise hold the loop for as long as
/// it sends (the socket stays readable, every write succeeds at once).
/// Measured (debug build, a client writing pipelined batches of 2,000
/// requests and reading its answers): a second client's request waited
/// 3.5–8 ms with this budget, 66–483 ms without.
const BUDGET: usize = 64;

/// Answers requests until the connection ends.
///
/// Its future is what every connection holds, busy or idle, so what it
/// keeps across an `await` is small: the handler's own future, the read
/// buffer (empty between requests), a deadline slot; the rare and large
/// steps (error answers, a write that has to wait for room) are boxed.
async fn exchange<H, F>(shared: &Shared<H>, stream: &TcpStream, timer: &Deadline) -> io::Result<Close>
where
    H: Fn(Request) -> F,
    F: Future<Output = Response>,
{
    let config = &shared.config;
    let mut buf = ReadBuf::default();
    let mut served = 0usize;
    loop {
        if served % BUDGET == BUDGET - 1 {
            yield_to_loop(&shared.lp).await;
        }
        // Idle: wait for the first byte of the next request. No buffer
        // lives across the wait: the read that finds bytes reads them into
        // the shared scratch buffer, where they are parsed at once (no
        // other task runs in between); only bytes left over (a partial
        // head, a body, pipelined requests) are copied into a buffer of the
        // connection's. Only their count is kept across an `await`.
        let mut fresh = 0usize;
        while fresh == 0 && buf.pending().is_empty() {
            // Its own statement: a `match` would hold the borrow through its arms' waits.
            let read = stream.try_read(&mut shared.scratch.borrow());
            match read {
                Ok(0) => return Ok(Close::Now),
                Ok(n) => fresh = n,
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                Err(_) => {
                    let idle = if served == 0 { config.header_timeout } else { config.keepalive_timeout };
                    match timer.readable(stream, When::After(idle), false).await {
                        Ok(ready) => ready?,
                        Err(_) => return Ok(Close::Now),
                    }
                }
            }
        }
        // The loop's cached time: no clock read per request.
        let deadline = shared.lp.now() + config.header_timeout;
        let (mut request, Framing { body, keep_alive, expect, coded }) = loop {
            // Decided before any wait: the parser's result borrows the buffer
            // and is large, and it must not live in the future across one.
            let refused = if fresh > 0 {
                let scratch = shared.scratch.borrow();
                let bytes = &scratch[..std::mem::take(&mut fresh)];
                match parse(bytes, &shared.limits) {
                    Ok(Some((request, used))) => {
                        buf = ReadBuf::copied(&bytes[used..]);
                        break request;
                    }
                    Ok(None) => {
                        buf = ReadBuf::copied(bytes);
                        None
                    }
                    Err(status) => Some(status),
                }
            } else {
                match parse(buf.pending(), &shared.limits) {
                    Ok(Some((request, used))) => {
                        buf.consume(used);
                        break request;
                    }
                    Ok(None) => None,
                    Err(status) => Some(status),
                }
            };
            if let Some(status) = refused {
                return Box::pin(refuse(shared, stream, status)).await;
            }
            match wire::read_more(&shared.scratch, stream, timer, &mut buf, deadline).await? {
                Some(true) => {}
                Some(false) => return Box::pin(refuse(shared, stream, Status::REQUEST_TIMEOUT)).await,
                None => return Ok(Close::Now),
            }
        };
        served += 1;
        let mut keep_alive = keep_alive;
        match body {
            Body::None => {}
            // The parser admits registered codings before `chunked` (`gzip,
            // chunked`), which this server would hand the handler undecoded:
            // 501 (RFC 9112 §6.1: a coding the server does not understand).
            Body::Chunked if coded => return Box::pin(refuse(shared, stream, Status::NOT_IMPLEMENTED)).await,
            Body::Chunked => {
                // Boxed: rare, and its decoder need not sit in every connection's future.
                match Box::pin(read_chunked(shared, stream, timer, &mut buf, expect)).await? {
                    Ok(body) => request.body = body,
                    Err(close) => return Ok(close),
                }
            }
            Body::Length(n) if n > config.max_body => {
                return Box::pin(refuse(shared, stream, Status::CONTENT_TOO_LARGE)).await
            }
            Body::Length(n) => {
                // `n <= max_body`, a `usize` on every platform this runs on.
                let n = n as usize;
                if expect && buf.pending().len() < n {
                    write(shared, stream, b"HTTP/1.1 100 Continue\r\n\r\n", &[]).await?;
                }
                let deadline = shared.lp.now() + config.body_timeout;
                while buf.pending().len() < n {
                    match wire::read_more(&shared.scratch, stream, timer, &mut buf, deadline).await? {
                        Some(true) => {}
                        Some(false) => {
                            return Box::pin(refuse(shared, stream, Status::REQUEST_TIMEOUT)).await
                        }
                        None => return Ok(Close::Now),
                    }
                }
                request.body = buf.take(n);
            }
        }
        keep_alive &= served < config.max_requests;
        // A response to HEAD has no content (RFC 9110 §9.3.2): its length is
        // announced, its bytes are not sent (they would be read as the start
        // of the next response).
        let head_only = request.method == "HEAD";
        let response = (shared.handler)(request).await;
        answer(shared, stream, &response, keep_alive, head_only).await?;
        if !keep_alive {
            return Ok(Close::AfterResponse);
        }
    }
}

/// Reads and decodes a chunked body (RFC 9112 §7.1) from `buf` and the
/// socket, under the same limit and timeout as a `Content-Length` body:
/// `max_body` decoded bytes (413 before a byte past it is kept) and
/// `body_timeout` for the whole body. Bytes after it stay in `buf` for the
/// next request. `Err` is how the connection ends when the body is refused
/// (answered first) or never comes.
async fn read_chunked<H>(
    shared: &Shared<H>,
    stream: &TcpStream,
    timer: &Deadline,
    buf: &mut ReadBuf,
    expect: bool,
) -> io::Result<Result<Vec<u8>, Close>> {
    let config = &shared.config;
    let mut decoder = chunked::Decoder::new(chunked::ChunkedLimits::new(config.max_body, &config.limits));
    let mut body = Vec::new();
    let mut deadline = None;
    loop {
        match decoder.decode(buf.pending(), &mut body) {
            Ok(used) => buf.consume(used),
            Err(e) => return refuse(shared, stream, e.status()).await.map(Err),
        }
        if decoder.is_done() {
            return Ok(Ok(body));
        }
        if expect && deadline.is_none() {
            // Once, as for a `Content-Length` body: when it has not all arrived with the head.
            write(shared, stream, b"HTTP/1.1 100 Continue\r\n\r\n", &[]).await?;
        }
        let deadline = *deadline.get_or_insert_with(|| shared.lp.now() + config.body_timeout);
        match wire::read_more(&shared.scratch, stream, timer, buf, deadline).await? {
            Some(true) => {}
            Some(false) => return refuse(shared, stream, Status::REQUEST_TIMEOUT).await.map(Err),
            None => return Ok(Err(Close::Now)),
        }
    }
}

/// What the parser said of a request's body and its connection.
struct Framing {
    body: Body,
    /// The connection may carry another request once the body is read
    /// ([`request::Head::keep_alive`]; `max_body` is the parser's discard limit).
    keep_alive: bool,
    /// The client expects a `100 Continue` ([`request::Head::expect`]).
    expect: bool,
    /// A transfer coding besides `chunked` ([`request::Head::coded`]).
    coded: bool,
}

/// A parsed head as the handler gets it, with its framing; and the bytes
/// the head took. `Err` is the status refusing it.
type Parsed = ((Request, Framing), usize);

/// Parses a request head at the start of `bytes` into an owned [`Request`].
fn parse(bytes: &[u8], limits: &Limits) -> Result<Option<Parsed>, Status> {
    let Some((head, used)) = request::parse_with(bytes, limits).map_err(|e| e.status())? else {
        return Ok(None);
    };
    let headers: Vec<(String, Vec<u8>)> = head.headers().map(|(n, v)| (n.to_owned(), v.to_vec())).collect();
    let request = Request {
        method: head.method.as_str().to_owned(),
        target: head.path.to_owned(),
        version: head.version,
        headers,
        body: Vec::new(),
    };
    let framing =
        Framing { body: head.body, keep_alive: head.keep_alive, expect: head.expect, coded: head.coded };
    Ok(Some(((request, framing), used)))
}

/// Writes `response` with one `writev` of the shared head buffer and its
/// body (none for `head_only`, an answer to HEAD); only a response the
/// socket has no room for goes on through [`send::send`] (its send timeout,
/// its partial writes) with an owned copy of what is left of its head.
async fn answer<H>(
    shared: &Shared<H>,
    stream: &TcpStream,
    response: &Response,
    keep_alive: bool,
    head_only: bool,
) -> io::Result<()> {
    let body: &[u8] = if head_only { &[] } else { &response.body };
    let rest = {
        let mut head = shared.head.borrow_mut();
        head_of(shared, response, keep_alive, &mut head);
        let written = match stream.try_writev(&[IoSlice::new(&head), IoSlice::new(body)]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        match written.checked_sub(head.len()) {
            None => Some((head[written..].to_vec(), 0)),
            Some(past_head) if past_head < body.len() => Some((Vec::new(), past_head)),
            Some(_) => None,
        }
    };
    let Some((head, past_head)) = rest else { return Ok(()) };
    let body = match &body[past_head..] {
        [] => SendBody::Empty,
        rest => SendBody::One(rest),
    };
    // Boxed, as in `write`: rare, and larger than the rest of a connection's future.
    Box::pin(send::send(&shared.lp, stream, shared.config.send_timeout, &head, body)).await
}

/// Writes the head of `response` into `out` (cleared first): status line,
/// the server's headers, the handler's.
fn head_of<H>(shared: &Shared<H>, response: &Response, keep_alive: bool, out: &mut Vec<u8>) {
    let mut head = ResponseHead::new(response.status);
    head.keep_alive = keep_alive;
    head.content_length = Some(response.body.len() as u64);
    head.content_type = response.content_type.as_ref();
    out.clear();
    {
        let mut date = shared.date.borrow_mut();
        date.update(SystemTime::now());
        head.write(out, &date);
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
}

/// Writes a head and a body with one `writev`.
///
/// The socket nearly always takes a small response at once, so that
/// `writev` is tried right here; only a response that has to wait for room
/// goes on through [`send::send`] (its send timeout, its partial writes),
/// boxed: its future is larger than the rest of a connection's together.
async fn write<H>(shared: &Shared<H>, stream: &TcpStream, head: &[u8], body: &[u8]) -> io::Result<()> {
    let slices = [IoSlice::new(head), IoSlice::new(body)];
    // One poll of the `writev` future, with this task's waker: a socket
    // without room answers `Pending` (and will wake the task when it has
    // some), and the future is dropped.
    let tried = poll_fn(|cx| Poll::Ready(pin!(stream.writev(&slices)).poll(cx))).await;
    let written = match tried {
        Poll::Ready(written) => written?,
        Poll::Pending => 0,
    };
    let (head, body) = match written.checked_sub(head.len()) {
        None => (&head[written..], body),
        Some(past_head) => (&[][..], &body[past_head..]),
    };
    if head.is_empty() && body.is_empty() {
        return Ok(());
    }
    let body = if body.is_empty() { SendBody::Empty } else { SendBody::One(body) };
    Box::pin(send::send(&shared.lp, stream, shared.config.send_timeout, head, body)).await
}

/// Answers a request that cannot be served with `status`, then closes: the
/// framing of whatever follows is unknown.
async fn refuse<H>(shared: &Shared<H>, stream: &TcpStream, status: Status) -> io::Result<Close> {
    let response = Response::text(status, format!("{status}\n"));
    let mut head = Vec::new();
    head_of(shared, &response, false, &mut head);
    write(shared, stream, &head, &response.body).await?;
    Ok(Close::AfterResponse)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection's task holds `serve`'s future, busy or idle: 2,352
    /// bytes before the large steps were boxed and the parser's result kept
    /// out of it, 608 after (with this handler's future, then 32 bytes);
    /// 600 once `Sleep` held no `Rc` (a 24-byte handler future).
    #[test]
    fn a_connection_future_is_little_more_than_the_handler_s() {
        let lp = Loop::new().unwrap();
        let handler = |_: Request| async {
            waiter_loop::sleep(Duration::from_millis(20)).unwrap().await;
            Response::text(Status::OK, "ok\n")
        };
        let app = App::bind(&lp, "127.0.0.1:0".parse().unwrap(), AppConfig::default(), handler).unwrap();
        let stream = lp.block_on(TcpStream::connect(&lp, app.local_addr().unwrap())).unwrap();
        let request = Request {
            method: "GET".into(),
            target: "/".into(),
            version: Version::Http11,
            headers: Vec::new(),
            body: Vec::new(),
        };
        let handler_future = std::mem::size_of_val(&(app.shared.handler)(request));
        let connection = std::mem::size_of_val(&serve(app.shared.clone(), stream));
        println!("connection future {connection} bytes, handler future {handler_future}");
        assert!(
            connection <= handler_future + 640,
            "{connection} bytes, with a {handler_future}-byte handler future"
        );
    }
}
