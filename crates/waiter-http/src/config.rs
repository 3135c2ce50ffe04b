//! What `waiter serve` is told: the root, the policies and the limits, with nginx-like defaults.
//!
//! One [`Config`] is cloned into every worker thread; nothing in it changes
//! while the server runs, so the request path reads it without locks.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::request::Limits;
use crate::response::HeaderValue;

/// The configuration of a static file server.
///
/// # Examples
///
/// ```
/// let config = waiter_http::Config::new(".").unwrap();
/// assert!(config.root().is_absolute());
/// assert_eq!(config.max_requests, 1000);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// INVARIANT: absolute and free of symlinks (canonicalised), a directory
    /// when `Config::new` checked it.
    root: PathBuf,
    /// `Cache-Control` sent with every file (none by default).
    pub cache_control: Option<HeaderValue>,
    /// Serve paths with a segment starting with `.` (default false: 404).
    pub dotfiles: bool,
    /// Follow symlinks that lead outside the root (default false: 403).
    pub follow_symlinks: bool,
    /// List a directory without `index.html` (nginx's `autoindex`; default false: 403).
    pub autoindex: bool,
    /// Serve `file.br` / `file.gz` for `file` when `Accept-Encoding` allows
    /// (nginx's `gzip_static`; default false, as there: a stale sibling of
    /// an edited file would be served silently).
    pub precompressed: bool,
    /// Time for a whole request head, and for the first one on a new
    /// connection (nginx's `client_header_timeout`, 60 s). 408 and close.
    pub header_timeout: Duration,
    /// Time an idle keep-alive connection waits for its next request
    /// (nginx's `keepalive_timeout`, 75 s). Closed without a word. Zero
    /// closes a connection just after its response, although the response
    /// did not say `Connection: close`: to turn keep-alive off, set
    /// `max_requests` to 1 too (the binary does, as nginx does for 0).
    pub keepalive_timeout: Duration,
    /// Time one write may wait for the client to take bytes (nginx's
    /// `send_timeout`, 60 s): a reader that stops reading is cut off.
    pub send_timeout: Duration,
    /// Requests per connection before `Connection: close` (nginx's
    /// `keepalive_requests`, 1000).
    pub max_requests: usize,
    /// Connections one worker holds at once; above it, it stops accepting
    /// until one closes (nginx's `worker_connections`, 1024 there; 10,000 here).
    pub max_connections: usize,
    /// Files up to this size are read into memory and sent with the head in
    /// one `writev`; larger ones go out with `sendfile` (16 KiB).
    pub small_file_limit: u64,
    /// Most ranges in one `Range` header before it is ignored (16).
    pub max_ranges: usize,
    /// Request head limits.
    pub limits: Limits,
    /// The access log (off by default).
    pub access_log: crate::access_log::AccessLogConfig,
    /// The status endpoint (off by default).
    pub status: crate::stub_status::StatusConfig,
}

impl Config {
    /// A configuration serving `root` with the defaults documented on each field.
    ///
    /// # Errors
    ///
    /// `root` not existing or not being a directory, with the path in the message.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Config> {
        let given = root.as_ref();
        let root = std::fs::canonicalize(given)
            .map_err(|e| io::Error::new(e.kind(), format!("root {}: {e}", given.display())))?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("root {}: not a directory", given.display()),
            ));
        }
        Ok(Config {
            root,
            cache_control: None,
            dotfiles: false,
            follow_symlinks: false,
            autoindex: false,
            precompressed: false,
            header_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(75),
            send_timeout: Duration::from_secs(60),
            max_requests: 1000,
            max_connections: 10_000,
            small_file_limit: 16 * 1024,
            max_ranges: crate::range::DEFAULT_MAX_RANGES,
            limits: Limits::default(),
            access_log: Default::default(),
            status: Default::default(),
        })
    }

    /// The document root: absolute, symlinks resolved.
    pub fn root(&self) -> &Path {
        &self.root
    }
}
