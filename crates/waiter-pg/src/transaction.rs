//! Transactions: `BEGIN`, then `COMMIT` or `ROLLBACK`, with a guard that
//! rolls back when dropped unfinished (an early return, a `?`, a panic).

use std::ops::Deref;

use crate::client::Client;
use crate::error::Error;

/// An open transaction on a connection. It derefs to the [`Client`], so
/// queries run inside it.
///
/// Dropping it without [`commit`](Self::commit) or
/// [`rollback`](Self::rollback) queues a `ROLLBACK` at once (no await is
/// possible in `drop`); requests made afterwards run after it.
///
/// # Examples
///
/// ```no_run
/// # async fn transfer(client: &waiter_pg::Client) -> Result<(), waiter_pg::Error> {
/// let tx = client.transaction().await?;
/// tx.execute("UPDATE accounts SET balance = balance - 10 WHERE id = $1", &[&1]).await?;
/// tx.execute("UPDATE accounts SET balance = balance + 10 WHERE id = $1", &[&2]).await?;
/// tx.commit().await
/// # }
/// ```
#[derive(Debug)]
pub struct Transaction<'a> {
    client: &'a Client,
    done: bool,
}

pub(crate) async fn begin(client: &Client) -> Result<Transaction<'_>, Error> {
    client.batch_execute("BEGIN").await?;
    Ok(Transaction { client, done: false })
}

impl Transaction<'_> {
    /// Commits. A transaction that failed earlier rolls back instead, and
    /// this says so.
    ///
    /// # Errors
    ///
    /// The server's error (a deferred constraint, say), connection failures,
    /// or [`Error::Usage`] when the server rolled back instead.
    pub async fn commit(mut self) -> Result<(), Error> {
        self.done = true;
        let results = self.client.simple_query("COMMIT").await?;
        match results.first().map(|r| r.tag.as_str()) {
            Some("ROLLBACK") => Err(Error::Usage("the transaction had failed: COMMIT rolled it back".into())),
            _ => Ok(()),
        }
    }

    /// Rolls back.
    ///
    /// # Errors
    ///
    /// Connection failures.
    pub async fn rollback(mut self) -> Result<(), Error> {
        self.done = true;
        self.client.batch_execute("ROLLBACK").await
    }
}

impl Deref for Transaction<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.client.send_and_forget("ROLLBACK");
        }
    }
}
