//! Issue 5, `waiter serve --user NAME`: started as root, the server binds and
//! opens its access log as root, then every thread of it runs as the user
//! (ids read from `/proc/PID/task/*/status`), so a file only root may read is
//! refused with 403 while the others are served. An unknown user, and a
//! non-root process naming another user, are errors before anything is bound.
//!
//! These tests need root (CI and the development machine run as root): they
//! fail, rather than skip, without it.

mod reliability;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use reliability::{get_once, record, scratch, wait_for, Cleanup, Waiter};

/// `id FLAG nobody`, e.g. `-u` for nobody's uid.
fn id_of_nobody(flag: &str) -> String {
    let out = Command::new("id").args([flag, "nobody"]).output().expect("id(1)");
    assert!(out.status.success(), "id {flag} nobody: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn assert_root() {
    let out = Command::new("id").arg("-u").output().expect("id(1)");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "these tests must run as root");
}

/// The `Uid:`, `Gid:` and `Groups:` values of every thread of `pid`.
fn thread_ids(pid: u32) -> Vec<(String, String, String, String)> {
    let mut threads = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap();
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else { continue };
        let field = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        };
        let name = field("Name:").unwrap_or_default();
        threads.push((
            name,
            field("Uid:").unwrap(),
            field("Gid:").unwrap(),
            field("Groups:").unwrap_or_default(),
        ));
    }
    threads
}

#[test]
fn user_nobody_serves_after_binding_as_root() {
    assert_root();
    let base = scratch("privileges");
    let _cleanup = Cleanup(base.clone());
    let root = base.join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(root.join("public.txt"), b"for everyone\n").unwrap();
    std::fs::set_permissions(root.join("public.txt"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(root.join("root-only.txt"), b"root's secret\n").unwrap();
    std::fs::set_permissions(root.join("root-only.txt"), std::fs::Permissions::from_mode(0o600)).unwrap();
    // The log lives where only root may create files: it can only have been
    // opened before the privileges were dropped.
    let logs = base.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o700)).unwrap();
    let log = logs.join("access.log");
    let log_arg = log.to_str().unwrap().to_string();

    let server = Waiter::start(&[], &root, &["--workers", "2", "--user", "nobody", "--access-log", &log_arg]);
    let public = get_once(server.addr, "/public.txt").expect("GET /public.txt");
    assert_eq!(
        (public.status, public.body.as_slice()),
        (200, &b"for everyone\n"[..]),
        "a file nobody may read"
    );
    let secret = get_once(server.addr, "/root-only.txt").expect("GET /root-only.txt");
    assert_eq!(secret.status, 403, "a 0600 file of root's: {}", secret.head);
    assert!(!secret.body.windows(6).any(|w| w == b"secret"), "the secret was served");

    let (uid, gid, groups) = (id_of_nobody("-u"), id_of_nobody("-g"), id_of_nobody("-G"));
    let want_uid = [uid.as_str(); 4].join(" ");
    let want_gid = [gid.as_str(); 4].join(" ");
    let threads = thread_ids(server.pid);
    // The main thread, two workers, and the blocking pool the requests above started.
    assert!(threads.len() >= 4, "threads: {threads:?}");
    for (name, uids, gids, thread_groups) in &threads {
        assert_eq!(uids, &want_uid, "thread {name}: Uid (real, effective, saved, fs)");
        assert_eq!(gids, &want_gid, "thread {name}: Gid");
        assert_eq!(thread_groups, &groups, "thread {name}: supplementary groups are nobody's");
    }
    record("privileges", "threads_checked", threads.len());
    record("privileges", "uid_gid_of_every_thread", format!("{uid}/{gid} (nobody)"));
    record("privileges", "root_only_file_status", secret.status);

    // The log opened as root keeps receiving lines after the drop.
    let pid = server.pid;
    server.stop();
    assert!(
        wait_for(Duration::from_secs(5), || std::fs::read_to_string(&log)
            .is_ok_and(|l| l.contains("GET /public.txt"))),
        "the access log opened as root was written after the drop: {:?}",
        std::fs::read_to_string(&log)
    );
    record("privileges", "access_log_opened_before_drop", "written");
    let _ = pid;
}

/// Runs `waiter serve` (from `bin`) with `args` and no listener conflicts;
/// returns its exit code and stderr. It must exit at once.
fn refused(prefix: &[&str], bin: &str, root: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = match prefix.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let child = cmd
        .arg("serve")
        .arg(root)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start waiter");
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(reliability::TIMEOUT);
        // Still running after 10 s: end it, so that the test fails instead of hanging.
        let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
    });
    let out = child.wait_with_output().unwrap();
    drop(watchdog);
    assert!(out.stdout.is_empty(), "nothing served: {}", String::from_utf8_lossy(&out.stdout));
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn unknown_user_is_an_error() {
    let base = scratch("privileges-unknown");
    let _cleanup = Cleanup(base.clone());
    let (code, stderr) = refused(&[], env!("CARGO_BIN_EXE_waiter"), &base, &["--user", "no-such-user-rely"]);
    assert_eq!(code, Some(1), "exit status: {stderr}");
    assert!(stderr.contains("--user no-such-user-rely: no such user"), "{stderr}");
}

#[test]
fn non_root_cannot_become_another_user() {
    assert_root();
    let base = scratch("privileges-nonroot");
    let _cleanup = Cleanup(base.clone());
    // A copy of the binary that nobody can run wherever the build lives.
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = base.join("waiter");
    std::fs::copy(env!("CARGO_BIN_EXE_waiter"), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = bin.to_str().unwrap();
    let as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"];

    let (code, stderr) = refused(&as_nobody, bin, &base, &["--user", "root"]);
    assert_eq!(code, Some(1), "exit status: {stderr}");
    assert!(stderr.contains("only root can switch users"), "{stderr}");
    assert!(stderr.contains("--user root"), "{stderr}");
    record("privileges", "non_root_naming_root", format!("exit {}", code.unwrap_or(-1)));

    // Naming the user it already runs as is no error: it serves. (The shell
    // drops the harness's binary from the arguments and execs the copy, so
    // the child's pid is the server's.)
    let script = format!("shift; exec {} {bin} \"$@\"", as_nobody.join(" "));
    let server = Waiter::start(&["sh", "-c", &script, "sh"], &base, &["--workers", "1", "--user", "nobody"]);
    let uid = id_of_nobody("-u");
    // `setpriv` execs the server: the child is the server itself.
    assert!(thread_ids(server.pid).iter().all(|t| t.1.split(' ').all(|u| u == uid)), "runs as nobody");
    assert_eq!(get_once(server.addr, "/waiter").expect("GET /waiter").status, 200, "serves as nobody");
    server.stop();
}
