//! The poll(2) system call: the O(N) portable baseline the first seed contrasts with epoll.

use std::io;
use std::time::Duration;

use super::{cvt, timeout_ms};

/// `poll(2)` over `fds`; returns how many entries have non-zero `revents`.
/// The timeout is rounded up to whole milliseconds. `EINTR` is reported as
/// zero ready entries so the caller recomputes its timeout.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<usize> {
    // SAFETY: `fds` is a live, writable array of `fds.len()` pollfd entries.
    match cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms(timeout)) }) {
        Ok(n) => Ok(n as usize),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(e) => Err(e),
    }
}
