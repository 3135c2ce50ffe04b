//! Query timeouts send a real CancelRequest: the server stops the query,
//! the caller gets `Error::Timeout`, and the connection stays usable.

mod common;

use std::time::{Duration, Instant};

use common::{connect, run};
use waiter_pg::Error;

#[test]
fn a_timed_out_query_is_cancelled_on_the_server() {
    run(async {
        let client = connect().await;
        let observer = connect().await;
        let limited = client.with_timeout(Some(Duration::from_millis(100)));
        let started = Instant::now();
        let e = limited.query("SELECT pg_sleep(10)", &[]).await.unwrap_err();
        assert!(matches!(e, Error::Timeout), "{e}");
        assert!(started.elapsed() >= Duration::from_millis(100));
        // The next query on the connection runs at once: the sleep was cancelled,
        // not left to finish its 10 s.
        let row = client.query_one("SELECT 1", &[]).await.unwrap();
        assert_eq!(row.get::<i32>(0), 1);
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        let active = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                &[&client.process_id()],
            )
            .await
            .unwrap();
        assert_eq!(active.get::<i64>(0), 0);
    });
}

#[test]
fn a_query_within_its_timeout_is_untouched() {
    run(async {
        let client = connect().await.with_timeout(Some(Duration::from_secs(5)));
        let row = client.query_one("SELECT pg_sleep(0.05)::text, 7::int", &[]).await.unwrap();
        assert_eq!(row.get::<i32>(1), 7);
        assert_eq!(client.timeout(), Some(Duration::from_secs(5)));
    });
}

#[test]
fn a_cancel_token_stops_a_query_from_another_task() {
    run(async {
        let client = connect().await;
        let token = client.cancel_token();
        let lp = waiter_loop::Loop::current().unwrap();
        lp.spawn(async move {
            waiter_loop::sleep(Duration::from_millis(100)).unwrap().await;
            token.cancel().await.unwrap();
        });
        let e = client.query("SELECT pg_sleep(10)", &[]).await.unwrap_err();
        assert_eq!(e.code(), Some("57014"), "{e}");
    });
}

#[test]
fn connect_timeout_applies_to_a_silent_server() {
    run(async {
        // A listener that accepts but never answers the startup message.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let mut config: waiter_pg::Config =
            format!("postgres://waiter@127.0.0.1:{port}/waiter").parse().unwrap();
        config.connect_timeout = Some(Duration::from_millis(200));
        let e = waiter_pg::connect_with(&config).await.unwrap_err();
        assert!(matches!(e, Error::Timeout), "{e}");
    });
}
