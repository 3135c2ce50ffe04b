//! Shared by the `reliability_*` tests (issue 5): the real `waiter` binary
//! over a root with a secret planted next to it, a raw HTTP/1.1 client that
//! keeps every byte it received, and the process figures the tests compare
//! before and after an attack (`/proc/PID/fd`, `VmRSS`, CPU ticks).
//!
//! The server's stderr goes to a file rather than a pipe: nobody reads a
//! pipe while a test floods the server, and a full pipe would block the
//! server's logging, which would look like a hang. [`Waiter::stop`] checks the
//! file for panics.
#![allow(dead_code)] // each test file uses a different part

#[path = "../common/mod.rs"]
mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Every client wait gives up after this: no test can hang on a socket.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// What the secret file outside the root holds; no response may contain it.
pub const SECRET: &[u8] = b"RELY-SECRET-OUTSIDE-THE-ROOT";

/// The body of `/canary.txt`, the valid request pipelined behind each bad one.
pub const CANARY: &[u8] = b"canary: the connection is in sync\n";

/// A fresh scratch directory `<tmp>/waiter-rely-<tag>-<pid>-<n>`.
pub fn scratch(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "waiter-rely-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A document root under `base/root`, with `base/secret.txt` outside it and
/// the usual suspects inside: a dotfile, symlinks out of and within the
/// root, a FIFO, a directory with and one without an index, a 200 KiB file.
pub fn hostile_root(base: &Path) -> PathBuf {
    let root = base.join("root");
    std::fs::create_dir_all(root.join("dir")).unwrap();
    std::fs::create_dir_all(root.join("noindex")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(base.join("secret.txt"), SECRET).unwrap();
    std::fs::write(root.join("canary.txt"), CANARY).unwrap();
    std::fs::write(root.join("a.txt"), b"0123456789").unwrap();
    std::fs::write(root.join("index.html"), b"<h1>index</h1>\n").unwrap();
    std::fs::write(root.join("dir/index.html"), b"<h1>dir</h1>\n").unwrap();
    std::fs::write(root.join(".env"), SECRET).unwrap();
    std::fs::write(root.join(".git/config"), SECRET).unwrap();
    std::fs::write(root.join("big.bin"), pattern(200 * 1024)).unwrap();
    std::os::unix::fs::symlink(base.join("secret.txt"), root.join("out.txt")).unwrap();
    std::os::unix::fs::symlink(base, root.join("outdir")).unwrap();
    std::os::unix::fs::symlink(root.join("a.txt"), root.join("in.txt")).unwrap();
    let fifo = Command::new("mkfifo").arg(root.join("fifo")).status().expect("mkfifo");
    assert!(fifo.success(), "mkfifo");
    root
}

/// `len` bytes of a fixed pseudo-random pattern (so a shifted or stale byte shows).
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

/// FNV-1a, enough to tell two downloads apart.
pub fn checksum(bytes: &[u8]) -> u64 {
    checksum_more(CHECKSUM_START, bytes)
}

/// What [`checksum_more`] starts from: the checksum of nothing.
pub const CHECKSUM_START: u64 = 0xcbf2_9ce4_8422_2325;

/// The checksum of what `sum` covered followed by `bytes`, so that a
/// download is summed as it arrives instead of being kept whole.
pub fn checksum_more(sum: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(sum, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// A running `waiter serve`; killed on drop if still running.
pub struct Waiter {
    pub child: Child,
    pub addr: SocketAddr,
    /// The server's process id (the child's: `prlimit` execs the server).
    pub pid: u32,
    pub stderr: PathBuf,
}

impl Waiter {
    /// Starts `[prefix...] waiter serve ROOT --listen 127.0.0.1:0 args...`
    /// and waits for the banner that names its address.
    pub fn start(prefix: &[&str], root: &Path, args: &[&str]) -> Waiter {
        let stderr = root.with_extension(format!("stderr-{}", scratch_id()));
        let err_file = std::fs::File::create(&stderr).unwrap();
        let context = || std::fs::read_to_string(&stderr).unwrap_or_default();
        let running = common::spawn_with(prefix, root, args, err_file.into(), &context);
        let (child, addr) = (running.child, running.addr);
        let pid = child.id();
        Waiter { child, addr, pid, stderr }
    }

    /// A connected client with read and write timeouts.
    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }

    /// The server's stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Open descriptors of the server process.
    pub fn fds(&self) -> usize {
        fd_count(self.pid)
    }

    /// Resident set size in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid)
    }

    /// CPU time used so far (user + system).
    pub fn cpu(&self) -> Duration {
        cpu_time(self.pid)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, then [`Waiter::wait_exit`].
    pub fn stop_within(mut self, limit: Duration) -> (Option<i32>, Duration) {
        signal(self.pid, "TERM");
        self.wait_exit(limit)
    }

    /// Waits up to `limit` for the process to exit; returns the exit code and
    /// how long the wait took. Fails if stderr shows a panic.
    pub fn wait_exit(&mut self, limit: Duration) -> (Option<i32>, Duration) {
        let start = Instant::now();
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code();
            }
            assert!(start.elapsed() < limit, "waiter did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = start.elapsed();
        let stderr = self.stderr();
        assert!(!stderr.contains("panicked"), "the server panicked:\n{stderr}");
        (code, took)
    }

    /// [`Waiter::stop_within`] 10 s, expecting a clean exit.
    pub fn stop(self) {
        let (code, _) = self.stop_within(TIMEOUT);
        assert_eq!(code, Some(0), "clean exit after SIGTERM");
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.stderr);
    }
}

fn scratch_id() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Sends signal `name` (e.g. "TERM") to `pid` with kill(1).
pub fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().unwrap().success();
    assert!(ok, "kill -{name} {pid}");
}

/// A connected client with read and write timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// Open descriptors of `pid` (entries of `/proc/PID/fd`).
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// `VmRSS` of `pid` in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// utime + stime of `pid` (fields 14 and 15 of `/proc/PID/stat`, in clock
/// ticks of 1/100 s: Linux's `USER_HZ` on every architecture it runs on).
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces: count from its closing paren.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// One response as received.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// The head, status line and CRLFs included.
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// Whether the server announced the end of the connection.
    pub fn closes(&self) -> bool {
        self.header("Connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Reads one response from `stream` (a body of `Content-Length` bytes unless
/// `no_body`, or the status has none). `Ok(None)`: clean end-of-stream
/// before any byte. Errors describe what went wrong, with the bytes so far.
pub fn read_response(stream: &mut impl Read, no_body: bool) -> Result<Option<Response>, String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) if head.is_empty() => return Ok(None),
            Ok(0) => return Err(format!("closed inside a head: {:?}", String::from_utf8_lossy(&head))),
            Ok(_) => head.push(byte[0]),
            Err(e) => {
                return Err(format!("reading a head: {e} (so far {:?})", String::from_utf8_lossy(&head)))
            }
        }
        if head.len() > 64 * 1024 {
            return Err("a response head over 64 KiB".into());
        }
    }
    let head = String::from_utf8(head).map_err(|e| format!("a non-UTF-8 response head: {e}"))?;
    let status_line = head.split("\r\n").next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut response = Response { status, head, body: Vec::new() };
    if no_body || status == 304 || status == 204 || (100..200).contains(&status) {
        return Ok(Some(response));
    }
    let len: usize = response
        .header("Content-Length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no Content-Length in {:?}", response.head))?;
    response.body = vec![0; len];
    stream.read_exact(&mut response.body).map_err(|e| format!("reading a {len}-byte body: {e}"))?;
    Ok(Some(response))
}

/// What the server does after the responses read so far: the bytes it
/// still sends before closing, or the error ending the wait.
pub fn rest_until_close(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut rest = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf)? {
            0 => return Ok(rest),
            n => rest.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends `GET path` (keep-alive) and reads the response.
pub fn get(stream: &mut TcpStream, path: &str) -> Result<Response, String> {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .map_err(|e| format!("sending GET {path}: {e}"))?;
    read_response(stream, false)?.ok_or_else(|| format!("GET {path}: closed without a response"))
}

/// One `GET path` on a new connection; the status, or why there is none.
pub fn get_once(addr: SocketAddr, path: &str) -> Result<Response, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    get(&mut stream, path)
}

/// Polls `cond` every 20 ms until it holds or `limit` passes; whether it held.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the long versions were asked for (`WAITER_RELIABILITY=long`, set
/// by `reliability/run.sh`): same checks, issue-sized loads.
pub fn long() -> bool {
    std::env::var("WAITER_RELIABILITY").is_ok_and(|v| v == "long")
}

/// `short` normally, `long` under [`long`].
pub fn scaled<T>(short: T, long_value: T) -> T {
    if long() {
        long_value
    } else {
        short
    }
}

/// Prints a figure and, when `WAITER_RELIABILITY_OUT` names a file, appends
/// `item<TAB>metric<TAB>value` to it for `reliability/report.py`.
pub fn record(item: &str, metric: &str, value: impl std::fmt::Display) {
    eprintln!("figure: {item} {metric} = {value}");
    if let Ok(path) = std::env::var("WAITER_RELIABILITY_OUT") {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        writeln!(file, "{item}\t{metric}\t{value}").unwrap();
    }
}

/// Raises this test process's soft `RLIMIT_NOFILE` to `n` with prlimit(1)
/// (the hard limit must allow it: CI sets `ulimit -n` to the hard limit).
pub fn raise_own_nofile(n: u64) {
    let ok = Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={n}:"))
        .status()
        .expect("prlimit (util-linux)")
        .success();
    assert!(ok, "prlimit --nofile={n}: is the hard limit lower?");
}

/// Polls until the server holds at most `fds` descriptors; the count it got down to.
pub fn settle_fds(server: &Waiter, fds: usize, limit: Duration) -> usize {
    wait_for(limit, || server.fds() <= fds);
    server.fds()
}

/// Removes a scratch directory when dropped (at the end of a test, passed or not).
pub struct Cleanup(pub PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
