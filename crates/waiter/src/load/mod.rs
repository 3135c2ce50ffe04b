//! `waiter load`: an HTTP/1.1 load generator on waiter-loop itself, so the
//! benchmarks can load a server with the same runtime they measure, at
//! 10,000+ connections on one core.
//!
//! The run has wrk's shape: open every connection first (the time it took
//! is reported, and not counted), start the clock, send keep-alive GETs on
//! each busy connection (as fast as possible, or at a fixed total rate with
//! wrk2's correction for coordinated omission: see [`conn`]), stop sending
//! when the duration is up, let the responses in flight finish, and report.
//! `--idle N` holds N more connections open without a request, for
//! measuring what an idle connection costs the server.

mod conn;
pub mod report;
pub mod response;
pub mod target;

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use waiter_loop::net::TcpStream;
use waiter_loop::Loop;

use conn::{Run, Schedule};
use report::Report;
use target::Target;

/// Connects in flight at once while the connections are opened: enough to
/// open 10,000 in well under a second on loopback, few enough not to
/// overflow a server's accept queue (nginx's default backlog is 511).
const CONNECTS_IN_FLIGHT: usize = 256;

/// Descriptors kept for other things than connections: stdio, the epoll
/// and eventfd descriptors, the loop's spare for `EMFILE`, a thread pool's.
const SPARE_FDS: u64 = 32;

/// Everything `waiter load` was asked to do.
#[derive(Debug, Clone)]
pub struct LoadArgs {
    /// Where to send requests.
    pub target: Target,
    /// Extra request headers, in order.
    pub headers: Vec<(String, String)>,
    /// Busy connections.
    pub connections: usize,
    /// Idle connections held open besides.
    pub idle: usize,
    /// How long requests are sent.
    pub duration: Duration,
    /// Total requests per second, or `None` for as fast as possible.
    pub rate: Option<u64>,
    /// How long a request may wait for its response (and a connect for its handshake).
    pub timeout: Duration,
    /// Print JSON instead of wrk's layout.
    pub json: bool,
}

/// Runs the load and returns the report.
///
/// # Errors
///
/// The descriptors needed exceed `RLIMIT_NOFILE`'s hard limit, the loop
/// cannot start, or not one connection could be opened (with the first
/// connect error).
pub fn run(args: &LoadArgs) -> io::Result<Report> {
    let needed = (args.connections + args.idle) as u64 + SPARE_FDS;
    raise_fd_limit(needed)?;
    let lp = Loop::new()?;
    let request = args.target.request(&args.headers);
    let run = Rc::new(Run::new(lp.clone(), args.target.addr, request, args.timeout, args.connections));
    let report = lp.block_on(load(&run, args))?;
    // Idle holders and any straggler end with the loop.
    drop(run);
    Ok(report)
}

async fn load(run: &Rc<Run>, args: &LoadArgs) -> io::Result<Report> {
    let total = args.connections + args.idle;
    let connecting = Instant::now();
    let opened = open_all(run, total).await;
    let connect_time = connecting.elapsed();
    let mut failed = 0;
    let mut first_error = None;
    let mut streams = Vec::with_capacity(total);
    for slot in opened {
        match slot {
            Some(Ok(stream)) => streams.push(Some(stream)),
            Some(Err(e)) => {
                failed += 1;
                first_error.get_or_insert(e);
                streams.push(None);
            }
            None => streams.push(None),
        }
    }
    if let Some(first) = first_error {
        if failed == total {
            return Err(io::Error::new(first.kind(), format!("no connection could be opened: {first}")));
        }
        eprintln!("waiter load: {failed} of {total} connections could not be opened: {first}");
        run.stats.borrow_mut().errors.connect += failed as u64;
    }
    let mut streams = streams.into_iter();

    let lp = &run.lp;
    let start = Instant::now();
    if let Some(rate) = args.rate {
        run.schedule.set(Schedule::Rate { rate, start, end: start + args.duration });
    } else {
        let stop = run.clone();
        lp.set_timeout(args.duration, move |_| stop.stopped.set(true))?;
    }
    let busy: Vec<_> =
        (0..args.connections).map(|i| lp.spawn(run.clone().drive(i, streams.next().flatten()))).collect();
    for conn in streams.flatten() {
        drop(lp.spawn(run.clone().hold_idle(conn)));
    }
    let sweep = run.start_sweep()?;
    for task in busy {
        task.await;
    }
    let elapsed = start.elapsed().max(args.duration);
    sweep.clear();
    let stats = std::mem::take(&mut *run.stats.borrow_mut());
    Ok(Report {
        url: args.target.to_string(),
        connections: args.connections,
        idle: args.idle,
        rate: args.rate,
        backend: lp.backend().name(),
        connect_time,
        duration: args.duration,
        elapsed,
        stats,
    })
}

/// Opens `total` connections, [`CONNECTS_IN_FLIGHT`] at a time; each slot
/// holds the connection or its connect error.
async fn open_all(run: &Rc<Run>, total: usize) -> Vec<Option<io::Result<TcpStream>>> {
    let slots = Rc::new(RefCell::new((0..total).map(|_| None).collect::<Vec<_>>()));
    let next = Rc::new(Cell::new(0));
    let openers: Vec<_> = (0..CONNECTS_IN_FLIGHT.min(total))
        .map(|_| {
            let (run, slots, next) = (run.clone(), slots.clone(), next.clone());
            run.lp.clone().spawn(async move {
                while next.get() < total {
                    let i = next.get();
                    next.set(i + 1);
                    let opened = run.connect().await;
                    slots.borrow_mut()[i] = Some(opened);
                }
            })
        })
        .collect();
    for opener in openers {
        opener.await;
    }
    Rc::try_unwrap(slots).map(RefCell::into_inner).unwrap_or_else(|slots| slots.take())
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and checks that
/// `needed` descriptors fit under it.
fn raise_fd_limit(needed: u64) -> io::Result<()> {
    let (soft, hard) = waiter_loop::nofile_limit()?;
    if soft < hard {
        waiter_loop::set_nofile_limit(hard)?;
    }
    if needed > hard {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} connections need {needed} file descriptors, but RLIMIT_NOFILE's hard limit is {hard}: \
                 use fewer connections (-c, --idle), or raise the hard limit (as root: ulimit -Hn N, \
                 or limits.conf)",
                needed - SPARE_FDS
            ),
        ));
    }
    Ok(())
}
