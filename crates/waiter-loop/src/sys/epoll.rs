//! epoll system calls (Linux): create, control, and wait with nanosecond timeouts.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{cvt, owned, timeout_ms, timespec};

/// `epoll_create1(EPOLL_CLOEXEC)`.
pub(crate) fn create() -> io::Result<OwnedFd> {
    // SAFETY: epoll_create1 takes no pointers.
    let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    Ok(owned(fd))
}

/// `epoll_ctl`: `op` is `EPOLL_CTL_ADD`, `_MOD` or `_DEL`; `data` comes back with each event.
pub(crate) fn ctl(ep: BorrowedFd<'_>, op: i32, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: `ev` is a live epoll_event; the kernel copies it before returning.
    cvt(unsafe { libc::epoll_ctl(ep.as_raw_fd(), op, fd, &mut ev) }).map(drop)
}

/// Set once `epoll_pwait2` has failed with `ENOSYS` (kernels before 5.11).
static NO_PWAIT2: AtomicBool = AtomicBool::new(false);

/// Waits for events, filling `events` and returning how many arrived.
///
/// Uses `epoll_pwait2`, whose `timespec` timeout lets a timer due in 300 µs
/// wait 300 µs, not a rounded millisecond; falls back to `epoll_wait` (with
/// the timeout rounded up, never down to a busy zero) on kernels without it.
/// `EINTR` is reported as zero events: the caller recomputes its timeout.
pub(crate) fn wait(
    ep: BorrowedFd<'_>,
    events: &mut [libc::epoll_event],
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let max = events.len().min(libc::c_int::MAX as usize) as libc::c_int;
    // Only a finite, non-zero wait needs the timespec; epoll_wait is cheaper.
    let coarse = matches!(timeout, None | Some(Duration::ZERO));
    let rc = if coarse || NO_PWAIT2.load(Ordering::Relaxed) {
        // SAFETY: `events` is a live, writable array of `max` epoll_events.
        unsafe { libc::epoll_wait(ep.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms(timeout)) }
    } else {
        let ts = timeout.map(timespec);
        let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `events` is a live array of `max` entries; `ts_ptr` is null or a live
        // timespec; a null sigmask leaves the signal mask alone.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                ep.as_raw_fd(),
                events.as_mut_ptr(),
                max,
                ts_ptr,
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        if rc == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
            NO_PWAIT2.store(true, Ordering::Relaxed);
            return wait(ep, events, timeout);
        }
        rc as libc::c_int
    };
    match cvt(rc) {
        Ok(n) => Ok(n as usize),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(e) => Err(e),
    }
}
