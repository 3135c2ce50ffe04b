//! The status endpoint: nginx `stub_status` text and Prometheus metrics.

mod serve_common;

use std::io::Write;

use serve_common::{read_response, start};

#[test]
fn stub_status_counts_requests() {
    let server = start(&[("a.txt", b"A")], |c| c.status.path = Some("/status".into()));
    for n in 0..3 {
        assert_eq!(server.get("/a.txt", "").status, 200, "request {n}");
    }
    // Two requests on one connection: the status request itself is the 5th.
    let mut stream = server.connect();
    stream.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut stream, false).unwrap().status, 200, "keep-alive request");
    stream.write_all(b"GET /status HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let r = read_response(&mut stream, false).unwrap();
    assert_eq!(r.status, 200, "status page");
    let body = String::from_utf8(r.body).unwrap();
    let lines: Vec<&str> = body.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 4, "four lines: {body:?}");
    let active: usize = lines[0].strip_prefix("Active connections: ").unwrap().trim_end().parse().unwrap();
    assert!((1..=4).contains(&active), "active connections (this one, maybe closing ones): {body:?}");
    assert!(lines[0].ends_with(" \n"), "nginx's trailing space");
    assert_eq!(lines[1], "server accepts handled requests\n", "header line");
    assert_eq!(lines[2], " 4 4 5 \n", "accepts handled requests: {body:?}");
    let rest = lines[3].strip_prefix("Reading: 0 Writing: 1 Waiting: ").unwrap_or_else(|| panic!("{body:?}"));
    assert_eq!(rest.strip_suffix(" \n").unwrap().parse::<usize>().unwrap(), active - 1, "waiting");
}

#[test]
fn status_is_off_by_default() {
    let server = start(&[], |_| {});
    assert_eq!(server.get("/status", "").status, 404, "no status page unless configured");
}

#[test]
fn prometheus_metrics() {
    let server = start(&[("a.txt", b"A")], |c| c.status.path = Some("/status".into()));
    assert_eq!(server.get("/a.txt", "").status, 200, "a 2xx");
    assert_eq!(server.get("/nope", "").status, 404, "a 4xx");
    let r = server.get("/status/metrics?x", "");
    assert_eq!(r.status, 200, "metrics page");
    assert!(r.header("Content-Type").unwrap().starts_with("text/plain; version=0.0.4"), "Prometheus type");
    let body = String::from_utf8(r.body).unwrap();
    let value = |sample: &str| -> f64 {
        let line =
            body.lines().find(|l| l.starts_with(sample)).unwrap_or_else(|| panic!("{sample} in {body}"));
        line[sample.len()..].trim().parse().unwrap()
    };
    assert_eq!(value("waiter_connections_accepted_total{worker=\"0\"}"), 3.0, "accepts");
    assert_eq!(value("waiter_connections_handled_total{worker=\"0\"}"), 3.0, "handled");
    assert_eq!(value("waiter_http_requests_total{worker=\"0\"}"), 3.0, "requests");
    assert_eq!(value("waiter_http_responses_total{worker=\"0\",class=\"2xx\"}"), 1.0, "2xx so far");
    assert_eq!(value("waiter_http_responses_total{worker=\"0\",class=\"4xx\"}"), 1.0, "4xx");
    assert!(value("waiter_http_sent_bytes_total{worker=\"0\"}") > 100.0, "bytes sent");
    assert_eq!(value("waiter_connections_writing{worker=\"0\"}"), 1.0, "this request is writing");
    for name in [
        "waiter_connections_active",
        "waiter_connections_reading",
        "waiter_connections_waiting",
        "waiter_loop_iterations_total",
        "waiter_loop_events_total",
        "waiter_loop_idle_seconds_total",
        "waiter_loop_active_handles",
        "waiter_loop_delay_seconds",
    ] {
        assert!(body.contains(&format!("# TYPE {name} ")), "{name} declared");
        assert!(body.contains(&format!("\n{name}{{worker=\"0\"")), "{name} sampled for worker 0");
    }
    assert!(value("waiter_loop_iterations_total{worker=\"0\"}") > 0.0, "loop iterations");
}
