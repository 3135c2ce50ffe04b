//! The kernel boundary: every system call waiter makes goes through this module.
//!
//! Everything above `sys` is safe Rust. Each wrapper turns `-1` into
//! `io::Error::last_os_error()` through [`cvt`], retries `EINTR` where a retry
//! is the right answer, and hands out `OwnedFd`s created `CLOEXEC | NONBLOCK`.

pub(crate) mod epoll;
pub(crate) mod net;
pub(crate) mod poll;

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Turns a libc return value into `io::Result`: `-1` becomes the thread's `errno`.
pub(crate) fn cvt<T: IsMinusOne>(ret: T) -> io::Result<T> {
    if ret.is_minus_one() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Like [`cvt`], but calls `f` again while it fails with `EINTR`.
pub(crate) fn cvt_retry<T: IsMinusOne>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Integer types a syscall can return `-1` in.
pub(crate) trait IsMinusOne {
    /// True for the error sentinel.
    fn is_minus_one(&self) -> bool;
}

macro_rules! impl_is_minus_one {
    ($($t:ty)*) => {$(
        impl IsMinusOne for $t {
            fn is_minus_one(&self) -> bool { *self == -1 }
        }
    )*};
}
impl_is_minus_one! { i32 i64 isize }

/// Wraps a freshly created descriptor; `fd` must be valid and owned by nobody else.
fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass a descriptor the kernel just returned to us, which nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Converts a timeout to whole milliseconds for the millisecond-granular
/// syscalls, rounding up so that a sub-millisecond wait never becomes a busy zero.
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(i32::MAX as u128) as i32
        }
    }
}

/// Converts a timeout to a `timespec`, saturating at the largest representable value.
pub(crate) fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`: the loop's cross-thread doorbell.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    Ok(owned(fd))
}

/// Adds one to an eventfd counter, waking whoever polls it.
pub(crate) fn eventfd_notify(fd: BorrowedFd<'_>) -> io::Result<()> {
    let one: u64 = 1;
    match cvt_retry(|| {
        // SAFETY: the buffer is a live u64 of exactly the 8 bytes eventfd expects.
        unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) }
    }) {
        Ok(_) => Ok(()),
        // The counter is saturated, so the reader is already due to wake.
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(e),
    }
}

/// Resets an eventfd counter to zero; `WouldBlock` (already zero) is not an error.
pub(crate) fn eventfd_drain(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut value: u64 = 0;
    match cvt_retry(|| {
        // SAFETY: the buffer is a live, writable u64 of the 8 bytes eventfd writes.
        unsafe { libc::read(fd.as_raw_fd(), (&mut value as *mut u64).cast(), 8) }
    }) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(e),
    }
}

/// A set of signals (`sigset_t`).
#[derive(Clone, Copy)]
pub(crate) struct SigSet(libc::sigset_t);

impl SigSet {
    /// The empty set.
    pub(crate) fn empty() -> SigSet {
        // SAFETY: sigset_t is plain data; sigemptyset initialises it fully.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid, writable sigset_t.
        unsafe { libc::sigemptyset(&mut set) };
        SigSet(set)
    }

    /// Adds `signo`; fails with `EINVAL` for a number that is not a signal.
    pub(crate) fn add(&mut self, signo: i32) -> io::Result<()> {
        // SAFETY: `self.0` is an initialised sigset_t.
        cvt(unsafe { libc::sigaddset(&mut self.0, signo) }).map(drop)
    }

    /// Every signal.
    pub(crate) fn full() -> SigSet {
        let mut set = SigSet::empty();
        // SAFETY: `set.0` is a valid, writable sigset_t.
        unsafe { libc::sigfillset(&mut set.0) };
        set
    }
}

/// Blocks the signals in `set` for the calling thread, so they queue for a signalfd.
pub(crate) fn block_signals(set: &SigSet) -> io::Result<()> {
    // SAFETY: `set.0` is an initialised sigset_t; the old mask is not requested.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set.0, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Creates a signalfd for `set`, or retargets the existing `fd` when given.
pub(crate) fn signalfd(fd: Option<BorrowedFd<'_>>, set: &SigSet) -> io::Result<Option<OwnedFd>> {
    let raw = fd.map_or(-1, |fd| fd.as_raw_fd());
    // SAFETY: `set.0` is an initialised sigset_t; `raw` is -1 or a signalfd we own.
    let new = cvt(unsafe { libc::signalfd(raw, &set.0, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
    Ok(if raw == -1 { Some(owned(new)) } else { None })
}

/// Reads one pending signal number from a signalfd, or `None` when none is queued.
pub(crate) fn signalfd_read(fd: BorrowedFd<'_>) -> io::Result<Option<i32>> {
    // SAFETY: signalfd_siginfo is plain data, fully written by a successful read.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    match cvt_retry(|| {
        // SAFETY: the buffer is a live, writable signalfd_siginfo of `size` bytes.
        unsafe { libc::read(fd.as_raw_fd(), (&mut info as *mut libc::signalfd_siginfo).cast(), size) }
    }) {
        Ok(n) if n as usize == size => Ok(Some(info.ssi_signo as i32)),
        Ok(n) => {
            Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("signalfd: short read of {n} bytes")))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets SIGPIPE's disposition to "ignore" so a write to a closed peer is an
/// `EPIPE` error rather than the death of the process.
pub(crate) fn ignore_sigpipe() -> io::Result<()> {
    // SAFETY: installing SIG_IGN involves no handler code and no pointers we own.
    let prev = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    if prev == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `read(2)` into `buf`; `EINTR` retried.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    cvt_retry(|| {
        // SAFETY: `buf` is a live, writable slice of `buf.len()` bytes.
        unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) }
    })
    .map(|n| n as usize)
}

/// `writev(2)`: gathers `bufs` into one write; `EINTR` retried.
pub(crate) fn writev(fd: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    // IoSlice is guaranteed ABI-compatible with iovec on Unix.
    let count = bufs.len().min(libc::c_int::MAX as usize) as libc::c_int;
    cvt_retry(|| {
        // SAFETY: IoSlice is repr(transparent) over iovec; `count` slices are live.
        unsafe { libc::writev(fd.as_raw_fd(), bufs.as_ptr().cast(), count) }
    })
    .map(|n| n as usize)
}

/// `sendmsg(2)` of `bufs` with `flags` and `MSG_NOSIGNAL`: a `writev` that
/// takes per-call flags, such as `MSG_MORE` (hold a partial segment for the
/// bytes the next call adds); `EINTR` retried.
pub(crate) fn sendmsg(fd: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: msghdr is plain data (pointers and integers); all-zero is "no address, no control data".
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice is guaranteed ABI-compatible with iovec on Unix; sendmsg only reads through the pointer.
    msg.msg_iov = bufs.as_ptr().cast_mut().cast();
    msg.msg_iovlen = bufs.len().min(libc::c_int::MAX as usize) as _;
    cvt_retry(|| {
        // SAFETY: `msg` points at `msg_iovlen` live IoSlices (repr(transparent) over iovec) and nothing else.
        unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, flags | libc::MSG_NOSIGNAL) }
    })
    .map(|n| n as usize)
}

/// `sendfile(2)`: copies up to `count` bytes of `file` starting at `*offset`
/// into `out` inside the kernel, advancing `*offset`.
pub(crate) fn sendfile(
    out: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    let mut off = i64::try_from(*offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "sendfile offset overflows off_t"))?;
    let n = cvt_retry(|| {
        // SAFETY: `off` is a live off_t the kernel updates; both descriptors are borrowed live.
        unsafe { libc::sendfile(out.as_raw_fd(), file.as_raw_fd(), &mut off, count) }
    })? as usize;
    *offset = off as u64;
    Ok(n)
}

/// Reads the soft and hard `RLIMIT_NOFILE`.
pub fn nofile_limit() -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a live, writable rlimit.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// Sets the soft `RLIMIT_NOFILE`, keeping the hard limit. Servers raise it to
/// hold 10,000 connections; tests lower it to provoke `EMFILE`.
pub fn set_nofile_limit(soft: u64) -> io::Result<()> {
    let (_, hard) = nofile_limit()?;
    if soft > hard {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("RLIMIT_NOFILE: soft limit {soft} exceeds the hard limit {hard}"),
        ));
    }
    let lim = libc::rlimit { rlim_cur: soft as libc::rlim_t, rlim_max: hard as libc::rlim_t };
    // SAFETY: `lim` is a live rlimit.
    cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }).map(drop)
}

/// Checks that `fd` is an open descriptor (`fcntl(F_GETFD)`), so watching a
/// closed one is an `EBADF` error up front rather than a silent no-op.
pub(crate) fn check_open(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFD only inspects the descriptor table.
    cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) }).map(drop)
}

/// Opens `/dev/null` read-only: the spare descriptor the `EMFILE` trick
/// spends to accept-and-close a connection when the table is full.
pub(crate) fn open_dev_null() -> io::Result<OwnedFd> {
    let path = c"/dev/null";
    // SAFETY: `path` is a NUL-terminated string literal.
    let fd = cvt_retry(|| unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })?;
    Ok(owned(fd))
}

/// Sets the calling thread's timer slack (`PR_SET_TIMERSLACK`), the amount by
/// which the kernel may delay a timed wait to batch wake-ups.
pub(crate) fn set_timer_slack(nanos: u64) -> io::Result<()> {
    // SAFETY: PR_SET_TIMERSLACK takes an integer, no pointers.
    cvt(unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, nanos as libc::c_ulong, 0, 0, 0) }).map(drop)
}

/// Opens `path` (relative) read-only, `CLOEXEC | NONBLOCK`, under the
/// directory `root`, with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`:
/// the kernel resolves every component and refuses (`EXDEV`) a `..`, an
/// absolute path or a symlink that would leave `root`, at the moment of the
/// open, so a symlink swapped in after a check cannot escape. A static file
/// server serves a root this way (Linux 5.6+).
///
/// # Errors
///
/// `Unsupported` when the kernel has no `openat2` (before 5.6, or a seccomp
/// filter hides it): fall back to a checked path. `EXDEV` (kind
/// `CrossesDevices`) for a path that leaves `root`; otherwise `openat2`'s
/// error (`NotFound`, ...).
pub fn open_beneath(root: BorrowedFd<'_>, path: &std::path::Path) -> io::Result<std::fs::File> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: `open_how` is plain data; all-zero is a valid value of it.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    let fd = cvt_retry(|| {
        // SAFETY: `root` is a live descriptor, `c_path` a NUL-terminated
        // string and `how` a live `open_how` whose size is passed with it;
        // the kernel only reads them.
        unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                c_path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        }
    })
    .map_err(|e| match e.raw_os_error() {
        Some(libc::ENOSYS) => io::Error::new(io::ErrorKind::Unsupported, "openat2 is not available"),
        _ => e,
    })?;
    // SAFETY: `openat2` returned a new descriptor that nothing else owns.
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }))
}
