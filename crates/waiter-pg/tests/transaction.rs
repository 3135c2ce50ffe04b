//! Transactions commit, roll back, and roll back when dropped; COPY FROM
//! STDIN loads in bulk and holds other requests back while it runs.

mod common;

use common::{connect, run, table};

async fn count(client: &waiter_pg::Client, t: &str) -> i64 {
    client.query_one(&format!("SELECT count(*) FROM {t}"), &[]).await.unwrap().get(0)
}

#[test]
fn commit_keeps_and_rollback_discards() {
    run(async {
        let client = connect().await;
        let t = table("tx");
        client.batch_execute(&format!("CREATE TEMP TABLE {t} (id int)")).await.unwrap();
        let tx = client.transaction().await.unwrap();
        tx.execute(&format!("INSERT INTO {t} VALUES (1)"), &[]).await.unwrap();
        tx.commit().await.unwrap();
        let tx = client.transaction().await.unwrap();
        tx.execute(&format!("INSERT INTO {t} VALUES (2)"), &[]).await.unwrap();
        assert_eq!(count(&tx, &t).await, 2);
        tx.rollback().await.unwrap();
        assert_eq!(count(&client, &t).await, 1);
    });
}

#[test]
fn a_dropped_transaction_rolls_back() {
    run(async {
        let client = connect().await;
        let t = table("txdrop");
        client.batch_execute(&format!("CREATE TEMP TABLE {t} (id int)")).await.unwrap();
        {
            let tx = client.transaction().await.unwrap();
            tx.execute(&format!("INSERT INTO {t} VALUES (1)"), &[]).await.unwrap();
        }
        assert_eq!(count(&client, &t).await, 0);
        // SAVEPOINT works only inside a transaction block: 25P01 shows we left it.
        let e = client.batch_execute("SAVEPOINT s").await.unwrap_err();
        assert_eq!(e.code(), Some("25P01"), "{e}");
    });
}

#[test]
fn commit_after_an_error_reports_the_rollback() {
    run(async {
        let client = connect().await;
        let tx = client.transaction().await.unwrap();
        assert!(tx.query("SELECT 1/0", &[]).await.is_err());
        let e = tx.query("SELECT 1", &[]).await.unwrap_err();
        assert_eq!(e.code(), Some("25P02"), "{e}");
        assert!(matches!(tx.commit().await, Err(waiter_pg::Error::Usage(_))));
        assert_eq!(client.query_one("SELECT 2", &[]).await.unwrap().get::<i32>(0), 2);
    });
}

#[test]
fn copy_in_loads_rows_in_bulk() {
    run(async {
        let client = connect().await;
        let t = table("copy");
        client.batch_execute(&format!("CREATE TEMP TABLE {t} (id int, name text)")).await.unwrap();
        let copy = client.copy_in(&format!("COPY {t} (id, name) FROM STDIN")).await.unwrap();
        // A query made meanwhile waits until the copy ends, then sees all of it.
        let lp = waiter_loop::Loop::current().unwrap();
        let other = client.clone();
        let t2 = t.clone();
        let counted = lp.spawn(async move { count(&other, &t2).await });
        let mut chunk = Vec::new();
        for i in 0..50_000 {
            chunk.extend_from_slice(format!("{i}\tname {i}\n").as_bytes());
            if chunk.len() > 64 * 1024 {
                copy.write(&chunk).await.unwrap();
                chunk.clear();
            }
        }
        copy.write(&chunk).await.unwrap();
        assert_eq!(copy.finish().await.unwrap(), 50_000);
        assert_eq!(counted.await, 50_000);
        let row = client.query_one(&format!("SELECT name FROM {t} WHERE id = 49999"), &[]).await.unwrap();
        assert_eq!(row.get::<String>(0), "name 49999");
    });
}

#[test]
fn copy_errors_and_abandoned_copies_leave_the_connection_usable() {
    run(async {
        let client = connect().await;
        let t = table("copybad");
        client.batch_execute(&format!("CREATE TEMP TABLE {t} (id int)")).await.unwrap();
        let copy = client.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
        copy.write(b"1\nnot a number\n").await.unwrap();
        let e = copy.finish().await.unwrap_err();
        assert_eq!(e.code(), Some("22P02"), "{e}");
        let copy = client.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
        copy.write(b"1\n").await.unwrap();
        drop(copy);
        assert_eq!(count(&client, &t).await, 0);
        let e = client.copy_in("COPY nowhere FROM STDIN").await.unwrap_err();
        assert_eq!(e.code(), Some("42P01"), "{e}");
        assert!(client.copy_in("SELECT 1").await.is_err());
        assert_eq!(count(&client, &t).await, 0);
    });
}

#[test]
fn copy_from_stdin_through_query_is_refused_without_a_hang() {
    run(async {
        let client = connect().await;
        let t = table("copyrefused");
        client.batch_execute(&format!("CREATE TEMP TABLE {t} (id int)")).await.unwrap();
        // Alone on the connection: CopyFail ends it, the connection lives on.
        let e = client.simple_query(&format!("COPY {t} FROM STDIN")).await.unwrap_err();
        assert_eq!(e.code(), Some("57014"), "{e}");
        let e = client.query(&format!("COPY {t} FROM STDIN"), &[]).await.unwrap_err();
        assert_eq!(e.code(), Some("57014"), "{e}");
        assert_eq!(count(&client, &t).await, 0);
        // With requests pipelined behind it, they would be read as copy data:
        // every one fails instead of hanging.
        let lp = waiter_loop::Loop::current().unwrap();
        let (c1, c2) = (client.clone(), client.clone());
        let sql = format!("COPY {t} FROM STDIN");
        let copy = lp.spawn(async move { c1.query(&sql, &[]).await });
        let after = lp.spawn(async move { c2.query_one("SELECT 1", &[]).await });
        assert!(copy.await.is_err());
        assert!(after.await.is_err());
        assert!(client.is_closed());
    });
}

#[test]
fn a_copy_queued_behind_a_busy_pipeline_goes_out_when_its_turn_comes() {
    run(async {
        let client = connect().await;
        let t = table("copybusy");
        client.batch_execute(&format!("CREATE TEMP TABLE {t} (id int)")).await.unwrap();
        // Forty statements in flight keep the server busy: new requests (the
        // COPY, its data) wait to be written until it is down to fewer.
        let lp = waiter_loop::Loop::current().unwrap();
        let busy: Vec<_> = (0..40)
            .map(|i: i32| {
                let client = client.clone();
                lp.spawn(async move { client.query_one("SELECT $1::int FROM pg_sleep(0.002)", &[&i]).await })
            })
            .collect();
        waiter_loop::yield_now().await;
        let copy = client.copy_in(&format!("COPY {t} (id) FROM STDIN")).await.unwrap();
        copy.write(b"1\n2\n3\n").await.unwrap();
        assert_eq!(copy.finish().await.unwrap(), 3);
        for (i, h) in busy.into_iter().enumerate() {
            assert_eq!(h.await.unwrap().get::<i32>(0), i as i32);
        }
        assert_eq!(count(&client, &t).await, 3);
    });
}
