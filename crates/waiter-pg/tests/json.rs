//! json and jsonb through serde (the `serde` feature): `Json<T>` and
//! `serde_json::Value` as parameters and columns, in the binary (extended
//! protocol) and text (simple protocol) formats, NULLs, and decoding errors
//! that name the column.
#![cfg(feature = "serde")]

mod common;

use common::{connect, run};
use serde::{Deserialize, Serialize};
use serde_json::json;
use waiter_pg::{Error, Json};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Settings {
    theme: String,
    size: u32,
    tags: Vec<String>,
}

fn settings() -> Settings {
    Settings { theme: "dark \"night\"".into(), size: 12, tags: vec!["ü".into(), "b".into()] }
}

#[test]
fn a_struct_round_trips_through_json_and_jsonb() {
    run(async {
        let client = connect().await;
        let value = Json(settings());
        let row = client.query_one("SELECT $1::jsonb AS b, $1::json AS j", &[&value]).await.unwrap();
        assert_eq!(row.get::<Json<Settings>>("b").0, settings());
        assert_eq!(row.get::<Json<Settings>>("j").0, settings());
        // The server parsed it: jsonb's operators see the fields.
        let row = client
            .query_one("SELECT $1::jsonb ->> 'theme', ($1::jsonb -> 'size')::int", &[&value])
            .await
            .unwrap();
        assert_eq!((row.get::<String>(0), row.get::<i32>(1)), ("dark \"night\"".to_string(), 12));
        // To a text parameter it goes as JSON text.
        let row = client.query_one("SELECT $1::text", &[&Json([1, 2])]).await.unwrap();
        assert_eq!(row.get::<String>(0), "[1,2]");
    });
}

#[test]
fn values_round_trip_and_columns_read_in_the_text_format() {
    run(async {
        let client = connect().await;
        let value = json!({"a": [1, 2.5, null], "b": {"c": true}});
        let row = client.query_one("SELECT $1::jsonb, $2::json", &[&value, &value]).await.unwrap();
        assert_eq!(row.get::<serde_json::Value>(0), value);
        assert_eq!(row.get::<serde_json::Value>(1), value);
        let results = client
            .simple_query(r#"SELECT '{"theme": "x", "size": 1, "tags": []}'::jsonb AS s, NULL::json AS n"#)
            .await
            .unwrap();
        let row = &results[0].rows[0];
        assert_eq!(row.columns()[0].format, waiter_pg::types::Format::Text);
        assert_eq!(row.get::<Json<Settings>>("s").0.theme, "x");
        assert_eq!(row.get::<Option<Json<Settings>>>("n"), None);
        assert!(row.try_get::<Json<Settings>>("n").is_err());
    });
}

#[test]
fn json_that_does_not_fit_names_the_column() {
    run(async {
        let client = connect().await;
        let row = client.query_one(r#"SELECT '{"theme": 5}'::jsonb AS prefs, 1 AS n"#, &[]).await.unwrap();
        let e = row.try_get::<Json<Settings>>("prefs").unwrap_err();
        let msg = e.to_string();
        assert!(matches!(&e, Error::Decode(d) if d.column == 0), "{msg}");
        assert!(msg.contains("\"prefs\"") && msg.contains("jsonb") && msg.contains("Settings"), "{msg}");
        let msg = row.try_get::<serde_json::Value>("n").unwrap_err().to_string();
        assert!(msg.contains("not json"), "{msg}");
    });
}
