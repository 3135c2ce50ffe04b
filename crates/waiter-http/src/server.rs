//! One worker of `waiter serve`: a listener on a loop, a task per connection,
//! the connection limit, and a graceful stop that other threads can ask for.
//!
//! nginx's worker model: each worker thread runs its own [`Loop`] and its
//! own [`Server`] with its own `SO_REUSEPORT` listener, so the kernel
//! spreads connections and no state is shared on the request path.
//!
//! Stopping ([`Stopper::stop`], from any thread) closes the listener, lets
//! every response in progress finish (a long download included), closes
//! idle keep-alive connections and ends [`Server::run`] once the last
//! connection is gone. Bounding how long that may take is the caller's
//! business (the `waiter` binary's `--shutdown-timeout`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use waiter_loop::net::{ListenOptions, TcpListener};
use waiter_loop::{Handle, Loop, Timer};

use crate::config::Config;
use crate::deadline::Deadlines;
use crate::file::{FileCache, Policy};
use crate::notify::{race, Either, Event, Latch};
use crate::response::{DateCache, ResponseHead};

thread_local! {
    /// The servers bound on this thread, so a [`Stopper`]'s post can find its own.
    static SERVERS: RefCell<HashMap<u64, Weak<Worker>>> = RefCell::new(HashMap::new());
}

static NEXT_SERVER_ID: AtomicU64 = AtomicU64::new(0);

/// What the connections of one worker share (single-threaded).
pub(crate) struct Worker {
    pub(crate) lp: Loop,
    pub(crate) config: Config,
    pub(crate) policy: Policy,
    pub(crate) cache: FileCache,
    date: RefCell<DateCache>,
    /// `(loop time, wall-clock time)` read together; see [`Worker::system_now`].
    clock: Cell<(Instant, SystemTime)>,
    /// The buffer for the first read of a request, shared by the worker's
    /// connections (see [`crate::wire::Scratch`]).
    pub(crate) scratch: crate::wire::Scratch,
    /// The head of a response answered from the connection task's poll
    /// (see `conn::answer_now`), reused: no allocation per request.
    pub(crate) head_buf: RefCell<Vec<u8>>,
    /// Set once the server is stopping (by [`Worker::stop`]).
    pub(crate) shutdown: Latch,
    /// The connections' timeouts, and their idle waits that stopping ends.
    pub(crate) deadlines: Rc<Deadlines>,
    /// Notified whenever a connection ends.
    pub(crate) closed: Rc<Event>,
    /// INVARIANT: the number of connection tasks alive.
    pub(crate) active: Cell<usize>,
    boundary: Cell<u64>,
    /// Counters for the status endpoint.
    pub(crate) stats: crate::stub_status::Stats,
    /// The access log, when on.
    pub(crate) log: Option<crate::access_log::AccessLog>,
}

impl Worker {
    /// Appends `response`'s head with the current `Date` (formatted at most once a second).
    pub(crate) fn write_head(&self, response: &ResponseHead<'_>, out: &mut Vec<u8>) {
        let now = self.system_now();
        let mut date = self.date.borrow_mut();
        date.update(now);
        let start = out.len();
        response.write(out, &date);
        crate::access_log::saw_head(self, response, out.len() - start);
    }

    /// The wall-clock time of the loop's current tick, derived from its
    /// cached monotonic time: the real clock is read at most once a second,
    /// not for every `Date` header and conditional request.
    pub(crate) fn system_now(&self) -> SystemTime {
        let now = self.lp.now();
        let (at, wall) = self.clock.get();
        match now.checked_duration_since(at) {
            Some(since) if since < Duration::from_secs(1) => wall + since,
            _ => {
                let wall = SystemTime::now();
                self.clock.set((now, wall));
                wall
            }
        }
    }

    /// Starts stopping: the accept loop and every idle connection end.
    pub(crate) fn stop(&self) {
        self.shutdown.set();
        self.deadlines.shut_down();
    }

    /// A fresh `multipart/byteranges` boundary seed.
    pub(crate) fn boundary_seed(&self) -> u64 {
        let seed = self.boundary.get().wrapping_add(1);
        self.boundary.set(seed);
        seed
    }
}

/// A static file server on one loop.
///
/// # Examples
///
/// ```no_run
/// use waiter_http::{Config, Server};
///
/// let lp = waiter_loop::Loop::new().unwrap();
/// let server = Server::bind(&lp, "127.0.0.1:8080".parse().unwrap(), Config::new(".").unwrap(), false).unwrap();
/// println!("serving on http://{}", server.local_addr().unwrap());
/// lp.block_on(server.run()).unwrap();
/// ```
pub struct Server {
    worker: Rc<Worker>,
    listener: TcpListener,
    id: u64,
    /// The access log's flush and the loop-delay sampler (unref'd).
    timers: Vec<Timer>,
}

impl Server {
    /// Listens on `addr` (with `SO_REUSEPORT` when `reuse_port`, so that
    /// several workers can share it) and prepares to serve `config`.
    ///
    /// # Errors
    ///
    /// The listener's bind error, with the address.
    pub fn bind(lp: &Loop, addr: SocketAddr, config: Config, reuse_port: bool) -> io::Result<Server> {
        let listener = TcpListener::bind_with(lp, addr, ListenOptions { backlog: 1024, reuse_port })?;
        let policy = Policy::new(&config);
        let log = crate::access_log::AccessLog::open(&config.access_log)?;
        let now = SystemTime::now();
        let worker = Rc::new(Worker {
            lp: lp.clone(),
            config,
            policy,
            cache: FileCache::default(),
            date: RefCell::new(DateCache::new(now)),
            clock: Cell::new((lp.now(), now)),
            scratch: crate::wire::Scratch::new(),
            head_buf: RefCell::new(Vec::with_capacity(512)),
            shutdown: Latch::default(),
            deadlines: Rc::default(),
            closed: Rc::default(),
            active: Cell::new(0),
            // nginx seeds its boundary counter from the start time too.
            boundary: Cell::new(now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) << 20),
            stats: Default::default(),
            log,
        });
        let mut timers = crate::access_log::start_timers(&worker)?;
        let shortest = worker.config.header_timeout.min(worker.config.keepalive_timeout);
        timers.push(Deadlines::start_sweeper(&worker.deadlines, lp, shortest)?);
        let id = NEXT_SERVER_ID.fetch_add(1, Ordering::Relaxed);
        SERVERS.with(|s| s.borrow_mut().insert(id, Rc::downgrade(&worker)));
        Ok(Server { worker, listener, id, timers })
    }

    /// The address the server listens on (the port chosen for port 0).
    ///
    /// # Errors
    ///
    /// The kernel's `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that stops this server from any thread.
    pub fn stopper(&self) -> Stopper {
        Stopper { handle: self.worker.lp.handle(), id: self.id }
    }

    /// Accepts and serves connections until stopped, then waits for the
    /// connections to finish.
    ///
    /// # Errors
    ///
    /// An accept error that accepting again would only repeat.
    pub async fn run(self) -> io::Result<()> {
        let Server { worker, listener, id, timers } = self;
        let result = accept_loop(&worker, listener).await;
        worker.stop();
        while worker.active.get() > 0 {
            worker.closed.wait().await;
        }
        timers.iter().for_each(Timer::clear);
        if let Some(log) = &worker.log {
            log.flush();
        }
        SERVERS.with(|s| s.borrow_mut().remove(&id));
        result
    }
}

async fn accept_loop(worker: &Rc<Worker>, listener: TcpListener) -> io::Result<()> {
    loop {
        while worker.active.get() >= worker.config.max_connections {
            if let Either::Right(()) = race(worker.closed.wait(), worker.shutdown.wait()).await {
                return Ok(());
            }
        }
        match race(listener.accept(), worker.shutdown.wait()).await {
            Either::Left(Ok((stream, peer))) => {
                worker.active.set(worker.active.get() + 1);
                worker.stats.accepted();
                // The peer's address is kept only for the access log.
                let peer = worker.log.as_ref().map(|_| Box::new(peer));
                worker.lp.spawn_detached(crate::conn::serve(worker.clone(), stream, peer));
            }
            Either::Left(Err(e)) => return Err(e),
            Either::Right(()) => return Ok(()),
        }
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("id", &self.id).field("root", &self.worker.config.root()).finish()
    }
}

/// Stops a [`Server`] from any thread; see the module notes for what stopping does.
#[derive(Clone, Debug)]
pub struct Stopper {
    handle: Handle,
    id: u64,
}

impl Stopper {
    /// Asks the server to stop; returns at once.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` when the server's loop is gone (it has stopped already).
    pub fn stop(&self) -> io::Result<()> {
        let id = self.id;
        self.handle.post(move |_lp| {
            let worker = SERVERS.with(|s| s.borrow().get(&id).and_then(Weak::upgrade));
            if let Some(worker) = worker {
                worker.stop();
            }
        })
    }
}
