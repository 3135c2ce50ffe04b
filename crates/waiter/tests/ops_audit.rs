//! The operations audit of the `waiter` binary (issue 3): flags an operator
//! gets wrong and a port someone else holds. Each test here failed before its fix.
//!
//! - a timeout too large for the clock is refused, not a panic at the first connection;
//! - `--keepalive-timeout 0` turns keep-alive off, as nginx's `keepalive_timeout 0`;
//! - a port another `waiter serve` already listens on is refused, as nginx's bind is;
//! - SIGUSR1 reopens the access log and SIGQUIT stops gracefully, as in nginx
//!   (their default actions killed the process: logrotate scripts written for
//!   nginx send USR1);
//! - a second stop signal during a graceful stop exits at once.

mod common;

#[test]
fn timeouts_too_large_for_the_clock_are_refused() {
    use common::{root_with, wait_exit};
    use std::io::Read;
    use std::process::{Command, Stdio};

    let root = root_with("ops-timeouts", &[("a.txt", b"a")]);
    for flag in ["--header-timeout", "--keepalive-timeout", "--send-timeout", "--shutdown-timeout"] {
        // Before: accepted, and the first connection (or the shutdown) panicked:
        // "overflow when adding duration to instant".
        let mut child = Command::new(env!("CARGO_BIN_EXE_waiter"))
            .arg("serve")
            .arg(&root)
            .args(["--listen", "127.0.0.1:0", flag, "18446744073709551615"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        assert_eq!(wait_exit(&mut child), Some(2), "{flag}: refused as a bad flag");
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert!(err.contains("invalid value") && err.contains(flag), "{flag}: says which flag: {err}");
        assert!(!err.contains("panicked"), "{flag}: no panic: {err}");
    }
    for (flag, zero_ok) in [
        ("--header-timeout", false),
        ("--send-timeout", false),
        ("--keepalive-timeout", true),
        ("--shutdown-timeout", true),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_waiter"))
            .args(["serve", "/no/such/dir", flag, "0"])
            .output()
            .unwrap();
        // A zero header or send timeout would time every request out: refused.
        // Zero keep-alive turns it off; zero shutdown time exits at once.
        let want = if zero_ok { 1 } else { 2 }; // 1: the missing root, after the flags passed
        assert_eq!(out.status.code(), Some(want), "{flag} 0: {}", String::from_utf8_lossy(&out.stderr));
    }
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn keepalive_timeout_zero_turns_keep_alive_off() {
    use common::{connect, kill, root_with, spawn, wait_exit};
    use std::io::{Read, Write};

    let root = root_with("ops-keepalive0", &[("a.txt", b"a")]);
    let mut server = spawn(&[], &root, &["--workers", "1", "--keepalive-timeout", "0"]);
    let mut stream = connect(server.addr);
    stream.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    // Before: no Connection header, then closed silently within 10 ms, so a
    // client reusing the connection failed.
    assert!(text.contains("\r\nConnection: close\r\n"), "the response says it closes: {text}");
    kill(server.child.id(), "TERM");
    assert_eq!(wait_exit(&mut server.child), Some(0), "clean exit");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_port_another_server_listens_on_is_refused() {
    use common::{kill, root_with, spawn, wait_exit};
    use std::io::Read;
    use std::process::{Command, Stdio};

    let root = root_with("ops-port", &[("a.txt", b"a")]);
    let mut first = spawn(&[], &root, &["--workers", "2"]);
    let listen = first.addr.to_string();
    let mut second = Command::new(env!("CARGO_BIN_EXE_waiter"))
        .arg("serve")
        .arg(&root)
        .args(["--listen", &listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Before: SO_REUSEPORT let the second bind next to the first, and the two
    // servers split the connections between them without a word.
    assert_eq!(wait_exit(&mut second), Some(1), "the second server exits");
    let mut err = String::new();
    second.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(err.contains(&listen) && err.contains("in use"), "says the address is in use: {err}");
    kill(first.child.id(), "TERM");
    assert_eq!(wait_exit(&mut first.child), Some(0), "the first one still runs, and stops cleanly");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn usr1_reopens_the_log_and_quit_stops_gracefully_as_in_nginx() {
    use common::{connect, get, kill, root_with, spawn, wait_exit, TIMEOUT};
    use std::time::{Duration, Instant};

    let root = root_with("ops-signals", &[("a.txt", b"hello")]);
    let dir = root_with("ops-signals-logs", &[]);
    let log = dir.join("access.log");
    let mut server = spawn(&[], &root, &["--workers", "1", "--access-log", log.to_str().unwrap()]);
    assert_eq!(get(&mut connect(server.addr), "/a.txt", 5), b"hello", "first request");
    let deadline = Instant::now() + TIMEOUT;
    while std::fs::read_to_string(&log).unwrap_or_default().is_empty() {
        assert!(Instant::now() < deadline, "the first line was never written");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::rename(&log, dir.join("access.log.1")).unwrap();
    // Before: "User defined signal 1", the process gone.
    kill(server.child.id(), "USR1");
    while !log.exists() {
        assert!(server.child.try_wait().unwrap().is_none(), "USR1 ended the server");
        assert!(Instant::now() < deadline, "the log was not reopened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut idle = connect(server.addr);
    assert_eq!(get(&mut idle, "/a.txt", 5), b"hello", "served after USR1");
    // Before: the default action (core dump), with an idle keep-alive open.
    kill(server.child.id(), "QUIT");
    assert_eq!(wait_exit(&mut server.child), Some(0), "SIGQUIT: a clean, graceful exit");
    let _ = std::fs::remove_dir_all(root);
    let _ = std::fs::remove_dir_all(dir);
}

/// A second stop signal during a graceful stop exits at once, with status 1
/// (as the shutdown timeout): before, it was ignored and the server waited
/// out `--shutdown-timeout` (60 s here) for a client that stopped reading.
/// QUIT then TERM is nginx's graceful stop turned fast.
#[test]
fn a_second_signal_during_a_graceful_stop_exits_at_once() {
    use common::{connect, kill, root_with, spawn};
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    let root = root_with("ops-second-signal", &[("big.bin", &vec![b'x'; 16 << 20])]);
    for (first, second) in [("TERM", "TERM"), ("QUIT", "INT")] {
        let mut server = spawn(&[], &root, &["--workers", "1", "--shutdown-timeout", "60"]);
        let mut stalled = connect(server.addr);
        stalled.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        // In flight: the first bytes came, and the rest are never read.
        assert!(stalled.read(&mut [0u8; 1024]).unwrap() > 0, "the download started");
        kill(server.child.id(), first);
        std::thread::sleep(Duration::from_millis(300));
        assert!(server.child.try_wait().unwrap().is_none(), "SIG{first}: still finishing the download");
        kill(server.child.id(), second);
        let sent = Instant::now();
        let status = loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                break status;
            }
            if sent.elapsed() > Duration::from_secs(3) {
                let _ = server.child.kill();
                panic!("SIG{first} then SIG{second}: still running after 3 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(status.code(), Some(1), "SIG{first} then SIG{second}: exit status");
        let mut stderr = String::new();
        server.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        assert!(stderr.contains(&format!("SIG{second} again")), "says why: {stderr:?}");
    }
    let _ = std::fs::remove_dir_all(root);
}
