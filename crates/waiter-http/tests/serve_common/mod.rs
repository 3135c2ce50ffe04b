//! Shared by the `serve_*` tests: a server on its own thread and loop over a
//! temporary root, and a raw HTTP/1.1 client on std's blocking sockets.
#![allow(dead_code)] // each test file uses a different part

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use waiter_http::{Config, Server, Stopper};
use waiter_loop::Loop;

/// Every client read gives up after this: no test can hang.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A server over a temporary root; stopped and cleaned up on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub root: PathBuf,
    /// The temporary directory `start` made, removed on drop.
    owned: Option<PathBuf>,
    stopper: Stopper,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// A fresh, empty directory under the system's temp dir.
pub fn temp_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "waiter-serve-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `files` (path relative to `root`, contents), creating directories.
pub fn write_files(root: &Path, files: &[(&str, &[u8])]) {
    for (name, contents) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
}

/// Starts a server on 127.0.0.1:0 over a new root holding `files`.
pub fn start(files: &[(&str, &[u8])], tweak: impl FnOnce(&mut Config) + Send + 'static) -> TestServer {
    let base = temp_dir();
    let root = base.join("root");
    std::fs::create_dir_all(&root).unwrap();
    write_files(&root, files);
    let mut server = start_at(root, tweak);
    server.owned = Some(base);
    server
}

/// Starts a server over an existing `root`.
pub fn start_at(root: PathBuf, tweak: impl FnOnce(&mut Config) + Send + 'static) -> TestServer {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread_root = root.clone();
    let thread = std::thread::spawn(move || {
        let lp = Loop::new()?;
        let mut config = Config::new(&thread_root)?;
        tweak(&mut config);
        let server = Server::bind(&lp, "127.0.0.1:0".parse().unwrap(), config, false)?;
        tx.send((server.local_addr()?, server.stopper())).unwrap();
        lp.block_on(server.run())
    });
    let (addr, stopper) = rx.recv_timeout(CLIENT_TIMEOUT).expect("the server did not start");
    TestServer { addr, root, owned: None, stopper, thread: Some(thread) }
}

impl TestServer {
    /// A connected client with read and write timeouts.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        stream
    }

    /// Sends `raw` on a new connection and reads one response.
    pub fn exchange(&self, raw: &[u8]) -> Response {
        let mut stream = self.connect();
        stream.write_all(raw).unwrap();
        let head = raw.starts_with(b"HEAD ");
        read_response(&mut stream, head).expect("a response")
    }

    /// `GET path` with `extra` header lines (each ending in CRLF).
    pub fn get(&self, path: &str, extra: &str) -> Response {
        self.exchange(format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes())
    }

    /// Stops the server and waits for it, failing if it takes over 5 s.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        let Some(thread) = self.thread.take() else { return };
        let _ = self.stopper.stop();
        let deadline = std::time::Instant::now() + CLIENT_TIMEOUT;
        while !thread.is_finished() {
            assert!(std::time::Instant::now() < deadline, "server did not stop in time");
            std::thread::sleep(Duration::from_millis(5));
        }
        thread.join().unwrap().unwrap();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.stop_inner();
        } else if let Some(_thread) = self.thread.take() {
            let _ = self.stopper.stop();
        }
        if let Some(dir) = &self.owned {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// One parsed response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The value of header `name` (case-insensitive), if sent once or more.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads one response: the head, then `Content-Length` bytes (none for HEAD,
/// 304 or `no_body`). `None` when the connection closed before any byte.
pub fn read_response(stream: &mut TcpStream, no_body: bool) -> Option<Response> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) if head.is_empty() => return None,
            Ok(0) => panic!("connection closed inside a response head: {:?}", String::from_utf8_lossy(&head)),
            Ok(_) => head.push(byte[0]),
            Err(e) => panic!("reading a response head: {e} (so far {:?})", String::from_utf8_lossy(&head)),
        }
    }
    let text = String::from_utf8(head).expect("an ASCII head");
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "status line {status_line:?}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').expect("a header line");
            (n.to_owned(), v.trim().to_owned())
        })
        .collect();
    let mut response = Response { status, headers, body: Vec::new() };
    if no_body || status == 304 {
        return Some(response);
    }
    let len: usize = response.header("Content-Length").expect("Content-Length").parse().unwrap();
    response.body = vec![0; len];
    stream.read_exact(&mut response.body).expect("the whole body");
    Some(response)
}

/// Whether the server closes `stream` (end-of-stream within the client timeout).
pub fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(stream.read(&mut buf), Ok(0))
        || matches!(stream.read(&mut buf), Err(e) if e.kind() == io::ErrorKind::ConnectionReset)
}
