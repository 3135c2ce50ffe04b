//! At `RLIMIT_NOFILE`, a connection the server already holds asks for a small
//! file whose bytes sit in the open-file cache; once the entry is older than
//! `REVALIDATE` (1 s) the lookup must `stat`/`open` again, `open` fails with
//! EMFILE. That answer was `500 Internal Server Error` for a file it could
//! serve from memory; now the cached entry is served (and a file that is not
//! cached gets a temporary 503), never a 500.

mod reliability;

use std::net::TcpStream;
use std::time::Duration;

use reliability::{get, scratch, Waiter};

#[test]
fn a_cached_file_is_served_at_the_descriptor_limit() {
    reliability::raise_own_nofile(8192);
    let base = scratch("pending-emfile");
    let _cleanup = reliability::Cleanup(base.clone());
    let root = base.join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("a.txt"), b"0123456789").unwrap();
    let server = Waiter::start(&["prlimit", "--nofile=256:256"], &root, &["--workers", "1"]);
    let mut held = server.connect();
    assert_eq!(get(&mut held, "/a.txt").unwrap().status, 200, "before the storm");
    let storm: Vec<TcpStream> = (0..600).filter_map(|_| TcpStream::connect(server.addr).ok()).collect();
    assert!(reliability::wait_for(Duration::from_secs(5), || server.fds() >= 250), "at the limit");
    std::thread::sleep(Duration::from_millis(1500));
    let r = get(&mut held, "/a.txt").unwrap();
    assert_eq!(
        r.status,
        200,
        "a cached file at the descriptor limit: {}\nstderr: {}",
        r.head,
        server.stderr()
    );
    drop(storm);
}
