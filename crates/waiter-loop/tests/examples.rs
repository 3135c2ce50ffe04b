//! The README's examples, run as the programs they are: `three_sleeps` (and
//! its `WAITER_TRACE=1` listing), `ordering`, `cpu_offload` and `echo` with
//! 10,000 connections. Each runs on the backend `WAITER_BACKEND` names, so
//! the suite's second pass covers poll(2).
//!
//! The binaries are the ones `cargo test` / `cargo nextest run` build next
//! to the test binaries (`target/<profile>/examples/`); a run that selects
//! only this test target must build them first (`cargo build --examples`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The path of the example `name`, built beside this test binary.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/examples-HASH -> target/<profile>/examples/NAME
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .join("examples")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: `cargo test` and `cargo nextest run` build the examples; \
         when selecting this test alone, run `cargo build --examples` first",
        path.display()
    );
    path
}

/// Runs an example to its end, failing past `limit` instead of hanging.
fn run(name: &str, envs: &[(&str, &str)], limit: Duration) -> (Output, Duration) {
    let mut cmd = Command::new(example(name));
    cmd.envs(envs.iter().copied()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {name}: {e}"));
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let read = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).expect("reading the example's output");
            bytes
        })
    };
    let (out, err) = (read(Box::new(out)), read(Box::new(err)));
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the example") {
            break status;
        }
        if started.elapsed() > limit {
            kill(&mut child);
            panic!("{name} did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let took = started.elapsed();
    let output = Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() };
    assert!(
        output.status.success(),
        "{name} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    (output, took)
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("the example prints UTF-8")
}

/// The number in `line` that follows `key` ("p99 " -> 0.123 of "p99 0.123 ms").
fn number_after(line: &str, key: &str) -> f64 {
    let rest = &line[line.find(key).unwrap_or_else(|| panic!("no {key:?} in {line:?}")) + key.len()..];
    let num: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    num.parse().unwrap_or_else(|e| panic!("{key:?} in {line:?}: {e}"))
}

#[test]
fn example_three_sleeps_takes_the_longest_not_the_sum() {
    let (out, took) = run("three_sleeps", &[], Duration::from_secs(30));
    let stdout = text(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("done waiting for events")).expect("the result line");
    assert!(line.contains("[1000, 2000, 3000]"), "{line}");
    let secs = number_after(line, " in ");
    // Three sleeps of 1, 2 and 3 s started together: 3 s, never less; the
    // sum would be 6 s, so 5 s bounds any load the machine may have.
    assert!((3.0..5.0).contains(&secs), "{line}");
    assert!(took >= Duration::from_secs(3), "the process took {took:?}");
    assert!(out.stderr.is_empty(), "nothing on stderr without WAITER_TRACE: {:?}", text(&out.stderr));
}

#[test]
fn example_three_sleeps_traced_waits_three_times_for_about_a_second() {
    let (out, _) = run("three_sleeps", &[("WAITER_TRACE", "1")], Duration::from_secs(30));
    let stderr = text(&out.stderr);
    let ticks: Vec<&str> = stderr.lines().filter(|l| l.starts_with("[waiter] tick ")).collect();
    // The seed's strace listing: three waits whose timeouts come from the
    // next timer (each ~1 s), each ended by that timer, nothing else.
    assert_eq!(ticks.len(), 3, "one line per tick:\n{stderr}");
    for (i, tick) in ticks.iter().enumerate() {
        assert!(tick.starts_with(&format!("[waiter] tick {i}: timers=1 ")), "{tick}");
        let backend = std::env::var("WAITER_BACKEND").unwrap_or_else(|_| "epoll".to_string());
        assert!(tick.contains(&format!(" {backend}_wait(timeout=")), "{tick}");
        let ms = number_after(tick, "timeout=");
        assert!(ms > 500.0 && ms <= 1000.0, "a wait until the next sleep's deadline: {tick}");
        assert!(tick.ends_with(") = 0"), "woken by the timer, not by an event: {tick}");
    }
}

#[test]
fn example_ordering_prints_each_phase_in_tick_order() {
    let (out, _) = run("ordering", &[], Duration::from_secs(30));
    let stdout = text(&out.stdout);
    let mut lines: Vec<(u64, String, String)> = Vec::new();
    for line in stdout.lines().skip(1) {
        let mut cols = line.split_whitespace();
        let iteration = cols.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line:?}"));
        let phase = cols.next().unwrap_or_default().to_string();
        let what = cols.collect::<Vec<_>>().join(" ");
        lines.push((iteration, phase, what));
    }
    // The pool job's completion lands in whichever poll phase follows the
    // worker's finish: check its phase, then leave it out of the order.
    let work = lines
        .iter()
        .position(|(_, _, what)| what.starts_with("queue_work done (42)"))
        .expect("the job's line");
    assert_eq!(lines.remove(work).1, "poll");
    let got: Vec<(u64, &str, &str)> =
        lines.iter().map(|(i, phase, what)| (*i, phase.as_str(), what.split(": ").next().unwrap())).collect();
    let want: &[(u64, &str, &str)] = &[
        (0, "main", "the main script schedules one callback of each kind"),
        (0, "main", "next_tick"),
        (0, "main", "queue_microtask"),
        (0, "timers", "set_timeout(0)"),
        (0, "timers", "next_tick queued by the timer"),
        (0, "pending", "defer"),
        (0, "poll", "watch"),
        (0, "check", "set_immediate"),
        (0, "closing", "on_close"),
        (0, "closing", "Watch::close from the poll phase"),
        (1, "pending", "defer from the poll phase"),
        (1, "check", "set_immediate from an immediate"),
        (1, "closing", "on_close from a close callback"),
    ];
    let (done, got) = got.split_last().expect("lines");
    assert_eq!(got, want, "\n{stdout}");
    assert_eq!(done.1, "done", "{stdout}");
    assert!(stdout.ends_with("live handles: 0\n"), "{stdout}");
}

#[test]
fn example_cpu_offload_keeps_the_interval_on_time_only_when_offloaded() {
    let (out, _) = run("cpu_offload", &[], Duration::from_secs(60));
    let stdout = text(&out.stdout);
    let intervals: Vec<&str> = stdout.lines().filter(|l| l.contains("10 ms interval:")).collect();
    assert_eq!(intervals.len(), 2, "{stdout}");
    let (offloaded, on_loop) = (intervals[0], intervals[1]);
    // Offloaded, the 10 ms interval keeps ticking through the 2 s job; on the
    // loop, one run waits the whole job out. The bounds are an order of
    // magnitude apart on purpose: this is a claim about responsiveness, and
    // a loaded machine delays the offloaded ticks by milliseconds, not seconds.
    assert!(number_after(offloaded, "interval: ") >= 100.0, "{offloaded}");
    assert!(number_after(offloaded, "max ") < 200.0, "the loop stalled while the pool computed: {offloaded}");
    assert!(
        number_after(on_loop, "max ") >= 1_500.0,
        "the job on the loop should hold the interval up: {on_loop}"
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cpu_offload::main"), "the watchdog names the slow callback:\n{stderr}");
}

/// The echo example, started on a free port; its stderr lines arrive on the channel.
struct EchoServer {
    child: Child,
    addr: SocketAddr,
    lines: mpsc::Receiver<String>,
}

impl EchoServer {
    fn start() -> EchoServer {
        let mut child = Command::new(example("echo"))
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the echo example");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines.recv_timeout(Duration::from_secs(20)).expect("the echo example's first line");
        let addr = first
            .strip_prefix("echo: listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {first:?}"));
        EchoServer { child, addr, lines }
    }

    /// Waits for the line "echo: N connections".
    fn wait_for_count(&self, n: usize, limit: Duration) {
        let want = format!("echo: {n} connections");
        let end = Instant::now() + limit;
        let mut seen = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line == want => return,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("the echo example never printed {want:?} within {limit:?}; it printed {seen:?}");
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

#[test]
fn example_echo_holds_ten_thousand_connections() {
    const CONNECTIONS: usize = 10_000;
    let (soft, hard) = waiter_loop::nofile_limit().unwrap();
    let need = CONNECTIONS as u64 + 100;
    assert!(hard >= need, "this test holds {CONNECTIONS} sockets: RLIMIT_NOFILE's hard limit is {hard}");
    if soft < need {
        waiter_loop::set_nofile_limit(hard).unwrap();
    }
    let server = EchoServer::start();
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let c = TcpStream::connect_timeout(&server.addr, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        clients.push(c);
    }
    server.wait_for_count(CONNECTIONS, Duration::from_secs(30));
    // With every connection open, the first, a middle and the last one echo.
    for i in [0, CONNECTIONS / 2, CONNECTIONS - 1] {
        let mut c = &clients[i];
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let msg = format!("hello from connection {i}\n");
        c.write_all(msg.as_bytes()).unwrap();
        let mut back = vec![0; msg.len()];
        c.read_exact(&mut back).unwrap_or_else(|e| panic!("connection {i}'s echo: {e}"));
        assert_eq!(back, msg.as_bytes());
    }
    // And it notices them leave.
    clients.truncate(CONNECTIONS / 2);
    server.wait_for_count(CONNECTIONS / 2, Duration::from_secs(30));
}
