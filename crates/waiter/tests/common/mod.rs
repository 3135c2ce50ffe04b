//! Shared by the `waiter` binary tests: run `waiter serve` (optionally under
//! strace) on 127.0.0.1 port 0 and learn its address from the first line it prints.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Every wait in these tests gives up after this.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh directory holding `files`.
pub fn root_with(tag: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("waiter-bin-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, contents) in files {
        std::fs::write(dir.join(name), contents).unwrap();
    }
    dir
}

/// A running `waiter serve` (possibly wrapped in another program).
pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
    pub banner: String,
}

/// Starts `prefix... waiter serve root args...` and waits for its banner.
pub fn spawn(prefix: &[&str], root: &Path, args: &[&str]) -> Running {
    spawn_with(prefix, root, args, Stdio::piped(), &String::new)
}

/// [`spawn`] with the server's stderr going to `stderr`; `context` adds to
/// the failure message when no banner names an address (e.g. that stderr).
pub fn spawn_with(
    prefix: &[&str],
    root: &Path,
    args: &[&str],
    stderr: Stdio,
    context: &dyn Fn() -> String,
) -> Running {
    let bin = env!("CARGO_BIN_EXE_waiter");
    let mut cmd = match prefix.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.arg("serve").arg(root).args(["--listen", "127.0.0.1:0"]).args(args);
    let mut child = cmd.stdout(Stdio::piped()).stderr(stderr).spawn().expect("start waiter");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    stdout.read_line(&mut banner).expect("the banner");
    let addr = banner.split("http://").nth(1).and_then(|rest| rest.split_whitespace().next());
    let Some(addr) = addr.and_then(|a| a.parse().ok()) else {
        let _ = child.kill();
        panic!("no address in the banner {banner:?}: {}", context());
    };
    Running { child, addr, banner }
}

/// Waits for `child` to exit, killing it after [`TIMEOUT`].
pub fn wait_exit(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not exit within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends signal `name` (e.g. "TERM") to `pid`.
pub fn kill(pid: u32, name: &str) {
    let ok = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().unwrap().success();
    assert!(ok, "kill -{name} {pid}");
}

/// A client with timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// Sends `GET path` on `stream` and reads a response with a `len`-byte body.
pub fn get(stream: &mut TcpStream, path: &str, len: usize) -> Vec<u8> {
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed early");
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            if got.len() >= end + 4 + len {
                return got[end + 4..].to_vec();
            }
        }
    }
}

/// Starts the server with one worker under `strace -f`, tracing `syscalls`
/// (strace's `-e trace=` list) into `trace_file`; `extra` are more `serve` flags.
pub fn spawn_traced(root: &Path, trace_file: &Path, syscalls: &str, extra: &[&str]) -> Running {
    let trace_path = trace_file.to_str().expect("a UTF-8 temp path");
    let filter = format!("trace={syscalls}");
    let prefix = ["strace", "-f", "-qq", "-s", "64", "-o", trace_path, "-e", &filter];
    let args: Vec<&str> = ["--workers", "1"].iter().chain(extra).copied().collect();
    spawn(&prefix, root, &args)
}

/// Stops a server started by [`spawn_traced`] (strace's child) with SIGTERM
/// and returns the trace it left in `trace_file`.
pub fn stop_traced(mut server: Running, trace_file: &Path) -> String {
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", server.child.id())).unwrap();
    let pid: u32 = children.split_whitespace().next().expect("the traced server").parse().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    kill(pid, "TERM");
    wait_exit(&mut server.child);
    std::fs::read_to_string(trace_file).unwrap()
}
