//! An outside audit of the client against issue 6's feature list: connection
//! strings as libpq reads them, IPv6, every type at its edges (extremes, NaN
//! and infinities, empty and zero bytes, BC dates, escape-style bytea, local
//! mean time offsets) in both wire formats, errors mid-script, nested
//! transactions, COPY escapes, a bad row in a large copy and misused copies,
//! timeouts that must cancel (while preparing, over a Unix socket, inside a
//! transaction), a pooled connection given back mid-transaction, and
//! several tasks waiting for notifications. Each test names the behaviour it
//! pins down; those added with a fix fail without it.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::{connect, run, table};
use waiter_pg::{Config, Date, Error, Host, Timestamp};

const MICROS_PER_DAY: i64 = 86_400_000_000;

// ---- connection strings ----------------------------------------------------

#[test]
fn url_and_key_value_strings_parse_as_libpq_does() {
    let c: Config = "postgres://app:p%40ss%3Aw%C3%B6rd@[::1]:6000/shop".parse().unwrap();
    assert_eq!(c.password.as_deref(), Some("p@ss:wörd"));
    assert_eq!((c.database(), c.port), ("shop", 6000));
    assert_eq!(c.host, Host::Tcp("::1".into()));
    // Missing parts: port 5432, database = user.
    let c: Config = "postgres://app@db.example".parse().unwrap();
    assert_eq!((c.port, c.database()), (5432, "app"));
    let c: Config = "host=/run/pg user=app".parse().unwrap();
    assert_eq!((c.port, c.database()), (5432, "app"));
    assert_eq!(c.host, Host::Unix("/run/pg".into()));
    let c: Config = "host=h connect_timeout=0 application_name='my app'".parse().unwrap();
    assert_eq!((c.connect_timeout, c.application_name.as_deref()), (None, Some("my app")));
    for ok in ["host=h sslmode=disable", "host=h sslmode=prefer", "postgres://h/d?sslmode=allow"] {
        ok.parse::<Config>().unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn an_unknown_key_is_an_error_naming_it() {
    for bad in ["host=h frobnicate=1", "postgres://h/d?frobnicate=1"] {
        match bad.parse::<Config>() {
            Err(Error::Config(msg)) => assert!(msg.contains("frobnicate"), "{bad}: {msg}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn sslmode_require_is_refused_saying_there_is_no_tls() {
    for bad in
        ["host=h sslmode=require", "postgres://h/d?sslmode=verify-full", "postgres://h/d?sslmode=verify-ca"]
    {
        match bad.parse::<Config>() {
            Err(Error::Config(msg)) => {
                assert!(msg.contains("sslmode") && msg.contains("TLS"), "{bad}: {msg}")
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn percent_encoded_password_authenticates_over_scram() {
    run(async {
        // "scram-secret" with its hyphen percent-encoded.
        let url = common::url("waiter_scram", Some("scram%2Dsecret"));
        let client = waiter_pg::connect(&url).await.unwrap();
        let row = client.query_one("SELECT current_user::text", &[]).await.unwrap();
        assert_eq!(row.get::<String>(0), "waiter_scram");
    });
}

// ---- types -------------------------------------------------------------------

/// Literals at the edges of each type, read in the binary (extended) and the
/// text (simple) format.
const EDGES: &str = "SELECT 32767::int2 AS i2max, (-32768)::int2 AS i2min, \
    2147483647::int4 AS i4max, (-2147483648)::int4 AS i4min, \
    9223372036854775807::int8 AS i8max, (-9223372036854775808)::int8 AS i8min, \
    'NaN'::float4 AS f4nan, 'Infinity'::float8 AS f8inf, '-Infinity'::float8 AS f8ninf, \
    'NaN'::numeric AS nnan, '-123456789012345678901234567890.000000000000000000000000000001'::numeric AS nbig, \
    E'it''s \"q\" \\\\ é\\t😀' AS quoted, '\\x00ff00'::bytea AS zeros, ''::bytea AS empty, \
    'infinity'::timestamp AS tsinf, '-infinity'::timestamptz AS tzninf, \
    '1969-07-20 20:17:40.000001'::timestamp AS moon, '0044-03-15 12:00:00 BC'::timestamp AS ides, \
    '0044-03-15 12:00:00+00 BC'::timestamptz AS idestz, '0044-03-15 BC'::date AS idesd, \
    'infinity'::date AS dinf, '1900-01-01'::date AS d1900, false AS f";

fn check_edges(row: &waiter_pg::Row, how: &str) {
    assert_eq!(row.get::<i16>("i2max"), i16::MAX, "{how}");
    assert_eq!(row.get::<i16>("i2min"), i16::MIN, "{how}");
    assert_eq!(row.get::<i32>("i4max"), i32::MAX, "{how}");
    assert_eq!(row.get::<i32>("i4min"), i32::MIN, "{how}");
    assert_eq!(row.get::<i64>("i8max"), i64::MAX, "{how}");
    assert_eq!(row.get::<i64>("i8min"), i64::MIN, "{how}");
    assert!(row.get::<f32>("f4nan").is_nan(), "{how}");
    assert_eq!(row.get::<f64>("f8inf"), f64::INFINITY, "{how}");
    assert_eq!(row.get::<f64>("f8ninf"), f64::NEG_INFINITY, "{how}");
    assert_eq!(row.get::<String>("nnan"), "NaN", "{how}");
    assert_eq!(
        row.get::<String>("nbig"),
        "-123456789012345678901234567890.000000000000000000000000000001",
        "{how}"
    );
    assert_eq!(row.get::<String>("quoted"), "it's \"q\" \\ é\t😀", "{how}");
    assert_eq!(row.get::<Vec<u8>>("zeros"), [0, 0xff, 0], "{how}");
    assert_eq!(row.get::<Vec<u8>>("empty"), Vec::<u8>::new(), "{how}");
    assert_eq!(row.get::<Timestamp>("tsinf"), Timestamp::INFINITY, "{how}");
    assert_eq!(row.get::<Timestamp>("tzninf"), Timestamp::NEG_INFINITY, "{how}");
    let moon = row.get::<Timestamp>("moon");
    assert_eq!(moon.unix_micros(), -14_182_940_000_000 + 1, "{how}");
    assert_eq!(moon.to_string(), "1969-07-20 20:17:40.000001", "{how}");
    // 44 BC is the proleptic Gregorian (astronomical) year -43.
    let ides = Timestamp(i64::from(Date::from_ymd(-43, 3, 15).0) * MICROS_PER_DAY + 12 * 3_600_000_000);
    assert_eq!(row.get::<Timestamp>("ides"), ides, "{how}");
    assert_eq!(row.get::<Timestamp>("idestz"), ides, "{how}");
    assert_eq!(row.get::<Timestamp>("ides").to_string(), "0044-03-15 12:00:00 BC", "{how}");
    assert_eq!(row.get::<Date>("idesd"), Date::from_ymd(-43, 3, 15), "{how}");
    assert_eq!(row.get::<Date>("idesd").to_string(), "0044-03-15 BC", "{how}");
    assert_eq!(row.get::<Date>("dinf"), Date(i32::MAX), "{how}");
    assert_eq!(row.get::<Date>("d1900"), Date::from_ymd(1900, 1, 1), "{how}");
    assert!(!row.get::<bool>("f"), "{how}");
}

#[test]
fn edge_values_read_in_both_formats() {
    run(async {
        let client = connect().await;
        client.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
        check_edges(&client.query_one(EDGES, &[]).await.unwrap(), "binary");
        check_edges(&client.simple_query(EDGES).await.unwrap()[0].rows[0], "text");
    });
}

#[test]
fn edge_values_round_trip_as_parameters() {
    run(async {
        let client = connect().await;
        client.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
        let bc = Timestamp(i64::from(Date::from_ymd(-43, 3, 15).0) * MICROS_PER_DAY);
        let empty: Vec<u8> = Vec::new();
        let zeros = vec![0u8, 0, 0];
        let row = client
            .query_one(
                "SELECT $1::int2, $2::int2, $3::int8, $4::int8, $5::float4, $6::float8, $7::float8, \
                 $8::bytea, $9::bytea, $10::timestamp, $11::timestamptz, $12::timestamp, $13::date, $14::text",
                &[
                    &i16::MIN,
                    &i16::MAX,
                    &i64::MIN,
                    &i64::MAX,
                    &f32::NAN,
                    &f64::INFINITY,
                    &f64::NEG_INFINITY,
                    &empty,
                    &zeros,
                    &Timestamp::INFINITY,
                    &Timestamp::NEG_INFINITY,
                    &bc,
                    &Date::from_ymd(-43, 3, 15),
                    &"a'b\"c\\d",
                ],
            )
            .await
            .unwrap();
        assert_eq!((row.get::<i16>(0), row.get::<i16>(1)), (i16::MIN, i16::MAX));
        assert_eq!((row.get::<i64>(2), row.get::<i64>(3)), (i64::MIN, i64::MAX));
        assert!(row.get::<f32>(4).is_nan());
        assert_eq!((row.get::<f64>(5), row.get::<f64>(6)), (f64::INFINITY, f64::NEG_INFINITY));
        assert_eq!(row.get::<Vec<u8>>(7), empty);
        assert_eq!(row.get::<Vec<u8>>(8), zeros);
        assert_eq!(row.get::<Timestamp>(9), Timestamp::INFINITY);
        assert_eq!(row.get::<Timestamp>(10), Timestamp::NEG_INFINITY);
        assert_eq!(row.get::<Timestamp>(11), bc);
        assert_eq!(row.get::<Date>(12), Date::from_ymd(-43, 3, 15));
        assert_eq!(row.get::<String>(13), "a'b\"c\\d");
        // The server's own text for the BC values matches ours.
        let row = client
            .query_one("SELECT $1::timestamp::text, $2::date::text", &[&bc, &Date::from_ymd(-43, 3, 15)])
            .await
            .unwrap();
        assert_eq!(row.get::<String>(0), bc.to_string());
        assert_eq!(row.get::<String>(1), Date::from_ymd(-43, 3, 15).to_string());
    });
}

#[test]
fn float_specials_fill_numeric_and_text_parameters() {
    run(async {
        let client = connect().await;
        let row = client
            .query_one(
                "SELECT $1::numeric::text, $2::numeric::text, $3::numeric::text, $4::text, $5::float8",
                &[&f64::NAN, &f64::INFINITY, &f64::NEG_INFINITY, &f32::INFINITY, &"-Infinity"],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<String>(0), "NaN");
        assert_eq!(row.get::<String>(1), "Infinity");
        assert_eq!(row.get::<String>(2), "-Infinity");
        assert_eq!(row.get::<String>(3), "Infinity");
        assert_eq!(row.get::<f64>(4), f64::NEG_INFINITY);
    });
}

#[test]
fn infinite_timestamps_fill_text_parameters() {
    run(async {
        let client = connect().await;
        let row = client
            .query_one(
                "SELECT $1::text::timestamptz = 'infinity', $2::text::timestamptz = '-infinity'",
                &[&Timestamp::INFINITY, &Timestamp::NEG_INFINITY],
            )
            .await
            .unwrap();
        assert!(row.get::<bool>(0) && row.get::<bool>(1));
    });
}

// ---- errors --------------------------------------------------------------

#[test]
fn an_error_mid_script_stops_the_rest_and_rolls_the_script_back() {
    run(async {
        let client = connect().await;
        let t = table("midscript");
        client.batch_execute(&format!("CREATE TEMP TABLE {t} (id int)")).await.unwrap();
        let e = client
            .simple_query(&format!("INSERT INTO {t} VALUES (1); SELECT 1/0; INSERT INTO {t} VALUES (3)"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("22012"), "{e}");
        // One implicit transaction: the first insert is undone, the third never ran.
        let n: i64 = client.query_one(&format!("SELECT count(*) FROM {t}"), &[]).await.unwrap().get(0);
        assert_eq!(n, 0);
    });
}

#[test]
fn rollback_after_25p02_restores_the_connection() {
    run(async {
        let client = connect().await;
        client.batch_execute("BEGIN").await.unwrap();
        assert_eq!(client.query("SELECT 1/0", &[]).await.unwrap_err().code(), Some("22012"));
        assert_eq!(client.simple_query("SELECT 1").await.unwrap_err().code(), Some("25P02"));
        client.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(client.query_one("SELECT 2", &[]).await.unwrap().get::<i32>(0), 2);
    });
}

#[test]
fn a_notice_and_an_error_in_one_statement_both_arrive() {
    run(async {
        let client = connect().await;
        let seen = Rc::new(RefCell::new(Vec::new()));
        let sink = seen.clone();
        client.on_notice(move |n| sink.borrow_mut().push(n.message.clone()));
        let e = client
            .query(
                "DO $$ BEGIN RAISE NOTICE 'before'; RAISE EXCEPTION 'then' USING ERRCODE = '22023'; END $$",
                &[],
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("22023"), "{e}");
        assert_eq!(*seen.borrow(), ["before"]);
    });
}

// ---- transactions --------------------------------------------------------

async fn count(client: &waiter_pg::Client, t: &str) -> i64 {
    client.query_one(&format!("SELECT count(*) FROM {t}"), &[]).await.unwrap().get(0)
}

#[test]
fn a_nested_transaction_is_a_savepoint() {
    run(async {
        let client = connect().await;
        let t = table("nested");
        client.batch_execute(&format!("CREATE TEMP TABLE {t} (id int)")).await.unwrap();
        let outer = client.transaction().await.unwrap();
        outer.execute(&format!("INSERT INTO {t} VALUES (1)"), &[]).await.unwrap();
        {
            // Dropped: undoes only its own work.
            let inner = outer.transaction().await.unwrap();
            inner.execute(&format!("INSERT INTO {t} VALUES (2)"), &[]).await.unwrap();
        }
        let inner = outer.transaction().await.unwrap();
        inner.execute(&format!("INSERT INTO {t} VALUES (3)"), &[]).await.unwrap();
        assert!(inner.query("SELECT 1/0", &[]).await.is_err());
        inner.rollback().await.unwrap();
        // A failed one's commit rolls it back and says so, as COMMIT does.
        let inner = outer.transaction().await.unwrap();
        inner.execute(&format!("INSERT INTO {t} VALUES (5)"), &[]).await.unwrap();
        assert!(inner.query("SELECT 1/0", &[]).await.is_err());
        assert!(matches!(inner.commit().await, Err(Error::Usage(_))));
        let inner = outer.transaction().await.unwrap();
        inner.execute(&format!("INSERT INTO {t} VALUES (4)"), &[]).await.unwrap();
        inner.commit().await.unwrap();
        outer.commit().await.unwrap();
        let ids: Vec<i32> = client
            .query(&format!("SELECT id FROM {t} ORDER BY id"), &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(ids, [1, 4]);
    });
}

#[test]
fn a_dropped_outer_transaction_undoes_its_committed_savepoints() {
    run(async {
        let client = connect().await;
        let t = table("nestdrop");
        client.batch_execute(&format!("CREATE TEMP TABLE {t} (id int)")).await.unwrap();
        {
            let outer = client.transaction().await.unwrap();
            let inner = outer.transaction().await.unwrap();
            inner.execute(&format!("INSERT INTO {t} VALUES (1)"), &[]).await.unwrap();
            inner.commit().await.unwrap();
        }
        assert_eq!(count(&client, &t).await, 0);
        assert_eq!(client.batch_execute("SAVEPOINT s").await.unwrap_err().code(), Some("25P01"));
    });
}

// ---- COPY ------------------------------------------------------------------

#[test]
fn copy_carries_escaped_tabs_newlines_backslashes_and_nulls() {
    run(async {
        let client = connect().await;
        let t = table("copyesc");
        client.batch_execute(&format!("CREATE TEMP TABLE {t} (id int, v text)")).await.unwrap();
        let copy = client.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
        copy.write(b"1\ta\\tb\\nc\\\\d\\re\n2\t\\N\n3\t\xc3\xa9\n").await.unwrap();
        assert_eq!(copy.finish().await.unwrap(), 3);
        let rows = client.query(&format!("SELECT v FROM {t} ORDER BY id"), &[]).await.unwrap();
        let values: Vec<Option<String>> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(values, [Some("a\tb\nc\\d\re".to_string()), None, Some("é".to_string())]);
    });
}

#[test]
fn a_bad_row_deep_in_a_large_copy_fails_it_and_the_connection_lives() {
    run(async {
        let client = connect().await;
        let t = table("copydeep");
        client.batch_execute(&format!("CREATE TEMP TABLE {t} (id int, v text)")).await.unwrap();
        let copy = client.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
        let mut chunk = Vec::new();
        for i in 0..300_000 {
            if i == 100_000 {
                chunk.extend_from_slice(b"oops\tbad\n");
            }
            chunk.extend_from_slice(format!("{i}\trow number {i}\n").as_bytes());
            if chunk.len() > 256 * 1024 {
                copy.write(&chunk).await.unwrap();
                chunk.clear();
            }
        }
        copy.write(&chunk).await.unwrap();
        let e = copy.finish().await.unwrap_err();
        let db = e.as_db().expect("the server's error");
        assert_eq!(db.code, "22P02", "{e}");
        assert!(db.where_.as_deref().is_some_and(|w| w.contains("line 100001")), "{db:?}");
        assert_eq!(count(&client, &t).await, 0);
        // And a good copy right after.
        let copy = client.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
        copy.write(b"1\tone\n").await.unwrap();
        assert_eq!(copy.finish().await.unwrap(), 1);
    });
}

// ---- timeouts and the pool -----------------------------------------------------

#[test]
fn a_timed_out_query_inside_a_transaction_leaves_it_failed_with_57014() {
    run(async {
        let client = connect().await;
        let tx = client.transaction().await.unwrap();
        let limited = tx.with_timeout(Some(Duration::from_millis(100)));
        assert!(matches!(limited.query("SELECT pg_sleep(10)", &[]).await, Err(Error::Timeout)));
        // The cancel reached the backend: the transaction is aborted, not still sleeping.
        let e = tx.query("SELECT 1", &[]).await.unwrap_err();
        assert_eq!(e.code(), Some("25P02"), "{e}");
        tx.rollback().await.unwrap();
        assert_eq!(client.query_one("SELECT 3", &[]).await.unwrap().get::<i32>(0), 3);
    });
}

#[test]
fn a_copy_dropped_before_the_server_answered_does_not_hold_the_connection() {
    run(async {
        let client = connect().await;
        let t = table("copydropstart");
        client.batch_execute(&format!("CREATE TEMP TABLE {t} (id int)")).await.unwrap();
        let lp = waiter_loop::Loop::current().unwrap();
        // A slow statement ahead keeps the COPY unanswered past the timeout.
        let busy = client.clone();
        let sleeping = lp.spawn(async move { busy.batch_execute("SELECT pg_sleep(0.3)").await });
        waiter_loop::yield_now().await;
        let sql = format!("COPY {t} FROM STDIN");
        let start = client.copy_in(&sql);
        assert!(
            lp.timeout(Duration::from_millis(50), start).unwrap().await.is_err(),
            "the COPY was answered within 50 ms"
        );
        sleeping.await.unwrap();
        // Requests made afterwards are not held behind the abandoned copy.
        assert_eq!(client.query_one("SELECT 5", &[]).await.unwrap().get::<i32>(0), 5);
        assert_eq!(count(&client, &t).await, 0);
        let copy = client.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
        copy.write(b"1\n").await.unwrap();
        assert_eq!(copy.finish().await.unwrap(), 1);
    });
}

#[test]
fn an_ipv6_host_is_connected_to() {
    run(async {
        // A listener on ::1 that never answers: reaching it is a connect timeout,
        // not a refused or unresolvable address.
        let silent = std::net::TcpListener::bind("[::1]:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let mut config: Config = format!("postgres://waiter@[::1]:{port}/waiter").parse().unwrap();
        config.connect_timeout = Some(Duration::from_millis(200));
        let e = waiter_pg::connect_with(&config).await.unwrap_err();
        assert!(matches!(e, Error::Timeout), "{e}");
        silent.set_nonblocking(true).unwrap();
        let (_, peer) = silent.accept().expect("the client connected over IPv6");
        assert!(peer.is_ipv6());
    });
}

#[test]
fn text_timestamps_with_historical_second_offsets_match_the_binary_ones() {
    run(async {
        let client = connect().await;
        // Before 1892 Amsterdam kept local mean time: an offset of +00:19:32.
        client.batch_execute("SET TimeZone = 'Europe/Amsterdam'").await.unwrap();
        let sql = "SELECT '1850-06-01 12:00:00+00'::timestamptz AS lmt, '2024-06-01 12:00:00+00'::timestamptz AS cest";
        let text = &client.simple_query(sql).await.unwrap()[0].rows[0];
        assert_eq!(text.get::<String>("lmt"), "1850-06-01 12:19:32+00:19:32");
        let binary = client.query_one(sql, &[]).await.unwrap();
        for column in ["lmt", "cest"] {
            assert_eq!(text.get::<Timestamp>(column), binary.get::<Timestamp>(column), "{column}");
        }
        assert_eq!(binary.get::<Timestamp>("lmt").to_string(), "1850-06-01 12:00:00");
    });
}

#[test]
fn bytea_reads_from_the_text_format_in_either_output_style() {
    run(async {
        let client = connect().await;
        let sql = "SELECT '\\x00015c27ff41'::bytea AS b, ''::bytea AS e";
        for style in ["hex", "escape"] {
            client.batch_execute(&format!("SET bytea_output = '{style}'")).await.unwrap();
            let row = &client.simple_query(sql).await.unwrap()[0].rows[0];
            assert_eq!(row.get::<Vec<u8>>("b"), [0, 1, b'\\', b'\'', 0xff, b'A'], "{style}");
            assert_eq!(row.get::<Vec<u8>>("e"), Vec::<u8>::new(), "{style}");
        }
    });
}

#[test]
fn a_timeout_while_the_statement_is_being_prepared_cancels_it_too() {
    run(async {
        let client = connect().await;
        let holder = connect().await;
        let t = table("locked");
        holder.batch_execute(&format!("CREATE TABLE {t} (id int)")).await.unwrap();
        // Parse itself waits for the lock: the statement is stuck before it runs.
        holder.batch_execute(&format!("BEGIN; LOCK TABLE {t} IN ACCESS EXCLUSIVE MODE")).await.unwrap();
        let limited = client.with_timeout(Some(Duration::from_millis(100)));
        let started = std::time::Instant::now();
        let e = limited.query(&format!("SELECT * FROM {t}"), &[]).await.unwrap_err();
        assert!(matches!(e, Error::Timeout), "{e}");
        // The server gave up the wait: the next query does not queue behind it.
        let next = client.with_timeout(Some(Duration::from_secs(3))).query_one("SELECT 1", &[]).await;
        assert_eq!(next.unwrap().get::<i32>(0), 1, "after {:?}", started.elapsed());
        holder.batch_execute(&format!("ROLLBACK; DROP TABLE {t}")).await.unwrap();
    });
}

#[test]
fn a_timeout_over_the_unix_socket_cancels_through_it() {
    run(async {
        let client = waiter_pg::connect_with(&common::unix_config()).await.unwrap();
        let limited = client.with_timeout(Some(Duration::from_millis(100)));
        let started = std::time::Instant::now();
        assert!(matches!(limited.simple_query("SELECT pg_sleep(10)").await, Err(Error::Timeout)));
        assert_eq!(client.simple_query("SELECT 6").await.unwrap()[0].rows[0].get::<i32>(0), 6);
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    });
}

#[test]
fn a_checkout_returned_inside_a_transaction_is_rolled_back_before_reuse() {
    run(async {
        let pool = waiter_pg::Pool::new(
            common::config(),
            waiter_pg::PoolOptions { max_size: 1, ..Default::default() },
        );
        let t = table("poisoned");
        let pid = {
            let client = pool.get().await.unwrap();
            client.batch_execute(&format!("CREATE TABLE {t} (id int)")).await.unwrap();
            // BEGIN by hand, a row, then a failure and an early return.
            client.batch_execute("BEGIN").await.unwrap();
            client.execute(&format!("INSERT INTO {t} VALUES (1)"), &[]).await.unwrap();
            assert!(client.query("SELECT 1/0", &[]).await.is_err());
            client.process_id()
        };
        let client = pool.get().await.unwrap();
        assert_eq!(client.process_id(), pid);
        // Not 25P02, and outside any transaction block (SAVEPOINT says 25P01).
        assert_eq!(count(&client, &t).await, 0);
        assert_eq!(client.batch_execute("SAVEPOINT s").await.unwrap_err().code(), Some("25P01"));
        client.batch_execute(&format!("DROP TABLE {t}")).await.unwrap();
    });
}

#[test]
fn every_task_waiting_for_a_notification_is_woken() {
    run(async {
        let listener = connect().await;
        let channel = table("chan2");
        listener.batch_execute(&format!("LISTEN {channel}")).await.unwrap();
        let lp = waiter_loop::Loop::current().unwrap();
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let client = listener.clone();
                lp.spawn(async move { client.next_notification().await.map(|n| n.payload) })
            })
            .collect();
        waiter_loop::yield_now().await;
        let sender = connect().await;
        for payload in ["one", "two"] {
            sender.execute("SELECT pg_notify($1, $2)", &[&channel, &payload]).await.unwrap();
        }
        let mut payloads: Vec<String> = Vec::new();
        for w in waiting {
            payloads.push(w.await.unwrap());
        }
        payloads.sort();
        assert_eq!(payloads, ["one", "two"]);
        // And when the connection dies, every waiter hears of it.
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let client = listener.clone();
                lp.spawn(async move { client.next_notification().await })
            })
            .collect();
        waiter_loop::yield_now().await;
        sender.execute("SELECT pg_terminate_backend($1)", &[&listener.process_id()]).await.unwrap();
        for w in waiting {
            assert!(w.await.unwrap_err().is_closed());
        }
    });
}

#[test]
fn copy_in_given_a_script_that_copies_later_fails_without_a_hang() {
    run(async {
        let client = connect().await;
        let t = table("copyscript");
        client.batch_execute(&format!("CREATE TEMP TABLE {t} (id int)")).await.unwrap();
        let lp = waiter_loop::Loop::current().unwrap();
        // A request from another clone waits behind the copy meanwhile.
        let sql = format!("SELECT 1; COPY {t} FROM STDIN");
        let copy = client.copy_in(&sql);
        let other = client.clone();
        let after = lp.spawn(async move { other.query_one("SELECT 7", &[]).await.map(|r| r.get::<i32>(0)) });
        assert!(copy.await.is_err());
        assert_eq!(after.await.unwrap(), 7);
        assert_eq!(count(&client, &t).await, 0);
    });
}
