//! The connection's driver: two tasks own the socket, one writing whatever
//! requests queue up, one reading and routing each backend message to the
//! request it answers. Any number of [`Client`](crate::Client) handles
//! share one connection and pipeline their requests through it, as in
//! tokio-postgres.
//!
//! Every request ends with `Sync` (or is a simple `Query`), so the server
//! answers each with exactly one `ReadyForQuery`: responses are matched to
//! requests by order, one queue entry per request. `ParameterStatus`,
//! `NoticeResponse` and `NotificationResponse` may arrive at any time and
//! are handled here, outside any response. When the socket fails, every
//! queued request fails with the cause; none is left waiting.
//!
//! While many requests are in flight the reader coalesces its wake-ups
//! (see [`coalescing`]): the server's CPU pays for each wake-up of a
//! sleeping client, and with a deep pipeline that was what made
//! PostgreSQL work harder for this client than for tokio-postgres.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::net::Shutdown;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use postgres_protocol::message::backend::Message;

use crate::config::Config;
use crate::error::{DbError, Error};
use crate::wire::{self, Stream};

/// A `LISTEN`/`NOTIFY` notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The notifying backend's process ID.
    pub process_id: i32,
    /// The channel name.
    pub channel: String,
    /// The payload (empty when none was given).
    pub payload: String,
}

/// A callback for the server's notices (`RAISE NOTICE`, warnings).
pub type NoticeHandler = Box<dyn Fn(&DbError)>;

/// Output waiting above this many bytes makes COPY writers wait for the
/// socket to drain, so a bulk load holds a bounded buffer.
pub(crate) const OUT_HIGH_WATER: usize = 256 * 1024;

/// Requests awaiting an answer from which the reader coalesces its wake-ups.
const COALESCE_FROM: usize = 16;

/// While coalescing, bytes queued that wake the reader before its window
/// closes (large results: the receive buffer is not left to fill). Well
/// under the socket's default receive buffer (128 KiB), so setting it does
/// not change the window the kernel advertises.
const COALESCE_MARK: usize = 16 * 1024;

/// While coalescing, the reader's window per request awaiting an answer,
/// and its cap. PostgreSQL takes several µs per statement (~8 µs of backend
/// CPU for `SELECT $1::int` here), so with N requests queued at the server
/// it has at least N µs of work: a window of N µs never leaves it idle.
const COALESCE_PER_REQUEST: Duration = Duration::from_micros(1);
const COALESCE_MAX: Duration = Duration::from_micros(250);

/// How long the reader may let responses gather before it reads them, with
/// `waiting` requests awaiting an answer: `None` (read each as it comes)
/// below [`COALESCE_FROM`].
///
/// Why coalesce: on loopback the server's `send` delivers each response to
/// this socket in the server's own context, and when this client sleeps
/// in `epoll_wait`, waking it (the wait queue, the scheduler, the IPI to
/// its idle CPU) is charged to the server's CPU too. A client that is
/// quicker than the server sleeps after nearly every response it handles,
/// so with 64 `SELECT $1::int` pipelined, PostgreSQL spent ~4% more CPU per
/// query on waiter-pg than on tokio-postgres (whose slower turn less often
/// finds nothing to read) and the server's CPU is the limit. So while the
/// pipeline is deep, the socket's `SO_RCVLOWAT` is raised to
/// [`COALESCE_MARK`], which keeps the kernel from waking the reader per
/// response, and the reader wakes by its own timer instead, on its own CPU,
/// and takes every response that came meanwhile in one read; the requests
/// that follow them go out in one write. The cost is latency: a response
/// waits at most the window (1 µs per request in flight, at most 250 µs)
/// after it arrives, behind a pipeline that already holds it that long or
/// longer. See bench/results/pg.md for the figures.
fn coalescing(waiting: usize) -> Option<Duration> {
    (waiting >= COALESCE_FROM).then(|| {
        COALESCE_PER_REQUEST.saturating_mul(u32::try_from(waiting).unwrap_or(u32::MAX)).min(COALESCE_MAX)
    })
}

/// The answer to one request, filled by the reader task.
#[derive(Default)]
pub(crate) struct Response {
    messages: RefCell<VecDeque<Message>>,
    /// Set once `ReadyForQuery` arrived (the last message of the response).
    done: Cell<bool>,
    /// Set when nobody will read the rest: later messages are dropped.
    abandoned: Cell<bool>,
    /// Set on a forgotten `ROLLBACK`: whatever runs before it, the session
    /// is outside any transaction block once it has run.
    ends_transaction: Cell<bool>,
    /// The connection's failure, once it failed before `ReadyForQuery`.
    failed: RefCell<Option<Error>>,
    waker: Cell<Option<Waker>>,
}

impl Response {
    fn push(&self, m: Message) {
        if !self.abandoned.get() {
            self.messages.borrow_mut().push_back(m);
            self.wake();
        }
    }

    fn wake(&self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// The next message of the response.
    ///
    /// # Errors
    ///
    /// The connection's failure once the messages received before it are consumed.
    pub(crate) async fn next(&self) -> Result<Message, Error> {
        poll_fn(|cx| {
            if let Some(m) = self.messages.borrow_mut().pop_front() {
                return Poll::Ready(Ok(m));
            }
            if let Some(e) = &*self.failed.borrow() {
                return Poll::Ready(Err(e.clone()));
            }
            if self.done.get() {
                return Poll::Ready(Err(Error::protocol("read past the end of a response")));
            }
            self.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await
    }

    /// [`next`](Self::next), but a connection failure gives way to the
    /// server error already received: a FATAL error (the backend was
    /// terminated) says more than the closed socket that follows it.
    pub(crate) async fn next_after(&self, earlier: &mut Option<Error>) -> Result<Message, Error> {
        self.next().await.map_err(|e| earlier.take().unwrap_or(e))
    }

    /// Drops what remains of the response, now and as it arrives.
    pub(crate) fn abandon(&self) {
        self.abandoned.set(true);
        self.messages.borrow_mut().clear();
    }

    /// Marks this request as a `ROLLBACK` that ends whatever transaction
    /// block the requests before it left open.
    pub(crate) fn mark_ends_transaction(&self) {
        self.ends_transaction.set(true);
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.get() || self.failed.borrow().is_some()
    }
}

/// The state both tasks and all handles share.
pub(crate) struct Shared {
    pub(crate) stream: Stream,
    pub(crate) config: Config,
    pub(crate) process_id: i32,
    pub(crate) secret_key: i32,
    /// Bytes for the writer task to send.
    out: RefCell<BytesMut>,
    /// While a COPY FROM STDIN runs, later requests' bytes wait here: the
    /// server accepts nothing but copy messages until the copy ends.
    held: RefCell<Option<BytesMut>>,
    writer: Cell<Option<Waker>>,
    /// Wakes COPY writers waiting for `out` to drain.
    drained: Cell<Option<Waker>>,
    /// INVARIANT: in the order the requests were written; the front one is
    /// the one the server is answering.
    queue: RefCell<VecDeque<Rc<Response>>>,
    closed: RefCell<Option<Error>>,
    /// A FATAL error the server sent before hanging up: the reason every
    /// request still queued then fails with.
    fatal: RefCell<Option<Error>>,
    terminating: Cell<bool>,
    pub(crate) parameters: RefCell<HashMap<String, String>>,
    pub(crate) notice_handler: RefCell<Option<NoticeHandler>>,
    pub(crate) notifications: RefCell<VecDeque<Notification>>,
    /// Every task waiting in `next_notification` (clones may wait at once):
    /// all are woken by a notification, and by the connection's end.
    notification_wakers: RefCell<Vec<Waker>>,
    /// Tasks waiting in [`wait_closed`](Self::wait_closed) (a closing pool).
    closed_wakers: RefCell<Vec<Waker>>,
    pub(crate) statements: crate::statement::Cache,
    /// The status byte of the last `ReadyForQuery`: `I` idle, `T` in a
    /// transaction block, `E` in a failed one.
    transaction_status: Cell<u8>,
}

impl Shared {
    pub(crate) fn new(
        stream: Stream,
        config: Config,
        process_id: i32,
        secret_key: i32,
        parameters: HashMap<String, String>,
    ) -> Shared {
        Shared {
            stream,
            config,
            process_id,
            secret_key,
            out: RefCell::new(BytesMut::with_capacity(4096)),
            held: RefCell::new(None),
            writer: Cell::new(None),
            drained: Cell::new(None),
            queue: RefCell::new(VecDeque::new()),
            closed: RefCell::new(None),
            fatal: RefCell::new(None),
            terminating: Cell::new(false),
            parameters: RefCell::new(parameters),
            notice_handler: RefCell::new(None),
            notifications: RefCell::new(VecDeque::new()),
            notification_wakers: RefCell::new(Vec::new()),
            closed_wakers: RefCell::new(Vec::new()),
            statements: Default::default(),
            transaction_status: Cell::new(b'I'),
        }
    }

    /// Starts the reader and writer tasks; `buffered` holds bytes already
    /// read past the startup's `ReadyForQuery`.
    pub(crate) fn start(self: &Rc<Self>, lp: &waiter_loop::Loop, buffered: BytesMut) {
        lp.spawn(read_task(self.clone(), lp.clone(), buffered));
        lp.spawn(write_task(self.clone(), lp.clone()));
    }

    /// The error that closed the connection, if it is closed.
    pub(crate) fn closed(&self) -> Option<Error> {
        self.closed.borrow().clone()
    }

    /// Queues one request: `encode` appends its messages (ending with `Sync`
    /// or being one `Query`). Nothing is queued if it fails.
    pub(crate) fn send(
        &self,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), Error>,
    ) -> Result<Rc<Response>, Error> {
        if let Some(e) = self.closed() {
            return Err(e);
        }
        if self.terminating.get() {
            return Err(Error::Closed("the client was dropped".into()));
        }
        let mut held = self.held.borrow_mut();
        let mut out = self.out.borrow_mut();
        let buf = held.as_mut().unwrap_or(&mut out);
        let mark = buf.len();
        if let Err(e) = encode(buf) {
            buf.truncate(mark);
            return Err(e);
        }
        let response = Rc::new(Response::default());
        self.queue.borrow_mut().push_back(response.clone());
        if held.is_none() {
            self.wake_writer();
        }
        Ok(response)
    }

    /// Queues a request and holds every later request back until
    /// [`release`](Self::release): for COPY FROM STDIN.
    pub(crate) fn send_exclusive(
        &self,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), Error>,
    ) -> Result<Rc<Response>, Error> {
        if self.held.borrow().is_some() {
            return Err(Error::Usage("another COPY FROM STDIN is in progress on this connection".into()));
        }
        let response = self.send(encode)?;
        *self.held.borrow_mut() = Some(BytesMut::new());
        Ok(response)
    }

    /// Appends bytes that bypass the hold (COPY data of the exclusive request).
    pub(crate) fn push_direct(&self, encode: impl FnOnce(&mut BytesMut)) -> Result<(), Error> {
        if let Some(e) = self.closed() {
            return Err(e);
        }
        encode(&mut self.out.borrow_mut());
        self.wake_writer();
        Ok(())
    }

    /// Answers a `COPY FROM STDIN` started by `query`/`simple_query` (not
    /// [`copy_in`](crate::Client::copy_in)): the server now waits for copy
    /// data. With nothing queued behind the statement, `CopyFail` ends it with
    /// an error. Requests already sent behind it would be read as copy data
    /// (and, in the extended protocol, swallowed up to their `Sync`, leaving
    /// them unanswered), so then the connection is closed, failing them all.
    /// `extended`: the statement came through Bind/Execute/Sync, whose `Sync`
    /// the server ignored in copy mode; after `CopyFail` it skips to the next
    /// `Sync`, so one more is sent.
    pub(crate) fn refuse_copy_in(&self, extended: bool) -> Result<(), Error> {
        if self.queue.borrow().len() > 1 || !self.out.borrow().is_empty() {
            let e = Error::Usage(
                "COPY FROM STDIN ran through query/simple_query with other requests pipelined behind it; \
                 the connection was closed (use Client::copy_in)"
                    .into(),
            );
            self.close(e.clone());
            return Err(e);
        }
        self.push_direct(|buf| {
            let _ = postgres_protocol::message::frontend::copy_fail(
                "use Client::copy_in for COPY FROM STDIN",
                buf,
            );
            if extended {
                postgres_protocol::message::frontend::sync(buf);
            }
        })
    }

    /// Ends the hold: the held requests follow what was written so far.
    pub(crate) fn release(&self) {
        if let Some(held) = self.held.borrow_mut().take() {
            self.out.borrow_mut().extend_from_slice(&held);
            self.wake_writer();
        }
    }

    /// Waits until at most `OUT_HIGH_WATER` bytes wait to be written.
    pub(crate) async fn drain(&self) -> Result<(), Error> {
        poll_fn(|cx| {
            if let Some(e) = self.closed() {
                return Poll::Ready(Err(e));
            }
            if self.out.borrow().len() <= OUT_HIGH_WATER {
                return Poll::Ready(Ok(()));
            }
            self.drained.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await
    }

    /// Whether the session may be left inside a transaction block that
    /// nobody will end: with nothing in flight, the last answer said it is
    /// in one (open or failed); with requests in flight (their callers gone:
    /// a dropped or timed-out statement after a `BEGIN`, or a script that
    /// begins one), unless the last of them is a forgotten `ROLLBACK`, their
    /// effect on it is not known yet.
    pub(crate) fn may_be_in_transaction(&self) -> bool {
        match self.queue.borrow().back() {
            None => self.transaction_status.get() != b'I',
            Some(last) => !last.ends_transaction.get(),
        }
    }

    /// Whether `response` is the one the server is working on now.
    pub(crate) fn is_current(&self, response: &Rc<Response>) -> bool {
        self.queue.borrow().front().is_some_and(|r| Rc::ptr_eq(r, response))
    }

    fn wake_writer(&self) {
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    /// Sends `Terminate` and lets both tasks wind down: the last handle is gone.
    pub(crate) fn terminate(&self) {
        if self.closed().is_none() && !self.terminating.get() {
            postgres_protocol::message::frontend::terminate(&mut self.out.borrow_mut());
            self.terminating.set(true);
            self.wake_writer();
        }
    }

    /// Marks the connection closed with `error` and fails every queued request.
    pub(crate) fn close(&self, error: Error) {
        if self.closed.borrow().is_some() {
            return;
        }
        *self.closed.borrow_mut() = Some(error.clone());
        self.stream.shutdown(Shutdown::Both);
        let queue = std::mem::take(&mut *self.queue.borrow_mut());
        for response in queue {
            *response.failed.borrow_mut() = Some(error.clone());
            response.wake();
        }
        self.wake_writer();
        if let Some(w) = self.drained.take() {
            w.wake();
        }
        self.wake_notification_waiters();
        let wakers = std::mem::take(&mut *self.closed_wakers.borrow_mut());
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Waits until the connection is closed: after [`terminate`](Self::terminate),
    /// once the server has read `Terminate` and hung up.
    pub(crate) async fn wait_closed(&self) {
        poll_fn(|cx| {
            if self.closed.borrow().is_some() {
                return Poll::Ready(());
            }
            let mut wakers = self.closed_wakers.borrow_mut();
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    fn wake_notification_waiters(&self) {
        let wakers = std::mem::take(&mut *self.notification_wakers.borrow_mut());
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Routes one backend message.
    fn dispatch(&self, message: Message) -> Result<(), Error> {
        match message {
            Message::ParameterStatus(body) => {
                let (name, value) = (body.name(), body.value());
                if let (Ok(name), Ok(value)) = (name, value) {
                    self.parameters.borrow_mut().insert(name.to_string(), value.to_string());
                }
            }
            Message::NoticeResponse(body) => {
                let notice =
                    DbError::parse(&mut body.fields()).map_err(|e| Error::protocol(e.to_string()))?;
                if let Some(handler) = &*self.notice_handler.borrow() {
                    handler(&notice);
                }
            }
            Message::NotificationResponse(body) => {
                let text = |r: std::io::Result<&str>| {
                    r.map(str::to_string).map_err(|e| Error::protocol(e.to_string()))
                };
                self.notifications.borrow_mut().push_back(Notification {
                    process_id: body.process_id(),
                    channel: text(body.channel())?,
                    payload: text(body.message())?,
                });
                self.wake_notification_waiters();
            }
            message => {
                let front = self.queue.borrow().front().cloned();
                let Some(response) = front else {
                    // The server speaks unasked only to say why it is leaving
                    // (a FATAL error, e.g. pg_terminate_backend or shutdown).
                    return Err(match message {
                        Message::ErrorResponse(body) => match DbError::parse(&mut body.fields()) {
                            Ok(e) => Error::Db(Box::new(e)),
                            Err(e) => Error::protocol(e.to_string()),
                        },
                        other => Error::protocol(format!(
                            "unexpected {} with no request waiting",
                            wire::name(&other)
                        )),
                    });
                };
                if let Message::ErrorResponse(body) = &message {
                    if let Ok(e) = DbError::parse(&mut body.fields()) {
                        if e.severity == "FATAL" || e.severity == "PANIC" {
                            *self.fatal.borrow_mut() = Some(Error::Db(Box::new(e)));
                        }
                    }
                }
                let last = match &message {
                    Message::ReadyForQuery(body) => {
                        self.transaction_status.set(body.status());
                        true
                    }
                    _ => false,
                };
                response.push(message);
                if last {
                    self.queue.borrow_mut().pop_front();
                    response.done.set(true);
                    response.wake();
                }
            }
        }
        Ok(())
    }

    /// Waits for the next notification.
    pub(crate) async fn next_notification(&self) -> Result<Notification, Error> {
        poll_fn(|cx| {
            if let Some(n) = self.notifications.borrow_mut().pop_front() {
                return Poll::Ready(Ok(n));
            }
            if let Some(e) = self.closed() {
                return Poll::Ready(Err(e));
            }
            let mut wakers = self.notification_wakers.borrow_mut();
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

async fn read_task(shared: Rc<Shared>, lp: waiter_loop::Loop, mut buf: BytesMut) {
    let max = shared.config.max_message_size;
    // The socket's receive low-water mark as last set (1: the kernel's default).
    let mut mark = 1;
    let error = 'read: loop {
        loop {
            match wire::decode(&mut buf, max) {
                Ok(Some(message)) => {
                    if let Err(e) = shared.dispatch(message) {
                        break 'read e;
                    }
                }
                Ok(None) => break,
                Err(e) => break 'read e,
            }
        }
        if shared.closed().is_some() {
            return;
        }
        // Keep a big message's partial body, but do not keep a big buffer
        // once it has gone.
        if buf.is_empty() && buf.capacity() > 1 << 20 {
            buf = BytesMut::new();
        }
        let window = coalescing(shared.queue.borrow().len()).filter(|_| shared.stream.is_tcp());
        let want = if window.is_some() { COALESCE_MARK } else { 1 };
        if want != mark {
            if let Err(e) = shared.stream.set_read_mark(want) {
                break Error::io(e);
            }
            mark = want;
        }
        if let Some(window) = window {
            match shared.stream.readable_within(&lp, window).await {
                Ok(true) => {}
                // The window closed: take what has come (with the mark back
                // at 1 the kernel reports the socket readable at once if
                // anything has, else on the first byte).
                Ok(false) => {
                    if let Err(e) = shared.stream.set_read_mark(1) {
                        break Error::io(e);
                    }
                    mark = 1;
                }
                Err(e) => break Error::io(e),
            }
        }
        match shared.stream.read_into(&mut buf).await {
            Ok(0) if shared.terminating.get() => break Error::Closed("the client was dropped".into()),
            Ok(0) => {
                let fatal = shared.fatal.borrow_mut().take();
                break fatal.unwrap_or_else(|| Error::Closed("the server closed the connection".into()));
            }
            Ok(_) => {}
            // A reset after the server's parting FATAL: the FATAL is the news.
            Err(e) => break shared.fatal.borrow_mut().take().unwrap_or_else(|| Error::io(e)),
        }
    };
    shared.close(error);
}

async fn write_task(shared: Rc<Shared>, lp: waiter_loop::Loop) {
    let mut sending = BytesMut::new();
    loop {
        let mut waited = false;
        let ready = poll_fn(|cx| {
            if shared.closed().is_some() {
                return Poll::Ready(false);
            }
            if !shared.out.borrow().is_empty() {
                return Poll::Ready(true);
            }
            if shared.terminating.get() {
                return Poll::Ready(false);
            }
            shared.writer.set(Some(cx.waker().clone()));
            waited = true;
            Poll::Pending
        })
        .await;
        if !ready {
            if shared.terminating.get() {
                shared.stream.shutdown(Shutdown::Write);
            }
            return;
        }
        if waited && lp.phase() == waiter_loop::Phase::Poll {
            // The requests queued by the rest of this poll (the other
            // readiness events, each waking a caller that sends a query) go
            // out with this one: the writer resumes in the check phase, right
            // after the poll phase, so a connection shared by many callers
            // costs one write per loop iteration, not one per query. (Outside
            // the poll phase nothing else is about to queue: write at once.)
            waiter_loop::yield_to_loop(&lp).await;
            if shared.closed().is_some() {
                return;
            }
        }
        std::mem::swap(&mut sending, &mut *shared.out.borrow_mut());
        if let Some(w) = shared.drained.take() {
            w.wake();
        }
        if let Err(e) = shared.stream.write_all(&sending).await {
            shared.close(Error::io(e));
            return;
        }
        sending.clear();
        // A bulk COPY may have grown the buffer: do not keep megabytes per idle connection.
        if sending.capacity() > 1 << 20 {
            sending = BytesMut::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_coalesce_only_behind_a_deep_pipeline_and_for_a_bounded_window() {
        assert_eq!(coalescing(0), None);
        assert_eq!(coalescing(COALESCE_FROM - 1), None);
        assert_eq!(coalescing(COALESCE_FROM), Some(Duration::from_micros(16)));
        assert_eq!(coalescing(64), Some(Duration::from_micros(64)));
        assert_eq!(coalescing(100_000), Some(COALESCE_MAX));
        assert_eq!(coalescing(usize::MAX), Some(COALESCE_MAX));
    }
}
