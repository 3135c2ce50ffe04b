//! The access log: nginx `common` and `combined` lines, buffered, written out when the server stops.

mod serve_common;

use std::io::Write;
use std::net::TcpStream;

use serve_common::{read_response, start, temp_dir};
use waiter_http::access_log::{AccessLogConfig, LogFormat, LogTarget};

/// One parsed log line: `addr - - [time] "request" status bytes ["referer" "agent"]`.
#[derive(Debug)]
struct Line {
    addr: String,
    time: String,
    request: String,
    status: u16,
    bytes: u64,
    quoted: Vec<String>,
}

/// Splits a line by hand: fixed fields, then quoted ones (no `"` inside, as the log escapes them).
fn parse(line: &str) -> Line {
    let (addr, rest) = line.split_once(" - - [").unwrap_or_else(|| panic!("addr: {line:?}"));
    let (time, rest) = rest.split_once("] \"").unwrap_or_else(|| panic!("time: {line:?}"));
    let (request, rest) = rest.split_once("\" ").unwrap_or_else(|| panic!("request: {line:?}"));
    let mut fields = rest.splitn(3, ' ');
    let status = fields.next().unwrap().parse().unwrap_or_else(|_| panic!("status: {line:?}"));
    let bytes = fields.next().unwrap().parse().unwrap_or_else(|_| panic!("bytes: {line:?}"));
    let quoted: Vec<String> = match fields.next() {
        None => vec![],
        Some(tail) => {
            assert!(tail.starts_with('"') && tail.ends_with('"'), "quoted fields: {line:?}");
            tail[1..tail.len() - 1].split("\" \"").map(str::to_string).collect()
        }
    };
    Line {
        addr: addr.to_string(),
        time: time.to_string(),
        request: request.to_string(),
        status,
        bytes,
        quoted,
    }
}

/// `23/Nov/2026:11:44:10 +0000`.
fn check_time(time: &str) {
    let b = time.as_bytes();
    assert_eq!(b.len(), 26, "time length: {time:?}");
    assert!(b[..2].iter().all(u8::is_ascii_digit) && b[2] == b'/' && b[6] == b'/', "day/month: {time:?}");
    assert!(b[3].is_ascii_uppercase() && b[4].is_ascii_lowercase(), "month name: {time:?}");
    assert!(b[7..11].iter().all(u8::is_ascii_digit) && b[11] == b':', "year: {time:?}");
    assert!(time.ends_with(" +0000") && b[14] == b':' && b[17] == b':', "clock and offset: {time:?}");
}

/// Two requests on one connection (a 200 with a body, a 404), then stop; returns the log.
fn two_requests(format: LogFormat) -> String {
    let log = temp_dir().join("access.log");
    let path = log.clone();
    let server = start(&[("a.txt", b"hello")], move |c| {
        c.access_log = AccessLogConfig::new(LogTarget::File(path), format);
    });
    let mut stream: TcpStream = server.connect();
    stream
        .write_all(b"GET /a.txt?q=\"1\" HTTP/1.1\r\nHost: t\r\nReferer: http://ref/\r\nUser-Agent: test \"agent\"\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut stream, false).unwrap().status, 200, "first response");
    stream.write_all(b"HEAD /missing HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut stream, true).unwrap().status, 404, "second response");
    assert_eq!(std::fs::read_to_string(&log).unwrap_or_default(), "", "buffered: nothing written yet");
    drop(stream);
    server.stop();
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn common_format() {
    let text = two_requests(LogFormat::Common);
    let lines: Vec<Line> = text.lines().map(parse).collect();
    assert_eq!(lines.len(), 2, "two lines, flushed at stop: {text:?}");
    for line in &lines {
        assert_eq!(line.addr, "127.0.0.1", "remote address");
        check_time(&line.time);
        assert!(line.quoted.is_empty(), "common has no referer or agent: {line:?}");
    }
    assert_eq!(lines[0].request, "GET /a.txt?q=\\x221\\x22 HTTP/1.1", "request line, quotes escaped");
    assert_eq!((lines[0].status, lines[0].bytes), (200, 5), "status and body bytes");
    assert_eq!(lines[1].request, "HEAD /missing HTTP/1.1", "second request line");
    assert_eq!((lines[1].status, lines[1].bytes), (404, 0), "HEAD sends no body bytes");
}

#[test]
fn combined_format() {
    let text = two_requests(LogFormat::Combined);
    let lines: Vec<Line> = text.lines().map(parse).collect();
    assert_eq!(lines.len(), 2, "two lines: {text:?}");
    assert_eq!(lines[0].quoted, ["http://ref/", "test \\x22agent\\x22"], "referer and escaped agent");
    assert_eq!(lines[1].quoted, ["-", "-"], "missing referer and agent are '-'");
    assert_eq!((lines[0].status, lines[1].status), (200, 404), "statuses");
}

/// Requests that never parse are logged too, as nginx logs them: a 400 with
/// what arrived of its request line, a 408 for a head that never finished.
#[test]
fn unparsed_requests_are_logged() {
    let log = temp_dir().join("access.log");
    let path = log.clone();
    let server = start(&[("a.txt", b"hello")], move |c| {
        c.access_log = AccessLogConfig::new(LogTarget::File(path), LogFormat::Common);
        c.header_timeout = std::time::Duration::from_millis(200);
    });
    let mut bad = server.connect();
    bad.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nbad header\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut bad, false).unwrap().status, 400, "malformed head");
    let mut slow = server.connect();
    slow.write_all(b"GET /a.txt HT").unwrap();
    assert_eq!(read_response(&mut slow, false).unwrap().status, 408, "unfinished head");
    drop((bad, slow));
    server.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Line> = text.lines().map(parse).collect();
    assert_eq!(lines.len(), 2, "both logged: {text:?}");
    let bad = lines.iter().find(|l| l.status == 400).unwrap_or_else(|| panic!("no 400 line: {text:?}"));
    assert_eq!(bad.request, "GET /a.txt HTTP/1.1", "the request line that arrived");
    assert_eq!(bad.bytes, "400 Bad Request\n".len() as u64, "body bytes");
    let slow = lines.iter().find(|l| l.status == 408).unwrap_or_else(|| panic!("no 408 line: {text:?}"));
    assert_eq!(slow.request, "GET /a.txt HT", "what arrived of the line");
}

/// A response cut short logs the body bytes that left, as nginx's
/// `$body_bytes_sent`, not the length the head promised: here a client that
/// goes away after the first bytes, and one that stops reading until the
/// send timeout. Both logged 8388608 before.
#[test]
fn a_response_cut_short_logs_the_bytes_sent() {
    const LEN: usize = 8 << 20;
    let log = temp_dir().join("access.log");
    let path = log.clone();
    let big = vec![b'x'; LEN];
    let server = start(&[("big.bin", &big)], move |c| {
        c.access_log = AccessLogConfig::new(LogTarget::File(path), LogFormat::Common);
        c.send_timeout = std::time::Duration::from_secs(1);
    });
    let mut received = 0;
    let mut stalled = Vec::new();
    for which in ["gone", "stalled"] {
        let mut stream = server.connect();
        stream.write_all(format!("GET /big.bin?{which} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).unwrap();
        // The head and the first body bytes.
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let end = loop {
            let n = std::io::Read::read(&mut stream, &mut buf).unwrap();
            assert!(n > 0, "closed before the head");
            got.extend_from_slice(&buf[..n]);
            match got.windows(4).position(|w| w == b"\r\n\r\n") {
                Some(end) if got.len() > end + 4 => break end + 4,
                _ => {}
            }
        };
        assert!(got.starts_with(b"HTTP/1.1 200 "), "{:?}", String::from_utf8_lossy(&got[..end]));
        if which == "gone" {
            received = got.len() - end;
            // Closed with unread bytes: the server's next write fails.
            drop(stream);
        } else {
            // Kept open and never read again: the server gives up after 1 s.
            stalled.push(stream);
        }
    }
    // Waits for the stalled response to time out.
    server.stop();
    drop(stalled);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Line> = text.lines().map(parse).collect();
    assert_eq!(lines.len(), 2, "both logged: {text:?}");
    for line in &lines {
        assert_eq!(line.status, 200, "{line:?}");
        assert!(line.bytes < LEN as u64, "the bytes sent, not the promised {LEN}: {line:?}");
    }
    let gone = lines.iter().find(|l| l.request.contains("?gone")).expect("the gone line");
    assert!(gone.bytes >= received as u64, "at least what the client read ({received}): {gone:?}");
}
