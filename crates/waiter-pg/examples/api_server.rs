//! The first seed's API server: HTTP on waiter-http's `app`, PostgreSQL through a waiter-pg pool.
//!
//!     eval "$(scripts/pg/cluster.sh start)"     # a throwaway PostgreSQL (sets WAITER_PG_URL)
//!     cargo run --release -p waiter-pg --example api_server -- [--listen 127.0.0.1:8080] [--pool 50] [--pipeline 2] [--db URL]
//!     curl localhost:8080/users/1
//!     curl -d '{"name":"Ada","email":"ada@example.com"}' localhost:8080/users
//!     curl localhost:8080/slow                  # SELECT pg_sleep(0.02), the seed's 20 ms query
//!
//! Routes: `GET /users/{id}` → the row as JSON or 404 (the lookups of
//! concurrent requests pipelined on one shared connection); `POST /users` with a
//! JSON body `{"name": ..., "email": ...}` → 201, the new row and its
//! `Location` (bad JSON, or a name or email PostgreSQL cannot store → 400
//! with a message); `GET /slow` → 20 ms in PostgreSQL, through
//! `Pool::get_pipelined` (`--pipeline` statements queued per connection at
//! most, so each backend starts the next sleep as soon as one ends; 1 makes
//! it an exclusive checkout, as node-postgres's pool does); `GET /pool` → the
//! pool's metrics. The database URL is `--db`, else `$WAITER_PG_URL`, else
//! the cluster script's default `postgres://waiter@127.0.0.1:15432/waiter`.
//! On first start it creates and seeds its `users` table.
//!
//! A database that cannot be reached (down, restarting, out of
//! connections, or the pool's line longer than 30 s) is 503 with the
//! reason: the pool waits out a restart for up to 2 s, then fails at once
//! while the server stays down, and serves again within a second of its
//! return.
//!
//! HEAD is answered as GET without the body, as Express does; a method a
//! route does not have is 405 with `Allow` (`/users/{id}` included), an
//! unknown route 404.

use std::net::SocketAddr;
use std::time::Duration;

use waiter_http::app::{App, AppConfig, Request, Response};
use waiter_http::{HeaderValue, Status};
use waiter_pg::{Error, Pool, PoolOptions, Row, Timestamp};

const DEFAULT_DB: &str = "postgres://waiter@127.0.0.1:15432/waiter";

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS users (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    email text,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO users (name, email)
SELECT 'user ' || g, 'user' || g || '@example.com' FROM generate_series(1, 1000) g
WHERE NOT EXISTS (SELECT 1 FROM users);";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen: SocketAddr = "127.0.0.1:8080".parse()?;
    let mut pool_size = 50;
    let mut pipeline = 2;
    let mut db = std::env::var("WAITER_PG_URL").unwrap_or_else(|_| DEFAULT_DB.to_string());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => listen = value()?.parse()?,
            "--pool" => pool_size = value()?.parse()?,
            "--pipeline" => pipeline = value()?.parse()?,
            "--db" => db = value()?,
            _ => {
                return Err(format!("unknown argument {arg:?} (see the top of examples/api_server.rs)").into())
            }
        }
    }
    // 10,000 clients need 10,000 descriptors.
    let (_, hard) = waiter_loop::nofile_limit()?;
    waiter_loop::set_nofile_limit(hard)?;

    let lp = waiter_loop::Loop::new()?;
    let options = PoolOptions {
        max_size: pool_size,
        checkout_timeout: Duration::from_secs(30),
        pipeline_depth: pipeline,
        ..Default::default()
    };
    let pool = Pool::new(db.parse()?, options);
    lp.block_on(async {
        pool.get().await?.batch_execute(SCHEMA).await?;
        Ok::<(), Error>(())
    })
    .map_err(|e| format!("database {db}: {e}"))?;

    let app = App::bind(&lp, listen, AppConfig { backlog: 16384, ..AppConfig::default() }, move |req| {
        let pool = pool.clone();
        async move { route(&pool, req).await.unwrap_or_else(error_response) }
    })?;
    eprintln!(
        "api_server: listening on http://{} (pool of {pool_size}, /slow pipeline depth {pipeline}, database {db})",
        app.local_addr()?
    );
    lp.block_on(app.run())?;
    Ok(())
}

fn json_error(status: Status, message: &str) -> Response {
    Response::json(status, serde_json::json!({ "error": message }).to_string())
}

fn error_response(e: Error) -> Response {
    // Unavailable, not broken: no connection in time, the server unreachable
    // or gone (`is_closed`: I/O errors, FATAL), shutting down or starting
    // (57P0x), out of connections (53300), or the connection lost (08xxx).
    let unavailable = matches!(e, Error::PoolTimeout | Error::Timeout)
        || e.is_closed()
        || e.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08") || c == "53300");
    if unavailable {
        json_error(Status::SERVICE_UNAVAILABLE, &format!("database unavailable: {e}"))
    } else {
        json_error(Status::INTERNAL_SERVER_ERROR, &e.to_string())
    }
}

async fn route(pool: &Pool, req: Request) -> Result<Response, Error> {
    let path = req.path();
    // HEAD is GET without the body (the server drops it).
    match (req.method.as_str(), path) {
        ("GET" | "HEAD", "/slow") => {
            // No session state: queued on a connection behind at most
            // `--pipeline` - 1 others, never idling the backend for a round trip.
            pool.get_pipelined().await?.execute("SELECT pg_sleep(0.02)", &[]).await?;
            Ok(Response::json(Status::OK, "{\"slept_ms\":20}"))
        }
        ("GET" | "HEAD", "/pool") => {
            let s = pool.status();
            let body = serde_json::json!({
                "size": s.size, "in_use": s.in_use, "idle": s.idle, "waiting": s.waiting, "shared": s.shared, "pipelined": s.pipelined,
                "connects": s.connects, "connect_failures": s.connect_failures,
                "discarded": s.discarded, "timeouts": s.timeouts,
            });
            Ok(Response::json(Status::OK, body.to_string()))
        }
        // Boxed: rare here, and every connection waiting on /slow would carry its state.
        ("POST", "/users") => Box::pin(create_user(pool, &req.body)).await,
        ("GET" | "HEAD", _) if path.starts_with("/users/") => {
            let Ok(id) = path["/users/".len()..].parse::<i64>() else {
                return Ok(json_error(Status::NOT_FOUND, "no such user"));
            };
            // A short lookup without session state: pipelined with the other
            // requests' lookups on a shared connection (Pool::get_shared), so
            // one backend answers them back to back.
            let client = pool.get_shared().await?;
            let row = client
                .query_opt("SELECT id, name, email, created_at FROM users WHERE id = $1", &[&id])
                .await?;
            drop(client);
            Ok(match row {
                Some(row) => Response::json(Status::OK, user_json(&row)?),
                None => json_error(Status::NOT_FOUND, "no such user"),
            })
        }
        _ => {
            // RFC 9110 §15.5.6: a 405 names the methods the resource has.
            let allow = match path {
                "/users" => "POST",
                "/slow" | "/pool" => "GET, HEAD",
                _ if path.starts_with("/users/") => "GET, HEAD",
                _ => return Ok(json_error(Status::NOT_FOUND, "no such route")),
            };
            let allow = HeaderValue::from_static(allow);
            Ok(json_error(Status::METHOD_NOT_ALLOWED, "method not allowed").with_header("Allow", allow))
        }
    }
}

async fn create_user(pool: &Pool, body: &[u8]) -> Result<Response, Error> {
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Ok(json_error(Status::BAD_REQUEST, &format!("invalid JSON: {e}"))),
    };
    let Some(name) = value.get("name").and_then(|n| n.as_str()).filter(|n| !n.is_empty()) else {
        return Ok(json_error(Status::BAD_REQUEST, "\"name\" must be a non-empty string"));
    };
    let email = match value.get("email") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(e)) => Some(e.as_str()),
        Some(_) => return Ok(json_error(Status::BAD_REQUEST, "\"email\" must be a string")),
    };
    // PostgreSQL's text cannot hold U+0000 (it would answer 22021, a 500).
    if name.contains('\0') || email.is_some_and(|e| e.contains('\0')) {
        return Ok(json_error(Status::BAD_REQUEST, "\"name\" and \"email\" must not contain U+0000"));
    }
    let client = pool.get().await?;
    let row = client
        .query_one(
            "INSERT INTO users (name, email) VALUES ($1, $2) RETURNING id, name, email, created_at",
            &[&name, &email],
        )
        .await?;
    let id: i64 = row.try_get(0)?;
    let location = HeaderValue::new(format!("/users/{id}")).expect("a path of digits is a header value");
    Ok(Response::json(Status::CREATED, user_json(&row)?).with_header("Location", location))
}

/// A user row (`id, name, email, created_at`) as JSON. Rendered here from the binary columns rather than by
/// `row_to_json` in PostgreSQL: the database's CPU is the scarcer one (it
/// shares its core with the load generator in bench/pg), and formatting a
/// timestamptz as text is most of what `row_to_json` costs it.
fn user_json(row: &Row) -> Result<Vec<u8>, Error> {
    #[derive(serde::Serialize)]
    struct User {
        id: i64,
        name: String,
        email: Option<String>,
        /// RFC 3339, UTC.
        created_at: String,
    }
    let created: Timestamp = row.try_get(3)?;
    let user = User {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        email: row.try_get(2)?,
        created_at: format!("{}Z", created.to_string().replacen(' ', "T", 1)),
    };
    Ok(serde_json::to_vec(&user).expect("a User always serializes"))
}
