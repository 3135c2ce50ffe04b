//! Readiness through epoll (Linux), edge-triggered as nginx and mio use it.
//!
//! Every registration carries `EPOLLET | EPOLLRDHUP`: the kernel reports a
//! descriptor once per change of state, so the cost of a wait grows with the
//! number of *ready* descriptors, not registered ones, and handlers must
//! drain until `WouldBlock` (which they do under every backend).

use std::io;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{Event, Interest, Poller, Readiness, Token};
use crate::sys::epoll as sys;

/// Events fetched per `epoll_wait`: 1024 as libuv and nginx use; more ready
/// descriptors than this are simply reported by the next wait.
const MAX_EVENTS: usize = 1024;

/// An epoll instance and the buffer its events land in.
pub(crate) struct EpollPoller {
    ep: OwnedFd,
    buf: Vec<libc::epoll_event>,
}

impl EpollPoller {
    pub(crate) fn new() -> io::Result<EpollPoller> {
        Ok(EpollPoller { ep: sys::create()?, buf: vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS] })
    }
}

fn flags(interest: Interest) -> u32 {
    let mut ev = libc::EPOLLET | libc::EPOLLRDHUP;
    if interest.is_readable() {
        ev |= libc::EPOLLIN;
    }
    if interest.is_writable() {
        ev |= libc::EPOLLOUT;
    }
    ev as u32
}

fn readiness(events: u32) -> Readiness {
    let ev = events as i32;
    let mut r = Readiness::EMPTY;
    if ev & (libc::EPOLLIN | libc::EPOLLPRI) != 0 {
        r = r | Readiness::READABLE;
    }
    if ev & libc::EPOLLOUT != 0 {
        r = r | Readiness::WRITABLE;
    }
    if ev & (libc::EPOLLHUP | libc::EPOLLRDHUP) != 0 {
        r = r | Readiness::HUP;
    }
    if ev & libc::EPOLLERR != 0 {
        r = r | Readiness::ERROR;
    }
    r
}

impl Poller for EpollPoller {
    const NAME: &'static str = "epoll";
    const EDGE_TRIGGERED: bool = true;

    fn add(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        sys::ctl(self.ep.as_fd(), libc::EPOLL_CTL_ADD, fd, flags(interest), token.0 as u64)
    }

    fn modify(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        sys::ctl(self.ep.as_fd(), libc::EPOLL_CTL_MOD, fd, flags(interest), token.0 as u64)
    }

    fn delete(&mut self, fd: RawFd) -> io::Result<()> {
        sys::ctl(self.ep.as_fd(), libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    fn wait(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        let n = sys::wait(self.ep.as_fd(), &mut self.buf, timeout)?;
        events.extend(
            self.buf[..n]
                .iter()
                .map(|ev| Event { token: Token(ev.u64 as usize), readiness: readiness(ev.events) }),
        );
        Ok(())
    }
}
