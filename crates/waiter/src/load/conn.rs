//! One task per connection: send a GET, read the whole response, count it,
//! repeat, on the one loop of `waiter load`.
//!
//! Without `--rate` a connection sends its next request as soon as the
//! previous response ends (wrk). With `--rate R` over `C` connections,
//! connection `i` owes its `k`-th request at `start + (k·C + i) / R`
//! seconds, so the connections' schedules interleave evenly (wrk2). A
//! request whose time has passed (the previous response was late) goes out
//! at once, and its latency is measured from the time it was *owed*: a
//! server that stalls for 200 ms is charged for every request that should
//! have been sent during the stall, not just the one that was waiting
//! (coordinated omission). Not pipelined: one request in flight per
//! connection.
//!
//! Request timeouts cost no timer per request: each connection writes its
//! deadline into its [`Slot`], and one interval timer sweeps the slots and
//! wakes the connections whose deadline passed (wrk checks its timeouts
//! periodically too). A per-request `timeout()` future allocated and
//! cancelled a timer for every request.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use waiter_loop::net::TcpStream;
use waiter_loop::{Loop, Timer};

use super::report::Stats;
use super::response::{Response, ResponseParser};

/// Bytes read per `read`: wrk's buffer size. One buffer serves every
/// connection (a read never waits while holding it), so 10,000 connections
/// cost no more buffer memory than one.
const READ_BUFFER: usize = 8192;

/// Pause after a failed connect before the next attempt, so a server that
/// refuses is retried about 100 times a second per connection, not in a spin.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// When each connection sends.
#[derive(Debug, Clone, Copy)]
pub enum Schedule {
    /// Back to back, until the run's stop flag is set.
    AsFastAsPossible,
    /// `rate` requests per second in all, owed from `start` until `end`.
    Rate {
        /// Total requests per second.
        rate: u64,
        /// When the first request is owed.
        start: Instant,
        /// No request owed at or after this is sent.
        end: Instant,
    },
}

/// Why an exchange failed; each is counted under [`Errors`](super::report::Errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Write,
    Read,
    Timeout,
}

/// When connection `index` of `connections` owes its `k`-th request, from
/// the start, at `rate` requests per second in all: request slot `k·C + i`
/// of one evenly spaced sequence, so the connections take turns.
fn owed_offset(rate: u64, connections: usize, index: usize, k: u64) -> Option<Duration> {
    let slot = u128::from(k) * connections as u128 + index as u128;
    u64::try_from(slot * 1_000_000_000 / u128::from(rate.max(1))).ok().map(Duration::from_nanos)
}

/// The longest pause between two sweeps for expired requests; a timeout
/// fires up to this late (or a quarter of the timeout, if less).
const SWEEP_PERIOD: Duration = Duration::from_millis(100);

/// One busy connection's request deadline, read by the sweep.
#[derive(Default)]
struct Slot {
    /// When the request in flight times out; `None` when none is in flight.
    deadline: Cell<Option<Instant>>,
    /// Set by the sweep once `deadline` has passed.
    expired: Cell<bool>,
    /// The connection's task, to wake when it expires.
    waker: RefCell<Option<Waker>>,
}

/// What every connection task shares: the target, the request, the counts.
pub struct Run {
    /// The loop everything runs on.
    pub lp: Loop,
    /// Where to connect.
    pub addr: SocketAddr,
    /// The request's bytes, sent as they are.
    pub request: Vec<u8>,
    /// How long one request may wait for its whole response (and one connect for its handshake).
    pub timeout: Duration,
    /// Busy connections (for the rate schedule).
    pub connections: usize,
    /// When requests are sent.
    pub schedule: Cell<Schedule>,
    /// Set when an as-fast-as-possible run's time is up.
    pub stopped: Cell<bool>,
    /// The counts.
    pub stats: RefCell<Stats>,
    /// The read buffer all connections share.
    scratch: RefCell<Vec<u8>>,
    /// One per busy connection, by index.
    slots: Vec<Slot>,
}

impl Run {
    /// A run against `addr`, sending `request`.
    pub fn new(lp: Loop, addr: SocketAddr, request: Vec<u8>, timeout: Duration, connections: usize) -> Run {
        Run {
            lp,
            addr,
            request,
            timeout,
            connections,
            schedule: Cell::new(Schedule::AsFastAsPossible),
            stopped: Cell::new(false),
            stats: RefCell::new(Stats::default()),
            scratch: RefCell::new(vec![0; READ_BUFFER]),
            slots: (0..connections).map(|_| Slot::default()).collect(),
        }
    }

    /// Starts the interval timer that expires late requests; clear it when the run is over.
    ///
    /// # Errors
    ///
    /// The loop refusing the timer.
    pub fn start_sweep(self: &Rc<Run>) -> io::Result<Timer> {
        let run = Rc::downgrade(self);
        self.lp.set_interval(SWEEP_PERIOD.min(self.timeout / 4).max(Duration::from_millis(1)), move |_| {
            let Some(run) = run.upgrade() else { return };
            let now = Instant::now();
            for slot in &run.slots {
                if slot.deadline.get().is_some_and(|d| d <= now) {
                    slot.deadline.set(None);
                    slot.expired.set(true);
                    if let Some(waker) = slot.waker.take() {
                        waker.wake();
                    }
                }
            }
        })
    }

    /// Opens one connection, within the timeout, with `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// The connect error (with the address), or `TimedOut`.
    pub async fn connect(&self) -> io::Result<TcpStream> {
        let stream = self.lp.timeout(self.timeout, TcpStream::connect(&self.lp, self.addr))?.await??;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// When connection `index`'s `k`-th request is owed, or `None` for an
    /// as-fast-as-possible run that is over.
    fn owed(&self, index: usize, k: u64) -> Option<Option<Instant>> {
        match self.schedule.get() {
            Schedule::AsFastAsPossible => (!self.stopped.get()).then_some(None),
            Schedule::Rate { rate, start, end } => {
                let at = start.checked_add(owed_offset(rate, self.connections, index, k)?)?;
                (at < end).then_some(Some(at))
            }
        }
    }

    /// Drives busy connection `index`, starting with `stream` (`None`: connect first).
    pub async fn drive(self: Rc<Run>, index: usize, mut stream: Option<TcpStream>) {
        let mut parser = ResponseParser::new();
        let mut k = 0;
        while let Some(owed) = self.owed(index, k) {
            if let Some(at) = owed {
                let now = Instant::now();
                if at > now {
                    match self.lp.sleep(at - now) {
                        Ok(sleep) => sleep.await,
                        Err(_) => return,
                    }
                }
            }
            let Some(conn) = stream.as_ref() else {
                stream = self.reconnect().await;
                // A request owed before the end is retried until it can be sent, but
                // not past the end: a server that went away must not keep the run going.
                if let (None, Schedule::Rate { end, .. }) = (&stream, self.schedule.get()) {
                    if Instant::now() >= end {
                        break;
                    }
                }
                continue;
            };
            let sent = Instant::now();
            let result = self.exchange(index, conn, &mut parser, sent + self.timeout).await;
            let done = Instant::now();
            match result {
                Ok(response) => {
                    let from_owed = done.saturating_duration_since(owed.unwrap_or(sent));
                    self.stats.borrow_mut().record(
                        response.status,
                        from_owed,
                        done - sent,
                        response.body_len,
                    );
                    if response.close {
                        stream = None;
                    }
                }
                Err(failure) => {
                    let mut stats = self.stats.borrow_mut();
                    match failure {
                        Failure::Write => stats.errors.write += 1,
                        Failure::Read => stats.errors.read += 1,
                        Failure::Timeout => stats.errors.timeout += 1,
                    }
                    stream = None;
                    parser = ResponseParser::new();
                }
            }
            k += 1;
        }
    }

    /// Replaces a closed connection, counting the reconnect, or the
    /// failure after a short pause.
    async fn reconnect(&self) -> Option<TcpStream> {
        match self.connect().await {
            Ok(stream) => {
                self.stats.borrow_mut().reconnects += 1;
                Some(stream)
            }
            Err(_) => {
                self.stats.borrow_mut().errors.connect += 1;
                if let Ok(pause) = self.lp.sleep(RECONNECT_PAUSE) {
                    pause.await;
                }
                None
            }
        }
    }

    /// Sends the request on `conn` and reads one whole response, before `deadline`.
    async fn exchange(
        &self,
        index: usize,
        conn: &TcpStream,
        parser: &mut ResponseParser,
        deadline: Instant,
    ) -> Result<Response, Failure> {
        let work = async {
            conn.write_all(&self.request).await.map_err(|_| Failure::Write)?;
            loop {
                conn.readable().await.map_err(|_| Failure::Read)?;
                while let Some(response) = self.read_some(conn, parser)? {
                    if let Some(response) = response {
                        return Ok(response);
                    }
                }
            }
        };
        let slot = &self.slots[index];
        slot.expired.set(false);
        slot.deadline.set(Some(deadline));
        let mut work = pin!(work);
        let result = poll_fn(|cx| {
            if let Poll::Ready(result) = work.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            if slot.expired.get() {
                return Poll::Ready(Err(Failure::Timeout));
            }
            let mut waker = slot.waker.borrow_mut();
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await;
        slot.deadline.set(None);
        result
    }

    /// One `read` into the shared buffer, fed to `parser`: `Some(Some(_))`
    /// once the response is complete, `Some(None)` to read again, `None`
    /// when the socket has nothing more for now.
    fn read_some(
        &self,
        conn: &TcpStream,
        parser: &mut ResponseParser,
    ) -> Result<Option<Option<Response>>, Failure> {
        let mut scratch = self.scratch.borrow_mut();
        let n = match conn.try_read(&mut scratch) {
            Ok(0) => return parser.eof().map(|r| Some(Some(r))).map_err(|_| Failure::Read),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(_) => return Err(Failure::Read),
        };
        self.stats.borrow_mut().bytes += n as u64;
        match parser.feed(&scratch[..n]).map_err(|_| Failure::Read)? {
            // Bytes after the response that nobody asked for: the framing is off.
            (used, Some(_)) if used < n => Err(Failure::Read),
            (_, done) => Ok(Some(done)),
        }
    }

    /// Holds an idle connection until the run ends, counting it if the server closes it.
    pub async fn hold_idle(self: Rc<Run>, conn: TcpStream) {
        let mut buf = [0u8; 256];
        loop {
            match conn.read(&mut buf).await {
                Ok(n) if n > 0 => {}
                _ => {
                    self.stats.borrow_mut().idle_closed += 1;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_take_turns_at_a_fixed_rate() {
        // 1,000/s over 4 connections: one request every 1 ms in all, every 4 ms on each.
        let at = |i, k| owed_offset(1000, 4, i, k).unwrap().as_micros();
        assert_eq!(
            [at(0, 0), at(1, 0), at(2, 0), at(3, 0), at(0, 1), at(3, 1)],
            [0, 1000, 2000, 3000, 4000, 7000]
        );
        // 3/s over 1 connection: 333.333... ms apart, without drift after a million.
        assert_eq!(owed_offset(3, 1, 0, 3_000_000).unwrap(), Duration::from_secs(1_000_000));
        assert_eq!(owed_offset(1, 1, 0, u64::MAX), None, "past the clock's range");
    }
}
