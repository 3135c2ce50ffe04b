//! `tcp_ping_pong`: one TCP connection on 127.0.0.1, 100,000 round trips of a 64-byte message.
//!
//! Run: `cargo bench -p waiter-loop --bench tcp_ping_pong [-- --runs 5]` (bench/loop.sh runs
//! it pinned with `taskset -c 1` next to `bench/libuv/tcp_ping_pong.c`). Each run prints
//! `RESULT <scenario> <impl> <ns per round trip>`; bench/loop_report.py takes the medians.
//!
//! Both ends live on the same loop (one thread, one core), as in libuv's own ping-pong
//! benchmarks: each round trip is two trips through the poll phase (the server's socket
//! becomes readable, then the client's), each with one `read` and one `write`. Every side
//! reads into a 4 KiB buffer and takes a short read as "drained" (as libuv and tokio do),
//! so none pays an extra `read` that returns `EAGAIN`. The connection is made with blocking
//! std calls before the clock starts, then set non-blocking and `TCP_NODELAY`.
//!
//! - `tcp_ping_pong/watch`, waiter: two `lp.watch(fd, READABLE, cb)` callbacks on the raw
//!   descriptors (libuv's `uv_poll_t` style), echoing and counting. libuv: `uv_poll_start` on
//!   the same kind of descriptors.
//! - `tcp_ping_pong`, waiter: `waiter_loop::net::TcpStream`s (`from_std`), the server a
//!   spawned task echoing with `read` + `write_all`, the client the `block_on` future writing a
//!   ping and reading the pong. tokio: the same with `tokio::net::TcpStream`, `spawn_local` and
//!   `LocalSet::block_on` on a `current_thread` runtime. libuv: `uv_tcp_t` streams
//!   (`uv_tcp_open`, `uv_read_start`, `uv_write`).

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use waiter_loop::{Interest, Loop};

mod common;
use common::{per_op, run_cases, tokio_runtime, Case, WARMUP_ROUNDS};

const TRIPS: usize = 100_000;
const MSG: usize = 64;
const BUF: usize = 4096;

/// A connected pair on 127.0.0.1, non-blocking, with `TCP_NODELAY`: (client, server).
fn connected_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    for s in [&client, &server] {
        s.set_nonblocking(true).expect("non-blocking");
        s.set_nodelay(true).expect("nodelay");
    }
    (client, server)
}

/// Reads until a short read or `WouldBlock`; calls `got` with each chunk. False on end of stream.
fn drain(mut s: &TcpStream, buf: &mut [u8], mut got: impl FnMut(&[u8])) -> bool {
    loop {
        match s.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                got(&buf[..n]);
                if n < buf.len() {
                    return true;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn waiter_watch() -> Duration {
    let lp = Loop::new().expect("loop");
    let (client, server) = connected_pair();
    let (client, server) = (Rc::new(client), Rc::new(server));
    let trips = Rc::new(Cell::new(0usize));

    let echo = server.clone();
    let mut buf = vec![0u8; BUF];
    let server_watch = lp
        .watch(server.as_raw_fd(), Interest::READABLE, move |_, _| {
            drain(&echo, &mut buf, |chunk| (&*echo).write_all(chunk).expect("echo"));
        })
        .expect("watch server");

    let (pinger, done) = (client.clone(), trips.clone());
    let mut buf = vec![0u8; BUF];
    let mut pending = 0;
    let client_watch = lp
        .watch(client.as_raw_fd(), Interest::READABLE, move |lp, _| {
            drain(&pinger, &mut buf, |chunk| pending += chunk.len());
            while pending >= MSG {
                pending -= MSG;
                done.set(done.get() + 1);
                if done.get() == TRIPS {
                    lp.stop();
                    return;
                }
                (&*pinger).write_all(&[7; MSG]).expect("ping");
            }
        })
        .expect("watch client");

    let started = Instant::now();
    (&*client).write_all(&[7; MSG]).expect("first ping");
    lp.run().expect("run");
    let elapsed = started.elapsed();
    assert_eq!(trips.get(), TRIPS);
    drop((server_watch, client_watch));
    elapsed
}

/// The echo server task and the timed ping loop, written once for both runtimes so that they
/// run the same code: `$spawn` starts the server future, `$client`/`$server` are the runtime's
/// streams (waiter's take `&self`, tokio's `&mut self`; both spell `read`/`write_all` alike).
macro_rules! ping_pong {
    ($spawn:path, $client:ident, $server:ident) => {{
        $spawn(async move {
            let mut buf = vec![0u8; BUF];
            loop {
                let n = $server.read(&mut buf).await.expect("read");
                if n == 0 {
                    return;
                }
                $server.write_all(&buf[..n]).await.expect("echo");
            }
        });
        let mut buf = vec![0u8; BUF];
        let started = Instant::now();
        for _ in 0..TRIPS {
            $client.write_all(&[7; MSG]).await.expect("ping");
            let mut got = 0;
            while got < MSG {
                let n = $client.read(&mut buf).await.expect("pong");
                assert!(n > 0, "server hung up");
                got += n;
            }
        }
        started.elapsed()
    }};
}

fn waiter_streams() -> Duration {
    use waiter_loop::net::TcpStream as LoopTcp;
    let lp = Loop::new().expect("loop");
    let (client, server) = connected_pair();
    lp.block_on(async {
        let lp = Loop::current().expect("inside block_on");
        let client = LoopTcp::from_std(&lp, client).expect("client");
        let server = LoopTcp::from_std(&lp, server).expect("server");
        let spawn = |f| drop(lp.spawn(f));
        ping_pong!(spawn, client, server)
    })
}

fn tokio_streams() -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio_runtime();
    let local = tokio::task::LocalSet::new();
    let (client, server) = connected_pair();
    local.block_on(&rt, async move {
        let mut client = tokio::net::TcpStream::from_std(client).expect("client");
        let mut server = tokio::net::TcpStream::from_std(server).expect("server");
        ping_pong!(tokio::task::spawn_local, client, server)
    })
}

fn main() {
    eprintln!("tcp_ping_pong: {TRIPS} round trips of {MSG} bytes per run");
    let case = |s: &str, i, f: fn() -> Duration| -> Case {
        (s.to_string(), i, Box::new(move || per_op(f(), TRIPS)))
    };
    run_cases(
        vec![
            case("tcp_ping_pong", "waiter", waiter_streams),
            case("tcp_ping_pong", "tokio", tokio_streams),
            case("tcp_ping_pong/watch", "waiter", waiter_watch),
        ],
        WARMUP_ROUNDS,
    );
}
