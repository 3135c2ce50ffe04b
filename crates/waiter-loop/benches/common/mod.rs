//! The timing harness the loop benchmarks share: command-line options, round-robin runs of
//! the cases and the `RESULT <scenario> <impl> <ns per op>` lines bench/loop_report.py reads.
//!
//! Each bench includes this with `mod common;`, so it is compiled once per bench, and an item
//! that some bench does not use carries `#[allow(dead_code)]`.

use std::time::Duration;

/// Unreported rounds first: page faults, allocator growth and lazy statics settle there.
// tick_cost runs its own warm-up ticks instead, so it does not use this.
#[allow(dead_code)]
pub const WARMUP_ROUNDS: usize = 1;

/// Command-line options: `--runs N` (default 5) timed runs per case after the warm-up, and
/// `--only TEXT` to run just the cases whose `"scenario impl"` contains TEXT (for `strace -c`
/// or callgrind). Cargo's own `--bench` flag is ignored.
struct Options {
    runs: usize,
    only: Option<String>,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1).cloned());
    Options { runs: value("--runs").and_then(|v| v.parse().ok()).unwrap_or(5), only: value("--only") }
}

/// A scenario, an implementation, and one timed run of it returning nanoseconds per operation.
pub type Case = (String, &'static str, Box<dyn Fn() -> f64>);

/// Runs the selected cases round-robin (so drift on a shared machine spreads over all of
/// them): `warmup_rounds` unreported rounds, then `runs` rounds, each printing
/// `RESULT <scenario> <impl> <ns per op>` for bench/loop_report.py.
pub fn run_cases(cases: Vec<Case>, warmup_rounds: usize) {
    let opts = options();
    let selected: Vec<Case> = cases
        .into_iter()
        .filter(|(s, i, _)| opts.only.as_deref().map_or(true, |o| format!("{s} {i}").contains(o)))
        .collect();
    for round in 0..warmup_rounds + opts.runs {
        for (scenario, imp, run) in &selected {
            let ns = run();
            if round >= warmup_rounds {
                println!("RESULT {scenario} {imp} {ns:.3}");
            }
        }
    }
}

pub fn per_op(elapsed: Duration, ops: usize) -> f64 {
    elapsed.as_nanos() as f64 / ops as f64
}

/// A `current_thread` tokio runtime with I/O and time enabled (`enable_all`, like `#[tokio::main]`).
// tick_cost measures waiter alone, so it does not use this.
#[allow(dead_code)]
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}
