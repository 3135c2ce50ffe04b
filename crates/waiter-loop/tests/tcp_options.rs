//! TCP socket options, read back from the kernel: a listener's backlog (from
//! `ss`, which shows a listener's backlog as its Send-Q) and `SO_REUSEPORT`
//! (two listeners on one port, the kernel spreading connections between
//! them), a stream's `TCP_NODELAY` and `TCP_CORK`.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use waiter_loop::net::{ListenOptions, TcpListener};
use waiter_loop::Loop;

mod common;

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// `getsockopt(fd, level, name)` as an integer.
fn sockopt(fd: RawFd, level: libc::c_int, name: libc::c_int) -> libc::c_int {
    let mut value: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live and sized for an int option.
    let rc = unsafe { libc::getsockopt(fd, level, name, (&mut value as *mut libc::c_int).cast(), &mut len) };
    assert_eq!(rc, 0, "getsockopt({level}, {name}): {}", io::Error::last_os_error());
    value
}

/// The backlog the kernel holds for the listener on `port` (`ss -ltn`'s Send-Q).
fn backlog_of(port: u16) -> u32 {
    let out = Command::new("ss")
        .args(["-ltnH", "sport", "=", &format!(":{port}")])
        .output()
        .expect("running ss (Debian's iproute2; .ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or_else(|| panic!("ss shows no listener on port {port}"));
    // State Recv-Q Send-Q Local Peer
    line.split_whitespace().nth(2).and_then(|q| q.parse().ok()).unwrap_or_else(|| panic!("ss line {line:?}"))
}

#[test]
fn tcp_listener_backlog_is_the_one_asked_for() {
    let lp = Loop::new().unwrap();
    let default = TcpListener::bind(&lp, localhost()).unwrap();
    let small =
        TcpListener::bind_with(&lp, localhost(), ListenOptions { backlog: 7, ..Default::default() }).unwrap();
    assert_eq!(backlog_of(default.local_addr().unwrap().port()), 1024, "the default backlog");
    assert_eq!(backlog_of(small.local_addr().unwrap().port()), 7);
}

#[test]
fn tcp_listener_reuse_port_shares_a_port_and_spreads_connections() {
    const CLIENTS: usize = 64;
    let lp = Loop::new().unwrap();
    let _guard = common::guard(&lp);
    let shared = ListenOptions { reuse_port: true, ..Default::default() };
    let a = TcpListener::bind_with(&lp, localhost(), shared).unwrap();
    let addr = a.local_addr().unwrap();
    let b = TcpListener::bind_with(&lp, addr, shared).unwrap();
    assert_eq!(sockopt(a.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT), 1);
    assert_eq!(sockopt(b.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT), 1);
    // Without it, the port is taken, and the error names the address.
    let err = TcpListener::bind(&lp, addr).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "context: {err}");
    let plain = TcpListener::bind(&lp, localhost()).unwrap();
    assert_eq!(sockopt(plain.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT), 0);
    drop(plain);

    // Connected before the loop runs: every connection sits in one of the two queues.
    let clients: Vec<_> = (0..CLIENTS).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
    let counts = [Rc::new(Cell::new(0usize)), Rc::new(Cell::new(0usize))];
    common::run_within(&lp, Duration::from_secs(10), async {
        for (listener, count) in [&a, &b].into_iter().zip(&counts) {
            let count = count.clone();
            // Accept until the queue has stayed empty for a while (the
            // connections were queued before the loop ran).
            while let Ok(accepted) = lp.timeout(Duration::from_millis(200), listener.accept()).unwrap().await
            {
                accepted.unwrap();
                count.set(count.get() + 1);
            }
        }
    });
    let (na, nb) = (counts[0].get(), counts[1].get());
    assert_eq!(na + nb, CLIENTS, "every connection accepted once");
    // The kernel hashes each connection to one listener: both get some
    // (all 64 on one side has a chance of 2^-63).
    assert!(na > 0 && nb > 0, "connections spread {na} / {nb}");
    drop(clients);
}

#[test]
fn tcp_stream_nodelay_and_cork_reach_the_socket() {
    let lp = Loop::new().unwrap();
    let _guard = common::guard(&lp);
    let (server, client) = lp.block_on(common::tcp_pair(&lp));
    let fd = client.as_raw_fd();
    client.set_nodelay(true).unwrap();
    assert!(client.nodelay().unwrap());
    assert_eq!(sockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY), 1);
    client.set_nodelay(false).unwrap();
    assert!(!client.nodelay().unwrap());
    assert_eq!(sockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY), 0);

    assert_eq!(sockopt(fd, libc::IPPROTO_TCP, libc::TCP_CORK), 0);
    client.set_cork(true).unwrap();
    assert_eq!(sockopt(fd, libc::IPPROTO_TCP, libc::TCP_CORK), 1);
    // Corked writes are held back, and uncorking sends them.
    let got = common::run_within(&lp, Duration::from_secs(10), async {
        client.write_all(b"head").await.unwrap();
        client.write_all(b"body").await.unwrap();
        client.set_cork(false).unwrap();
        let mut got = Vec::new();
        let mut buf = [0; 16];
        while got.len() < 8 {
            let n = server.read(&mut buf).await.unwrap();
            assert!(n > 0, "end of stream after {got:?}");
            got.extend_from_slice(&buf[..n]);
        }
        got
    });
    assert_eq!(sockopt(fd, libc::IPPROTO_TCP, libc::TCP_CORK), 0);
    assert_eq!(got, b"headbody");
}
