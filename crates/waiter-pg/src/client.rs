//! The user's handle on a connection: queries (simple and extended),
//! prepared statements, notices and notifications, timeouts with real
//! cancellation. Cloning a [`Client`] shares the connection; requests from
//! all clones are pipelined in the order they are made.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use postgres_protocol::message::backend::{CommandCompleteBody, ErrorResponseBody, Message};
use postgres_protocol::message::frontend;
use waiter_loop::Loop;

use crate::config::Config;
use crate::driver::{NoticeHandler, Notification, Response, Shared};
use crate::error::{DbError, Error, ParamError};
use crate::row::{self, Row};
use crate::statement::{self, Statement};
use crate::types::{ToSql, Type};

/// Marks a response abandoned unless the caller read it to the end, so a
/// dropped or timed-out query's rows are discarded as they arrive.
pub(crate) struct AbandonOnDrop<'a>(pub(crate) &'a Rc<Response>);

impl AbandonOnDrop<'_> {
    pub(crate) fn finish(self) {
        std::mem::forget(self);
    }
}

impl Drop for AbandonOnDrop<'_> {
    fn drop(&mut self) {
        self.0.abandon();
    }
}

pub(crate) fn db_error(body: &ErrorResponseBody) -> Error {
    match DbError::parse(&mut body.fields()) {
        Ok(e) => Error::Db(Box::new(e)),
        Err(e) => Error::protocol(format!("bad ErrorResponse: {e}")),
    }
}

pub(crate) fn unexpected(m: &Message) -> Error {
    Error::protocol(format!("unexpected {}", crate::wire::name(m)))
}

/// A command tag (`INSERT 0 3`, `UPDATE 2`, `SELECT 5`, `CREATE TABLE`).
pub(crate) fn command_tag(body: &CommandCompleteBody) -> Result<&str, Error> {
    body.tag().map_err(|e| Error::protocol(e.to_string()))
}

/// The row count of a command tag; 0 when it has none.
pub(crate) fn rows_affected(body: &CommandCompleteBody) -> Result<u64, Error> {
    Ok(command_tag(body)?.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0))
}

/// The result of one statement of a simple query.
#[derive(Debug, Clone)]
pub struct SimpleQueryResult {
    /// The rows it returned (empty for commands).
    pub rows: Vec<Row>,
    /// Its command tag (`SELECT 2`, `INSERT 0 1`, `CREATE TABLE`).
    pub tag: String,
    /// The row count of its tag.
    pub rows_affected: u64,
}

/// Sends a `CancelRequest` for the query a connection is running.
#[derive(Debug, Clone)]
pub struct CancelToken {
    config: Config,
    process_id: i32,
    secret_key: i32,
}

impl CancelToken {
    /// Opens a new connection to the server and asks it to cancel whatever
    /// the token's backend runs now (the protocol offers no more precision:
    /// a query finishing meanwhile is not cancelled, the next one may be).
    ///
    /// # Errors
    ///
    /// Connecting or writing failed. Success says nothing about whether a
    /// query was cancelled.
    pub async fn cancel(&self) -> Result<(), Error> {
        let lp = current_loop()?;
        let stream = crate::wire::Stream::connect(&lp, &self.config).await?;
        let mut buf = bytes::BytesMut::new();
        frontend::cancel_request(self.process_id, self.secret_key, &mut buf);
        stream.write_all(&buf).await.map_err(Error::io)?;
        // The server closes the connection once it has handled the request.
        let mut rest = bytes::BytesMut::new();
        while stream.read_into(&mut rest).await.map_err(Error::io)? > 0 {
            rest.clear();
        }
        Ok(())
    }
}

pub(crate) fn current_loop() -> Result<Loop, Error> {
    Loop::current().ok_or_else(|| Error::Usage("waiter-pg must be used inside a running waiter loop".into()))
}

/// Owns the connection: when the last handle goes, the connection ends.
struct Handle(Rc<Shared>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.terminate();
    }
}

/// A connection to PostgreSQL.
///
/// # Examples
///
/// ```no_run
/// let lp = waiter_loop::Loop::new().unwrap();
/// lp.block_on(async {
///     let client = waiter_pg::connect("postgres://waiter@127.0.0.1:5432/waiter").await?;
///     let row = client.query_one("SELECT $1::int + 1 AS n", &[&41]).await?;
///     assert_eq!(row.get::<i32>("n"), 42);
///     Ok::<(), waiter_pg::Error>(())
/// })
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct Client {
    handle: Rc<Handle>,
    timeout: Option<Duration>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("process_id", &self.shared().process_id)
            .field("closed", &self.shared().closed().is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Client {
    pub(crate) fn new(shared: Rc<Shared>) -> Client {
        Client { handle: Rc::new(Handle(shared)), timeout: None }
    }

    fn shared(&self) -> &Shared {
        &self.handle.0
    }

    /// Whether both handles are on the same connection.
    pub(crate) fn same_connection(&self, other: &Client) -> bool {
        Rc::ptr_eq(&self.handle, &other.handle)
    }

    /// A handle on the same connection whose queries time out after `limit`:
    /// the server is sent a `CancelRequest` and the query returns
    /// [`Error::Timeout`]. `None` waits forever (the default).
    ///
    /// Only the statement the server is working on can be cancelled: one
    /// whose time runs out while it still waits behind other clones'
    /// requests on the connection returns [`Error::Timeout`] at once, yet
    /// runs when its turn comes (its result discarded). And as with libpq, a
    /// statement that ends just as the cancel is sent may let it hit the
    /// next one. A timed-out statement may or may not have taken effect.
    pub fn with_timeout(&self, limit: Option<Duration>) -> Client {
        Client { handle: self.handle.clone(), timeout: limit }
    }

    /// This handle's query timeout.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Whether the connection has failed or ended: every request now fails.
    pub fn is_closed(&self) -> bool {
        self.shared().closed().is_some()
    }

    /// The backend's process ID (for `pg_terminate_backend`, logs, ...).
    pub fn process_id(&self) -> i32 {
        self.shared().process_id
    }

    /// A server parameter as last reported (`server_version`, `TimeZone`, ...).
    pub fn parameter(&self, name: &str) -> Option<String> {
        self.shared().parameters.borrow().get(name).cloned()
    }

    /// A token that cancels this connection's running query from anywhere.
    pub fn cancel_token(&self) -> CancelToken {
        let shared = self.shared();
        CancelToken {
            config: shared.config.clone(),
            process_id: shared.process_id,
            secret_key: shared.secret_key,
        }
    }

    /// Calls `handler` with every notice the server sends (`RAISE NOTICE`, warnings).
    pub fn on_notice(&self, handler: impl Fn(&DbError) + 'static) {
        *self.shared().notice_handler.borrow_mut() = Some(Box::new(handler) as NoticeHandler);
    }

    /// The notifications received so far (`LISTEN` first), oldest first.
    pub fn take_notifications(&self) -> Vec<Notification> {
        self.shared().notifications.borrow_mut().drain(..).collect()
    }

    /// Waits for the next notification.
    ///
    /// # Errors
    ///
    /// The connection's failure.
    pub async fn next_notification(&self) -> Result<Notification, Error> {
        self.shared().next_notification().await
    }

    /// Runs `work` under this handle's timeout. `running` holds the request
    /// in progress, whose cancellation the timeout asks for.
    async fn limited<T>(
        &self,
        running: &RefCell<Option<Rc<Response>>>,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let Some(limit) = self.timeout else { return work.await };
        let lp = current_loop()?;
        match lp.timeout(limit, work).map_err(Error::io)?.await {
            Ok(result) => result,
            Err(_) => {
                let response = running.borrow_mut().take();
                // Only a request the server is working on now is worth cancelling:
                // one still queued behind others will run and be discarded.
                if response.is_some_and(|r| !r.is_done() && self.shared().is_current(&r)) {
                    let token = self.cancel_token();
                    lp.spawn(async move {
                        let _ = token.cancel().await;
                    });
                }
                Err(Error::Timeout)
            }
        }
    }

    /// Runs one or more `;`-separated statements with the simple query
    /// protocol (no parameters; every value comes back as text).
    ///
    /// # Errors
    ///
    /// The first statement's error (the server stops there and rolls back
    /// an implicit transaction); connection failures.
    pub async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryResult>, Error> {
        let running = RefCell::new(None);
        self.limited(&running, async {
            let response = self.shared().send(|buf| frontend::query(sql, buf).map_err(Error::io))?;
            *running.borrow_mut() = Some(response.clone());
            let guard = AbandonOnDrop(&response);
            let mut results = Vec::new();
            let mut columns: Rc<[row::Column]> = Rc::from(Vec::new());
            let mut rows = Vec::new();
            let mut error = None;
            loop {
                match response.next_after(&mut error).await? {
                    Message::RowDescription(body) => columns = row::columns(&body, None)?.into(),
                    Message::DataRow(body) => rows.push(Row::new(columns.clone(), body)?),
                    Message::CommandComplete(body) => {
                        let tag = command_tag(&body)?.to_string();
                        let rows_affected = rows_affected(&body)?;
                        results.push(SimpleQueryResult {
                            rows: std::mem::take(&mut rows),
                            tag,
                            rows_affected,
                        });
                    }
                    Message::EmptyQueryResponse => {}
                    Message::ErrorResponse(body) => error = Some(db_error(&body)),
                    Message::CopyInResponse(_) => self.shared().refuse_copy_in(false)?,
                    Message::CopyOutResponse(_) | Message::CopyData(_) | Message::CopyDone => {}
                    Message::ReadyForQuery(_) => break,
                    other => return Err(unexpected(&other)),
                }
            }
            guard.finish();
            match error {
                Some(e) => Err(e),
                None => Ok(results),
            }
        })
        .await
    }

    /// Runs `simple_query` and discards the results: for DDL and scripts.
    ///
    /// # Errors
    ///
    /// As [`simple_query`](Self::simple_query).
    pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.simple_query(sql).await.map(drop)
    }

    /// Prepares `sql` on this connection (once: later calls hit the cache).
    ///
    /// # Errors
    ///
    /// The server's error for invalid SQL; connection failures.
    pub async fn prepare(&self, sql: &str) -> Result<Rc<Statement>, Error> {
        let running = RefCell::new(None);
        self.limited(&running, statement::prepare_cached(self.shared(), sql, &running)).await
    }

    /// Runs `sql` with `$n` parameters (extended protocol, prepared and
    /// cached per connection) and returns all rows.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] for the wrong number of parameters,
    /// [`Error::Encode`] for a parameter that does not fit its type, the
    /// server's error, connection failures, [`Error::Timeout`].
    pub async fn query(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Row>, Error> {
        let mut rows = Vec::new();
        self.run(sql, params, |row| rows.push(row)).await?;
        Ok(rows)
    }

    /// Runs a statement that returns exactly one row, and returns it.
    ///
    /// # Errors
    ///
    /// As [`query`](Self::query); [`Error::Usage`] for zero or several rows.
    pub async fn query_one(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Row, Error> {
        match self.query_opt(sql, params).await? {
            Some(row) => Ok(row),
            None => Err(Error::Usage("query_one: the query returned no rows".into())),
        }
    }

    /// Runs a statement that returns at most one row.
    ///
    /// # Errors
    ///
    /// As [`query`](Self::query); [`Error::Usage`] for several rows.
    pub async fn query_opt(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Option<Row>, Error> {
        let (mut first, mut count) = (None, 0);
        self.run(sql, params, |row| {
            count += 1;
            first.get_or_insert(row);
        })
        .await?;
        if count > 1 {
            return Err(Error::Usage(format!("query_opt: the query returned {count} rows")));
        }
        Ok(first)
    }

    /// Runs a statement and returns the number of rows it affected.
    ///
    /// # Errors
    ///
    /// As [`query`](Self::query).
    pub async fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> Result<u64, Error> {
        self.run(sql, params, drop).await
    }

    /// Prepare (cached), Bind, Execute, Sync; `on_row` sees each row as it
    /// is read. Returns the tag's row count.
    async fn run(&self, sql: &str, params: &[&dyn ToSql], on_row: impl FnMut(Row)) -> Result<u64, Error> {
        let running = RefCell::new(None);
        // Every connection of a busy server holds this future while its
        // query runs: the timeout's state is boxed, and only when there is one.
        if self.timeout.is_none() {
            return self.run_unlimited(sql, params, on_row, &running).await;
        }
        Box::pin(self.limited(&running, self.run_unlimited(sql, params, on_row, &running))).await
    }

    async fn run_unlimited(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        mut on_row: impl FnMut(Row),
        running: &RefCell<Option<Rc<Response>>>,
    ) -> Result<u64, Error> {
        let statement = match statement::cached(self.shared(), sql) {
            Some(statement) => statement,
            // Boxed: preparing is rare (once per connection and SQL text) and its future large.
            None => Box::pin(statement::prepare_cached(self.shared(), sql, running)).await?,
        };
        let response = self.shared().send(|buf| {
            encode_bind(&statement, params, buf)?;
            frontend::execute("", 0, buf).map_err(Error::io)?;
            frontend::sync(buf);
            Ok(())
        })?;
        *running.borrow_mut() = Some(response.clone());
        let guard = AbandonOnDrop(&response);
        let mut affected = 0;
        let mut error = None;
        loop {
            match response.next_after(&mut error).await? {
                Message::BindComplete | Message::EmptyQueryResponse => {}
                Message::DataRow(body) => on_row(Row::new(statement.columns.clone(), body)?),
                Message::CommandComplete(body) => affected = rows_affected(&body)?,
                Message::ErrorResponse(body) => error = Some(db_error(&body)),
                Message::ReadyForQuery(_) => break,
                Message::CopyInResponse(_) => self.shared().refuse_copy_in(true)?,
                Message::CopyOutResponse(_) | Message::CopyData(_) | Message::CopyDone => {}
                other => return Err(unexpected(&other)),
            }
        }
        guard.finish();
        match error {
            Some(e) => {
                // The statement is stale on the server: its result type changed
                // under it (0A000, "cached plan must not change result type")
                // or it was deallocated (26000). Prepare afresh next time.
                if matches!(e.code(), Some("0A000" | "26000")) {
                    statement::forget(self.shared(), sql);
                }
                Err(e)
            }
            None => Ok(affected),
        }
    }

    /// Starts a transaction (`BEGIN`); it rolls back unless committed.
    ///
    /// # Errors
    ///
    /// As [`simple_query`](Self::simple_query).
    pub async fn transaction(&self) -> Result<crate::Transaction<'_>, Error> {
        crate::transaction::begin(self).await
    }

    /// Starts `COPY ... FROM STDIN` (`sql` is the whole COPY statement);
    /// write the data to the returned [`CopyIn`](crate::CopyIn) and finish it.
    ///
    /// # Errors
    ///
    /// The server's error for the COPY statement; connection failures.
    pub async fn copy_in(&self, sql: &str) -> Result<crate::CopyIn, Error> {
        crate::copy::start(self.handle.0.clone(), self.clone(), sql).await
    }

    /// Whether the connection may be left inside a transaction block that
    /// nobody will end (see `Shared::may_be_in_transaction`).
    pub(crate) fn may_be_in_transaction(&self) -> bool {
        self.shared().may_be_in_transaction()
    }

    /// Queues `sql` as a simple query whose result nobody reads (a rollback
    /// in a `drop`); `effect` says whether it ends the transaction block.
    pub(crate) fn send_and_forget(&self, sql: &str, effect: Forgotten) {
        if let Ok(response) = self.shared().send(|buf| frontend::query(sql, buf).map_err(Error::io)) {
            response.abandon();
            if effect == Forgotten::EndsTransaction {
                response.mark_ends_transaction();
            }
        }
    }

    /// The connection itself, for a closing pool to wait on its end.
    pub(crate) fn connection(&self) -> Rc<Shared> {
        self.handle.0.clone()
    }
}

/// What a statement queued by [`Client::send_and_forget`] does to the
/// session's transaction block: the pool hands a connection on without a
/// rollback only when it knows the block is ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forgotten {
    /// A `ROLLBACK`: whatever the requests before it left open, the session
    /// is outside any transaction block once it has run.
    EndsTransaction,
    /// Anything else (a savepoint's rollback keeps the outer block open).
    MayLeaveTransaction,
}

/// Appends Bind for the unnamed portal: parameters in the formats their
/// `ToSql` chose, results in the formats the statement's columns chose.
fn encode_bind(statement: &Statement, params: &[&dyn ToSql], buf: &mut bytes::BytesMut) -> Result<(), Error> {
    if params.len() != statement.params.len() {
        return Err(Error::Usage(format!(
            "the statement has {} parameters but {} were given",
            statement.params.len(),
            params.len()
        )));
    }
    let failed: RefCell<Option<Error>> = RefCell::new(None);
    let formats = params.iter().zip(&statement.params).map(|(p, &ty)| p.format(ty) as i16);
    let values = params.iter().zip(&statement.params).enumerate();
    let result = frontend::bind(
        "",
        &statement.name,
        formats,
        values,
        |(i, (param, &ty)): (usize, (&&dyn ToSql, &Type)), buf| {
            param.to_sql(ty, buf).map_err(|reason| {
                *failed.borrow_mut() = Some(Error::Encode(Box::new(ParamError {
                    index: i + 1,
                    type_name: ty.name(),
                    reason: reason.clone(),
                })));
                reason.into()
            })
        },
        statement.columns.iter().map(|c| c.format as i16),
        buf,
    );
    match result {
        Ok(()) => Ok(()),
        Err(frontend::BindError::Conversion(e)) => {
            Err(failed.into_inner().unwrap_or_else(|| Error::Usage(e.to_string())))
        }
        Err(frontend::BindError::Serialization(e)) => Err(Error::io(e)),
    }
}
