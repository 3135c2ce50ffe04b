//! `tick_cost`: the cost of one loop iteration with 1 active and N idle sockets registered,
//! under the epoll and the poll(2) backends (the first seed's claim: epoll's cost follows the
//! ready descriptors, poll's every registered one).
//!
//! Run: `cargo bench -p waiter-loop --bench tick_cost [-- --runs 5]` (bench/loop.sh runs it
//! pinned with `taskset -c 1` next to `bench/libuv/tick_cost.c`). Each run prints
//! `RESULT tick_cost/<N> <backend> <ns per tick>`, and `INFO` lines on the descriptor limit.
//!
//! The idle sockets are Unix socket pairs with *both* ends watched for `READABLE` through
//! `lp.watch` (one descriptor per idle socket, none wasted on a silent peer); nothing is ever
//! written to them. The active one is one end of another pair, watched the same way and
//! registered last (the end of poll's array). Its callback reads the byte and writes one back
//! from the other end, so every tick finds exactly one ready descriptor: timers (none), pending
//! (none), one `epoll_wait`/`poll`, one callback with a `read` and a `write`, check, closing.
//! Ticks are counted after 50 warm-up ticks, for about 0.2 s (at least 200 ticks) per run.
//!
//! N needs N + a few descriptors. The bench tries to raise `RLIMIT_NOFILE` (hard limit too,
//! which needs `CAP_SYS_RESOURCE`) to fit the largest N, and otherwise measures the N that fit
//! and says so in its `INFO` lines.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use waiter_loop::{Backend, Interest, Loop, Watch};

mod common;
use common::{per_op, run_cases, Case};

/// The N of the seed's claim plus points in between, for the plot's log axis.
const IDLE: [usize; 8] = [100, 300, 1_000, 3_000, 10_000, 20_000, 30_000, 50_000];
/// Descriptors besides the idle ones: std streams, epoll, the loop's eventfd, the active pair, slack.
const SPARE_FDS: usize = 64;
/// No warm-up round: every run sets up its own loop and descriptors and runs warm-up ticks.
const WARMUP_ROUNDS: usize = 0;
const WARMUP_TICKS: usize = 50;
const MIN_TICKS: usize = 200;
const TARGET: Duration = Duration::from_millis(200);

/// Tries to raise `RLIMIT_NOFILE` to `want` (soft and hard); returns the soft limit in force.
fn raise_nofile(want: u64) -> u64 {
    let (soft, hard) = waiter_loop::nofile_limit().expect("getrlimit");
    println!("INFO tick_cost nofile_before soft={soft} hard={hard}");
    if want > hard {
        let lim = libc::rlimit { rlim_cur: want as libc::rlim_t, rlim_max: want as libc::rlim_t };
        // SAFETY: `lim` is a live rlimit; setrlimit only reads it.
        let raised = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0;
        if raised {
            println!("INFO tick_cost raise_hard to={want} ok");
        } else {
            let err = io::Error::last_os_error();
            println!("INFO tick_cost raise_hard to={want} refused: {err}");
        }
    }
    let (_, hard) = waiter_loop::nofile_limit().expect("getrlimit");
    waiter_loop::set_nofile_limit(want.min(hard)).expect("raise the soft limit");
    let (soft, hard) = waiter_loop::nofile_limit().expect("getrlimit");
    println!("INFO tick_cost nofile_after soft={soft} hard={hard}");
    soft
}

/// One loop with `idle` silent descriptors and one that is ready on every tick.
struct Rig {
    lp: Loop,
    ticks: Rc<Cell<usize>>,
    stop_at: Rc<Cell<usize>>,
    kick: UnixStream,
    _active: Watch,
    _idle: Vec<(Watch, UnixStream)>,
}

impl Rig {
    fn new(backend: Backend, idle: usize) -> io::Result<Rig> {
        let lp = Loop::builder().backend(backend).build()?;
        let mut idle_watches = Vec::with_capacity(idle);
        for _ in 0..idle / 2 {
            let (a, b) = UnixStream::pair()?;
            for end in [a, b] {
                let w = lp.watch(end.as_raw_fd(), Interest::READABLE, |_, r| {
                    panic!("an idle socket became ready: {r:?}")
                })?;
                idle_watches.push((w, end));
            }
        }
        let (kick, active) = UnixStream::pair()?;
        kick.set_nonblocking(true)?;
        active.set_nonblocking(true)?;
        let ticks = Rc::new(Cell::new(0usize));
        let stop_at = Rc::new(Cell::new(0usize));
        let (count, limit, mut echo) = (ticks.clone(), stop_at.clone(), kick.try_clone()?);
        let mut buf = [0u8; 64];
        let active_watch = lp.watch(active.as_raw_fd(), Interest::READABLE, move |lp, _| {
            // One byte per tick: a short read has drained the socket.
            let n = (&active).read(&mut buf).expect("read the active socket");
            assert_eq!(n, 1);
            count.set(count.get() + 1);
            if count.get() >= limit.get() {
                lp.stop();
            } else {
                echo.write_all(b"x").expect("re-arm the active socket");
            }
        })?;
        Ok(Rig { lp, ticks, stop_at, kick, _active: active_watch, _idle: idle_watches })
    }

    /// Runs `n` ticks and returns how long they took.
    fn ticks(&mut self, n: usize) -> Duration {
        self.ticks.set(0);
        self.stop_at.set(n);
        let started = Instant::now();
        self.kick.write_all(b"x").expect("kick");
        self.lp.run().expect("run");
        let elapsed = started.elapsed();
        assert_eq!(self.ticks.get(), n);
        elapsed
    }
}

/// Nanoseconds per tick with `idle` idle descriptors under `backend`.
fn tick_cost(backend: Backend, idle: usize) -> f64 {
    let mut rig = Rig::new(backend, idle).expect("set up the descriptors");
    let warm = rig.ticks(WARMUP_TICKS);
    let per_tick = warm / WARMUP_TICKS as u32;
    let n = (TARGET.as_nanos() / per_tick.as_nanos().max(1)) as usize;
    let n = n.max(MIN_TICKS);
    per_op(rig.ticks(n), n)
}

fn main() {
    let biggest = *IDLE.last().expect("IDLE is not empty");
    let limit = raise_nofile((biggest + SPARE_FDS) as u64) as usize;
    let mut sizes: Vec<usize> = IDLE.iter().copied().filter(|n| n + SPARE_FDS <= limit).collect();
    if sizes.len() < IDLE.len() {
        // The largest N that fits, rounded down to a thousand: the honest end of the curve.
        let fits = (limit.saturating_sub(SPARE_FDS)) / 1000 * 1000;
        if fits > *sizes.last().unwrap_or(&0) {
            sizes.push(fits);
        }
        let missing: Vec<String> =
            IDLE.iter().filter(|n| *n + SPARE_FDS > limit).map(|n| n.to_string()).collect();
        println!(
            "INFO tick_cost not_measured N={} (RLIMIT_NOFILE {limit}); largest measured N={}",
            missing.join(","),
            sizes.last().unwrap_or(&0)
        );
    }
    eprintln!("tick_cost: N = {sizes:?}, epoll and poll");
    let mut cases: Vec<Case> = Vec::new();
    for &n in &sizes {
        for (name, backend) in [("epoll", Backend::Epoll), ("poll", Backend::Poll)] {
            cases.push((format!("tick_cost/{n}"), name, Box::new(move || tick_cost(backend, n))));
        }
    }
    run_cases(cases, WARMUP_ROUNDS);
}
