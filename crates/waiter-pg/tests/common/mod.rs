//! Helpers shared by the integration tests: the real PostgreSQL cluster of
//! `scripts/pg/cluster.sh`, started on first use and shared by every test
//! process of the run (its reaper stops it once they have all exited), and
//! a loop runner that fails instead of hanging.

// Each test crate compiles this module separately and uses only part of it.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use waiter_loop::Loop;
use waiter_pg::{Client, Config, Host};

/// The running cluster's coordinates.
#[derive(Debug)]
pub struct Cluster {
    pub port: u16,
    pub socket_dir: PathBuf,
}

/// Starts (or joins) the cluster; this process is registered as a holder.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg/cluster.sh");
        // `timeout`: a wedged script fails the test instead of hanging it.
        let out = Command::new("timeout")
            .args(["120", "bash"])
            .arg(&script)
            .args(["start", "--hold", &std::process::id().to_string()])
            .output()
            .expect("run scripts/pg/cluster.sh");
        assert!(out.status.success(), "cluster.sh start failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let env = String::from_utf8(out.stdout).unwrap();
        let var = |name: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("{name} missing from cluster.sh output:\n{env}"))
                .to_string()
        };
        Cluster {
            port: var("WAITER_PG_PORT").parse().unwrap(),
            socket_dir: var("WAITER_PG_SOCKET_DIR").into(),
        }
    })
}

/// A TCP URL for `user` (`waiter` is the trusted superuser).
pub fn url(user: &str, password: Option<&str>) -> String {
    let port = cluster().port;
    match password {
        Some(p) => format!("postgres://{user}:{p}@127.0.0.1:{port}/waiter"),
        None => format!("postgres://{user}@127.0.0.1:{port}/waiter"),
    }
}

/// The superuser's settings over TCP.
pub fn config() -> Config {
    url("waiter", None).parse().unwrap()
}

/// The superuser's settings over the Unix socket.
pub fn unix_config() -> Config {
    Config { host: Host::Unix(cluster().socket_dir.clone()), ..config() }
}

/// Connects as the superuser over TCP.
pub async fn connect() -> Client {
    waiter_pg::connect_with(&config()).await.expect("connect to the test cluster")
}

/// Runs `f` on a fresh loop, failing instead of hanging past 15 s.
pub fn run<F: Future>(f: F) -> F::Output {
    cluster();
    let lp = Loop::new().unwrap();
    lp.block_on(async { lp.timeout(Duration::from_secs(15), f).unwrap().await.expect("the test timed out") })
}

/// A table name unique to this test process and `tag`, so parallel tests
/// never share one.
pub fn table(tag: &str) -> String {
    format!("t_{tag}_{}", std::process::id())
}
