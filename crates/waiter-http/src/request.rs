//! Request heads (RFC 9112): bytes in, a [`Head`] or an [`HttpError`] out.
//!
//! [`parse`] is incremental: call it on everything read so far; `Ok(None)`
//! means "read more", `Ok(Some((head, n)))` means the head took the first `n`
//! bytes (any pipelined request follows them). The [`Head`] borrows the buffer,
//! so a parsed request costs no allocation unless a field is repeated.
//!
//! Choices where the RFC leaves room, with nginx's for comparison:
//! - Limits ([`Limits`]): request line 8 KiB (414), one header line 8 KiB and
//!   the whole head 32 KiB (431), 100 header lines (431). This is nginx's
//!   `large_client_header_buffers 4 8k` ceiling, so anything nginx accepts is
//!   accepted; nginx answers an oversized header with 400, we with 431 (RFC 6585).
//! - A body we answer without reading (GET with `Content-Length` or chunked):
//!   up to [`Limits::max_discard_body`] (64 KiB) the connection discards it
//!   and stays alive; announced larger or with `Expect`, [`Head::keep_alive`]
//!   is false and the connection closes after the response, so the body is
//!   never read as a request. A chunked body's size is known only once
//!   decoded: the reader closes the connection when it passes the limit.
//!   nginx discards bodies of any size.
//! - Request smuggling (RFC 9112 §6): conflicting or malformed framing is 400,
//!   see `request/framing.rs`; httparse refuses obs-fold, space before the
//!   colon, bare CR and NUL: 400. A well-framed body in a transfer coding that
//!   is not registered (`x-foo, chunked`) is 501 (RFC 9112 §6.1).
//! - `Expect`: `100-continue` is honoured by closing after the response when
//!   a body was announced (see above); any other expectation in HTTP/1.1 is
//!   417 (RFC 9110 §10.1.1, as Apache and Go answer; nginx ignores it), and
//!   HTTP/1.0's `Expect` is ignored, as the RFC requires.
//! - Every error closes the connection after its response: the framing of
//!   what follows is unknown.
//! - Versions: HTTP/1.0 and 1.1; 1.2 to 1.9 are served as 1.1 (RFC 9110 §2.5,
//!   as nginx does); any other well-formed `HTTP/d.d` is 505 (a major version
//!   we do not implement). HTTP/0.9's version-less request line is 400 (nginx
//!   still serves it), and so is `HTTP/1.10` (one digit each, RFC 9112 §2.3).
//! - Targets: origin-form; absolute-form `http(s)://authority/path` (userinfo
//!   refused), whose authority replaces `Host` (RFC 9112 §3.2.2) although HTTP/1.1
//!   still requires `Host`; asterisk-form with OPTIONS only; authority-form
//!   (`host:port`) with CONNECT only, which the static server then answers
//!   405 like any method it does not serve (nginx too, since 1.21.1).
//! - Methods are case-sensitive: `get` is [`Method::Other`] (405), nginx says 400.
//! - Empty lines before the request line are skipped (RFC 9112 §2.2) and count
//!   towards the head limit; a bare LF ends a line, as in nginx.

use std::borrow::Cow;
use std::fmt;
use std::mem::MaybeUninit;

use crate::conditional::Conditions;
use crate::status::Status;

mod framing;
mod syntax;
use framing::Framing;
use syntax::{higher_minor, split_absolute, valid_authority, version_error};

/// The most header lines [`Limits::max_headers`] can allow (the parser's stack array).
pub const MAX_HEADERS: usize = 100;

/// Size limits on a request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line, CRLF excluded (414 beyond). Default 8 KiB.
    pub max_request_line: usize,
    /// Longest header line (431 beyond). Default 8 KiB.
    pub max_field_line: usize,
    /// Largest head, empty lines before it included (431 beyond). Default 32 KiB.
    pub max_head: usize,
    /// Most header lines, at most [`MAX_HEADERS`] (431 beyond). Default 100.
    pub max_headers: usize,
    /// Largest body the connection discards to keep the connection alive. Default 64 KiB.
    pub max_discard_body: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_request_line: 8 * 1024,
            max_field_line: 8 * 1024,
            max_head: 32 * 1024,
            max_headers: MAX_HEADERS,
            max_discard_body: 64 * 1024,
        }
    }
}

/// Why a head was refused; [`HttpError::status`] is the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// A request line or header line that does not parse (400).
    Syntax,
    /// A request line over [`Limits::max_request_line`] (414).
    UriTooLong,
    /// A header line or the head over its limit (431).
    HeadTooLarge,
    /// More header lines than [`Limits::max_headers`] (431).
    TooManyHeaders,
    /// A well-formed version other than HTTP/1.0 and 1.1 (505).
    VersionNotSupported,
    /// A target that is not origin-, absolute- or (for OPTIONS) asterisk-form (400).
    InvalidTarget,
    /// HTTP/1.1 without `Host` (400).
    MissingHost,
    /// More than one `Host` line (400).
    MultipleHost,
    /// A `Host` (or absolute-form authority) that is not `host[:port]` (400).
    InvalidHost,
    /// A `Content-Length` that is not a decimal `u64` (400).
    InvalidContentLength,
    /// `Content-Length` values that differ (400).
    ContentLengthMismatch,
    /// Both `Transfer-Encoding` and `Content-Length` (400).
    TransferEncodingWithContentLength,
    /// `Transfer-Encoding` not ending in one `chunked`, or in HTTP/1.0 (400).
    UnsupportedTransferEncoding,
    /// A transfer coding before the final `chunked` that is not registered (501, RFC 9112 §6.1).
    UnknownTransferCoding,
    /// An `Expect` other than `100-continue` in HTTP/1.1 (417, RFC 9110 §10.1.1).
    ExpectationFailed,
}

impl HttpError {
    /// The response status for this error.
    pub fn status(self) -> Status {
        match self {
            HttpError::UriTooLong => Status::URI_TOO_LONG,
            HttpError::HeadTooLarge | HttpError::TooManyHeaders => Status::REQUEST_HEADER_FIELDS_TOO_LARGE,
            HttpError::VersionNotSupported => Status::HTTP_VERSION_NOT_SUPPORTED,
            HttpError::UnknownTransferCoding => Status::NOT_IMPLEMENTED,
            HttpError::ExpectationFailed => Status::EXPECTATION_FAILED,
            _ => Status::BAD_REQUEST,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.status(), self)
    }
}

impl std::error::Error for HttpError {}

/// The request method. Only GET and HEAD are served; the rest keep their name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method<'b> {
    /// `GET`.
    Get,
    /// `HEAD`.
    Head,
    /// Any other token, case preserved.
    Other(&'b str),
}

impl Method<'_> {
    /// The method as sent.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Other(name) => name,
        }
    }
}

/// The protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
}

/// How the request body is framed (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// No body (no framing header, or `Content-Length: 0`).
    None,
    /// `Content-Length` bytes follow the head.
    Length(u64),
    /// A chunked body follows; [`Head::keep_alive`] is false.
    Chunked,
}

/// The request fields the static server acts on. A repeated field is joined
/// with `", "` (RFC 9110 §5.3), which makes a repeated singleton (`Range`,
/// `If-Range`, the dates) invalid and hence ignored or false.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)] // each field is the header of its name
pub struct Fields<'b> {
    pub range: Option<Cow<'b, [u8]>>,
    pub if_range: Option<Cow<'b, [u8]>>,
    pub if_match: Option<Cow<'b, [u8]>>,
    pub if_none_match: Option<Cow<'b, [u8]>>,
    pub if_modified_since: Option<Cow<'b, [u8]>>,
    pub if_unmodified_since: Option<Cow<'b, [u8]>>,
    pub accept_encoding: Option<Cow<'b, [u8]>>,
    pub user_agent: Option<Cow<'b, [u8]>>,
    pub referer: Option<Cow<'b, [u8]>>,
}

impl<'b> Fields<'b> {
    fn slot(&mut self, name: &str) -> Option<&mut Option<Cow<'b, [u8]>>> {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        Some(match name.len() {
            5 if is("range") => &mut self.range,
            7 if is("referer") => &mut self.referer,
            8 if is("if-range") => &mut self.if_range,
            8 if is("if-match") => &mut self.if_match,
            10 if is("user-agent") => &mut self.user_agent,
            13 if is("if-none-match") => &mut self.if_none_match,
            15 if is("accept-encoding") => &mut self.accept_encoding,
            17 if is("if-modified-since") => &mut self.if_modified_since,
            19 if is("if-unmodified-since") => &mut self.if_unmodified_since,
            _ => return None,
        })
    }
}

/// A parsed request head, borrowing the buffer it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head<'b> {
    /// The method.
    pub method: Method<'b>,
    /// The request target as sent (for the access log).
    pub target: &'b str,
    /// The origin-form part of the target: path and query. For absolute-form it
    /// may be empty or start with `?`; `"*"` for asterisk-form; the
    /// `host:port` of a CONNECT's authority-form.
    pub path: &'b str,
    /// The version.
    pub version: Version,
    /// The authority of an absolute-form target, else the `Host` field; `None`
    /// when neither names one (HTTP/1.0 without `Host`, or an empty `Host`).
    pub host: Option<&'b str>,
    /// Whether the connection may carry another request after this one, its
    /// body (if any) read or discarded: the client lets it persist (HTTP/1.1
    /// without `Connection: close`, HTTP/1.0 with `keep-alive`), and the body
    /// can be skipped (see the module notes).
    pub keep_alive: bool,
    /// Whether the client expects a `100 Continue` (an HTTP/1.1 `Expect:
    /// 100-continue`; any other expectation was refused with 417).
    pub expect: bool,
    /// Whether the body has a transfer coding besides `chunked` (`gzip,
    /// chunked`), which a server that reads the body would have to decode.
    pub coded: bool,
    /// The body's framing.
    pub body: Body,
    /// The fields the static server uses.
    pub fields: Fields<'b>,
    /// INVARIANT: the bytes httparse accepted as this head.
    raw: &'b [u8],
}

impl<'b> Head<'b> {
    /// Every header line in order: `(name as sent, value without surrounding whitespace)`.
    pub fn headers(&self) -> impl Iterator<Item = (&'b str, &'b [u8])> {
        let start = self.raw.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(self.raw.len());
        let after_line =
            self.raw[start..].iter().position(|&b| b == b'\n').map_or(self.raw.len(), |n| start + n + 1);
        self.raw[after_line..]
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .take_while(|line| !line.is_empty())
            .filter_map(|line| {
                let colon = line.iter().position(|&b| b == b':')?;
                let name = std::str::from_utf8(&line[..colon]).ok()?;
                Some((name, line[colon + 1..].trim_ascii()))
            })
    }

    /// The conditional fields, for [`crate::conditional::evaluate`].
    pub fn conditions(&self) -> Conditions<'_> {
        Conditions {
            if_match: self.fields.if_match.as_deref(),
            if_unmodified_since: self.fields.if_unmodified_since.as_deref(),
            if_none_match: self.fields.if_none_match.as_deref(),
            if_modified_since: self.fields.if_modified_since.as_deref(),
        }
    }
}

/// [`parse_with`] under the default [`Limits`].
///
/// # Errors
///
/// As [`parse_with`].
pub fn parse(buf: &[u8]) -> Result<Option<(Head<'_>, usize)>, HttpError> {
    parse_with(buf, &Limits::default())
}

/// Parses the head at the start of `buf`: `Ok(None)` until it is complete.
///
/// # Errors
///
/// An [`HttpError`] as soon as the bytes so far cannot begin an acceptable head.
///
/// # Examples
///
/// ```
/// use waiter_http::request::{parse, Method};
///
/// let buf = b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /b";
/// assert_eq!(parse(&buf[..20]), Ok(None));
/// let (head, used) = parse(buf).unwrap().unwrap();
/// assert_eq!((head.method, head.path, head.host, used), (Method::Get, "/a.txt", Some("x"), 32));
/// ```
pub fn parse_with<'b>(buf: &'b [u8], limits: &Limits) -> Result<Option<(Head<'b>, usize)>, HttpError> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let line_end = buf[start..].iter().position(|&b| b == b'\n');
    let line = &buf[start..line_end.map_or(buf.len(), |n| start + n)];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > limits.max_request_line {
        return Err(HttpError::UriTooLong);
    }

    // Uninitialised slots: this runs on every read of a partial head, and
    // zeroing 100 headers (3.2 KB) each time would cost more than the parse.
    let mut slots = [const { MaybeUninit::<httparse::Header<'b>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let parsed = req.parse_with_uninit_headers(buf, &mut slots[..limits.max_headers.min(MAX_HEADERS)]);
    let used = match complete(parsed, buf.len(), limits) {
        Ok(Some(used)) => used,
        Ok(None) => return Ok(None),
        Err(HttpError::VersionNotSupported) => {
            return match higher_minor(line) {
                Some(digit) if line_end.is_some() => parse_higher_minor(buf, start + digit, limits),
                _ => version_error(line, line_end.is_some()),
            };
        }
        Err(e) => return Err(e),
    };
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HttpError::Syntax);
    };
    let headers = req.headers.iter().map(|h| (h.name, h.value));
    head_from(buf, used, (method, target, minor), headers, limits).map(|head| Some((head, used)))
}

/// httparse's verdict on a head: `Some(used)`, `None` for "read more", or the
/// error; a refused version comes out as `VersionNotSupported`, for the
/// caller to refine with [`higher_minor`] and [`version_error`].
fn complete(
    parsed: httparse::Result<usize>,
    len: usize,
    limits: &Limits,
) -> Result<Option<usize>, HttpError> {
    match parsed {
        Ok(httparse::Status::Complete(used)) if used <= limits.max_head => Ok(Some(used)),
        Ok(httparse::Status::Partial) if len <= limits.max_head => Ok(None),
        Ok(_) => Err(HttpError::HeadTooLarge),
        Err(httparse::Error::TooManyHeaders) => Err(HttpError::TooManyHeaders),
        Err(httparse::Error::Version) => Err(HttpError::VersionNotSupported),
        Err(_) => Err(HttpError::Syntax),
    }
}

/// The head of an `HTTP/1.2` to `HTTP/1.9` request, `digit` being the offset
/// of its minor version in `buf`: RFC 9110 §2.5 has a server process a
/// higher minor version as the highest it implements, 1.1 (nginx does too).
/// httparse knows only 1.0 and 1.1, so a copy of the head with that digit
/// made `1` is parsed, and every piece is then taken from `buf` at the same
/// offset: the two differ in that one byte only. Rare, so the copy is fine.
#[cold]
fn parse_higher_minor<'b>(
    buf: &'b [u8],
    digit: usize,
    limits: &Limits,
) -> Result<Option<(Head<'b>, usize)>, HttpError> {
    let mut copy = buf[..buf.len().min(limits.max_head + 1)].to_vec();
    copy[digit] = b'1';
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let parsed = req.parse_with_uninit_headers(&copy, &mut slots[..limits.max_headers.min(MAX_HEADERS)]);
    let used = match complete(parsed, buf.len(), limits)? {
        Some(used) => used,
        None => return Ok(None),
    };
    let (Some(method), Some(target), Some(1)) = (req.method, req.path, req.version) else {
        return Err(HttpError::Syntax);
    };
    // The same bytes at the same offset in `buf`; httparse admits only
    // ASCII in names, methods and targets, so `from_utf8` cannot fail.
    let base = copy.as_ptr() as usize;
    let original = |part: &[u8]| {
        let at = part.as_ptr() as usize - base;
        &buf[at..at + part.len()]
    };
    let text = |part: &str| std::str::from_utf8(original(part.as_bytes())).map_err(|_| HttpError::Syntax);
    let headers = req
        .headers
        .iter()
        .map(|h| Ok((text(h.name)?, original(h.value))))
        .collect::<Result<Vec<_>, HttpError>>()?;
    let line = (text(method)?, text(target)?, 1);
    head_from(buf, used, line, headers.into_iter(), limits).map(|head| Some((head, used)))
}

/// The [`Head`] of the `used` bytes at the start of `buf`, from the request
/// line (method, target, minor version) and the header lines httparse found.
fn head_from<'b>(
    buf: &'b [u8],
    used: usize,
    (method, target, minor): (&'b str, &'b str, u8),
    headers: impl Iterator<Item = (&'b str, &'b [u8])>,
    limits: &Limits,
) -> Result<Head<'b>, HttpError> {
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        other => Method::Other(other),
    };
    let version = if minor == 1 { Version::Http11 } else { Version::Http10 };

    let mut fields = Fields::default();
    let mut framing = Framing::default();
    let (mut host_field, mut hosts) = (None, 0);
    let (mut close, mut keep_alive_token) = (false, false);
    for (name, value) in headers {
        if name.len() + 2 + value.len() > limits.max_field_line {
            return Err(HttpError::HeadTooLarge);
        }
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("host") {
            hosts += 1;
            host_field = Some(value);
        } else if is("content-length") {
            framing.content_length(value)?;
        } else if is("transfer-encoding") {
            framing.transfer_encoding(value);
        } else if is("expect") {
            framing.expect(value);
        } else if is("connection") {
            for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if let Some(slot) = fields.slot(name) {
            append(slot, value);
        }
    }

    let mut authority_host = None;
    let path = if target.starts_with('/') || (target == "*" && method == Method::Other("OPTIONS")) {
        target
    } else if method == Method::Other("CONNECT") {
        // Authority-form, CONNECT's only form (RFC 9112 §3.2.3): `host:port`.
        if !is_host_port(target) {
            return Err(HttpError::InvalidTarget);
        }
        authority_host = Some(target);
        target
    } else {
        let (authority, path) = split_absolute(target).ok_or(HttpError::InvalidTarget)?;
        if authority.is_empty() || !valid_authority(authority.as_bytes()) {
            return Err(HttpError::InvalidHost);
        }
        authority_host = Some(authority);
        path
    };
    match (hosts, version) {
        (2.., _) => return Err(HttpError::MultipleHost),
        (0, Version::Http11) => return Err(HttpError::MissingHost),
        _ => {}
    }
    // An absolute-form authority wins, but a broken `Host` is still a 400 (RFC 9112 §3.2).
    let host_field = match host_field {
        Some(value) if !valid_authority(value) => return Err(HttpError::InvalidHost),
        // valid_authority admits ASCII only, so from_utf8 cannot fail here.
        Some(value) => std::str::from_utf8(value).ok(),
        None => None,
    };
    let host = authority_host.or(host_field).filter(|h| !h.is_empty());

    let body = framing.body(version)?;
    framing.expectation(version)?;
    let persistent = !close && (version == Version::Http11 || keep_alive_token);
    let keep_alive = persistent && framing.discardable(body, limits);
    let expect = framing.expects_continue(version);
    let coded = framing.coded();
    Ok(Head {
        method,
        target,
        path,
        version,
        host,
        keep_alive,
        expect,
        coded,
        body,
        fields,
        raw: &buf[..used],
    })
}

/// `uri-host ":" port`, both present: the authority-form of a CONNECT target.
fn is_host_port(target: &str) -> bool {
    let (host, port) = target.rsplit_once(':').unwrap_or((target, ""));
    !host.is_empty() && !port.is_empty() && valid_authority(target.as_bytes())
}

fn append<'b>(slot: &mut Option<Cow<'b, [u8]>>, value: &'b [u8]) {
    *slot = Some(match slot.take() {
        None => Cow::Borrowed(value),
        Some(previous) => {
            let mut joined = previous.into_owned();
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(value);
            Cow::Owned(joined)
        }
    });
}
