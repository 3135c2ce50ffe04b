//! Unix-domain streams on the loop: listeners on a path, connected pairs.
//!
//! Paths starting with a NUL byte name sockets in Linux's abstract namespace
//! (no file, gone with the last descriptor). A listener's socket file stays
//! when the listener is dropped, as with std: remove it before binding again.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::SocketAddr;
use std::path::Path;

use super::accept::{bind_context, Acceptor};
use super::stream::stream_methods;
use super::{context, impl_as_fd, SocketIo, StopHandle};
use crate::event_loop::Loop;
use crate::sys::net::{self as sys, SockAddr, SockType};

/// A Unix-domain socket listening for connections.
///
/// # Examples
///
/// ```
/// use waiter_loop::net::{UnixListener, UnixStream};
///
/// let path = std::env::temp_dir().join(format!("waiter-doc-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// let lp = waiter_loop::Loop::new().unwrap();
/// let listener = UnixListener::bind(&lp, &path).unwrap();
/// lp.block_on(async {
///     let client = UnixStream::connect(&lp, &path).await.unwrap();
///     let conn = listener.accept().await.unwrap();
///     client.write_all(b"hi").await.unwrap();
///     let mut buf = [0; 2];
///     assert_eq!(conn.read(&mut buf).await.unwrap(), 2);
/// });
/// std::fs::remove_file(&path).unwrap();
/// ```
#[derive(Debug)]
pub struct UnixListener {
    acceptor: Acceptor,
}

impl UnixListener {
    /// Listens on `path` with a backlog of 1024.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an empty path, one longer than 107 bytes, or one
    /// with a NUL byte inside; the kernel's error with the path (`AddrInUse`
    /// when the file exists, `NotFound` for a missing directory, ...).
    pub fn bind(lp: &Loop, path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let addr = SockAddr::unix(path.as_ref())?;
        let acceptor = Acceptor::bind(lp, &addr, &[], 1024).map_err(|e| bind_context(e, &addr))?;
        Ok(UnixListener { acceptor })
    }

    /// Adopts a listener made elsewhere (and switches it to non-blocking).
    ///
    /// # Errors
    ///
    /// The kernel refusing non-blocking mode, or the loop refusing the descriptor.
    pub fn from_std(lp: &Loop, listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Ok(UnixListener { acceptor: Acceptor::new(lp, listener.into())? })
    }

    /// Waits for the next connection. At the descriptor limit it behaves as
    /// [`TcpListener::accept`](super::TcpListener::accept) does: no
    /// spinning, and queued connections are closed rather than left hanging.
    ///
    /// # Errors
    ///
    /// Errors that accepting again would only repeat, with the listener's
    /// path; `Other` while another task is already accepting; `BrokenPipe`
    /// once the loop is gone.
    pub async fn accept(&self) -> io::Result<UnixStream> {
        self.acceptor.accept(accepted).await
    }

    /// The callback form (libuv's `uv_listen`): a task accepts and calls
    /// `on_connection` with each connection; after an error, passed on as
    /// well, it stops. Dropping the returned handle closes the listener.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the loop is gone.
    pub fn listen<F>(self, on_connection: F) -> io::Result<StopHandle>
    where
        F: FnMut(&Loop, io::Result<UnixStream>) + 'static,
    {
        self.acceptor.listen(accepted, on_connection)
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// The kernel's `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::unix_addr(self.acceptor.io().fd(), false)
    }
}

impl_as_fd!(UnixListener, listener => listener.acceptor.io());

fn accepted(lp: &Loop, fd: OwnedFd, _peer: SockAddr) -> io::Result<UnixStream> {
    Ok(UnixStream { io: SocketIo::new(lp, fd)? })
}

/// A Unix-domain stream: the methods of [`TcpStream`](super::TcpStream),
/// between processes (or tasks) of one machine.
///
/// # Examples
///
/// ```
/// use waiter_loop::net::UnixStream;
///
/// let lp = waiter_loop::Loop::new().unwrap();
/// let (a, b) = UnixStream::pair(&lp).unwrap();
/// lp.block_on(async {
///     a.write_all(b"ping").await.unwrap();
///     let mut buf = [0; 4];
///     assert_eq!(b.read(&mut buf).await.unwrap(), 4);
/// });
/// ```
#[derive(Debug)]
pub struct UnixStream {
    io: SocketIo,
}

impl UnixStream {
    /// Connects to the listener at `path`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a path that cannot be a socket address;
    /// `NotFound` when no socket file exists, `ConnectionRefused` when
    /// nothing listens on it or its backlog is full, with the path.
    pub async fn connect(lp: &Loop, path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = SockAddr::unix(path.as_ref())?;
        let io =
            SocketIo::connect(lp, &addr).await.map_err(|e| context(e, format_args!("connect to {addr}")))?;
        Ok(UnixStream { io })
    }

    /// Two streams connected to each other (`socketpair(2)`).
    ///
    /// # Errors
    ///
    /// The kernel's error (`EMFILE` at the descriptor limit, ...).
    pub fn pair(lp: &Loop) -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = sys::unix_pair(SockType::Stream).map_err(|e| context(e, format_args!("socketpair")))?;
        Ok((UnixStream { io: SocketIo::new(lp, a)? }, UnixStream { io: SocketIo::new(lp, b)? }))
    }

    /// Adopts a stream connected elsewhere (and switches it to non-blocking).
    ///
    /// # Errors
    ///
    /// The kernel refusing non-blocking mode, or the loop refusing the descriptor.
    pub fn from_std(lp: &Loop, stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream { io: SocketIo::new(lp, stream.into())? })
    }

    /// This end's address (usually unnamed for a connecting side).
    ///
    /// # Errors
    ///
    /// The kernel's `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::unix_addr(self.io.fd(), false)
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the connection is gone.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sys::unix_addr(self.io.fd(), true)
    }
}

stream_methods!(UnixStream);
