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
//!
//! Options after `--` besides `--runs`/`--only` (see `common`): `--idle 100,1000,50000` replaces
//! the list of N, and `--fork-holders` measures epoll beyond the descriptor limit
//! (bench/tick_cost_50k.sh uses both). In that mode the epoll case (`epoll`) registers its
//! idle sockets in batches that fit under the limit; after each batch it forks a child that only
//! `pause()`s, which inherits the batch's descriptors and so keeps their open file
//! descriptions alive, and then closes its own copies. An epoll registration lives as long as
//! its open file description, not its descriptor number, so the loop's epoll instance holds all
//! N registrations of N distinct silent sockets while the process keeps few descriptors open
//! (the bench checks the count in `/proc/self/fdinfo` of the epoll descriptor and prints it as
//! `INFO tick_cost held_registrations`). The loop's watcher table holds N entries as usual: the
//! batches' `Watch` handles are leaked (`mem::forget`), never dropped, because dropping one
//! would deregister by descriptor number, a number by then reused. The children are killed
//! (SIGKILL) and reaped when the run's rig drops, also on a panic, and get SIGKILL from the
//! kernel if the bench dies first (`PR_SET_PDEATHSIG`). Every N of the `epoll` case runs this
//! way, so its ratios compare like with like; `epoll_fds` (the default mode's epoll, the
//! process's own descriptors) and `poll` run only for the N that fit under the limit:
//! poll(2) needs a live descriptor per entry of its array, so it cannot be measured this way.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::mem;
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
    /// The children holding the idle sockets in `--fork-holders` mode (empty otherwise).
    _holders: Holders,
}

/// How a rig keeps its idle sockets open.
#[derive(Clone, Copy)]
enum Idle {
    /// In this process, one descriptor each.
    Own,
    /// In forked children, registered in batches of at most this many (`--fork-holders`).
    Held { batch: usize },
}

impl Rig {
    fn new(backend: Backend, idle: usize, how: Idle) -> io::Result<Rig> {
        let lp = Loop::builder().backend(backend).build()?;
        let mut idle_watches = Vec::new();
        let mut holders = Holders(Vec::new());
        let watch_idle = |end: &UnixStream| {
            lp.watch(end.as_raw_fd(), Interest::READABLE, |_, r| panic!("an idle socket became ready: {r:?}"))
        };
        match how {
            Idle::Own => {
                for _ in 0..idle / 2 {
                    let (a, b) = UnixStream::pair()?;
                    for end in [a, b] {
                        idle_watches.push((watch_idle(&end)?, end));
                    }
                }
            }
            Idle::Held { batch } => {
                let mut left = idle / 2 * 2;
                while left > 0 {
                    let here = left.min(batch);
                    let mut ends = Vec::with_capacity(here);
                    for _ in 0..here / 2 {
                        let (a, b) = UnixStream::pair()?;
                        for end in [a, b] {
                            // Never dropped: its drop would deregister by a number that is
                            // reused once `ends` closes; the registration goes with the child.
                            mem::forget(watch_idle(&end)?);
                            ends.push(end);
                        }
                    }
                    holders.spawn()?;
                    drop(ends);
                    left -= here;
                }
                let held = epoll_registrations()?;
                println!("INFO tick_cost held_registrations N={idle} registered={held}");
                assert!(held >= idle, "the epoll instance lost registrations: {held} < {idle}");
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
        Ok(Rig { lp, ticks, stop_at, kick, _active: active_watch, _idle: idle_watches, _holders: holders })
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

/// Child processes that only hold inherited descriptors open; killed and reaped on drop.
struct Holders(Vec<libc::pid_t>);

impl Holders {
    /// Forks a child that keeps every descriptor open now until it is killed.
    fn spawn(&mut self) -> io::Result<()> {
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: fork has no memory preconditions; the child runs only `hold`, which calls
        // async-signal-safe syscalls and no allocator or lock a parent thread may have held.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            hold(parent);
        }
        self.0.push(pid);
        Ok(())
    }
}

/// The child's whole life: die with the parent, otherwise sleep until SIGKILL.
fn hold(parent: libc::pid_t) -> ! {
    // SAFETY: prctl(PR_SET_PDEATHSIG) is a plain syscall (no lock, no allocation); getppid,
    // pause and _exit are async-signal-safe. Nothing here touches the parent's Rust state.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        if libc::getppid() != parent {
            // The parent died before the prctl: nobody would kill this child.
            libc::_exit(0);
        }
        loop {
            libc::pause();
        }
    }
}

impl Drop for Holders {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: `pid` is an unreaped child of ours (reaped only below), so the number
            // still names it and no other process.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let mut status = 0;
            // SAFETY: `status` is a live c_int that waitpid writes.
            while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
                && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
            {}
        }
    }
}

/// The registrations of this process's epoll instances, from `/proc/self/fdinfo` (one `tfd:`
/// line each): in `--fork-holders` mode the loop's is the only one.
fn epoll_registrations() -> io::Result<usize> {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let entry = entry?;
        let Ok(target) = std::fs::read_link(entry.path()) else { continue };
        if target.to_string_lossy() == "anon_inode:[eventpoll]" {
            let info =
                std::fs::read_to_string(std::path::Path::new("/proc/self/fdinfo").join(entry.file_name()))?;
            total += info.lines().filter(|l| l.starts_with("tfd:")).count();
        }
    }
    Ok(total)
}

/// Nanoseconds per tick with `idle` idle descriptors under `backend`.
fn tick_cost(backend: Backend, idle: usize, how: Idle) -> f64 {
    let mut rig = Rig::new(backend, idle, how).expect("set up the descriptors");
    let warm = rig.ticks(WARMUP_TICKS);
    let per_tick = warm / WARMUP_TICKS as u32;
    let n = (TARGET.as_nanos() / per_tick.as_nanos().max(1)) as usize;
    let n = n.max(MIN_TICKS);
    per_op(rig.ticks(n), n)
}

/// The value after `flag` on the command line.
fn arg(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let idle: Vec<usize> = match arg("--idle") {
        Some(list) => list
            .split(',')
            .map(|n| n.trim().replace('_', "").parse().expect("--idle takes N,N,... (numbers)"))
            .collect(),
        None => IDLE.to_vec(),
    };
    let held = std::env::args().any(|a| a == "--fork-holders");
    let biggest = *idle.iter().max().expect("--idle lists at least one N");
    let limit = raise_nofile((biggest + SPARE_FDS) as u64) as usize;
    let mut sizes: Vec<usize> = idle.iter().copied().filter(|n| n + SPARE_FDS <= limit).collect();
    let fits = (limit.saturating_sub(SPARE_FDS)) / 1000 * 1000;
    let missing: Vec<String> =
        idle.iter().filter(|n| *n + SPARE_FDS > limit).map(|n| n.to_string()).collect();
    if held {
        // The batch: what fits under the limit beside the process's other descriptors.
        let batch = fits.min(16_000);
        println!("INFO tick_cost fork_holders batch={batch} (RLIMIT_NOFILE {limit})");
        if !missing.is_empty() {
            println!(
                "INFO tick_cost not_measured N={} for epoll_fds and poll (RLIMIT_NOFILE {limit}); \
                 epoll measured at every N through forked holders",
                missing.join(",")
            );
        }
        eprintln!("tick_cost: epoll (held) N = {idle:?}; epoll_fds and poll N = {sizes:?}");
        let mut cases: Vec<Case> = Vec::new();
        for &n in &idle {
            let how = Idle::Held { batch };
            cases.push((
                format!("tick_cost/{n}"),
                "epoll",
                Box::new(move || tick_cost(Backend::Epoll, n, how)),
            ));
            if sizes.contains(&n) {
                for (name, backend) in [("epoll_fds", Backend::Epoll), ("poll", Backend::Poll)] {
                    cases.push((
                        format!("tick_cost/{n}"),
                        name,
                        Box::new(move || tick_cost(backend, n, Idle::Own)),
                    ));
                }
            }
        }
        run_cases(cases, WARMUP_ROUNDS);
        return;
    }
    if sizes.len() < idle.len() {
        // The largest N that fits, rounded down to a thousand: the honest end of the curve.
        if fits > *sizes.last().unwrap_or(&0) {
            sizes.push(fits);
        }
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
            cases.push((format!("tick_cost/{n}"), name, Box::new(move || tick_cost(backend, n, Idle::Own))));
        }
    }
    run_cases(cases, WARMUP_ROUNDS);
}
