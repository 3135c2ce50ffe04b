//! Request target → a relative path that cannot leave the document root.
//!
//! [`resolve`] works on the decoded bytes, in one order, so that no encoding
//! trick reaches a segment: cut the query and fragment, percent-decode exactly
//! once, refuse bytes no file name here should hold, then split on `/` and
//! apply `.` and `..`. A segment of the result never contains `/`, NUL, `\`
//! or a control byte, is never `.`, `..` or empty, and the result never
//! starts with `/`: joined under a root, it stays under the root.
//!
//! Choices, with nginx's for comparison:
//! - `%2F` decodes to `/` and separates segments, as in nginx: `/a%2Fb` is
//!   `a/b`, and `/%2e%2e/x` climbs like `/../x` does. Safe because splitting
//!   happens after decoding.
//! - `..` above the root is 400, as nginx answers.
//! - A backslash (raw or `%5C`) is 400. nginx on Unix treats it as a name
//!   byte; refusing it closes the Windows-style `..\` family outright.
//! - Decoded control bytes (`%00`–`%1F`, `%7F`) are 400; nginx refuses NUL
//!   only. File names with newlines are not worth a log-injection vector.
//! - The decoded bytes must be UTF-8 (400 otherwise); this refuses overlong
//!   forms such as `%C0%AE` ("." in two bytes) and lone surrogates. Files whose
//!   names are not UTF-8 are therefore not served.
//! - Empty segments collapse (`//a` is `a`), nginx's `merge_slashes on`.
//! - Segments starting with `.` set [`CleanPath::has_dotfile`]; the caller
//!   answers 404 unless dotfiles are allowed (and may allow `.well-known`).

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::status::Status;

/// Why a request target has no safe path. All are 400 ([`PathError::status`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/` (and is not empty).
    NotOriginForm,
    /// A `%` not followed by two hex digits.
    BadPercentEncoding,
    /// A decoded NUL or other control byte.
    ControlCharacter,
    /// A backslash, raw or decoded.
    Backslash,
    /// The decoded bytes are not UTF-8 (overlong encodings included).
    InvalidUtf8,
    /// `..` would climb above the root.
    AboveRoot,
}

impl PathError {
    /// The response status: 400 for each, as nginx answers traversal attempts.
    pub fn status(self) -> Status {
        Status::BAD_REQUEST
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotOriginForm => "path does not start with '/'",
            PathError::BadPercentEncoding => "invalid percent-encoding",
            PathError::ControlCharacter => "control character in path",
            PathError::Backslash => "backslash in path",
            PathError::InvalidUtf8 => "path is not UTF-8",
            PathError::AboveRoot => "path climbs above the root",
        })
    }
}

impl std::error::Error for PathError {}

/// A normalised path relative to the document root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CleanPath {
    /// INVARIANT: empty (the root) or segments joined by single `/`s; no segment
    /// is empty, `.` or `..`, or holds `\`, NUL or a control byte.
    rel: String,
    trailing_slash: bool,
    has_dotfile: bool,
}

impl CleanPath {
    /// The path relative to the root, `/`-separated; "" for the root itself.
    pub fn as_str(&self) -> &str {
        &self.rel
    }

    /// The segments, in order; none for the root.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.rel.split('/').filter(|s| !s.is_empty())
    }

    /// Whether this is the root itself.
    pub fn is_root(&self) -> bool {
        self.rel.is_empty()
    }

    /// Whether the request named a directory: it ended in `/`, `/.` or `/..`
    /// (the root always does). A directory without it gets a 301 to the slash form.
    pub fn trailing_slash(&self) -> bool {
        self.trailing_slash
    }

    /// Whether some segment starts with `.` (`.git`, `.env`, `.well-known`).
    pub fn has_dotfile(&self) -> bool {
        self.has_dotfile
    }

    /// The relative path as a `PathBuf` (empty for the root).
    pub fn to_path_buf(&self) -> PathBuf {
        PathBuf::from(&self.rel)
    }

    /// The file system path under `root`.
    pub fn under(&self, root: &Path) -> PathBuf {
        root.join(&self.rel)
    }

    /// The origin-form request target naming this path: `/`, the segments
    /// percent-encoded (every byte but RFC 3986's `pchar`s), and the trailing
    /// slash if the request had one. [`resolve`] gives the same path back, so it
    /// is what a redirect's `Location` or a link should carry.
    ///
    /// ```
    /// use waiter_http::path::resolve;
    ///
    /// let p = resolve("/a%3Fb/c%20d/").unwrap();
    /// assert_eq!(p.to_target(), "/a%3Fb/c%20d/");
    /// assert_eq!(resolve(&p.to_target()), Ok(p));
    /// ```
    pub fn to_target(&self) -> String {
        let mut out = String::with_capacity(self.rel.len() + 2);
        out.push('/');
        percent_encode_into(&mut out, self.rel.as_bytes(), b"/!$&'()*+,;=:@");
        if self.trailing_slash && !self.rel.is_empty() {
            out.push('/');
        }
        out
    }
}

/// Appends `bytes` with every byte but RFC 3986's unreserved ones and those in
/// `keep` as `%XX`: plain ASCII, so safe in a header value or an HTML attribute.
pub(crate) fn percent_encode_into(out: &mut String, bytes: &[u8], keep: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.extend(['%', HEX[usize::from(b >> 4)] as char, HEX[usize::from(b & 15)] as char]);
        }
    }
}

/// Resolves a request target (origin-form, with any query) to a [`CleanPath`].
///
/// An empty path (absolute-form `http://host` or `http://host?q`) is the root.
///
/// # Errors
///
/// A [`PathError`] for each refusal listed in the module notes.
///
/// # Examples
///
/// ```
/// use waiter_http::path::{resolve, PathError};
///
/// let p = resolve("/docs/./a%20b/../c.txt?v=2").unwrap();
/// assert_eq!(p.as_str(), "docs/c.txt");
/// assert_eq!(resolve("/%2e%2e/etc/passwd"), Err(PathError::AboveRoot));
/// assert_eq!(resolve("/a%2F..%2F..%2Fb"), Err(PathError::AboveRoot));
/// ```
pub fn resolve(target: &str) -> Result<CleanPath, PathError> {
    let end = target.bytes().position(|b| b == b'?' || b == b'#').unwrap_or(target.len());
    let raw = &target.as_bytes()[..end];
    if raw.first().is_some_and(|&b| b != b'/') {
        return Err(PathError::NotOriginForm);
    }
    let decoded = if raw.contains(&b'%') { Cow::Owned(percent_decode(raw)?) } else { Cow::Borrowed(raw) };
    if let Some(&b) = decoded.iter().find(|&&b| b < 0x20 || b == 0x7f || b == b'\\') {
        return Err(if b == b'\\' { PathError::Backslash } else { PathError::ControlCharacter });
    }
    let text = std::str::from_utf8(&decoded).map_err(|_| PathError::InvalidUtf8)?;

    let mut rel = String::with_capacity(text.len());
    let mut trailing_slash = true;
    for segment in text.split('/') {
        trailing_slash = matches!(segment, "" | "." | "..");
        match segment {
            "" | "." => {}
            ".." => {
                if rel.is_empty() {
                    return Err(PathError::AboveRoot);
                }
                rel.truncate(rel.rfind('/').unwrap_or(0));
            }
            name => {
                if !rel.is_empty() {
                    rel.push('/');
                }
                rel.push_str(name);
            }
        }
    }
    let has_dotfile = rel.split('/').any(|s| s.starts_with('.'));
    Ok(CleanPath { rel, trailing_slash, has_dotfile })
}

fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, PathError> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let byte = raw.get(i + 1..i + 3).and_then(|h| Some((hex(h[0])? << 4) | hex(h[1])?));
            out.push(byte.ok_or(PathError::BadPercentEncoding)?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_once() {
        assert_eq!(
            percent_decode(b"%25%32%65").unwrap(),
            b"%2e",
            "%25 yields a literal %, not a second pass"
        );
        assert_eq!(percent_decode(b"%41%7a%7A").unwrap(), b"Azz", "hex digits of either case");
        for bad in [&b"%"[..], b"%4", b"%G0", b"%0G", b"a%", b"%%41", b"%+1"] {
            assert_eq!(percent_decode(bad), Err(PathError::BadPercentEncoding), "{bad:?}");
        }
    }

    #[test]
    fn dotfile_flag_after_normalising() {
        assert!(resolve("/.git/config").unwrap().has_dotfile(), ".git");
        assert!(resolve("/a/.env").unwrap().has_dotfile(), ".env");
        assert!(resolve("/a/%2eenv").unwrap().has_dotfile(), "encoded dot");
        assert!(!resolve("/.git/../index.html").unwrap().has_dotfile(), "dot segment climbed out of");
        assert!(!resolve("/a.b/c.").unwrap().has_dotfile(), "dots inside names");
    }
}
