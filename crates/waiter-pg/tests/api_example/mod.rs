//! The API server example (`examples/api_server.rs`) run as a child process,
//! for the tests that talk to it over real sockets (`api_server.rs`,
//! `api_audit.rs`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The example's binary: cargo builds examples next to the test binaries
/// (`target/<profile>/examples/`) whenever it builds the tests.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("examples/api_server");
    assert!(bin.exists(), "{} missing: cargo builds examples with the tests", bin.display());
    bin
}

/// The running example; killed (by PID, it is our child) when dropped.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the example on a free port with a pool of 4 on the database `db`
/// (a URL), and returns once it says where it listens.
pub fn start(db: &str) -> Server {
    let mut child = Command::new(example_binary())
        .args(["--listen", "127.0.0.1:0", "--pool", "4", "--db", db])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the api_server example");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("api_server exited before listening").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    Server { child, addr }
}
