//! The pool: a size bound, a FIFO wait queue with a timeout, health checks,
//! replacing broken connections, reconnecting with backoff, and metrics.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::{config, connect, run};
use waiter_pg::{Error, Pool, PoolOptions};

fn pool(max_size: usize, checkout_timeout: Duration) -> Pool {
    Pool::new(config(), PoolOptions { max_size, checkout_timeout, ..Default::default() })
}

#[test]
fn at_most_max_size_connections_serve_many_callers() {
    run(async {
        let pool = pool(3, Duration::from_secs(10));
        let lp = waiter_loop::Loop::current().unwrap();
        let pids = Rc::new(RefCell::new(std::collections::HashSet::new()));
        let handles: Vec<_> = (0..30)
            .map(|_| {
                let (pool, pids) = (pool.clone(), pids.clone());
                lp.spawn(async move {
                    let client = pool.get().await.unwrap();
                    client.query("SELECT pg_sleep(0.01)", &[]).await.unwrap();
                    pids.borrow_mut().insert(client.process_id());
                })
            })
            .collect();
        // Wait until the three connections are open and lent out.
        let mut busy = pool.status();
        for _ in 0..500 {
            if busy.in_use == 3 {
                break;
            }
            waiter_loop::sleep(Duration::from_millis(2)).unwrap().await;
            busy = pool.status();
        }
        assert_eq!((busy.size, busy.in_use), (3, 3), "{busy:?}");
        assert!(busy.waiting >= 20, "{busy:?}");
        for h in handles {
            h.await;
        }
        assert_eq!(pids.borrow().len(), 3);
        let done = pool.status();
        assert_eq!(
            (done.size, done.in_use, done.idle, done.waiting, done.connects),
            (3, 0, 3, 0, 3),
            "{done:?}"
        );
    });
}

#[test]
fn waiters_are_served_first_come_first_served() {
    run(async {
        let pool = pool(1, Duration::from_secs(10));
        let lp = waiter_loop::Loop::current().unwrap();
        let held = pool.get().await.unwrap();
        let order = Rc::new(RefCell::new(Vec::new()));
        let handles: Vec<_> = (0..5)
            .map(|i| {
                let (pool, order) = (pool.clone(), order.clone());
                lp.spawn(async move {
                    let _client = pool.get().await.unwrap();
                    order.borrow_mut().push(i);
                    waiter_loop::sleep(Duration::from_millis(2)).unwrap().await;
                })
            })
            .collect();
        waiter_loop::sleep(Duration::from_millis(10)).unwrap().await;
        assert_eq!(pool.status().waiting, 5);
        drop(held);
        for h in handles {
            h.await;
        }
        assert_eq!(*order.borrow(), [0, 1, 2, 3, 4]);
    });
}

#[test]
fn checkout_times_out_when_the_pool_stays_busy() {
    run(async {
        let pool = pool(1, Duration::from_millis(100));
        let held = pool.get().await.unwrap();
        let e = pool.get().await.unwrap_err();
        assert!(matches!(e, Error::PoolTimeout), "{e}");
        let status = pool.status();
        assert_eq!((status.timeouts, status.waiting), (1, 0), "{status:?}");
        drop(held);
        // The timed-out waiter left the line: the connection is simply idle.
        assert_eq!(pool.status().idle, 1);
        pool.get().await.unwrap();
    });
}

#[test]
fn a_broken_connection_is_replaced() {
    run(async {
        let pool = Pool::new(
            config(),
            PoolOptions { max_size: 1, health_check_after: Duration::ZERO, ..Default::default() },
        );
        let first = pool.get().await.unwrap().process_id();
        let killer = connect().await;
        killer.query_one("SELECT pg_terminate_backend($1)", &[&first]).await.unwrap();
        // The idle connection is pinged on checkout, found dead, and replaced.
        let client = pool.get().await.unwrap();
        assert_ne!(client.process_id(), first);
        assert_eq!(client.query_one("SELECT 1", &[]).await.unwrap().get::<i32>(0), 1);
        let status = pool.status();
        assert_eq!((status.discarded, status.connects, status.size), (1, 2, 1), "{status:?}");
    });
}

#[test]
fn connects_are_retried_with_backoff_until_the_server_appears() {
    run(async {
        // Nothing listens on the port at first; a proxy to the real server
        // appears 150 ms later.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let mut cfg = config();
        cfg.port = port;
        let pool = Pool::new(
            cfg,
            PoolOptions { max_size: 1, checkout_timeout: Duration::from_secs(10), ..Default::default() },
        );
        let target = common::cluster().port;
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
            let (a, _) = listener.accept().unwrap();
            let b = std::net::TcpStream::connect(("127.0.0.1", target)).unwrap();
            let (a2, b2) = (a.try_clone().unwrap(), b.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut &a2, &mut &b2));
            let _ = std::io::copy(&mut &b, &mut &a);
        });
        let client = pool.get().await.unwrap();
        assert_eq!(client.query_one("SELECT 1", &[]).await.unwrap().get::<i32>(0), 1);
        let status = pool.status();
        assert!(status.connect_failures >= 2, "{status:?}");
        assert_eq!(status.connects, 1);
    });
}

#[test]
fn a_refused_login_is_not_retried() {
    run(async {
        let cfg: waiter_pg::Config = common::url("waiter_scram", Some("wrong")).parse().unwrap();
        let pool = Pool::new(cfg, PoolOptions { max_size: 2, ..Default::default() });
        let e = pool.get().await.unwrap_err();
        assert_eq!(e.code(), Some("28P01"));
        let status = pool.status();
        assert_eq!((status.connect_failures, status.size), (1, 0), "{status:?}");
    });
}

#[test]
fn a_waiter_that_leaves_the_line_is_skipped() {
    run(async {
        let pool = pool(1, Duration::from_secs(10));
        let lp = waiter_loop::Loop::current().unwrap();
        let held = pool.get().await.unwrap();
        let first = {
            let pool = pool.clone();
            lp.spawn(async move { pool.get().await.map(|c| c.process_id()) })
        };
        // The second waiter gives up after 30 ms, while still in the middle of the line.
        let second = {
            let pool = pool.clone();
            lp.spawn(async move {
                waiter_loop::timeout(Duration::from_millis(30), pool.get()).unwrap().await.is_err()
            })
        };
        let third = {
            let pool = pool.clone();
            lp.spawn(async move { pool.get().await.map(|c| c.process_id()) })
        };
        assert!(second.await, "the second waiter should have given up");
        assert_eq!(pool.status().waiting, 2);
        let pid = held.process_id();
        drop(held);
        assert_eq!(first.await.unwrap(), pid);
        // The connection skips the waiter that left and reaches the third.
        assert_eq!(third.await.unwrap(), pid);
        let status = pool.status();
        assert_eq!((status.waiting, status.in_use, status.idle), (0, 0, 1), "{status:?}");
    });
}

#[test]
fn many_waiters_time_out_together() {
    run(async {
        let pool = pool(1, Duration::from_millis(100));
        let lp = waiter_loop::Loop::current().unwrap();
        let held = pool.get().await.unwrap();
        let start = std::time::Instant::now();
        let handles: Vec<_> = (0..200)
            .map(|_| {
                let pool = pool.clone();
                lp.spawn(async move { matches!(pool.get().await, Err(Error::PoolTimeout)) })
            })
            .collect();
        for h in handles {
            assert!(h.await, "every waiter should time out");
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(100) && took < Duration::from_secs(2), "{took:?}");
        let status = pool.status();
        assert_eq!((status.timeouts, status.waiting, status.in_use), (200, 0, 1), "{status:?}");
        drop(held);
        assert_eq!(pool.status().idle, 1);
        pool.get().await.unwrap();
    });
}

/// Starts `n` tasks that each take a shared connection and report its backend.
fn shared_pids(pool: &Pool, n: usize, sql: &'static str) -> Vec<waiter_loop::JoinHandle<i32>> {
    let lp = waiter_loop::Loop::current().unwrap();
    (0..n)
        .map(|_| {
            let pool = pool.clone();
            lp.spawn(async move {
                let client = pool.get_shared().await.unwrap();
                client.query_one(sql, &[]).await.unwrap().get::<i32>(0)
            })
        })
        .collect()
}

#[test]
fn shared_callers_pipeline_on_one_connection() {
    run(async {
        let pool = pool(4, Duration::from_secs(10));
        let handles = shared_pids(&pool, 40, "SELECT pg_backend_pid() FROM pg_sleep(0.001)");
        waiter_loop::sleep(Duration::from_millis(1)).unwrap().await;
        assert_eq!(pool.status().shared, 1);
        let mut pids = std::collections::HashSet::new();
        for h in handles {
            pids.insert(h.await);
        }
        assert_eq!(pids.len(), 1, "{pids:?}");
        // The last caller gave the connection back.
        let status = pool.status();
        assert_eq!((status.shared, status.in_use, status.idle, status.connects), (0, 0, 1, 1), "{status:?}");
    });
}

#[test]
fn a_second_shared_connection_opens_once_the_first_is_crowded() {
    run(async {
        let pool =
            Pool::new(config(), PoolOptions { max_size: 4, shared_connections: 2, ..Default::default() });
        // 32 callers fill the first connection; the next 8 go to a second.
        let handles = shared_pids(&pool, 40, "SELECT pg_backend_pid() FROM pg_sleep(0.001)");
        let mut pids = std::collections::HashSet::new();
        for h in handles {
            pids.insert(h.await);
        }
        assert_eq!(pids.len(), 2, "{pids:?}");
        assert_eq!(pool.status().connects, 2);
    });
}

#[test]
fn a_shared_connection_counts_against_the_pool_until_its_last_caller_is_done() {
    run(async {
        let pool = pool(1, Duration::from_millis(100));
        let a = pool.get_shared().await.unwrap();
        let b = pool.get_shared().await.unwrap();
        assert_eq!(a.process_id(), b.process_id());
        assert!(matches!(pool.get().await, Err(Error::PoolTimeout)));
        drop(a);
        assert!(matches!(pool.get().await, Err(Error::PoolTimeout)));
        let pid = b.process_id();
        drop(b);
        let status = pool.status();
        assert_eq!((status.shared, status.in_use, status.idle), (0, 0, 1), "{status:?}");
        assert_eq!(pool.get().await.unwrap().process_id(), pid);
    });
}

#[test]
fn a_broken_shared_connection_takes_no_new_callers() {
    run(async {
        let pool = pool(2, Duration::from_secs(10));
        let first = pool.get_shared().await.unwrap();
        let killer = connect().await;
        killer.query_one("SELECT pg_terminate_backend($1)", &[&first.process_id()]).await.unwrap();
        assert!(first.query("SELECT 1", &[]).await.is_err());
        // Still held, but broken: a new caller gets a new connection.
        let second = pool.get_shared().await.unwrap();
        assert_ne!(second.process_id(), first.process_id());
        assert_eq!(second.query_one("SELECT 1", &[]).await.unwrap().get::<i32>(0), 1);
        drop(first);
        drop(second);
        let status = pool.status();
        assert_eq!((status.discarded, status.size, status.idle, status.shared), (1, 1, 1, 0), "{status:?}");
    });
}

#[test]
fn shared_callers_get_the_one_failed_checkouts_error() {
    run(async {
        let cfg: waiter_pg::Config = common::url("waiter_scram", Some("wrong")).parse().unwrap();
        let pool = Pool::new(cfg, PoolOptions { max_size: 2, ..Default::default() });
        let lp = waiter_loop::Loop::current().unwrap();
        let handles: Vec<_> = (0..5)
            .map(|_| {
                let pool = pool.clone();
                lp.spawn(async move { pool.get_shared().await.unwrap_err().code().map(str::to_string) })
            })
            .collect();
        for h in handles {
            assert_eq!(h.await.as_deref(), Some("28P01"));
        }
        let status = pool.status();
        assert_eq!((status.connect_failures, status.shared), (1, 0), "{status:?}");
    });
}

#[test]
fn a_shared_caller_waiting_on_an_abandoned_opening_opens_it_again() {
    run(async {
        let pool = pool(1, Duration::from_secs(10));
        let lp = waiter_loop::Loop::current().unwrap();
        let held = pool.get().await.unwrap();
        let pid = held.process_id();
        // The opener waits for the only connection, then gives up.
        let opener = {
            let pool = pool.clone();
            lp.spawn(async move {
                waiter_loop::timeout(Duration::from_millis(30), pool.get_shared()).unwrap().await.is_err()
            })
        };
        let joiner = {
            let pool = pool.clone();
            lp.spawn(async move { pool.get_shared().await.map(|c| c.process_id()) })
        };
        assert!(opener.await, "the opener should have given up");
        assert_eq!(pool.status().shared, 1, "the joiner opens the connection afresh");
        drop(held);
        assert_eq!(joiner.await.unwrap(), pid);
        let status = pool.status();
        assert_eq!((status.shared, status.in_use, status.idle, status.waiting), (0, 0, 1, 0), "{status:?}");
    });
}
