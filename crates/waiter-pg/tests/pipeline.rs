//! A deep pipeline's reads are coalesced (driver.rs: while 16 or more
//! requests await an answer, the reader wakes on its own timer rather than
//! per response): answers that have come must still reach their callers
//! within the reader's window, even when the statement behind them is slow.

mod common;

use std::time::{Duration, Instant};

use common::{connect, run};

#[test]
fn quick_answers_are_not_held_back_by_a_slow_statement_behind_them() {
    run(async {
        let client = connect().await;
        client.prepare("SELECT $1::int").await.unwrap();
        client.prepare("SELECT pg_sleep($1)").await.unwrap();
        let lp = waiter_loop::Loop::current().unwrap();
        let start = Instant::now();
        // 40 quick statements, then one that sleeps 3 s: once the first
        // answers are read, 16 or more requests still await theirs, so the
        // reader coalesces while the other quick answers come in.
        let quick: Vec<_> = (0..40)
            .map(|i: i32| {
                let client = client.clone();
                lp.spawn(async move {
                    let row = client.query_one("SELECT $1::int", &[&i]).await.unwrap();
                    (row.get::<i32>(0), start.elapsed())
                })
            })
            .collect();
        let slow = {
            let client = client.clone();
            lp.spawn(async move { client.execute("SELECT pg_sleep($1)", &[&3.0f64]).await.unwrap() })
        };
        for (i, task) in quick.into_iter().enumerate() {
            let (value, took) = task.await;
            assert_eq!(value, i as i32);
            // Without the window they would wait for the 3 s statement (and
            // then for 16 KiB that never come).
            assert!(took < Duration::from_secs(1), "answer {i} took {took:?}");
        }
        slow.await;
        assert!(start.elapsed() >= Duration::from_secs(3));
    });
}
