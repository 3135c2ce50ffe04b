//! Socket system calls: creation, addresses, options, and the transfers the sockets above make.
//!
//! Sockets are created `CLOEXEC | NONBLOCK` in the creating call itself, so no
//! forked child inherits one and no `fcntl` follows each `socket` or `accept4`.
//! Addresses cross this boundary as [`SockAddr`] (a `sockaddr_storage` and the
//! length in use), converted to and from `std::net::SocketAddr` here and
//! nowhere else.

use std::fmt;
use std::io;
use std::mem::{self, ManuallyDrop};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net as unix;
use std::path::Path;

use super::{cvt, cvt_retry, owned};

/// A socket address as the kernel takes it.
#[derive(Clone)]
pub(crate) struct SockAddr {
    storage: libc::sockaddr_storage,
    /// INVARIANT: `len <= size_of::<sockaddr_storage>()`.
    len: libc::socklen_t,
}

const STORAGE_LEN: libc::socklen_t = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;

/// Where `sun_path` starts inside `sockaddr_un`.
const SUN_PATH_OFFSET: usize = mem::offset_of!(libc::sockaddr_un, sun_path);

impl SockAddr {
    /// An all-zero address with room for any family, as `accept4` and `getsockname` want.
    fn empty() -> SockAddr {
        // SAFETY: sockaddr_storage is plain data, for which all zeroes is a valid value (AF_UNSPEC).
        SockAddr { storage: unsafe { mem::zeroed() }, len: STORAGE_LEN }
    }

    /// Copies `raw`, a `sockaddr_*` of some family, into a `SockAddr` of length `len`.
    fn from_raw<T: Copy>(raw: T, len: usize) -> SockAddr {
        assert!(
            len <= mem::size_of::<T>() && mem::size_of::<T>() <= STORAGE_LEN as usize,
            "a sockaddr of {len} bytes in a {}-byte type",
            mem::size_of::<T>()
        );
        let mut addr = SockAddr::empty();
        // SAFETY: sockaddr_storage is sized and aligned for every sockaddr type (that is
        // its purpose) and `T` was checked to fit; `write` does not read the old bytes.
        unsafe { std::ptr::write((&mut addr.storage as *mut libc::sockaddr_storage).cast::<T>(), raw) };
        addr.len = len as libc::socklen_t;
        addr
    }

    /// Reads the storage as `T`; callers check the family and length first.
    fn load<T: Copy>(&self) -> T {
        assert!(mem::size_of::<T>() <= STORAGE_LEN as usize, "a sockaddr type larger than the storage");
        // SAFETY: the storage is sized and aligned for `T` (checked above), fully
        // initialised (zeroed at creation), and `T` is a plain-data sockaddr type.
        unsafe { std::ptr::read((&self.storage as *const libc::sockaddr_storage).cast::<T>()) }
    }

    /// An IPv4 or IPv6 address.
    pub(crate) fn inet(addr: SocketAddr) -> SockAddr {
        match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    // The octets are already in network order; keep them as they lie in memory.
                    sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                    sin_zero: [0; 8],
                };
                SockAddr::from_raw(sin, mem::size_of::<libc::sockaddr_in>())
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    // As std does: flow info and scope id pass through unconverted.
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                    sin6_scope_id: a.scope_id(),
                };
                SockAddr::from_raw(sin6, mem::size_of::<libc::sockaddr_in6>())
            }
        }
    }

    /// A Unix-domain address: a filesystem path, or a name in Linux's
    /// abstract namespace when the path starts with a NUL byte.
    pub(crate) fn unix(path: &Path) -> io::Result<SockAddr> {
        let bytes = path.as_os_str().as_bytes();
        let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
        // SAFETY: sockaddr_un is plain data, for which all zeroes is a valid value.
        let mut sun: libc::sockaddr_un = unsafe { mem::zeroed() };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let is_abstract = bytes.first() == Some(&0);
        // A path needs room for its terminating NUL; an abstract name is all name.
        let used = bytes.len() + usize::from(!is_abstract);
        if bytes.is_empty() {
            return Err(invalid("a Unix socket path must not be empty".into()));
        }
        if used > sun.sun_path.len() {
            return Err(invalid(format!(
                "Unix socket path {path:?} is {} bytes; sockaddr_un holds {}",
                bytes.len(),
                sun.sun_path.len() - 1
            )));
        }
        if !is_abstract && bytes.contains(&0) {
            return Err(invalid(format!("Unix socket path {path:?} contains a NUL byte")));
        }
        for (dst, src) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        Ok(SockAddr::from_raw(sun, SUN_PATH_OFFSET + used))
    }

    /// The address family (`AF_INET`, `AF_INET6`, `AF_UNIX`).
    pub(crate) fn family(&self) -> libc::c_int {
        libc::c_int::from(self.storage.ss_family)
    }

    /// The address as std's `SocketAddr`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a family other than IPv4 and IPv6.
    pub(crate) fn to_inet(&self) -> io::Result<SocketAddr> {
        let len = self.len as usize;
        match self.family() {
            libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
                let sin: libc::sockaddr_in = self.load();
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Ok(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
                let sin6: libc::sockaddr_in6 = self.load();
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                let port = u16::from_be(sin6.sin6_port);
                Ok(SocketAddr::V6(SocketAddrV6::new(ip, port, sin6.sin6_flowinfo, sin6.sin6_scope_id)))
            }
            family => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("address family {family} ({len} bytes) is not IPv4 or IPv6"),
            )),
        }
    }

    fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&mut self.storage as *mut libc::sockaddr_storage).cast()
    }
}

impl fmt::Display for SockAddr {
    /// `127.0.0.1:80`, `[::1]:80`, `/run/app.sock`, `@abstract`, or `(unnamed)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.family() != libc::AF_UNIX {
            return match self.to_inet() {
                Ok(addr) => addr.fmt(f),
                Err(_) => write!(f, "(address family {})", self.family()),
            };
        }
        let sun: libc::sockaddr_un = self.load();
        let used = (self.len as usize).saturating_sub(SUN_PATH_OFFSET).min(sun.sun_path.len());
        let name: Vec<u8> = sun.sun_path[..used].iter().map(|&c| c as u8).collect();
        match name.split_first() {
            None => f.write_str("(unnamed)"),
            Some((0, rest)) => write!(f, "@{}", String::from_utf8_lossy(rest)),
            Some(_) => {
                let path = name.split(|&b| b == 0).next().unwrap_or_default();
                f.write_str(&String::from_utf8_lossy(path))
            }
        }
    }
}

impl fmt::Debug for SockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SockAddr({self})")
    }
}

/// The kinds of socket the loop makes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SockType {
    /// `SOCK_STREAM`: TCP, or a Unix stream.
    Stream,
    /// `SOCK_DGRAM`: UDP.
    Datagram,
}

impl SockType {
    fn flags(self) -> libc::c_int {
        let ty = match self {
            SockType::Stream => libc::SOCK_STREAM,
            SockType::Datagram => libc::SOCK_DGRAM,
        };
        ty | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK
    }
}

/// `socket(2)` of the family of `addr`, `CLOEXEC | NONBLOCK`.
pub(crate) fn socket(addr: &SockAddr, ty: SockType) -> io::Result<OwnedFd> {
    // SAFETY: socket takes no pointers.
    let fd = cvt(unsafe { libc::socket(addr.family(), ty.flags(), 0) })?;
    Ok(owned(fd))
}

/// `socketpair(AF_UNIX)`, `CLOEXEC | NONBLOCK`: two connected Unix sockets.
pub(crate) fn unix_pair(ty: SockType) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` is a live array of the two ints socketpair writes.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, ty.flags(), 0, fds.as_mut_ptr()) })?;
    Ok((owned(fds[0]), owned(fds[1])))
}

/// `bind(2)`.
pub(crate) fn bind(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    // SAFETY: `addr` points to `addr.len` initialised bytes of a sockaddr.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), addr.as_ptr(), addr.len) }).map(drop)
}

/// `listen(2)`; the kernel caps `backlog` at `net.core.somaxconn`.
pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: u32) -> io::Result<()> {
    let backlog = backlog.min(libc::c_int::MAX as u32) as libc::c_int;
    // SAFETY: listen takes no pointers.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) }).map(drop)
}

/// `accept4(2)`, `CLOEXEC | NONBLOCK`: the connection and its peer's address.
pub(crate) fn accept(fd: BorrowedFd<'_>) -> io::Result<(OwnedFd, SockAddr)> {
    let mut addr = SockAddr::empty();
    let conn = cvt_retry(|| {
        addr.len = STORAGE_LEN;
        let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
        // SAFETY: the storage is writable for `addr.len` bytes; the kernel writes at
        // most that many and stores the length it used in `addr.len`.
        unsafe { libc::accept4(fd.as_raw_fd(), addr.as_mut_ptr(), &mut addr.len, flags) }
    })?;
    addr.len = addr.len.min(STORAGE_LEN);
    Ok((owned(conn), addr))
}

/// Starts connecting `fd` to `addr`: `Ok(true)` when connected at once,
/// `Ok(false)` while the connection is in progress (`EINPROGRESS`). The
/// socket then becomes writable, and [`take_error`] says how it ended.
pub(crate) fn connect(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<bool> {
    // SAFETY: `addr` points to `addr.len` initialised bytes of a sockaddr.
    match cvt(unsafe { libc::connect(fd.as_raw_fd(), addr.as_ptr(), addr.len) }) {
        Ok(_) => Ok(true),
        // A signal does not abort a non-blocking connect: it goes on in the
        // background exactly as after EINPROGRESS (retrying would say EALREADY).
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINPROGRESS | libc::EINTR)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads and clears the socket's pending error (`SO_ERROR`).
pub(crate) fn take_error(fd: BorrowedFd<'_>) -> io::Result<Option<io::Error>> {
    let err = getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok((err != 0).then(|| io::Error::from_raw_os_error(err)))
}

/// `getsockname(2)`.
pub(crate) fn local_addr(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    // SAFETY: the storage is writable for `addr.len` bytes; the kernel writes at most that.
    cvt(unsafe { libc::getsockname(fd.as_raw_fd(), addr.as_mut_ptr(), &mut addr.len) })?;
    addr.len = addr.len.min(STORAGE_LEN);
    Ok(addr)
}

/// `getpeername(2)`; `ENOTCONN` while not (or no longer) connected.
pub(crate) fn peer_addr(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    // SAFETY: the storage is writable for `addr.len` bytes; the kernel writes at most that.
    cvt(unsafe { libc::getpeername(fd.as_raw_fd(), addr.as_mut_ptr(), &mut addr.len) })?;
    addr.len = addr.len.min(STORAGE_LEN);
    Ok(addr)
}

/// The local (or, with `peer`, the remote) address of a Unix socket in std's
/// type, which alone can spell unnamed and abstract addresses (std offers no
/// constructor for them): std asks the kernel itself through a borrowed socket.
pub(crate) fn unix_addr(fd: BorrowedFd<'_>, peer: bool) -> io::Result<unix::SocketAddr> {
    // SAFETY: `fd` is open for the whole borrow, and ManuallyDrop keeps the temporary
    // std socket from ever closing it: std only calls getsockname/getpeername on it.
    let sock = ManuallyDrop::new(unsafe { unix::UnixStream::from_raw_fd(fd.as_raw_fd()) });
    if peer {
        sock.peer_addr()
    } else {
        sock.local_addr()
    }
}

/// The on/off socket options the loop's sockets set.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SockOpt {
    /// `SO_REUSEADDR`: rebind a port whose old connections sit in TIME_WAIT.
    ReuseAddr,
    /// `SO_REUSEPORT`: several listeners (one per loop) share a port; the kernel spreads connections.
    ReusePort,
    /// `TCP_NODELAY`: send small segments at once instead of waiting (Nagle).
    NoDelay,
    /// `TCP_CORK`: hold partial segments until uncorked (headers and body in full frames).
    Cork,
    /// `SO_KEEPALIVE`: probe idle connections so a vanished peer is noticed.
    KeepAlive,
}

impl SockOpt {
    fn level_and_name(self) -> (libc::c_int, libc::c_int) {
        match self {
            SockOpt::ReuseAddr => (libc::SOL_SOCKET, libc::SO_REUSEADDR),
            SockOpt::ReusePort => (libc::SOL_SOCKET, libc::SO_REUSEPORT),
            SockOpt::NoDelay => (libc::IPPROTO_TCP, libc::TCP_NODELAY),
            SockOpt::Cork => (libc::IPPROTO_TCP, libc::TCP_CORK),
            SockOpt::KeepAlive => (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
        }
    }
}

/// Turns `opt` on or off.
pub(crate) fn set_opt(fd: BorrowedFd<'_>, opt: SockOpt, on: bool) -> io::Result<()> {
    let (level, name) = opt.level_and_name();
    setsockopt_int(fd, level, name, libc::c_int::from(on))
}

/// The sized socket options the loop's sockets set.
#[derive(Clone, Copy, Debug)]
pub(crate) enum IntOpt {
    /// `TCP_NOTSENT_LOWAT`: the socket is writable (and a write takes bytes)
    /// only while less than this much queued data is still unsent.
    NotSentLowat,
    /// `SO_RCVLOWAT`: the socket is readable (and a read returns) only once
    /// this much is queued, or at its end.
    RecvLowat,
    /// `TCP_KEEPIDLE`: seconds without traffic before the first keepalive probe.
    KeepIdle,
    /// `TCP_KEEPINTVL`: seconds between keepalive probes.
    KeepInterval,
    /// `TCP_KEEPCNT`: unanswered keepalive probes before the connection fails.
    KeepCount,
}

/// Sets `opt` to `value`.
pub(crate) fn set_int_opt(fd: BorrowedFd<'_>, opt: IntOpt, value: libc::c_int) -> io::Result<()> {
    let (level, name) = match opt {
        IntOpt::NotSentLowat => (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT),
        IntOpt::RecvLowat => (libc::SOL_SOCKET, libc::SO_RCVLOWAT),
        IntOpt::KeepIdle => (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
        IntOpt::KeepInterval => (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
        IntOpt::KeepCount => (libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
    };
    setsockopt_int(fd, level, name, value)
}

fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    let len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a live c_int passed with its size; the kernel copies it.
    cvt(unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (&value as *const libc::c_int).cast(), len) })
        .map(drop)
}

/// Whether `opt` is on.
pub(crate) fn opt(fd: BorrowedFd<'_>, opt: SockOpt) -> io::Result<bool> {
    let (level, name) = opt.level_and_name();
    Ok(getsockopt_int(fd, level, name)? != 0)
}

fn getsockopt_int(fd: BorrowedFd<'_>, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a live, writable c_int and `len` its size; the kernel writes at most `len` bytes.
    cvt(unsafe {
        libc::getsockopt(fd.as_raw_fd(), level, name, (&mut value as *mut libc::c_int).cast(), &mut len)
    })?;
    Ok(value)
}

/// `send(2)` with `MSG_NOSIGNAL`: a closed peer is an `EPIPE` error, never a SIGPIPE.
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    cvt_retry(|| {
        // SAFETY: `buf` is a live slice of `buf.len()` bytes.
        unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) }
    })
    .map(|n| n as usize)
}

/// `sendto(2)` with `MSG_NOSIGNAL`: one datagram to `addr`.
pub(crate) fn send_to(fd: BorrowedFd<'_>, buf: &[u8], addr: &SockAddr) -> io::Result<usize> {
    cvt_retry(|| {
        // SAFETY: `buf` is a live slice of `buf.len()` bytes; `addr` points to `addr.len` initialised bytes.
        unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_NOSIGNAL,
                addr.as_ptr(),
                addr.len,
            )
        }
    })
    .map(|n| n as usize)
}

/// `recvfrom(2)`: one datagram (truncated to `buf`) and its sender.
pub(crate) fn recv_from(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, SockAddr)> {
    let mut addr = SockAddr::empty();
    let n = cvt_retry(|| {
        addr.len = STORAGE_LEN;
        // SAFETY: `buf` is a live, writable slice of `buf.len()` bytes; the storage is
        // writable for `addr.len` bytes and the kernel writes at most that many.
        unsafe {
            libc::recvfrom(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                addr.as_mut_ptr(),
                &mut addr.len,
            )
        }
    })?;
    addr.len = addr.len.min(STORAGE_LEN);
    Ok((n as usize, addr))
}

/// `shutdown(2)`: ends reading, writing (sends FIN), or both.
pub(crate) fn shutdown(fd: BorrowedFd<'_>, how: Shutdown) -> io::Result<()> {
    let how = match how {
        Shutdown::Read => libc::SHUT_RD,
        Shutdown::Write => libc::SHUT_WR,
        Shutdown::Both => libc::SHUT_RDWR,
    };
    // SAFETY: shutdown takes no pointers.
    cvt(unsafe { libc::shutdown(fd.as_raw_fd(), how) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_water_marks_are_set() {
        use std::os::fd::AsFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        set_int_opt(stream.as_fd(), IntOpt::NotSentLowat, 16384).unwrap();
        assert_eq!(
            getsockopt_int(stream.as_fd(), libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT).unwrap(),
            16384
        );
        set_int_opt(stream.as_fd(), IntOpt::RecvLowat, 4096).unwrap();
        assert_eq!(getsockopt_int(stream.as_fd(), libc::SOL_SOCKET, libc::SO_RCVLOWAT).unwrap(), 4096);
    }

    #[test]
    fn keepalive_timing_is_set() {
        use std::os::fd::AsFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let tcp = |name| getsockopt_int(stream.as_fd(), libc::IPPROTO_TCP, name).unwrap();
        let before = (tcp(libc::TCP_KEEPIDLE), tcp(libc::TCP_KEEPINTVL), tcp(libc::TCP_KEEPCNT));
        assert_ne!(before, (11, 5, 4));
        set_int_opt(stream.as_fd(), IntOpt::KeepIdle, 11).unwrap();
        set_int_opt(stream.as_fd(), IntOpt::KeepInterval, 5).unwrap();
        set_int_opt(stream.as_fd(), IntOpt::KeepCount, 4).unwrap();
        assert_eq!((tcp(libc::TCP_KEEPIDLE), tcp(libc::TCP_KEEPINTVL), tcp(libc::TCP_KEEPCNT)), (11, 5, 4));
    }

    #[test]
    fn inet_addresses_round_trip() {
        for s in ["127.0.0.1:80", "0.0.0.0:0", "255.1.2.3:65535", "[::1]:443", "[fe80::1%3]:8080"] {
            let addr: SocketAddr = s.parse().unwrap();
            let raw = SockAddr::inet(addr);
            assert_eq!(raw.to_inet().unwrap(), addr, "{s}");
            assert_eq!(raw.to_string(), addr.to_string(), "{s}");
        }
    }

    #[test]
    fn unix_paths_are_checked() {
        let addr = SockAddr::unix(Path::new("/run/app.sock")).unwrap();
        assert_eq!(addr.family(), libc::AF_UNIX);
        assert_eq!(addr.to_string(), "/run/app.sock");
        assert_eq!(SockAddr::unix(Path::new("\0name")).unwrap().to_string(), "@name");
        let long = "x".repeat(108);
        let err = SockAddr::unix(Path::new(&long)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("108 bytes"), "{err}");
        assert!(SockAddr::unix(Path::new(&long[..107])).is_ok());
        assert_eq!(SockAddr::unix(Path::new("")).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert!(SockAddr::unix(Path::new("a\0b")).is_err());
        assert!(addr.to_inet().is_err());
    }
}
