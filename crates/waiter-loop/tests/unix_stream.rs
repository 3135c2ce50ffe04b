//! Unix-domain streams: a listener on a path, connect, accept, both
//! directions, end-of-stream, `pair()`, the callback form, and errors that
//! name the path.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use waiter_loop::net::{UnixListener, UnixStream};
use waiter_loop::Loop;

mod common;

fn run<F: Future>(lp: &Loop, f: F) -> F::Output {
    common::run_within(lp, Duration::from_secs(10), f)
}

/// A socket path in the temporary directory, removed before and after.
struct SocketPath(PathBuf);

impl SocketPath {
    fn new(name: &str) -> SocketPath {
        let path = std::env::temp_dir().join(format!("waiter-{name}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        SocketPath(path)
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn read_to_end(stream: &UnixStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf).await.unwrap() {
            0 => return got,
            n => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn unix_stream_echo() {
    let lp = Loop::new().unwrap();
    let path = SocketPath::new("echo");
    let listener = UnixListener::bind(&lp, &path.0).unwrap();
    assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(path.0.as_path()));
    let big: Vec<u8> = (0..1_000_000).map(|i| (i % 253) as u8).collect();
    let echoed = run(&lp, async {
        let client = UnixStream::connect(&lp, &path.0).await.unwrap();
        let conn = listener.accept().await.unwrap();
        assert_eq!(conn.local_addr().unwrap().as_pathname(), Some(path.0.as_path()));
        assert!(client.local_addr().unwrap().is_unnamed());
        let server = waiter_loop::spawn(async move {
            let mut buf = vec![0; 32 * 1024];
            loop {
                match conn.read(&mut buf).await.unwrap() {
                    0 => break,
                    n => conn.write_all(&buf[..n]).await.unwrap(),
                }
            }
        });
        let client = Rc::new(client);
        let writer = {
            let (client, big) = (client.clone(), big.clone());
            waiter_loop::spawn(async move {
                client.write_all(&big).await.unwrap();
                client.shutdown(Shutdown::Write).unwrap();
            })
        };
        let echoed = read_to_end(&client).await;
        writer.await;
        server.await;
        echoed
    });
    assert_eq!(echoed.len(), big.len(), "byte count");
    assert!(echoed == big, "the echo differs from what was sent");
    assert_eq!(lp.active_handles(), 0);
}

#[test]
fn unix_pair_and_end_of_stream() {
    let lp = Loop::new().unwrap();
    let (a, b) = UnixStream::pair(&lp).unwrap();
    assert!(a.peer_addr().unwrap().is_unnamed());
    run(&lp, async {
        a.write_all(b"over").await.unwrap();
        a.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_end(&b).await, b"over");
        b.write_all(b"and out").await.unwrap();
        drop(b);
        assert_eq!(read_to_end(&a).await, b"and out");
    });
}

#[test]
fn unix_listen_callback() {
    let lp = Loop::new().unwrap();
    let path = SocketPath::new("listen");
    let accepted = Rc::new(Cell::new(0));
    let count = accepted.clone();
    let listening = UnixListener::bind(&lp, &path.0)
        .unwrap()
        .listen(move |_lp, conn| {
            conn.unwrap();
            count.set(count.get() + 1);
        })
        .unwrap();
    run(&lp, async {
        let _clients = [
            UnixStream::connect(&lp, &path.0).await.unwrap(),
            UnixStream::connect(&lp, &path.0).await.unwrap(),
        ];
        while accepted.get() < 2 {
            waiter_loop::sleep(Duration::from_millis(1)).unwrap().await;
        }
    });
    assert_eq!(accepted.get(), 2);
    listening.stop();
    lp.run().unwrap();
    assert_eq!(lp.task_count(), 0);
    assert_eq!(lp.active_handles(), 0);
}

#[test]
fn unix_errors_name_the_path() {
    let lp = Loop::new().unwrap();
    let path = SocketPath::new("missing");
    let err = run(&lp, UnixStream::connect(&lp, &path.0)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    assert!(err.to_string().starts_with(&format!("connect to {}: ", path.0.display())), "{err}");

    let _listener = UnixListener::bind(&lp, &path.0).unwrap();
    let err = UnixListener::bind(&lp, &path.0).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    assert!(err.to_string().contains(&path.0.display().to_string()), "{err}");

    let long = PathBuf::from("/tmp/".to_string() + &"x".repeat(200));
    let err = UnixListener::bind(&lp, &long).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
}
