//! The driver's one error type: the server's `ErrorResponse` with its fields,
//! I/O and protocol failures, decoding errors naming the column, timeouts and
//! pool exhaustion.

use std::fmt;
use std::io;
use std::sync::Arc;

use postgres_protocol::message::backend::ErrorFields;

use fallible_iterator::FallibleIterator;

/// An `ErrorResponse` or `NoticeResponse` from the server, field by field
/// (the protocol's "Error and Notice Message Fields").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbError {
    /// `S`: ERROR, FATAL, PANIC (errors) or WARNING, NOTICE, DEBUG, INFO, LOG (notices).
    pub severity: String,
    /// `C`: the SQLSTATE code, e.g. `23505` for a unique violation.
    pub code: String,
    /// `M`: the primary human-readable message.
    pub message: String,
    /// `D`: an optional secondary message with more detail.
    pub detail: Option<String>,
    /// `H`: an optional suggestion what to do about it.
    pub hint: Option<String>,
    /// `P`: a 1-based character position into the query string.
    pub position: Option<u32>,
    /// `W`: the context (call stack) in which the error occurred.
    pub where_: Option<String>,
    /// `s`: the schema of the object involved.
    pub schema: Option<String>,
    /// `t`: the table involved.
    pub table: Option<String>,
    /// `c`: the column involved.
    pub column: Option<String>,
    /// `n`: the constraint involved.
    pub constraint: Option<String>,
}

impl DbError {
    /// Builds the error from the fields of an `ErrorResponse`/`NoticeResponse`.
    pub(crate) fn parse(fields: &mut ErrorFields<'_>) -> io::Result<DbError> {
        let mut e = DbError::default();
        let mut nonlocalized_severity = None;
        while let Some(field) = fields.next()? {
            let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
            match field.type_() {
                b'S' => e.severity = value,
                b'V' => nonlocalized_severity = Some(value),
                b'C' => e.code = value,
                b'M' => e.message = value,
                b'D' => e.detail = Some(value),
                b'H' => e.hint = Some(value),
                b'P' => e.position = value.parse().ok(),
                b'W' => e.where_ = Some(value),
                b's' => e.schema = Some(value),
                b't' => e.table = Some(value),
                b'c' => e.column = Some(value),
                b'n' => e.constraint = Some(value),
                _ => {}
            }
        }
        // `V` (9.6+) is never translated; prefer it so code can match on "FATAL".
        if let Some(s) = nonlocalized_severity {
            e.severity = s;
        }
        if e.code.is_empty() || e.message.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "error response without code or message"));
        }
        Ok(e)
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " (detail: {detail})")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        if let Some(position) = self.position {
            write!(f, " (at character {position})")?;
        }
        Ok(())
    }
}

/// A column value that could not be read as the Rust type asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnError {
    /// The column's index.
    pub column: usize,
    /// The column's name.
    pub name: String,
    /// The column's PostgreSQL type name.
    pub type_name: String,
    /// The Rust type asked for.
    pub rust_type: &'static str,
    /// What went wrong.
    pub reason: String,
}

/// A parameter that could not be encoded for its declared type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// The parameter's 1-based number (`$n`).
    pub index: usize,
    /// The parameter's PostgreSQL type name.
    pub type_name: String,
    /// What went wrong.
    pub reason: String,
}

/// Everything that can go wrong talking to PostgreSQL.
///
/// Small (32 bytes: the rare, wordy variants are boxed), because every
/// query's future carries a `Result` of it while the query runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an `ErrorResponse`.
    Db(Box<DbError>),
    /// A socket error (connect, read, write), with context.
    Io(Arc<io::Error>),
    /// The connection is closed (by us, by the server, or by an earlier
    /// error); the cause, when known, is in the message.
    Closed(String),
    /// The server broke the protocol (or sent a message above the size limit).
    Protocol(String),
    /// Authentication could not proceed on our side (missing password,
    /// unsupported method, bad SCRAM exchange).
    Auth(String),
    /// A connection string or option is invalid.
    Config(String),
    /// A value could not be converted from the column's type.
    Decode(Box<ColumnError>),
    /// A parameter could not be encoded for its declared type.
    Encode(Box<ParamError>),
    /// A query returned no row where one was required, or the wrong count of
    /// parameters or columns was given.
    Usage(String),
    /// The query ran past its timeout; a `CancelRequest` was sent.
    Timeout,
    /// The pool had no connection to give within the checkout timeout.
    PoolTimeout,
    /// The pool was closed ([`Pool::close`](crate::Pool::close)): it lends
    /// no more connections.
    PoolClosed,
}

impl Error {
    /// The server's error, if this is one.
    pub fn as_db(&self) -> Option<&DbError> {
        match self {
            Error::Db(e) => Some(e),
            _ => None,
        }
    }

    /// The SQLSTATE code of a server error.
    pub fn code(&self) -> Option<&str> {
        self.as_db().map(|e| e.code.as_str())
    }

    /// Whether the connection this came from is unusable afterwards.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed(_) | Error::Io(_))
            || self.as_db().is_some_and(|e| e.severity == "FATAL" || e.severity == "PANIC")
    }

    pub(crate) fn io(e: io::Error) -> Error {
        Error::Io(Arc::new(e))
    }

    pub(crate) fn protocol(what: impl Into<String>) -> Error {
        Error::Protocol(what.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Db(e) => write!(f, "database error: {e}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Closed(why) => write!(f, "connection closed: {why}"),
            Error::Protocol(what) => write!(f, "protocol error: {what}"),
            Error::Auth(what) => write!(f, "authentication error: {what}"),
            Error::Config(what) => write!(f, "invalid configuration: {what}"),
            Error::Decode(e) => write!(
                f,
                "cannot decode column {} (\"{}\", type {}) as {}: {}",
                e.column, e.name, e.type_name, e.rust_type, e.reason
            ),
            Error::Encode(e) => {
                write!(f, "cannot encode parameter ${} as {}: {}", e.index, e.type_name, e.reason)
            }
            Error::Usage(what) => f.write_str(what),
            Error::Timeout => f.write_str("query timed out (cancel request sent)"),
            Error::PoolTimeout => f.write_str("timed out waiting for a pooled connection"),
            Error::PoolClosed => f.write_str("the pool is closed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(&**e),
            Error::Db(e) => Some(&**e),
            _ => None,
        }
    }
}

impl std::error::Error for DbError {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::io(e)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
