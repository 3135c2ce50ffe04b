//! The command line: `waiter serve [ROOT] --listen ... --workers ...`, parsed by clap into a [`ServeArgs`].

use std::net::SocketAddr;
use std::time::Duration;

use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use waiter_http::access_log::{AccessLogConfig, LogFormat, LogTarget};
use waiter_http::response::HeaderValue;
use waiter_http::Config;

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
}

/// The clap definition of the `waiter` command.
pub fn command() -> Command {
    let secs = |name: &'static str, default: &'static str, help: &'static str| {
        Arg::new(name)
            .long(name)
            .value_name("SECS")
            .value_parser(value_parser!(u64))
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
        .arg(secs("header-timeout", "60", "Time allowed for a request head (then 408)"))
        .arg(secs("keepalive-timeout", "75", "Time an idle keep-alive connection stays open"))
        .arg(secs("send-timeout", "60", "Time one write may wait for a client that stopped reading"))
        .arg(secs("shutdown-timeout", "30", "Time in-flight responses may take after SIGINT/SIGTERM"))
        .arg(
            Arg::new("max-connections")
                .long("max-connections")
                .value_name("N")
                .value_parser(value_parser!(u64).range(1..))
                .default_value("10000")
                .help("Connections per worker; above it, accepting pauses"),
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
                "Access log: off, stdout, or a file appended to (buffered 64 KiB / 1 s; SIGHUP reopens it)",
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
        .arg(Arg::new("config").long("config").value_name("FILE").help(
            "TOML file with the same keys as these flags (cache_control = \"...\"); flags given here win",
        ));
    Command::new("waiter")
        .about("An event-loop runtime and the servers built on it")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(serve)
}

/// Turns `serve`'s matches into [`ServeArgs`].
///
/// # Errors
///
/// A message for a root that cannot be served or an invalid header value.
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
    Ok(ServeArgs {
        config,
        listen: *m.get_one::<SocketAddr>("listen").ok_or("--listen is required")?,
        workers,
        shutdown_timeout: secs("shutdown-timeout"),
    })
}
