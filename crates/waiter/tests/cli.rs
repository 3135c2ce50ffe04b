//! The `waiter` command line: the banner, bad input, and a graceful SIGTERM.

mod common;

use std::process::Command;

use common::{connect, get, kill, root_with, spawn, wait_exit};

#[test]
fn missing_root_is_an_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_waiter")).args(["serve", "/no/such/dir"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "exit code");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/no/such/dir") && err.contains("No such file"), "message: {err}");
}

#[test]
fn bad_flags_are_refused() {
    for args in [
        &["serve", "--workers", "zero"][..],
        &["serve", "--listen", "nowhere"],
        &["serve", "--dotfiles", "x"],
        &["serve", "--small-file-limit", "99999999999"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_waiter")).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?} exit code");
        assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value"), "{args:?} message");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_waiter")).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--workers",
        "--cache-control",
        "--dotfiles",
        "--follow-symlinks",
        "--header-timeout",
        "--small-file-limit",
    ] {
        assert!(help.contains(flag), "--help explains {flag}");
    }
}

#[test]
fn serves_and_stops_on_sigterm() {
    let root = root_with("cli", &[("a.txt", b"hello")]);
    let mut server = spawn(&[], &root, &["--workers", "2"]);
    assert!(server.banner.starts_with("waiter: serving "), "banner {:?}", server.banner);
    assert!(server.banner.contains("(2 workers, "), "banner names the workers: {:?}", server.banner);
    let mut stream = connect(server.addr);
    assert_eq!(get(&mut stream, "/a.txt", 5), b"hello", "served");
    kill(server.child.id(), "TERM");
    assert_eq!(wait_exit(&mut server.child), Some(0), "clean exit with an idle keep-alive open");
    let _ = std::fs::remove_dir_all(root);
}
