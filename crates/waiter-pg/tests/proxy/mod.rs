//! A TCP proxy in front of the test cluster that a test takes down and
//! brings back: the server "down" (connects refused, open connections cut)
//! without stopping the cluster that other test processes share.

// Each test crate compiles this module separately and uses only part of it.
#![allow(dead_code)]

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Forwards 127.0.0.1:`port()` to the cluster while up.
pub struct Proxy {
    port: u16,
    target: u16,
    /// Both ends of every forwarded connection, to cut them.
    conns: Arc<Mutex<Vec<TcpStream>>>,
    accepting: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Proxy {
    /// A proxy to `target` on a free port, up.
    pub fn start(target: u16) -> Proxy {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut proxy = Proxy { port, target, conns: Arc::default(), accepting: None };
        proxy.up();
        proxy
    }

    /// The port it listens on (while up).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Listens again (no-op while up).
    pub fn up(&mut self) {
        if self.accepting.is_some() {
            return;
        }
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let running = Arc::new(AtomicBool::new(true));
        let (flag, conns, target) = (running.clone(), self.conns.clone(), self.target);
        let thread = std::thread::spawn(move || {
            while flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
                        let mut list = conns.lock().unwrap();
                        list.push(client.try_clone().unwrap());
                        list.push(server.try_clone().unwrap());
                        pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                        pipe(server, client);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    Err(e) => panic!("proxy accept: {e}"),
                }
            }
        });
        self.accepting = Some((running, thread));
    }

    /// Stops listening (connects are refused) and cuts every connection.
    pub fn down(&mut self) {
        if let Some((running, thread)) = self.accepting.take() {
            running.store(false, Ordering::SeqCst);
            thread.join().unwrap();
        }
        for conn in self.conns.lock().unwrap().drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
    }
}

/// Copies `from` to `to` on a thread until either ends.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
