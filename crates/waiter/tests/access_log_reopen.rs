//! `--access-log PATH`: lines reach the file, and SIGHUP reopens it after a rotation.

mod common;

use std::time::{Duration, Instant};

use common::{connect, get, kill, root_with, spawn, wait_exit, TIMEOUT};

/// Waits until `path` holds `lines` lines (the log is flushed once a second).
fn wait_lines(path: &std::path::Path, lines: usize) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= lines {
            return text;
        }
        assert!(Instant::now() < deadline, "{} never held {lines} lines: {text:?}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_reopens_the_log() {
    let root = root_with("log-reopen", &[("a.txt", b"hello")]);
    let dir = root_with("log-reopen-logs", &[]);
    let log = dir.join("access.log");
    let rotated = dir.join("access.log.1");
    let mut server = spawn(&[], &root, &["--workers", "1", "--access-log", log.to_str().unwrap()]);
    assert_eq!(get(&mut connect(server.addr), "/a.txt", 5), b"hello", "first request");
    let first = wait_lines(&log, 1);
    assert!(first.contains("\"GET /a.txt HTTP/1.1\" 200 5"), "first line: {first:?}");

    std::fs::rename(&log, &rotated).unwrap();
    kill(server.child.id(), "HUP");
    // The reopen happens at the next flush, within a second; a request
    // before it would land in the rotated file, as with nginx before it reopens.
    let deadline = Instant::now() + TIMEOUT;
    while !log.exists() {
        assert!(Instant::now() < deadline, "the log was not reopened");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(&mut connect(server.addr), "/a.txt?second", 5), b"hello", "second request");
    kill(server.child.id(), "TERM");
    assert_eq!(wait_exit(&mut server.child), Some(0), "clean exit");
    let second = std::fs::read_to_string(&log).unwrap();
    assert!(
        second.contains("\"GET /a.txt?second HTTP/1.1\" 200 5"),
        "new file has the second line: {second:?}"
    );
    assert_eq!(std::fs::read_to_string(&rotated).unwrap(), first, "rotated file kept only the first");
}
