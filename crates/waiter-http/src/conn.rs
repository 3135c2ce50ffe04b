//! One HTTP/1.1 connection: read → parse → respond, again and again, as one task.
//!
//! The state machine is the task's own control flow: wait idle for the first
//! byte (keep-alive timeout, or the header timeout for a new connection),
//! read until a head parses (header timeout for the whole head), answer it,
//! skip a small body the request carried (`Content-Length` or chunked), and
//! answer any request pipelined behind it from the bytes already read before
//! reading again. Responses therefore leave in request order by construction.
//!
//! The common request costs no future at all: a keep-alive GET of a small
//! file that is fresh in the open-file cache is answered by [`answer_now`]
//! straight from the task's poll that read it, from the worker's scratch
//! buffer, with one `writev` whose head is written into a buffer the worker
//! reuses; no allocation per request (`tests/serve_request_allocations.rs`
//! counts them: 4 and ~3.7 KB before, the 3 KB answering future among them).
//! Everything else (a partial head, a lookup, ranges, a large file, a
//! closing response, errors, the access log) goes to the answering future,
//! which starts from the first request `answer_now` left.
//!
//! An idle keep-alive connection is kept small (242 bytes of RSS measured,
//! nginx's 526): it owns no read buffer (the first read of a request goes
//! through the worker's scratch buffer, so a wake-up that finds nothing costs no
//! allocation either), no timer (its timeouts are a slot in the worker's
//! [`crate::deadline::Deadlines`]), and the large future that answers
//! requests is boxed only while a request is in progress. What it does hold:
//! its task's 64-byte [`Connection`] (an 80-byte glibc chunk), the task's
//! waker (48), its task entry (32), its socket's watcher entry (56) and its
//! deadline slot (24); `tests/serve_idle_memory.rs` counts them.
//!
//! Every decision is delegated to the sans-I/O modules ([`crate::request`],
//! [`crate::path`], [`crate::conditional`], [`crate::range`],
//! [`crate::response`]); this file only sequences them and the I/O.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use waiter_loop::net::TcpStream;

use crate::chunked;
use crate::conditional::{self, Precondition};
use crate::deadline::{Deadline, When};
use crate::file::{FileBody, FileInfo, Lookup};
use crate::path::{self, CleanPath};
use crate::range::{self, ByteRange, RangeDecision};
use crate::request::{self, Body, Head, Method, Version};
use crate::response::{ContentRange, HeaderValue, Multipart, ResponseHead, ALLOW_GET_HEAD};
use crate::send::{self, Body as SendBody};
use crate::server::Worker;
use crate::status::Status;
use crate::wire::{self, Close, ReadBuf};

/// Serves `stream` (from `peer`, known only when the access log needs it:
/// boxed so that idle connections stay small) until it closes; the worker's
/// connection count is released when the returned future ends or is dropped.
pub(crate) fn serve(worker: Rc<Worker>, stream: TcpStream, peer: Option<Box<SocketAddr>>) -> Connection {
    // Pipelined responses are separate writes: without NODELAY the second
    // waits for the client's delayed ACK of the first (40 ms).
    let _ = stream.set_nodelay(true);
    let _ = stream.set_notsent_lowat(send::NOTSENT_LOWAT);
    let timer = worker.deadlines.register();
    Connection { worker, state: State::Idle(Idle { stream, timer, served: 0, armed: false, peer }) }
}

/// A connection's task: a hand-written future rather than an `async` block,
/// because it is what every idle keep-alive connection holds, and a state
/// machine generated from nested `async` code keeps a copy of each
/// reference per level (184 bytes here, against 64). Idle, it holds the
/// stream, its deadline slot and a counter; while requests are in progress
/// it holds one box, the `async` code that answers them.
pub(crate) struct Connection {
    worker: Rc<Worker>,
    state: State,
}

enum State {
    /// Waiting for the first byte of the next request.
    Idle(Idle),
    /// Answering the requests whose bytes have arrived; gives the idle state
    /// back, or `None` once the connection has ended.
    Busy(Pin<Box<dyn Future<Output = Option<Idle>>>>),
    Done,
}

/// What a connection keeps between requests.
struct Idle {
    stream: TcpStream,
    timer: Deadline,
    /// Requests answered so far.
    served: u32,
    /// The idle wait's deadline is in `timer`'s slot.
    armed: bool,
    peer: Option<Box<SocketAddr>>,
}

impl Future for Connection {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Idle(idle) => match poll_idle(&this.worker, idle, cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => this.state = State::Done,
                    Poll::Ready(Some(rest)) => {
                        let State::Idle(idle) = std::mem::replace(&mut this.state, State::Done) else {
                            unreachable!("matched Idle above")
                        };
                        // Boxed: answering is a large future (parsing, lookup,
                        // sending) that exists only while a request that
                        // `answer_now` left to it is in progress.
                        this.state = State::Busy(Box::pin(busy(this.worker.clone(), idle, rest)));
                    }
                },
                State::Busy(answering) => match answering.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(idle)) => this.state = State::Idle(idle),
                    Poll::Ready(None) => this.state = State::Done,
                },
                State::Done => return Poll::Ready(()),
            }
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Ended or dropped mid-way (the loop going away): the slot is free either way.
        self.state = State::Done;
        self.worker.active.set(self.worker.active.get() - 1);
        self.worker.stats.closed();
        self.worker.closed.notify_all();
    }
}

/// Waits for requests and answers those that [`answer_now`] can; returns
/// what is left for the answering future, or `None` when the connection
/// ends (closed by the peer, timed out, or the server shutting down).
fn poll_idle(worker: &Worker, idle: &mut Idle, cx: &mut Context<'_>) -> Poll<Option<Rest>> {
    let config = &worker.config;
    loop {
        if worker.shutdown.is_set() {
            return Poll::Ready(None);
        }
        // Read into the worker's scratch buffer: the requests answered
        // from it cost no buffer of their own.
        let mut scratch = worker.scratch.borrow();
        match idle.stream.try_read(&mut scratch) {
            Ok(0) => return Poll::Ready(None),
            Ok(n) => {
                if std::mem::take(&mut idle.armed) {
                    idle.timer.disarm();
                }
                match answer_now(worker, idle, &scratch[..n]) {
                    // All answered: read again (a short read already
                    // cleared the readiness, so that costs no system call).
                    Ok(Answered { used, unsent }) if used == n && unsent.is_empty() => continue,
                    Ok(Answered { used, unsent }) => {
                        return Poll::Ready(Some(Rest { buf: ReadBuf::copied(&scratch[used..n]), unsent }))
                    }
                    Err(e) => {
                        log_unless_quiet(&e);
                        return Poll::Ready(None);
                    }
                }
            }
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => {
                log_unless_quiet(&e);
                return Poll::Ready(None);
            }
            Err(_) => {}
        }
        drop(scratch);
        let limit = if idle.served == 0 { config.header_timeout } else { config.keepalive_timeout };
        // From the loop's time of this tick: no clock read per request (the
        // sweep honours a deadline up to an eighth of the timeout late anyway).
        let mut when = (!idle.armed).then(|| When::At(worker.lp.now() + limit));
        let ready = idle.timer.poll_wait(cx, &mut when, true, |cx| idle.stream.poll_readable(cx));
        idle.armed = when.is_none();
        match ready {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(Ok(()))) => {
                // Readable (or so it may seem): each wait arms its own deadline.
                if std::mem::take(&mut idle.armed) {
                    idle.timer.disarm();
                }
            }
            Poll::Ready(Ok(Err(e))) => {
                log_unless_quiet(&e);
                return Poll::Ready(None);
            }
            Poll::Ready(Err(_)) => return Poll::Ready(None),
        }
    }
}

/// What [`answer_now`] left to the answering future.
struct Rest {
    /// The requests not answered yet (the first may be incomplete).
    buf: ReadBuf,
    /// The part of the last answered response that the socket did not take.
    unsent: Vec<u8>,
}

/// What [`answer_now`] did with the bytes of a read.
struct Answered {
    /// The bytes of the requests it answered.
    used: usize,
    /// The part of the last response that the socket did not take.
    unsent: Vec<u8>,
}

/// Answers from the connection task's poll, with no future, no allocation
/// and no wait, the requests at the start of `bytes` that allow it: the
/// common keep-alive GET of a small file found fresh in the open-file cache,
/// answered with 200 or 304 in one `writev` (when the socket takes only
/// part, the rest is handed on). It stops at the first request that needs
/// more (an incomplete head, an error, a lookup, a range, a large file, a
/// closing response, the access log or the status page), which the
/// answering future then handles from the start, as it would have anyway.
fn answer_now(worker: &Worker, idle: &mut Idle, bytes: &[u8]) -> io::Result<Answered> {
    let config = &worker.config;
    let mut used = 0;
    if worker.log.is_some() || config.status.path.is_some() {
        return Ok(Answered { used, unsent: Vec::new() });
    }
    while used < bytes.len() {
        let Ok(Some((head, n))) = request::parse_with(&bytes[used..], &config.limits) else { break };
        let served = idle.served.saturating_add(1);
        let keep_alive =
            head.keep_alive && (served as usize) < config.max_requests && !worker.shutdown.is_set();
        if !keep_alive || head.method != Method::Get || head.body != Body::None {
            break;
        }
        let Some(info) = plain_key(head.path).and_then(|key| worker.cache.peek(key, worker.lp.now())) else {
            break;
        };
        if config.precompressed && !info.siblings.is_empty() {
            break;
        }
        let (response, with_body) = match answer_file(worker, &head, &info, keep_alive) {
            FileAnswer::Plain(response, with_body) => (response, with_body),
            FileAnswer::Failed | FileAnswer::Ranges(..) => break,
        };
        let body: &[u8] = match &info.body {
            _ if !with_body => &[],
            FileBody::Memory(bytes) => bytes,
            FileBody::Open(_) => break,
        };
        // Decided: from here on this request is answered here.
        worker.stats.request_started();
        let mut out = worker.head_buf.borrow_mut();
        out.clear();
        worker.write_head(&response, &mut out);
        worker.stats.request_finished();
        idle.served = served;
        used += n;
        let written = match idle.stream.try_writev(&[IoSlice::new(&out), IoSlice::new(body)]) {
            Ok(written) => written,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        if written < out.len() + body.len() {
            let mut unsent = Vec::with_capacity(out.len() + body.len() - written);
            unsent.extend_from_slice(out.get(written..).unwrap_or_default());
            unsent.extend_from_slice(&body[written.saturating_sub(out.len())..]);
            return Ok(Answered { used, unsent });
        }
    }
    Ok(Answered { used, unsent: Vec::new() })
}

/// The open-file cache's key for a request target that path resolution
/// would leave as it is (`/css/site.css` is `css/site.css`): segments of
/// letters, digits, `-`, `_`, `.` and `~`, none empty or starting with a
/// dot, and no trailing slash; a query is ignored. `None` for anything
/// else (percent-encoding, dot segments, dotfiles, a directory), which
/// [`path::resolve`] then handles.
fn plain_key(target: &str) -> Option<&str> {
    let end = target.find('?').unwrap_or(target.len());
    let key = target[..end].strip_prefix('/')?;
    let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
    let segments_ok = key.split('/').all(|seg| !seg.is_empty() && !seg.starts_with('.'));
    (segments_ok && key.bytes().all(|b| plain(b) || b == b'/')).then_some(key)
}

/// Answers the requests whose first bytes are in `rest`, then gives the
/// connection back to idle, or ends it.
async fn busy(worker: Rc<Worker>, mut idle: Idle, rest: Rest) -> Option<Idle> {
    if !rest.unsent.is_empty() {
        let sent =
            send::send(&worker.lp, &idle.stream, worker.config.send_timeout, &rest.unsent, SendBody::Empty);
        if let Err(e) = sent.await {
            log_unless_quiet(&e);
            return None;
        }
    }
    let conn = Conn { buf: rest.buf, peer: idle.peer.as_deref().copied(), served: &mut idle.served };
    match requests(&worker, &idle.stream, &idle.timer, conn).await {
        Ok(None) => Some(idle),
        Ok(Some(close)) => {
            close.finish(&worker.lp, &idle.stream).await;
            None
        }
        Err(e) => {
            log_unless_quiet(&e);
            None
        }
    }
}

/// Logs a connection's error, unless it is one that ends connections every
/// day (the peer resetting or going away, a timeout).
fn log_unless_quiet(e: &io::Error) {
    let quiet = matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::TimedOut
            | io::ErrorKind::UnexpectedEof
    );
    if !quiet {
        eprintln!("waiter: connection: {e}");
    }
}

/// A connection's state while it answers requests.
struct Conn<'a> {
    buf: ReadBuf,
    peer: Option<SocketAddr>,
    /// Requests answered so far.
    served: &'a mut u32,
}

/// Answers the requests whose bytes have started to arrive, until the
/// buffer is empty (`Ok(None)`: back to idle) or the connection ends.
async fn requests(
    worker: &Worker,
    stream: &TcpStream,
    timer: &Deadline,
    mut conn: Conn<'_>,
) -> io::Result<Option<Close>> {
    let config = &worker.config;
    let buf = &mut conn.buf;
    while !buf.pending().is_empty() {
        // The loop's cached time: no clock read per request.
        let deadline = worker.lp.now() + config.header_timeout;
        let reading = crate::stub_status::Reading::start(&worker.stats);
        loop {
            match request::parse_with(buf.pending(), &config.limits) {
                Ok(Some((head, used))) => {
                    *conn.served = conn.served.saturating_add(1);
                    let body = head.body;
                    drop(reading);
                    // Pinned here and passed by reference: passed by value, the
                    // (large) answering future would be stored twice, once as the
                    // logging wrapper's argument and once as its local.
                    let keep_alive = {
                        let answer = std::pin::pin!(respond(worker, stream, &head, *conn.served as usize));
                        crate::access_log::request(worker, conn.peer, &head, answer).await?
                    };
                    buf.consume(used);
                    if !keep_alive {
                        return Ok(Some(Close::AfterResponse));
                    }
                    if body != Body::None {
                        // Boxed: rare, and its decoder need not sit in every request's future.
                        if let Some(close) =
                            Box::pin(discard(worker, stream, timer, buf, body, deadline)).await?
                        {
                            return Ok(Some(close));
                        }
                    }
                    break;
                }
                Ok(None) => match wire::read_more(&worker.scratch, stream, timer, buf, deadline).await? {
                    Some(true) => {}
                    Some(false) => {
                        return unparsed(worker, stream, buf, conn.peer, Status::REQUEST_TIMEOUT).await;
                    }
                    None => return Ok(Some(Close::Now)),
                },
                Err(e) => return unparsed(worker, stream, buf, conn.peer, e.status()).await,
            }
        }
    }
    Ok(None)
}

/// Reads and discards the body of a request already answered, so that the
/// connection can carry the next one (nginx discards bodies too): a
/// `Content-Length` body (the parser kept the connection only for one
/// within [`Limits::max_discard_body`](request::Limits::max_discard_body)),
/// or a chunked one, decoded up to the same limit; either before
/// `deadline`, the request's header timeout. `Some` is how the connection
/// ends instead: at once when the client went quiet or away, after a
/// lingering close when the chunked body passed the limit or is malformed.
async fn discard(
    worker: &Worker,
    stream: &TcpStream,
    timer: &Deadline,
    buf: &mut ReadBuf,
    body: Body,
    deadline: std::time::Instant,
) -> io::Result<Option<Close>> {
    let limits = &worker.config.limits;
    let mut left = match body {
        Body::None => return Ok(None),
        Body::Length(n) => n,
        Body::Chunked => 0,
    };
    let mut chunked = (body == Body::Chunked)
        .then(|| chunked::Decoder::new(chunked::ChunkedLimits::new(limits.max_discard_body, limits)));
    let mut sink = Vec::new();
    loop {
        match &mut chunked {
            Some(decoder) => {
                let Ok(used) = decoder.decode(buf.pending(), &mut sink) else {
                    return Ok(Some(Close::AfterResponse));
                };
                buf.consume(used);
                sink.clear();
                if decoder.is_done() {
                    return Ok(None);
                }
            }
            None => {
                let take = (buf.pending().len() as u64).min(left);
                buf.consume(take as usize);
                left -= take;
                if left == 0 {
                    return Ok(None);
                }
            }
        }
        if wire::read_more(&worker.scratch, stream, timer, buf, deadline).await? != Some(true) {
            return Ok(Some(Close::Now));
        }
    }
}

/// Answers a request that never parsed with `status`, logs it, and closes.
async fn unparsed(
    worker: &Worker,
    stream: &TcpStream,
    buf: &ReadBuf,
    peer: Option<SocketAddr>,
    status: Status,
) -> io::Result<Option<Close>> {
    let sent = simple(worker, stream, status, Reply::UNPARSED, |_| {}).await;
    crate::access_log::unparsed(worker, peer, buf.pending(), status, simple_text(status).len() as u64);
    sent.map(|()| Some(Close::AfterResponse))
}

/// The body of a [`simple`] response.
fn simple_text(status: Status) -> String {
    format!("{status}\n")
}

/// Answers one request; returns whether the connection stays open.
async fn respond(worker: &Worker, stream: &TcpStream, head: &Head<'_>, served: usize) -> io::Result<bool> {
    let keep_alive = head.keep_alive && served < worker.config.max_requests && !worker.shutdown.is_set();
    let reply = Reply::to(head, keep_alive);
    if let Method::Other(_) = head.method {
        simple(worker, stream, Status::METHOD_NOT_ALLOWED, reply, |r| r.allow = Some(&ALLOW_GET_HEAD))
            .await?;
        return Ok(keep_alive);
    }
    // Rare branches are boxed so that the common path's future (moved into
    // its box once per request) stays small.
    if worker.config.status.path.is_some() {
        if let Some(sent) = Box::pin(crate::stub_status::respond(worker, stream, head, reply)).await {
            return sent.map(|()| keep_alive);
        }
    }
    let path = match path::resolve(head.path) {
        Ok(path) => path,
        Err(e) => {
            simple(worker, stream, e.status(), reply, |_| {}).await?;
            return Ok(keep_alive);
        }
    };
    if path.has_dotfile() && !worker.config.dotfiles {
        simple(worker, stream, Status::NOT_FOUND, reply, |_| {}).await?;
        return Ok(keep_alive);
    }
    let hit = worker.cache.hit(&path, worker.lp.now());
    let lookup = match hit {
        Some(info) => Ok(Lookup::Found(info)),
        None => Box::pin(worker.cache.lookup(&worker.lp, &worker.policy, &path)).await,
    };
    let lookup = match lookup {
        Ok(lookup) => lookup,
        Err(e) => {
            eprintln!("waiter: lookup /{}: {e}", path.as_str());
            Lookup::Error(Status::INTERNAL_SERVER_ERROR)
        }
    };
    match lookup {
        Lookup::Found(info) => {
            let info = match worker.config.precompressed {
                true => Box::pin(crate::precompressed::negotiate(worker, head, info)).await,
                false => info,
            };
            send_file(worker, stream, head, &info, keep_alive).await?
        }
        Lookup::Listing(page) => Box::pin(crate::autoindex::send(worker, stream, &page, reply)).await?,
        Lookup::Redirect => {
            let location = location(&path, head.path);
            simple(worker, stream, Status::MOVED_PERMANENTLY, reply, |r| r.location = Some(&location)).await?
        }
        Lookup::Error(status) => simple(worker, stream, status, reply, |_| {}).await?,
    }
    Ok(keep_alive)
}

/// The slash form of a directory's path, percent-encoded, with the query kept.
fn location(path: &CleanPath, target: &str) -> HeaderValue {
    let mut out = path.to_target();
    if !out.ends_with('/') {
        out.push('/');
    }
    if let Some(query) = target.find('?').map(|i| &target[i..]) {
        if HeaderValue::new(format!("{out}{query}")).is_ok() {
            out.push_str(query);
        }
    }
    // `to_target` is plain ASCII and the query was checked: this cannot fail.
    HeaderValue::new(out).unwrap_or(HeaderValue::from_static("/"))
}

/// What a response owes the request it answers, beyond its status: whether
/// the connection stays open, whether the request was HTTP/1.1 (see
/// [`ResponseHead::http11`]), and whether the body is left out (HEAD).
/// Every response head is made from one ([`Reply::head`]), so every
/// response says the same about the connection.
#[derive(Clone, Copy)]
pub(crate) struct Reply {
    keep_alive: bool,
    http11: bool,
    /// The request was HEAD: the body is left out.
    pub(crate) is_head: bool,
}

impl Reply {
    /// To a request that never parsed: the connection closes, and the body is sent.
    const UNPARSED: Reply = Reply { keep_alive: false, http11: false, is_head: false };

    /// To `head`, the connection kept open when `keep_alive`.
    fn to(head: &Head<'_>, keep_alive: bool) -> Reply {
        Reply { keep_alive, http11: head.version == Version::Http11, is_head: head.method == Method::Head }
    }

    /// A response head with `status`, its `Connection` as this reply needs.
    pub(crate) fn head<'h>(self, status: Status) -> ResponseHead<'h> {
        let mut response = ResponseHead::new(status);
        response.keep_alive = self.keep_alive;
        response.http11 = self.http11;
        response
    }
}

/// A response with a short text body (`404 Not Found`): errors, 405, 301.
async fn simple<'h>(
    worker: &Worker,
    stream: &TcpStream,
    status: Status,
    reply: Reply,
    extra: impl FnOnce(&mut ResponseHead<'h>),
) -> io::Result<()> {
    static TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
    let text = simple_text(status);
    let mut response = reply.head(status);
    response.content_type = Some(&TEXT);
    response.content_length = Some(text.len() as u64);
    extra(&mut response);
    let mut out = Vec::with_capacity(256);
    worker.write_head(&response, &mut out);
    let body = if reply.is_head { SendBody::Empty } else { SendBody::One(text.as_bytes()) };
    send::send(&worker.lp, stream, worker.config.send_timeout, &out, body).await
}

/// How a found file is answered, decided before anything is written.
enum FileAnswer<'i> {
    /// 200 with the whole file (`true`: the body follows the head, unless
    /// the file is empty) or a 304 or HEAD answer without one (`false`).
    Plain(ResponseHead<'i>, bool),
    /// 412: a precondition failed.
    Failed,
    /// 206 or 416: the request asked for ranges.
    Ranges(ResponseHead<'i>, RangeDecision),
}

/// Decides how to answer `head` with the file `info`: preconditions, then ranges.
fn answer_file<'i>(
    worker: &'i Worker,
    head: &Head<'_>,
    info: &'i FileInfo,
    keep_alive: bool,
) -> FileAnswer<'i> {
    let config = &worker.config;
    let now = worker.system_now();
    let mut response = Reply::to(head, keep_alive).head(Status::OK);
    response.etag = Some(&info.etag);
    response.content_encoding = info.encoding;
    response.vary_accept_encoding = !info.siblings.is_empty();
    response.last_modified = Some(&info.modified);
    response.cache_control = config.cache_control.as_ref();
    match conditional::evaluate(&head.conditions(), &info.etag, &info.modified, now) {
        Precondition::Proceed => {}
        Precondition::NotModified => {
            response.status = Status::NOT_MODIFIED;
            return FileAnswer::Plain(response, false);
        }
        Precondition::Failed => return FileAnswer::Failed,
    }
    response.accept_ranges = true;
    response.content_type = Some(&info.content_type);

    let decision = match (&head.method, &head.fields.range) {
        (Method::Get, Some(value)) => {
            let allowed = head
                .fields
                .if_range
                .as_deref()
                .map_or(true, |if_range| range::if_range_allows(if_range, &info.etag, &info.modified));
            if allowed {
                range::evaluate(value, info.len, config.max_ranges)
            } else {
                RangeDecision::Full
            }
        }
        _ => RangeDecision::Full,
    };
    match decision {
        RangeDecision::Full => {
            response.content_length = Some(info.len);
            FileAnswer::Plain(response, head.method != Method::Head && info.len > 0)
        }
        decision => FileAnswer::Ranges(response, decision),
    }
}

/// 200, 206, 304, 412 or 416 for a found file.
async fn send_file(
    worker: &Worker,
    stream: &TcpStream,
    head: &Head<'_>,
    info: &FileInfo,
    keep_alive: bool,
) -> io::Result<()> {
    let config = &worker.config;
    match answer_file(worker, head, info, keep_alive) {
        FileAnswer::Plain(response, with_body) => {
            let mut out = Vec::with_capacity(512);
            worker.write_head(&response, &mut out);
            let body = match &info.body {
                _ if !with_body => SendBody::Empty,
                FileBody::Memory(bytes) => SendBody::One(bytes),
                FileBody::Open(file) => {
                    let whole = ByteRange { first: 0, last: info.len - 1 };
                    SendBody::File { file, parts: vec![(Vec::new(), whole)], trailer: Vec::new() }
                }
            };
            send::send(&worker.lp, stream, config.send_timeout, &out, body).await
        }
        FileAnswer::Failed => {
            simple(worker, stream, Status::PRECONDITION_FAILED, Reply::to(head, keep_alive), |_| {}).await
        }
        // Boxed: rare, and large.
        FileAnswer::Ranges(response, decision) => {
            Box::pin(send_ranges(worker, stream, head, info, response, decision)).await
        }
    }
}

/// 206 or 416 for a file asked for in ranges.
async fn send_ranges(
    worker: &Worker,
    stream: &TcpStream,
    head: &Head<'_>,
    info: &FileInfo,
    mut response: ResponseHead<'_>,
    decision: RangeDecision,
) -> io::Result<()> {
    let config = &worker.config;
    let (ranges, multipart) = match decision {
        RangeDecision::Full => (vec![], None), // answered by `send_file`
        RangeDecision::Partial(ranges) if ranges.len() == 1 => {
            response.status = Status::PARTIAL_CONTENT;
            response.content_length = Some(ranges[0].len());
            response.content_range = Some(ContentRange::Bytes { range: ranges[0], len: info.len });
            (ranges, None)
        }
        RangeDecision::Partial(ranges) => {
            let seed = worker.boundary_seed();
            (ranges, Some(Multipart::new(seed, &info.content_type, info.len)))
        }
        RangeDecision::Unsatisfiable => {
            response.status = Status::RANGE_NOT_SATISFIABLE;
            response.content_type = None;
            response.content_length = Some(0);
            response.content_range = Some(ContentRange::Unsatisfied { len: info.len });
            (vec![], None)
        }
    };
    let multipart_type = multipart.as_ref().map(Multipart::content_type);
    if let (Some(mp), Some(ct)) = (&multipart, &multipart_type) {
        response.status = Status::PARTIAL_CONTENT;
        response.content_type = Some(ct);
        response.content_length = Some(mp.body_len(&ranges));
    }
    let mut out = Vec::with_capacity(512);
    worker.write_head(&response, &mut out);
    if head.method == Method::Head || ranges.is_empty() {
        return send::send(&worker.lp, stream, config.send_timeout, &out, SendBody::Empty).await;
    }

    // Framing before each range (empty for a plain body) and after the last.
    let mut framing: Vec<Vec<u8>> = Vec::with_capacity(ranges.len());
    let mut trailer = Vec::new();
    for &r in &ranges {
        let mut part = Vec::new();
        if let Some(mp) = &multipart {
            mp.write_part_header(&mut part, r);
        }
        framing.push(part);
    }
    if let Some(mp) = &multipart {
        mp.write_trailer(&mut trailer);
    }
    let body = match &info.body {
        FileBody::Memory(bytes) => {
            let mut pieces: Vec<&[u8]> = Vec::with_capacity(ranges.len() * 2 + 1);
            for (part, r) in framing.iter().zip(&ranges) {
                pieces.push(part);
                // Ranges were resolved against `info.len`, which is `bytes.len()`.
                pieces.push(bytes.get(r.first as usize..=r.last as usize).unwrap_or_default());
            }
            pieces.push(&trailer);
            SendBody::Memory(pieces)
        }
        FileBody::Open(file) => {
            SendBody::File { file, parts: framing.into_iter().zip(ranges.iter().copied()).collect(), trailer }
        }
    };
    send::send(&worker.lp, stream, config.send_timeout, &out, body).await
}

#[cfg(test)]
mod tests {
    use super::plain_key;
    use crate::path;

    /// A key `plain_key` gives is exactly what path resolution makes of the
    /// target, so `answer_now` finds the same cache entry `respond` would;
    /// everything else is left to resolution.
    #[test]
    fn plain_keys_are_what_resolution_makes() {
        let plain = [
            ("/1k.bin", "1k.bin"),
            ("/a/b-c_d.e~f/index.html", "a/b-c_d.e~f/index.html"),
            ("/x.css?v=1&y=/../..", "x.css"),
            ("/A9/z", "A9/z"),
        ];
        for (target, key) in plain {
            assert_eq!(plain_key(target), Some(key), "{target}");
            let resolved = path::resolve(target).unwrap();
            assert_eq!(resolved.as_str(), key, "{target}");
            assert!(!resolved.trailing_slash() && !resolved.has_dotfile(), "{target}");
        }
        let other = [
            "/",
            "",
            "a.txt",
            "//a",
            "/a//b",
            "/a/",
            "/.",
            "/..",
            "/a/../b",
            "/./a",
            "/.git/config",
            "/a/.env",
            "/%2e%2e/x",
            "/a%20b",
            "/a\\b",
            "/a b",
            "/a\0b",
            "/ä",
            "/a#b",
            "*",
            "/a;b",
            "/a:b",
            "/a@b",
            "/a+b",
            "/a,b",
            "/a=b",
        ];
        for target in other {
            assert_eq!(plain_key(target), None, "{target:?}");
        }
    }
}
