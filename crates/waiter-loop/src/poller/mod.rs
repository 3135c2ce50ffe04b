//! The readiness backends and the small contract they share.
//!
//! A backend watches descriptors and reports which became ready. The loop
//! never sees an `epoll_event` or a `pollfd`: each backend translates the
//! kernel's answer into `(Token, Readiness)` pairs. Two backends exist, one
//! file each: [`epoll`](crate::Backend::Epoll) (the default: edge-triggered,
//! O(ready) per wait) and [`poll`](crate::Backend::Poll) (level-triggered,
//! O(registered) per wait; the first seed's contrast). Handlers read, accept
//! or write until `WouldBlock`, which is correct under both.

mod epoll;
mod poll;

use std::fmt;
use std::io;
use std::ops::BitOr;
use std::os::fd::RawFd;
use std::str::FromStr;
use std::time::Duration;

pub(crate) use self::epoll::EpollPoller;
pub(crate) use self::poll::PollPoller;

/// Identifies a registration in the events a backend reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token(pub usize);

/// What a registration wants to hear about. There is no "nothing": a
/// descriptor with no interest is deregistered instead.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(u8);

impl Interest {
    /// Readable (or: the peer hung up, or an error is pending).
    pub const READABLE: Interest = Interest(1);
    /// Writable (or: an error is pending).
    pub const WRITABLE: Interest = Interest(2);
    /// Both readable and writable.
    pub const BOTH: Interest = Interest(3);

    /// Whether readability is wanted.
    pub fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }

    /// Whether writability is wanted.
    pub fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }

    /// `self` without `other`, or `None` when nothing would be left.
    pub fn remove(self, other: Interest) -> Option<Interest> {
        let left = self.0 & !other.0;
        (left != 0).then_some(Interest(left))
    }
}

impl BitOr for Interest {
    type Output = Interest;

    /// The union of two interests.
    fn bitor(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("READABLE | WRITABLE"),
            (true, false) => f.write_str("READABLE"),
            _ => f.write_str("WRITABLE"),
        }
    }
}

/// What a backend saw on a descriptor.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Readiness(u8);

impl Readiness {
    /// Nothing.
    pub const EMPTY: Readiness = Readiness(0);
    /// Data (or an end-of-stream) can be read without blocking.
    pub const READABLE: Readiness = Readiness(1);
    /// Data can be written without blocking.
    pub const WRITABLE: Readiness = Readiness(2);
    /// The peer closed its side or the connection was torn down (`EPOLLHUP`/`EPOLLRDHUP`).
    pub const HUP: Readiness = Readiness(4);
    /// An error is pending on the descriptor (`EPOLLERR`/`POLLERR`).
    pub const ERROR: Readiness = Readiness(8);

    /// Whether a read may make progress (data, end-of-stream, hang-up or error).
    pub fn is_readable(self) -> bool {
        self.0 & (1 | 4 | 8) != 0
    }

    /// Whether a write may make progress (space, or an error to report).
    pub fn is_writable(self) -> bool {
        self.0 & (2 | 8) != 0
    }

    /// Whether the peer hung up.
    pub fn is_hup(self) -> bool {
        self.0 & 4 != 0
    }

    /// Whether an error is pending.
    pub fn is_error(self) -> bool {
        self.0 & 8 != 0
    }

    /// Whether nothing is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether this readiness serves `interest` at all.
    pub fn satisfies(self, interest: Interest) -> bool {
        (interest.is_readable() && self.is_readable()) || (interest.is_writable() && self.is_writable())
    }

    /// `self` without `other`.
    #[must_use]
    pub fn remove(self, other: Readiness) -> Readiness {
        Readiness(self.0 & !other.0)
    }
}

impl BitOr for Readiness {
    type Output = Readiness;

    /// The union of two readiness sets.
    fn bitor(self, other: Readiness) -> Readiness {
        Readiness(self.0 | other.0)
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [(1, "READABLE"), (2, "WRITABLE"), (4, "HUP"), (8, "ERROR")];
        let set: Vec<&str> = names.iter().filter(|(b, _)| self.0 & b != 0).map(|(_, n)| *n).collect();
        if set.is_empty() {
            f.write_str("EMPTY")
        } else {
            f.write_str(&set.join(" | "))
        }
    }
}

/// One readiness report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The token the descriptor was registered with.
    pub token: Token,
    /// What became ready.
    pub readiness: Readiness,
}

/// The contract every backend fulfils.
///
/// `add` registers a descriptor not yet registered; `modify` changes the
/// interest of a registered one; `delete` forgets it (before it is closed).
/// `wait` clears `events` and fills it with what is ready, blocking up to
/// `timeout` (`None`: until something is ready). Timeouts below the
/// backend's granularity round up, never down to a busy zero.
pub(crate) trait Poller {
    /// The backend's name, as `WAITER_BACKEND` spells it.
    const NAME: &'static str;
    /// Whether readiness is reported once per change (`true`) or for as long as it lasts.
    const EDGE_TRIGGERED: bool;

    /// Starts watching `fd`.
    fn add(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()>;
    /// Changes what `fd` is watched for.
    fn modify(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()>;
    /// Stops watching `fd`.
    fn delete(&mut self, fd: RawFd) -> io::Result<()>;
    /// Waits for readiness; see the trait documentation.
    fn wait(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()>;
}

/// Which readiness backend a loop uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// `epoll(7)`, edge-triggered; cost per wait grows with ready descriptors only.
    #[default]
    Epoll,
    /// `poll(2)`, level-triggered; cost per wait grows with every registered descriptor.
    Poll,
}

impl Backend {
    /// The backend named by `WAITER_BACKEND` (`epoll` or `poll`), or the default.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the variable names no backend.
    pub fn from_env() -> io::Result<Backend> {
        match std::env::var("WAITER_BACKEND") {
            Ok(name) => name.parse(),
            Err(_) => Ok(Backend::default()),
        }
    }

    /// The backend's name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Epoll => EpollPoller::NAME,
            Backend::Poll => PollPoller::NAME,
        }
    }
}

impl FromStr for Backend {
    type Err = io::Error;

    fn from_str(s: &str) -> io::Result<Backend> {
        match s.trim() {
            "epoll" => Ok(Backend::Epoll),
            "poll" => Ok(Backend::Poll),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown backend {other:?}: expected \"epoll\" or \"poll\""),
            )),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The backend a loop was built with; an enum rather than a trait object so
/// the per-tick calls are direct.
pub(crate) enum AnyPoller {
    Epoll(EpollPoller),
    Poll(PollPoller),
}

macro_rules! dispatch {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            AnyPoller::Epoll($p) => $e,
            AnyPoller::Poll($p) => $e,
        }
    };
}

impl AnyPoller {
    pub(crate) fn new(backend: Backend) -> io::Result<AnyPoller> {
        Ok(match backend {
            Backend::Epoll => AnyPoller::Epoll(EpollPoller::new()?),
            Backend::Poll => AnyPoller::Poll(PollPoller::new()),
        })
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            AnyPoller::Epoll(_) => Backend::Epoll,
            AnyPoller::Poll(_) => Backend::Poll,
        }
    }

    pub(crate) fn edge_triggered(&self) -> bool {
        match self {
            AnyPoller::Epoll(_) => EpollPoller::EDGE_TRIGGERED,
            AnyPoller::Poll(_) => PollPoller::EDGE_TRIGGERED,
        }
    }

    pub(crate) fn add(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        dispatch!(self, p => p.add(fd, token, interest))
    }

    pub(crate) fn modify(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        dispatch!(self, p => p.modify(fd, token, interest))
    }

    pub(crate) fn delete(&mut self, fd: RawFd) -> io::Result<()> {
        dispatch!(self, p => p.delete(fd))
    }

    pub(crate) fn wait(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        dispatch!(self, p => p.wait(events, timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interest_cannot_be_emptied() {
        assert_eq!(Interest::READABLE.remove(Interest::READABLE), None);
        assert_eq!(Interest::BOTH.remove(Interest::READABLE), Some(Interest::WRITABLE));
        assert_eq!(Interest::READABLE | Interest::WRITABLE, Interest::BOTH);
    }

    #[test]
    fn hup_and_error_count_as_readable() {
        assert!(Readiness::HUP.is_readable());
        assert!(Readiness::ERROR.is_writable());
        assert!(!Readiness::WRITABLE.is_readable());
        assert!(Readiness::READABLE.satisfies(Interest::READABLE));
        assert!(!Readiness::READABLE.satisfies(Interest::WRITABLE));
    }

    #[test]
    fn backend_names_round_trip() {
        for b in [Backend::Epoll, Backend::Poll] {
            assert_eq!(b.name().parse::<Backend>().unwrap(), b);
        }
        let err = "kqueue".parse::<Backend>().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("kqueue"), "{err}");
    }
}
