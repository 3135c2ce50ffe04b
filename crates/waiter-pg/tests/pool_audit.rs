//! An outside audit of the pool against issue 6: its size bound counted on
//! the server (`pg_stat_activity`), its metrics at every step, checkouts
//! dropped while granted a slot, a task that panics holding a connection, a
//! connection found broken on checkout, and a server that goes away and
//! comes back (behind a proxy the test takes down: the cluster is shared).
//! Each test names the behaviour it pins down; those added with a fix fail
//! without it.

mod common;
mod proxy;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use common::{config, connect, run};
use proxy::Proxy;
use waiter_pg::{Error, Pool, PoolOptions, PoolStatus};

fn sleep(ms: u64) -> waiter_loop::Sleep {
    waiter_loop::sleep(Duration::from_millis(ms)).unwrap()
}

/// Polls `future` once, so that it takes its place in the pool's line.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}

/// What every snapshot must satisfy: what is idle or lent is open, and no
/// more is open than allowed.
fn consistent(s: &PoolStatus, max_size: usize) {
    assert!(s.idle + s.in_use <= s.size && s.size <= max_size, "{s:?}");
}

#[test]
fn max_size_holds_on_the_server_and_the_metrics_add_up_throughout() {
    run(async {
        let name = format!("pool_audit_{}", std::process::id());
        let cfg = waiter_pg::Config { application_name: Some(name.clone()), ..config() };
        let max = 5;
        let pool = Pool::new(cfg, PoolOptions { max_size: max, ..Default::default() });
        let lp = waiter_loop::Loop::current().unwrap();
        let handles: Vec<_> = (0..300u32)
            .map(|i| {
                let pool = pool.clone();
                lp.spawn(async move {
                    let sql = "SELECT pg_sleep(0.002)";
                    match i % 3 {
                        0 => pool.get().await.unwrap().execute(sql, &[]).await.unwrap(),
                        1 => pool.get_shared().await.unwrap().execute(sql, &[]).await.unwrap(),
                        _ => pool.get_pipelined().await.unwrap().execute(sql, &[]).await.unwrap(),
                    };
                })
            })
            .collect();
        let watcher = connect().await;
        let (mut most, mut samples) = (0i64, 0);
        let mut done = false;
        while !done {
            let s = pool.status();
            consistent(&s, max);
            let n: i64 = watcher
                .query_one("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", &[&name])
                .await
                .unwrap()
                .get(0);
            most = most.max(n);
            samples += 1;
            done = handles.iter().all(|h| h.is_finished());
        }
        for h in handles {
            h.await;
        }
        assert!(most <= max as i64 && most >= 2, "{most} backends at most over {samples} samples");
        let s = pool.status();
        assert_eq!((s.in_use, s.waiting, s.shared, s.pipelined, s.idle), (0, 0, 0, 0, s.size), "{s:?}");
    });
}

#[test]
fn a_checkout_dropped_after_it_was_granted_a_slot_gives_the_slot_to_the_next() {
    run(async {
        let pool = Pool::new(
            config(),
            PoolOptions { max_size: 1, checkout_timeout: Duration::from_secs(5), ..Default::default() },
        );
        let held = pool.get().await.unwrap();
        let mut first = Box::pin(pool.get());
        assert!(poll_once(&mut first).await.is_pending());
        let second = {
            let pool = pool.clone();
            waiter_loop::spawn(async move { pool.get().await.map(|c| c.process_id()) })
        };
        sleep(5).await;
        assert_eq!(pool.status().waiting, 2);
        // The held connection dies: its slot goes to `first`, which is dropped unpolled.
        let killer = connect().await;
        killer.query_one("SELECT pg_terminate_backend($1)", &[&held.process_id()]).await.unwrap();
        while !held.is_closed() {
            sleep(1).await;
        }
        let dead = held.process_id();
        drop(held);
        drop(first);
        let pid = second.await.unwrap();
        assert_ne!(pid, dead);
        let s = pool.status();
        assert_eq!((s.size, s.in_use, s.idle, s.waiting, s.discarded), (1, 0, 1, 0, 1), "{s:?}");
    });
}

/// Runs `future`, turning a panic while it is polled into `Err`.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

#[test]
fn a_task_that_panics_holding_a_connection_gives_it_back() {
    run(async {
        let pool = Pool::new(config(), PoolOptions { max_size: 1, ..Default::default() });
        let pid = pool.get().await.unwrap().process_id();
        let task = {
            let pool = pool.clone();
            CatchUnwind(Box::pin(async move {
                let client = pool.get().await.unwrap();
                client.execute("SELECT 1", &[]).await.unwrap();
                // A statement still running when the task dies.
                let mut running = Box::pin(client.simple_query("SELECT pg_sleep(0.2)"));
                assert!(poll_once(&mut running).await.is_pending());
                if client.process_id() != 0 {
                    panic!("the handler failed");
                }
            }))
        };
        assert!(task.await.is_err(), "the task panicked");
        let s = pool.status();
        assert_eq!((s.size, s.in_use, s.idle), (1, 0, 1), "{s:?}");
        // The same connection serves the next caller, after the abandoned statement.
        let client = pool.get().await.unwrap();
        assert_eq!(client.process_id(), pid);
        assert_eq!(client.query_one("SELECT 7", &[]).await.unwrap().get::<i32>(0), 7);
    });
}

#[test]
fn a_caller_whose_checked_connection_is_broken_keeps_its_turn() {
    run(async {
        // Every idle connection is pinged before it is lent.
        let pool = Pool::new(
            config(),
            PoolOptions {
                max_size: 1,
                health_check_after: Duration::ZERO,
                checkout_timeout: Duration::from_secs(5),
                ..Default::default()
            },
        );
        // The connection goes back busy (a statement abandoned mid-flight),
        // so the next caller's ping waits behind it.
        let pid = {
            let client = pool.get().await.unwrap();
            let mut busy = Box::pin(client.simple_query("SELECT pg_sleep(1)"));
            assert!(poll_once(&mut busy).await.is_pending());
            client.process_id()
        };
        let order = Rc::new(RefCell::new(Vec::new()));
        let caller = |tag: &'static str| {
            let (pool, order) = (pool.clone(), order.clone());
            waiter_loop::spawn(async move {
                let client = pool.get().await.unwrap();
                order.borrow_mut().push(tag);
                client.execute("SELECT pg_sleep(0.05)", &[]).await.unwrap();
            })
        };
        let a = caller("a");
        sleep(30).await;
        let b = caller("b");
        sleep(5).await;
        let c = caller("c");
        sleep(30).await;
        assert_eq!(pool.status().waiting, 2, "b and c wait while a pings");
        // The ping fails: `a` opens a new connection, and is served first.
        let killer = connect().await;
        killer.query_one("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap();
        a.await;
        b.await;
        c.await;
        assert_eq!(*order.borrow(), ["a", "b", "c"]);
        let s = pool.status();
        assert_eq!((s.discarded, s.connects, s.size, s.idle), (1, 2, 1, 1), "{s:?}");
    });
}

fn behind(proxy: &Proxy, max_size: usize) -> Pool {
    let cfg = waiter_pg::Config { port: proxy.port(), ..config() };
    Pool::new(cfg, PoolOptions { max_size, checkout_timeout: Duration::from_secs(10), ..Default::default() })
}

#[test]
fn a_server_that_is_down_fails_checkouts_at_once_and_is_found_again_when_back() {
    run(async {
        let mut proxy = Proxy::start(common::cluster().port);
        let pool = behind(&proxy, 4);
        drop(pool.get().await.unwrap());
        proxy.down();
        sleep(50).await;
        // A restart is waited out for up to `connect_retry` (2 s: attempts
        // until 1.27 s, the next pause being 1 s), not the 10 s checkout
        // timeout; then the connect error.
        let started = Instant::now();
        let e = pool.get().await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(e, Error::Io(_)), "{e}");
        assert!(took >= Duration::from_millis(1000) && took < Duration::from_secs(3), "{took:?}");
        // Down: every checkout fails at once, with no connect of its own.
        let failures = pool.status().connect_failures;
        let started = Instant::now();
        for _ in 0..200 {
            assert!(matches!(pool.get().await, Err(Error::Io(_))));
        }
        assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
        let s = pool.status();
        assert!(s.connect_failures <= failures + 1, "{failures} -> {s:?}");
        assert_eq!((s.size, s.in_use, s.idle, s.waiting), (0, 0, 0, 0), "{s:?}");
        // While it stays down, at most one attempt per pause (1 s at most).
        sleep(1200).await;
        let failures = pool.status().connect_failures;
        for _ in 0..50 {
            assert!(pool.get().await.is_err());
            sleep(10).await;
        }
        assert!(pool.status().connect_failures - failures <= 1, "{:?}", pool.status());
        // Back: found within a pause.
        proxy.up();
        let back = Instant::now();
        let client = loop {
            match pool.get().await {
                Ok(client) => break client,
                Err(e) => {
                    assert!(back.elapsed() < Duration::from_millis(2500), "still failing: {e}");
                    sleep(20).await;
                }
            }
        };
        assert_eq!(client.query_one("SELECT 1", &[]).await.unwrap().get::<i32>(0), 1);
        drop(client);
        // And no longer down: a second connection opens as usual.
        let (a, b) = (pool.get().await.unwrap(), pool.get().await.unwrap());
        assert_ne!(a.process_id(), b.process_id());
    });
}

#[test]
fn callers_in_line_when_the_server_goes_away_fail_instead_of_waiting_out_their_timeout() {
    run(async {
        let mut proxy = Proxy::start(common::cluster().port);
        let pool = behind(&proxy, 2);
        let lp = waiter_loop::Loop::current().unwrap();
        let handles: Vec<_> = (0..40)
            .map(|_| {
                let pool = pool.clone();
                lp.spawn(async move {
                    let client = pool.get().await?;
                    client.execute("SELECT pg_sleep(0.05)", &[]).await?;
                    Ok::<(), Error>(())
                })
            })
            .collect();
        sleep(120).await;
        assert!(pool.status().waiting > 20, "{:?}", pool.status());
        proxy.down();
        let started = Instant::now();
        let mut failed = 0;
        for h in handles {
            failed += usize::from(h.await.is_err());
        }
        assert!(failed > 20, "{failed} failed");
        // The bridging retry, then everyone at once (before: each in turn to
        // its 10 s checkout timeout).
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
        let s = pool.status();
        assert_eq!((s.size, s.in_use, s.idle, s.waiting), (0, 0, 0, 0), "{s:?}");
    });
}

#[test]
fn a_checkout_given_back_with_a_statement_running_inside_begin_is_rolled_back_before_reuse() {
    run(async {
        let pool = Pool::new(config(), PoolOptions { max_size: 1, ..Default::default() });
        let t = format!("pool_audit_abandoned_{}", std::process::id());
        {
            let client = pool.get().await.unwrap();
            client
                .batch_execute(&format!("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (id int)"))
                .await
                .unwrap();
            client.batch_execute("BEGIN").await.unwrap();
            // A statement whose caller goes away while it runs: the checkout
            // goes back with it in flight, inside the open block.
            let mut running = Box::pin(client.simple_query("SELECT pg_sleep(0.2)"));
            assert!(poll_once(&mut running).await.is_pending());
        }
        // The next borrower's write is committed, not run inside the block
        // left open and then silently rolled back with it.
        {
            let client = pool.get().await.unwrap();
            client.execute(&format!("INSERT INTO {t} VALUES (1)"), &[]).await.unwrap();
        }
        let client = pool.get().await.unwrap();
        let rows = client.simple_query(&format!("SELECT count(*) FROM {t}")).await.unwrap();
        assert_eq!(rows[0].rows[0].get::<i64>(0), 1, "the second borrower's INSERT was lost");
        client.batch_execute(&format!("DROP TABLE {t}")).await.unwrap();
    });
}
