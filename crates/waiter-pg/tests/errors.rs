//! Server errors as typed values, notices and notifications, and a broken
//! connection failing every queued query instead of hanging it.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{connect, run, table};
use waiter_pg::Error;

#[test]
fn error_response_fields_are_typed() {
    run(async {
        let client = connect().await;
        let t = table("errors");
        client.batch_execute(&format!("CREATE TEMP TABLE {t} (id int PRIMARY KEY)")).await.unwrap();
        client.execute(&format!("INSERT INTO {t} VALUES (1)"), &[]).await.unwrap();
        let e = client.execute(&format!("INSERT INTO {t} VALUES ($1)"), &[&1]).await.unwrap_err();
        let db = e.as_db().expect("a server error");
        assert_eq!(db.code, "23505");
        assert_eq!(db.severity, "ERROR");
        assert!(db.message.contains("duplicate key"), "{db}");
        assert_eq!(db.detail.as_deref(), Some("Key (id)=(1) already exists."));
        assert_eq!(db.table.as_deref(), Some(t.as_str()));
        assert_eq!(db.constraint.as_deref(), Some(format!("{t}_pkey").as_str()));

        let e = client.query("SELECT 1 +", &[]).await.unwrap_err();
        assert_eq!(e.as_db().unwrap().position, Some(11), "{e}");
        let e = client.simple_query("SELECT * FROM nowhere_at_all").await.unwrap_err();
        let db = e.as_db().unwrap();
        assert_eq!((db.code.as_str(), db.position), ("42P01", Some(15)));
        let e = client
            .batch_execute(
                "DO $$ BEGIN RAISE EXCEPTION 'boom' USING HINT = 'try again', DETAIL = 'd'; END $$",
            )
            .await
            .unwrap_err();
        let db = e.as_db().unwrap();
        assert_eq!(
            (db.message.as_str(), db.hint.as_deref(), db.detail.as_deref()),
            ("boom", Some("try again"), Some("d"))
        );
        assert!(e.to_string().contains("try again"), "{e}");
        assert!(!e.is_closed());
    });
}

#[test]
fn notices_reach_the_handler_between_rows() {
    run(async {
        let client = connect().await;
        let seen = Rc::new(RefCell::new(Vec::new()));
        let sink = seen.clone();
        client.on_notice(move |n| sink.borrow_mut().push((n.severity.clone(), n.message.clone())));
        client
            .batch_execute("DO $$ BEGIN RAISE NOTICE 'first'; RAISE WARNING 'second'; END $$")
            .await
            .unwrap();
        assert_eq!(
            *seen.borrow(),
            [("NOTICE".to_string(), "first".to_string()), ("WARNING".to_string(), "second".to_string())]
        );
    });
}

#[test]
fn notifications_arrive_from_another_connection() {
    run(async {
        let listener = connect().await;
        let channel = table("chan");
        listener.batch_execute(&format!("LISTEN {channel}")).await.unwrap();
        let sender = connect().await;
        sender.execute("SELECT pg_notify($1, $2)", &[&channel, &"hello"]).await.unwrap();
        let n = listener.next_notification().await.unwrap();
        assert_eq!(
            (n.channel.as_str(), n.payload.as_str(), n.process_id),
            (channel.as_str(), "hello", sender.process_id())
        );
    });
}

#[test]
fn a_terminated_backend_fails_every_queued_query() {
    run(async {
        let victim = connect().await;
        let lp = waiter_loop::Loop::current().unwrap();
        // One long query running and many queued behind it on the same connection.
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let client = victim.clone();
                let sql = if i == 0 { "SELECT pg_sleep(30)" } else { "SELECT 1" };
                lp.spawn(async move { client.query(sql, &[]).await })
            })
            .collect();
        let killer = connect().await;
        // Wait until the sleep is running, then end that backend.
        loop {
            let row = killer
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep(30)%'",
                    &[&victim.process_id()],
                )
                .await
                .unwrap();
            if row.get::<i64>(0) == 1 {
                break;
            }
            lp.sleep(std::time::Duration::from_millis(10)).unwrap().await;
        }
        let row = killer.query_one("SELECT pg_terminate_backend($1)", &[&victim.process_id()]).await.unwrap();
        assert!(row.get::<bool>(0));
        let mut errors = Vec::new();
        for h in handles {
            errors.push(h.await.expect_err("every query fails"));
        }
        // All fail as "connection gone": with the server's parting FATAL 57P01
        // when it was read, or with the reset that followed it (the kernel
        // drops unread data when a reset arrives, so the FATAL may be lost).
        for e in &errors {
            assert!(e.is_closed(), "{e}");
            assert!(e.code().is_none_or(|c| c == "57P01"), "{e}");
        }
        assert!(victim.is_closed());
        assert!(victim.query("SELECT 1", &[]).await.unwrap_err().is_closed());
        assert!(matches!(
            victim.query("SELECT 1", &[]).await,
            Err(Error::Db(_) | Error::Io(_) | Error::Closed(_))
        ));
    });
}
