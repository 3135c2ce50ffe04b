//! The raw client: N × `SELECT $1::int` over one connection, one after the
//! other (sequential) and with `DEPTH` in flight (pipelined), for waiter-pg
//! on waiter-loop and for tokio-postgres on a current-thread tokio runtime
//! (one thread each, the statement prepared once in both).
//!
//!     eval "$(scripts/pg/cluster.sh start)"
//!     cargo bench -p waiter-pg --bench raw_client -- [QUERIES] [DEPTH] [FILTER] [BLOCKS]
//!
//! FILTER runs only the scenarios whose "client mode" contains it. With
//! BLOCKS > 1, each mode's QUERIES are run in BLOCKS blocks per client, the
//! two clients' blocks alternating (and which goes first alternating too),
//! each client on its own connection kept open throughout: both see the same
//! machine over the same seconds, so the load of other processes, which
//! drifts over seconds on a shared machine, falls on both alike.
//!
//! Prints one line per scenario: `client mode queries seconds queries_per_second`
//! (seconds: the sum of its blocks). `bench/pg/run.sh` runs it pinned and
//! writes bench/results/pg.md.
//!
//! With `RAW_CLIENT_STATS=1` each scenario also prints, on stderr, what its
//! timed part cost per query: `stats client mode USER SYS VCSW IVCSW |
//! backend CPU VCSW IVCSW | ticks TICKS`: the client's user and system CPU
//! in µs (getrusage) and its voluntary and involuntary context switches; the
//! same for the PostgreSQL backend serving its connection (CPU from
//! /proc/PID/schedstat, switches from /proc/PID/status); waiter-loop's
//! iterations (0 for tokio).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

const SQL: &str = "SELECT $1::int";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Sequential,
    Pipelined(usize),
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let queries: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let depth: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    let only = args.get(2).cloned().unwrap_or_default();
    let blocks: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1).clamp(1, queries.max(1));
    let url =
        std::env::var("WAITER_PG_URL").unwrap_or_else(|_| "postgres://waiter@127.0.0.1:15432/waiter".into());
    let stats = std::env::var_os("RAW_CLIENT_STATS").is_some_and(|v| v != "0");
    for (name, mode) in [("sequential", Mode::Sequential), ("pipelined", Mode::Pipelined(depth))] {
        let run_waiter = format!("waiter-pg {name}").contains(&only);
        let run_tokio = format!("tokio-postgres {name}").contains(&only);
        if !run_waiter && !run_tokio {
            continue;
        }
        let waiter = run_waiter.then(|| WaiterClient::connect(&url));
        let tokio = run_tokio.then(|| TokioClient::connect(&url));
        let (mut waiter_cost, mut tokio_cost) = (Cost::default(), Cost::default());
        let mut first = 0;
        for b in 0..blocks {
            // Spread the remainder: block b runs queries [first, last).
            let last = queries * (b + 1) / blocks;
            let range = first as i32..last as i32;
            let mut run_w = || {
                if let Some(w) = &waiter {
                    waiter_cost += w.run(mode, range.clone());
                }
            };
            let mut run_t = || {
                if let Some(t) = &tokio {
                    tokio_cost += t.run(mode, range.clone());
                }
            };
            if b % 2 == 0 {
                run_w();
                run_t();
            } else {
                run_t();
                run_w();
            }
            first = last;
        }
        for (client, ran, cost) in
            [("waiter-pg", run_waiter, waiter_cost), ("tokio-postgres", run_tokio, tokio_cost)]
        {
            if !ran {
                continue;
            }
            println!("{client} {name} {queries} {:.4} {:.0}", cost.secs, queries as f64 / cost.secs);
            if stats {
                eprintln!("stats {client} {name} {}", cost.per_query(queries));
            }
        }
        if let Some(w) = waiter {
            w.close();
        }
    }
}

/// waiter-pg on its own waiter loop.
struct WaiterClient {
    lp: waiter_loop::Loop,
    client: waiter_pg::Client,
}

impl WaiterClient {
    fn connect(url: &str) -> WaiterClient {
        let lp = waiter_loop::Loop::new().unwrap();
        let client = lp.block_on(async {
            let client = waiter_pg::connect(url).await.unwrap();
            client.prepare(SQL).await.unwrap();
            client
        });
        WaiterClient { lp, client }
    }

    /// Runs the queries of `range` (each selects its own number).
    fn run(&self, mode: Mode, range: std::ops::Range<i32>) -> Cost {
        let client = &self.client;
        self.lp.block_on(async {
            let meter = Meter::start(client.process_id());
            match mode {
                Mode::Sequential => {
                    for i in range {
                        let row = client.query_one(SQL, &[&i]).await.unwrap();
                        assert_eq!(row.get::<i32>(0), i);
                    }
                }
                Mode::Pipelined(depth) => {
                    let next = Rc::new(Cell::new(range.start));
                    let workers: Vec<_> = (0..depth)
                        .map(|_| {
                            let (client, next, end) = (client.clone(), next.clone(), range.end);
                            waiter_loop::spawn(async move {
                                loop {
                                    let i = next.get();
                                    if i >= end {
                                        return;
                                    }
                                    next.set(i + 1);
                                    let row = client.query_one(SQL, &[&i]).await.unwrap();
                                    assert_eq!(row.get::<i32>(0), i);
                                }
                            })
                        })
                        .collect();
                    for w in workers {
                        w.await;
                    }
                }
            }
            meter.stop()
        })
    }

    /// Drops the client on its loop, so that its `Terminate` is written.
    fn close(self) {
        let WaiterClient { lp, client } = self;
        lp.block_on(async move { drop(client) });
        let _ = lp.run();
    }
}

/// tokio-postgres on a current-thread runtime, its connection task local.
struct TokioClient {
    rt: tokio::runtime::Runtime,
    local: tokio::task::LocalSet,
    client: Rc<tokio_postgres::Client>,
    statement: tokio_postgres::Statement,
    backend: i32,
}

impl TokioClient {
    fn connect(url: &str) -> TokioClient {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let local = tokio::task::LocalSet::new();
        let (client, statement, backend) = local.block_on(&rt, async {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
            tokio::task::spawn_local(async move { connection.await.unwrap() });
            let statement = client.prepare(SQL).await.unwrap();
            let backend: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
            (Rc::new(client), statement, backend)
        });
        TokioClient { rt, local, client, statement, backend }
    }

    fn run(&self, mode: Mode, range: std::ops::Range<i32>) -> Cost {
        self.local.block_on(&self.rt, async {
            let meter = Meter::start(self.backend);
            match mode {
                Mode::Sequential => {
                    for i in range {
                        let row = self.client.query_one(&self.statement, &[&i]).await.unwrap();
                        assert_eq!(row.get::<_, i32>(0), i);
                    }
                }
                Mode::Pipelined(depth) => {
                    let next = Rc::new(Cell::new(range.start));
                    let workers: Vec<_> = (0..depth)
                        .map(|_| {
                            let (client, next, end) = (self.client.clone(), next.clone(), range.end);
                            let statement = self.statement.clone();
                            tokio::task::spawn_local(async move {
                                loop {
                                    let i = next.get();
                                    if i >= end {
                                        return;
                                    }
                                    next.set(i + 1);
                                    let row = client.query_one(&statement, &[&i]).await.unwrap();
                                    assert_eq!(row.get::<_, i32>(0), i);
                                }
                            })
                        })
                        .collect();
                    for w in workers {
                        w.await.unwrap();
                    }
                }
            }
            meter.stop()
        })
    }
}

/// CPU time (µs) and context switches (voluntary, involuntary) of a process.
#[derive(Clone, Copy, Default)]
struct Usage {
    user_us: f64,
    sys_us: f64,
    vcsw: f64,
    ivcsw: f64,
}

impl Usage {
    fn minus(self, o: Usage) -> Usage {
        Usage {
            user_us: self.user_us - o.user_us,
            sys_us: self.sys_us - o.sys_us,
            vcsw: self.vcsw - o.vcsw,
            ivcsw: self.ivcsw - o.ivcsw,
        }
    }

    fn plus(self, o: Usage) -> Usage {
        Usage {
            user_us: self.user_us + o.user_us,
            sys_us: self.sys_us + o.sys_us,
            vcsw: self.vcsw + o.vcsw,
            ivcsw: self.ivcsw + o.ivcsw,
        }
    }
}

/// This process's usage, from getrusage(2) (µs resolution).
fn own_usage() -> Usage {
    // SAFETY: getrusage fills the zeroed `rusage` we own; RUSAGE_SELF cannot fail.
    let r = unsafe {
        let mut r: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut r);
        r
    };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    Usage {
        user_us: us(r.ru_utime),
        sys_us: us(r.ru_stime),
        vcsw: r.ru_nvcsw as f64,
        ivcsw: r.ru_nivcsw as f64,
    }
}

/// Another process's usage: CPU from /proc/PID/schedstat (ns on the CPU,
/// user and system together, kept in `user_us`), switches from /proc/PID/status.
fn process_usage(pid: i32) -> Usage {
    let sched = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap_or_default();
    let cpu_ns: f64 = sched.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
    };
    Usage {
        user_us: cpu_ns / 1e3,
        sys_us: 0.0,
        vcsw: field("voluntary_ctxt_switches:"),
        ivcsw: field("nonvoluntary_ctxt_switches:"),
    }
}

/// The wall time of the timed part of a run, and what it cost this process
/// and the backend.
#[derive(Clone, Copy, Default)]
struct Cost {
    secs: f64,
    client: Usage,
    backend: Usage,
    /// waiter-loop's iterations (ticks); 0 for tokio.
    ticks: f64,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        self.secs += o.secs;
        self.client = self.client.plus(o.client);
        self.backend = self.backend.plus(o.backend);
        self.ticks += o.ticks;
    }
}

impl Cost {
    fn per_query(&self, n: usize) -> String {
        let n = n as f64;
        let (c, b) = (self.client, self.backend);
        format!(
            "{:.2} {:.2} {:.4} {:.4} | backend {:.2} {:.4} {:.4} | ticks {:.4}",
            c.user_us / n,
            c.sys_us / n,
            c.vcsw / n,
            c.ivcsw / n,
            b.user_us / n,
            b.vcsw / n,
            b.ivcsw / n,
            self.ticks / n
        )
    }
}

/// Takes the readings at the start of a timed part.
struct Meter {
    start: Instant,
    backend_pid: i32,
    before: Cost,
}

impl Meter {
    fn start(backend_pid: i32) -> Meter {
        let before =
            Cost { secs: 0.0, client: own_usage(), backend: process_usage(backend_pid), ticks: loop_ticks() };
        Meter { start: Instant::now(), backend_pid, before }
    }

    fn stop(self) -> Cost {
        let secs = self.start.elapsed().as_secs_f64();
        Cost {
            secs,
            client: own_usage().minus(self.before.client),
            backend: process_usage(self.backend_pid).minus(self.before.backend),
            ticks: loop_ticks() - self.before.ticks,
        }
    }
}

/// The current waiter loop's iteration count (0 outside one).
fn loop_ticks() -> f64 {
    waiter_loop::Loop::current().map_or(0.0, |lp| lp.metrics().iterations as f64)
}
