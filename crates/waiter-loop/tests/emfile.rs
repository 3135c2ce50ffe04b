//! At the descriptor limit (`EMFILE`) a listener neither spins nor strands
//! its clients: accepted connections go on being served, queued ones are
//! closed at once through the reserved descriptor (libuv's trick), or, with
//! no reserve, wait while accepting pauses (nginx's answer) and are served
//! once descriptors free up. Each test lowers `RLIMIT_NOFILE` for its own
//! process (nextest runs every test in a process of its own).
//!
//! The loop runs on the test's thread; clients are blocking std sockets on a
//! second thread, with read timeouts so that a hang fails instead.

use std::cell::Cell;
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use waiter_loop::net::{StopHandle, TcpListener};
use waiter_loop::{set_nofile_limit, Handle, Loop};

/// Connections queued before the limit is lowered.
const CLIENTS: usize = 40;
/// Descriptors left free for accepting once the limit is lowered.
const ROOM: usize = 8;
/// How long the CPU time is measured at the limit.
const WINDOW: Duration = Duration::from_millis(500);
/// The most CPU the whole process may use over `WINDOW`: a spinning accept
/// loop would use all 500 ms.
const CPU_BUDGET: Duration = Duration::from_millis(100);
/// How long a client waits for an answer before calling it a hang.
const PATIENCE: Duration = Duration::from_secs(5);

/// The lowest `RLIMIT_NOFILE` under which `room` descriptor numbers are free
/// (descriptors inherited above it stay open: a limit only bars new numbers).
fn limit_leaving(room: usize) -> u64 {
    let open: HashSet<u64> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // The directory's own descriptor counts as open here and is free again
    // afterwards: one more than `room` may be free, never fewer.
    (0..).filter(|fd| !open.contains(fd)).nth(room).unwrap()
}

/// CPU time used by the whole process so far (user + system).
fn cpu_time() -> Duration {
    // SAFETY: `usage` is a live, writable rusage that getrusage fills in.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The server echoed.
    Served,
    /// The server closed the connection (end-of-stream or reset).
    Closed,
    /// Nothing came back in time.
    Waiting,
}

/// Sends a ping and says what came back within `patience`.
fn ping(client: &mut TcpStream, patience: Duration) -> Outcome {
    client.set_read_timeout(Some(patience)).unwrap();
    if client.write_all(b"ping").is_err() {
        return Outcome::Closed;
    }
    let mut buf = [0; 4];
    match client.read_exact(&mut buf) {
        Ok(()) => {
            assert_eq!(&buf, b"ping");
            Outcome::Served
        }
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Outcome::Waiting,
        Err(_) => Outcome::Closed,
    }
}

/// Starts an echo server on `listener` that counts accepted connections.
fn serve(listener: TcpListener) -> (StopHandle, Rc<Cell<usize>>) {
    let accepted = Rc::new(Cell::new(0));
    let count = accepted.clone();
    let handle = listener
        .listen(move |lp, conn| {
            let (conn, _) = conn.expect("accept must not fail at the descriptor limit");
            count.set(count.get() + 1);
            lp.spawn(async move {
                let mut buf = [0; 64];
                while let Ok(n @ 1..) = conn.read(&mut buf).await {
                    if conn.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        })
        .unwrap();
    (handle, accepted)
}

/// Runs `lp` until `clients` (on another thread) finishes, then returns its result.
fn run_with_clients<T: Send + 'static>(lp: &Loop, clients: impl FnOnce() -> T + Send + 'static) -> T {
    /// Stops the loop when the client thread ends, even by a panic.
    struct StopLoop(Handle);
    impl Drop for StopLoop {
        fn drop(&mut self) {
            let _ = self.0.post(|lp| lp.stop());
        }
    }
    let stop = StopLoop(lp.handle());
    let thread = thread::spawn(move || {
        let _stop = stop;
        clients()
    });
    let guard = lp.set_timeout(Duration::from_secs(60), |_| panic!("the test timed out")).unwrap();
    lp.run().unwrap();
    guard.clear();
    thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Stops the server and checks that the loop winds down with nothing left.
fn wind_down(lp: &Loop, server: StopHandle) {
    server.stop();
    lp.run().unwrap();
    assert_eq!(lp.task_count(), 0);
    assert_eq!(lp.active_handles(), 0);
}

#[test]
fn emfile_sheds_queued_connections_and_keeps_serving() {
    let lp = Loop::new().unwrap();
    let listener = TcpListener::bind(&lp, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    // Queue the clients while descriptors are plentiful, then leave room for a few accepts.
    let queued: Vec<TcpStream> = (0..CLIENTS).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let limit = limit_leaving(ROOM);
    assert!(limit < 100, "a limit of about 64 was planned, not {limit}");
    set_nofile_limit(limit).unwrap();
    let (server, accepted) = serve(listener);

    let report = run_with_clients(&lp, move || at_the_limit(addr, queued));

    assert!(report.served >= 1 && report.closed >= 1, "{report:?}");
    assert_eq!(report.served + report.closed, CLIENTS, "every queued client got an answer: {report:?}");
    assert!(report.rounds >= 5, "{report:?}");
    assert!(report.cpu < CPU_BUDGET, "the process used {:?} of CPU in {WINDOW:?} at the limit", report.cpu);
    assert_eq!(accepted.get(), report.served + 1, "the served ones and the last newcomer were accepted");
    wind_down(&lp, server);
}

#[derive(Debug)]
struct Report {
    served: usize,
    closed: usize,
    rounds: usize,
    cpu: Duration,
}

/// The client side of the first test.
fn at_the_limit(addr: SocketAddr, queued: Vec<TcpStream>) -> Report {
    // Each queued client was either accepted (and is echoed) or shed (and closed).
    let (mut served, mut closed) = (Vec::new(), Vec::new());
    for mut client in queued {
        match ping(&mut client, PATIENCE) {
            Outcome::Served => served.push(client),
            Outcome::Closed => closed.push(client),
            Outcome::Waiting => panic!("a queued client hung: neither served nor closed in {PATIENCE:?}"),
        }
    }
    let (served_count, closed_count) = (served.len(), closed.len());
    assert!(!served.is_empty() && !closed.is_empty(), "{served_count} served, {closed_count} closed");

    // At the limit: the accepted go on being served, and each newcomer (given
    // a descriptor by closing a shed client) is closed at once, cheaply.
    let (cpu_before, started) = (cpu_time(), Instant::now());
    let mut rounds = 0;
    while started.elapsed() < WINDOW {
        let n = served.len();
        assert_eq!(ping(&mut served[rounds % n], PATIENCE), Outcome::Served, "an accepted client");
        drop(closed.pop());
        let mut newcomer = TcpStream::connect(addr).unwrap();
        assert_eq!(ping(&mut newcomer, PATIENCE), Outcome::Closed, "a newcomer at the limit");
        closed.push(newcomer);
        rounds += 1;
        thread::sleep(Duration::from_millis(20));
    }
    let cpu = cpu_time() - cpu_before;

    // Once the others close, a new client is served.
    drop(served);
    drop(closed);
    let mut last = TcpStream::connect(addr).unwrap();
    assert_eq!(ping(&mut last, PATIENCE), Outcome::Served, "a client after descriptors freed up");
    Report { served: served_count, closed: closed_count, rounds, cpu }
}

#[test]
fn emfile_without_a_spare_pauses_then_serves() {
    let lp = Loop::new().unwrap();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let queued: Vec<TcpStream> = (0..ROOM).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Fill the table to the brim, keeping the means to free room for every
    // queued client and the spare: the listener, adopted now, has no spare.
    set_nofile_limit(limit_leaving(ROOM + 1)).unwrap();
    let filler: Vec<std::fs::File> =
        std::iter::from_fn(|| std::fs::File::open("/dev/null").ok()).take(1000).collect();
    assert!(filler.len() > ROOM, "{} descriptors to free", filler.len());
    let listener = TcpListener::from_std(&lp, std_listener).unwrap();
    let (server, accepted) = serve(listener);

    let cpu = run_with_clients(&lp, move || {
        let mut queued = queued;
        // Nothing can be accepted, nothing spins, and the clients wait in the queue.
        let cpu_before = cpu_time();
        thread::sleep(WINDOW);
        let cpu = cpu_time() - cpu_before;
        assert_eq!(ping(&mut queued[0], Duration::from_millis(50)), Outcome::Waiting, "still queued");
        // Descriptors free up: within a pause or two, every queued client is served.
        drop(filler);
        for (i, client) in queued.iter_mut().enumerate() {
            assert_eq!(ping(client, PATIENCE), Outcome::Served, "queued client {i}");
        }
        cpu
    });

    assert!(cpu < CPU_BUDGET, "the process used {cpu:?} of CPU in {WINDOW:?} at the limit");
    assert_eq!(accepted.get(), ROOM);
    wind_down(&lp, server);
}
