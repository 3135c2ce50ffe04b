//! `Range` and `If-Range` (RFC 9110 §14): which bytes of a file to send.
//!
//! Choices where the RFC leaves them open, with nginx's for comparison:
//! - A `Range` that does not parse (`bytes=abc`), or names a unit other than
//!   `bytes`, is ignored (200 with the whole file), as the RFC asks of an
//!   unknown unit and allows of the rest (§14.2); nginx answers 416 to the
//!   former. A well-formed spec whose last byte is before its first
//!   (`bytes=5-2`) is what RFC 9110 §14.1.1 calls an invalid range-spec,
//!   which a server "MAY ignore or reject" (§14.2): the header is rejected
//!   with 416 (§15.5.17, "rejected due to invalid ranges"), as nginx 1.22
//!   and Go's `http.ServeContent` answer `bytes=5-2`, so a client with that
//!   bug learns of it instead of getting the whole file. With valid specs
//!   beside it (`bytes=5-2,0-1`) it is still 416 (Go too); nginx drops
//!   the invalid one and serves the rest (206).
//! - More than [`DEFAULT_MAX_RANGES`] specs: the header is ignored (200), as
//!   nginx's `max_ranges` does; counting stops there, so the work is bounded.
//! - Overlapping or adjacent satisfiable ranges are coalesced (RFC 9110
//!   §14.2 allows it), so the bytes sent never exceed the file: the "many
//!   overlapping ranges" amplification cannot happen. nginx instead sends
//!   overlapping parts as asked, and the whole file (200) once they add up
//!   to more than it.
//! - The parts keep the order of the header, a coalesced one taking the
//!   place of its first member, as RFC 9110 §14.6 asks and nginx does
//!   (`bytes=10-19,0-4` sends 10-19 first).
//! - An empty file ignores `Range` (a 206 cannot describe zero bytes).
//! - Numbers too large for `u64` saturate: `bytes=99999999999999999999-` is
//!   unsatisfiable (416), `bytes=0-99999999999999999999` is the whole file.
//!
//! HEAD ignores `Range` (the caller does not ask), as nginx does.

use crate::conditional::{parse_date, ETag, LastModified};

/// nginx has no default cap (`max_ranges` unset); 16 covers every download
/// manager and media player seen in the wild, which send 1–2.
pub const DEFAULT_MAX_RANGES: usize = 16;

/// An inclusive byte range, `first..=last`, as in `Content-Range`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteRange {
    /// The first byte's offset.
    pub first: u64,
    /// The last byte's offset (inclusive). INVARIANT: `first <= last`.
    pub last: u64,
}

impl ByteRange {
    /// The number of bytes, at least 1.
    #[allow(clippy::len_without_is_empty)] // never empty, by its invariant
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }
}

/// One `range-spec` of a `bytes=` header, not yet applied to a length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeSpec {
    /// `first-last`.
    FromTo(u64, u64),
    /// `first-`: to the end.
    From(u64),
    /// `-n`: the last `n` bytes.
    Suffix(u64),
    /// `first-last` with `last < first`: an invalid range-spec (RFC 9110
    /// §14.1.1), which makes the whole header unsatisfiable.
    Reversed(u64, u64),
}

/// What to send for a `Range` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeDecision {
    /// 200, the whole file: `Range` absent, ignored or invalid.
    Full,
    /// 206: one range (plain body) or several (`multipart/byteranges`), in
    /// the order they were asked for, neither overlapping nor adjacent.
    Partial(Vec<ByteRange>),
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Parses `bytes=` specs, or `None` if the header is to be ignored: invalid
/// syntax, another unit, or more than `max_ranges` specs.
pub fn parse(value: &[u8], max_ranges: usize) -> Option<Vec<RangeSpec>> {
    let eq = value.iter().position(|&b| b == b'=')?;
    if !value[..eq].eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    let mut specs = Vec::new();
    for element in value[eq + 1..].split(|&b| b == b',') {
        let element = element.trim_ascii();
        if element.is_empty() {
            continue; // `1#` lists tolerate empty elements (RFC 9110 §5.6.1).
        }
        if specs.len() == max_ranges {
            return None;
        }
        let dash = element.iter().position(|&b| b == b'-')?;
        let (first, last) = (&element[..dash], &element[dash + 1..]);
        specs.push(match (first.is_empty(), last.is_empty()) {
            (true, false) => RangeSpec::Suffix(number(last)?),
            (false, true) => RangeSpec::From(number(first)?),
            (false, false) => match (number(first)?, number(last)?) {
                (first, last) if last >= first => RangeSpec::FromTo(first, last),
                (first, last) => RangeSpec::Reversed(first, last),
            },
            (true, true) => return None,
        });
    }
    (!specs.is_empty()).then_some(specs)
}

/// `1*DIGIT`, saturating at `u64::MAX` (see the module notes).
fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, &d| n.saturating_mul(10).saturating_add(u64::from(d - b'0'))))
}

/// Applies specs to a representation of `len` bytes: drops unsatisfiable ones,
/// coalesces overlapping or adjacent ones, and keeps the specs' order (a
/// coalesced range stands where its first member stood). An invalid spec
/// ([`RangeSpec::Reversed`]) makes the whole set unsatisfiable.
pub fn resolve(specs: &[RangeSpec], len: u64) -> RangeDecision {
    if len == 0 {
        return RangeDecision::Full;
    }
    if specs.iter().any(|spec| matches!(spec, RangeSpec::Reversed(..))) {
        return RangeDecision::Unsatisfiable;
    }
    // Each range with the position of the spec it came from.
    let mut ranges: Vec<(ByteRange, usize)> = specs
        .iter()
        .enumerate()
        .filter_map(|(at, spec)| {
            let (first, last) = match *spec {
                RangeSpec::FromTo(first, last) => (first, last.min(len - 1)),
                RangeSpec::From(first) => (first, len - 1),
                RangeSpec::Suffix(0) => return None,
                RangeSpec::Suffix(n) => (len - n.min(len), len - 1),
                RangeSpec::Reversed(..) => return None, // refused above
            };
            (first < len).then_some((ByteRange { first, last }, at))
        })
        .collect();
    if ranges.is_empty() {
        return RangeDecision::Unsatisfiable;
    }
    ranges.sort_unstable();
    let mut merged: Vec<(ByteRange, usize)> = Vec::with_capacity(ranges.len());
    for (range, at) in ranges {
        match merged.last_mut() {
            // `last + 1` cannot overflow: `last < len <= u64::MAX`.
            Some((prev, prev_at)) if range.first <= prev.last + 1 => {
                prev.last = prev.last.max(range.last);
                *prev_at = (*prev_at).min(at);
            }
            _ => merged.push((range, at)),
        }
    }
    merged.sort_unstable_by_key(|&(_, at)| at);
    RangeDecision::Partial(merged.into_iter().map(|(range, _)| range).collect())
}

/// [`parse`] then [`resolve`]: the decision for a `Range` header on a file of `len` bytes.
///
/// # Examples
///
/// ```
/// use waiter_http::range::{self, ByteRange, RangeDecision};
///
/// let one = |first, last| ByteRange { first, last };
/// assert_eq!(range::evaluate(b"bytes=-500", 1000, 16), RangeDecision::Partial(vec![one(500, 999)]));
/// assert_eq!(range::evaluate(b"bytes=0-9,5-19", 1000, 16), RangeDecision::Partial(vec![one(0, 19)]));
/// assert_eq!(range::evaluate(b"bytes=1000-", 1000, 16), RangeDecision::Unsatisfiable);
/// assert_eq!(range::evaluate(b"lines=1-2", 1000, 16), RangeDecision::Full);
/// ```
pub fn evaluate(value: &[u8], len: u64, max_ranges: usize) -> RangeDecision {
    match parse(value, max_ranges) {
        Some(specs) => resolve(&specs, len),
        None => RangeDecision::Full,
    }
}

/// Whether `If-Range` lets the `Range` apply (RFC 9110 §13.1.5); when false,
/// send the whole file.
///
/// An entity-tag must be strong and equal to `etag`; a date must equal the
/// `Last-Modified` second exactly (nginx's rule too). Anything else, including
/// an unparsable value, is false: the client gets the full, current file
/// rather than a piece of a version it does not have.
pub fn if_range_allows(if_range: &[u8], etag: &ETag, modified: &LastModified) -> bool {
    let value = if_range.trim_ascii();
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        return value == etag.as_str().as_bytes();
    }
    parse_date(value) == Some(modified.secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_syntax() {
        let p = |s: &str| parse(s.as_bytes(), DEFAULT_MAX_RANGES);
        use RangeSpec::*;
        assert_eq!(p("bytes=0-499"), Some(vec![FromTo(0, 499)]), "first-last");
        assert_eq!(p("Bytes=9500-"), Some(vec![From(9500)]), "unit is case-insensitive");
        assert_eq!(p("bytes=-500"), Some(vec![Suffix(500)]), "suffix");
        assert_eq!(p("bytes= 0-0 ,, -1 "), Some(vec![FromTo(0, 0), Suffix(1)]), "OWS and empty elements");
        assert_eq!(p("bytes=0-99999999999999999999999"), Some(vec![FromTo(0, u64::MAX)]), "saturates");
        assert_eq!(
            p("bytes=0-1,5-2"),
            Some(vec![FromTo(0, 1), Reversed(5, 2)]),
            "reversed: invalid, not junk"
        );
        for bad in ["bytes=", "bytes=,", "bytes=-", "bytes=5-2-1", "bytes=a-b", "bytes=1-2-3", "bytes=+1-2"] {
            assert_eq!(p(bad), None, "invalid {bad:?}");
        }
        for bad in ["bytes 0-1", "bytes =0-1", "items=0-1", "=0-1", ""] {
            assert_eq!(p(bad), None, "unit {bad:?}");
        }
        assert_eq!(parse(b"bytes=0-0,1-1,2-2", 2), None, "over the cap");
        assert_eq!(parse(b"bytes=0-0,1-1", 2).map(|v| v.len()), Some(2), "at the cap");
    }
}
