//! `waiter serve --user NAME`: root's privileges are given up once the listeners are bound.
//!
//! As nginx's `user` directive (`ngx_worker_process_init`): a server started
//! as root binds its ports (below 1024 if asked) and opens its access log
//! with root's rights, then becomes `NAME` before it serves any request. The
//! order is the one that works: supplementary groups first (`initgroups`,
//! the user's groups from the group database), then the group, then the user
//! (after `setuid` nothing else could be changed). Afterwards the drop is
//! verified: the real, effective and saved ids are the user's, and
//! `setuid(0)` fails; otherwise the server refuses to run.
//!
//! The process already has threads when it drops (one per worker, each
//! holding its bound listener and waiting for the go). glibc's `setgroups`,
//! `setgid` and `setuid` change the credentials of every thread of the
//! process (the raw system calls would change only the caller's), and the
//! verification reads every thread's ids from `/proc/self/task`.
//!
//! Started as another user than root, `--user` may only name that user
//! (nothing to do); naming someone else is an error, as is an unknown name.
//!
//! The kernel calls are in the [`sys`] submodule, the only `unsafe` code of
//! the crate.

use std::ffi::CString;
use std::io;

/// A user to run as, looked up in the password database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The name given.
    pub name: String,
    /// The user's id.
    pub uid: u32,
    /// The user's primary group.
    pub gid: u32,
}

impl User {
    /// Looks `name` up in the password database (`getpwnam_r`, so NSS
    /// sources such as LDAP count too).
    ///
    /// # Errors
    ///
    /// `NotFound` naming the user when there is no such user; the database's
    /// own error otherwise.
    pub fn lookup(name: &str) -> io::Result<User> {
        let c_name = CString::new(name).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("--user {name:?}: a NUL byte"))
        })?;
        match sys::getpwnam(&c_name) {
            Ok(Some((uid, gid))) => Ok(User { name: name.to_string(), uid, gid }),
            Ok(None) => Err(io::Error::new(io::ErrorKind::NotFound, format!("--user {name}: no such user"))),
            Err(e) => Err(io::Error::new(e.kind(), format!("--user {name}: looking the user up: {e}"))),
        }
    }

    /// Whether this process may become the user: it runs as root, or as
    /// the user already (then there is nothing to drop).
    ///
    /// # Errors
    ///
    /// `PermissionDenied`, saying who the process runs as.
    pub fn check_reachable(&self) -> io::Result<()> {
        let euid = sys::geteuid();
        if euid == 0 || euid == self.uid {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "--user {} (uid {}): only root can switch users, and this process runs as uid {euid}; \
                 start it as root or leave --user out",
                self.name, self.uid
            ),
        ))
    }

    /// Becomes the user: supplementary groups, group, user, in that order,
    /// for every thread of the process; then checks that it worked and that
    /// root cannot be regained. Does nothing when the process runs as the
    /// user already.
    ///
    /// # Errors
    ///
    /// The call that failed, or `PermissionDenied` when the check finds a
    /// thread with other ids or `setuid(0)` succeeding.
    pub fn become_user(&self) -> io::Result<()> {
        if sys::geteuid() != 0 {
            return self.check_reachable();
        }
        let name =
            CString::new(self.name.as_str()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let step = |what: &str, result: io::Result<()>| {
            result.map_err(|e| io::Error::new(e.kind(), format!("--user {}: {what}: {e}", self.name)))
        };
        step("initgroups", sys::initgroups(&name, self.gid))?;
        step("setgid", sys::setgid(self.gid))?;
        step("setuid", sys::setuid(self.uid))?;
        self.verify()
    }

    /// Every thread runs with the user's ids only, and root cannot be regained.
    fn verify(&self) -> io::Result<()> {
        let denied = |what: String| {
            Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("--user {}: {what}", self.name)))
        };
        if sys::setuid(0).is_ok() {
            return denied("setuid(0) still succeeds after dropping privileges".into());
        }
        let want_uid = format!("{0}\t{0}\t{0}\t{0}", self.uid);
        let want_gid = format!("{0}\t{0}\t{0}\t{0}", self.gid);
        for task in std::fs::read_dir("/proc/self/task")? {
            let path = task?.path().join("status");
            let status = match std::fs::read_to_string(&path) {
                Ok(status) => status,
                // A thread that ended meanwhile has no credentials left to check.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let field =
                |key: &str| status.lines().find_map(|l| l.strip_prefix(key)).map(str::trim).unwrap_or("");
            if field("Uid:") != want_uid || field("Gid:") != want_gid {
                return denied(format!(
                    "{} still has Uid {:?} Gid {:?}",
                    path.display(),
                    field("Uid:"),
                    field("Gid:")
                ));
            }
        }
        Ok(())
    }
}

/// The kernel and C library calls behind [`User`]: the crate's only `unsafe` code.
#[allow(unsafe_code)]
mod sys {
    use std::ffi::{CStr, CString};
    use std::io;

    /// `-1` into the error in `errno`.
    fn check(ret: libc::c_int) -> io::Result<()> {
        if ret == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// The effective user id.
    pub fn geteuid() -> u32 {
        // SAFETY: geteuid takes nothing and cannot fail.
        unsafe { libc::geteuid() }
    }

    /// `(uid, gid)` of `name`, `None` when there is no such user.
    pub fn getpwnam(name: &CStr) -> io::Result<Option<(u32, u32)>> {
        let mut buf = vec![0 as libc::c_char; 1024];
        loop {
            // SAFETY: an all-zero passwd (null pointers, zero ids) is a valid value to be overwritten.
            let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
            let mut found: *mut libc::passwd = std::ptr::null_mut();
            // SAFETY: `name` is NUL-terminated; `pwd`, `buf` (with its true length) and
            // `found` are valid for writes for the whole call; the strings written into
            // `buf` are not read here (only the ids, copied out of `pwd`).
            let ret =
                unsafe { libc::getpwnam_r(name.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
            match ret {
                0 if found.is_null() => return Ok(None),
                0 => return Ok(Some((pwd.pw_uid, pwd.pw_gid))),
                libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
                // glibc reports "no such user" as ENOENT from some NSS sources.
                libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(None),
                errno => return Err(io::Error::from_raw_os_error(errno)),
            }
        }
    }

    /// The supplementary groups of `name` plus `gid`, for every thread.
    pub fn initgroups(name: &CString, gid: u32) -> io::Result<()> {
        // SAFETY: `name` is NUL-terminated; glibc's initgroups calls setgroups, which it
        // applies to every thread of the process.
        check(unsafe { libc::initgroups(name.as_ptr(), gid) })
    }

    /// Real, effective and saved group id (as root), for every thread.
    pub fn setgid(gid: u32) -> io::Result<()> {
        // SAFETY: plain integer argument; glibc applies it to every thread.
        check(unsafe { libc::setgid(gid) })
    }

    /// Real, effective and saved user id (as root), for every thread.
    pub fn setuid(uid: u32) -> io::Result<()> {
        // SAFETY: plain integer argument; glibc applies it to every thread.
        check(unsafe { libc::setuid(uid) })
    }
}
