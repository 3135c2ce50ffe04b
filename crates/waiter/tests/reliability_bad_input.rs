//! Issue 5, bad input: every entry of `tests/reliability/bad_requests.tsv`
//! (over 300 malformed or hostile requests) against the real `waiter serve`,
//! each on its own connection with a valid request pipelined behind it in
//! the same write. Each must get the status the corpus names and then either
//! the pipelined request's answer, in order and nothing after it (no desync),
//! or a clean end-of-stream; no response may carry the secret planted
//! outside the root, and every response must say `nosniff`.

mod reliability;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use reliability::{hostile_root, read_response, rest_until_close, scratch, Waiter, CANARY, SECRET};

/// The request pipelined behind each entry; it asks to close so that
/// anything the server sends after its answer is a desync.
const PIPELINED: &[u8] = b"GET /canary.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

/// What an entry must provoke.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// This status, connection kept: the pipelined request is answered next.
    Keep(u16),
    /// This status with `Connection: close`, then end-of-stream.
    Close(u16),
    /// End-of-stream without a response.
    Silence,
}

struct Entry {
    line: usize,
    name: String,
    expect: Expect,
    request: Vec<u8>,
}

fn corpus() -> Vec<Entry> {
    let text = include_str!("reliability/bad_requests.tsv");
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = line.splitn(3, '\t');
        let (expect, name, request) = (fields.next().unwrap(), fields.next(), fields.next());
        let (Some(name), Some(request)) = (name, request) else {
            panic!("bad_requests.tsv:{}: not EXPECT<TAB>NAME<TAB>REQUEST", i + 1)
        };
        let expect = match expect {
            "close" => Expect::Silence,
            code if code.ends_with('!') => Expect::Close(code[..3].parse().unwrap()),
            code => Expect::Keep(code.parse().unwrap()),
        };
        entries.push(Entry {
            line: i + 1,
            name: name.to_owned(),
            expect,
            request: unescape(&expand(request)),
        });
    }
    entries
}

/// `{{N*TEXT}}` → TEXT repeated N times.
fn expand(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let close = rest[open..].find("}}").expect("unclosed {{") + open;
        let (count, text) = rest[open + 2..close].split_once('*').expect("{{N*TEXT}}");
        out.push_str(&text.repeat(count.parse().expect("a repeat count")));
        rest = &rest[close + 2..];
    }
    out.push_str(rest);
    out
}

/// `\r \n \t \0 \\ \xHH` → bytes.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let (byte, used) = match b.get(i + 1) {
            Some(b'r') => (b'\r', 2),
            Some(b'n') => (b'\n', 2),
            Some(b't') => (b'\t', 2),
            Some(b'0') => (0, 2),
            Some(b'\\') => (b'\\', 2),
            Some(b'x') => (u8::from_str_radix(&s[i + 2..i + 4], 16).expect("\\xHH"), 4),
            other => panic!("unknown escape \\{other:?} in {s:?}"),
        };
        out.push(byte);
        i += used;
    }
    out
}

/// Runs one entry; `Err` says how the server got it wrong.
fn check(addr: SocketAddr, entry: &Entry) -> Result<(), String> {
    let mut stream = reliability::connect(addr);
    let mut send = entry.request.clone();
    let pipelined = !matches!(entry.expect, Expect::Silence | Expect::Close(408));
    if pipelined {
        send.extend_from_slice(PIPELINED);
    }
    // From another thread: the server may answer (and stop reading) before
    // taking a large request, and the check must not block on a full socket.
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&send));
    let trimmed = entry.request.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(0);
    let is_head = entry.request[trimmed..].starts_with(b"HEAD ");
    let mut seen = Vec::new();
    let first = read_response(&mut stream, is_head)?;
    let result = (|| {
        let Some(first) = first else {
            return match entry.expect {
                Expect::Silence => Ok(()),
                _ => Err("closed without a response".to_string()),
            };
        };
        seen.extend_from_slice(first.head.as_bytes());
        seen.extend_from_slice(&first.body);
        if first.header("X-Content-Type-Options") != Some("nosniff") {
            return Err(format!("no nosniff in {:?}", first.head));
        }
        if first.header("Set-Cookie").is_some() {
            return Err(format!("a header was injected: {:?}", first.head));
        }
        let (want, keep) = match entry.expect {
            Expect::Keep(code) => (code, true),
            Expect::Close(code) => (code, false),
            Expect::Silence => return Err(format!("expected silence, got {}", first.status)),
        };
        if first.status != want {
            return Err(format!("status {} instead of {want}: {:?}", first.status, first.head));
        }
        if first.closes() == keep {
            return Err(format!(
                "Connection: close is {} but keep-alive was expected {keep}",
                first.closes()
            ));
        }
        if keep {
            let second = read_response(&mut stream, false)?
                .ok_or("the pipelined request got no answer (closed)".to_string())?;
            seen.extend_from_slice(second.head.as_bytes());
            seen.extend_from_slice(&second.body);
            if second.status != 200 || second.body != CANARY {
                return Err(format!(
                    "desync: the pipelined request got {} {:?}",
                    second.head,
                    String::from_utf8_lossy(&second.body)
                ));
            }
        }
        Ok(())
    })();
    let rest = rest_until_close(&mut stream);
    let _ = sender.join();
    result?;
    match rest {
        Ok(rest) if rest.is_empty() => {}
        Ok(rest) => {
            seen.extend_from_slice(&rest);
            return Err(format!("bytes after the last response: {:?}", String::from_utf8_lossy(&rest)));
        }
        Err(e) => return Err(format!("no clean end-of-stream: {e}")),
    }
    if seen.windows(SECRET.len()).any(|w| w == SECRET) {
        return Err("SERVED THE SECRET FROM OUTSIDE THE ROOT".into());
    }
    Ok(())
}

#[test]
fn every_bad_request_gets_its_status_and_no_desync() {
    let entries = corpus();
    assert!(entries.len() >= 200, "the corpus holds {} entries", entries.len());
    let base = scratch("bad-input");
    let _cleanup = reliability::Cleanup(base.clone());
    let root = hostile_root(&base);
    let server = Waiter::start(&[], &root, &["--workers", "1", "--header-timeout", "1"]);
    let addr = server.addr;
    // The open-file cache keeps the one large file open: count it in.
    let warm = reliability::get_once(addr, "/big.bin").expect("the server answers");
    assert_eq!(warm.body, reliability::pattern(200 * 1024), "a warm-up download");
    let fds_before = server.fds();

    let failures = Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(entry) = entries.get(i) else { return };
                if let Err(why) = check(addr, entry) {
                    failures.lock().unwrap().push(format!("line {} {}: {why}", entry.line, entry.name));
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} of {} entries failed:\n{}",
        failures.len(),
        entries.len(),
        failures.join("\n")
    );

    // Every connection is gone again (lingering closes take up to 2 s).
    let mut server = server;
    assert!(
        reliability::wait_for(Duration::from_secs(8), || server.fds() <= fds_before),
        "descriptors: {fds_before} before the corpus, {} after",
        server.fds()
    );
    assert!(server.alive(), "the server survived");
    server.stop();
}
