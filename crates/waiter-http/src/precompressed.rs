//! Precompressed siblings (nginx's `gzip_static` / `brotli_static`): which
//! coding an `Accept-Encoding` allows, and swapping the file for `file.br` or
//! `file.gz` when one exists.
//!
//! The choice is sans-I/O ([`parse_accept_encoding`], [`choose`]); the swap
//! (`negotiate`) asks the open-file cache for the sibling, so a hot `.br`
//! costs no system call either. The sibling keeps the original's
//! `Content-Type`, but has its own length, `ETag` and `Last-Modified`.
//!
//! A GET with `Range` is answered from the file itself, unless its `If-Range`
//! names the sibling's own tag: a client resuming a download counts the bytes
//! it already has in the decoded file (`curl -C - --compressed` sends the
//! decoded length with `Accept-Encoding: gzip`), so a range of the compressed
//! bytes would splice two representations, and a 416 against the shorter
//! `.gz` makes curl report the truncated file as complete. nginx's
//! `gzip_static` ignores the `Range` instead (200, curl: cannot resume).
//!
//! Off by default (`--precompressed`), like `gzip_static` in nginx: a stale
//! `.gz` left next to an edited file would otherwise be served silently.

use std::rc::Rc;

use crate::file::FileInfo;
use crate::request::{Head, Method};
use crate::response::Encoding;
use crate::server::Worker;

/// Which precompressed siblings exist next to a file.
///
/// # Examples
///
/// ```
/// use waiter_http::precompressed::Siblings;
///
/// assert!(Siblings::default().is_empty());
/// assert!(!Siblings { brotli: false, gzip: true }.is_empty());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Siblings {
    /// `file.br` is a regular file.
    pub brotli: bool,
    /// `file.gz` is a regular file.
    pub gzip: bool,
}

impl Siblings {
    /// No sibling: the response does not depend on `Accept-Encoding`.
    pub fn is_empty(self) -> bool {
        !self.brotli && !self.gzip
    }

    fn has(self, encoding: Encoding) -> bool {
        match encoding {
            Encoding::Brotli => self.brotli,
            Encoding::Gzip => self.gzip,
        }
    }
}

/// The weights, in thousandths, an `Accept-Encoding` gives each coding this
/// server can send (RFC 9110 §12.5.3): the coding's own `q`, else that of `*`,
/// else 0. `x-gzip` counts as `gzip`. A malformed `q` makes its element
/// weigh 0: refusing a coding is always safe, sending an unwanted one is not.
///
/// # Examples
///
/// ```
/// use waiter_http::precompressed::parse_accept_encoding;
///
/// assert_eq!(parse_accept_encoding(b"gzip, br;q=0.5"), [(waiter_http::Encoding::Brotli, 500), (waiter_http::Encoding::Gzip, 1000)]);
/// assert_eq!(parse_accept_encoding(b"*;q=0.1, br;q=0"), [(waiter_http::Encoding::Brotli, 0), (waiter_http::Encoding::Gzip, 100)]);
/// ```
pub fn parse_accept_encoding(value: &[u8]) -> [(Encoding, u16); 2] {
    let (mut brotli, mut gzip, mut star) = (None, None, None);
    for element in value.split(|&b| b == b',') {
        let mut params = element.split(|&b| b == b';');
        let coding = trim(params.next().unwrap_or_default());
        if coding.is_empty() {
            continue;
        }
        let mut weight = Some(1000);
        for param in params {
            let param = trim(param);
            if param.len() >= 2 && param[..2].eq_ignore_ascii_case(b"q=") {
                weight = parse_qvalue(trim(&param[2..]));
            }
        }
        let weight = weight.unwrap_or(0);
        let slot = if coding.eq_ignore_ascii_case(b"br") {
            &mut brotli
        } else if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
            &mut gzip
        } else if coding == b"*" {
            &mut star
        } else {
            continue;
        };
        // A coding listed twice: the lower weight wins, the cautious reading.
        *slot = Some(slot.map_or(weight, |w: u16| w.min(weight)));
    }
    let fallback = star.unwrap_or(0);
    [(Encoding::Brotli, brotli.unwrap_or(fallback)), (Encoding::Gzip, gzip.unwrap_or(fallback))]
}

/// The coding to send for `accept` (the `Accept-Encoding` value, `None` when
/// absent) among `available` siblings: the highest weight above 0, `br` on a
/// tie (smaller files); `None` means the identity, the file itself.
///
/// # Examples
///
/// ```
/// use waiter_http::precompressed::{choose, Siblings};
/// use waiter_http::Encoding;
///
/// let both = Siblings { brotli: true, gzip: true };
/// assert_eq!(choose(Some(b"gzip, deflate, br"), both), Some(Encoding::Brotli));
/// assert_eq!(choose(Some(b"gzip"), both), Some(Encoding::Gzip));
/// assert_eq!(choose(Some(b"br;q=0, gzip;q=0"), both), None);
/// assert_eq!(choose(None, both), None);
/// ```
pub fn choose(accept: Option<&[u8]>, available: Siblings) -> Option<Encoding> {
    let weights = parse_accept_encoding(accept?);
    // Brotli first in `weights`, and `>` keeps the first of equals.
    let mut best: Option<(Encoding, u16)> = None;
    for (encoding, weight) in weights {
        if weight > 0 && available.has(encoding) && best.map_or(true, |(_, w)| weight > w) {
            best = Some((encoding, weight));
        }
    }
    best.map(|(encoding, _)| encoding)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn parse_qvalue(text: &[u8]) -> Option<u16> {
    let (int, frac) = match text.iter().position(|&b| b == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The file name suffix of `encoding`'s sibling, without the dot.
pub(crate) fn extension(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Brotli => "br",
        Encoding::Gzip => "gz",
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !matches!(b, b' ' | b'\t')).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !matches!(b, b' ' | b'\t')).map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// The representation to send for `info`: its precompressed sibling when
/// `Accept-Encoding` allows one and it is still there, else `info` itself.
/// A GET with `Range` gets `info` unless its `If-Range` is the sibling's tag
/// (see the module notes).
pub(crate) async fn negotiate(worker: &Worker, head: &Head<'_>, info: Rc<FileInfo>) -> Rc<FileInfo> {
    let Some(encoding) = choose(head.fields.accept_encoding.as_deref(), info.siblings) else {
        return info;
    };
    let ranged = head.method == Method::Get && head.fields.range.is_some();
    let if_range = head.fields.if_range.as_deref().map(<[u8]>::trim_ascii);
    if ranged && !if_range.is_some_and(|tag| tag.starts_with(b"\"")) {
        return info;
    }
    match worker.cache.lookup_encoded(&worker.lp, &worker.policy, &info, encoding).await {
        Ok(Some(encoded)) if ranged && if_range != Some(encoded.etag.as_str().as_bytes()) => info,
        Ok(Some(encoded)) => encoded,
        // Gone since the original was looked up: the identity is always right.
        Ok(None) => info,
        Err(e) => {
            eprintln!("waiter: lookup {}.{}: {e}", info.name.display(), extension(encoding));
            info
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: Siblings = Siblings { brotli: true, gzip: true };
    const GZIP: Siblings = Siblings { brotli: false, gzip: true };

    #[test]
    fn qvalues() {
        for (text, q) in [
            ("1", Some(1000)),
            ("1.000", Some(1000)),
            ("1.", Some(1000)),
            ("0", Some(0)),
            ("0.5", Some(500)),
            ("0.001", Some(1)),
            ("0.25", Some(250)),
            ("1.5", None),
            ("0.0001", None),
            ("2", None),
            ("", None),
            ("-1", None),
            ("0.x", None),
        ] {
            assert_eq!(parse_qvalue(text.as_bytes()), q, "{text:?}");
        }
    }

    #[test]
    fn choices() {
        for (accept, available, want) in [
            ("br", BOTH, Some(Encoding::Brotli)),
            ("gzip, br", BOTH, Some(Encoding::Brotli)),
            ("gzip;q=1, br;q=0.9", BOTH, Some(Encoding::Gzip)),
            ("br", GZIP, None),
            ("br, gzip", GZIP, Some(Encoding::Gzip)),
            ("x-gzip", GZIP, Some(Encoding::Gzip)),
            ("GZIP ; Q=0.5", GZIP, Some(Encoding::Gzip)),
            ("*", BOTH, Some(Encoding::Brotli)),
            ("*;q=0", BOTH, None),
            ("*, br;q=0", BOTH, Some(Encoding::Gzip)),
            ("gzip;q=0, *", GZIP, None),
            ("br;q=0, gzip;q=0", BOTH, None),
            ("br;q=0.0", BOTH, None),
            ("br;q=bogus, gzip", BOTH, Some(Encoding::Gzip)),
            ("br, br;q=0", BOTH, None),
            ("", BOTH, None),
            ("identity", BOTH, None),
            ("deflate, compress", BOTH, None),
            (" , ,gzip,", GZIP, Some(Encoding::Gzip)),
        ] {
            assert_eq!(choose(Some(accept.as_bytes()), available), want, "{accept:?} with {available:?}");
        }
        assert_eq!(choose(None, BOTH), None, "no header: identity");
        assert_eq!(choose(Some(b"br, gzip"), Siblings::default()), None, "no sibling");
    }
}
