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

fn pipelined_pool(max_size: usize, pipeline_depth: usize, checkout_timeout: Duration) -> Pool {
    Pool::new(config(), PoolOptions { max_size, pipeline_depth, checkout_timeout, ..Default::default() })
}

/// Polls `future` once, so that it takes its place in the pool's line.
async fn poll_once<F: std::future::Future + Unpin>(future: &mut F) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *future).poll(cx))).await
}

#[test]
fn pipelined_callers_take_every_connection_before_sharing_one() {
    run(async {
        let pool = pipelined_pool(3, 2, Duration::from_secs(10));
        let lp = waiter_loop::Loop::current().unwrap();
        let handles: Vec<_> = (0..7)
            .map(|_| {
                let pool = pool.clone();
                lp.spawn(async move {
                    let client = pool.get_pipelined().await.unwrap();
                    client
                        .query_one("SELECT pg_backend_pid() FROM pg_sleep(0.1)", &[])
                        .await
                        .unwrap()
                        .get::<i32>(0)
                })
            })
            .collect();
        // Three connections open, each with two callers; the seventh waits.
        let mut status = pool.status();
        for _ in 0..500 {
            if status.connects == 3 && status.waiting == 1 {
                break;
            }
            waiter_loop::sleep(Duration::from_millis(2)).unwrap().await;
            status = pool.status();
        }
        assert_eq!(
            (status.size, status.in_use, status.pipelined, status.waiting),
            (3, 3, 3, 1),
            "{status:?}"
        );
        let mut per_backend = std::collections::HashMap::new();
        for h in handles {
            *per_backend.entry(h.await).or_insert(0) += 1;
        }
        let mut counts: Vec<i32> = per_backend.values().copied().collect();
        counts.sort();
        assert_eq!(counts, [2, 2, 3], "{per_backend:?}");
        let done = pool.status();
        assert_eq!(
            (done.in_use, done.idle, done.pipelined, done.waiting, done.connects),
            (0, 3, 0, 0, 3),
            "{done:?}"
        );
    });
}

#[test]
fn pipelined_seats_go_first_come_first_served_at_most_depth_at_once() {
    run(async {
        let pool = pipelined_pool(1, 2, Duration::from_secs(10));
        let lp = waiter_loop::Loop::current().unwrap();
        let order = Rc::new(RefCell::new(Vec::new()));
        let (holding, most) = (Rc::new(std::cell::Cell::new(0)), Rc::new(std::cell::Cell::new(0)));
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (pool, order, holding, most) =
                    (pool.clone(), order.clone(), holding.clone(), most.clone());
                lp.spawn(async move {
                    let client = pool.get_pipelined().await.unwrap();
                    order.borrow_mut().push(i);
                    holding.set(holding.get() + 1);
                    most.set(most.get().max(holding.get()));
                    let row = client.query_one("SELECT $1::int FROM pg_sleep(0.005)", &[&i]).await.unwrap();
                    holding.set(holding.get() - 1);
                    row.get::<i32>(0)
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await, i as i32);
        }
        assert_eq!(*order.borrow(), (0..8).collect::<Vec<_>>());
        assert_eq!(most.get(), 2, "two callers share the one connection, never more");
        assert_eq!(pool.status().connects, 1);
    });
}

#[test]
fn a_pipelined_statement_is_sent_while_the_one_before_runs() {
    run(async {
        // One connection, two callers: the second gets its seat while the
        // first's statement runs and sends its own behind it, so the backend
        // starts it as soon as the first ends.
        let pool = pipelined_pool(1, 2, Duration::from_secs(10));
        let lp = waiter_loop::Loop::current().unwrap();
        let sql = "SELECT extract(epoch FROM clock_timestamp())::float8 FROM pg_sleep(0.05)";
        drop(pool.get_pipelined().await.unwrap());
        let first = {
            let pool = pool.clone();
            lp.spawn(async move { pool.get_pipelined().await.unwrap().query_one(sql, &[]).await.unwrap() })
        };
        waiter_loop::sleep(Duration::from_millis(5)).unwrap().await;
        let asked = std::time::Instant::now();
        let second = pool.get_pipelined().await.unwrap();
        assert!(asked.elapsed() < Duration::from_millis(20), "the seat took {:?}", asked.elapsed());
        let b = second.query_one(sql, &[]).await.unwrap().get::<f64>(0);
        let a = first.await.get::<f64>(0);
        // One after the other on the server (one backend), the second ending
        // one sleep after the first (give or take a loaded machine's delays).
        let gap = b - a;
        assert!((0.05..0.1).contains(&gap), "the second ended {gap} s after the first");
    });
}

#[test]
fn an_exclusive_waiter_gets_the_whole_connection_and_seats_still_go_to_pipelined_callers() {
    run(async {
        let pool = pipelined_pool(1, 2, Duration::from_secs(10));
        let lp = waiter_loop::Loop::current().unwrap();
        let a = pool.get_pipelined().await.unwrap();
        let exclusive = {
            let pool = pool.clone();
            lp.spawn(async move { pool.get().await.unwrap().process_id() })
        };
        waiter_loop::sleep(Duration::from_millis(5)).unwrap().await;
        assert_eq!(pool.status().waiting, 1);
        // The free seat is of no use to the exclusive caller ahead: taken at once.
        let b = pool.get_pipelined().await.unwrap();
        assert_eq!(b.process_id(), a.process_id());
        let pid = a.process_id();
        drop(a);
        waiter_loop::sleep(Duration::from_millis(5)).unwrap().await;
        assert_eq!(pool.status().waiting, 1, "the connection is still shared with b");
        drop(b);
        assert_eq!(exclusive.await, pid);
        let status = pool.status();
        assert_eq!(
            (status.in_use, status.idle, status.pipelined, status.waiting),
            (0, 1, 0, 0),
            "{status:?}"
        );
    });
}

#[test]
fn a_pipelined_error_fails_only_its_own_statement() {
    run(async {
        let pool = pipelined_pool(1, 3, Duration::from_secs(10));
        let lp = waiter_loop::Loop::current().unwrap();
        let statements = ["SELECT 1 FROM pg_sleep(0.01)", "SELECT 1/0", "SELECT 3"];
        let handles: Vec<_> = statements
            .into_iter()
            .map(|sql| {
                let pool = pool.clone();
                lp.spawn(async move {
                    let client = pool.get_pipelined().await.unwrap();
                    client
                        .query_one(sql, &[])
                        .await
                        .map(|r| r.get::<i32>(0))
                        .map_err(|e| e.code().map(str::to_string))
                })
            })
            .collect();
        let results: Vec<_> = {
            let mut r = Vec::new();
            for h in handles {
                r.push(h.await);
            }
            r
        };
        assert_eq!(results, [Ok(1), Err(Some("22012".to_string())), Ok(3)]);
        assert_eq!(pool.status().connects, 1, "the three shared one connection");
    });
}

#[test]
fn a_broken_pipelined_connection_fails_every_statement_queued_on_it() {
    run(async {
        let pool = pipelined_pool(1, 3, Duration::from_secs(10));
        let lp = waiter_loop::Loop::current().unwrap();
        let first = pool.get_pipelined().await.unwrap();
        let pid = first.process_id();
        drop(first);
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let pool = pool.clone();
                lp.spawn(async move {
                    let client = pool.get_pipelined().await.unwrap();
                    (client.process_id(), client.query("SELECT pg_sleep(5)", &[]).await.is_err())
                })
            })
            .collect();
        waiter_loop::sleep(Duration::from_millis(50)).unwrap().await;
        assert_eq!(pool.status().pipelined, 1);
        let started = std::time::Instant::now();
        let killer = connect().await;
        killer.query_one("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap();
        for h in handles {
            assert_eq!(h.await, (pid, true), "every queued statement fails");
        }
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        let status = pool.status();
        assert_eq!(
            (status.discarded, status.size, status.in_use, status.pipelined),
            (1, 0, 0, 0),
            "{status:?}"
        );
        let fresh = pool.get_pipelined().await.unwrap();
        assert_ne!(fresh.process_id(), pid);
        assert_eq!(fresh.query_one("SELECT 1", &[]).await.unwrap().get::<i32>(0), 1);
    });
}

#[test]
fn pipelined_callers_time_out_in_line_and_a_seat_granted_to_a_leaver_is_passed_on() {
    run(async {
        let pool = pipelined_pool(1, 2, Duration::from_millis(100));
        let a = pool.get_pipelined().await.unwrap();
        let b = pool.get_pipelined().await.unwrap();
        assert!(matches!(pool.get_pipelined().await, Err(Error::PoolTimeout)));
        assert_eq!(pool.status().timeouts, 1);
        // c waits in line; a's seat is granted to it; c goes away unpolled.
        let mut c = Box::pin(pool.get_pipelined());
        assert!(poll_once(&mut c).await.is_pending());
        assert_eq!(pool.status().waiting, 1);
        drop(a);
        assert_eq!(pool.status().waiting, 0);
        drop(c);
        // The seat came back: d takes it at once, next to b.
        let d = pool.get_pipelined().await.unwrap();
        assert_eq!(d.process_id(), b.process_id());
        drop((b, d));
        let status = pool.status();
        assert_eq!(
            (status.in_use, status.idle, status.pipelined, status.waiting),
            (0, 1, 0, 0),
            "{status:?}"
        );
    });
}
