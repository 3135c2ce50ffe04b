//! `waiter serve --config FILE`: values applied, the command line wins, unknown keys refused.

mod common;

use std::io::{Read, Write};
use std::process::Command;

use common::{connect, kill, root_with, spawn, wait_exit};

/// Writes `text` as a config file in `root`'s parent, returns its path.
fn config_file(tag: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("waiter-config-{tag}-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// The raw response to one `GET path` with `Connection: close`.
fn fetch(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = connect(addr);
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn file_values_are_applied() {
    let root = root_with("cfg-apply", &[("a.txt", b"hello")]);
    // `listen` is overridden by the test harness's own `--listen 127.0.0.1:0`.
    let file = config_file(
        "apply",
        "listen = \"127.0.0.1:1\"\nworkers = 2\ncache_control = \"public, max-age=60\"\nstatus_path = \"/st\"\n",
    );
    let mut server = spawn(&[], &root, &["--config", &file]);
    assert!(server.banner.contains("(2 workers"), "workers from the file: {}", server.banner);
    assert_ne!(server.addr.port(), 1, "--listen on the command line wins over the file");
    let r = fetch(server.addr, "/a.txt");
    assert!(r.starts_with("HTTP/1.1 200"), "file served: {r}");
    assert!(r.contains("\r\nCache-Control: public, max-age=60\r\n"), "cache_control from the file: {r}");
    let r = fetch(server.addr, "/st");
    assert!(r.contains("server accepts handled requests"), "status_path from the file: {r}");
    kill(server.child.id(), "TERM");
    assert_eq!(wait_exit(&mut server.child), Some(0), "clean exit");
}

#[test]
fn command_line_overrides_the_file() {
    let root = root_with("cfg-override", &[("a.txt", b"hello")]);
    let file = config_file("override", "workers = 3\ncache_control = \"from-file\"\n");
    let mut server = spawn(&[], &root, &["--workers", "1", "--config", &file, "--cache-control", "from-cli"]);
    assert!(server.banner.contains("(1 worker,"), "--workers wins: {}", server.banner);
    let r = fetch(server.addr, "/a.txt");
    assert!(r.contains("\r\nCache-Control: from-cli\r\n"), "--cache-control wins: {r}");
    kill(server.child.id(), "TERM");
    assert_eq!(wait_exit(&mut server.child), Some(0), "clean exit");
}

#[test]
fn unknown_key_is_refused() {
    let root = root_with("cfg-unknown", &[]);
    let file = config_file("unknown", "workers = 1\nmax_conections = 5\n");
    let out = Command::new(env!("CARGO_BIN_EXE_waiter"))
        .arg("serve")
        .arg(&root)
        .args(["--config", &file])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "exit code");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown key `max_conections`"), "names the key: {err}");

    let file = config_file("badtype", "follow_symlinks = \"yes\"\n");
    let out =
        Command::new(env!("CARGO_BIN_EXE_waiter")).arg("serve").arg(&root).args(["--config", &file]).output();
    assert_eq!(out.unwrap().status.code(), Some(2), "wrong type: exit code");

    let out =
        Command::new(env!("CARGO_BIN_EXE_waiter")).args(["serve", "--config", "/no/such.toml"]).output();
    assert_eq!(out.unwrap().status.code(), Some(2), "missing file: exit code");
}

#[test]
fn help_documents_the_new_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_waiter")).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--access-log", "--log-format", "--status-path", "--config", "--user"] {
        assert!(help.contains(flag), "--help explains {flag}");
    }
}

#[test]
fn user_key_drops_privileges() {
    // Run as root (CI does): the server then runs as the file's user.
    let root = root_with("cfg-user", &[("a.txt", b"hello")]);
    let file = config_file("user", "user = \"nobody\"\nworkers = 1\n");
    let mut server = spawn(&[], &root, &["--config", &file]);
    let r = fetch(server.addr, "/a.txt");
    assert!(r.starts_with("HTTP/1.1 200"), "served as nobody: {r}");
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let uid =
        status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap().split_whitespace().collect::<Vec<_>>();
    assert_eq!(uid, ["65534"; 4], "user from the file: {status}");
    kill(server.child.id(), "TERM");
    assert_eq!(wait_exit(&mut server.child), Some(0), "clean exit");

    let file = config_file("nouser", "user = \"no-such-user-rely\"\n");
    let out =
        Command::new(env!("CARGO_BIN_EXE_waiter")).arg("serve").arg(&root).args(["--config", &file]).output();
    let out = out.unwrap();
    assert_eq!(out.status.code(), Some(1), "unknown user from the file: exit code");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such user"), "names the problem");
}
