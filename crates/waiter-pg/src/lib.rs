//! waiter-pg: an asynchronous PostgreSQL client on the waiter event loop.
//!
//! The first seed's API server waits ~20 ms on a database query for each of
//! its 10,000 connections while the loop serves everyone else: this crate is
//! the driver that sends the query and hands back a future. It speaks the
//! frontend/backend protocol (v3) over TCP or a Unix socket, with messages
//! encoded and decoded by `postgres-protocol`, and runs entirely on the
//! loop's thread (no tokio, no locks).
//!
//! - [`connect`]: URL or `key=value` settings with libpq's names (TCP
//!   keepalive on by default, a `.pgpass` password file); libpq's `PG*`
//!   environment variables when asked ([`Config::from_env`]); trust,
//!   cleartext, md5 and SCRAM-SHA-256 authentication.
//! - [`Client`]: simple queries (several statements, text results) and
//!   extended queries with `$n` parameters, prepared once per connection and
//!   cached; any number of clones pipeline their requests on one connection.
//! - [`Row`]: typed access by index or name ([`FromSql`], [`ToSql`]);
//!   json/jsonb through serde with the `serde` feature (on by default): `Json<T>`.
//! - [`Transaction`], [`CopyIn`], timeouts that send a real `CancelRequest`.
//! - [`Pool`]: a bounded pool with a FIFO wait queue, health checks,
//!   reconnection with backoff and metrics; [`Pool::get_shared`] pipelines
//!   many callers' short queries on one of its connections, and
//!   [`Pool::get_pipelined`] queues a second caller's statement on each busy
//!   connection, so no backend waits a round trip between two statements.
//!   [`Pool::close`] ends it (node-postgres's `pool.end()`).
//!
//! # Examples
//!
//! ```no_run
//! let lp = waiter_loop::Loop::new().unwrap();
//! lp.block_on(async {
//!     let client = waiter_pg::connect("host=/var/run/postgresql user=app dbname=app").await?;
//!     client.batch_execute("CREATE TEMP TABLE t (id int, name text)").await?;
//!     client.execute("INSERT INTO t VALUES ($1, $2)", &[&1, &"one"]).await?;
//!     for row in client.query("SELECT id, name FROM t", &[]).await? {
//!         println!("{} {}", row.get::<i32>("id"), row.get::<String>("name"));
//!     }
//!     Ok::<(), waiter_pg::Error>(())
//! })
//! .unwrap();
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod client;
mod config;
mod connect;
mod copy;
mod driver;
mod error;
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "serde")]
mod json;
mod lane;
mod pool;
mod row;
mod statement;
mod transaction;
pub mod types;
mod wire;

pub use client::{CancelToken, Client, SimpleQueryResult};
pub use config::{Config, Host};
pub use connect::{connect, connect_with};
pub use copy::CopyIn;
pub use driver::Notification;
pub use error::{ColumnError, DbError, Error, ParamError, Result};
#[cfg(feature = "serde")]
pub use json::Json;
pub use lane::SharedClient;
pub use pool::{Closing, Pool, PoolOptions, PoolStatus, PooledClient};
pub use row::{Column, Row, RowIndex};
pub use statement::Statement;
pub use transaction::Transaction;
pub use types::{Date, FromSql, Timestamp, ToSql, Type, Uuid};
pub use wire::decode as decode_message;
