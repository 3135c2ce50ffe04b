//! The second seed's picture for a large file, checked with `strace -f` on the
//! real binary: a hot keep-alive request of a 100 KiB file is one `read` of
//! the request, `TCP_CORK` on, one `writev` with the head, `sendfile` for the
//! whole body, `TCP_CORK` off (`send.rs`), and no `open`/`stat` of the file
//! (the open-file cache) and no `read` that can only say EAGAIN.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{connect, root_with, spawn_traced, stop_traced};

/// The body's length: 100 KiB, above the 16 KiB small-file threshold.
const LEN: usize = 100 * 1024;

/// The request this test sends for `path`.
fn request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}

/// Sends `GET path` and reads the response: `(head length, body)`.
fn get_raw(stream: &mut TcpStream, path: &str) -> (usize, Vec<u8>) {
    stream.write_all(request(path).as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed early after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&got[..end]).expect("an ASCII head");
            assert!(head.starts_with("HTTP/1.1 200 "), "status of {path}: {head}");
            assert!(head.contains(&format!("\r\nContent-Length: {LEN}")), "length of {path}: {head}");
            if got.len() >= end + 4 + LEN {
                assert_eq!(got.len(), end + 4 + LEN, "no bytes past the body of {path}");
                return (end + 4, got[end + 4..].to_vec());
            }
        }
    }
}

/// One traced system call: its name, the whole (rejoined) line, and its result.
#[derive(Debug)]
struct Call {
    name: String,
    line: String,
    result: String,
}

impl Call {
    fn bytes(&self) -> Option<i64> {
        self.result.split_whitespace().next()?.parse::<i64>().ok().filter(|&n| n >= 0)
    }
}

/// The calls in `trace`, with `<unfinished ...>` lines joined to their `<... resumed>` halves.
fn calls(trace: &str) -> Vec<Call> {
    let mut pending: Vec<(String, String)> = Vec::new(); // (pid, first half)
    let mut out = Vec::new();
    for line in trace.lines() {
        let Some((pid, rest)) = line.split_once(' ') else { continue };
        let rest = rest.trim_start();
        if let Some(first) = rest.strip_suffix("<unfinished ...>") {
            pending.push((pid.to_owned(), first.to_owned()));
            continue;
        }
        let (name, full) = match rest.strip_prefix("<... ") {
            Some(resumed) => {
                let Some(name) = resumed.split_whitespace().next() else { continue };
                let tail = resumed.split_once("resumed>").map_or("", |(_, t)| t);
                let first = pending
                    .iter()
                    .position(|(p, _)| p == pid)
                    .map(|i| pending.remove(i).1)
                    .unwrap_or_default();
                (name.to_owned(), format!("{first}{tail}"))
            }
            None => match rest.split_once('(') {
                Some((name, _)) => (name.to_owned(), rest.to_owned()),
                None => continue, // "+++ exited", "--- SIGTERM", ...
            },
        };
        let Some((_, result)) = full.rsplit_once(" = ") else { continue };
        out.push(Call { name, result: result.to_owned(), line: full.clone() });
    }
    out
}

#[test]
fn hot_large_file_is_read_corked_writev_sendfile() {
    let body: Vec<u8> = (0..LEN).map(|i| (i * 7 % 251) as u8).collect();
    let root = root_with("strace-sendfile", &[("big.bin", &body)]);
    let trace_file = root.with_extension("trace");
    let server = spawn_traced(
        &root,
        &trace_file,
        "read,recvfrom,writev,sendfile,setsockopt,openat,open,fstat,newfstatat,statx,stat,lstat",
        &[],
    );
    let mut stream = connect(server.addr);
    let (_, cold) = get_raw(&mut stream, "/big.bin?cold");
    assert!(cold == body, "cold request: body differs");
    // Let the server go idle so the hot request arrives at an idle loop.
    std::thread::sleep(std::time::Duration::from_millis(30));
    let (head_len, hot) = get_raw(&mut stream, "/big.bin?hot");
    assert!(hot == body, "hot request: body differs");
    drop(stream);
    // strace's child is the server.
    let trace = stop_traced(server, &trace_file);
    let all = calls(&trace);
    let (cold_len, hot_len) =
        (request("/big.bin?cold").len().to_string(), request("/big.bin?hot").len().to_string());
    let is_read = |c: &Call, len: &str| (c.name == "read" || c.name == "recvfrom") && c.result == len;
    let cold_at = all.iter().position(|c| is_read(c, &cold_len));
    let cold_at = cold_at.unwrap_or_else(|| panic!("no cold request read in the trace:\n{trace}"));
    let start = cold_at
        + 1
        + all[cold_at + 1..]
            .iter()
            .position(|c| is_read(c, &hot_len))
            .unwrap_or_else(|| panic!("no hot request read in the trace:\n{trace}"));
    let end = start
        + all[start..]
            .iter()
            .position(|c| (c.name == "read" || c.name == "recvfrom") && c.result == "0")
            .unwrap_or_else(|| panic!("no end-of-stream read after the hot request:\n{trace}"));
    let window = &all[start..end];
    let shown: Vec<&str> = window.iter().map(|c| c.line.as_str()).collect();
    let shown = shown.join("\n");

    for c in window {
        assert!(
            !matches!(
                c.name.as_str(),
                "openat" | "open" | "fstat" | "newfstatat" | "statx" | "stat" | "lstat"
            ),
            "no open/stat for a hot file (open-file cache), got {:?}\n{shown}",
            c.line
        );
        assert!(
            !((c.name == "read" || c.name == "recvfrom") && c.result.starts_with("-1 EAGAIN")),
            "no read that only says EAGAIN\n{shown}"
        );
    }
    let reads = window.iter().filter(|c| c.name == "read" || c.name == "recvfrom").count();
    assert_eq!(reads, 1, "one read of the hot request\n{shown}");

    // The expected shape: read, cork on, writev (head), sendfile..., cork off.
    let mut it = window.iter().skip(1).peekable();
    let cork = |c: &Call, on: bool| {
        c.name == "setsockopt"
            && c.line.contains("TCP_CORK")
            && c.line.contains(if on { "[1]" } else { "[0]" })
    };
    let next = it.next().unwrap_or_else(|| panic!("nothing after the hot read\n{shown}"));
    assert!(
        cork(next, true) && next.result == "0",
        "TCP_CORK on right after the read: {:?}\n{shown}",
        next.line
    );
    let next = it.next().unwrap_or_else(|| panic!("no writev\n{shown}"));
    assert_eq!(next.name, "writev", "then one writev with the head\n{shown}");
    assert_eq!(next.bytes(), Some(head_len as i64), "the writev carries exactly the head\n{shown}");
    let mut sent = 0i64;
    let mut sendfiles = 0;
    while let Some(c) = it.peek().filter(|c| c.name == "sendfile") {
        // A full socket buffer may make one say EAGAIN (the loop then waits
        // for room); only byte counts add up.
        if let Some(n) = c.bytes() {
            assert!(n > 0, "sendfile made progress: {:?}\n{shown}", c.line);
            sent += n;
        } else {
            assert!(c.result.starts_with("-1 EAGAIN"), "sendfile failed: {:?}\n{shown}", c.line);
        }
        sendfiles += 1;
        it.next();
    }
    assert!(sendfiles >= 1, "sendfile after the writev\n{shown}");
    assert_eq!(sent, LEN as i64, "sendfile carries the whole 100 KiB body\n{shown}");
    let next = it.next().unwrap_or_else(|| panic!("no uncork after sendfile\n{shown}"));
    assert!(cork(next, false) && next.result == "0", "TCP_CORK off after sendfile: {:?}\n{shown}", next.line);
    let rest: Vec<&str> = it.map(|c| c.line.as_str()).collect();
    assert!(rest.is_empty(), "nothing else for the hot request: {rest:?}\n{shown}");

    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_file(&trace_file);
}
