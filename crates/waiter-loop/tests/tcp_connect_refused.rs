//! Connecting where nothing listens is an `io::Error` of kind
//! `ConnectionRefused` that names the operation and the address, and leaves
//! nothing registered on the loop.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use waiter_loop::net::TcpStream;
use waiter_loop::Loop;

/// A port on 127.0.0.1 that was free a moment ago: bound, then released.
fn closed_port() -> SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap()
}

#[test]
fn tcp_connect_refused() {
    let lp = Loop::new().unwrap();
    let addr = closed_port();
    let err = lp.block_on(async {
        let connect = TcpStream::connect(&lp, addr);
        lp.timeout(Duration::from_secs(10), connect).unwrap().await.expect("connect timed out").unwrap_err()
    });
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("connect to {addr}: ")), "context: {msg}");
    assert!(msg.contains("refused"), "the kernel's reason: {msg}");
    assert_eq!(lp.active_handles(), 0);
    assert_eq!(lp.task_count(), 0);
}
