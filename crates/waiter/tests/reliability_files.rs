//! Issue 5, files changing under the server: a 32 MiB file (sent with
//! sendfile from a descriptor the open-file cache shares) is truncated,
//! replaced by a rename, deleted or appended to while a client downloads it.
//! No crash; a response that cannot deliver what its `Content-Length`
//! announced is cut short by closing the connection, and every byte that
//! did arrive is the right one; the cache serves the new version within a
//! few seconds (it revalidates after 1 s).

mod reliability;

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use reliability::{checksum, get_once, pattern, read_response, record, scratch, Cleanup, Waiter};

const BIG: usize = 32 << 20;

/// Sends `GET /big.bin`, reads the head and the first MiB of the body.
fn start_download(server: &Waiter) -> (TcpStream, u64, Vec<u8>) {
    let mut stream = server.connect();
    std::io::Write::write_all(&mut stream, b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let head = read_response(&mut stream, true).unwrap().expect("a response");
    assert_eq!(head.status, 200, "{}", head.head);
    let len = head.header("Content-Length").unwrap().parse().unwrap();
    let mut body = vec![0u8; 1 << 20];
    stream.read_exact(&mut body).unwrap();
    (stream, len, body)
}

/// Reads the rest of a download until end-of-stream or `announced` bytes:
/// whether the server closed the connection early.
fn finish_download(stream: &mut TcpStream, announced: u64, body: &mut Vec<u8>) -> bool {
    let mut buf = vec![0u8; 256 * 1024];
    while (body.len() as u64) < announced {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => body.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the download ended with {e} instead of a clean close"),
        }
    }
    false
}

/// Waits until `GET /big.bin` answers `status` with `want` (when given).
fn eventually(server: &Waiter, status: u16, want: Option<&[u8]>) -> bool {
    reliability::wait_for(Duration::from_secs(5), || {
        get_once(server.addr, "/big.bin").is_ok_and(|r| {
            r.status == status
                && want.map_or(true, |w| r.body.len() == w.len() && checksum(&r.body) == checksum(w))
        })
    })
}

fn setup(tag: &str) -> (Cleanup, std::path::PathBuf, Waiter) {
    let base = scratch(tag);
    let root = base.join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("big.bin"), pattern(BIG)).unwrap();
    let server = Waiter::start(&[], &root, &["--workers", "1"]);
    (Cleanup(base), root, server)
}

fn write_via_rename(root: &Path, contents: &[u8]) {
    let tmp = root.join("big.bin.tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, root.join("big.bin")).unwrap();
}

#[test]
fn truncated_while_sent_is_cut_short_then_served_anew() {
    let (_cleanup, root, server) = setup("truncate");
    let original = pattern(BIG);
    let (mut stream, announced, mut body) = start_download(&server);
    assert_eq!(announced, BIG as u64);
    let short = 2 << 20;
    std::fs::OpenOptions::new().write(true).open(root.join("big.bin")).unwrap().set_len(short).unwrap();
    let closed_early = finish_download(&mut stream, announced, &mut body);
    record("files", "truncate_announced_bytes", announced);
    record("files", "truncate_received_bytes", body.len());
    assert!(closed_early, "a download of a truncated file cannot complete: it must end early");
    assert!((body.len() as u64) < announced, "fewer bytes than announced");
    assert!(body == original[..body.len()], "every byte received is the file's byte at that offset");
    assert!(eventually(&server, 200, Some(&original[..short as usize])), "the truncated file is served anew");
    server.stop();
}

#[test]
fn renamed_over_while_sent_completes_the_old_then_serves_the_new() {
    let (_cleanup, root, server) = setup("rename");
    let original = pattern(BIG);
    let (mut stream, announced, mut body) = start_download(&server);
    let replacement: Vec<u8> = pattern(BIG / 2 + 7).iter().map(|b| b ^ 0x5a).collect();
    write_via_rename(&root, &replacement);
    assert!(!finish_download(&mut stream, announced, &mut body), "the old inode is still whole");
    assert_eq!(checksum(&body), checksum(&original), "the download is the old version, whole");
    record("files", "rename_old_download_complete", body.len() == BIG);
    assert!(eventually(&server, 200, Some(&replacement)), "the new version is served within 5 s");
    server.stop();
}

#[test]
fn deleted_while_sent_completes_then_404() {
    let (_cleanup, root, server) = setup("delete");
    let (mut stream, announced, mut body) = start_download(&server);
    std::fs::remove_file(root.join("big.bin")).unwrap();
    assert!(!finish_download(&mut stream, announced, &mut body), "the unlinked inode is still whole");
    assert_eq!(checksum(&body), checksum(&pattern(BIG)), "the download completed with the right bytes");
    record("files", "delete_old_download_complete", body.len() == BIG);
    assert!(eventually(&server, 404, None), "404 once the cache has looked again");
    server.stop();
}

#[test]
fn appended_while_sent_sends_exactly_what_was_announced() {
    let (_cleanup, root, server) = setup("append");
    let (mut stream, announced, mut body) = start_download(&server);
    let mut file = std::fs::OpenOptions::new().append(true).open(root.join("big.bin")).unwrap();
    std::io::Write::write_all(&mut file, &[0xee; 1 << 20]).unwrap();
    assert!(!finish_download(&mut stream, announced, &mut body), "complete");
    assert_eq!(checksum(&body), checksum(&pattern(BIG)), "exactly the announced bytes");
    // The connection stays in sync: the next response starts right after.
    let mut grown = pattern(BIG);
    grown.extend_from_slice(&[0xee; 1 << 20]);
    let next = reliability::get(&mut stream, "/big.bin").expect("the next request on the connection");
    assert!(next.body.len() == BIG || next.body == grown, "old or new version, whole: {}", next.body.len());
    assert!(eventually(&server, 200, Some(&grown)), "the grown file is served within 5 s");
    server.stop();
}

#[test]
fn small_cached_file_replaced_is_never_torn() {
    let root = scratch("small").join("root");
    let _cleanup = Cleanup(root.parent().unwrap().to_path_buf());
    std::fs::create_dir_all(&root).unwrap();
    let (old, new) = (vec![b'o'; 8000], vec![b'n'; 12000]);
    std::fs::write(root.join("small.txt"), &old).unwrap();
    let server = Waiter::start(&[], &root, &["--workers", "1"]);
    assert_eq!(get_once(server.addr, "/small.txt").unwrap().body, old);
    let tmp = root.join("small.tmp");
    std::fs::write(&tmp, &new).unwrap();
    std::fs::rename(&tmp, root.join("small.txt")).unwrap();
    let mut saw_new = false;
    for _ in 0..40 {
        let body = get_once(server.addr, "/small.txt").unwrap().body;
        assert!(body == old || body == new, "a torn small file: {} bytes", body.len());
        saw_new |= body == new;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(saw_new, "the new version within 4 s");
    server.stop();
}
