//! Response heads as bytes: status line, typed headers, `multipart/byteranges` framing.
//!
//! Nothing here takes a free-form string into a header: every value is either
//! produced by this crate from typed input (numbers, dates, [`ETag`],
//! [`ContentRange`], [`Encoding`]) or is a [`HeaderValue`], which refuses
//! control characters when it is made. Header injection is therefore a type
//! error, not a code-review item.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::time::SystemTime;

use crate::conditional::{unix_secs, ETag, LastModified};
use crate::range::ByteRange;
use crate::status::Status;

/// A header value checked to hold only visible ASCII, spaces and tabs.
///
/// CR, LF, NUL and every other control byte are refused, so a value made from
/// request data (a redirect `Location`, a configured `Cache-Control`) cannot
/// end the header line early. Non-ASCII text must be percent-encoded first.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HeaderValue(Cow<'static, str>);

/// The error from [`HeaderValue::new`]: the text held a control or non-ASCII byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidHeaderValue;

impl fmt::Display for InvalidHeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("header value holds a control or non-ASCII byte")
    }
}

impl std::error::Error for InvalidHeaderValue {}

const fn is_valid_value(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if !matches!(bytes[i], b'\t' | b' '..=b'~') {
            return false;
        }
        i += 1;
    }
    true
}

impl HeaderValue {
    /// A value from a literal, checked at compile time when used in a `const`.
    ///
    /// # Panics
    ///
    /// If `text` holds a byte [`HeaderValue::new`] would refuse.
    pub const fn from_static(text: &'static str) -> HeaderValue {
        assert!(is_valid_value(text.as_bytes()), "invalid header value");
        HeaderValue(Cow::Borrowed(text))
    }

    /// A value from run-time text.
    ///
    /// # Errors
    ///
    /// [`InvalidHeaderValue`] if `text` holds a byte outside HTAB, SP and `!`..=`~`.
    pub fn new(text: impl Into<String>) -> Result<HeaderValue, InvalidHeaderValue> {
        let text = text.into();
        if is_valid_value(text.as_bytes()) {
            Ok(HeaderValue(Cow::Owned(text)))
        } else {
            Err(InvalidHeaderValue)
        }
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `Allow: GET, HEAD`, the answer of a static server to any other method.
pub static ALLOW_GET_HEAD: HeaderValue = HeaderValue::from_static("GET, HEAD");

/// The `Date` header text, formatted at most once per second.
///
/// The loop caches `now` once per tick; a server at 100k requests/s would
/// otherwise format the same date 100k times.
#[derive(Clone, Debug)]
pub struct DateCache {
    /// INVARIANT: `text` is the IMF-fixdate of `second` (seconds since the epoch).
    second: u64,
    text: String,
}

impl DateCache {
    /// A cache holding `now`.
    pub fn new(now: SystemTime) -> DateCache {
        let second = unix_secs(now);
        DateCache { second, text: LastModified::from_secs(second).as_str().to_owned() }
    }

    /// Moves the cache to `now`, formatting only when the second changed.
    pub fn update(&mut self, now: SystemTime) {
        let second = unix_secs(now);
        if second != self.second {
            *self = DateCache::new(now);
        }
    }

    /// The cached date, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A `Content-Encoding` of a precompressed sibling file (nginx `gzip_static`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `gzip` (`file.gz`).
    Gzip,
    /// `br` (`file.br`).
    Brotli,
}

impl Encoding {
    /// The coding's token.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Brotli => "br",
        }
    }
}

/// A `Content-Range` value (RFC 9110 §14.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes first-last/len`, on a 206.
    Bytes {
        /// The range sent.
        range: ByteRange,
        /// The full representation's length.
        len: u64,
    },
    /// `bytes */len`, on a 416.
    Unsatisfied {
        /// The full representation's length.
        len: u64,
    },
}

/// A response head; [`ResponseHead::write`] serialises it.
///
/// `Server: waiter` and `X-Content-Type-Options: nosniff` are always sent.
/// `Connection: close` ends a connection; `Connection: keep-alive` keeps one
/// open, except when the request was HTTP/1.1 ([`ResponseHead::http11`]),
/// where staying open is the default and the header would be redundant
/// (RFC 9112 §9.3; lighttpd leaves it out too). The status line always says
/// HTTP/1.1, also to 1.0 clients (RFC 9110 §2.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead<'a> {
    /// The status.
    pub status: Status,
    /// `Content-Length`; leave `None` on 304 (nginx omits it there).
    pub content_length: Option<u64>,
    /// `Content-Type`, e.g. from [`content_type_for`].
    pub content_type: Option<&'a HeaderValue>,
    /// `Last-Modified`.
    pub last_modified: Option<&'a LastModified>,
    /// `ETag`.
    pub etag: Option<&'a ETag>,
    /// `Accept-Ranges: bytes`.
    pub accept_ranges: bool,
    /// `Content-Range`.
    pub content_range: Option<ContentRange>,
    /// `Connection: close` when false; when true, `Connection: keep-alive`
    /// unless [`ResponseHead::http11`].
    pub keep_alive: bool,
    /// The request was HTTP/1.1, whose connections persist unless a side says
    /// `close`: a kept-alive response then carries no `Connection` header.
    /// False (an HTTP/1.0 request, or none) sends `Connection: keep-alive`,
    /// which a 1.0 client needs to keep the connection.
    pub http11: bool,
    /// `Vary: Accept-Encoding` (a precompressed sibling exists).
    pub vary_accept_encoding: bool,
    /// `Content-Encoding`, written on a 200 or 206 only.
    pub content_encoding: Option<Encoding>,
    /// `Cache-Control`, as configured.
    pub cache_control: Option<&'a HeaderValue>,
    /// `Allow`, on a 405.
    pub allow: Option<&'a HeaderValue>,
    /// `Location`, on a redirect; percent-encode the path before making it.
    pub location: Option<&'a HeaderValue>,
}

impl<'a> ResponseHead<'a> {
    /// A head with `status`, keep-alive on and every optional header off.
    pub fn new(status: Status) -> ResponseHead<'a> {
        ResponseHead {
            status,
            content_length: None,
            content_type: None,
            last_modified: None,
            etag: None,
            accept_ranges: false,
            content_range: None,
            keep_alive: true,
            http11: false,
            vary_accept_encoding: false,
            content_encoding: None,
            cache_control: None,
            allow: None,
            location: None,
        }
    }

    /// Appends the head, ending with the empty line, to `out`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use waiter_http::{DateCache, ResponseHead, Status};
    ///
    /// let date = DateCache::new(UNIX_EPOCH + Duration::from_secs(784111777));
    /// let mut head = ResponseHead::new(Status::NOT_FOUND);
    /// head.content_length = Some(0);
    /// let mut out = Vec::new();
    /// head.write(&mut out, &date);
    /// let text = String::from_utf8(out).unwrap();
    /// assert!(text.starts_with("HTTP/1.1 404 Not Found\r\nServer: waiter\r\n"));
    /// assert!(text.contains("\r\nContent-Length: 0\r\nConnection: keep-alive\r\n"));
    /// assert!(text.ends_with("\r\n\r\n"));
    /// ```
    pub fn write(&self, out: &mut Vec<u8>, date: &DateCache) {
        out.extend_from_slice(b"HTTP/1.1 ");
        push_u64(out, u64::from(self.status.code()));
        out.push(b' ');
        out.extend_from_slice(self.status.reason().as_bytes());
        push_header(out, "Server", b"waiter");
        push_header(out, "Date", date.as_str().as_bytes());
        if let Some(value) = self.content_type {
            push_header(out, "Content-Type", value.as_str().as_bytes());
        }
        if let Some(len) = self.content_length {
            push_header(out, "Content-Length", b"");
            push_u64(out, len);
        }
        if let Some(last_modified) = self.last_modified {
            push_header(out, "Last-Modified", last_modified.as_str().as_bytes());
        }
        if !self.keep_alive {
            push_header(out, "Connection", b"close");
        } else if !self.http11 {
            push_header(out, "Connection", b"keep-alive");
        }
        if let Some(etag) = self.etag {
            push_header(out, "ETag", etag.as_str().as_bytes());
        }
        if self.accept_ranges {
            push_header(out, "Accept-Ranges", b"bytes");
        }
        if let Some(range) = self.content_range {
            push_header(out, "Content-Range", b"");
            push_content_range(out, range);
        }
        // Only a 200 or 206 carries the coded representation: a 416's empty
        // content is no gzip stream, and a 304 should not repeat metadata
        // beyond validators and Vary (RFC 9110 §15.4.5). nginx does the same.
        if let (Some(encoding), Status::OK | Status::PARTIAL_CONTENT) = (self.content_encoding, self.status) {
            push_header(out, "Content-Encoding", encoding.as_str().as_bytes());
        }
        if self.vary_accept_encoding {
            push_header(out, "Vary", b"Accept-Encoding");
        }
        for (name, value) in
            [("Cache-Control", self.cache_control), ("Allow", self.allow), ("Location", self.location)]
        {
            if let Some(value) = value {
                push_header(out, name, value.as_str().as_bytes());
            }
        }
        push_header(out, "X-Content-Type-Options", b"nosniff");
        out.extend_from_slice(b"\r\n\r\n");
    }
}

/// Ends the previous line and starts `name: value` (the caller may append more value bytes).
fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn push_content_range(out: &mut Vec<u8>, range: ContentRange) {
    out.extend_from_slice(b"bytes ");
    let len = match range {
        ContentRange::Bytes { range, len } => {
            push_u64(out, range.first);
            out.push(b'-');
            push_u64(out, range.last);
            len
        }
        ContentRange::Unsatisfied { len } => {
            out.push(b'*');
            len
        }
    };
    out.push(b'/');
    push_u64(out, len);
}

/// The framing of a `multipart/byteranges` body (RFC 9110 §14.6), nginx's layout.
///
/// The body is, for each range, [`Multipart::write_part_header`] then the
/// range's bytes, and finally [`Multipart::write_trailer`].
#[derive(Clone, Debug)]
pub struct Multipart<'a> {
    boundary: String,
    part_type: &'a HeaderValue,
    len: u64,
}

impl<'a> Multipart<'a> {
    /// Framing for parts of `part_type` cut from a representation of `len` bytes.
    /// `seed` makes the boundary; give each response a different one (a counter
    /// mixed with the start time), as nginx does with its 10-digit counter.
    pub fn new(seed: u64, part_type: &'a HeaderValue, len: u64) -> Multipart<'a> {
        Multipart { boundary: format!("{seed:020}"), part_type, len }
    }

    /// The response's `Content-Type`: `multipart/byteranges; boundary=…`.
    pub fn content_type(&self) -> HeaderValue {
        HeaderValue(Cow::Owned(format!("multipart/byteranges; boundary={}", self.boundary)))
    }

    /// Appends the delimiter and headers that precede `range`'s bytes.
    pub fn write_part_header(&self, out: &mut Vec<u8>, range: ByteRange) {
        out.extend_from_slice(b"\r\n--");
        out.extend_from_slice(self.boundary.as_bytes());
        push_header(out, "Content-Type", self.part_type.as_str().as_bytes());
        push_header(out, "Content-Range", b"");
        push_content_range(out, ContentRange::Bytes { range, len: self.len });
        out.extend_from_slice(b"\r\n\r\n");
    }

    /// Appends the closing delimiter.
    pub fn write_trailer(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\r\n--");
        out.extend_from_slice(self.boundary.as_bytes());
        out.extend_from_slice(b"--\r\n");
    }

    /// The whole body's length, for `Content-Length`.
    pub fn body_len(&self, ranges: &[ByteRange]) -> u64 {
        let mut scratch = Vec::with_capacity(128);
        let mut total = 0;
        for &range in ranges {
            scratch.clear();
            self.write_part_header(&mut scratch, range);
            total += scratch.len() as u64 + range.len();
        }
        scratch.clear();
        self.write_trailer(&mut scratch);
        total + scratch.len() as u64
    }
}

/// The `Content-Type` for a file, from its extension (`mime_guess`).
///
/// `text/*`, JavaScript and JSON get `; charset=utf-8`; unknown extensions are
/// `application/octet-stream`, nginx's `default_type`.
pub fn content_type_for(path: &Path) -> HeaderValue {
    let Some(mime) = mime_guess::from_path(path).first() else {
        return HeaderValue::from_static("application/octet-stream");
    };
    let essence = mime.essence_str();
    let text = matches!(essence, "application/javascript" | "application/json")
        || mime.type_() == mime_guess::mime::TEXT;
    let value = if text { format!("{essence}; charset=utf-8") } else { essence.to_owned() };
    // A MIME essence is two tokens and a slash; this cannot fail, but a wrong
    // guess must not become a header line.
    HeaderValue::new(value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_u64_edges() {
        for n in [0, 7, 10, 99, 1_000_000, u64::MAX] {
            let mut out = Vec::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes(), "{n}");
        }
    }

    #[test]
    fn connection_header_only_where_it_says_something() {
        let date = DateCache::new(SystemTime::UNIX_EPOCH);
        let connection = |keep_alive, http11| {
            let mut head = ResponseHead::new(Status::OK);
            (head.keep_alive, head.http11) = (keep_alive, http11);
            let mut out = Vec::new();
            head.write(&mut out, &date);
            let text = String::from_utf8(out).unwrap();
            let line = text.lines().find(|l| l.starts_with("Connection:")).map(str::to_owned);
            (line, text.matches("Connection").count())
        };
        assert_eq!(connection(true, true), (None, 0), "1.1 persists by default: no header");
        assert_eq!(connection(true, false), (Some("Connection: keep-alive".into()), 1), "1.0 keep-alive");
        assert_eq!(connection(false, true), (Some("Connection: close".into()), 1), "1.1 close");
        assert_eq!(connection(false, false), (Some("Connection: close".into()), 1), "1.0 close");
    }

    #[test]
    fn header_value_rejects_controls() {
        for bad in ["a\r\nSet-Cookie: x", "a\n", "a\0", "\x7f", "caf\u{e9}"] {
            assert_eq!(HeaderValue::new(bad), Err(InvalidHeaderValue), "{bad:?}");
        }
        assert!(HeaderValue::new("public, max-age=3600\t").is_ok());
    }
}
