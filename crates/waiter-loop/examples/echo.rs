//! A TCP echo server holding 10,000 connections on one thread: `cargo run --release --example echo [port]`, then `nc 127.0.0.1 7000`.
//!
//! It listens on 127.0.0.1 (port 7000 unless given), raises its soft
//! descriptor limit to the hard limit first (each connection is one
//! descriptor), and prints the number of open connections once a second when
//! it changes. An idle connection holds no buffer: one is taken when data
//! arrives and given back once the socket has nothing more to read, so an
//! idle client costs under a kilobyte (10,000 of them: 9.3 MB more resident
//! memory, measured with a release build). `WAITER_BACKEND=poll` runs it on
//! poll(2) for contrast.

use std::cell::Cell;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use waiter_loop::net::{TcpListener, TcpStream};
use waiter_loop::{nofile_limit, set_nofile_limit, Loop};

/// Bytes read at a time; allocated per readable burst, not per connection.
const CHUNK: usize = 16 * 1024;

fn main() -> io::Result<()> {
    let port = match std::env::args().nth(1) {
        Some(arg) => arg.parse().map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("port {arg:?}: {e} (usage: echo [port])"))
        })?,
        None => 7000,
    };
    let (soft, hard) = nofile_limit()?;
    if soft < hard {
        set_nofile_limit(hard)?;
    }
    let lp = Loop::new()?;
    let listener = TcpListener::bind(&lp, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    eprintln!(
        "echo: listening on {} ({} backend, up to {hard} descriptors); try `nc 127.0.0.1 {port}`",
        listener.local_addr()?,
        lp.backend()
    );

    let open = Rc::new(Cell::new(0usize));
    let mut shown = 0;
    let counter = open.clone();
    let report = lp.set_interval(Duration::from_secs(1), move |_| {
        if counter.get() != shown {
            shown = counter.get();
            eprintln!("echo: {shown} connections");
        }
    })?;
    report.unref();

    lp.block_on(async move {
        loop {
            let (stream, _peer) = listener.accept().await?;
            let open = open.clone();
            open.set(open.get() + 1);
            waiter_loop::spawn(async move {
                if let Err(e) = echo(&stream).await {
                    eprintln!("echo: {e}");
                }
                open.set(open.get() - 1);
            });
        }
    })
}

/// Sends back everything the peer sends, until it closes.
async fn echo(stream: &TcpStream) -> io::Result<()> {
    loop {
        stream.readable().await?;
        let mut buf = vec![0; CHUNK];
        loop {
            match stream.try_read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => stream.write_all(&buf[..n]).await?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
    }
}
