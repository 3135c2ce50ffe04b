//! The second seed's picture, checked with `strace -f` on the real binary:
//! for keep-alive requests of a hot small file the server makes one `read`
//! (`recvfrom`) with the request and one `writev` with head and body, and never `open`s
//! or `stat`s the file again (the open-file cache).

mod common;

use common::{connect, get, root_with, spawn_traced, stop_traced};

/// The length of the request `common::get` sends for `path`, as strace prints it.
fn request_len(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").len().to_string()
}

/// One traced system call: `(name, result)`.
fn calls(trace: &str) -> Vec<(String, String)> {
    trace
        .lines()
        .filter_map(|line| {
            let rest = line.split_once(' ')?.1.trim_start();
            let name = match rest.strip_prefix("<... ") {
                Some(resumed) => resumed.split_whitespace().next()?,
                None => rest.split('(').next()?,
            };
            let result = rest.rsplit_once(" = ")?.1;
            // The server reads its sockets with recvfrom: the same read, without the VFS layer.
            let name = if name == "recvfrom" { "read" } else { name };
            Some((name.to_owned(), result.to_owned()))
        })
        .collect()
}

#[test]
fn hot_small_file_is_one_read_and_one_writev() {
    let root = root_with("strace", &[("s.txt", b"0123456789")]);
    let trace_file = root.with_extension("trace");
    let server =
        spawn_traced(&root, &trace_file, "read,recvfrom,writev,sendfile,openat,fstat,newfstatat,statx", &[]);
    let mut stream = connect(server.addr);
    assert_eq!(get(&mut stream, "/s.txt?cold", 10), b"0123456789", "cold request");
    for _ in 0..3 {
        // Let the server go idle between requests, as a real client's think time
        // does; otherwise the next request is already queued when it reads again.
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert_eq!(get(&mut stream, "/s.txt?hot", 10), b"0123456789", "hot request");
    }
    drop(stream);
    // strace's child is the server.
    let trace = stop_traced(server, &trace_file);
    let all = calls(&trace);
    let (cold_len, hot_len) = (request_len("/s.txt?cold"), request_len("/s.txt?hot"));
    let first_hot = all.iter().position(|(n, r)| n == "read" && *r == cold_len).and_then(|cold| {
        all.iter().skip(cold + 1).position(|(n, r)| n == "read" && *r == hot_len).map(|i| cold + 1 + i)
    });
    let start = first_hot.unwrap_or_else(|| panic!("no hot request read in the trace:\n{trace}"));
    let end = all.iter().position(|(n, r)| n == "read" && r == "0").expect("end-of-stream read");
    let window = &all[start..end];
    let count =
        |name: &str, pred: &dyn Fn(&str) -> bool| window.iter().filter(|(n, r)| n == name && pred(r)).count();
    let data = |r: &str| r.parse::<i64>().is_ok_and(|n| n > 0);
    assert_eq!(count("read", &|r| *r == hot_len), 3, "one read per hot request\n{trace}");
    assert_eq!(count("writev", &data), 3, "one writev per hot request (head + body)\n{trace}");
    // A short read drained the socket, so the loop goes back to epoll_wait
    // instead of making a read that can only say EAGAIN.
    assert_eq!(count("read", &|r| r.starts_with("-1 EAGAIN")), 0, "no EAGAIN reads\n{trace}");
    for name in ["openat", "statx", "fstat", "newfstatat", "sendfile"] {
        assert_eq!(count(name, &|_| true), 0, "no {name} for a hot file\n{trace}");
    }
    let other: Vec<_> = window
        .iter()
        .filter(|(n, r)| !((n == "read" && *r == hot_len) || (n == "writev" && data(r))))
        .collect();
    assert!(other.is_empty(), "only one read and one writev per request: {other:?}");
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_file(&trace_file);
}

#[test]
fn small_file_limit_moves_a_file_to_sendfile() {
    // Below the default 16 KiB limit the 10-byte file goes out in the head's
    // writev (test above); with `--small-file-limit 4` it is "large" and its
    // body leaves through sendfile.
    let root = root_with("strace-limit", &[("s.txt", b"0123456789")]);
    let trace_file = root.with_extension("trace");
    let server = spawn_traced(&root, &trace_file, "writev,sendfile", &["--small-file-limit", "4"]);
    let mut stream = connect(server.addr);
    for _ in 0..2 {
        assert_eq!(get(&mut stream, "/s.txt", 10), b"0123456789");
    }
    drop(stream);
    let trace = stop_traced(server, &trace_file);
    let all = calls(&trace);
    let sendfiles = all.iter().filter(|(n, r)| n == "sendfile" && r == "10").count();
    assert_eq!(sendfiles, 2, "one 10-byte sendfile per request\n{trace}");
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_file(&trace_file);
}
