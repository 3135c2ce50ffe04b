//! Shared connections ("lanes"): many callers pipelining their queries on
//! one of the pool's connections at the same time, instead of each checking
//! a connection out for itself.
//!
//! A pooled checkout gives a caller a connection to itself: with short
//! queries the database then spends most of its time waking up one backend
//! per query (a read, a transaction, a write and a sleep each time). On a
//! lane the requests of all its callers travel back to back in one write,
//! and one backend answers them in a row. A lane is a connection checked out
//! of the pool like any other, so the pool's size bound still holds; it goes
//! back to the pool as soon as its last caller is done.
//!
//! What a lane cannot do: hold session state. Its callers' statements
//! interleave, so `BEGIN`, `SET`, `LISTEN` or a temporary table would leak
//! into the others' queries; and a long statement holds up everyone queued
//! behind it. Those belong on a [`Pool::get`] checkout.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::poll_fn;
use std::ops::Deref;
use std::rc::Rc;
use std::task::{Poll, Waker};

use crate::client::Client;
use crate::error::Error;
use crate::pool::{Pool, PooledClient};

/// Callers on a lane before another lane is opened (while fewer than
/// `PoolOptions::shared_connections` are open): one backend answering a
/// deep pipeline is cheaper for the database than several answering
/// shallow ones, so lanes fill before they spread.
const SPREAD_AT: usize = 32;

enum State {
    /// Its first caller is checking the connection out.
    Opening(Vec<Waker>),
    Open(PooledClient),
    /// The checkout failed with this error; nobody else joins.
    Failed(Error),
    /// The opener went away before the checkout finished; joiners retry.
    Abandoned,
}

/// One shared connection and the callers on it.
pub(crate) struct Lane {
    state: RefCell<State>,
    /// Callers holding a [`SharedClient`] on it (the opener included).
    users: Cell<usize>,
}

/// The lanes of one pool.
#[derive(Default)]
pub(crate) struct Lanes(RefCell<Vec<Rc<Lane>>>);

impl Lanes {
    /// Forgets `lane`: no caller joins it any more.
    fn remove(&self, lane: &Rc<Lane>) {
        self.0.borrow_mut().retain(|l| !Rc::ptr_eq(l, lane));
    }

    /// How many lanes are open or opening.
    pub(crate) fn len(&self) -> usize {
        self.0.borrow().len()
    }
}

/// A handle on a connection shared with other callers, from
/// [`Pool::get_shared`]. Derefs to [`Client`]; dropping it lets the
/// connection go back to the pool once its other callers are done too.
pub struct SharedClient {
    pool: Pool,
    lane: Rc<Lane>,
    /// The lane's connection (a clone of the handle): set once it is open.
    client: Option<Client>,
}

impl fmt::Debug for SharedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedClient")
            .field("client", &self.client)
            .field("sharing", &self.lane.users.get())
            .finish()
    }
}

impl Deref for SharedClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client.as_ref().expect("get_shared returns a SharedClient only once its lane is open")
    }
}

impl Drop for SharedClient {
    fn drop(&mut self) {
        let lane = &self.lane;
        lane.users.set(lane.users.get() - 1);
        if lane.users.get() > 0 {
            return;
        }
        // The last caller: the connection goes back to the pool.
        self.pool.lanes().remove(lane);
        let mut state = lane.state.borrow_mut();
        if matches!(*state, State::Open(_)) {
            let open = std::mem::replace(&mut *state, State::Abandoned);
            drop(state);
            drop(open);
        }
    }
}

/// Undoes an unfinished open: the opener's future was dropped mid-checkout.
struct Opening<'a> {
    pool: &'a Pool,
    lane: &'a Rc<Lane>,
}

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        let state = std::mem::replace(&mut *self.lane.state.borrow_mut(), State::Abandoned);
        if let State::Opening(waiters) = state {
            self.pool.lanes().remove(self.lane);
            waiters.into_iter().for_each(Waker::wake);
        } else {
            *self.lane.state.borrow_mut() = state;
        }
    }
}

impl Pool {
    /// A handle on a connection that other callers use at the same time:
    /// their requests are pipelined on it, each answered in turn. For short
    /// statements without session state (no transactions, `SET`, `LISTEN`
    /// or temporary tables: those need [`get`](Self::get)). Up to
    /// `PoolOptions::shared_connections` connections are shared this way,
    /// each checked out of the pool while anyone uses it; a second one opens
    /// only once 32 callers share the first.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), when a shared connection has to be opened;
    /// [`Error::PoolClosed`] once the pool is closed.
    pub async fn get_shared(&self) -> Result<SharedClient, Error> {
        if self.is_closed() {
            return Err(Error::PoolClosed);
        }
        loop {
            let (lane, opener) = self.pick_lane();
            let mut shared = SharedClient { pool: self.clone(), lane: lane.clone(), client: None };
            if opener {
                let opening = Opening { pool: self, lane: &lane };
                let checkout = self.get().await;
                std::mem::forget(opening);
                let was = std::mem::replace(&mut *lane.state.borrow_mut(), State::Abandoned);
                if let State::Opening(waiters) = was {
                    waiters.into_iter().for_each(Waker::wake);
                }
                return match checkout {
                    Ok(client) => {
                        shared.client = Some((*client).clone());
                        *lane.state.borrow_mut() = State::Open(client);
                        Ok(shared)
                    }
                    Err(e) => {
                        self.lanes().remove(&lane);
                        *lane.state.borrow_mut() = State::Failed(e.clone());
                        Err(e)
                    }
                };
            }
            let joined = poll_fn(|cx| match &mut *lane.state.borrow_mut() {
                State::Opening(waiters) => {
                    waiters.push(cx.waker().clone());
                    Poll::Pending
                }
                State::Open(client) => Poll::Ready(Some(Ok((**client).clone()))),
                State::Failed(e) => Poll::Ready(Some(Err(e.clone()))),
                State::Abandoned => Poll::Ready(None),
            })
            .await;
            match joined {
                Some(Ok(client)) => {
                    shared.client = Some(client);
                    return Ok(shared);
                }
                Some(Err(e)) => return Err(e),
                None => continue,
            }
        }
    }

    /// The lane a new caller joins (counted in), and whether the caller
    /// must open it: the least busy live lane, or a new one when there is
    /// none or all have `SPREAD_AT` callers and another may open.
    fn pick_lane(&self) -> (Rc<Lane>, bool) {
        let mut lanes = self.lanes().0.borrow_mut();
        // A broken connection takes no new callers; its last one returns it.
        lanes.retain(|l| !matches!(&*l.state.borrow(), State::Open(c) if c.is_closed()));
        let least = lanes.iter().min_by_key(|l| l.users.get()).cloned();
        let (lane, opener) = match least {
            Some(lane)
                if lane.users.get() < SPREAD_AT || lanes.len() >= self.options().shared_connections =>
            {
                (lane, false)
            }
            _ => {
                let lane =
                    Rc::new(Lane { state: RefCell::new(State::Opening(Vec::new())), users: Cell::new(0) });
                lanes.push(lane.clone());
                (lane, true)
            }
        };
        lane.users.set(lane.users.get() + 1);
        (lane, opener)
    }
}
