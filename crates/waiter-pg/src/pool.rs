//! A connection pool for one loop: at most `max_size` connections, callers
//! beyond that wait in a FIFO queue with a timeout; connections idle for a
//! while are checked before they are handed out, broken ones are replaced,
//! and failed connects are retried with exponential backoff.
//!
//! A server that cannot be reached is retried for up to `connect_retry` (a
//! restart is waited out); after that it counts as down, and until a
//! connect succeeds a checkout that needs a new connection fails at once
//! with the last connect error, but for one attempt per backoff pause: as
//! node-postgres's `pg.Pool` reports an unreachable server to each caller
//! at once, without its connect per caller (a storm of them against a
//! server that is down, and a line of callers each waiting out its own).
//!
//! A returned connection goes straight to the longest waiter (no wake-up
//! race lets a newcomer overtake the queue); a freed slot lets the longest
//! waiter open a new connection.
//!
//! [`Pool::get_pipelined`] lends a connection to up to `pipeline_depth`
//! callers at once: the next caller's statement is already queued on the
//! connection while the one before runs, so the backend goes from one to
//! the next without the round trip (and the hand-off to the next task) that
//! an exclusive checkout costs between two statements. A seat freed on such
//! a connection goes to the first pipelined caller in line.
//!
//! [`Pool::close`] ends a pool, as node-postgres's `pool.end()` and
//! deadpool's `close`: checkouts fail with [`Error::PoolClosed`] from then
//! on (those waiting in line at once), idle connections are terminated at
//! once and lent ones when they come back; its future resolves once the
//! last connection is gone.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::ops::Deref;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use waiter_loop::{Loop, Timer};

use crate::client::{current_loop, Client, Forgotten};
use crate::config::Config;
use crate::connect::connect_with;
use crate::driver::Shared;
use crate::error::Error;
use crate::lane::Lanes;

/// How a [`Pool`] behaves.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections open at once (default 10).
    pub max_size: usize,
    /// Longest a [`Pool::get`] waits for a connection, connecting included
    /// (default 30 s); then it fails with [`Error::PoolTimeout`].
    pub checkout_timeout: Duration,
    /// A connection idle longer than this is pinged before it is handed out
    /// (default 30 s); `Duration::ZERO` pings on every checkout.
    pub health_check_after: Duration,
    /// First pause after a failed connect (default 10 ms); doubles per failure.
    pub backoff_start: Duration,
    /// Longest pause between connect attempts (default 1 s).
    pub backoff_max: Duration,
    /// How long a checkout retries connecting to a server it cannot reach
    /// (default 2 s, within `checkout_timeout`: no attempt starts later);
    /// then it fails with the
    /// connect error, and the server counts as down: until a connect
    /// succeeds, checkouts that need a new connection fail at once with that
    /// error, except one attempt per pause (doubling up to `backoff_max`).
    /// Idle connections are still handed out meanwhile.
    pub connect_retry: Duration,
    /// Most connections [`Pool::get_shared`] shares among its callers at
    /// once (default 1; 0 counts as 1). They are part of `max_size`.
    pub shared_connections: usize,
    /// Most callers of [`Pool::get_pipelined`] on one connection at once
    /// (default 2: one statement running, the next queued behind it; 0
    /// counts as 1, which makes it an exclusive checkout).
    pub pipeline_depth: usize,
}

impl Default for PoolOptions {
    fn default() -> PoolOptions {
        PoolOptions {
            max_size: 10,
            checkout_timeout: Duration::from_secs(30),
            health_check_after: Duration::from_secs(30),
            backoff_start: Duration::from_millis(10),
            backoff_max: Duration::from_secs(1),
            connect_retry: Duration::from_secs(2),
            shared_connections: 1,
            pipeline_depth: 2,
        }
    }
}

/// A snapshot of a pool's state and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStatus {
    /// Connections open or being opened.
    pub size: usize,
    /// Connections checked out.
    pub in_use: usize,
    /// Connections waiting in the pool.
    pub idle: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// Connections [`Pool::get_shared`] shares now, or is opening (counted in `in_use`).
    pub shared: usize,
    /// Connections lent to [`Pool::get_pipelined`] callers now (counted in `in_use`).
    pub pipelined: usize,
    /// Connections opened so far.
    pub connects: u64,
    /// Connect attempts that failed.
    pub connect_failures: u64,
    /// Connections dropped because they were broken or failed a health check.
    pub discarded: u64,
    /// Checkouts that timed out.
    pub timeouts: u64,
    /// Whether [`Pool::close`] was called.
    pub closed: bool,
}

struct Idle {
    client: Client,
    since: Instant,
}

/// What a waiter is given: a connection, or leave to open one.
enum Grant {
    /// A connection, and whether it sat idle long enough to need a ping.
    Client(Client, bool),
    Connect,
    /// A seat on a connection that other pipelined callers hold (already
    /// counted in its holders).
    Join(Client),
}

/// A connection lent to [`Pool::get_pipelined`] callers.
struct Piped {
    client: Client,
    /// INVARIANT: 1 ..= pipeline_depth callers hold it; while it is open and
    /// has a free seat, no pipelined caller waits in line.
    holders: usize,
}

/// A caller in the wait line.
struct Waiter {
    grant: RefCell<Option<Grant>>,
    waker: Cell<Option<Waker>>,
    /// When its checkout times out, on the loop's clock.
    deadline: Instant,
    /// Set when it was taken out of the line without a grant: its checkout
    /// ran out of time, or the pool was closed, while it waited.
    refused: Cell<Option<Refused>>,
    /// Set when its future went away: it stays in the line, skipped, until
    /// it reaches the front (no search of a 10,000-long line per departure).
    left: Cell<bool>,
    /// A [`Pool::get_pipelined`] caller: a seat on a shared connection will do.
    pipelined: bool,
}

/// Why a waiter was taken out of the line without a grant.
#[derive(Debug, Clone, Copy)]
enum Refused {
    Timeout,
    Closed,
}

impl Refused {
    fn error(self) -> Error {
        match self {
            Refused::Timeout => Error::PoolTimeout,
            Refused::Closed => Error::PoolClosed,
        }
    }
}

/// The server could not be reached: new connections are not attempted but
/// once per pause.
struct Down {
    /// The last connect error, given to the checkouts that do not try.
    error: Error,
    /// When the next attempt may start.
    retry_at: Instant,
    /// The pause before the attempt after that one.
    pause: Duration,
}

struct Inner {
    config: Config,
    options: PoolOptions,
    /// Most recently returned last: checkout takes the warmest.
    idle: RefCell<Vec<Idle>>,
    /// INVARIANT: size = idle + in use + being opened <= max_size.
    size: Cell<usize>,
    in_use: Cell<usize>,
    /// INVARIANT: in arrival order, hence in deadline order (one timeout for
    /// all), so the front's deadline is the earliest; may hold waiters that left.
    waiters: RefCell<VecDeque<Rc<Waiter>>>,
    /// Waiters in the line that have not left.
    waiting: Cell<usize>,
    /// The one timer that expires waiters, armed for the front's deadline
    /// while anyone waits: a checkout costs no timer of its own.
    expiry: RefCell<Option<Timer>>,
    stats: Cell<PoolStatus>,
    /// The connections `get_shared` hands out.
    lanes: Lanes,
    /// The connections lent to `get_pipelined` callers.
    pipelined: RefCell<Vec<Piped>>,
    /// Set while the server counts as down (see the module doc).
    down: RefCell<Option<Down>>,
    /// Set by [`Pool::close`].
    closed: Cell<bool>,
    /// After `close`: the connections terminated, whose end `Closing` waits for.
    /// (Weak: an ended connection's socket is not kept open.)
    ending: RefCell<Vec<Weak<Shared>>>,
    /// After `close`: the `Closing` futures waiting for `size` to reach 0.
    drained: RefCell<Vec<Waker>>,
}

/// A pool of connections to one server. Cheap to clone; all clones share it.
///
/// # Examples
///
/// ```no_run
/// use waiter_pg::{Pool, PoolOptions};
///
/// let lp = waiter_loop::Loop::new().unwrap();
/// lp.block_on(async {
///     let pool = Pool::new("postgres://waiter@127.0.0.1:5432/waiter".parse()?, PoolOptions { max_size: 50, ..Default::default() });
///     let client = pool.get().await?;
///     client.query("SELECT pg_sleep(0.02)", &[]).await?;
///     Ok::<(), waiter_pg::Error>(())
/// })
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct Pool(Rc<Inner>);

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool").field("status", &self.status()).finish()
    }
}

impl Pool {
    /// A pool that connects with `config` on demand.
    ///
    /// # Panics
    ///
    /// If `options.max_size` is 0.
    pub fn new(config: Config, options: PoolOptions) -> Pool {
        assert!(options.max_size > 0, "a pool needs max_size >= 1");
        Pool(Rc::new(Inner {
            config,
            options,
            idle: RefCell::new(Vec::new()),
            size: Cell::new(0),
            in_use: Cell::new(0),
            waiters: RefCell::new(VecDeque::new()),
            waiting: Cell::new(0),
            expiry: RefCell::new(None),
            stats: Cell::new(PoolStatus::default()),
            lanes: Lanes::default(),
            pipelined: RefCell::new(Vec::new()),
            down: RefCell::new(None),
            closed: Cell::new(false),
            ending: RefCell::new(Vec::new()),
            drained: RefCell::new(Vec::new()),
        }))
    }

    /// Closes the pool, at once: from now on every checkout fails with
    /// [`Error::PoolClosed`], the callers waiting in line included (and
    /// those whose connection was being opened or pinged); idle connections
    /// are terminated now (`Terminate` sent), and those lent out when they
    /// come back. Calling it again changes nothing.
    ///
    /// The future resolves once every connection is gone: none is lent out
    /// or being opened, and the server has hung up on each one terminated
    /// (a [`Client`] cloned out of a checkout keeps its connection open
    /// until it is dropped too). Dropping the future does not stop the close.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn shutdown(pool: waiter_pg::Pool) {
    /// pool.close().await;
    /// assert_eq!(pool.status().size, 0);
    /// assert!(matches!(pool.get().await, Err(waiter_pg::Error::PoolClosed)));
    /// # }
    /// ```
    pub fn close(&self) -> Closing {
        if !self.0.closed.replace(true) {
            while let Some(waiter) = self.next_waiter() {
                waiter.refused.set(Some(Refused::Closed));
                if let Some(w) = waiter.waker.take() {
                    w.wake();
                }
            }
            let idle = std::mem::take(&mut *self.0.idle.borrow_mut());
            for Idle { client, .. } in idle {
                self.retire(client);
            }
        }
        let pool = self.clone();
        Closing(Box::pin(async move {
            poll_fn(|cx| {
                if pool.0.size.get() == 0 {
                    return Poll::Ready(());
                }
                let mut drained = pool.0.drained.borrow_mut();
                if !drained.iter().any(|w| w.will_wake(cx.waker())) {
                    drained.push(cx.waker().clone());
                }
                Poll::Pending
            })
            .await;
            // Each connection ends when the server has read its Terminate.
            let ending = pool.0.ending.borrow().clone();
            for connection in ending.iter().filter_map(Weak::upgrade) {
                connection.wait_closed().await;
            }
        }))
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.0.closed.get()
    }

    /// Terminates a connection of a closed pool and frees its slot.
    fn retire(&self, client: Client) {
        self.0.ending.borrow_mut().push(Rc::downgrade(&client.connection()));
        // The pool's handle was the last one (unless the caller cloned the
        // client): dropping it sends Terminate.
        drop(client);
        self.free_slot();
    }

    /// The pool's current state and counters.
    pub fn status(&self) -> PoolStatus {
        let inner = &self.0;
        let idle = inner.idle.borrow().len();
        PoolStatus {
            size: inner.size.get(),
            in_use: inner.in_use.get(),
            idle,
            waiting: inner.waiting.get(),
            shared: inner.lanes.len(),
            pipelined: inner.pipelined.borrow().len(),
            closed: inner.closed.get(),
            ..inner.stats.get()
        }
    }

    pub(crate) fn options(&self) -> &PoolOptions {
        &self.0.options
    }

    pub(crate) fn lanes(&self) -> &Lanes {
        &self.0.lanes
    }

    fn count(&self, update: impl FnOnce(&mut PoolStatus)) {
        let mut s = self.0.stats.get();
        update(&mut s);
        self.0.stats.set(s);
    }

    /// Checks a connection out, waiting (first come, first served) while all
    /// `max_size` are in use.
    ///
    /// # Errors
    ///
    /// [`Error::PoolTimeout`] after `checkout_timeout`; a connect error that
    /// retrying cannot fix (a refused password, a missing database);
    /// [`Error::PoolClosed`] once [`close`](Self::close) is called.
    pub async fn get(&self) -> Result<PooledClient, Error> {
        self.get_as(false).await
    }

    /// Checks out a connection that up to `PoolOptions::pipeline_depth`
    /// callers of this method use at once, their statements queued on it
    /// one behind the other: the backend starts the next the moment it has
    /// answered one, instead of idling for the round trip in which an
    /// exclusive checkout is answered, handed on and the next statement sent.
    /// The pool's bounds stand: at most `max_size` connections, each running
    /// one statement at a time.
    ///
    /// A caller takes an idle connection, or opens a new one while fewer
    /// than `max_size` are open; only when every connection is in use does
    /// it join the least busy pipelined one with a free seat, and when none
    /// has one it waits in the pool's line (first come, first served, within
    /// `checkout_timeout`). Unlike [`get_shared`](Self::get_shared), which
    /// crowds many short statements onto few connections, this spreads over
    /// all of them with shallow pipelines: for statements long enough that
    /// the round trip between two of them costs throughput.
    ///
    /// For statements without session state, as for `get_shared`: no
    /// transactions, `SET`, `LISTEN` or temporary tables (use
    /// [`get`](Self::get)). A statement queued behind another waits for it;
    /// a broken connection fails every statement queued on it.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn get_pipelined(&self) -> Result<PooledClient, Error> {
        self.get_as(true).await
    }

    async fn get_as(&self, pipelined: bool) -> Result<PooledClient, Error> {
        if self.0.closed.get() {
            return Err(Error::PoolClosed);
        }
        // The common case, an idle connection and nobody ahead, is served at
        // once: no clock read for a deadline, no timer, no allocation.
        if self.0.waiting.get() == 0 {
            if let Some(Grant::Client(client, false)) = self.take_now_if(false) {
                return Ok(self.lend(client, pipelined));
            }
        }
        let lp = current_loop()?;
        let deadline = lp.now() + self.0.options.checkout_timeout;
        let result = self.checkout(&lp, deadline, pipelined).await;
        if matches!(result, Err(Error::PoolTimeout)) {
            self.count(|s| s.timeouts += 1);
        }
        result
    }

    async fn checkout(&self, lp: &Loop, deadline: Instant, pipelined: bool) -> Result<PooledClient, Error> {
        let grant = if self.0.waiting.get() == 0 { self.take_now_if(true) } else { None };
        // A free seat means no pipelined caller waits (Piped's invariant):
        // taking it overtakes nobody who could have used it.
        let grant = if grant.is_none() && pipelined { self.join_now() } else { grant };
        let mut grant = match grant {
            Some(grant) => grant,
            None => self.wait(lp, deadline, pipelined).await?,
        };
        if self.0.closed.get() {
            // Granted before the close, and not yet taken.
            match grant {
                Grant::Client(client, _) => self.retire(client),
                Grant::Connect => self.free_slot(),
                Grant::Join(client) => self.leave_pipelined(client),
            }
            return Err(Error::PoolClosed);
        }
        if let Grant::Join(client) = grant {
            return Ok(PooledClient { pool: self.clone(), client: Some(client), pipelined: true });
        }
        let slot = SlotGuard(self);
        loop {
            // Connecting and pinging are rare and their futures large: boxed
            // (by `timeout`) so that a waiting checkout stays small.
            let remaining = deadline.saturating_duration_since(Instant::now());
            let vetted = match grant {
                Grant::Client(client, false) if !client.is_closed() => Some(client),
                Grant::Client(client, _) => {
                    match lp.timeout(remaining, self.check(client)).map_err(Error::io)?.await {
                        Ok(vetted) => vetted,
                        Err(_) => return Err(Error::PoolTimeout),
                    }
                }
                Grant::Connect => {
                    match lp.timeout(remaining, self.connect(deadline)).map_err(Error::io)?.await {
                        Ok(connected) => Some(connected?),
                        Err(_) => return Err(Error::PoolTimeout),
                    }
                }
                Grant::Join(_) => unreachable!("a seat is returned above"),
            };
            if self.0.closed.get() {
                // Closed while connecting or pinging: the slot guard frees the place.
                if let Some(client) = vetted {
                    self.0.ending.borrow_mut().push(Rc::downgrade(&client.connection()));
                }
                return Err(Error::PoolClosed);
            }
            if let Some(client) = vetted {
                std::mem::forget(slot);
                return Ok(self.lend(client, pipelined));
            }
            // The connection was broken: a new one in its place, keeping
            // this caller's turn (back in line, it would wait behind later
            // callers, past its own deadline).
            grant = Grant::Connect;
        }
    }

    /// An idle connection, or leave to open one, if either is there now.
    /// Without `may_wait`, only a connection needing no ping will do (and
    /// nothing is taken otherwise).
    fn take_now_if(&self, may_wait: bool) -> Option<Grant> {
        let mut idle = self.0.idle.borrow_mut();
        if let Some(last) = idle.last() {
            // Ping only connections that sat long enough to have gone stale
            // (and vet, without a ping, one that broke while idle).
            let stale = last.since.elapsed() >= self.0.options.health_check_after || last.client.is_closed();
            if stale && !may_wait {
                return None;
            }
            let last = idle.pop()?;
            return Some(Grant::Client(last.client, stale));
        }
        if may_wait && self.0.size.get() < self.0.options.max_size {
            self.0.size.set(self.0.size.get() + 1);
            return Some(Grant::Connect);
        }
        None
    }

    /// A seat on the least busy open pipelined connection with one free.
    fn join_now(&self) -> Option<Grant> {
        let depth = self.0.options.pipeline_depth.max(1);
        let mut piped = self.0.pipelined.borrow_mut();
        let least = piped
            .iter_mut()
            .filter(|p| p.holders < depth && !p.client.is_closed())
            .min_by_key(|p| p.holders)?;
        least.holders += 1;
        Some(Grant::Join(least.client.clone()))
    }

    /// Waits in line for a grant until `deadline`; leaving the line (the
    /// future dropped) passes on whatever was granted meanwhile.
    async fn wait(&self, lp: &Loop, deadline: Instant, pipelined: bool) -> Result<Grant, Error> {
        let waiter = Rc::new(Waiter {
            grant: RefCell::new(None),
            waker: Cell::new(None),
            deadline,
            refused: Cell::new(None),
            left: Cell::new(false),
            pipelined,
        });
        self.0.waiters.borrow_mut().push_back(waiter.clone());
        self.0.waiting.set(self.0.waiting.get() + 1);
        self.arm_expiry(lp);
        let mut line = InLine { pool: self, waiter: &waiter, done: false };
        let outcome = poll_fn(|cx| {
            if let Some(grant) = waiter.grant.borrow_mut().take() {
                return Poll::Ready(Ok(grant));
            }
            if let Some(refused) = waiter.refused.get() {
                return Poll::Ready(Err(refused.error()));
            }
            waiter.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await;
        line.done = true;
        outcome
    }

    /// Starts the expiry timer for the front waiter's deadline, unless it runs.
    fn arm_expiry(&self, lp: &Loop) {
        if self.0.expiry.borrow().is_some() {
            return;
        }
        let Some(deadline) = self.0.waiters.borrow().front().map(|w| w.deadline) else { return };
        let pool = Rc::downgrade(&self.0);
        let timer = lp.set_timeout(deadline.saturating_duration_since(lp.now()), move |lp| {
            if let Some(inner) = pool.upgrade() {
                inner.expiry.take();
                Pool(inner).expire(lp);
            }
        });
        // A deadline past the clock's range: the waiter waits without one.
        *self.0.expiry.borrow_mut() = timer.ok();
    }

    /// Times out the waiters at the front whose deadline has passed.
    fn expire(&self, lp: &Loop) {
        let now = lp.now();
        loop {
            let front = self.0.waiters.borrow().front().cloned();
            let Some(waiter) = front else { break };
            if !waiter.left.get() && waiter.deadline > now {
                break;
            }
            self.0.waiters.borrow_mut().pop_front();
            if !waiter.left.get() {
                waiter.refused.set(Some(Refused::Timeout));
                if let Some(w) = waiter.waker.take() {
                    w.wake();
                }
                self.one_less_waiting();
            }
        }
        self.arm_expiry(lp);
    }

    /// Takes the first waiter that has not left out of the line.
    fn next_waiter(&self) -> Option<Rc<Waiter>> {
        loop {
            let waiter = self.0.waiters.borrow_mut().pop_front()?;
            if !waiter.left.get() {
                self.one_less_waiting();
                return Some(waiter);
            }
        }
    }

    /// Takes the first pipelined waiter that has not left out of the line
    /// (exclusive waiters ahead of it, who cannot use a seat, stay).
    fn next_pipelined_waiter(&self) -> Option<Rc<Waiter>> {
        let waiter = {
            let mut line = self.0.waiters.borrow_mut();
            let i = line.iter().position(|w| w.pipelined && !w.left.get())?;
            line.remove(i)?
        };
        self.one_less_waiting();
        Some(waiter)
    }

    /// One waiter fewer in line; once nobody waits, the leavers still in
    /// the line are forgotten and the expiry timer stopped.
    fn one_less_waiting(&self) {
        let waiting = self.0.waiting.get() - 1;
        self.0.waiting.set(waiting);
        if waiting == 0 {
            self.0.waiters.borrow_mut().clear();
            if let Some(timer) = self.0.expiry.take() {
                timer.clear();
            }
        }
    }

    /// Vets a connection that sat idle (or broke) before lending it: a
    /// broken one is dropped (its slot reopens), a live one answers a ping.
    async fn check(&self, client: Client) -> Option<Client> {
        let healthy = !client.is_closed()
            && client.with_timeout(Some(Duration::from_secs(5))).simple_query("").await.is_ok();
        if healthy {
            return Some(client);
        }
        self.count(|s| s.discarded += 1);
        None
    }

    fn lend(&self, client: Client, pipelined: bool) -> PooledClient {
        self.0.in_use.set(self.0.in_use.get() + 1);
        if pipelined {
            self.0.pipelined.borrow_mut().push(Piped { client: client.clone(), holders: 1 });
            self.seat_waiters(&client);
        }
        PooledClient { pool: self.clone(), client: Some(client), pipelined }
    }

    /// Gives the free seats of pipelined connection `client` to the
    /// pipelined callers first in line.
    fn seat_waiters(&self, client: &Client) {
        if client.is_closed() {
            return;
        }
        let depth = self.0.options.pipeline_depth.max(1);
        loop {
            let free = self
                .0
                .pipelined
                .borrow()
                .iter()
                .any(|p| p.client.same_connection(client) && p.holders < depth);
            if !free {
                return;
            }
            let Some(waiter) = self.next_pipelined_waiter() else { return };
            let mut piped = self.0.pipelined.borrow_mut();
            if let Some(p) = piped.iter_mut().find(|p| p.client.same_connection(client)) {
                p.holders += 1;
            }
            drop(piped);
            grant(&waiter, Grant::Join(client.clone()));
        }
    }

    /// A pipelined caller is done with `client`: its seat goes to the next
    /// pipelined caller in line, or, if it was the last holder, the
    /// connection goes back to the pool.
    fn leave_pipelined(&self, client: Client) {
        let last = {
            let mut piped = self.0.pipelined.borrow_mut();
            let Some(i) = piped.iter().position(|p| p.client.same_connection(&client)) else {
                unreachable!("a pipelined connection stays listed while anyone holds it")
            };
            piped[i].holders -= 1;
            let last = piped[i].holders == 0;
            if last {
                piped.swap_remove(i);
            }
            last
        };
        if last {
            self.give_back(client);
        } else {
            self.seat_waiters(&client);
        }
    }

    /// Connects: while the server counts as down, only if it is time for
    /// the next attempt (else its last error at once), and once; otherwise
    /// retrying an unreachable server with exponential backoff for
    /// `connect_retry` (before the deadline), after which it counts as down.
    async fn connect(&self, deadline: Instant) -> Result<Client, Error> {
        let lp = current_loop()?;
        let options = &self.0.options;
        let now = Instant::now();
        // A probe of a server that is down: the next one may start a pause
        // later, whether this one fails, hangs or is dropped.
        let probe = match &mut *self.0.down.borrow_mut() {
            Some(down) if now < down.retry_at => return Err(down.error.clone()),
            Some(down) => {
                down.retry_at = now + down.pause;
                down.pause = (down.pause * 2).min(options.backoff_max);
                true
            }
            None => false,
        };
        let give_up = deadline.min(now + options.connect_retry);
        let mut pause = options.backoff_start;
        loop {
            match connect_with(&self.0.config).await {
                Ok(client) => {
                    self.count(|s| s.connects += 1);
                    self.0.down.take();
                    return Ok(client);
                }
                Err(e) => {
                    self.count(|s| s.connect_failures += 1);
                    // The server refusing us (bad password, no such database)
                    // will not change by retrying; an unreachable one may.
                    let unreachable = matches!(e, Error::Io(_) | Error::Closed(_) | Error::Timeout)
                        || e.code().is_some_and(|c| c == "57P03" || c == "53300");
                    if !unreachable {
                        return Err(e);
                    }
                    if probe || self.0.down.borrow().is_some() || Instant::now() + pause >= give_up {
                        self.mark_down(&e, pause);
                        return Err(e);
                    }
                    lp.sleep(pause).map_err(Error::io)?.await;
                    pause = (pause * 2).min(options.backoff_max);
                }
            }
        }
    }

    /// Counts the server as down after `error` (its first time: the next
    /// attempt `pause` from now).
    fn mark_down(&self, error: &Error, pause: Duration) {
        let mut down = self.0.down.borrow_mut();
        match &mut *down {
            Some(down) => down.error = error.clone(),
            None => *down = Some(Down { error: error.clone(), retry_at: Instant::now() + pause, pause }),
        }
    }

    /// A slot was freed: the first waiter may open a connection in it (in
    /// a closed pool, nobody waits: the last slot freed wakes `Closing`).
    fn free_slot(&self) {
        self.0.size.set(self.0.size.get() - 1);
        if self.0.closed.get() {
            if self.0.size.get() == 0 {
                let wakers = std::mem::take(&mut *self.0.drained.borrow_mut());
                wakers.into_iter().for_each(Waker::wake);
            }
            return;
        }
        if let Some(waiter) = self.next_waiter() {
            self.0.size.set(self.0.size.get() + 1);
            grant(&waiter, Grant::Connect);
        }
    }

    /// Takes a connection back: to the first waiter, else to the idle list.
    fn give_back(&self, client: Client) {
        self.0.in_use.set(self.0.in_use.get() - 1);
        if client.is_closed() {
            self.count(|s| s.discarded += 1);
            drop(client);
            self.free_slot();
            return;
        }
        if self.0.closed.get() {
            // Terminate ends any transaction block the checkout left open.
            self.retire(client);
            return;
        }
        // A checkout that ended inside a transaction block (a BEGIN without
        // the Transaction guard, then an early return) would hand the next
        // borrower its open transaction, or 25P02 for everything once it had
        // failed, and the next borrower's writes would vanish with it: it is
        // rolled back first (queued, so it runs before anything the next
        // borrower sends). So is one that left a statement running, which
        // may be inside such a block (outside one, ROLLBACK only warns).
        if client.may_be_in_transaction() {
            client.send_and_forget("ROLLBACK", Forgotten::EndsTransaction);
        }
        let client = client.with_timeout(None);
        match self.next_waiter() {
            Some(waiter) => grant(&waiter, Grant::Client(client, false)),
            None => self.0.idle.borrow_mut().push(Idle { client, since: Instant::now() }),
        }
    }
}

fn grant(waiter: &Waiter, g: Grant) {
    *waiter.grant.borrow_mut() = Some(g);
    if let Some(w) = waiter.waker.take() {
        w.wake();
    }
}

/// The future of [`Pool::close`]: resolves once every connection of the
/// pool is gone.
pub struct Closing(Pin<Box<dyn Future<Output = ()>>>);

impl fmt::Debug for Closing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closing")
    }
}

impl Future for Closing {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

/// Frees a connection's place in the pool unless forgotten: a checkout that
/// fails, or is dropped, while connecting or pinging gives its place up.
struct SlotGuard<'a>(&'a Pool);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.0.free_slot();
    }
}

/// Leaves the wait line when the waiting future is dropped, passing on a
/// grant that arrived meanwhile.
struct InLine<'a> {
    pool: &'a Pool,
    waiter: &'a Rc<Waiter>,
    done: bool,
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let granted = self.waiter.grant.borrow_mut().take();
        match granted {
            Some(Grant::Client(client, _)) => {
                self.pool.0.in_use.set(self.pool.0.in_use.get() + 1);
                self.pool.give_back(client);
            }
            Some(Grant::Connect) => self.pool.free_slot(),
            Some(Grant::Join(client)) => self.pool.leave_pipelined(client),
            // Still in line (unless refused, which took it out already).
            None if self.waiter.refused.get().is_none() => {
                self.waiter.left.set(true);
                self.pool.one_less_waiting();
            }
            None => {}
        }
    }
}

/// A connection checked out of a [`Pool`]; it goes back when dropped.
/// Derefs to [`Client`].
pub struct PooledClient {
    pool: Pool,
    client: Option<Client>,
    /// From [`Pool::get_pipelined`]: other callers may hold it too.
    pipelined: bool,
}

impl fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PooledClient").field(&self.client).finish()
    }
}

impl Deref for PooledClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client.as_ref().expect("a PooledClient holds its client until dropped")
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if self.pipelined {
                self.pool.leave_pipelined(client);
            } else {
                self.pool.give_back(client);
            }
        }
    }
}
