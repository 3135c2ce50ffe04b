//! `writev` of several slices and `sendfile` of a temporary file over TCP on
//! 127.0.0.1: the client receives exactly the bytes, in order, and partial
//! sends resume where they stopped.

use std::fs::File;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::time::Duration;

use waiter_loop::net::TcpStream;
use waiter_loop::Loop;

mod common;
use common::tcp_pair as pair;
use common::TempFile;

/// Several times a loopback socket's buffer, so sending waits for the reader.
const FILE_LEN: usize = 8 * 1024 * 1024;

fn run<F: Future>(lp: &Loop, f: F) -> F::Output {
    common::run_within(lp, Duration::from_secs(20), f)
}

fn contents() -> Vec<u8> {
    (0..FILE_LEN).map(|i| (i % 251) as u8).collect()
}

/// Reads until end-of-stream in a task of its own.
fn read_to_end(stream: TcpStream) -> waiter_loop::JoinHandle<Vec<u8>> {
    waiter_loop::spawn(async move {
        let mut got = Vec::new();
        let mut buf = vec![0; 64 * 1024];
        loop {
            match stream.read(&mut buf).await.unwrap() {
                0 => return got,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
    })
}

#[test]
fn writev_sends_every_slice_in_order() {
    let lp = Loop::new().unwrap();
    let body = contents();
    let got = run(&lp, async {
        let (server, client) = pair(&lp).await;
        let reader = read_to_end(client);
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 8388608\r\n\r\n";
        // One small writev goes out whole.
        let n = server.writev(&[IoSlice::new(b"ab"), IoSlice::new(b""), IoSlice::new(b"cd")]).await.unwrap();
        assert_eq!(n, 4);
        // A large one is resumed mid-slice, many times over.
        let slices = [IoSlice::new(head), IoSlice::new(&[]), IoSlice::new(&body), IoSlice::new(b"tail")];
        server.writev_all(&slices).await.unwrap();
        server.shutdown(Shutdown::Write).unwrap();
        reader.await
    });
    let mut want = b"abcd".to_vec();
    want.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 8388608\r\n\r\n");
    want.extend_from_slice(&body);
    want.extend_from_slice(b"tail");
    assert_eq!(got.len(), want.len(), "byte count");
    assert!(got == want, "the received bytes differ from the slices sent");
    assert_eq!(lp.active_handles(), 0);
}

#[test]
fn sendfile_sends_the_file() {
    let lp = Loop::new().unwrap();
    let body = contents();
    let tmp = TempFile::new("sendfile", &body);
    let file = File::open(&tmp.0).unwrap();
    let (got, offset) = run(&lp, async {
        let (server, client) = pair(&lp).await;
        let reader = read_to_end(client);
        let mut offset = 0;
        server.sendfile_all(&file, &mut offset, FILE_LEN).await.unwrap();
        server.shutdown(Shutdown::Write).unwrap();
        (reader.await, offset)
    });
    assert_eq!(offset, FILE_LEN as u64, "the offset advances past what was sent");
    assert_eq!(got.len(), FILE_LEN, "byte count");
    assert!(got == body, "the received bytes differ from the file");
    assert_eq!(lp.active_handles(), 0);
}

#[test]
fn sendfile_ranges_and_end_of_file() {
    let lp = Loop::new().unwrap();
    let body = contents();
    let tmp = TempFile::new("sendfile-range", &body[..1000]);
    let file = File::open(&tmp.0).unwrap();
    let got = run(&lp, async {
        let (server, client) = pair(&lp).await;
        let reader = read_to_end(client);
        // One call sends a middle range and moves the offset past it.
        let mut offset = 100;
        assert_eq!(server.sendfile(&file, &mut offset, 50).await.unwrap(), 50);
        assert_eq!(offset, 150);
        // At the end of the file a call sends nothing.
        let mut end = 1000;
        assert_eq!(server.sendfile(&file, &mut end, 10).await.unwrap(), 0);
        // Asking for more than the file holds sends the rest, then says how much was missing.
        let mut offset = 990;
        let err = server.sendfile_all(&file, &mut offset, 20).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("10 bytes short"), "{err}");
        assert_eq!(offset, 1000);
        server.shutdown(Shutdown::Write).unwrap();
        reader.await
    });
    let mut want = body[100..150].to_vec();
    want.extend_from_slice(&body[990..1000]);
    assert_eq!(got, want);
}
