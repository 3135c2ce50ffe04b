//! 10,000 registered TCP sockets (5,000 connected pairs on 127.0.0.1), every
//! one with a reader waiting, and exactly one becomes active: the tick that
//! handles it delivers exactly one event, the first seed's claim that an idle
//! connection costs the loop nothing per wait.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use waiter_loop::net::{ListenOptions, TcpListener, TcpStream};
use waiter_loop::{nofile_limit, set_nofile_limit, Loop};

mod common;

const PAIRS: usize = 5_000;
/// Descriptors beyond the sockets: stdio, the loop's own, the listener, slack.
const EXTRA_FDS: u64 = 64;

fn run<F: Future>(lp: &Loop, f: F) -> F::Output {
    common::run_within(lp, Duration::from_secs(120), f)
}

/// One `read_start` callback: which socket, how many events its tick delivered, what it read.
struct Delivery {
    socket: usize,
    events_in_tick: usize,
    bytes: Vec<u8>,
}

#[test]
fn tcp_10k_one_active() {
    let need = 2 * PAIRS as u64 + EXTRA_FDS;
    let (soft, hard) = nofile_limit().unwrap();
    assert!(hard >= need, "RLIMIT_NOFILE's hard limit is {hard}; this test needs {need} descriptors");
    set_nofile_limit(soft.max(need)).unwrap();

    let lp = Loop::new().unwrap();
    let options = ListenOptions { backlog: 4096, ..ListenOptions::default() };
    let listener = TcpListener::bind_with(&lp, "127.0.0.1:0".parse().unwrap(), options).unwrap();
    let addr = listener.local_addr().unwrap();
    let deliveries: Rc<RefCell<Vec<Delivery>>> = Rc::default();
    let (sockets, events_between) = run(&lp, async {
        // streams[2k] is a client, streams[2k + 1] the server side of its connection.
        let mut streams = Vec::with_capacity(2 * PAIRS);
        for _ in 0..PAIRS {
            let client = TcpStream::connect(&lp, addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            streams.push(Rc::new(client));
            streams.push(Rc::new(server));
        }
        let readers: Vec<_> = streams
            .iter()
            .enumerate()
            .map(|(socket, stream)| {
                let log = deliveries.clone();
                stream
                    .clone()
                    .read_start(move |lp, data| {
                        let events_in_tick = lp.metrics().events_last_tick;
                        log.borrow_mut().push(Delivery {
                            socket,
                            events_in_tick,
                            bytes: data.unwrap().to_vec(),
                        });
                    })
                    .unwrap()
            })
            .collect();
        // Let registration's first reports (every socket starts writable) drain
        // away: wait for 50 ms without a single event, however long that takes.
        loop {
            let seen = lp.metrics().events;
            lp.sleep(Duration::from_millis(50)).unwrap().await;
            if lp.metrics().events == seen {
                break;
            }
        }
        assert_eq!(deliveries.borrow().len(), 0, "no socket has anything to read yet");

        let before = lp.metrics().events;
        let active = 2 * (PAIRS / 2) + 1; // a server side in the middle
        streams[active - 1].write_all(b"x").await.unwrap();
        while deliveries.borrow().is_empty() {
            lp.sleep(Duration::from_millis(1)).unwrap().await;
        }
        let events_between = lp.metrics().events - before;
        let sockets = streams.len();
        drop(readers);
        drop(streams);
        waiter_loop::yield_now().await;
        (sockets, events_between)
    });

    assert_eq!(sockets, 10_000);
    let deliveries = deliveries.borrow();
    assert_eq!(deliveries.len(), 1, "exactly one socket was active");
    let d = &deliveries[0];
    assert_eq!((d.socket, d.bytes.as_slice()), (2 * (PAIRS / 2) + 1, &b"x"[..]));
    assert_eq!(d.events_in_tick, 1, "the tick that handled the active socket delivered one event");
    assert_eq!(events_between, 1, "one event in all while 9,999 sockets stayed idle");
    assert_eq!(lp.task_count(), 0);
    assert_eq!(lp.active_handles(), 0);
}
