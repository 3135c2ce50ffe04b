//! waiter-http: the HTTP/1.1 core of `waiter serve`, and the server built on it.
//!
//! Two layers. The sans-I/O modules below decide everything from bytes; the
//! server layer ([`Server`], with the private `conn`, `send` and `file`
//! modules) runs them on waiter-loop: a task per connection reads, parses,
//! and answers with `writev` and `sendfile`, and file-system calls go to the
//! thread pool behind an open-file cache.
//!
//! Everything a static file server decides from bytes alone lives here: bytes
//! in, decisions out, with no socket, loop, clock or file in sight. The
//! connection state machine (on waiter-loop) reads into a buffer, asks
//! [`request::parse`] for a head, [`path::resolve`] for a file name under the
//! root, [`conditional::evaluate`] and [`range::evaluate`] what to send, and
//! [`ResponseHead::write`] for the bytes to `writev` before the `sendfile`.
//!
//! Why keep I/O out: every hostile input — a smuggling header pair, a
//! `%2e%2e` traversal, a thousand overlapping ranges — is a plain function
//! call in a unit test or a fuzz target, checked in microseconds and without
//! a server, and the same code then runs unchanged behind epoll.
//!
//! | module | decides | RFC |
//! | --- | --- | --- |
//! | [`request`] | method, target, version, framing, keep-alive, limits | 9112 |
//! | [`path`] | the file path under the root, or 400 | 3986, 9110 §4.2 |
//! | [`conditional`] | 304 / 412, `ETag`, `Last-Modified` | 9110 §13 |
//! | [`range`] | 200 / 206 / 416 and which bytes | 9110 §14 |
//! | [`response`] | the response head bytes, `multipart/byteranges`, `Content-Type` | 9110, 9112 |
//! | [`status`] | status codes, reasons, `io::Error` → 404/403/500 | 9110 §15 |
//! | [`precompressed`] | `Accept-Encoding` → `br` / `gzip` sibling or identity | 9110 §12.5.3 |
//! | [`autoindex`] | directory entries → listing page (its reading is on the pool) | |
//!
//! | server module | does |
//! | --- | --- |
//! | [`config`] | the root, policies, limits and timeouts |
//! | [`server`] | a worker: listener, connection limit, graceful stop |
//! | [`access_log`] | nginx `common`/`combined` lines, buffered per worker, reopened on SIGHUP |
//! | `stub_status` | `--status-path`: nginx `stub_status` text and Prometheus metrics |
//! | `conn` | one connection: read → parse → respond, keep-alive, pipelining, timeouts |
//! | `file` | `stat`/`open`/`fstat` on the thread pool, the open-file cache |
//! | `send` | one `writev`, or corked `writev` + `sendfile` |
//!
//! # Examples
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use waiter_http::{path, range, request, DateCache, ETag, LastModified, RangeDecision, ResponseHead, Status};
//!
//! let buf = b"GET /docs/a.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=-4\r\n\r\n";
//! let (head, _used) = request::parse(buf).unwrap().unwrap();
//! let file = path::resolve(head.path).unwrap();
//! assert_eq!(file.as_str(), "docs/a.txt");
//!
//! // The connection would now open and stat the file; here it is 10 bytes.
//! let mtime = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let decision = range::evaluate(head.fields.range.as_deref().unwrap(), 10, range::DEFAULT_MAX_RANGES);
//! let RangeDecision::Partial(ranges) = decision else { unreachable!() };
//!
//! let (etag, modified) = (ETag::for_file(mtime, 10), LastModified::new(mtime));
//! let mut out = Vec::new();
//! let mut response = ResponseHead::new(Status::PARTIAL_CONTENT);
//! response.content_length = Some(ranges[0].len());
//! response.etag = Some(&etag);
//! response.last_modified = Some(&modified);
//! response.content_range = Some(waiter_http::ContentRange::Bytes { range: ranges[0], len: 10 });
//! response.write(&mut out, &DateCache::new(mtime));
//! assert!(String::from_utf8(out).unwrap().contains("\r\nContent-Range: bytes 6-9/10\r\n"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod access_log;
pub mod app;
pub mod autoindex;
mod calendar;
mod chunked;
pub mod conditional;
pub mod config;
mod conn;
mod deadline;
mod file;
mod notify;
pub mod path;
pub mod precompressed;
pub mod range;
pub mod request;
pub mod response;
mod send;
pub mod server;
pub mod status;
mod stub_status;
mod wire;

pub use config::Config;
pub use server::{Server, Stopper};
pub use stub_status::StatusConfig;

pub use conditional::{Conditions, ETag, LastModified, Precondition};
pub use path::{CleanPath, PathError};
pub use range::{ByteRange, RangeDecision};
pub use request::{Body, Head, HttpError, Limits, Method, Version};
pub use response::{
    content_type_for, ContentRange, DateCache, Encoding, HeaderValue, Multipart, ResponseHead, ALLOW_GET_HEAD,
};
pub use status::{status_for_io_error, Status};
