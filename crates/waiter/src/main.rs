//! `waiter`: the command-line entry point. `waiter serve [ROOT]` runs the static file server;
//! `waiter load URL` loads an HTTP server (see [`load`]).
//!
//! The process model is nginx's: the main thread blocks SIGINT, SIGTERM,
//! SIGQUIT, SIGHUP and SIGUSR1 before any other thread exists (so they reach
//! its signalfd only), starts N worker threads, each with its own loop and
//! `SO_REUSEPORT` listener, and then waits for a signal. SIGINT/SIGTERM stop
//! the workers gracefully, bounded by `--shutdown-timeout`, and so does
//! SIGQUIT, nginx's graceful stop; a second SIGINT, SIGTERM or SIGQUIT
//! during that stop exits at once with status 1, as the timeout does (an
//! operator pressing Ctrl-C twice means "now": Caddy and systemd-style
//! supervisors escalate the same way, and nginx's TERM after a graceful
//! QUIT switches to its fast stop); SIGHUP asks every worker to reopen its
//! access log file (at its next flush, within a second), and so does
//! SIGUSR1, the signal nginx reopens its logs on, which the logrotate
//! scripts written for nginx send (its default action ended the process).
//!
//! With `--user NAME` (see [`privileges`]) the workers bind their listeners
//! and open the access log, then wait; the main thread drops root's
//! privileges for the whole process and only then lets them serve.
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod cli;
mod config_file;
mod load;
mod privileges;

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::mpsc;
use std::task::Poll;
use std::time::Instant;

use waiter_http::{Server, Stopper};
use waiter_loop::{Loop, Signal, Signals};

use cli::ServeArgs;

fn main() -> ExitCode {
    let matches = match config_file::matches(std::env::args_os().collect()) {
        Ok(matches) => matches,
        Err(msg) => {
            eprintln!("waiter: {msg}");
            return ExitCode::from(2);
        }
    };
    let m = match matches.subcommand() {
        Some(("serve", m)) => m,
        Some(("load", m)) => return load_main(m),
        _ => unreachable!("clap requires a subcommand"),
    };
    let args = match cli::serve_args(m) {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("waiter: {msg}");
            return ExitCode::from(1);
        }
    };
    match serve(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("waiter: {e}");
            ExitCode::from(1)
        }
    }
}

/// `waiter load`: runs the load and prints the report on stdout.
fn load_main(m: &clap::ArgMatches) -> ExitCode {
    let args = match cli::load_args(m) {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("waiter load: {msg}");
            return ExitCode::from(2);
        }
    };
    match load::run(&args) {
        Ok(report) => {
            if args.json {
                println!("{}", report.json());
            } else {
                print!("{}", report.human());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("waiter load: {e}");
            ExitCode::from(1)
        }
    }
}

/// A running worker thread: how to stop it, and how to let it serve.
struct WorkerThread {
    stopper: Stopper,
    /// Sending on it (or dropping it) ends the worker's wait between binding and serving.
    go: mpsc::Sender<()>,
}

fn serve(args: ServeArgs) -> io::Result<ExitCode> {
    let signals = [Signal::INT, Signal::TERM, Signal::QUIT, Signal::HUP, Signal::USR1];
    waiter_loop::block_signals(&signals)?;
    let main_loop = Loop::new()?;
    let mut watch = main_loop.signals(&signals)?;

    refuse_if_in_use(args.listen)?;
    let (done_tx, done_rx) = mpsc::channel::<io::Result<()>>();
    let mut workers = Vec::with_capacity(args.workers);
    let mut addr = args.listen;
    for n in 0..args.workers {
        // Worker 0 picks the port when asked for port 0; the rest share it.
        let (go, go_rx) = mpsc::channel();
        let (stopper, bound) = start_worker(n, addr, &args, done_tx.clone(), go_rx)?;
        addr = bound;
        workers.push(WorkerThread { stopper, go });
    }
    drop(done_tx);
    // Every listener is bound and every log open: no request has been read
    // yet, and none will be before the privileges are gone. On an error the
    // senders are dropped and the workers end without serving.
    if let Some(user) = &args.user {
        user.become_user()?;
    }
    for worker in &workers {
        let _ = worker.go.send(());
    }
    println!(
        "waiter: serving {} on http://{addr} ({} worker{}, {})",
        args.config.root().display(),
        args.workers,
        if args.workers == 1 { "" } else { "s" },
        main_loop.backend().name(),
    );

    let signal = main_loop.block_on(stop_signal(&mut watch, &args));
    eprintln!("waiter: {}: finishing in-flight responses", signal.name());
    for worker in &workers {
        // A worker whose loop is gone has stopped already.
        let _ = worker.stopper.stop();
    }
    let deadline = Instant::now() + args.shutdown_timeout;
    let count = workers.len();
    // On the thread pool, so that a second signal can end the wait.
    let stopped = main_loop.spawn_blocking(move || workers_stopped(&done_rx, count, deadline))?;
    let mut stopped = pin!(stopped);
    let mut again = pin!(stop_signal(&mut watch, &args));
    let outcome = main_loop.block_on(poll_fn(|cx| {
        if let Poll::Ready(result) = stopped.as_mut().poll(cx) {
            return Poll::Ready(result.unwrap_or(Stopped::Failed));
        }
        again.as_mut().poll(cx).map(Stopped::Again)
    }));
    Ok(match outcome {
        Stopped::Clean => ExitCode::SUCCESS,
        Stopped::Failed => ExitCode::from(1),
        Stopped::TimedOut => {
            eprintln!("waiter: shutdown timeout: exiting with responses still in flight");
            ExitCode::from(1)
        }
        Stopped::Again(signal) => {
            eprintln!("waiter: {} again: exiting with responses still in flight", signal.name());
            ExitCode::from(1)
        }
    })
}

/// Waits for a signal that stops the server (INT, TERM, QUIT), reopening
/// the access log on each HUP or USR1 meanwhile.
async fn stop_signal(watch: &mut Signals, args: &ServeArgs) -> Signal {
    loop {
        let signal = watch.recv().await;
        if signal != Signal::HUP && signal != Signal::USR1 {
            return signal;
        }
        // Every worker's configuration shares the generation this bumps.
        args.config.access_log.reopen();
    }
}

/// How a graceful stop ended.
enum Stopped {
    /// Every worker finished its responses.
    Clean,
    /// Every worker stopped, one with an error (printed).
    Failed,
    /// `--shutdown-timeout` passed first.
    TimedOut,
    /// A second stop signal came first: stop at once.
    Again(Signal),
}

/// Waits until `count` workers have reported on `done`, or `deadline`.
fn workers_stopped(done: &mpsc::Receiver<io::Result<()>>, count: usize, deadline: Instant) -> Stopped {
    let mut failed = false;
    for _ in 0..count {
        match done.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("waiter: worker: {e}");
                failed = true;
            }
            Err(_) => return Stopped::TimedOut,
        }
    }
    if failed {
        Stopped::Failed
    } else {
        Stopped::Clean
    }
}

/// Fails with `AddrInUse` when something already listens on `addr`.
///
/// The workers' listeners share their port through `SO_REUSEPORT`, which
/// also lets them bind next to another process's `SO_REUSEPORT` listener of
/// the same user: a second `waiter serve` on a port the first one holds
/// would start and silently take half of its connections. A plain bind
/// (std sets only `SO_REUSEADDR`, so a port in `TIME_WAIT` is still free)
/// is refused by any listener, as nginx's bind is; it is closed at once, so
/// the workers can then bind.
fn refuse_if_in_use(addr: SocketAddr) -> io::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    match std::net::TcpListener::bind(addr) {
        Ok(_probe) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            Err(io::Error::new(e.kind(), format!("listen on {addr}: {e}")))
        }
        // Anything else (no such address, no permission) is for the workers' bind to report.
        Err(_) => Ok(()),
    }
}

/// Starts worker `n` listening on `addr`; returns its stopper and bound address. The
/// worker serves once `go` receives (or ends when its sender is dropped).
fn start_worker(
    n: usize,
    addr: SocketAddr,
    args: &ServeArgs,
    done: mpsc::Sender<io::Result<()>>,
    go: mpsc::Receiver<()>,
) -> io::Result<(Stopper, SocketAddr)> {
    let config = args.config.clone();
    let (ready_tx, ready_rx) = mpsc::channel::<io::Result<(Stopper, SocketAddr)>>();
    std::thread::Builder::new()
        .name(format!("waiter-worker-{n}"))
        .spawn(move || {
            let started = Loop::new().and_then(|lp| {
                let server = Server::bind(&lp, addr, config, true)?;
                Ok((lp, server))
            });
            let (lp, server) = match started {
                Ok(started) => started,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let bound = server.local_addr();
            let _ = ready_tx.send(bound.map(|a| (server.stopper(), a)));
            if go.recv().is_err() {
                // The main thread gave up before serving (e.g. --user failed).
                return;
            }
            let _ = done.send(lp.block_on(server.run()));
        })
        .map_err(|e| io::Error::new(e.kind(), format!("starting worker {n}: {e}")))?;
    ready_rx.recv().map_err(|_| io::Error::other(format!("worker {n} died while starting")))?
}
