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
//!
//! TCP keepalive is on by default, as in libpq, with its parameters
//! `keepalives` (`0` turns it off), `keepalives_idle`,
//! `keepalives_interval` (seconds; 0 or absent: the system's setting) and
//! `keepalives_count`. `passfile` names a password file in libpq's
//! `.pgpass` format, read when the server asks for a password and none was
//! given.
//!
//! libpq's environment variables (`PGHOST`, `PGPORT`, `PGDATABASE`,
//! `PGUSER`, `PGPASSWORD`, `PGPASSFILE`, `PGAPPNAME`, `PGCONNECT_TIMEOUT`,
//! ...) are read only when asked, by [`Config::from_env`]: parsing a string
//! never looks at the environment (beyond `$USER` for the default role).
//! libpq's precedence, the string over the environment over the built-in
//! defaults, is `Config::from_env()?.apply(url)?`.

use std::path::{Path, PathBuf};
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
    /// TCP keepalive probes, so that a server gone without a word (a crashed
    /// host, a dropped NAT entry) fails the connection instead of leaving it
    /// waiting forever: libpq's `keepalives` (default on; `0` turns it off).
    /// Unix sockets have none.
    pub keepalives: bool,
    /// `keepalives_idle`: time without traffic before the first probe
    /// (`None`: the system's, 2 h on Linux).
    pub keepalives_idle: Option<Duration>,
    /// `keepalives_interval`: time between unanswered probes (`None`: the system's, 75 s).
    pub keepalives_interval: Option<Duration>,
    /// `keepalives_count`: unanswered probes before the connection fails (`None`: the system's, 9).
    pub keepalives_count: Option<u32>,
    /// `passfile`: a password file in libpq's format (lines of
    /// `host:port:database:user:password`, `*` matching anything, `\`
    /// escaping `:` and `\\`), read when the server asks for a password and
    /// none is set. Ignored unless readable by its owner alone, as in libpq.
    /// [`Config::from_env`] sets it to `PGPASSFILE`, else `~/.pgpass`.
    pub passfile: Option<PathBuf>,
}

/// libpq's environment variables and the parameters they stand for, in the
/// order applied (`PGHOSTADDR` after `PGHOST`: the address is what is dialled).
const ENVIRONMENT: [(&str, &str); 14] = [
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGDATABASE", "dbname"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGPASSFILE", "passfile"),
    ("PGAPPNAME", "application_name"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGSSLMODE", "sslmode"),
    ("PGGSSENCMODE", "gssencmode"),
    ("PGCHANNELBINDING", "channel_binding"),
    ("PGCLIENTENCODING", "client_encoding"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
];

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
            keepalives: true,
            keepalives_idle: None,
            keepalives_interval: None,
            keepalives_count: None,
            passfile: None,
        }
    }
}

impl Config {
    /// The database name to connect to (the user name when unset).
    pub fn database(&self) -> &str {
        self.dbname.as_deref().unwrap_or(&self.user)
    }

    /// The defaults as libpq takes them from its environment variables:
    /// [`Config::default`] overridden by each of `PGHOST`, `PGHOSTADDR`,
    /// `PGPORT`, `PGDATABASE`, `PGUSER`, `PGPASSWORD`, `PGPASSFILE`,
    /// `PGAPPNAME`, `PGCONNECT_TIMEOUT`, `PGSSLMODE`, `PGGSSENCMODE`,
    /// `PGCHANNELBINDING`, `PGCLIENTENCODING` and `PGTARGETSESSIONATTRS` that
    /// is set and not empty; `passfile` is `~/.pgpass` without `PGPASSFILE`.
    /// Then [`apply`](Self::apply) a connection string over it for libpq's
    /// precedence (the string wins).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), waiter_pg::Error> {
    /// // PGHOST=db.internal PGPASSWORD=secret: the URL's user and database,
    /// // the environment's host and password.
    /// let config = waiter_pg::Config::from_env()?.apply("postgres://app@/shop")?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a variable whose value is invalid (`PGPORT=x`),
    /// naming the variable.
    pub fn from_env() -> Result<Config, Error> {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables looked up by `var`
    /// instead of in the process environment (for tests, or a set of
    /// variables read elsewhere).
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let mut config = Config::default();
        if let Some(home) = var("HOME").filter(|h| !h.is_empty()) {
            config.passfile = Some(Path::new(&home).join(".pgpass"));
        }
        for (name, key) in ENVIRONMENT {
            if let Some(value) = var(name).filter(|v| !v.is_empty()) {
                config.set(key, value).map_err(|e| match e {
                    Error::Config(why) => Error::Config(format!("{name}: {why}")),
                    other => other,
                })?;
            }
        }
        Ok(config)
    }

    /// These settings with those a `postgres://` URL or `key=value` string
    /// gives put over them: what the string leaves out stays as it is here.
    /// `s.parse::<Config>()` is `Config::default().apply(s)`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a bad string.
    pub fn apply(self, s: &str) -> Result<Config, Error> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            self.parse_url(s)
        } else {
            self.parse_key_value(s)
        }
    }

    /// The password for these settings in the `passfile`, if it has one
    /// (libpq's rules: the first matching line; a Unix socket matches
    /// `localhost`; a file that others may read is ignored).
    pub(crate) fn passfile_password(&self) -> Option<String> {
        let path = self.passfile.as_deref()?;
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_file() || group_or_others_may_access(&meta) {
            return None;
        }
        let text = std::fs::read_to_string(path).ok()?;
        let host = match &self.host {
            Host::Tcp(h) => h.as_str(),
            Host::Unix(_) => "localhost",
        };
        let port = self.port.to_string();
        let wanted = [host, port.as_str(), self.database(), self.user.as_str()];
        text.lines().find_map(|line| passfile_match(line, &wanted))
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
            "keepalives" => self.keepalives = integer(key, &value)? != 0,
            "keepalives_idle" => {
                self.keepalives_idle = positive(integer(key, &value)?).map(Duration::from_secs)
            }
            "keepalives_interval" => {
                self.keepalives_interval = positive(integer(key, &value)?).map(Duration::from_secs)
            }
            "keepalives_count" => {
                self.keepalives_count =
                    positive(integer(key, &value)?).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            }
            "passfile" => self.passfile = Some(value.into()),
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

    fn parse_url(mut self, url: &str) -> Result<Config, Error> {
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
        let config = &mut self;
        let hostport = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => {
                let (user, password) = match userinfo.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (userinfo, None),
                };
                if !user.is_empty() {
                    config.user = percent_decode(user)?;
                }
                if let Some(password) = password {
                    config.password = Some(percent_decode(password)?);
                }
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
        Ok(self)
    }

    fn parse_key_value(self, s: &str) -> Result<Config, Error> {
        let mut config = self;
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

/// An integer parameter as libpq reads one (`keepalives`, its timings).
fn integer(key: &str, value: &str) -> Result<u64, Error> {
    let n: i64 = value.trim().parse().map_err(|_| Error::Config(format!("invalid {key} {value:?}")))?;
    // libpq takes a negative value as 0.
    Ok(n.max(0) as u64)
}

/// `None` for 0: libpq's "use the system's default".
fn positive(n: u64) -> Option<u64> {
    (n > 0).then_some(n)
}

/// Whether a password file's mode lets anyone but its owner in (libpq then
/// ignores it, with a warning).
fn group_or_others_may_access(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o077 != 0
}

/// The password of a password-file line if its first four fields match
/// `wanted` (host, port, database, user); `*` matches anything.
fn passfile_match(line: &str, wanted: &[&str; 4]) -> Option<String> {
    if line.starts_with('#') {
        return None;
    }
    let mut rest = line;
    for want in wanted {
        let mut field = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => field.push(chars.next()?.1),
                Some((i, ':')) => break i,
                Some((_, c)) => field.push(c),
                // Fewer than five fields: not a line that matches.
                None => return None,
            }
        };
        if field != "*" && field != *want {
            return None;
        }
        rest = &rest[end + 1..];
    }
    // The rest of the line is the password, backslashes escaping.
    let mut password = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        password.push(if c == '\\' { chars.next().unwrap_or(c) } else { c });
    }
    Some(password)
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
        Config::default().apply(s)
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
    fn keepalives_take_libpqs_names_and_defaults() {
        let c = Config::default();
        assert_eq!(
            (c.keepalives, c.keepalives_idle, c.keepalives_interval, c.keepalives_count),
            (true, None, None, None)
        );
        let c: Config =
            "postgres://h/d?keepalives=1&keepalives_idle=60&keepalives_interval=5&keepalives_count=3"
                .parse()
                .unwrap();
        assert_eq!(
            (c.keepalives, c.keepalives_idle, c.keepalives_interval, c.keepalives_count),
            (true, Some(Duration::from_secs(60)), Some(Duration::from_secs(5)), Some(3))
        );
        // 0 (or below): the system's setting, as in libpq.
        let c: Config =
            "keepalives=0 keepalives_idle=0 keepalives_interval=-1 keepalives_count=0".parse().unwrap();
        assert_eq!(
            (c.keepalives, c.keepalives_idle, c.keepalives_interval, c.keepalives_count),
            (false, None, None, None)
        );
        assert!(matches!("keepalives=yes".parse::<Config>(), Err(Error::Config(_))));
    }

    #[test]
    fn environment_variables_sit_under_the_string_and_over_the_defaults() {
        let env = |name: &str| {
            let value = match name {
                "PGHOST" => "/run/pg",
                "PGPORT" => "6000",
                "PGUSER" => "env_user",
                "PGPASSWORD" => "env_pw",
                "PGDATABASE" => "env_db",
                "PGAPPNAME" => "env_app",
                "PGCONNECT_TIMEOUT" => "4",
                "PGPASSFILE" => "/etc/pgpass",
                "HOME" => "/home/u",
                "PGSSLMODE" => "",
                _ => return None,
            };
            Some(value.to_string())
        };
        let c = Config::from_vars(env).unwrap();
        assert_eq!(c.host, Host::Unix("/run/pg".into()));
        assert_eq!((c.port, c.user.as_str(), c.password.as_deref()), (6000, "env_user", Some("env_pw")));
        assert_eq!((c.database(), c.application_name.as_deref()), ("env_db", Some("env_app")));
        assert_eq!(c.connect_timeout, Some(Duration::from_secs(4)));
        assert_eq!(c.passfile.as_deref(), Some(Path::new("/etc/pgpass")));
        // A user without a password in the URL keeps the environment's password.
        let c = Config::from_vars(env).unwrap().apply("postgres://url_user@db:7000/url_db").unwrap();
        assert_eq!(c.host, Host::Tcp("db".into()));
        assert_eq!((c.port, c.user.as_str(), c.password.as_deref()), (7000, "url_user", Some("env_pw")));
        assert_eq!((c.database(), c.application_name.as_deref()), ("url_db", Some("env_app")));
        let c = Config::from_vars(env).unwrap().apply("user=kv password=kvpw").unwrap();
        assert_eq!((c.port, c.user.as_str(), c.password.as_deref()), (6000, "kv", Some("kvpw")));
        // Without PGPASSFILE: ~/.pgpass. Parsing alone reads no environment for it.
        let c = Config::from_vars(|n| (n == "HOME").then(|| "/home/u".to_string())).unwrap();
        assert_eq!(c.passfile.as_deref(), Some(Path::new("/home/u/.pgpass")));
        assert_eq!("postgres://h/d".parse::<Config>().unwrap().passfile, None);
        match Config::from_vars(|n| (n == "PGSSLMODE").then(|| "require".to_string())) {
            Err(Error::Config(msg)) => assert!(msg.starts_with("PGSSLMODE: "), "{msg}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn password_file_lines_match_field_by_field() {
        let wanted = ["db", "5432", "shop", "app"];
        assert_eq!(passfile_match("db:5432:shop:app:pw", &wanted).as_deref(), Some("pw"));
        assert_eq!(passfile_match("*:*:*:app:a:b\\c", &wanted).as_deref(), Some("a:bc"));
        assert_eq!(passfile_match("db:5432:shop:app:x\\\\y", &wanted).as_deref(), Some("x\\y"));
        assert_eq!(passfile_match("db:5432:shop:other:pw", &wanted), None);
        assert_eq!(passfile_match("db:5433:shop:app:pw", &wanted), None);
        assert_eq!(passfile_match("#db:5432:shop:app:pw", &wanted), None);
        assert_eq!(passfile_match("db:5432:shop", &wanted), None);
        let wanted = ["h:1", "5432", "shop", "app"];
        assert_eq!(passfile_match("h\\:1:5432:shop:app:pw", &wanted).as_deref(), Some("pw"));
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
