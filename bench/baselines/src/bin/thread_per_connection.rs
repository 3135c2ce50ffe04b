//! The thread-per-connection HTTP/1.1 server of the first seed's "The problem", as a baseline.
//!
//! Run: `cargo run --release -p baselines --bin thread_per_connection -- [PORT] [DELAY_MS] [STACK_KIB]`
//! (defaults 17080, 20 ms, the std default stack), then
//! `curl -v http://127.0.0.1:17080/`.
//!
//! One thread per accepted connection, blocking reads and writes, a
//! keep-alive loop, and `thread::sleep(DELAY_MS)` before each answer: the
//! model in which a waiting request holds a whole thread. It is written to
//! be fair, not to lose: heads are parsed with httparse (the parser waiter
//! uses), pipelined requests are answered from the bytes already read, each
//! response is one `write`, `TCP_NODELAY` is on, the listen backlog is 4,096
//! (std's 128 would drop the SYNs of a burst of connections), the 4 KiB read buffer is
//! the only allocation per connection, and the `Date` is formatted at most
//! once a second per thread. `STACK_KIB` shrinks each thread's stack
//! reservation (the default is Rust's 2 MiB; only touched pages become
//! resident either way, so it changes virtual memory more than RSS).
//!
//! The response is byte for byte the one of its twins,
//! `crates/waiter-http/examples/delay_server.rs` (waiter) and
//! `bench/api/node_delay.js` (Node.js), apart from the date.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The response body of all three twins.
const BODY: &[u8] = b"ok\n";

/// Bytes one read asks for.
const READ_CHUNK: usize = 4096;

/// The listen backlog, as waiter's and Node's twins use.
const BACKLOG: i32 = 4096;

/// A request head larger than this is refused (the connection closes).
const MAX_HEAD: usize = 32 * 1024;

fn arg<T: std::str::FromStr>(n: usize, default: T, what: &str) -> io::Result<T> {
    match std::env::args().nth(n) {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{what} {text:?} (usage: thread_per_connection [PORT] [DELAY_MS] [STACK_KIB])"),
            )
        }),
    }
}

fn main() -> io::Result<()> {
    let port: u16 = arg(1, 17080, "port")?;
    let delay = Duration::from_millis(arg(2, 20, "delay in ms")?);
    let stack_kib: usize = arg(3, 0, "stack size in KiB")?;
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    // std listens with a backlog of 128: 10,000 clients connecting at once
    // would see SYNs dropped and retried seconds later. Listening again on a
    // listening socket only changes its backlog; the kernel caps it at somaxconn.
    // SAFETY: `listen` on a descriptor the listener owns for this whole call.
    if unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    eprintln!(
        "thread_per_connection: listening on {}, answering after {delay:?}, stack {}",
        listener.local_addr()?,
        if stack_kib == 0 { "default".to_owned() } else { format!("{stack_kib} KiB") }
    );
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                // EMFILE and friends: wait for connections to close rather than spin.
                eprintln!("thread_per_connection: accept: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let mut builder = thread::Builder::new();
        if stack_kib > 0 {
            builder = builder.stack_size(stack_kib * 1024);
        }
        if let Err(e) = builder.spawn(move || serve(stream, delay)) {
            eprintln!("thread_per_connection: spawn: {e}");
        }
    }
    Ok(())
}

/// Answers requests on one connection until the client closes it.
fn serve(mut stream: TcpStream, delay: Duration) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(READ_CHUNK);
    let mut date = Date::default();
    let mut out = Vec::with_capacity(256);
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let (used, keep_alive) = match req.parse(&buf) {
            Ok(httparse::Status::Complete(used)) => {
                let close = req.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("connection") && h.value.eq_ignore_ascii_case(b"close")
                });
                (used, req.version == Some(1) && !close)
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {
                let len = buf.len();
                buf.resize(len + READ_CHUNK, 0);
                match stream.read(&mut buf[len..]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.truncate(len + n),
                }
                continue;
            }
            _ => return,
        };
        buf.drain(..used);
        thread::sleep(delay);
        out.clear();
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\nServer: waiter\r\nDate: ");
        out.extend_from_slice(date.now().as_bytes());
        out.extend_from_slice(b"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
        out.extend_from_slice(BODY.len().to_string().as_bytes());
        out.extend_from_slice(if keep_alive {
            b"\r\nConnection: keep-alive"
        } else {
            b"\r\nConnection: close"
        });
        out.extend_from_slice(b"\r\nX-Content-Type-Options: nosniff\r\n\r\n");
        out.extend_from_slice(BODY);
        if stream.write_all(&out).is_err() || !keep_alive {
            return;
        }
    }
}

/// The IMF-fixdate of the current second, formatted once a second.
#[derive(Default)]
struct Date {
    second: u64,
    text: String,
}

impl Date {
    fn now(&mut self) -> &str {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = httpdate::fmt_http_date(now);
        }
        &self.text
    }
}
