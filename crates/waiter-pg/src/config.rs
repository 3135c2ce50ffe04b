//! Connection settings, parsed from a `postgres://` URL or a libpq
//! `key=value` string.
//!
//! Both forms accept `host`, `port`, `user`, `password`, `dbname`,
//! `application_name`, `connect_timeout` (seconds) and `sslmode` (`disable`,
//! `allow` or `prefer`: there is no TLS, so the modes that require it are
//! refused rather than quietly ignored); `gssencmode` and `channel_binding`
//! (`disable`, `prefer`), `client_encoding` (`UTF8`), `target_session_attrs`
//! (`any`) and `fallback_application_name` are accepted as libpq would
//! behave here. A host starting with
//! `/` is a Unix-socket directory, as in libpq: the socket is
//! `<dir>/.s.PGSQL.<port>`.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A TCP host name or address.
    Tcp(String),
    /// A directory holding the server's Unix socket.
    Unix(PathBuf),
}

/// Connection settings.
///
/// # Examples
///
/// ```
/// use waiter_pg::Config;
///
/// let a: Config = "postgres://app:secret@127.0.0.1:5433/shop?application_name=api".parse().unwrap();
/// let b: Config = "host=127.0.0.1 port=5433 user=app password=secret dbname=shop application_name=api"
///     .parse()
///     .unwrap();
/// assert_eq!(a, b);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Server host (default `localhost`).
    pub host: Host,
    /// Server port (default 5432).
    pub port: u16,
    /// Role name (default `$USER`, else `postgres`).
    pub user: String,
    /// Password, for cleartext, md5 and SCRAM authentication.
    pub password: Option<String>,
    /// Database (default: the user name).
    pub dbname: Option<String>,
    /// `application_name` reported to the server.
    pub application_name: Option<String>,
    /// Limit on connecting plus authenticating.
    pub connect_timeout: Option<Duration>,
    /// Largest backend message accepted (default 256 MiB): a bound on the
    /// memory one row may take. A bigger message fails the connection.
    pub max_message_size: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            host: Host::Tcp("localhost".into()),
            port: 5432,
            user: std::env::var("USER").unwrap_or_else(|_| "postgres".into()),
            password: None,
            dbname: None,
            application_name: None,
            connect_timeout: None,
            max_message_size: 256 << 20,
        }
    }
}

impl Config {
    /// The database name to connect to (the user name when unset).
    pub fn database(&self) -> &str {
        self.dbname.as_deref().unwrap_or(&self.user)
    }

    fn set(&mut self, key: &str, value: String) -> Result<(), Error> {
        match key {
            "host" | "hostaddr" => {
                self.host = if value.starts_with('/') { Host::Unix(value.into()) } else { Host::Tcp(value) };
            }
            "port" => {
                self.port = value.parse().map_err(|_| Error::Config(format!("invalid port {value:?}")))?;
            }
            "user" => self.user = value,
            "password" => self.password = Some(value),
            "dbname" => self.dbname = Some(value),
            "application_name" => self.application_name = Some(value),
            "connect_timeout" => {
                let secs: u64 =
                    value.parse().map_err(|_| Error::Config(format!("invalid connect_timeout {value:?}")))?;
                // libpq: zero (or negative) means wait indefinitely.
                self.connect_timeout = (secs > 0).then(|| Duration::from_secs(secs));
            }
            "sslmode" => match value.as_str() {
                // libpq falls back to plaintext for these when TLS is not to be had.
                "disable" | "allow" | "prefer" => {}
                "require" | "verify-ca" | "verify-full" => {
                    return Err(Error::Config(format!(
                        "sslmode={value} needs TLS, which waiter-pg does not support \
                         (disable, allow and prefer connect in plaintext)"
                    )))
                }
                _ => return Err(Error::Config(format!("invalid sslmode {value:?}"))),
            },
            // libpq's options that only restate what this client does anyway
            // (no GSS encryption, no channel binding without TLS, UTF-8, one
            // host) are accepted with those values, refused with others.
            "gssencmode" | "channel_binding" if value == "disable" || value == "prefer" => {}
            "client_encoding"
                if value.eq_ignore_ascii_case("utf8") || value.eq_ignore_ascii_case("utf-8") => {}
            "target_session_attrs" if value == "any" => {}
            "fallback_application_name" => {
                self.application_name.get_or_insert(value);
            }
            "gssencmode" | "channel_binding" | "client_encoding" | "target_session_attrs" => {
                return Err(Error::Config(format!("{key}={value} is not supported")))
            }
            _ => return Err(Error::Config(format!("unsupported option {key:?}"))),
        }
        Ok(())
    }

    fn parse_url(url: &str) -> Result<Config, Error> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| Error::Config("URL must start with postgres://".into()))?;
        let (rest, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (rest, None),
        };
        let mut config = Config::default();
        let hostport = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => {
                let (user, password) = match userinfo.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (userinfo, None),
                };
                if !user.is_empty() {
                    config.user = percent_decode(user)?;
                }
                config.password = password.map(percent_decode).transpose()?;
                hostport
            }
            None => authority,
        };
        let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
            let (h, p) =
                bracketed.split_once(']').ok_or_else(|| Error::Config("unclosed [ in host".into()))?;
            (h, p.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if !host.is_empty() {
            config.set("host", percent_decode(host)?)?;
        }
        if let Some(port) = port.filter(|p| !p.is_empty()) {
            config.set("port", port.to_string())?;
        }
        if let Some(db) = path.filter(|p| !p.is_empty()) {
            config.dbname = Some(percent_decode(db)?);
        }
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| Error::Config(format!("{pair:?} has no '='")))?;
            config.set(&percent_decode(k)?, percent_decode(v)?)?;
        }
        Ok(config)
    }

    fn parse_key_value(s: &str) -> Result<Config, Error> {
        let mut config = Config::default();
        let mut chars = s.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek().is_none() {
                return Ok(config);
            }
            let mut key = String::new();
            while let Some(&c) = chars.peek() {
                if c == '=' || c.is_whitespace() {
                    break;
                }
                key.push(c);
                chars.next();
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.next() != Some('=') {
                return Err(Error::Config(format!("expected '=' after {key:?}")));
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let mut value = String::new();
            if chars.peek() == Some(&'\'') {
                chars.next();
                loop {
                    match chars.next() {
                        Some('\\') => value.push(chars.next().ok_or_else(|| unterminated(&key))?),
                        Some('\'') => break,
                        Some(c) => value.push(c),
                        None => return Err(unterminated(&key)),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    chars.next();
                    if c == '\\' {
                        value.push(chars.next().ok_or_else(|| unterminated(&key))?);
                    } else {
                        value.push(c);
                    }
                }
            }
            config.set(&key, value)?;
        }
    }
}

fn unterminated(key: &str) -> Error {
    Error::Config(format!("unterminated value for {key:?}"))
}

fn percent_decode(s: &str) -> Result<String, Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::Config(format!("bad percent-escape in {s:?}")))?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::Config(format!("{s:?} is not UTF-8 once decoded")))
}

impl FromStr for Config {
    type Err = Error;

    /// Parses a `postgres://`/`postgresql://` URL or a `key=value` string.
    fn from_str(s: &str) -> Result<Config, Error> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Config::parse_url(s)
        } else {
            Config::parse_key_value(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_with_everything() {
        let c: Config =
            "postgresql://us%40er:p%3Ass@db.example:6000/my%20db?application_name=x&connect_timeout=3"
                .parse()
                .unwrap();
        assert_eq!(c.user, "us@er");
        assert_eq!(c.password.as_deref(), Some("p:ss"));
        assert_eq!(c.host, Host::Tcp("db.example".into()));
        assert_eq!(c.port, 6000);
        assert_eq!(c.database(), "my db");
        assert_eq!(c.application_name.as_deref(), Some("x"));
        assert_eq!(c.connect_timeout, Some(Duration::from_secs(3)));
    }

    #[test]
    fn url_with_unix_socket_dir() {
        let c: Config = "postgres://u@%2Frun%2Fpg:5433/d".parse().unwrap();
        assert_eq!(c.host, Host::Unix("/run/pg".into()));
        let c: Config = "postgres:///d?host=/run/pg&user=u".parse().unwrap();
        assert_eq!(c.host, Host::Unix("/run/pg".into()));
        assert_eq!(c.user, "u");
        let c: Config = "postgres://[::1]:7/d".parse().unwrap();
        assert_eq!((c.host, c.port), (Host::Tcp("::1".into()), 7));
    }

    #[test]
    fn key_value_quoting() {
        let c: Config = r"host=/tmp  user = 'o\'neil' password='a b\\c' dbname=x".parse().unwrap();
        assert_eq!(c.host, Host::Unix("/tmp".into()));
        assert_eq!(c.user, "o'neil");
        assert_eq!(c.password.as_deref(), Some(r"a b\c"));
        assert_eq!(c.database(), "x");
    }

    #[test]
    fn libpq_options_this_client_already_honours_are_accepted() {
        let c: Config = "postgres://h/d?gssencmode=disable&channel_binding=prefer&client_encoding=UTF8\
                         &target_session_attrs=any&fallback_application_name=fb"
            .parse()
            .unwrap();
        assert_eq!(c.application_name.as_deref(), Some("fb"));
        let c: Config = "application_name=app fallback_application_name=fb".parse().unwrap();
        assert_eq!(c.application_name.as_deref(), Some("app"));
        for bad in ["gssencmode=require", "channel_binding=require", "client_encoding=LATIN1"] {
            match bad.parse::<Config>() {
                Err(Error::Config(msg)) => assert!(msg.contains(bad), "{msg}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        for bad in
            ["postgres://h:notaport/d", "user", "user='x", "bogus=1", "postgres://h/d?x", "postgres://%zz@h/"]
        {
            assert!(matches!(bad.parse::<Config>(), Err(Error::Config(_))), "{bad}");
        }
    }
}
