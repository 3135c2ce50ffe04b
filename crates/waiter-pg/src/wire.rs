//! Bytes to and from the server: the TCP-or-Unix stream, and the sans-I/O
//! framing of backend messages with a bound on their size.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use postgres_protocol::message::backend::{Header, Message};
use waiter_loop::net::{TcpStream, UnixStream};
use waiter_loop::Loop;

use crate::config::{Config, Host};
use crate::error::Error;

/// Bytes asked of the kernel per read: enough for many small results at once.
const READ_SIZE: usize = 64 * 1024;

/// The least a connection's buffer grows by: a new buffer (the old one is
/// still shared by the rows cut out of it) every few dozen small results,
/// not every read.
const GROW_MIN: usize = 8 * 1024;

thread_local! {
    /// Where every connection of this thread reads first: the bytes that
    /// arrived (typically a hundred) are copied on, instead of zeroing a
    /// whole read's worth of a connection's own buffer before each read.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_SIZE].into_boxed_slice());
}

/// A connection to the server over TCP or a Unix socket.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// Connects to the server `config` names, trying each address of a host name in turn.
    pub(crate) async fn connect(lp: &Loop, config: &Config) -> Result<Stream, Error> {
        match &config.host {
            Host::Unix(dir) => {
                let path = dir.join(format!(".s.PGSQL.{}", config.port));
                let stream = UnixStream::connect(lp, &path).await.map_err(Error::io)?;
                Ok(Stream::Unix(stream))
            }
            Host::Tcp(host) => {
                let addrs = resolve(host, config.port).await?;
                let mut last = None;
                for addr in addrs {
                    match TcpStream::connect(lp, addr).await {
                        Ok(stream) => {
                            stream.set_nodelay(true).map_err(Error::io)?;
                            if config.keepalives {
                                stream.set_keepalive(true).map_err(Error::io)?;
                                stream
                                    .set_keepalive_timing(
                                        config.keepalives_idle,
                                        config.keepalives_interval,
                                        config.keepalives_count,
                                    )
                                    .map_err(Error::io)?;
                            }
                            return Ok(Stream::Tcp(stream));
                        }
                        Err(e) => last = Some(e),
                    }
                }
                Err(Error::io(last.unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"))
                })))
            }
        }
    }

    /// Reads more bytes into `buf`; `Ok(0)` at end of stream.
    pub(crate) async fn read_into(&self, buf: &mut BytesMut) -> io::Result<usize> {
        loop {
            let read: io::Result<usize> = SCRATCH.with_borrow_mut(|scratch| {
                let n = match self {
                    Stream::Tcp(s) => s.try_read(scratch)?,
                    Stream::Unix(s) => s.try_read(scratch)?,
                };
                if buf.capacity() - buf.len() < n {
                    buf.reserve(n.max(GROW_MIN));
                }
                buf.extend_from_slice(&scratch[..n]);
                Ok(n)
            });
            match read {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => match self {
                    Stream::Tcp(s) => s.readable().await?,
                    Stream::Unix(s) => s.readable().await?,
                },
                other => return other,
            }
        }
    }

    /// Whether this is a TCP connection (a Unix socket's readiness ignores
    /// the receive low-water mark).
    pub(crate) fn is_tcp(&self) -> bool {
        matches!(self, Stream::Tcp(_))
    }

    /// Sets a TCP socket's receive low-water mark (`SO_RCVLOWAT`): it is
    /// reported readable only once `bytes` are queued (or at its end).
    pub(crate) fn set_read_mark(&self, bytes: usize) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_recv_lowat(u32::try_from(bytes).unwrap_or(u32::MAX)),
            Stream::Unix(_) => Ok(()),
        }
    }

    /// Waits until the stream may be readable (`true`) or `window` has
    /// passed (`false`), without reading.
    pub(crate) async fn readable_within(&self, lp: &Loop, window: Duration) -> io::Result<bool> {
        let mut window = pin!(lp.sleep(window)?);
        poll_fn(|cx| {
            let readable = match self {
                Stream::Tcp(s) => s.poll_readable(cx),
                Stream::Unix(s) => s.poll_readable(cx),
            };
            match readable {
                Poll::Ready(r) => Poll::Ready(r.map(|()| true)),
                Poll::Pending => window.as_mut().poll(cx).map(|()| Ok(false)),
            }
        })
        .await
    }

    pub(crate) async fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(bytes).await,
            Stream::Unix(s) => s.write_all(bytes).await,
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) {
        // Already-closed sockets say ENOTCONN: nothing left to do then.
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
        };
    }

    /// Reads until one whole message is framed (used before the driver starts).
    pub(crate) async fn read_message(&self, buf: &mut BytesMut, max: usize) -> Result<Message, Error> {
        loop {
            if let Some(m) = decode(buf, max)? {
                return Ok(m);
            }
            if self.read_into(buf).await.map_err(Error::io)? == 0 {
                return Err(Error::Closed("the server closed the connection".into()));
            }
        }
    }
}

/// Host names go to the thread pool (getaddrinfo blocks); addresses do not.
async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = format!("{host}:{port}");
    let job = waiter_loop::spawn_blocking(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&name).map(Iterator::collect::<Vec<_>>)
    })
    .map_err(Error::io)?;
    match job.await {
        Ok(resolved) => {
            resolved.map_err(|e| Error::io(io::Error::new(e.kind(), format!("resolve {host}: {e}"))))
        }
        Err(e) => Err(Error::io(io::Error::other(format!("resolve {host}: {e}")))),
    }
}

/// Frames the next backend message at the front of `buf`, if it is all there.
///
/// # Errors
///
/// [`Error::Protocol`] for a message longer than `max` bytes (checked
/// before any of its body is buffered, so a hostile length cannot make us
/// allocate) or one whose body does not parse.
pub fn decode(buf: &mut BytesMut, max: usize) -> Result<Option<Message>, Error> {
    if let Some(header) = Header::parse(buf).map_err(|e| Error::protocol(e.to_string()))? {
        let len = header.len() as usize;
        if len > max {
            return Err(Error::protocol(format!(
                "a {:?} message of {len} bytes exceeds the {max}-byte limit",
                header.tag() as char
            )));
        }
    }
    Message::parse(buf).map_err(|e| Error::protocol(format!("malformed message: {e}")))
}

/// A message's name, for errors.
pub(crate) fn name(m: &Message) -> &'static str {
    match m {
        Message::AuthenticationOk => "AuthenticationOk",
        Message::BackendKeyData(_) => "BackendKeyData",
        Message::BindComplete => "BindComplete",
        Message::CloseComplete => "CloseComplete",
        Message::CommandComplete(_) => "CommandComplete",
        Message::CopyData(_) => "CopyData",
        Message::CopyDone => "CopyDone",
        Message::CopyInResponse(_) => "CopyInResponse",
        Message::CopyOutResponse(_) => "CopyOutResponse",
        Message::DataRow(_) => "DataRow",
        Message::EmptyQueryResponse => "EmptyQueryResponse",
        Message::ErrorResponse(_) => "ErrorResponse",
        Message::NoData => "NoData",
        Message::NoticeResponse(_) => "NoticeResponse",
        Message::NotificationResponse(_) => "NotificationResponse",
        Message::ParameterDescription(_) => "ParameterDescription",
        Message::ParameterStatus(_) => "ParameterStatus",
        Message::ParseComplete => "ParseComplete",
        Message::PortalSuspended => "PortalSuspended",
        Message::ReadyForQuery(_) => "ReadyForQuery",
        Message::RowDescription(_) => "RowDescription",
        _ => "an authentication message",
    }
}
