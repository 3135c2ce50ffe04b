//! Node twins: a program in `tests/js/` runs under `node`, its twin is built
//! on a `Loop`, and both must print the same lines. Shared by the ordering
//! suite (`node_ordering.rs`) and the audit (`audit.rs`), which had each
//! written the same runner.
//!
//! Node is the oracle, so `node` (v11 or later) must be on `PATH`; without
//! it the tests fail, they never skip. A twin runs on a thread of its own,
//! so a hung loop fails its test in time instead of hanging it. A panic out
//! of `run` is Node's uncaught exception: it is logged as `uncaught: MESSAGE`
//! and the loop runs again, as a Node program with an `'uncaughtException'`
//! handler goes on (a twin that panics where its program does not differs
//! from node at that line).

use std::cell::RefCell;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use waiter_loop::{Backend, Loop};

/// Longer than any program takes; a hung loop or a hung `node` fails at this.
pub const LIMIT: Duration = Duration::from_secs(30);

/// The lines a twin prints, in order (its `console.log`).
#[derive(Clone, Default)]
pub struct Lines(Rc<RefCell<Vec<String>>>);

impl Lines {
    /// Prints `line`.
    pub fn log(&self, line: impl Into<String>) {
        self.0.borrow_mut().push(line.into());
    }

    /// A callback that logs `line`: the twin of `() => log(line)`.
    pub fn cb(&self, line: &str) -> impl FnOnce(&Loop) + 'static {
        let (out, line) = (self.clone(), line.to_string());
        move |_| out.log(line)
    }

    /// What was printed so far, emptying the list.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

/// `tests/js/PROGRAM.js`; `program` may name a subfolder (`audit/NAME`).
pub fn script(program: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js").join(format!("{program}.js"))
}

/// Runs `node tests/js/PROGRAM.js` and returns its stdout's lines.
pub fn node_lines(program: &str) -> Vec<String> {
    let path = script(program);
    let out = Command::new("timeout")
        .arg(LIMIT.as_secs().to_string())
        .arg("node")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("running `timeout node {}`: {e}", path.display()));
    assert!(
        out.status.success(),
        "`node {}` failed ({}; 124 is the time limit, 127 no node on PATH: the ordering tests need \
         Node.js v11 or later, their oracle):\n{}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("node prints UTF-8").lines().map(str::to_string).collect()
}

/// What a twin's loop left behind once it ended.
#[derive(Debug)]
pub struct Ended {
    /// What it printed, `exit` last.
    pub lines: Vec<String>,
    pub backend: Backend,
    pub active_handles: usize,
    pub tasks: usize,
    pub alive: bool,
}

impl Ended {
    /// The loop ended with nothing left: no handle, no task, not alive.
    pub fn assert_closed(&self, name: &str) {
        assert_eq!(self.active_handles, 0, "{name}: live handles left (on {}): {self:?}", self.backend);
        assert_eq!(self.tasks, 0, "{name}: unfinished tasks left (on {}): {self:?}", self.backend);
        assert!(!self.alive, "{name}: the loop is still alive (on {}): {self:?}", self.backend);
    }
}

/// Builds a loop with `make` (`Loop::new`: the backend `WAITER_BACKEND`
/// names) and the twin with `build`, on a thread of its own; runs the loop
/// to its end, logging each panic out of `run` as `uncaught: MESSAGE` and
/// running again; then logs `exit`. Fails if that takes longer than [`LIMIT`].
pub fn run(name: &str, make: fn() -> io::Result<Loop>, build: fn(&Loop, &Lines)) -> Ended {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name(format!("twin {name}"))
        .spawn(move || {
            let lp = make().expect("a loop (does WAITER_BACKEND name a backend?)");
            let out = Lines::default();
            build(&lp, &out);
            loop {
                match catch_unwind(AssertUnwindSafe(|| lp.run())) {
                    Ok(ran) => break ran.expect("the loop runs"),
                    Err(panic) => out.log(format!("uncaught: {}", message(&*panic))),
                }
            }
            out.log("exit");
            let _ = tx.send(Ended {
                lines: out.take(),
                backend: lp.backend(),
                active_handles: lp.active_handles(),
                tasks: lp.task_count(),
                alive: lp.is_alive(),
            });
        })
        .expect("spawning the twin's thread");
    rx.recv_timeout(LIMIT)
        .unwrap_or_else(|e| panic!("{name}: the twin's loop did not end within {LIMIT:?} ({e})"))
}

/// A panic's message, when it is a string.
pub fn message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".to_string())
}

/// `tests/js/PROGRAM.js` under node and its twin on `Loop::new()` print the
/// same lines, and the twin's loop ends with nothing left.
pub fn check(program: &str, build: fn(&Loop, &Lines)) {
    check_on(program, Loop::new, build);
}

/// [`check`] on a loop made by `make`.
pub fn check_on(program: &str, make: fn() -> io::Result<Loop>, build: fn(&Loop, &Lines)) {
    let node = node_lines(program);
    assert!(node.len() >= 2, "{program}.js printed too little to test anything: {node:?}");
    let ended = run(program, make, build);
    if ended.lines != node {
        panic!(
            "{program}: the twin's lines differ from node's (node {}, waiter on {}):\n{}\nnode:   {node:?}\nwaiter: {:?}",
            node_version(),
            ended.backend,
            side_by_side(&node, &ended.lines),
            ended.lines,
        );
    }
    ended.assert_closed(program);
}

fn node_version() -> String {
    Command::new("node")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

/// Both columns, with the rows that differ marked.
fn side_by_side(node: &[String], ours: &[String]) -> String {
    let width = node.iter().map(String::len).max().unwrap_or(0).max(4);
    let mut table = format!("     {:width$} | waiter\n", "node");
    for i in 0..node.len().max(ours.len()) {
        let (n, w) = (node.get(i).map_or("", String::as_str), ours.get(i).map_or("", String::as_str));
        let mark = if n == w { ' ' } else { '≠' };
        table += &format!("{mark}{i:>3} {n:width$} | {w}\n");
    }
    table
}
