//! What `waiter load` counted and how it prints it: wrk's layout for people,
//! one JSON object (`--json`) for scripts such as `bench/run`.
//!
//! Latencies go into HdrHistograms in microseconds (3 significant digits, up
//! to an hour). In `--rate` mode there are two: from each request's
//! *intended* send time (corrected for coordinated omission, as wrk2 does;
//! this is the figure reported as `latency_us`) and from its actual send
//! time (`latency_uncorrected_us`), which hides a server's stalls because no
//! request is sent while the connection waits. Without `--rate` both are the
//! same.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

/// The highest latency recorded precisely (one hour, in microseconds); longer ones saturate.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Errors by kind, as wrk's "Socket errors" plus non-2xx/3xx statuses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Errors {
    /// Connections that could not be opened (refused, timed out, no ports left, ...).
    pub connect: u64,
    /// Reads that failed, hit end-of-stream before a whole response, or
    /// brought bytes that are not a well-framed response.
    pub read: u64,
    /// Writes of the request that failed.
    pub write: u64,
    /// Responses whose status was not 2xx or 3xx (they count as requests too).
    pub status: u64,
    /// Requests with no complete response within `--timeout` (the connection is then replaced).
    pub timeout: u64,
}

/// Everything counted during a run.
#[derive(Debug)]
pub struct Stats {
    /// Complete responses.
    pub requests: u64,
    /// Bytes read from the server: heads and bodies, as wrk counts them.
    pub bytes: u64,
    /// Body bytes after de-chunking.
    pub body_bytes: u64,
    /// Connections opened during the run to replace closed or failed ones.
    pub reconnects: u64,
    /// Of the `--idle` connections, those the server closed before the end.
    pub idle_closed: u64,
    /// Errors by kind.
    pub errors: Errors,
    /// Latency from the intended send time, in microseconds.
    pub latency: Histogram<u64>,
    /// Latency from the actual send time, in microseconds.
    pub uncorrected: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant histogram bounds are valid")
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            requests: 0,
            bytes: 0,
            body_bytes: 0,
            reconnects: 0,
            idle_closed: 0,
            errors: Errors::default(),
            latency: histogram(),
            uncorrected: histogram(),
        }
    }
}

impl Stats {
    /// Counts one complete response with `status`, its latencies from the
    /// intended and the actual send time, and its body bytes.
    pub fn record(&mut self, status: u16, corrected: Duration, uncorrected: Duration, body_len: u64) {
        self.requests += 1;
        self.body_bytes += body_len;
        if !(200..400).contains(&status) {
            self.errors.status += 1;
        }
        self.latency.saturating_record(micros(corrected));
        self.uncorrected.saturating_record(micros(uncorrected));
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A finished run: the settings it ran with and what it counted.
#[derive(Debug)]
pub struct Report {
    /// The URL, as given.
    pub url: String,
    /// Busy connections.
    pub connections: usize,
    /// Idle connections held open.
    pub idle: usize,
    /// The total request rate asked for (`--rate`), if any.
    pub rate: Option<u64>,
    /// The event loop's backend (epoll, poll).
    pub backend: &'static str,
    /// Time to open every connection before the clock started.
    pub connect_time: Duration,
    /// The duration asked for.
    pub duration: Duration,
    /// From the start of the clock until the last in-flight response ended
    /// (at least `duration`: at a fixed rate the last request is owed just
    /// before the end, and may be answered before it).
    pub elapsed: Duration,
    /// The counts.
    pub stats: Stats,
}

impl Report {
    /// Completed requests per second.
    pub fn rps(&self) -> f64 {
        per_second(self.stats.requests, self.elapsed)
    }

    /// Bytes read per second.
    pub fn bytes_per_s(&self) -> f64 {
        per_second(self.stats.bytes, self.elapsed)
    }

    /// wrk's `--latency` layout.
    pub fn human(&self) -> String {
        let s = &self.stats;
        let mut out = String::new();
        let _ = writeln!(out, "Running {}s test @ {}", self.duration.as_secs_f64(), self.url);
        let _ = writeln!(
            out,
            "  1 thread ({} loop) and {} connections{}, connected in {}",
            self.backend,
            self.connections,
            if self.idle > 0 { format!(" (+{} idle)", self.idle) } else { String::new() },
            human_duration(self.connect_time.as_secs_f64() * 1e6),
        );
        if let Some(rate) = self.rate {
            let _ = writeln!(
                out,
                "  fixed rate {rate} requests/s; latency from each request's intended send time \
                 (corrected for coordinated omission)"
            );
        }
        let _ = writeln!(out, "  Thread Stats   Avg      Stdev     Max");
        let _ = writeln!(
            out,
            "    Latency   {:>8} {:>8} {:>8}",
            human_duration(s.latency.mean()),
            human_duration(s.latency.stdev()),
            human_duration(s.latency.max() as f64),
        );
        let _ = writeln!(out, "  Latency Distribution");
        for (label, q) in QUANTILES {
            let _ =
                writeln!(out, "  {label:>6}  {:>8}", human_duration(s.latency.value_at_quantile(q) as f64));
        }
        if self.rate.is_some() {
            let _ = write!(out, "  Uncorrected latency (from the actual send):");
            for (label, q) in QUANTILES {
                let _ = write!(out, " {label} {}", human_duration(s.uncorrected.value_at_quantile(q) as f64));
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(
            out,
            "  {} requests in {:.2}s, {} read ({} of bodies)",
            s.requests,
            self.elapsed.as_secs_f64(),
            human_bytes(s.bytes as f64),
            human_bytes(s.body_bytes as f64),
        );
        let e = s.errors;
        if e.connect + e.read + e.write + e.timeout > 0 {
            let _ = writeln!(
                out,
                "  Socket errors: connect {}, read {}, write {}, timeout {}",
                e.connect, e.read, e.write, e.timeout
            );
        }
        if e.status > 0 {
            let _ = writeln!(out, "  Non-2xx or 3xx responses: {}", e.status);
        }
        if s.reconnects > 0 {
            let _ = writeln!(out, "  Reconnects: {}", s.reconnects);
        }
        if self.idle > 0 {
            let _ =
                writeln!(out, "  Idle connections closed by the server: {} of {}", s.idle_closed, self.idle);
        }
        let _ = writeln!(out, "Requests/sec: {:>10.2}", self.rps());
        let _ = writeln!(out, "Transfer/sec: {:>10}", human_bytes(self.bytes_per_s()));
        out
    }

    /// One JSON object; the keys are a stable interface (see `--help`).
    pub fn json(&self) -> String {
        let s = &self.stats;
        let e = s.errors;
        let rate = self.rate.map_or("null".to_string(), |r| r.to_string());
        format!(
            concat!(
                "{{\"url\":{},\"connections\":{},\"idle\":{},\"rate\":{},\"backend\":\"{}\",",
                "\"connect_s\":{:.6},\"duration_s\":{:.6},\"requests\":{},\"rps\":{:.2},",
                "\"bytes\":{},\"body_bytes\":{},\"bytes_per_s\":{:.2},\"reconnects\":{},\"idle_closed\":{},",
                "\"errors\":{{\"connect\":{},\"read\":{},\"write\":{},\"status\":{},\"timeout\":{}}},",
                "\"latency_us\":{},\"latency_uncorrected_us\":{}}}"
            ),
            json_string(&self.url),
            self.connections,
            self.idle,
            rate,
            self.backend,
            self.connect_time.as_secs_f64(),
            self.elapsed.as_secs_f64(),
            s.requests,
            self.rps(),
            s.bytes,
            s.body_bytes,
            self.bytes_per_s(),
            s.reconnects,
            s.idle_closed,
            e.connect,
            e.read,
            e.write,
            e.status,
            e.timeout,
            json_latency(&s.latency),
            json_latency(&s.uncorrected),
        )
    }
}

/// The quantiles reported, with wrk's labels.
const QUANTILES: [(&str, f64); 4] = [("50%", 0.5), ("90%", 0.9), ("99%", 0.99), ("99.9%", 0.999)];

fn json_latency(h: &Histogram<u64>) -> String {
    let q = |q: f64| h.value_at_quantile(q);
    format!(
        "{{\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"max\":{},\"mean\":{:.1},\"stdev\":{:.1}}}",
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        h.max(),
        h.mean(),
        h.stdev()
    )
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn per_second(n: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// Microseconds as wrk prints them: `812.00us`, `1.25ms`, `2.00s`.
fn human_duration(us: f64) -> String {
    if us < 1_000.0 {
        format!("{us:.2}us")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1e3)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

/// Bytes in binary units as wrk prints them: `512.00B`, `1.50KB`, `12.30MB`.
fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_escaping() {
        assert_eq!(human_duration(812.0), "812.00us");
        assert_eq!(human_duration(1_250.0), "1.25ms");
        assert_eq!(human_duration(2_000_000.0), "2.00s");
        assert_eq!(human_bytes(512.0), "512.00B");
        assert_eq!(human_bytes(1536.0), "1.50KB");
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }

    #[test]
    fn statuses_outside_2xx_3xx_are_errors() {
        let mut s = Stats::default();
        for status in [200, 204, 304, 399, 404, 500, 199] {
            s.record(status, Duration::from_micros(10), Duration::from_micros(5), 1);
        }
        assert_eq!((s.requests, s.errors.status, s.body_bytes), (7, 3, 7));
        assert_eq!((s.latency.max(), s.uncorrected.max()), (10, 5));
    }
}
