//! The request-line and `Host` checks httparse leaves to us: 505 or 400 for a
//! version, absolute-form targets, and authority syntax (RFC 9112 §2.3, §3.2; RFC 3986 §3.2).

use super::HttpError;

/// After httparse refused the version (and [`higher_minor`] did not take it):
/// 505 for a well-formed `HTTP/d.d`, 400
/// otherwise, or "read more" while the line could still become `HTTP/d.d`.
pub(super) fn version_error<T>(line: &[u8], line_complete: bool) -> Result<Option<T>, HttpError> {
    let version = line.splitn(3, |&b| b == b' ').nth(2).unwrap_or_default();
    let fits = version.len() <= 8
        && version.iter().enumerate().all(|(i, &b)| match i {
            0..=4 => b == b"HTTP/"[i],
            6 => b == b'.',
            _ => b.is_ascii_digit(),
        });
    match (line_complete, fits) {
        (false, true) => Ok(None),
        (true, true) if version.len() == 8 => Err(HttpError::VersionNotSupported),
        _ => Err(HttpError::Syntax),
    }
}

/// The offset in the request line `line` of the minor version digit of an
/// `HTTP/1.2` to `HTTP/1.9`, which RFC 9110 §2.5 has us serve as HTTP/1.1.
pub(super) fn higher_minor(line: &[u8]) -> Option<usize> {
    let version = line.splitn(3, |&b| b == b' ').nth(2)?;
    let minor = version.strip_prefix(b"HTTP/1.")?;
    matches!(minor, [b'2'..=b'9']).then(|| line.len() - 1)
}

/// `http(s)://authority[path]` → `(authority, rest)`, scheme case-insensitive.
pub(super) fn split_absolute(target: &str) -> Option<(&str, &str)> {
    let colon = target.find("://")?;
    if !["http", "https"].iter().any(|s| target[..colon].eq_ignore_ascii_case(s)) {
        return None;
    }
    let rest = &target[colon + 3..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(rest.split_at(end))
}

/// `uri-host [":" port]` (RFC 3986 §3.2.2): a bracketed IPv6 literal or a
/// reg-name (which covers IPv4), possibly empty. Like nginx, `..` is refused
/// so a host can never be a path trick in a log or a virtual-host root.
pub(super) fn valid_authority(authority: &[u8]) -> bool {
    let (host, port) = if authority.first() == Some(&b'[') {
        let Some(close) = authority.iter().position(|&b| b == b']') else { return false };
        let literal = &authority[1..close];
        let ok =
            !literal.is_empty() && literal.iter().all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !ok {
            return false;
        }
        authority.split_at(close + 1)
    } else {
        authority.split_at(authority.iter().position(|&b| b == b':').unwrap_or(authority.len()))
    };
    let port_ok = port.is_empty() || (port[0] == b':' && port[1..].iter().all(u8::is_ascii_digit));
    if host.starts_with(b"[") {
        return port_ok && !host.windows(2).any(|w| w == b"..");
    }
    // One pass over a reg-name: every byte allowed, no dot after a dot.
    let mut after_dot = false;
    let host_ok = host.iter().all(|&b| {
        let ok = REG_NAME[usize::from(b)] && !(after_dot && b == b'.');
        after_dot = b == b'.';
        ok
    });
    host_ok && port_ok
}

/// The bytes of a reg-name (RFC 3986 §3.2.2: unreserved, sub-delims and the
/// `%` of pct-encoded), as a table: the `Host` of every request is checked
/// against it, and a table lookup per byte is what keeps that check off the
/// profile (searching the 17 punctuation bytes per byte took 0.5% of the
/// server's CPU at 100 connections).
const REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let punctuation = b"-._~!$&'()*+,;=%";
    let mut i = 0;
    while i < punctuation.len() {
        table[punctuation[i] as usize] = true;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_forms() {
        for good in ["example.com", "example.com:8080", "127.0.0.1", "[::1]:80", "[::ffff:1.2.3.4]", "", "a:"]
        {
            assert!(valid_authority(good.as_bytes()), "valid {good:?}");
        }
        for bad in [
            "a/b", "a\\b", "..", "a..b", "a b", "a:b", "[::1", "[]", "[x]", "[::1]x", "u@h", "h:1:2",
            "a.b..", "h\u{e9}",
        ] {
            assert!(!valid_authority(bad.as_bytes()), "invalid {bad:?}");
        }
    }

    #[test]
    fn absolute_targets() {
        assert_eq!(split_absolute("http://h:1/p?q"), Some(("h:1", "/p?q")), "path and query");
        assert_eq!(split_absolute("HTTPS://h"), Some(("h", "")), "scheme case, no path");
        assert_eq!(split_absolute("http://h?q"), Some(("h", "?q")), "query without path");
        assert_eq!(split_absolute("http://"), Some(("", "")), "empty authority (refused by the caller)");
        for bad in ["ftp://h/", "http:/h", "h/p", "//h/p", "httpx://h"] {
            assert_eq!(split_absolute(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn higher_minors() {
        assert_eq!(higher_minor(b"GET / HTTP/1.2"), Some(13), "1.2");
        assert_eq!(higher_minor(b"GET /a HTTP/1.9"), Some(14), "1.9");
        for other in
            ["GET / HTTP/1.1", "GET / HTTP/1.0", "GET / HTTP/2.2", "GET / HTTP/1.10", "GET / HTTP/1.x"]
        {
            assert_eq!(higher_minor(other.as_bytes()), None, "{other:?}");
        }
        assert_eq!(higher_minor(b"GET /a b HTTP/1.2"), None, "a space in the target is not a version");
    }

    #[test]
    fn version_classes() {
        let v = |line: &str, complete| version_error::<()>(line.as_bytes(), complete);
        assert_eq!(v("GET / HTTP/2.0", true), Err(HttpError::VersionNotSupported), "HTTP/2.0");
        assert_eq!(v("GET / HTTP/1.2", true), Err(HttpError::VersionNotSupported), "HTTP/1.2");
        assert_eq!(v("GET / HTTP/2", false), Ok(None), "may still become HTTP/2.0");
        for bad in ["GET / HTTP/2", "GET / HTTP/2.0x", "GET / http/2.0", "GET / HTTP/22.0", "GET /"] {
            assert_eq!(v(bad, true), Err(HttpError::Syntax), "{bad:?}");
        }
        assert_eq!(v("GET / XTTP", false), Err(HttpError::Syntax), "cannot become a version");
    }
}
