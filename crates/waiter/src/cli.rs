//! The command line: `waiter serve [ROOT] --listen ... --workers ...`, parsed by clap into a
//! [`ServeArgs`], and `waiter load URL -c N -d DURATION ...`, parsed into a [`LoadArgs`].

use std::net::SocketAddr;
use std::time::Duration;

use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use waiter_http::access_log::{AccessLogConfig, LogFormat, LogTarget};
use waiter_http::response::HeaderValue;
use waiter_http::Config;

use crate::load::target::{parse_header, Target};
use crate::load::LoadArgs;
use crate::privileges::User;

/// Everything `waiter serve` was asked to do.
#[derive(Debug)]
pub struct ServeArgs {
    /// The server configuration (root already checked and canonicalised).
    pub config: Config,
    /// The address to listen on.
    pub listen: SocketAddr,
    /// Worker threads, each with its own loop and listener.
    pub workers: usize,
    /// How long in-flight responses may take to finish after SIGINT/SIGTERM.
    pub shutdown_timeout: Duration,
    /// The user to become once the listeners are bound (`--user`).
    pub user: Option<User>,
}

/// The longest timeout a flag takes: a year, in seconds.
const MAX_SECS: u64 = 366 * 86_400;

/// The clap definition of the `waiter` command.
pub fn command() -> Command {
    // Bounded: a deadline is `now + timeout`, and an `Instant` that far out
    // overflows (u64::MAX seconds panicked the worker at its first connection).
    let secs = |name: &'static str, least: u64, default: &'static str, help: &'static str| {
        Arg::new(name)
            .long(name)
            .value_name("SECS")
            .value_parser(value_parser!(u64).range(least..=MAX_SECS))
            .default_value(default)
            .help(help)
    };
    let serve = Command::new("serve")
        .about("Serve a directory over HTTP/1.1")
        .arg(Arg::new("root").value_name("ROOT").default_value(".").help("The directory to serve"))
        .arg(
            Arg::new("listen")
                .long("listen")
                .value_name("ADDR:PORT")
                .value_parser(value_parser!(SocketAddr))
                .default_value("127.0.0.1:8080")
                .help("The address to listen on"),
        )
        .arg(
            Arg::new("workers")
                .long("workers")
                .value_name("N")
                .value_parser(value_parser!(u64).range(1..=1024))
                .help("Worker threads, each with its own event loop [default: number of cores]"),
        )
        .arg(
            Arg::new("cache-control")
                .long("cache-control")
                .value_name("VALUE")
                .help("Cache-Control header sent with files, e.g. \"public, max-age=3600\""),
        )
        .arg(
            Arg::new("dotfiles")
                .long("dotfiles")
                .value_parser(["allow", "deny"])
                .default_value("deny")
                .help("Serve paths with a segment starting with '.' (deny: 404)"),
        )
        .arg(
            Arg::new("follow-symlinks")
                .long("follow-symlinks")
                .action(ArgAction::SetTrue)
                .help("Follow symlinks that lead outside the root (refused with 403 by default)"),
        )
        .arg(
            Arg::new("autoindex")
                .long("autoindex")
                .action(ArgAction::SetTrue)
                .help("List directories that have no index.html (403 by default, as nginx)"),
        )
        .arg(Arg::new("precompressed").long("precompressed").action(ArgAction::SetTrue).help(
            "Serve FILE.br / FILE.gz for FILE when Accept-Encoding allows (off by default, \
                     as nginx's gzip_static: a stale sibling of an edited file would be served)",
        ))
        .arg(secs("header-timeout", 1, "60", "Time allowed for a request head (then 408)"))
        .arg(secs(
            "keepalive-timeout",
            0,
            "75",
            "Time an idle keep-alive connection stays open (0: no keep-alive, every response says \
             Connection: close, as nginx's keepalive_timeout 0)",
        ))
        .arg(secs("send-timeout", 1, "60", "Time one write may wait for a client that stopped reading"))
        .arg(secs(
            "shutdown-timeout",
            0,
            "30",
            "Time in-flight responses may take after SIGINT/SIGTERM/SIGQUIT (0: do not wait for them); \
             a second signal meanwhile exits at once (status 1)",
        ))
        .arg(
            Arg::new("max-connections")
                .long("max-connections")
                .value_name("N")
                .value_parser(value_parser!(u64).range(1..))
                .default_value("10000")
                .help("Connections per worker; above it, accepting pauses"),
        )
        .arg(
            Arg::new("small-file-limit")
                .long("small-file-limit")
                .value_name("BYTES")
                .value_parser(value_parser!(u64).range(0..=16 * 1024 * 1024))
                .default_value("16384")
                .help(
                    "Files up to this size are kept in memory and sent with the response head in one \
                     writev; larger ones go out with sendfile (at most 16 MiB)",
                ),
        )
        .arg(
            Arg::new("max-requests")
                .long("max-requests")
                .value_name("N")
                .value_parser(value_parser!(u64).range(1..))
                .default_value("1000")
                .help("Requests per connection before it is closed"),
        )
        .arg(
            Arg::new("access-log")
                .long("access-log")
                .value_name("off|stdout|PATH")
                .default_value("off")
                .help(
                "Access log: off, stdout, or a file appended to (buffered 64 KiB / 1 s; SIGHUP or SIGUSR1 reopens it)",
            ),
        )
        .arg(
            Arg::new("log-format")
                .long("log-format")
                .value_parser(["common", "combined"])
                .default_value("common")
                .help("Access log line format, as nginx's predefined ones"),
        )
        .arg(Arg::new("status-path").long("status-path").value_name("PATH").help(
            "Serve nginx stub_status text at PATH and Prometheus metrics at PATH/metrics [default: off]",
        ))
        .arg(Arg::new("user").long("user").value_name("NAME").help(
            "Started as root: bind the listeners and open the access log as root, then run as NAME \
             (its groups, its primary group) before serving anything, as nginx's `user`",
        ))
        .arg(Arg::new("config").long("config").value_name("FILE").help(
            "TOML file with the same keys as these flags (cache_control = \"...\"); flags given here win",
        ));
    Command::new("waiter")
        .about("An event-loop runtime and the servers built on it")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(serve)
        .subcommand(load_command())
}

/// The text after `waiter load --help`'s flags: what the output means.
const LOAD_AFTER_HELP: &str = "\
Connections are opened before the clock starts (the time it took is printed). Each busy
connection then sends keep-alive GETs, one at a time (no pipelining), until DURATION is up;
responses in flight then finish. A response with `Connection: close` (or an error) makes the
connection reconnect; reconnects are counted.

With --rate, latency is measured from the time each request was due, not when it was sent, so a
server that stalls is charged for the requests that should have gone out meanwhile (coordinated
omission, as wrk2 does); the uncorrected figures are printed too.

--json prints one object: url, connections, idle, rate (null without --rate), backend,
connect_s, duration_s, requests, rps, bytes (heads and bodies read), body_bytes, bytes_per_s,
reconnects, idle_closed, errors {connect, read, write, status, timeout}, latency_us {p50, p90,
p99, p999, max, mean, stdev} and latency_uncorrected_us (the same keys). Requests that got a
non-2xx/3xx status count in requests and in errors.status.

Exit status: 0 after a run (even with errors counted), 1 when it could not start (no
connection could be opened, too few file descriptors), 2 for bad flags.";

fn load_command() -> Command {
    let count = |name: &'static str, short: char, default: &'static str, help: &'static str| {
        Arg::new(name)
            .short(short)
            .long(name)
            .value_name("N")
            .value_parser(value_parser!(u64).range(0..=10_000_000))
            .default_value(default)
            .help(help)
    };
    Command::new("load")
        .about("Load an HTTP/1.1 server with keep-alive GETs, as wrk/wrk2 do, on one event loop")
        .after_help(LOAD_AFTER_HELP)
        .arg(
            Arg::new("url")
                .value_name("URL")
                .required(true)
                .help("http://HOST[:PORT]/PATH; HOST is an IPv4 literal, [IPv6] or localhost"),
        )
        .arg(count("connections", 'c', "10", "Busy connections, each with one request in flight"))
        .arg(
            Arg::new("duration")
                .short('d')
                .long("duration")
                .value_name("DURATION")
                .value_parser(parse_duration)
                .default_value("10s")
                .help("How long to send requests: 10s, 500ms, 2m, 1h (a bare number is seconds)"),
        )
        .arg(
            Arg::new("rate")
                .short('R')
                .long("rate")
                .value_name("REQ_PER_S")
                .value_parser(value_parser!(u64).range(1..))
                .help(
                    "Total requests per second, spread evenly over the connections (wrk2); \
                     latency corrected for coordinated omission [default: as fast as possible]",
                ),
        )
        .arg(Arg::new("idle").long("idle").value_name("N").value_parser(value_parser!(u64).range(0..=10_000_000)).default_value("0").help(
            "Also hold N connections open without sending anything (to measure a server's memory per idle connection)",
        ))
        .arg(
            Arg::new("header")
                .short('H')
                .long("header")
                .value_name("'NAME: VALUE'")
                .action(ArgAction::Append)
                .help("Add a request header (repeatable); a Host header replaces the URL's"),
        )
        .arg(
            Arg::new("timeout")
                .long("timeout")
                .value_name("DURATION")
                .value_parser(parse_duration)
                .default_value("2s")
                .help("Time a request may wait for its response, or a connect for its handshake"),
        )
        .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print one JSON object instead of text (keys below)"))
        .arg(
            Arg::new("threads")
                .short('t')
                .long("threads")
                .value_name("1")
                .value_parser(value_parser!(u64).range(1..=1))
                .help("Accepted for wrk's command lines: always 1 (one thread, one loop; run more processes for more)"),
        )
        .arg(
            Arg::new("latency")
                .long("latency")
                .action(ArgAction::SetTrue)
                .help("Accepted for wrk's command lines: the latency distribution is always printed"),
        )
}

/// Parses `10s`, `500ms`, `2m`, `1h`, `1.5s`, or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" => 1e-6,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("unknown unit {unit:?} (use ms, s, m or h)")),
    };
    let value: f64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 10s"))?;
    let secs = value * scale;
    if !(secs > 0.0 && secs <= 366.0 * 86400.0) {
        return Err(format!("{text:?}: must be more than zero and at most a year"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Turns `load`'s matches into [`LoadArgs`].
///
/// # Errors
///
/// A message for a URL or header that cannot be used, or no connections at all.
pub fn load_args(m: &ArgMatches) -> Result<LoadArgs, String> {
    let url = m.get_one::<String>("url").ok_or("a URL is required")?;
    let count = |name: &str| m.get_one::<u64>(name).map_or(0, |&n| n as usize);
    let headers = m
        .get_many::<String>("header")
        .into_iter()
        .flatten()
        .map(|h| parse_header(h))
        .collect::<Result<Vec<_>, _>>()?;
    let args = LoadArgs {
        target: Target::parse(url)?,
        headers,
        connections: count("connections"),
        idle: count("idle"),
        duration: *m.get_one::<Duration>("duration").ok_or("--duration is required")?,
        rate: m.get_one::<u64>("rate").copied(),
        timeout: *m.get_one::<Duration>("timeout").ok_or("--timeout is required")?,
        json: m.get_flag("json"),
    };
    if args.connections == 0 && args.idle == 0 {
        return Err("-c/--connections 0 needs --idle N (nothing to do otherwise)".to_string());
    }
    if args.connections == 0 && args.rate.is_some() {
        return Err("--rate needs busy connections (-c N, N > 0)".to_string());
    }
    Ok(args)
}

/// Turns `serve`'s matches into [`ServeArgs`].
///
/// # Errors
///
/// A message for a root that cannot be served, an invalid header value, or a `--user` that
/// does not exist or that this process cannot become.
pub fn serve_args(m: &ArgMatches) -> Result<ServeArgs, String> {
    let root = m.get_one::<String>("root").map_or(".", String::as_str);
    let mut config = Config::new(root).map_err(|e| e.to_string())?;
    if let Some(value) = m.get_one::<String>("cache-control") {
        config.cache_control =
            Some(HeaderValue::new(value.as_str()).map_err(|e| format!("--cache-control {value:?}: {e}"))?);
    }
    let secs = |name: &str| Duration::from_secs(m.get_one::<u64>(name).copied().unwrap_or_default());
    let count = |name: &str| m.get_one::<u64>(name).map_or(1, |&n| usize::try_from(n).unwrap_or(usize::MAX));
    config.dotfiles = m.get_one::<String>("dotfiles").is_some_and(|v| v == "allow");
    config.follow_symlinks = m.get_flag("follow-symlinks");
    config.autoindex = m.get_flag("autoindex");
    config.precompressed = m.get_flag("precompressed");
    config.header_timeout = secs("header-timeout");
    config.keepalive_timeout = secs("keepalive-timeout");
    config.send_timeout = secs("send-timeout");
    config.max_connections = count("max-connections");
    config.max_requests = count("max-requests");
    if config.keepalive_timeout.is_zero() {
        // nginx's `keepalive_timeout 0`: no keep-alive at all. A connection
        // kept "alive" for zero seconds would be closed just after its
        // response without a word, and a client reusing it would fail. No
        // connection waits for a second request now, so the idle timeout is
        // never used; the header timeout stands in for it, as a zero would
        // make the deadline sweep run every 10 ms.
        config.max_requests = 1;
        config.keepalive_timeout = config.header_timeout;
    }
    config.small_file_limit =
        m.get_one::<u64>("small-file-limit").copied().unwrap_or(config.small_file_limit);
    let target = LogTarget::parse(m.get_one::<String>("access-log").map_or("off", String::as_str));
    let format = match m.get_one::<String>("log-format").map(String::as_str) {
        Some("combined") => LogFormat::Combined,
        _ => LogFormat::Common,
    };
    config.access_log = AccessLogConfig::new(target, format);
    if let Some(path) = m.get_one::<String>("status-path") {
        let trimmed = path.trim_end_matches('/');
        if !path.starts_with('/') || trimmed.is_empty() {
            return Err(format!("--status-path {path:?}: must start with '/' and name a path below it"));
        }
        config.status.path = Some(trimmed.to_string());
    }
    let workers = match m.get_one::<u64>("workers") {
        Some(&n) => n as usize,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    // Looked up and checked now, so that a bad --user fails before anything is bound.
    let user = match m.get_one::<String>("user") {
        Some(name) => {
            let user = User::lookup(name).map_err(|e| e.to_string())?;
            user.check_reachable().map_err(|e| e.to_string())?;
            Some(user)
        }
        None => None,
    };
    Ok(ServeArgs {
        config,
        listen: *m.get_one::<SocketAddr>("listen").ok_or("--listen is required")?,
        workers,
        shutdown_timeout: secs("shutdown-timeout"),
        user,
    })
}
