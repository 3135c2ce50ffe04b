//! Simple and extended queries, the statement cache, and pipelining many
//! queries from many tasks over one connection.

mod common;

use std::rc::Rc;

use common::{connect, run, table};
use waiter_pg::Error;

#[test]
fn simple_query_returns_rows_and_tags_per_statement() {
    run(async {
        let client = connect().await;
        let t = table("simple");
        let results = client
            .simple_query(&format!(
                "CREATE TEMP TABLE {t} (id int, name text); INSERT INTO {t} VALUES (1, 'a'), (2, NULL); \
                 SELECT id, name FROM {t} ORDER BY id; ;"
            ))
            .await
            .unwrap();
        let tags: Vec<_> = results.iter().map(|r| r.tag.as_str()).collect();
        assert_eq!(tags, ["CREATE TABLE", "INSERT 0 2", "SELECT 2"]);
        assert_eq!(results[1].rows_affected, 2);
        let rows = &results[2].rows;
        assert_eq!(rows[0].get::<i32>("id"), 1);
        assert_eq!(rows[0].get::<String>("name"), "a");
        assert_eq!(rows[1].get::<Option<String>>(1), None);
        assert!(client.simple_query("").await.unwrap().is_empty());
    });
}

#[test]
fn simple_query_stops_at_the_first_error() {
    run(async {
        let client = connect().await;
        let e = client.simple_query("SELECT 1; SELECT nope; SELECT 3").await.unwrap_err();
        assert_eq!(e.code(), Some("42703"), "{e}");
        // The connection is still good.
        let rows = client.simple_query("SELECT 4").await.unwrap();
        assert_eq!(rows[0].rows[0].get::<i32>(0), 4);
    });
}

#[test]
fn extended_query_binds_parameters() {
    run(async {
        let client = connect().await;
        let row = client
            .query_one(
                "SELECT $1::int + $2::int8 AS sum, $3::text || '!' AS shout, $4::float8 * 2 AS twice",
                &[&40, &2i64, &"hi", &1.25],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<i64>("sum"), 42);
        assert_eq!(row.get::<String>("shout"), "hi!");
        assert_eq!(row.get::<f64>("twice"), 2.5);
        assert_eq!(client.execute("SELECT generate_series(1, 7)", &[]).await.unwrap(), 7);
        assert!(client.query_opt("SELECT 1 WHERE false", &[]).await.unwrap().is_none());
        assert!(matches!(client.query_one("SELECT 1 WHERE false", &[]).await, Err(Error::Usage(_))));
        assert!(matches!(client.query("SELECT $1::int", &[]).await, Err(Error::Usage(_))));
    });
}

#[test]
fn statements_are_prepared_once_per_connection() {
    run(async {
        let client = connect().await;
        let a = client.prepare("SELECT $1::int").await.unwrap();
        let b = client.prepare("SELECT $1::int").await.unwrap();
        assert!(Rc::ptr_eq(&a, &b), "the second prepare should hit the cache");
        assert_eq!(a.params(), [waiter_pg::Type::INT4]);
        for i in 0..5 {
            client.query_one("SELECT $1::int", &[&i]).await.unwrap();
        }
        let count = client
            .query_one("SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT $1::int'", &[])
            .await
            .unwrap();
        assert_eq!(count.get::<i64>(0), 1);
    });
}

#[test]
fn a_bad_statement_fails_alone_and_is_not_cached() {
    run(async {
        let client = connect().await;
        for _ in 0..2 {
            let e = client.query("SELEC 1", &[]).await.unwrap_err();
            assert_eq!(e.code(), Some("42601"), "{e}");
        }
        // An execution error inside a pipelined batch does not disturb its neighbours.
        let lp = waiter_loop::Loop::current().unwrap();
        let (c1, c2, c3) = (client.clone(), client.clone(), client.clone());
        let a = lp.spawn(async move { c1.query_one("SELECT 1::int", &[]).await });
        let b = lp.spawn(async move { c2.query_one("SELECT 1 / $1::int", &[&0]).await });
        let c = lp.spawn(async move { c3.query_one("SELECT 3::int", &[]).await });
        assert_eq!(a.await.unwrap().get::<i32>(0), 1);
        assert_eq!(b.await.unwrap_err().code(), Some("22012"));
        assert_eq!(c.await.unwrap().get::<i32>(0), 3);
    });
}

#[test]
fn many_tasks_pipeline_on_one_connection_in_order() {
    run(async {
        let client = connect().await;
        let lp = waiter_loop::Loop::current().unwrap();
        let handles: Vec<_> = (0..500)
            .map(|i: i32| {
                let client = client.clone();
                lp.spawn(async move {
                    client.query_one("SELECT $1::int * 2", &[&i]).await.map(|r| r.get::<i32>(0))
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), i as i32 * 2);
        }
        // All on one backend: one process ID answered everything.
        let pid = client.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get::<i32>(0);
        assert_eq!(pid, client.process_id());
    });
}

#[test]
fn large_results_arrive_whole() {
    run(async {
        let client = connect().await;
        let rows =
            client.query("SELECT g, repeat('x', 1000) FROM generate_series(1, 5000) g", &[]).await.unwrap();
        assert_eq!(rows.len(), 5000);
        assert_eq!(rows[4999].get::<i32>(0), 5000);
        let big = client.query_one("SELECT repeat('y', 5000000)", &[]).await.unwrap();
        assert_eq!(big.get::<String>(0).len(), 5_000_000);
    });
}

#[test]
fn a_message_over_the_size_limit_fails_the_connection() {
    run(async {
        let config = waiter_pg::Config { max_message_size: 64 * 1024, ..common::config() };
        let client = waiter_pg::connect_with(&config).await.unwrap();
        let e = client.query_one("SELECT repeat('y', 100000)", &[]).await.unwrap_err();
        assert!(matches!(e, Error::Protocol(ref m) if m.contains("exceeds")), "{e}");
        assert!(client.is_closed());
    });
}

#[test]
fn a_statement_made_stale_by_ddl_is_prepared_again() {
    run(async {
        let client = connect().await;
        let t = table("stale");
        client.batch_execute(&format!("CREATE TEMP TABLE {t} (a int)")).await.unwrap();
        let sql = format!("SELECT * FROM {t}");
        client.query(&sql, &[]).await.unwrap();
        client.batch_execute(&format!("ALTER TABLE {t} ADD COLUMN b text")).await.unwrap();
        let e = client.query(&sql, &[]).await.unwrap_err();
        assert_eq!(e.code(), Some("0A000"), "{e}");
        client.execute(&format!("INSERT INTO {t} VALUES (1, 'x')"), &[]).await.unwrap();
        let row = client.query_one(&sql, &[]).await.unwrap();
        assert_eq!(row.get::<String>("b"), "x");
        client.batch_execute("DEALLOCATE ALL").await.unwrap();
        assert_eq!(client.query(&sql, &[]).await.unwrap_err().code(), Some("26000"));
        assert_eq!(client.query(&sql, &[]).await.unwrap().len(), 1);
    });
}
