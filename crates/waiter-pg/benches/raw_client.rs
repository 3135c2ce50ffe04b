//! The raw client: N × `SELECT $1::int` over one connection, one after the
//! other (sequential) and with `DEPTH` in flight (pipelined), for waiter-pg
//! on waiter-loop and for tokio-postgres on a current-thread tokio runtime
//! (one thread each, the statement prepared once in both).
//!
//!     eval "$(scripts/pg/cluster.sh start)"
//!     cargo bench -p waiter-pg --bench raw_client -- [QUERIES] [DEPTH] [FILTER]
//!
//! Prints one line per run: `client mode queries seconds queries_per_second`.
//! `bench/pg/run.sh` runs it pinned and writes bench/results/pg.md.

use std::rc::Rc;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let queries: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let depth: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    let url =
        std::env::var("WAITER_PG_URL").unwrap_or_else(|_| "postgres://waiter@127.0.0.1:15432/waiter".into());
    // A third argument runs only the scenarios whose "client mode" contains it.
    let only = args.get(2).cloned().unwrap_or_default();
    type Run<'a> = Box<dyn Fn() -> f64 + 'a>;
    let scenarios: [(&str, &str, Run); 4] = [
        ("waiter-pg", "sequential", Box::new(|| waiter_sequential(&url, queries))),
        ("tokio-postgres", "sequential", Box::new(|| tokio_sequential(&url, queries))),
        ("waiter-pg", "pipelined", Box::new(|| waiter_pipelined(&url, queries, depth))),
        ("tokio-postgres", "pipelined", Box::new(|| tokio_pipelined(&url, queries, depth))),
    ];
    for (client, mode, run) in scenarios {
        if !format!("{client} {mode}").contains(&only) {
            continue;
        }
        let secs = run();
        println!("{client} {mode} {queries} {secs:.4} {:.0}", queries as f64 / secs);
    }
}

fn waiter_sequential(url: &str, n: usize) -> f64 {
    let lp = waiter_loop::Loop::new().unwrap();
    lp.block_on(async {
        let client = waiter_pg::connect(url).await.unwrap();
        client.prepare("SELECT $1::int").await.unwrap();
        let start = Instant::now();
        for i in 0..n as i32 {
            let row = client.query_one("SELECT $1::int", &[&i]).await.unwrap();
            assert_eq!(row.get::<i32>(0), i);
        }
        start.elapsed().as_secs_f64()
    })
}

fn waiter_pipelined(url: &str, n: usize, depth: usize) -> f64 {
    let lp = waiter_loop::Loop::new().unwrap();
    lp.block_on(async {
        let client = waiter_pg::connect(url).await.unwrap();
        client.prepare("SELECT $1::int").await.unwrap();
        let next = Rc::new(std::cell::Cell::new(0));
        let start = Instant::now();
        let workers: Vec<_> = (0..depth)
            .map(|_| {
                let (client, next) = (client.clone(), next.clone());
                waiter_loop::spawn(async move {
                    loop {
                        let i = next.get();
                        if i >= n {
                            return;
                        }
                        next.set(i + 1);
                        let row = client.query_one("SELECT $1::int", &[&(i as i32)]).await.unwrap();
                        assert_eq!(row.get::<i32>(0), i as i32);
                    }
                })
            })
            .collect();
        for w in workers {
            w.await;
        }
        start.elapsed().as_secs_f64()
    })
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn tokio_connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::task::spawn_local(async move { connection.await.unwrap() });
    client
}

fn tokio_sequential(url: &str, n: usize) -> f64 {
    let local = tokio::task::LocalSet::new();
    local.block_on(&tokio_runtime(), async {
        let client = tokio_connect(url).await;
        let statement = client.prepare("SELECT $1::int").await.unwrap();
        let start = Instant::now();
        for i in 0..n as i32 {
            let row = client.query_one(&statement, &[&i]).await.unwrap();
            assert_eq!(row.get::<_, i32>(0), i);
        }
        start.elapsed().as_secs_f64()
    })
}

fn tokio_pipelined(url: &str, n: usize, depth: usize) -> f64 {
    let local = tokio::task::LocalSet::new();
    local.block_on(&tokio_runtime(), async {
        let client = Rc::new(tokio_connect(url).await);
        let statement = client.prepare("SELECT $1::int").await.unwrap();
        let next = Rc::new(std::cell::Cell::new(0));
        let start = Instant::now();
        let workers: Vec<_> = (0..depth)
            .map(|_| {
                let (client, next, statement) = (client.clone(), next.clone(), statement.clone());
                tokio::task::spawn_local(async move {
                    loop {
                        let i = next.get();
                        if i >= n {
                            return;
                        }
                        next.set(i + 1);
                        let row = client.query_one(&statement, &[&(i as i32)]).await.unwrap();
                        assert_eq!(row.get::<_, i32>(0), i as i32);
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        start.elapsed().as_secs_f64()
    })
}
