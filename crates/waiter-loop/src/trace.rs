//! `WAITER_TRACE=1`: one line per tick on stderr, like the second seed's strace listing.
//!
//! Each line names the phases that ran work and the poll timeout the loop
//! chose, so a reader can watch a program wait 994 ms, 992 ms, 998 ms for
//! its timers the way the seed watches node in strace.

use std::fmt::Write as _;
use std::time::Duration;

use crate::event_loop::Loop;

/// Counts gathered over one tick.
#[derive(Default)]
pub(crate) struct TickTrace {
    pub(crate) timers: usize,
    pub(crate) pending: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) events: usize,
    pub(crate) check: usize,
    pub(crate) closing: usize,
}

impl TickTrace {
    /// Prints the line when tracing is on.
    pub(crate) fn finish(&self, lp: &Loop) {
        if !lp.inner.trace {
            return;
        }
        eprintln!("{}", self.line(lp.inner.metrics.iterations.get(), lp.backend().name()));
    }

    fn line(&self, tick: u64, backend: &str) -> String {
        let mut s = format!("[waiter] tick {tick}:");
        for (name, n) in [("timers", self.timers), ("pending", self.pending)] {
            if n > 0 {
                let _ = write!(s, " {name}={n}");
            }
        }
        let timeout = match self.timeout {
            None => "infinite".to_string(),
            Some(d) => format!("{:.3}ms", d.as_secs_f64() * 1e3),
        };
        let _ = write!(s, " {backend}_wait(timeout={timeout}) = {}", self.events);
        for (name, n) in [("check", self.check), ("closing", self.closing)] {
            if n > 0 {
                let _ = write!(s, " {name}={n}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_names_only_busy_phases() {
        let t =
            TickTrace { timers: 1, timeout: Some(Duration::from_micros(994_250)), ..TickTrace::default() };
        assert_eq!(t.line(3, "epoll"), "[waiter] tick 3: timers=1 epoll_wait(timeout=994.250ms) = 0");
        let t = TickTrace { events: 2, check: 1, ..TickTrace::default() };
        assert_eq!(t.line(4, "poll"), "[waiter] tick 4: poll_wait(timeout=infinite) = 2 check=1");
    }
}
