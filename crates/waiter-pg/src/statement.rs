//! Prepared statements and the per-connection cache that prepares each SQL
//! text once, however many callers ask for it at the same time.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use crate::driver::{Response, Shared};
use crate::error::Error;
use crate::row::{self, Column};
use crate::types::{Format, Type};

/// Statements kept per connection. Past this, the cache forgets one (and
/// closes it on the server) before preparing another, so SQL built on the
/// fly cannot grow the server's memory without bound.
const CACHE_CAPACITY: usize = 512;

/// A statement prepared on one connection.
#[derive(Debug)]
pub struct Statement {
    pub(crate) name: String,
    pub(crate) params: Vec<Type>,
    pub(crate) columns: Rc<[Column]>,
}

impl Statement {
    /// The types of the statement's `$n` parameters, as the server inferred them.
    pub fn params(&self) -> &[Type] {
        &self.params
    }

    /// The columns its results have (with the formats they will arrive in).
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }
}

/// A preparation others are waiting on.
#[derive(Default)]
struct Preparing {
    result: RefCell<Option<Result<Rc<Statement>, Error>>>,
    waiters: RefCell<Vec<Waker>>,
    /// Set if the preparing caller went away before finishing.
    gave_up: Cell<bool>,
}

enum Slot {
    Ready(Rc<Statement>),
    Preparing(Rc<Preparing>),
}

/// The per-connection cache of prepared statements, by SQL text.
#[derive(Default)]
pub(crate) struct Cache {
    slots: RefCell<HashMap<String, Slot>>,
    next_name: Cell<u64>,
}

/// Finishes a preparation for its waiters, even when the preparing future is dropped.
struct Announce<'a> {
    cache: &'a Cache,
    sql: &'a str,
    preparing: Rc<Preparing>,
}

impl Drop for Announce<'_> {
    fn drop(&mut self) {
        let result = self.preparing.result.borrow().clone();
        let mut slots = self.cache.slots.borrow_mut();
        match result {
            Some(Ok(statement)) => {
                slots.insert(self.sql.to_string(), Slot::Ready(statement));
            }
            _ => {
                slots.remove(self.sql);
                self.preparing.gave_up.set(true);
            }
        }
        for w in self.preparing.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

/// The cached statement for `sql`, if it is prepared.
pub(crate) fn cached(shared: &Shared, sql: &str) -> Option<Rc<Statement>> {
    match shared.statements.slots.borrow().get(sql) {
        Some(Slot::Ready(statement)) => Some(statement.clone()),
        _ => None,
    }
}

/// Returns the cached statement for `sql`, preparing it if needed; a
/// preparation this call sends is put in `running`, so that a timeout can
/// cancel it (Parse may wait, on a lock say, as long as any query).
pub(crate) async fn prepare_cached(
    shared: &Shared,
    sql: &str,
    running: &RefCell<Option<Rc<Response>>>,
) -> Result<Rc<Statement>, Error> {
    loop {
        let waiting = match shared.statements.slots.borrow().get(sql) {
            Some(Slot::Ready(statement)) => return Ok(statement.clone()),
            Some(Slot::Preparing(p)) => Some(p.clone()),
            None => None,
        };
        let Some(preparing) = waiting else { break };
        let outcome = poll_fn(|cx| {
            if let Some(result) = &*preparing.result.borrow() {
                return Poll::Ready(Some(result.clone()));
            }
            if preparing.gave_up.get() {
                return Poll::Ready(None);
            }
            preparing.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
        .await;
        if let Some(result) = outcome {
            return result;
        }
    }
    evict_one_if_full(shared);
    let preparing = Rc::new(Preparing::default());
    shared.statements.slots.borrow_mut().insert(sql.to_string(), Slot::Preparing(preparing.clone()));
    let announce = Announce { cache: &shared.statements, sql, preparing };
    let n = shared.statements.next_name.get();
    shared.statements.next_name.set(n + 1);
    let result = prepare(shared, &format!("w{n}"), sql, running).await.map(Rc::new);
    *announce.preparing.result.borrow_mut() = Some(result.clone());
    drop(announce);
    result
}

/// Drops `sql`'s cached statement (if ready) so the next use prepares it again.
pub(crate) fn forget(shared: &Shared, sql: &str) {
    let mut slots = shared.statements.slots.borrow_mut();
    if matches!(slots.get(sql), Some(Slot::Ready(_))) {
        slots.remove(sql);
    }
}

fn evict_one_if_full(shared: &Shared) {
    let mut slots = shared.statements.slots.borrow_mut();
    if slots.len() < CACHE_CAPACITY {
        return;
    }
    let victim = slots.iter().find_map(|(sql, slot)| match slot {
        Slot::Ready(s) => Some((sql.clone(), s.name.clone())),
        Slot::Preparing(_) => None,
    });
    if let Some((sql, name)) = victim {
        slots.remove(&sql);
        drop(slots);
        // Fire and forget: a failure here shows up on the next request anyway.
        if let Ok(response) = shared.send(|buf| {
            frontend::close(b'S', &name, buf).map_err(Error::io)?;
            frontend::sync(buf);
            Ok(())
        }) {
            response.abandon();
        }
    }
}

/// Parse + Describe + Sync: prepares `sql` as statement `name`; the request
/// goes in `running` while it is answered.
pub(crate) async fn prepare(
    shared: &Shared,
    name: &str,
    sql: &str,
    running: &RefCell<Option<Rc<Response>>>,
) -> Result<Statement, Error> {
    let response = shared.send(|buf| {
        frontend::parse(name, sql, std::iter::empty(), buf).map_err(Error::io)?;
        frontend::describe(b'S', name, buf).map_err(Error::io)?;
        frontend::sync(buf);
        Ok(())
    })?;
    *running.borrow_mut() = Some(response.clone());
    let guard = crate::client::AbandonOnDrop(&response);
    let mut params = Vec::new();
    let mut columns = Vec::new();
    let mut error = None;
    loop {
        match response.next_after(&mut error).await? {
            Message::ParseComplete | Message::NoData => {}
            Message::ParameterDescription(body) => {
                params = body.parameters().map(|oid| Ok(Type(oid))).collect().map_err(Error::io)?;
            }
            Message::RowDescription(body) => {
                let choose = |ty: Type| if ty.binary_result() { Format::Binary } else { Format::Text };
                columns = row::columns(&body, Some(&choose))?;
            }
            Message::ErrorResponse(body) => error = Some(crate::client::db_error(&body)),
            Message::ReadyForQuery(_) => break,
            other => return Err(crate::client::unexpected(&other)),
        }
    }
    guard.finish();
    match error {
        Some(e) => Err(e),
        None => Ok(Statement { name: name.to_string(), params, columns: columns.into() }),
    }
}
