//! Transactions: `BEGIN`, then `COMMIT` or `ROLLBACK`, with a guard that
//! rolls back when dropped unfinished (an early return, a `?`, a panic).
//! A transaction started inside another is a savepoint: its rollback undoes
//! its own work only, and the outer one still decides the rest.

use std::borrow::Cow;
use std::ops::Deref;

use crate::client::{Client, Forgotten};
use crate::error::Error;

/// An open transaction on a connection. It derefs to the [`Client`], so
/// queries run inside it.
///
/// Dropping it without [`commit`](Self::commit) or
/// [`rollback`](Self::rollback) queues a `ROLLBACK` at once (no await is
/// possible in `drop`); requests made afterwards run after it.
///
/// [`transaction`](Self::transaction) nests one inside it as a `SAVEPOINT`
/// (a second `BEGIN` would only warn, and the inner `ROLLBACK` would end
/// the outer transaction, whose `COMMIT` would then commit nothing).
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
    /// 0 for the outermost; n for the savepoint `waiter_pg_n` inside it.
    depth: u32,
}

pub(crate) async fn begin(client: &Client) -> Result<Transaction<'_>, Error> {
    client.batch_execute("BEGIN").await?;
    Ok(Transaction { client, done: false, depth: 0 })
}

impl Transaction<'_> {
    /// Starts a transaction nested in this one: a `SAVEPOINT`. Committing it
    /// releases the savepoint (its work then stands or falls with this
    /// transaction); rolling it back, or dropping it, undoes its work only.
    ///
    /// # Errors
    ///
    /// As [`Client::simple_query`] (25P02 when this transaction has failed).
    pub async fn transaction(&self) -> Result<Transaction<'_>, Error> {
        let depth = self.depth + 1;
        self.client.batch_execute(&format!("SAVEPOINT waiter_pg_{depth}")).await?;
        Ok(Transaction { client: self.client, done: false, depth })
    }

    /// The statement that undoes this transaction's work: `ROLLBACK`, or for
    /// a nested one, back to its savepoint, which it then releases.
    fn rollback_statement(&self) -> Cow<'static, str> {
        match self.depth {
            0 => Cow::Borrowed("ROLLBACK"),
            n => Cow::Owned(format!("ROLLBACK TO SAVEPOINT waiter_pg_{n}; RELEASE SAVEPOINT waiter_pg_{n}")),
        }
    }

    /// Commits. A transaction that failed earlier rolls back instead, and
    /// this says so. A nested one releases its savepoint (or, failed, rolls
    /// back to it and says so: the outer transaction goes on).
    ///
    /// # Errors
    ///
    /// The server's error (a deferred constraint, say), connection failures,
    /// or [`Error::Usage`] when the server rolled back instead.
    pub async fn commit(mut self) -> Result<(), Error> {
        self.done = true;
        if self.depth > 0 {
            let release = format!("RELEASE SAVEPOINT waiter_pg_{}", self.depth);
            return match self.client.batch_execute(&release).await {
                // As COMMIT does for a failed transaction: undo, and say so.
                Err(e) if e.code() == Some("25P02") => {
                    self.client.batch_execute(&self.rollback_statement()).await?;
                    Err(Error::Usage(
                        "the nested transaction had failed: it was rolled back to its savepoint".into(),
                    ))
                }
                other => other,
            };
        }
        let results = self.client.simple_query("COMMIT").await?;
        match results.first().map(|r| r.tag.as_str()) {
            Some("ROLLBACK") => Err(Error::Usage("the transaction had failed: COMMIT rolled it back".into())),
            _ => Ok(()),
        }
    }

    /// Rolls back (a nested one: to its savepoint, which it then releases).
    ///
    /// # Errors
    ///
    /// Connection failures.
    pub async fn rollback(mut self) -> Result<(), Error> {
        self.done = true;
        self.client.batch_execute(&self.rollback_statement()).await
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
            let effect =
                if self.depth == 0 { Forgotten::EndsTransaction } else { Forgotten::MayLeaveTransaction };
            self.client.send_and_forget(&self.rollback_statement(), effect);
        }
    }
}
