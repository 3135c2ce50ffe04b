//! Connecting over TCP and Unix sockets with URLs and key=value strings,
//! and every authentication method, succeeding and failing.

mod common;

use common::{cluster, run, url};
use waiter_pg::Error;

#[test]
fn tcp_url_reports_startup_parameters_and_backend_key() {
    run(async {
        let client = waiter_pg::connect(&format!("{}?application_name=waiter-test", url("waiter", None)))
            .await
            .unwrap();
        assert!(client.parameter("server_version").unwrap().starts_with("15"));
        assert_eq!(client.parameter("client_encoding").as_deref(), Some("UTF8"));
        assert_eq!(client.parameter("application_name").as_deref(), Some("waiter-test"));
        let row = client.query_one("SELECT pg_backend_pid()", &[]).await.unwrap();
        assert_eq!(row.get::<i32>(0), client.process_id());
    });
}

#[test]
fn unix_socket_with_key_value_string() {
    run(async {
        let c = cluster();
        let params = format!(
            "host={} port={} user=waiter dbname=waiter connect_timeout=5",
            c.socket_dir.display(),
            c.port
        );
        let client = waiter_pg::connect(&params).await.unwrap();
        // inet_client_addr() is NULL over a Unix socket.
        let row = client.query_one("SELECT inet_client_addr()::text", &[]).await.unwrap();
        assert_eq!(row.get::<Option<String>>(0), None);
    });
}

#[test]
fn each_password_method_accepts_the_right_password() {
    run(async {
        for (user, password, method) in [
            ("waiter_trust", None, "trust"),
            ("waiter_clear", Some("clear-secret"), "password"),
            ("waiter_md5", Some("md5-secret"), "md5"),
            ("waiter_scram", Some("scram-secret"), "scram-sha-256"),
        ] {
            let client =
                waiter_pg::connect(&url(user, password)).await.unwrap_or_else(|e| panic!("{method}: {e}"));
            let row = client.query_one("SELECT current_user::text", &[]).await.unwrap();
            assert_eq!(row.get::<String>(0), user, "{method}");
        }
    });
}

#[test]
fn each_password_method_rejects_a_wrong_password_with_28p01() {
    run(async {
        for user in ["waiter_clear", "waiter_md5", "waiter_scram"] {
            let e = waiter_pg::connect(&url(user, Some("wrong"))).await.unwrap_err();
            assert_eq!(e.code(), Some("28P01"), "{user}: {e}");
            assert!(e.to_string().contains("password authentication failed"), "{user}: {e}");
        }
    });
}

#[test]
fn a_missing_password_is_an_auth_error_naming_the_user() {
    run(async {
        for user in ["waiter_clear", "waiter_md5", "waiter_scram"] {
            match waiter_pg::connect(&url(user, None)).await {
                Err(Error::Auth(msg)) => assert!(msg.contains(user), "{msg}"),
                other => panic!("{user}: {other:?}"),
            }
        }
    });
}

#[test]
fn unknown_database_and_refused_port_fail_cleanly() {
    run(async {
        let e = waiter_pg::connect(&format!("postgres://waiter@127.0.0.1:{}/nope", cluster().port))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("3D000"), "{e}");
        // Port 1 on loopback: nothing listens there.
        let e = waiter_pg::connect("postgres://waiter@127.0.0.1:1/waiter").await.unwrap_err();
        assert!(matches!(e, Error::Io(ref io) if io.kind() == std::io::ErrorKind::ConnectionRefused), "{e}");
        let e = waiter_pg::connect("postgres://waiter@127.0.0.1:x/waiter").await.unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e}");
    });
}

#[test]
fn dropping_the_last_handle_ends_the_backend() {
    run(async {
        let client = waiter_pg::connect(&url("waiter", None)).await.unwrap();
        let clone = client.clone();
        let pid = client.process_id();
        drop(client);
        // A clone keeps the connection open.
        assert_eq!(clone.query_one("SELECT 1", &[]).await.unwrap().get::<i32>(0), 1);
        drop(clone);
        let observer = waiter_pg::connect(&url("waiter", None)).await.unwrap();
        for _ in 0..500 {
            let row = observer
                .query_one("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", &[&pid])
                .await
                .unwrap();
            if row.get::<i64>(0) == 0 {
                return;
            }
            waiter_loop::sleep(std::time::Duration::from_millis(10)).unwrap().await;
        }
        panic!("backend {pid} still there 5 s after its client was dropped");
    });
}
