//! `open_beneath`: the kernel refuses every way out of the root (`..`, an
//! absolute path, a symlink to the outside) and follows symlinks that stay inside.

use std::fs;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

use waiter_loop::open_beneath;

#[test]
fn open_beneath_stays_under_the_root() {
    let base = std::env::temp_dir().join(format!("waiter-open-beneath-{}", std::process::id()));
    let root = base.join("root");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(base.join("secret"), b"secret").unwrap();
    fs::write(root.join("sub/page"), b"page").unwrap();
    std::os::unix::fs::symlink("sub/page", root.join("inside")).unwrap();
    std::os::unix::fs::symlink(base.join("secret"), root.join("absolute")).unwrap();
    std::os::unix::fs::symlink("../secret", root.join("relative")).unwrap();
    let dir = fs::File::open(&root).unwrap();

    let read = |p: &str| -> std::io::Result<String> {
        let mut s = String::new();
        open_beneath(dir.as_fd(), Path::new(p))?.read_to_string(&mut s)?;
        Ok(s)
    };
    assert_eq!(read("sub/page").unwrap(), "page");
    assert_eq!(read("inside").unwrap(), "page", "a symlink inside the root is followed");
    for escape in ["../secret", "absolute", "relative", "sub/../../secret"] {
        let e = read(escape).expect_err(escape);
        assert_eq!(e.raw_os_error(), Some(libc_exdev()), "{escape}: {e}");
    }
    assert_eq!(read("missing").unwrap_err().kind(), std::io::ErrorKind::NotFound);
    fs::remove_dir_all(&base).unwrap();
}

/// `EXDEV` on Linux.
fn libc_exdev() -> i32 {
    18
}
