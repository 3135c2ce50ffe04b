//! `waiter serve` never serves a file outside the root: traversal attempts and symlinks.

mod serve_common;

use serve_common::{start_at, temp_dir, write_files};

#[test]
fn traversal_attempts_never_leave_the_root() {
    let base = temp_dir();
    write_files(&base, &[("secret.txt", b"TOP SECRET"), ("root/ok.txt", b"ok")]);
    let server = start_at(base.join("root"), |_| {});
    let attempts = [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/.%2e/secret.txt",
        "/ok.txt/../../secret.txt",
        "/./../secret.txt",
        "/..\\secret.txt",
        "/..%5csecret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/%252e%252e/secret.txt",
        "/..%00/secret.txt",
        "//../secret.txt",
        "http://t/../secret.txt",
    ];
    for path in attempts {
        let r = server.get(path, "");
        assert!(matches!(r.status, 400 | 403 | 404), "{path}: status {}", r.status);
        assert!(!r.body.windows(10).any(|w| w == b"TOP SECRET"), "{path}: served the secret");
    }
    assert_eq!(server.get("/ok.txt", "").body, b"ok", "the root still serves");
}

#[test]
fn symlinks_leaving_the_root_are_refused() {
    let base = temp_dir();
    write_files(&base, &[("secret.txt", b"TOP SECRET"), ("root/ok.txt", b"ok")]);
    let root = base.join("root");
    std::os::unix::fs::symlink(base.join("secret.txt"), root.join("out.txt")).unwrap();
    std::os::unix::fs::symlink(root.join("ok.txt"), root.join("in.txt")).unwrap();
    let server = start_at(root.clone(), |_| {});
    assert_eq!(server.get("/out.txt", "").status, 403, "symlink out of the root");
    assert_eq!(server.get("/in.txt", "").body, b"ok", "symlink within the root");
    server.stop();
    let server = start_at(root, |c| c.follow_symlinks = true);
    assert_eq!(server.get("/out.txt", "").body, b"TOP SECRET", "--follow-symlinks");
}
