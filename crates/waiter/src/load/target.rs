//! What `waiter load` aims at: an `http://` URL with an IP literal or
//! `localhost`, and the bytes of the one request it sends over and over.
//!
//! No DNS: a lookup would block the loop, and a load generator should hit
//! exactly the address it was given.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A parsed `http://HOST[:PORT][/PATH]` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The address to connect to.
    pub addr: SocketAddr,
    /// The `Host` header's value, as written in the URL (port included when given).
    pub authority: String,
    /// The request target: path and query, `/` when the URL has none.
    pub path: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority, self.path)
    }
}

impl Target {
    /// Parses `url`.
    ///
    /// # Errors
    ///
    /// A message for another scheme (`https` included), a host name other
    /// than `localhost`, a bad port, or characters a request line cannot carry.
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => return Err(format!("{url}: only http:// is supported, not {scheme}://")),
            None => return Err(format!("{url}: expected http://HOST[:PORT]/PATH")),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let path = path.split('#').next().unwrap_or("/").to_string();
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!("{url}: the path has spaces or control characters (percent-encode them)"));
        }
        if authority.contains('@') {
            return Err(format!("{url}: user info in the URL is not supported"));
        }
        let (host, port) = split_port(authority).map_err(|e| format!("{url}: {e}"))?;
        let ip = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            IpAddr::V6(v6.parse().map_err(|_| format!("{url}: {host} is not an IPv6 address"))?)
        } else {
            host.parse::<Ipv4Addr>().map(IpAddr::V4).map_err(|_| {
                format!("{url}: {host:?} is not an IP address or localhost (no DNS lookups, to keep the loop unblocked)")
            })?
        };
        Ok(Target { addr: SocketAddr::new(ip, port), authority: authority.to_string(), path })
    }

    /// The request bytes: `GET PATH HTTP/1.1`, `Host` (unless `headers`
    /// has one), then `headers` in order.
    pub fn request(&self, headers: &[(String, String)]) -> Vec<u8> {
        let mut req = format!("GET {} HTTP/1.1\r\n", self.path);
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            req.push_str(&format!("Host: {}\r\n", self.authority));
        }
        for (name, value) in headers {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        req.push_str("\r\n");
        req.into_bytes()
    }
}

/// Splits `host[:port]` (`[v6]:port` for IPv6); port 80 when absent.
fn split_port(authority: &str) -> Result<(&str, u16), String> {
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    if host.is_empty() {
        return Err("no host".to_string());
    }
    let port = match port {
        None => 80,
        Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| format!("bad port {p:?}"))?,
    };
    Ok((host, port))
}

/// Parses a `-H` argument, `Name: value`.
///
/// # Errors
///
/// A message when there is no colon, the name is not a token, or either
/// part holds a CR or LF (which would smuggle a second header or request).
pub fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) =
        text.split_once(':').ok_or_else(|| format!("header {text:?}: expected 'Name: value'"))?;
    let name = name.trim();
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!("header {text:?}: {name:?} is not a header name"));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!("header {text:?}: the value holds a line break"));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("http://127.0.0.1:8080/a/b?x=1").unwrap();
        assert_eq!(
            (t.addr, t.authority.as_str(), t.path.as_str()),
            ("127.0.0.1:8080".parse().unwrap(), "127.0.0.1:8080", "/a/b?x=1")
        );
        let t = Target::parse("http://[::1]:9/").unwrap();
        assert_eq!(t.addr, "[::1]:9".parse().unwrap());
        let t = Target::parse("HTTP://localhost").unwrap();
        assert_eq!((t.addr, t.path.as_str()), ("127.0.0.1:80".parse().unwrap(), "/"));
        assert_eq!(Target::parse("http://[::1]?q#frag").unwrap().path, "/?q");
        assert_eq!(t.to_string(), "http://localhost/");
        for bad in [
            "https://127.0.0.1/",
            "127.0.0.1:80",
            "http://example.com/",
            "http://1.2.3.4:0/",
            "http://:80/",
            "http://[zz]/",
            "http://1.2.3.4/a b",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad} refused");
        }
    }

    #[test]
    fn request_bytes_and_headers() {
        let t = Target::parse("http://127.0.0.1:81/x").unwrap();
        assert_eq!(t.request(&[]), b"GET /x HTTP/1.1\r\nHost: 127.0.0.1:81\r\n\r\n");
        let h =
            vec![parse_header("host:  example ").unwrap(), parse_header("Accept-Encoding: gzip").unwrap()];
        assert_eq!(t.request(&h), b"GET /x HTTP/1.1\r\nhost: example\r\nAccept-Encoding: gzip\r\n\r\n");
        for bad in ["NoColon", ": v", "Bad Name: v", "X: a\r\nY: b"] {
            assert!(parse_header(bad).is_err(), "{bad:?} refused");
        }
    }
}
