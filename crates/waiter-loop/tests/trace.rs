//! `WAITER_TRACE=1` prints one line per tick on stderr, naming the busy
//! phases and the backend's wait with its timeout, like the second seed's
//! strace listing.
//!
//! The trace goes to the process's stderr, so the test re-runs its own
//! binary as a child (selecting only itself) with the variable set, and
//! reads the child's stderr.

use std::process::Command;
use std::time::Duration;

use waiter_loop::{Backend, Loop};

/// Set in the child: run the traced program instead of spawning.
const CHILD: &str = "WAITER_TRACE_TEST_CHILD";

/// The traced program: a 50 ms timer, an immediate, and a post.
fn traced_program() {
    let lp = Loop::new().unwrap();
    let handle = lp.handle();
    std::thread::spawn(move || handle.post(|_| {}).unwrap()).join().unwrap();
    lp.set_timeout(Duration::from_millis(50), |lp| {
        lp.set_immediate(|_| {});
    })
    .unwrap();
    lp.run().unwrap();
    assert!(!lp.is_alive());
}

/// Runs `test` of this binary in a child process with `WAITER_TRACE=trace`.
fn child_stderr(test: &str, trace: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("WAITER_TRACE", trace)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "the child failed: {}\n{stderr}", out.status);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "the child did not run the test: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

fn timeout_ms(line: &str, wait: &str) -> Option<f64> {
    let rest = line.split(wait).nth(1)?;
    let value = rest.strip_prefix("(timeout=")?.split(')').next()?;
    value.strip_suffix("ms")?.parse().ok()
}

#[test]
fn trace_prints_one_line_per_tick_with_the_wait_timeout() {
    if std::env::var_os(CHILD).is_some() {
        return traced_program();
    }
    let stderr = child_stderr("trace_prints_one_line_per_tick_with_the_wait_timeout", "1");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("[waiter] tick ")).collect();
    // The child inherits WAITER_BACKEND, so its backend is ours.
    let backend = Backend::from_env().unwrap();
    let wait = format!(" {}_wait", backend.name());
    assert!(lines.len() >= 2, "a post tick and a timer tick at least:\n{stderr}");
    for (i, line) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("[waiter] tick {i}:")), "ticks numbered from 0: {line}");
        assert!(line.contains(&format!("{wait}(timeout=")), "{line}");
    }
    // The first tick finds the post at once, its timeout already set by the
    // 50 ms timer (less the few microseconds since it started); a later tick
    // waits the timer out and one runs it, then the immediate it queues.
    assert!(lines[0].contains("= 1"), "one event, the post: {}", lines[0]);
    let waited: Vec<f64> = lines.iter().filter_map(|l| timeout_ms(l, &wait)).collect();
    assert!(
        waited.iter().any(|&ms| ms > 25.0 && ms <= 50.0),
        "no tick waited for the 50 ms timer: {waited:?}\n{stderr}"
    );
    let fired = lines.iter().position(|l| l.contains("timers=1")).expect("a tick ran the timer");
    assert!(lines[fired..].iter().any(|l| l.contains("check=1")), "the immediate ran:\n{stderr}");
}

#[test]
fn trace_is_silent_unless_asked_for() {
    if std::env::var_os(CHILD).is_some() {
        return traced_program();
    }
    let stderr = child_stderr("trace_is_silent_unless_asked_for", "0");
    assert!(!stderr.contains("[waiter]"), "traced without WAITER_TRACE=1:\n{stderr}");
}

#[test]
fn trace_builder_overrides_the_environment() {
    if std::env::var_os(CHILD).is_some() {
        // WAITER_TRACE=1 in the environment, but the builder says no.
        let lp = Loop::builder().trace(false).build().unwrap();
        lp.set_timeout(Duration::from_millis(1), |_| {}).unwrap();
        lp.run().unwrap();
        return;
    }
    let stderr = child_stderr("trace_builder_overrides_the_environment", "1");
    assert!(!stderr.contains("[waiter]"), "traced although the builder turned it off:\n{stderr}");
}
