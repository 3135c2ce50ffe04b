//! Headless Chromium as a test client: the DOM a real browser builds from a
//! page. Shared by `serve_autoindex_chromium` (waiter-http) and
//! `reliability_security` (waiter, which includes this file by path).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `chromium --headless --dump-dom URL` with its profile in `profile`: the
/// DOM after the page's scripts (if any) ran, bounded in time (60 s).
pub fn dump_dom(url: &str, profile: &Path) -> String {
    let mut child = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--virtual-time-budget=2000", "--dump-dom", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium (Debian package `chromium`) must be installed: .ci/run installs it");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "chromium failed: {:?}", out.status);
    String::from_utf8(out.stdout).expect("a UTF-8 DOM")
}
