//! `COPY ... FROM STDIN`: bulk load through one connection. While a copy
//! runs the server accepts only copy messages, so later requests from other
//! handles wait (in the driver) until it finishes or fails.

use std::rc::Rc;

use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use crate::client::{db_error, rows_affected, unexpected, Client};
use crate::driver::{Response, Shared};
use crate::error::Error;

/// An open `COPY FROM STDIN`: [`write`](Self::write) the data in the
/// format the statement named, then [`finish`](Self::finish). Dropping it
/// unfinished aborts the copy (`CopyFail`), and the statement fails.
///
/// # Examples
///
/// ```no_run
/// # async fn load(client: &waiter_pg::Client) -> Result<(), waiter_pg::Error> {
/// let copy = client.copy_in("COPY items (id, name) FROM STDIN").await?;
/// copy.write(b"1\tapple\n2\tpear\n").await?;
/// assert_eq!(copy.finish().await?, 2);
/// # Ok(()) }
/// ```
pub struct CopyIn {
    shared: Rc<Shared>,
    response: Rc<Response>,
    /// Keeps the connection open while the copy runs.
    _client: Client,
    finished: bool,
}

/// Aborts a copy whose start is dropped (a timeout, a cancelled task)
/// before the server answered: without it, the hold on later requests would
/// never end, and they would wait forever.
struct AbortUnlessStarted<'a> {
    shared: &'a Shared,
    response: &'a Rc<Response>,
    armed: bool,
}

impl Drop for AbortUnlessStarted<'_> {
    fn drop(&mut self) {
        if self.armed {
            abort(self.shared, self.response);
        }
    }
}

/// `CopyFail` (ignored by a server not in copy mode), then lets the held
/// requests go; nobody reads the rest of the response.
fn abort(shared: &Shared, response: &Response) {
    let _ = shared.push_direct(|buf| {
        let _ = frontend::copy_fail("COPY abandoned by the client", buf);
    });
    shared.release();
    response.abandon();
}

pub(crate) async fn start(shared: Rc<Shared>, client: Client, sql: &str) -> Result<CopyIn, Error> {
    let response = shared.send_exclusive(|buf| frontend::query(sql, buf).map_err(Error::io))?;
    let mut guard = AbortUnlessStarted { shared: &shared, response: &response, armed: true };
    let mut error = match response.next().await? {
        Message::CopyInResponse(_) => {
            guard.armed = false;
            drop(guard);
            return Ok(CopyIn { shared, response, _client: client, finished: false });
        }
        Message::ErrorResponse(body) => Some(db_error(&body)),
        m => Some(Error::Usage(format!("{sql:?} is not a COPY FROM STDIN (got {})", crate::wire::name(&m)))),
    };
    // Not a COPY FROM STDIN (or it failed): read to the end, the later
    // requests still held back; a COPY FROM STDIN further on in the string
    // is refused (the server would read those requests as its data).
    loop {
        match response.next_after(&mut error).await? {
            Message::ReadyForQuery(_) => break,
            Message::ErrorResponse(body) if error.is_none() => error = Some(db_error(&body)),
            Message::CopyInResponse(_) => shared.push_direct(|buf| {
                let _ = frontend::copy_fail("use one COPY FROM STDIN statement with Client::copy_in", buf);
            })?,
            _ => {}
        }
    }
    guard.armed = false;
    drop(guard);
    shared.release();
    Err(error.unwrap_or_else(|| Error::protocol("COPY failed without an error")))
}

impl std::fmt::Debug for CopyIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyIn").field("finished", &self.finished).finish()
    }
}

impl CopyIn {
    /// Sends a chunk of COPY data, waiting while too much is unsent.
    ///
    /// # Errors
    ///
    /// The connection's failure; an error the server reported early (bad
    /// data) shows up in [`finish`](Self::finish).
    pub async fn write(&self, data: &[u8]) -> Result<(), Error> {
        if data.is_empty() {
            return Ok(());
        }
        self.shared.drain().await?;
        self.shared.push_direct(|buf| {
            // A chunk over 1 GiB does not fit one message: split it.
            for piece in data.chunks(1 << 30) {
                if let Ok(message) = frontend::CopyData::new(piece) {
                    message.write(buf);
                }
            }
        })
    }

    /// Ends the data (`CopyDone`) and returns the number of rows copied.
    ///
    /// # Errors
    ///
    /// The server's error for bad data or a constraint; connection failures.
    pub async fn finish(mut self) -> Result<u64, Error> {
        self.finished = true;
        self.shared.push_direct(frontend::copy_done)?;
        self.shared.release();
        let mut rows = None;
        let mut error = None;
        loop {
            match self.response.next_after(&mut error).await? {
                Message::CommandComplete(body) => rows = Some(rows_affected(&body)?),
                Message::ErrorResponse(body) => error = Some(db_error(&body)),
                Message::ReadyForQuery(_) => {
                    return match (error, rows) {
                        (Some(e), _) => Err(e),
                        (None, Some(n)) => Ok(n),
                        (None, None) => Err(Error::protocol("COPY ended without CommandComplete")),
                    }
                }
                other => return Err(unexpected(&other)),
            }
        }
    }
}

impl Drop for CopyIn {
    fn drop(&mut self) {
        if !self.finished {
            abort(&self.shared, &self.response);
        }
    }
}
