//! Request message framing (RFC 9112 §6): where the body ends, or a 400.
//!
//! Every header that decides framing passes through [`Framing`], so the
//! request-smuggling defences sit in one place: `Transfer-Encoding` together
//! with `Content-Length`, a coding list not ending in exactly one `chunked`,
//! `Transfer-Encoding` in HTTP/1.0, invalid and differing `Content-Length`s.
//! Also here: the transfer codings we know (an unknown one is 501) and the
//! `Expect` field (anything but `100-continue` is 417).

use super::{Body, HttpError, Limits, Version};

/// The framing fields of one head, gathered line by line.
#[derive(Debug, Default)]
pub(super) struct Framing {
    content_length: Option<u64>,
    /// `Some` once a `Transfer-Encoding` line was seen.
    codings: Option<Codings>,
    /// An `Expect` line was seen.
    expect: bool,
    /// One of its members was not `100-continue`.
    unknown_expectation: bool,
}

#[derive(Debug)]
struct Codings {
    valid: bool,
    /// A syntactically valid coding that is not in [`KNOWN_CODINGS`].
    unknown: bool,
    chunked_seen: bool,
    last_chunked: bool,
    /// A coding other than `chunked` was applied.
    other: bool,
}

/// The codings of IANA's HTTP Transfer Coding Registry (RFC 9112 §7), which
/// a request may apply before `chunked`: the server never decodes a request
/// body, but one in any other coding is 501 (RFC 9112 §6.1).
const KNOWN_CODINGS: [&[u8]; 6] = [b"chunked", b"gzip", b"deflate", b"compress", b"x-gzip", b"x-compress"];

impl Framing {
    /// A `Content-Length` line: a list of equal decimals (`5, 5` is 5, RFC 9110 §8.6).
    pub(super) fn content_length(&mut self, value: &[u8]) -> Result<(), HttpError> {
        for element in value.split(|&b| b == b',') {
            let n = decimal(element.trim_ascii()).ok_or(HttpError::InvalidContentLength)?;
            if self.content_length.is_some_and(|seen| seen != n) {
                return Err(HttpError::ContentLengthMismatch);
            }
            self.content_length = Some(n);
        }
        Ok(())
    }

    /// A `Transfer-Encoding` line. Codings with parameters and empty list
    /// elements are refused: leniency here is what smuggling feeds on.
    pub(super) fn transfer_encoding(&mut self, value: &[u8]) {
        let codings = self.codings.get_or_insert(Codings {
            valid: true,
            unknown: false,
            chunked_seen: false,
            last_chunked: false,
            other: false,
        });
        for coding in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
            let chunked = coding.eq_ignore_ascii_case(b"chunked");
            codings.valid &= !coding.is_empty()
                && coding.iter().all(|&b| is_tchar(b))
                && !(chunked && codings.chunked_seen);
            codings.unknown |= !KNOWN_CODINGS.iter().any(|known| coding.eq_ignore_ascii_case(known));
            codings.chunked_seen |= chunked;
            codings.last_chunked = chunked;
            codings.other |= !chunked;
        }
    }

    /// Whether the body has a transfer coding besides `chunked` (`gzip,
    /// chunked`): one this server would have to decode to read the body.
    pub(super) fn coded(&self) -> bool {
        self.codings.as_ref().is_some_and(|c| c.other)
    }

    /// An `Expect` line: a list of expectations, of which we know only
    /// `100-continue` (RFC 9110 §10.1.1; empty members are allowed and ignored).
    pub(super) fn expect(&mut self, value: &[u8]) {
        self.expect = true;
        self.unknown_expectation |= value
            .split(|&b| b == b',')
            .map(<[u8]>::trim_ascii)
            .any(|member| !member.is_empty() && !member.eq_ignore_ascii_case(b"100-continue"));
    }

    /// 417 for an expectation we cannot meet, in HTTP/1.1 only: an HTTP/1.0
    /// `Expect` must be ignored (RFC 9110 §10.1.1).
    pub(super) fn expectation(&self, version: Version) -> Result<(), HttpError> {
        match self.unknown_expectation && version == Version::Http11 {
            true => Err(HttpError::ExpectationFailed),
            false => Ok(()),
        }
    }

    /// The body's framing, or why there is none to trust.
    pub(super) fn body(&self, version: Version) -> Result<Body, HttpError> {
        match (&self.codings, self.content_length) {
            (Some(_), Some(_)) => Err(HttpError::TransferEncodingWithContentLength),
            (Some(c), None) if version == Version::Http10 || !c.valid || !c.last_chunked => {
                Err(HttpError::UnsupportedTransferEncoding)
            }
            (Some(c), None) if c.unknown => Err(HttpError::UnknownTransferCoding),
            (Some(_), None) => Ok(Body::Chunked),
            (None, None | Some(0)) => Ok(Body::None),
            (None, Some(n)) => Ok(Body::Length(n)),
        }
    }

    /// Whether the client expects a `100 Continue` before it sends the body:
    /// an `Expect` line in HTTP/1.1 (an HTTP/1.0 client must get no 1xx at
    /// all, RFC 9110 §15.2, so its `Expect` is ignored).
    pub(super) fn expects_continue(&self, version: Version) -> bool {
        self.expect && version == Version::Http11
    }

    /// Whether the connection can skip `body` and read the next request.
    ///
    /// A body over [`Limits::max_discard_body`] is not, nor any body sent
    /// with `Expect`: a client waiting for `100 Continue` may never send
    /// the body it announced, and discarding the next request in its place
    /// would desynchronise the connection. nginx answers `100 Continue` first;
    /// closing after the response is simpler and as safe. A chunked body's
    /// size shows only as it is decoded: it is discardable here, and the
    /// reader closes the connection if it goes past the limit.
    pub(super) fn discardable(&self, body: Body, limits: &Limits) -> bool {
        match body {
            Body::None => true,
            Body::Length(n) => n <= limits.max_discard_body && !self.expect,
            Body::Chunked => !self.expect,
        }
    }
}

/// `1*DIGIT` as a `u64`, `None` if empty, not digits, or too large.
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let digit = d.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// `tchar` (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_edges() {
        assert_eq!(decimal(b"0"), Some(0), "zero");
        assert_eq!(decimal(b"007"), Some(7), "leading zeros");
        assert_eq!(decimal(b"18446744073709551615"), Some(u64::MAX), "u64::MAX");
        for bad in [&b""[..], b"18446744073709551616", b"+1", b"-1", b"1 2", b"0x10", b"1.0", b"\xd9\xa1"] {
            assert_eq!(decimal(bad), None, "invalid {bad:?}");
        }
    }

    #[test]
    fn codings() {
        let body = |lines: &[&str], version| {
            let mut framing = Framing::default();
            lines.iter().for_each(|line| framing.transfer_encoding(line.as_bytes()));
            framing.body(version)
        };
        assert_eq!(body(&["chunked"], Version::Http11), Ok(Body::Chunked), "chunked");
        assert_eq!(body(&["gzip", "CHUNKED"], Version::Http11), Ok(Body::Chunked), "two lines, case");
        assert_eq!(body(&["chunked"], Version::Http10), Err(HttpError::UnsupportedTransferEncoding), "1.0");
        assert_eq!(
            body(&["chunked", "gzip"], Version::Http11),
            Err(HttpError::UnsupportedTransferEncoding),
            "last"
        );
        assert_eq!(
            body(&["x-foo, chunked"], Version::Http11),
            Err(HttpError::UnknownTransferCoding),
            "unknown"
        );
        assert_eq!(body(&["X-Gzip, deflate", "chunked"], Version::Http11), Ok(Body::Chunked), "registered");
        assert_eq!(
            body(&["x-foo"], Version::Http11),
            Err(HttpError::UnsupportedTransferEncoding),
            "400 first"
        );
    }

    #[test]
    fn expectations() {
        let check = |value: &str, version| {
            let mut framing = Framing::default();
            framing.expect(value.as_bytes());
            framing.expectation(version)
        };
        for ok in ["100-continue", "100-Continue", " 100-continue , ", ""] {
            assert_eq!(check(ok, Version::Http11), Ok(()), "{ok:?}");
        }
        for bad in ["foo", "100-continue, foo", "100-continue=1", "200-ok"] {
            assert_eq!(check(bad, Version::Http11), Err(HttpError::ExpectationFailed), "{bad:?}");
        }
        assert_eq!(check("foo", Version::Http10), Ok(()), "ignored in HTTP/1.0");
    }
}
