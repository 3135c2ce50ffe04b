//! Typed rows and parameters for each supported type, in both the binary
//! (extended protocol) and text (simple protocol) formats, with NULLs and
//! decoding errors that name the column.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::{connect, run};
use waiter_pg::{Date, Error, Timestamp, Uuid};

const SQL: &str = "SELECT true AS b, 7::int2 AS i2, 70000::int4 AS i4, 9000000000::int8 AS i8, \
    1.5::float4 AS f4, 2.25::float8 AS f8, 12345.678901234567890::numeric AS n, 'hé'::text AS t, \
    'v'::varchar AS v, '\\xdeadbeef'::bytea AS by, '2024-02-29 13:14:15.5'::timestamp AS ts, \
    '2024-02-29 13:14:15.5+02'::timestamptz AS tz, '2024-02-29'::date AS d, \
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, '{\"a\": 1}'::json AS j, '{\"a\": 1}'::jsonb AS jb, \
    NULL::int AS nothing";

fn check(row: &waiter_pg::Row) {
    assert!(row.get::<bool>("b"));
    assert_eq!(row.get::<i16>("i2"), 7);
    assert_eq!(row.get::<i32>("i4"), 70000);
    assert_eq!(row.get::<i64>("i8"), 9_000_000_000);
    assert_eq!(row.get::<f32>("f4"), 1.5);
    assert_eq!(row.get::<f64>("f8"), 2.25);
    assert_eq!(row.get::<String>("n"), "12345.678901234567890");
    assert_eq!(row.get::<String>("t"), "hé");
    assert_eq!(row.get::<String>("v"), "v");
    assert_eq!(row.get::<Vec<u8>>("by"), [0xde, 0xad, 0xbe, 0xef]);
    let ts = row.get::<Timestamp>("ts");
    assert_eq!(ts.to_string(), "2024-02-29 13:14:15.500000");
    let tz = row.get::<Timestamp>("tz");
    assert_eq!(tz.to_string(), "2024-02-29 11:14:15.500000");
    assert_eq!(row.get::<std::time::SystemTime>("tz"), UNIX_EPOCH + Duration::from_millis(1_709_205_255_500));
    assert_eq!(row.get::<Date>("d"), Date::from_ymd(2024, 2, 29));
    assert_eq!(row.get::<Uuid>("u").to_string(), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    assert_eq!(row.get::<String>("j"), "{\"a\": 1}");
    assert_eq!(row.get::<String>("jb"), "{\"a\": 1}");
    assert_eq!(row.get::<Option<i32>>("nothing"), None);
    assert_eq!(row.get::<Option<i32>>("i4"), Some(70000));
}

#[test]
fn every_type_reads_from_the_binary_format() {
    run(async {
        let client = connect().await;
        client.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
        let row = client.query_one(SQL, &[]).await.unwrap();
        assert_eq!(row.columns()[0].format, waiter_pg::types::Format::Binary);
        check(&row);
    });
}

#[test]
fn every_type_reads_from_the_text_format() {
    run(async {
        let client = connect().await;
        client.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
        let results = client.simple_query(SQL).await.unwrap();
        let row = &results[0].rows[0];
        assert_eq!(row.columns()[0].format, waiter_pg::types::Format::Text);
        check(row);
    });
}

#[test]
fn parameters_round_trip_for_each_type() {
    run(async {
        let client = connect().await;
        let ts = Timestamp::from_unix_micros(1_700_000_000_123_456);
        let uuid: Uuid = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".parse().unwrap();
        let date = Date::from_ymd(1999, 12, 31);
        let bytes = vec![0u8, 1, 2, 255];
        let none: Option<i32> = None;
        let row = client
            .query_one(
                "SELECT $1::bool, $2::int2, $3::int4, $4::int8, $5::float4, $6::float8, $7::numeric, $8::text, \
                 $9::bytea, $10::timestamptz, $11::date, $12::uuid, $13::jsonb, $14::int, $15::timestamp",
                &[&false, &-3i16, &i32::MIN, &i64::MAX, &0.5f32, &-1e300, &"3.14159", &"ünïcode", &bytes, &ts, &date, &uuid, &"[1, 2]", &none, &ts],
            )
            .await
            .unwrap();
        assert!(!row.get::<bool>(0));
        assert_eq!(row.get::<i16>(1), -3);
        assert_eq!(row.get::<i32>(2), i32::MIN);
        assert_eq!(row.get::<i64>(3), i64::MAX);
        assert_eq!(row.get::<f32>(4), 0.5);
        assert_eq!(row.get::<f64>(5), -1e300);
        assert_eq!(row.get::<String>(6), "3.14159");
        assert_eq!(row.get::<String>(7), "ünïcode");
        assert_eq!(row.get::<Vec<u8>>(8), bytes);
        assert_eq!(row.get::<Timestamp>(9), ts);
        assert_eq!(row.get::<Date>(10), date);
        assert_eq!(row.get::<Uuid>(11), uuid);
        assert_eq!(row.get::<String>(12), "[1, 2]");
        assert_eq!(row.get::<Option<i32>>(13), None);
        assert_eq!(row.get::<Timestamp>(14), ts);
        // Integers convert to wider and numeric parameters.
        let row = client.query_one("SELECT $1::int8, $2::numeric", &[&5i32, &7i32]).await.unwrap();
        assert_eq!((row.get::<i64>(0), row.get::<String>(1)), (5, "7".to_string()));
    });
}

#[test]
fn decoding_errors_name_the_column_and_types() {
    run(async {
        let client = connect().await;
        let row = client
            .query_one("SELECT 'x'::text AS label, NULL::int AS missing, 300::int4 AS big", &[])
            .await
            .unwrap();
        let e = row.try_get::<i32>("label").unwrap_err();
        let msg = e.to_string();
        assert!(matches!(&e, Error::Decode(d) if d.column == 0), "{msg}");
        assert!(msg.contains("\"label\"") && msg.contains("text") && msg.contains("i32"), "{msg}");
        let msg = row.try_get::<i32>("missing").unwrap_err().to_string();
        assert!(msg.contains("NULL") && msg.contains("missing"), "{msg}");
        let msg = row.try_get::<i16>(2).unwrap_err().to_string();
        assert!(msg.contains("int4") && msg.contains("i16"), "{msg}");
        assert!(matches!(row.try_get::<i32>("nope"), Err(Error::Usage(_))));
        assert!(matches!(row.try_get::<i32>(9), Err(Error::Usage(_))));
    });
}

#[test]
fn encoding_errors_name_the_parameter() {
    run(async {
        let client = connect().await;
        let e = client.query("SELECT $1::int2", &[&100_000i32]).await.unwrap_err();
        assert!(matches!(&e, Error::Encode(p) if p.index == 1), "{e}");
        assert!(e.to_string().contains("$1") && e.to_string().contains("int2"), "{e}");
        // Nothing half-sent: the connection still works.
        assert_eq!(client.query_one("SELECT $1::int2", &[&5i16]).await.unwrap().get::<i16>(0), 5);
    });
}
