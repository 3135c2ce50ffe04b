//! Readiness through poll(2): level-triggered, and O(registered) per wait.
//!
//! This is the seed's contrast to epoll: every wait hands the kernel the
//! whole `pollfd` array and scans every entry of the answer. Registration
//! changes cost no system call (they edit the array), which is why the loop
//! may register and deregister freely under this backend.

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use super::{Event, Interest, Poller, Readiness, Token};
use crate::sys::poll as sys;

/// The descriptors being watched, as the array `poll(2)` takes.
pub(crate) struct PollPoller {
    /// INVARIANT: `fds[i]` is registered under `tokens[i]`, and `index[&fds[i].fd] == i`.
    fds: Vec<libc::pollfd>,
    tokens: Vec<Token>,
    index: HashMap<RawFd, usize>,
}

impl PollPoller {
    pub(crate) fn new() -> PollPoller {
        PollPoller { fds: Vec::new(), tokens: Vec::new(), index: HashMap::new() }
    }

    fn slot(&self, fd: RawFd) -> io::Result<usize> {
        self.index.get(&fd).copied().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("poll: fd {fd} is not registered"))
        })
    }
}

fn flags(interest: Interest) -> i16 {
    let mut ev = 0;
    if interest.is_readable() {
        ev |= libc::POLLIN | libc::POLLRDHUP;
    }
    if interest.is_writable() {
        ev |= libc::POLLOUT;
    }
    ev
}

fn readiness(revents: i16) -> Readiness {
    let mut r = Readiness::EMPTY;
    if revents & (libc::POLLIN | libc::POLLPRI) != 0 {
        r = r | Readiness::READABLE;
    }
    if revents & libc::POLLOUT != 0 {
        r = r | Readiness::WRITABLE;
    }
    if revents & (libc::POLLHUP | libc::POLLRDHUP) != 0 {
        r = r | Readiness::HUP;
    }
    if revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
        r = r | Readiness::ERROR;
    }
    r
}

impl Poller for PollPoller {
    const NAME: &'static str = "poll";
    const EDGE_TRIGGERED: bool = false;

    fn add(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        if fd < 0 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        if self.index.contains_key(&fd) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        self.index.insert(fd, self.fds.len());
        self.fds.push(libc::pollfd { fd, events: flags(interest), revents: 0 });
        self.tokens.push(token);
        Ok(())
    }

    fn modify(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let i = self.slot(fd)?;
        self.fds[i].events = flags(interest);
        self.tokens[i] = token;
        Ok(())
    }

    fn delete(&mut self, fd: RawFd) -> io::Result<()> {
        let i = self.slot(fd)?;
        self.index.remove(&fd);
        self.fds.swap_remove(i);
        self.tokens.swap_remove(i);
        if let Some(moved) = self.fds.get(i) {
            self.index.insert(moved.fd, i);
        }
        Ok(())
    }

    fn wait(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        let mut ready = sys::poll(&mut self.fds, timeout)?;
        for (pfd, token) in self.fds.iter().zip(&self.tokens) {
            if ready == 0 {
                break;
            }
            if pfd.revents != 0 {
                ready -= 1;
                events.push(Event { token: *token, readiness: readiness(pfd.revents) });
            }
        }
        Ok(())
    }
}
