//! TCP on the loop: listeners that accept without spinning at the descriptor
//! limit, and streams with `writev`, `sendmsg` with `MSG_MORE`, `sendfile`,
//! `TCP_NODELAY` and `TCP_CORK`.

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use super::accept::{bind_context, Acceptor};
use super::stream::stream_methods;
use super::{context, impl_as_fd, SocketIo, StopHandle};
use crate::event_loop::Loop;
use crate::sys::net::{self as sys, IntOpt, SockAddr, SockOpt};

/// How a [`TcpListener`] listens; see [`TcpListener::bind_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenOptions {
    /// The accept queue's length (`listen(2)`'s backlog; the kernel caps it at
    /// `net.core.somaxconn`). Default 1024.
    pub backlog: u32,
    /// `SO_REUSEPORT`: lets several listeners (one per loop and thread, in
    /// nginx's worker model) bind the same address, the kernel spreading
    /// connections among them. Default off.
    pub reuse_port: bool,
}

impl Default for ListenOptions {
    fn default() -> ListenOptions {
        ListenOptions { backlog: 1024, reuse_port: false }
    }
}

/// A TCP socket listening for connections.
///
/// At the descriptor limit (`EMFILE`) it closes queued connections at once
/// rather than spinning or leaving them hanging; see [`accept`](TcpListener::accept).
///
/// # Examples
///
/// ```
/// use waiter_loop::net::{TcpListener, TcpStream};
///
/// let lp = waiter_loop::Loop::new().unwrap();
/// let listener = TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap()).unwrap();
/// let addr = listener.local_addr().unwrap();
/// lp.block_on(async {
///     let client = TcpStream::connect(&lp, addr).await.unwrap();
///     let (conn, peer) = listener.accept().await.unwrap();
///     assert_eq!(peer, client.local_addr().unwrap());
///     assert_eq!(conn.peer_addr().unwrap(), peer);
/// });
/// ```
#[derive(Debug)]
pub struct TcpListener {
    acceptor: Acceptor,
}

impl TcpListener {
    /// Listens on `addr` with `SO_REUSEADDR` and a backlog of 1024. Port 0
    /// picks a free port; [`local_addr`](TcpListener::local_addr) says which.
    ///
    /// Takes a `SocketAddr` rather than a host name, which would need a
    /// blocking DNS lookup: parse one with `"127.0.0.1:7000".parse()`.
    ///
    /// # Errors
    ///
    /// The kernel's error with the address: `AddrInUse`,
    /// `PermissionDenied` for a privileged port, and so on.
    pub fn bind(lp: &Loop, addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind_with(lp, addr, ListenOptions::default())
    }

    /// Listens on `addr` with `SO_REUSEADDR` and `options`.
    ///
    /// # Errors
    ///
    /// As [`bind`](TcpListener::bind).
    pub fn bind_with(lp: &Loop, addr: SocketAddr, options: ListenOptions) -> io::Result<TcpListener> {
        let sock_addr = SockAddr::inet(addr);
        let reuse: &[SockOpt] = if options.reuse_port {
            &[SockOpt::ReuseAddr, SockOpt::ReusePort]
        } else {
            &[SockOpt::ReuseAddr]
        };
        let acceptor = Acceptor::bind(lp, &sock_addr, reuse, options.backlog)
            .map_err(|e| bind_context(e, &sock_addr))?;
        Ok(TcpListener { acceptor })
    }

    /// Adopts a listener made elsewhere (and switches it to non-blocking).
    ///
    /// # Errors
    ///
    /// The kernel refusing non-blocking mode, or the loop refusing the descriptor.
    pub fn from_std(lp: &Loop, listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener { acceptor: Acceptor::new(lp, listener.into())? })
    }

    /// Waits for the next connection and returns it with the peer's address.
    ///
    /// At the descriptor limit (`EMFILE`, `ENFILE`) this never fails and
    /// never spins: queued connections are accepted into a reserved
    /// descriptor and closed at once (libuv's trick), so their clients read
    /// end-of-stream; failing that, accepting pauses for 100 ms at a time
    /// (nginx's answer). Connections that died in the queue are skipped.
    ///
    /// # Errors
    ///
    /// Errors that accepting again would only repeat, with the listener's
    /// address; `Other` while another task is already accepting;
    /// `BrokenPipe` once the loop is gone.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.acceptor.accept(accepted).await
    }

    /// The callback form (libuv's `uv_listen`, Node's `'connection'`
    /// event): a task accepts as [`accept`](TcpListener::accept) does and
    /// calls `on_connection` with each connection. After an error, passed on
    /// as well, it stops. Dropping the returned handle closes the listener.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the loop is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use waiter_loop::net::{TcpListener, TcpStream};
    ///
    /// let lp = waiter_loop::Loop::new().unwrap();
    /// let listener = TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let accepted = Rc::new(Cell::new(0));
    /// let count = accepted.clone();
    /// let handle = listener.listen(move |_lp, conn| {
    ///     conn.unwrap();
    ///     count.set(count.get() + 1);
    /// }).unwrap();
    /// lp.block_on(async {
    ///     let _client = TcpStream::connect(&lp, addr).await.unwrap();
    ///     while accepted.get() == 0 {
    ///         waiter_loop::sleep(std::time::Duration::from_millis(1)).unwrap().await;
    ///     }
    /// });
    /// handle.stop();
    /// ```
    pub fn listen<F>(self, on_connection: F) -> io::Result<StopHandle>
    where
        F: FnMut(&Loop, io::Result<(TcpStream, SocketAddr)>) + 'static,
    {
        self.acceptor.listen(accepted, on_connection)
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// The kernel's `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::local_addr(self.acceptor.io().fd())?.to_inet()
    }
}

impl_as_fd!(TcpListener, listener => listener.acceptor.io());

fn accepted(lp: &Loop, fd: OwnedFd, peer: SockAddr) -> io::Result<(TcpStream, SocketAddr)> {
    Ok((TcpStream { io: SocketIo::new(lp, fd)? }, peer.to_inet()?))
}

/// A TCP connection.
///
/// Reading and writing take `&self`, so a reader task and a writer task
/// may share the stream (through an `Rc`); one task at a time may wait in
/// each direction.
///
/// # Examples
///
/// ```no_run
/// use waiter_loop::net::TcpStream;
///
/// let lp = waiter_loop::Loop::new().unwrap();
/// lp.block_on(async {
///     let stream = TcpStream::connect(&lp, "127.0.0.1:7000".parse().unwrap()).await?;
///     stream.set_nodelay(true)?;
///     stream.write_all(b"hello\n").await?;
///     let mut buf = [0; 64];
///     let n = stream.read(&mut buf).await?;
///     println!("echoed: {:?}", &buf[..n]);
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct TcpStream {
    io: SocketIo,
}

impl TcpStream {
    /// Connects to `addr`, waiting for the handshake without blocking the loop.
    ///
    /// # Errors
    ///
    /// The kernel's error with the address: `ConnectionRefused` when nothing
    /// listens there, `TimedOut`, `NetworkUnreachable`, ...
    pub async fn connect(lp: &Loop, addr: SocketAddr) -> io::Result<TcpStream> {
        let io = SocketIo::connect(lp, &SockAddr::inet(addr))
            .await
            .map_err(|e| context(e, format_args!("connect to {addr}")))?;
        Ok(TcpStream { io })
    }

    /// Adopts a stream connected elsewhere (and switches it to non-blocking).
    ///
    /// # Errors
    ///
    /// The kernel refusing non-blocking mode, or the loop refusing the descriptor.
    pub fn from_std(lp: &Loop, stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream { io: SocketIo::new(lp, stream.into())? })
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the connection is gone.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sys::peer_addr(self.io.fd())?.to_inet()
    }

    /// This end's address.
    ///
    /// # Errors
    ///
    /// The kernel's `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::local_addr(self.io.fd())?.to_inet()
    }

    /// Sets `TCP_NODELAY`: small writes leave at once instead of waiting for
    /// earlier data to be acknowledged (Nagle's algorithm).
    ///
    /// # Errors
    ///
    /// The kernel's `setsockopt` error.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        sys::set_opt(self.io.fd(), SockOpt::NoDelay, on)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// The kernel's `getsockopt` error.
    pub fn nodelay(&self) -> io::Result<bool> {
        sys::opt(self.io.fd(), SockOpt::NoDelay)
    }

    /// Sets `TCP_CORK`: while on, partial segments wait (up to 200 ms) so
    /// that headers and a body written separately leave in full segments;
    /// turning it off sends what waits.
    ///
    /// # Errors
    ///
    /// The kernel's `setsockopt` error.
    pub fn set_cork(&self, on: bool) -> io::Result<()> {
        sys::set_opt(self.io.fd(), SockOpt::Cork, on)
    }

    /// Writes some of `bufs` with one `sendmsg(2)` flagged `MSG_MORE` (at
    /// most 1,024 slices) and returns how much was written: like
    /// [`writev`](Self::writev), but a last partial segment is held, as
    /// under [`set_cork`](Self::set_cork), for the bytes the next write or
    /// [`sendfile`](Self::sendfile) adds, so a response head shares its
    /// first segment with the body, at no extra system call. The hold ends
    /// with the next write sent without the flag (a `sendfile` pushes its
    /// last bytes), or, if none comes, when the kernel's probe timer fires.
    ///
    /// Measured against the `set_cork` pair for a 100 KiB response (head,
    /// then `sendfile`), the two `setsockopt`s go but segments per response
    /// rise from 4.1 to 4.6: each `sendfile` that stops early for want of
    /// room pushes its partial last segment, which a cork would hold. So
    /// `waiter serve` keeps the cork; this suits a head followed by one
    /// write that completes.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write).
    pub async fn writev_more(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.io.writev_more(bufs).await
    }

    /// Sets `TCP_NOTSENT_LOWAT`: the socket reports writable, and a write
    /// or `sendfile` takes bytes, only while less than `bytes` of what is
    /// queued has not been sent yet. Keeps the unsent queue short, so the
    /// data leaves from the writer's own call rather than piling up for the
    /// acknowledgements to push out later.
    ///
    /// # Errors
    ///
    /// The kernel's `setsockopt` error.
    pub fn set_notsent_lowat(&self, bytes: u32) -> io::Result<()> {
        sys::set_int_opt(self.io.fd(), IntOpt::NotSentLowat, bytes.min(i32::MAX as u32) as i32)
    }

    /// Sets `SO_RCVLOWAT`: the socket reports readable, and a read returns,
    /// only once `bytes` are queued (or the peer has ended the stream), so a
    /// reader that wants a batch is not woken for each small arrival. 1 is
    /// the kernel's default.
    ///
    /// # Errors
    ///
    /// The kernel's `setsockopt` error.
    pub fn set_recv_lowat(&self, bytes: u32) -> io::Result<()> {
        sys::set_int_opt(self.io.fd(), IntOpt::RecvLowat, bytes.clamp(1, i32::MAX as u32) as i32)
    }

    /// Sets `SO_KEEPALIVE`: the kernel probes an idle connection, so a peer
    /// that vanished without a word is eventually noticed (after about two
    /// hours by default).
    ///
    /// # Errors
    ///
    /// The kernel's `setsockopt` error.
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        sys::set_opt(self.io.fd(), SockOpt::KeepAlive, on)
    }

    /// Sets when [`set_keepalive`](Self::set_keepalive)'s probes go out:
    /// after `idle` without traffic (`TCP_KEEPIDLE`), then every `interval`
    /// (`TCP_KEEPINTVL`), the connection failing after `count` unanswered
    /// ones (`TCP_KEEPCNT`). `None` keeps the system's setting (on Linux
    /// 7,200 s, 75 s and 9). Times are in whole seconds, a fraction rounded up.
    ///
    /// # Errors
    ///
    /// The kernel's `setsockopt` error (`EINVAL` past its bounds: 32,767 s, 127 probes).
    pub fn set_keepalive_timing(
        &self,
        idle: Option<std::time::Duration>,
        interval: Option<std::time::Duration>,
        count: Option<u32>,
    ) -> io::Result<()> {
        let secs = |d: std::time::Duration| {
            let up = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
            i32::try_from(up).unwrap_or(i32::MAX)
        };
        let fd = self.io.fd();
        let settings = [
            (IntOpt::KeepIdle, idle.map(secs)),
            (IntOpt::KeepInterval, interval.map(secs)),
            (IntOpt::KeepCount, count.map(|n| i32::try_from(n).unwrap_or(i32::MAX))),
        ];
        for (opt, value) in settings {
            if let Some(value) = value {
                sys::set_int_opt(fd, opt, value)?;
            }
        }
        Ok(())
    }
}

stream_methods!(TcpStream);
