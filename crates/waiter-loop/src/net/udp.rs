//! UDP on the loop: datagrams to and from any address, or to one connected peer.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::rc::Rc;

use super::{context, impl_as_fd, spawn_stoppable, SocketIo, StopHandle};
use crate::event_loop::Loop;
use crate::poller::Interest;
use crate::sys::net::{self as sys, SockAddr, SockType};

/// A UDP socket.
///
/// Every method takes `&self`; one task at a time may wait to receive and
/// one to send.
///
/// # Examples
///
/// ```
/// use waiter_loop::net::UdpSocket;
///
/// let lp = waiter_loop::Loop::new().unwrap();
/// let a = UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap()).unwrap();
/// let b = UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap()).unwrap();
/// lp.block_on(async {
///     a.send_to(b"ping", b.local_addr().unwrap()).await.unwrap();
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf).await.unwrap();
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr().unwrap()));
/// });
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    io: SocketIo,
}

impl UdpSocket {
    /// Binds a UDP socket to `addr` (port 0 picks a free port).
    ///
    /// # Errors
    ///
    /// The kernel's error with the address: `AddrInUse`, `PermissionDenied`, ...
    pub fn bind(lp: &Loop, addr: SocketAddr) -> io::Result<UdpSocket> {
        let sock_addr = SockAddr::inet(addr);
        let bound = sys::socket(&sock_addr, SockType::Datagram).and_then(|fd| {
            sys::bind(fd.as_fd(), &sock_addr)?;
            SocketIo::new(lp, fd)
        });
        Ok(UdpSocket { io: bound.map_err(|e| context(e, format_args!("bind {addr}")))? })
    }

    /// Adopts a socket made elsewhere (and switches it to non-blocking).
    ///
    /// # Errors
    ///
    /// The kernel refusing non-blocking mode, or the loop refusing the descriptor.
    pub fn from_std(lp: &Loop, socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket { io: SocketIo::new(lp, socket.into())? })
    }

    /// Sends one datagram to `addr` and returns its length.
    ///
    /// # Errors
    ///
    /// The kernel's error with the address (`EMSGSIZE` for an oversized
    /// datagram, for instance); `Other` while another task
    /// is already sending; `BrokenPipe` once the loop is gone.
    pub async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        let to = SockAddr::inet(addr);
        self.io
            .once(Interest::WRITABLE, |fd| sys::send_to(fd, buf, &to))
            .await
            .map_err(|e| context(e, format_args!("send to {addr}")))
    }

    /// Waits for one datagram and returns its length and sender. A datagram
    /// longer than `buf` is truncated (its tail is lost).
    ///
    /// # Errors
    ///
    /// The kernel's error with the socket's address; `Other` while another
    /// task is already receiving; `BrokenPipe` once the loop is gone.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self
            .io
            .once(Interest::READABLE, |fd| sys::recv_from(fd, buf))
            .await
            .map_err(|e| self.io.context("recv", e))?;
        Ok((n, from.to_inet()?))
    }

    /// Sets the default destination of [`send`](UdpSocket::send) and
    /// filters what [`recv`](UdpSocket::recv) gets to datagrams from `addr`.
    /// No packet is sent: UDP's connect completes at once.
    ///
    /// # Errors
    ///
    /// The kernel's error with the address (`NetworkUnreachable`, ...).
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        sys::connect(self.io.fd(), &SockAddr::inet(addr))
            .map(drop)
            .map_err(|e| context(e, format_args!("connect to {addr}")))
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// `NotConnected` before [`connect`](UdpSocket::connect);
    /// `ConnectionRefused` when an earlier datagram drew an ICMP "port
    /// unreachable"; otherwise as [`send_to`](UdpSocket::send_to).
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io
            .once(Interest::WRITABLE, |fd| sys::send(fd, buf))
            .await
            .map_err(|e| self.io.context("send", e))
    }

    /// Waits for one datagram from the connected peer and returns its length.
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` when an earlier datagram drew an ICMP "port
    /// unreachable"; otherwise as [`recv_from`](UdpSocket::recv_from).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io
            .once(Interest::READABLE, |fd| crate::sys::read(fd, buf))
            .await
            .map_err(|e| self.io.context("recv", e))
    }

    /// Calls `on_datagram` with each datagram received and its sender until
    /// the returned handle is stopped or dropped (libuv's
    /// `uv_udp_recv_start`): the callback form of
    /// [`recv_from`](UdpSocket::recv_from). Datagrams longer than 64 KiB
    /// cannot exist over IPv4 and are truncated over IPv6 jumbograms.
    ///
    /// A `ConnectionRefused` (an ICMP "port unreachable" drawn by an earlier
    /// send of a connected socket) is passed on and receiving goes on, as
    /// libuv does; any other error is passed on and ends the callbacks.
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
    /// use waiter_loop::net::UdpSocket;
    ///
    /// let lp = waiter_loop::Loop::new().unwrap();
    /// let server = Rc::new(UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap()).unwrap());
    /// let addr = server.local_addr().unwrap();
    /// let received = Rc::new(Cell::new(0));
    /// let count = received.clone();
    /// let receiving = server
    ///     .recv_start(move |_lp, datagram| {
    ///         let (bytes, _from) = datagram.unwrap();
    ///         count.set(count.get() + bytes.len());
    ///     })
    ///     .unwrap();
    /// let client = UdpSocket::bind(&lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    /// lp.block_on(async {
    ///     client.send_to(b"ping", addr).await.unwrap();
    ///     while received.get() < 4 {
    ///         waiter_loop::yield_to_loop(&lp).await;
    ///     }
    /// });
    /// drop(receiving); // no more callbacks
    /// ```
    pub fn recv_start<F>(self: Rc<Self>, mut on_datagram: F) -> io::Result<StopHandle>
    where
        F: FnMut(&Loop, io::Result<(&[u8], SocketAddr)>) + 'static,
    {
        let lp = self.io.loop_()?;
        Ok(spawn_stoppable(&lp, move |stop| async move {
            // One buffer for the life of the callbacks: the largest UDP payload over IPv4.
            let mut buf = vec![0; 65_536];
            loop {
                let got = self.recv_from(&mut buf).await;
                let Ok(lp) = self.io.loop_() else { return };
                if stop.is_stopped() {
                    return;
                }
                match got {
                    Ok((n, from)) => on_datagram(&lp, Ok((&buf[..n], from))),
                    Err(e) => {
                        let go_on = e.kind() == io::ErrorKind::ConnectionRefused;
                        on_datagram(&lp, Err(e));
                        if !go_on {
                            return;
                        }
                    }
                }
                if stop.is_stopped() {
                    return;
                }
            }
        }))
    }

    /// The address the socket is bound to.
    ///
    /// # Errors
    ///
    /// The kernel's `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::local_addr(self.io.fd())?.to_inet()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` before [`connect`](UdpSocket::connect).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sys::peer_addr(self.io.fd())?.to_inet()
    }
}

impl_as_fd!(UdpSocket, socket => socket.io);
