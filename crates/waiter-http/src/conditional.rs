//! Conditional requests (RFC 9110 §13): validators and the 304/412 decision.
//!
//! The validators are nginx's: a strong `ETag` of `"<mtime hex>-<size hex>"`
//! and `Last-Modified` from the file's mtime, both at one-second resolution.
//! [`evaluate`] runs the preconditions in the order of RFC 9110 §13.2.2 for a
//! GET or HEAD; `If-Range` lives with the ranges, in [`crate::range`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 9999-12-31T23:59:59Z, the last second an HTTP-date can write (and httpdate
/// panics past it, as it does before 1970): file times are clamped into range.
const LAST_HTTP_SECOND: u64 = 253_402_300_799;

/// Whole seconds since the epoch, clamped to what an HTTP-date can express.
pub(crate) fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()).min(LAST_HTTP_SECOND)
}

/// A strong entity tag, quotes included, as this server makes them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ETag(String);

impl ETag {
    /// nginx's tag for a file: `"<mtime seconds hex>-<size hex>"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use waiter_http::ETag;
    ///
    /// let tag = ETag::for_file(UNIX_EPOCH + Duration::from_secs(0x5f5e1000), 0x400);
    /// assert_eq!(tag.as_str(), "\"5f5e1000-400\"");
    /// ```
    pub fn for_file(mtime: SystemTime, len: u64) -> ETag {
        ETag(format!("\"{:x}-{:x}\"", unix_secs(mtime), len))
    }

    /// The tag of a precompressed sibling (`file.br`) served for another
    /// file: the file tag with `-<coding>` added, so it never equals the
    /// uncompressed tag even when mtime and size coincide, and a cache never
    /// completes a range of one with bytes of the other.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use waiter_http::ETag;
    ///
    /// let tag = ETag::for_encoded_file(UNIX_EPOCH + Duration::from_secs(0x5f5e1000), 0x400, "br");
    /// assert_eq!(tag.as_str(), "\"5f5e1000-400-br\"");
    /// ```
    pub fn for_encoded_file(mtime: SystemTime, len: u64, coding: &str) -> ETag {
        ETag(format!("\"{:x}-{:x}-{coding}\"", unix_secs(mtime), len))
    }

    /// The tag as sent in the `ETag` header.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A `Last-Modified` time, truncated to the second, with its formatted text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LastModified {
    secs: u64,
    text: String,
}

impl LastModified {
    /// The validator for a file modified at `mtime` (clamped to 1970–9999).
    pub fn new(mtime: SystemTime) -> LastModified {
        LastModified::from_secs(unix_secs(mtime))
    }

    pub(crate) fn from_secs(secs: u64) -> LastModified {
        let time = UNIX_EPOCH + Duration::from_secs(secs);
        LastModified { secs, text: httpdate::fmt_http_date(time) }
    }

    pub(crate) fn secs(&self) -> u64 {
        self.secs
    }

    /// The time, whole seconds.
    pub fn time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.secs)
    }

    /// The IMF-fixdate text, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A parsed HTTP-date field value in whole seconds, or `None` if it is not
/// exactly one valid date (IMF-fixdate, RFC 850 or asctime: RFC 9110 §5.6.7).
pub(crate) fn parse_date(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    httpdate::parse_http_date(text.trim_matches([' ', '\t'])).ok().map(unix_secs)
}

/// An entity-tag from a request field: `(weak, opaque-tag with quotes)`.
type TagRef<'a> = (bool, &'a [u8]);

/// Parses `#entity-tag` (RFC 9110 §8.8.3), calling `each` per tag until it
/// returns true. Commas may sit inside the quotes. Returns `None` if the list
/// is not valid; a caller treats that as "no tag matched".
fn any_tag(mut rest: &[u8], mut each: impl FnMut(TagRef<'_>) -> bool) -> Option<bool> {
    let mut found = false;
    let mut seen_one = false;
    loop {
        while let [b' ' | b'\t' | b',', tail @ ..] = rest {
            rest = tail;
        }
        if rest.is_empty() {
            return seen_one.then_some(found);
        }
        let weak = rest.starts_with(b"W/");
        if weak {
            rest = &rest[2..];
        }
        if rest.first() != Some(&b'"') {
            return None;
        }
        let close = 1 + rest[1..].iter().position(|&b| b == b'"')?;
        let (tag, tail) = rest.split_at(close + 1);
        if !tag[1..close].iter().all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80) {
            return None;
        }
        found = found || each((weak, tag));
        seen_one = true;
        rest = tail;
        while let [b' ' | b'\t', tail @ ..] = rest {
            rest = tail;
        }
        if !matches!(rest.first(), None | Some(b',')) {
            return None;
        }
    }
}

fn is_star(value: &[u8]) -> bool {
    value.trim_ascii() == b"*"
}

/// `If-None-Match` against `etag` by weak comparison: true when some listed tag
/// (or `*`) matches, which for a GET or HEAD means 304. Invalid lists match nothing.
pub fn none_match_hits(if_none_match: &[u8], etag: &ETag) -> bool {
    is_star(if_none_match)
        || any_tag(if_none_match, |(_, tag)| tag == etag.as_str().as_bytes()).unwrap_or(false)
}

/// `If-Match` against `etag` by strong comparison: true when the request may
/// proceed. A weak tag never matches; invalid lists match nothing (412).
pub fn match_hits(if_match: &[u8], etag: &ETag) -> bool {
    is_star(if_match)
        || any_tag(if_match, |(weak, tag)| !weak && tag == etag.as_str().as_bytes()).unwrap_or(false)
}

/// The conditional fields of a request, raw. `Default` is "none sent".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conditions<'a> {
    /// `If-Match`.
    pub if_match: Option<&'a [u8]>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<&'a [u8]>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a [u8]>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a [u8]>,
}

/// What the preconditions decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Serve the representation (then consider `Range`).
    Proceed,
    /// 304 Not Modified, no body.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// Evaluates the preconditions of a GET or HEAD in RFC 9110 §13.2.2's order.
///
/// 1. `If-Match` false → 412; else, without `If-Match`, `If-Unmodified-Since`
///    older than the file → 412 (an invalid date is ignored);
/// 2. `If-None-Match` matching (weak comparison, `*`) → 304; when it is
///    present, `If-Modified-Since` is not looked at;
/// 3. otherwise `If-Modified-Since` not older than the file → 304. The RFC's
///    "earlier or equal" is used, not nginx's default `if_modified_since exact`;
///    a date later than `now` is ignored (RFC 2616 §14.25 called it invalid;
///    RFC 9110 dropped that rule, and nginx, h2o and lighttpd answer 304: kept
///    because a client with a fast clock would otherwise pin a stale copy).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use waiter_http::{conditional, Conditions, ETag, LastModified, Precondition};
///
/// let mtime = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let (etag, modified) = (ETag::for_file(mtime, 10), LastModified::new(mtime));
/// let cond = Conditions { if_none_match: Some(b"W/\"6553f100-a\""), ..Default::default() };
/// let now = mtime + Duration::from_secs(60);
/// assert_eq!(conditional::evaluate(&cond, &etag, &modified, now), Precondition::NotModified);
/// ```
pub fn evaluate(
    cond: &Conditions<'_>,
    etag: &ETag,
    modified: &LastModified,
    now: SystemTime,
) -> Precondition {
    if let Some(value) = cond.if_match {
        if !match_hits(value, etag) {
            return Precondition::Failed;
        }
    } else if let Some(since) = cond.if_unmodified_since.and_then(parse_date) {
        if modified.secs > since {
            return Precondition::Failed;
        }
    }
    if let Some(value) = cond.if_none_match {
        return if none_match_hits(value, etag) { Precondition::NotModified } else { Precondition::Proceed };
    }
    match cond.if_modified_since.and_then(parse_date) {
        Some(since) if since <= unix_secs(now) && modified.secs <= since => Precondition::NotModified,
        _ => Precondition::Proceed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(value: &str) -> Option<Vec<(bool, String)>> {
        let mut out = Vec::new();
        any_tag(value.as_bytes(), |(weak, tag)| {
            out.push((weak, String::from_utf8_lossy(tag).into_owned()));
            false
        })?;
        Some(out)
    }

    #[test]
    fn entity_tag_lists() {
        let t = |w, s: &str| (w, s.to_owned());
        assert_eq!(tags(r#""a""#), Some(vec![t(false, r#""a""#)]), "one strong");
        assert_eq!(
            tags(r#"W/"a", "b,c""#),
            Some(vec![t(true, r#""a""#), t(false, r#""b,c""#)]),
            "comma in quotes"
        );
        assert_eq!(
            tags(r#" , "a" ,, "b" , "#),
            Some(vec![t(false, r#""a""#), t(false, r#""b""#)]),
            "empty elements"
        );
        assert_eq!(tags(r#""""#), Some(vec![t(false, r#""""#)]), "empty opaque tag");
        for bad in ["", ",", "a", r#""a"#, r#""a" "b""#, r#"w/"a""#, r#"W/ "a""#, "\"a b\"", "*", r#""a"x"#] {
            assert_eq!(tags(bad), None, "invalid {bad:?}");
        }
    }

    #[test]
    fn clamps_times_an_http_date_cannot_hold() {
        let before = UNIX_EPOCH - Duration::from_secs(86_400);
        assert_eq!(LastModified::new(before).as_str(), "Thu, 01 Jan 1970 00:00:00 GMT", "pre-1970");
        let far = UNIX_EPOCH + Duration::from_secs(LAST_HTTP_SECOND + 10_000);
        assert_eq!(LastModified::new(far).as_str(), "Fri, 31 Dec 9999 23:59:59 GMT", "post-9999");
        assert_eq!(ETag::for_file(before, 0).as_str(), "\"0-0\"", "pre-1970 etag");
    }

    #[test]
    fn dates_in_three_formats() {
        let want = Some(784_111_777);
        assert_eq!(parse_date(b"Sun, 06 Nov 1994 08:49:37 GMT"), want, "IMF-fixdate");
        assert_eq!(parse_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), want, "RFC 850");
        assert_eq!(parse_date(b"Sun Nov  6 08:49:37 1994"), want, "asctime");
        assert_eq!(parse_date(b"Sun, 06 Nov 1994 08:49:37 GMT, x"), None, "two members");
        assert_eq!(parse_date(b"\xff"), None, "not UTF-8");
    }
}
