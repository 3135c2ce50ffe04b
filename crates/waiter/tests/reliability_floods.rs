//! Issue 5, floods and abuse against `waiter serve`: connect/close cycles,
//! half-open and half-closed connections, 10,000 requests pipelined in one
//! stream, clients that reset in the middle of a large response. After each:
//! the server is alive, serves, holds as many descriptors as before
//! (`/proc/PID/fd`), and its RSS did not grow with the load.
//!
//! Short by default (a few seconds each); `WAITER_RELIABILITY=long`
//! (reliability/run.sh) gives the sizes: 30 s of connect/close.

mod reliability;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reliability::{
    checksum, get_once, pattern, read_response, record, scaled, scratch, settle_fds, Cleanup, Waiter,
};

/// A root with `a.txt`, ten small files `f0`..`f9` holding their own name,
/// and an 8 MiB `big.bin` (sent with sendfile).
fn flood_root(tag: &str) -> (Cleanup, std::path::PathBuf) {
    let base = scratch(tag);
    let root = base.join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("a.txt"), b"0123456789").unwrap();
    for i in 0..10 {
        std::fs::write(root.join(format!("f{i}")), format!("f{i}")).unwrap();
    }
    std::fs::write(root.join("big.bin"), pattern(8 << 20)).unwrap();
    (Cleanup(base), root)
}

/// Descriptors and RSS after a warm-up, to compare with after the load.
fn baseline(server: &Waiter) -> (usize, u64) {
    // Warm: the open-file cache holds big.bin open, the pool threads exist.
    let big = get_once(server.addr, "/big.bin").expect("the warm-up download");
    assert_eq!(checksum(&big.body), checksum(&pattern(8 << 20)), "the warm-up download");
    (server.fds(), server.rss_kib())
}

/// After a flood: alive, serving, no descriptor or memory growth.
fn check_after(item: &str, mut server: Waiter, (fds0, rss0): (usize, u64)) {
    assert!(server.alive(), "{item}: the server survived");
    let fds1 = settle_fds(&server, fds0, Duration::from_secs(8));
    let big = get_once(server.addr, "/big.bin").expect("a download after the flood");
    assert_eq!(checksum(&big.body), checksum(&pattern(8 << 20)), "{item}: a download after the flood");
    let rss1 = server.rss_kib();
    record(item, "fds_before", fds0);
    record(item, "fds_after", fds1);
    record(item, "rss_kib_before", rss0);
    record(item, "rss_kib_after", rss1);
    assert!(fds1 <= fds0, "{item}: {fds0} descriptors before, {fds1} after: a leak");
    assert!(rss1 < rss0 + 16 * 1024, "{item}: RSS grew from {rss0} KiB to {rss1} KiB");
    server.stop();
}

#[test]
fn connect_close_cycles() {
    let (_cleanup, root) = flood_root("connect-close");
    let server = Waiter::start(&[], &root, &["--workers", "1"]);
    let base = baseline(&server);
    let seconds = scaled(3, 30);
    let cycles = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(seconds);
    let threads = scaled(4, 8);
    record("connect_close", "client_threads", threads);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while Instant::now() < deadline {
                    match TcpStream::connect(server.addr) {
                        Ok(stream) => drop(stream),
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    cycles.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let cycles = cycles.into_inner();
    let rate = cycles as f64 / t0.elapsed().as_secs_f64();
    record("connect_close", "seconds", seconds);
    record("connect_close", "cycles", cycles);
    record("connect_close", "cycles_per_second", format!("{rate:.0}"));
    record("connect_close", "connect_failures", failed.load(Ordering::Relaxed));
    // A refused connect here and there (a full accept queue) is the kernel's
    // answer to a flood; the server must not be what fails.
    assert!(failed.into_inner() * 100 <= cycles, "more than 1% of connects failed");
    check_after("connect_close", server, base);
}

#[test]
fn half_open_and_half_closed_connections() {
    reliability::raise_own_nofile(8192);
    let (_cleanup, root) = flood_root("half-open");
    let server = Waiter::start(&[], &root, &["--workers", "1", "--header-timeout", "2"]);
    let base = baseline(&server);
    let n = scaled(200, 1000);
    let t0 = Instant::now();
    // Silent, and stopped half-way through a head: the header timeout ends both.
    let silent: Vec<TcpStream> = (0..n).map(|_| server.connect()).collect();
    let partial: Vec<TcpStream> = (0..n)
        .map(|_| {
            let mut s = server.connect();
            s.write_all(b"GET /a.txt HTTP/1.1\r\nHo").unwrap();
            s
        })
        .collect();
    // Half-closed: a full request then FIN (answered, then closed), or FIN alone.
    let requested: Vec<TcpStream> = (0..n)
        .map(|_| {
            let mut s = server.connect();
            s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            s
        })
        .collect();
    let fin_only: Vec<TcpStream> = (0..n)
        .map(|_| {
            let s = server.connect();
            s.shutdown(Shutdown::Write).unwrap();
            s
        })
        .collect();
    record("half_open", "connections", 4 * n);
    let peak = server.fds();
    record("half_open", "server_fds_peak", peak);
    for mut s in requested {
        let r = read_response(&mut s, false).unwrap().expect("an answer to a half-closed request");
        assert_eq!(r.status, 200, "a request followed by FIN is answered");
        assert!(matches!(s.read(&mut [0u8; 16]), Ok(0)), "then closed");
    }
    for mut s in fin_only {
        assert!(matches!(s.read(&mut [0u8; 16]), Ok(0)), "FIN alone: closed without a word");
    }
    for mut s in partial {
        let r = read_response(&mut s, false).unwrap().expect("a 408 for a stalled head");
        assert_eq!(r.status, 408, "a stalled head");
    }
    for mut s in silent {
        assert!(matches!(s.read(&mut [0u8; 16]), Ok(0)), "a silent connection is closed without a word");
    }
    record("half_open", "all_closed_after_ms", t0.elapsed().as_millis());
    check_after("half_open", server, base);
}

#[test]
fn ten_thousand_pipelined_requests_in_one_stream() {
    let (_cleanup, root) = flood_root("pipelined");
    let n = 10_000;
    let requests: Vec<u8> =
        (0..n).flat_map(|i| format!("GET /f{} HTTP/1.1\r\nHost: t\r\n\r\n", i % 10).into_bytes()).collect();

    // With room for all of them: every one answered, in order.
    let server = Waiter::start(&[], &root, &["--workers", "1", "--max-requests", "20000"]);
    let base = baseline(&server);
    let mut stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let t0 = Instant::now();
    let all = requests.clone();
    let sender = std::thread::spawn(move || writer.write_all(&all));
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, &mut stream);
    for i in 0..n {
        let r = read_response(&mut reader, false).unwrap().unwrap_or_else(|| panic!("closed at {i}"));
        assert_eq!(
            (r.status, r.body),
            (200, format!("f{}", i % 10).into_bytes()),
            "response {i} out of order"
        );
    }
    sender.join().unwrap().unwrap();
    record("pipelined", "requests", n);
    record("pipelined", "answered_in_order", n);
    record("pipelined", "ms", t0.elapsed().as_millis());
    drop(reader);
    drop(stream);
    check_after("pipelined", server, base);

    // Under the default --max-requests 1000 (nginx's keepalive_requests):
    // 1000 answered in order, the last says close, nothing more.
    let server = Waiter::start(&[], &root, &["--workers", "1"]);
    let mut stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&requests));
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, &mut stream);
    let mut answered = 0;
    let mut last_closes = false;
    while let Ok(Some(r)) = read_response(&mut reader, false) {
        assert_eq!(r.body, format!("f{}", answered % 10).into_bytes(), "response {answered} out of order");
        last_closes = r.closes();
        answered += 1;
        assert!(answered <= 1000, "more than --max-requests answers on one connection");
    }
    // The server closes with requests still unread: once its lingering
    // close gives up (64 KiB or 2 s, conn.rs) the kernel resets the
    // connection and the client loses answers it had not read yet; see
    // reliability_pending_linger.rs. Never extra or misordered ones.
    record("pipelined", "answered_under_max_requests_1000", answered);
    assert!(answered < 1000 || last_closes, "the 1000th answer says Connection: close");
    let _ = sender.join();
    server.stop();
}

#[test]
fn clients_resetting_mid_response() {
    let (_cleanup, root) = flood_root("resets");
    let server = Waiter::start(&[], &root, &["--workers", "1"]);
    let base = baseline(&server);
    let clients = scaled(200, 2000);
    let done = AtomicUsize::new(0);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..10 {
            s.spawn(|| {
                while done.fetch_add(1, Ordering::Relaxed) < clients {
                    let mut stream = server.connect();
                    stream.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
                    let mut got = vec![0u8; 64 * 1024];
                    stream.read_exact(&mut got).unwrap();
                    // Closing with unread bytes queued makes the kernel send RST.
                    drop(stream);
                }
            });
        }
    });
    record("resets", "clients_reset_mid_8MiB_response", clients);
    record("resets", "ms", t0.elapsed().as_millis());
    let stderr = server.stderr();
    assert!(!stderr.contains("panicked"), "{stderr}");
    check_after("resets", server, base);
}
