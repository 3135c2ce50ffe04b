//! A client pipelines 10,000 requests; at `--max-requests` (1000) the server
//! answers the 1000th with `Connection: close`, shuts down writing and
//! lingers. `linger` used to stop after draining 64 KiB and close with the client's further requests unread: the kernel then sends
//! RST, and the client's stack discards the answers it has received but not
//! yet read (fewer than 300 of the 1000 survived before the fix). RFC 9112 §9.6
//! asks a server to keep reading until the client closes or it is sure the
//! response arrived; nginx's lingering_close has no byte cap, only
//! `lingering_time` (30 s) and `lingering_timeout` (5 s per read).

mod reliability;

use std::io::Write;
use std::time::Duration;

use reliability::{read_response, scratch, Cleanup, Waiter};

#[test]
fn every_answer_before_max_requests_arrives() {
    let base = scratch("pending-linger");
    let _cleanup = Cleanup(base.clone());
    let root = base.join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("a.txt"), b"0123456789").unwrap();
    let server = Waiter::start(&[], &root, &["--workers", "1"]);
    let requests: Vec<u8> =
        (0..10_000).flat_map(|_| b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n".to_vec()).collect();
    let mut stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&requests));
    // A client that reads a little later than it writes, as a real one may.
    std::thread::sleep(Duration::from_millis(500));
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, &mut stream);
    let mut answered = 0;
    while let Ok(Some(_)) = read_response(&mut reader, false) {
        answered += 1;
    }
    let _ = sender.join();
    assert_eq!(answered, 1000, "answers that arrived before the connection ended");
}
