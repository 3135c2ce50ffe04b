//! `Pool::close`: checkouts refused from then on (those waiting in line at
//! once), idle connections terminated at once, lent ones when they come
//! back, and a future that resolves once the server has seen them all go.

mod common;

use std::time::{Duration, Instant};

use common::{config, connect, run};
use waiter_pg::{Config, Error, Pool, PoolOptions};

/// A pool whose connections the server lists under their own application name.
fn pool(tag: &str, max_size: usize) -> (Pool, String) {
    let app = format!("close_{tag}_{}", std::process::id());
    let config = Config { application_name: Some(app.clone()), ..config() };
    let options = PoolOptions { max_size, checkout_timeout: Duration::from_secs(10), ..Default::default() };
    (Pool::new(config, options), app)
}

/// The backends the server has for `app`.
async fn backends(app: &str) -> i64 {
    let observer = connect().await;
    let row = observer
        .query_one("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", &[&app])
        .await
        .unwrap();
    row.get(0)
}

/// Waits (up to 3 s) until the server has `want` backends for `app`: a
/// backend leaves pg_stat_activity a moment after its socket closes.
async fn backends_become(app: &str, want: i64) -> i64 {
    let start = Instant::now();
    loop {
        let n = backends(app).await;
        if n == want || start.elapsed() > Duration::from_secs(3) {
            return n;
        }
        waiter_loop::sleep(Duration::from_millis(10)).unwrap().await;
    }
}

#[test]
fn close_refuses_waiting_and_new_checkouts_at_once_and_resolves_when_the_last_connection_is_back() {
    run(async {
        let lp = waiter_loop::Loop::current().unwrap();
        let (pool, app) = pool("waiters", 1);
        let held = pool.get().await.unwrap();
        held.batch_execute("BEGIN").await.unwrap();
        let waiters: Vec<_> = (0..3)
            .map(|i| {
                let pool = pool.clone();
                lp.spawn(async move {
                    let checkout = if i == 0 { pool.get_pipelined().await } else { pool.get().await };
                    checkout.map(drop)
                })
            })
            .collect();
        waiter_loop::sleep(Duration::from_millis(20)).unwrap().await;
        assert_eq!(pool.status().waiting, 3);

        let started = Instant::now();
        let closing = pool.close();
        for w in waiters {
            let outcome = w.await;
            assert!(matches!(outcome, Err(Error::PoolClosed)), "{outcome:?}");
        }
        // Woken by the close, not by their 10 s checkout timeout.
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        assert!(matches!(pool.get().await, Err(Error::PoolClosed)));
        assert!(matches!(pool.get_pipelined().await, Err(Error::PoolClosed)));
        assert!(matches!(pool.get_shared().await, Err(Error::PoolClosed)));
        let s = pool.status();
        assert_eq!((s.size, s.in_use, s.idle, s.waiting, s.closed), (1, 1, 0, 0, true), "{s:?}");

        // The lent connection still works, and the close waits for it.
        held.execute("SELECT 1", &[]).await.unwrap();
        let early = lp.timeout(Duration::from_millis(100), closing).unwrap().await;
        assert!(early.is_err(), "the close resolved with a connection still lent out");
        assert_eq!(backends(&app).await, 1);

        let closing = pool.close();
        drop(held);
        lp.timeout(Duration::from_secs(5), closing).unwrap().await.expect("the close resolves");
        let s = pool.status();
        assert_eq!((s.size, s.in_use, s.idle, s.waiting), (0, 0, 0, 0), "{s:?}");
        assert_eq!((s.connects, s.discarded, s.timeouts), (1, 0, 0), "{s:?}");
        // Terminated, not handed back (nor kept idle with its open BEGIN).
        assert_eq!(backends_become(&app, 0).await, 0);
    });
}

#[test]
fn close_terminates_idle_connections_at_once_and_lent_ones_when_given_back() {
    run(async {
        let lp = waiter_loop::Loop::current().unwrap();
        let (pool, app) = pool("idle", 3);
        let a = pool.get().await.unwrap();
        let b = pool.get().await.unwrap();
        let c = pool.get().await.unwrap();
        drop((b, c));
        assert_eq!(backends(&app).await, 3);
        assert_eq!(pool.status().idle, 2);

        let closing = pool.close();
        let s = pool.status();
        assert_eq!((s.size, s.in_use, s.idle), (1, 1, 0), "{s:?}");
        // The two idle ones end now, while `a` is still out.
        assert_eq!(backends_become(&app, 1).await, 1);

        drop(a);
        lp.timeout(Duration::from_secs(5), closing).unwrap().await.expect("the close resolves");
        assert_eq!(pool.status().size, 0);
        assert_eq!(backends_become(&app, 0).await, 0);
        // Closing a closed pool resolves at once.
        lp.timeout(Duration::from_millis(100), pool.close()).unwrap().await.expect("already closed");
    });
}

#[test]
fn shared_and_pipelined_connections_end_when_their_last_caller_is_done() {
    run(async {
        let lp = waiter_loop::Loop::current().unwrap();
        let (pool, app) = pool("lanes", 2);
        let s1 = pool.get_shared().await.unwrap();
        let s2 = pool.get_shared().await.unwrap();
        let p1 = pool.get_pipelined().await.unwrap();
        assert_eq!(backends(&app).await, 2);
        let closing = pool.close();
        // Still usable by those holding them; no new caller joins.
        s2.execute("SELECT 1", &[]).await.unwrap();
        assert!(matches!(pool.get_shared().await, Err(Error::PoolClosed)));
        assert!(matches!(pool.get_pipelined().await, Err(Error::PoolClosed)));
        drop(s1);
        assert_eq!(pool.status().size, 2, "s2 still holds the shared connection");
        drop(s2);
        assert_eq!(backends_become(&app, 1).await, 1);
        drop(p1);
        lp.timeout(Duration::from_secs(5), closing).unwrap().await.expect("the close resolves");
        let s = pool.status();
        assert_eq!((s.size, s.in_use, s.idle, s.shared, s.pipelined), (0, 0, 0, 0, 0), "{s:?}");
        assert_eq!(backends_become(&app, 0).await, 0);
    });
}
