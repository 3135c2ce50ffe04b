//! What the people who run a loop want to see: iterations, events per tick,
//! idle time in poll (libuv's `uv_metrics_idle_time`), an event-loop delay
//! histogram (Node's `monitorEventLoopDelay`), and a watchdog that names any
//! callback that holds the loop too long — the seed's "when this model
//! breaks down", made visible.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::event_loop::{Loop, Phase};
use crate::timer::{Timer, MIN_CALLBACK_DELAY};

/// Counters the loop keeps as it runs.
#[derive(Default)]
pub(crate) struct Metrics {
    pub(crate) iterations: Cell<u64>,
    events: Cell<u64>,
    last_events: Cell<usize>,
    idle: Cell<Duration>,
    delay: RefCell<Option<Rc<RefCell<Histogram>>>>,
}

impl Metrics {
    pub(crate) fn record_poll(&self, waited: Duration, events: usize) {
        self.idle.set(self.idle.get() + waited);
        self.events.set(self.events.get() + events as u64);
        self.last_events.set(events);
    }
}

/// A copy of a loop's counters at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsSnapshot {
    /// Ticks completed.
    pub iterations: u64,
    /// Readiness events dispatched, in total.
    pub events: u64,
    /// Readiness events dispatched by the last poll.
    pub events_last_tick: usize,
    /// Time spent blocked in the backend's wait (libuv's idle time).
    pub idle_time: Duration,
    /// Active, referenced handles.
    pub active_handles: usize,
    /// Event-loop delay, when [`Loop::monitor_event_loop_delay`] is on.
    pub loop_delay: Option<DelaySummary>,
}

/// Percentiles of the event-loop delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DelaySummary {
    /// Samples taken.
    pub samples: u64,
    /// Smallest delay.
    pub min: Duration,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest delay.
    pub max: Duration,
}

/// A log-linear histogram of durations: 32 sub-buckets per power of two of
/// nanoseconds, so any reported percentile is within ~3% of the true value,
/// in 16 KiB whatever the range.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
}

const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram { counts: vec![0; (64 * SUB) as usize], total: 0, min: u64::MAX, max: 0 }
    }

    fn bucket(ns: u64) -> usize {
        if ns < SUB {
            return ns as usize;
        }
        let exp = 63 - ns.leading_zeros();
        let sub = (ns >> (exp - SUB_BITS)) & (SUB - 1);
        ((exp - SUB_BITS + 1) as u64 * SUB + sub) as usize
    }

    fn bucket_floor(b: usize) -> u64 {
        let b = b as u64;
        if b < SUB {
            return b;
        }
        let exp = b / SUB + SUB_BITS as u64 - 1;
        let sub = b % SUB;
        (1 << exp) | (sub << (exp - SUB_BITS as u64))
    }

    /// Records one sample.
    pub fn record(&mut self, d: Duration) {
        let ns = d.as_nanos().min(u64::MAX as u128) as u64;
        self.counts[Self::bucket(ns)] += 1;
        self.total += 1;
        self.min = self.min.min(ns);
        self.max = self.max.max(ns);
    }

    /// Samples recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether no sample was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The value at quantile `q` (0.0..=1.0), clamped to the observed range.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_nanos(Self::bucket_floor(b).clamp(self.min, self.max));
            }
        }
        Duration::from_nanos(self.max)
    }

    /// Summarises the histogram.
    pub fn summary(&self) -> DelaySummary {
        DelaySummary {
            samples: self.total,
            min: if self.total == 0 { Duration::ZERO } else { Duration::from_nanos(self.min) },
            p50: self.quantile(0.5),
            p99: self.quantile(0.99),
            max: Duration::from_nanos(self.max),
        }
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram").field("summary", &self.summary()).finish()
    }
}

/// A callback that held the loop longer than the watchdog's threshold.
#[derive(Debug)]
pub struct SlowCallback<'a> {
    /// What ran: the callback's type name (which names the function it was written in).
    pub label: &'a str,
    /// The phase it ran in.
    pub phase: Phase,
    /// How long it held the loop.
    pub held: Duration,
}

/// Shared, so a report runs outside the loop's borrow of its watchdog and
/// may replace or remove the watchdog itself.
pub(crate) type Reporter = Rc<dyn Fn(&SlowCallback<'_>)>;

pub(crate) struct Watchdog {
    threshold: Duration,
    report: Reporter,
}

impl Watchdog {
    /// The report to make for a callback that held the loop for `held`, if any.
    pub(crate) fn report_for(&self, held: Duration) -> Option<Reporter> {
        (held > self.threshold).then(|| self.report.clone())
    }
}

impl Loop {
    /// The loop's counters now.
    pub fn metrics(&self) -> MetricsSnapshot {
        let m = &self.inner.metrics;
        MetricsSnapshot {
            iterations: m.iterations.get(),
            events: m.events.get(),
            events_last_tick: m.last_events.get(),
            idle_time: m.idle.get(),
            active_handles: self.active_handles(),
            loop_delay: m.delay.borrow().as_ref().map(|h| h.borrow().summary()),
        }
    }

    /// Samples the event-loop delay every `resolution` (Node's
    /// `monitorEventLoopDelay`): how late an unref'd interval timer fires.
    /// Results appear in [`metrics`](Loop::metrics); clear the returned timer to stop.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero or overflowing resolution. One under 1 ms
    /// samples every 1 ms, the shortest [`set_interval`](Loop::set_interval).
    pub fn monitor_event_loop_delay(&self, resolution: Duration) -> std::io::Result<Timer> {
        if resolution.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "monitor_event_loop_delay: the resolution must be > 0",
            ));
        }
        let resolution = resolution.max(MIN_CALLBACK_DELAY);
        let hist = Rc::new(RefCell::new(Histogram::new()));
        *self.inner.metrics.delay.borrow_mut() = Some(hist.clone());
        let mut expected = Instant::now() + resolution;
        let timer = self.set_interval(resolution, move |_| {
            let now = Instant::now();
            hist.borrow_mut().record(now.saturating_duration_since(expected));
            expected = now + resolution;
        })?;
        timer.unref();
        Ok(timer)
    }

    /// Reports every callback that holds the loop longer than `threshold`
    /// to `report`; `None` turns the watchdog off. When on, each callback
    /// costs two clock reads.
    pub fn set_watchdog<F: Fn(&SlowCallback<'_>) + 'static>(&self, threshold: Option<Duration>, report: F) {
        let watchdog = threshold.map(|threshold| Watchdog { threshold, report: Rc::new(report) });
        let old = std::mem::replace(&mut *self.inner.watchdog.borrow_mut(), watchdog);
        // Dropped outside the borrow: what the old report captured may touch the loop.
        drop(old);
    }

    /// A watchdog that prints each slow callback to stderr.
    pub fn set_watchdog_stderr(&self, threshold: Duration) {
        self.set_watchdog(Some(threshold), |slow| {
            eprintln!(
                "waiter: watchdog: {} held the loop for {:.1} ms in the {:?} phase",
                slow.label,
                slow.held.as_secs_f64() * 1e3,
                slow.phase
            );
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_three_percent() {
        let mut h = Histogram::new();
        for us in 1..=10_000u64 {
            h.record(Duration::from_micros(us));
        }
        for (q, want) in [(0.5, 5_000.0), (0.99, 9_900.0), (1.0, 10_000.0)] {
            let got = h.quantile(q).as_secs_f64() * 1e6;
            assert!((got - want).abs() / want < 0.035, "q{q}: got {got} µs, want ≈{want}");
        }
        assert_eq!(h.summary().min, Duration::from_micros(1));
        assert_eq!(h.summary().max, Duration::from_micros(10_000));
    }

    #[test]
    fn bucket_floor_inverts_bucket() {
        for ns in [0u64, 1, 31, 32, 33, 1000, 123_456, 1 << 40, u64::MAX] {
            let b = Histogram::bucket(ns);
            assert!(Histogram::bucket_floor(b) <= ns, "{ns}");
            assert_eq!(Histogram::bucket(Histogram::bucket_floor(b)), b, "{ns}");
        }
    }
}
