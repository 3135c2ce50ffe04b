//! No response tail is held back (`send.rs`: a file body is sent between
//! `TCP_CORK` on and off, and uncorking pushes the last bytes), checked on the real binary over keep-alive
//! connections as clients use them: odd-sized files, single and multiple
//! ranges, and a reader too slow for `sendfile` to finish without waiting
//! for room. A held tail would cost a delayed ACK (40 ms) or the probe
//! timer (200 ms) per response; loopback takes well under a millisecond.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{connect, root_with, spawn};

/// The best of [`TRIES`] responses must arrive within this.
const PROMPT: Duration = Duration::from_millis(30);

/// Tries per measurement: a loaded machine may delay one, not all.
const TRIES: usize = 5;

fn contents(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// Sends `GET path` (with `extra` header lines) and reads the response:
/// `(head, body, the longest wait between two reads, the whole time)`.
/// `pause` is slept between sending and the first read.
fn fetch(
    stream: &mut TcpStream,
    path: &str,
    extra: &str,
    pause: Duration,
) -> (String, Vec<u8>, Duration, Duration) {
    let start = Instant::now();
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes()).unwrap();
    std::thread::sleep(pause);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut gap = Duration::ZERO;
    let mut last = Instant::now();
    loop {
        let n = stream.read(&mut buf).unwrap();
        let now = Instant::now();
        gap = gap.max(now - last);
        last = now;
        assert!(n > 0, "connection closed after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
        let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8(got[..end].to_vec()).expect("an ASCII head");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .expect("a Content-Length")
            .parse()
            .unwrap();
        if got.len() >= end + 4 + len {
            assert_eq!(got.len(), end + 4 + len, "no bytes past the body of {path}");
            return (head, got[end + 4..].to_vec(), gap, start.elapsed());
        }
    }
}

#[test]
fn file_bodies_of_odd_sizes_arrive_at_once() {
    // Just past the 16 KiB small-file limit (the sendfile path), one byte
    // past the 64 KiB splice pipe, 100 KiB, and odd sizes.
    let sizes = [16 * 1024 + 1, 64 * 1024 + 1, 100 * 1024, 100 * 1024 + 3, 1024 * 1024 + 1];
    let bodies: Vec<(String, Vec<u8>)> = sizes.iter().map(|&n| (format!("f{n}.bin"), contents(n))).collect();
    let files: Vec<(&str, &[u8])> = bodies.iter().map(|(name, b)| (name.as_str(), b.as_slice())).collect();
    let root = root_with("send-push", &files);
    let mut server = spawn(&[], &root, &["--workers", "1"]);
    let mut stream = connect(server.addr);
    for (name, body) in &bodies {
        let mut best = Duration::MAX;
        for _ in 0..TRIES {
            let (head, got, _, took) = fetch(&mut stream, &format!("/{name}"), "", Duration::ZERO);
            assert!(head.starts_with("HTTP/1.1 200 "), "{name}: {head}");
            assert!(got == *body, "{name}: the body differs");
            best = best.min(took);
        }
        assert!(best < PROMPT, "{name}: the response took {best:?} at best (a held tail?)");
    }
    // One range and several (multipart).
    let (name, body) = &bodies[3];
    let mut best = (Duration::MAX, Duration::MAX);
    for _ in 0..TRIES {
        let (head, got, _, one) =
            fetch(&mut stream, &format!("/{name}"), "Range: bytes=1-102400\r\n", Duration::ZERO);
        assert!(head.starts_with("HTTP/1.1 206 "), "one range: {head}");
        assert!(got == body[1..=102400], "one range: the bytes differ");
        let (head, got, _, many) =
            fetch(&mut stream, &format!("/{name}"), "Range: bytes=0-9,20000-102402\r\n", Duration::ZERO);
        assert!(head.contains("multipart/byteranges"), "two ranges: {head}");
        let text = String::from_utf8_lossy(&got);
        assert!(text.contains("Content-Range: bytes 0-9/102403"), "the first part's framing");
        assert!(text.contains("Content-Range: bytes 20000-102402/102403"), "the second part's framing");
        assert!(got.windows(body.len() - 20000).any(|w| w == &body[20000..]), "the second range's bytes");
        best = (best.0.min(one), best.1.min(many));
    }
    assert!(best.0 < PROMPT && best.1 < PROMPT, "range responses took {best:?} at best (a held tail?)");
    drop(stream);
    let _ = server.child.kill();
    let _ = server.child.wait();
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_slow_reader_is_never_left_waiting_for_the_tail() {
    // Several times a loopback socket's buffer: sendfile fills it, waits for
    // room (EPOLLOUT) many times, and must still push the last bytes.
    let len = 8 * 1024 * 1024 + 5;
    let body = contents(len);
    let root = root_with("send-push-slow", &[("big.bin", &body)]);
    let mut server = spawn(&[], &root, &["--workers", "1"]);
    let mut stream = connect(server.addr);
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let (head, got, gap, _) = fetch(&mut stream, "/big.bin", "", Duration::from_millis(150));
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert!(got == body, "the body differs");
        best = best.min(gap);
    }
    // The probe timer that frees a held segment fires after 200 ms at least.
    assert!(best < Duration::from_millis(100), "a read waited {best:?} (at best) for more bytes");
    drop(stream);
    let _ = server.child.kill();
    let _ = server.child.wait();
    let _ = std::fs::remove_dir_all(&root);
}
