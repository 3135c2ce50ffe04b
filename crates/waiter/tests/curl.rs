//! `curl` (a real, independent HTTP client) against the `waiter` binary:
//! downloads, HEAD, a range, a resumed download, a conditional GET,
//! `--compressed` with a precompressed sibling, a 404 and HTTP/1.0.
//! Every curl run is bounded by `--max-time 5`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{kill, root_with, spawn, wait_exit, Running};

/// Text served by every test.
const TEXT: &[u8] = b"The quick brown fox jumps over the lazy dog.\n0123456789abcdefghijklmnopqrstuvwxyz\n";

/// A binary file above the 16 KiB small-file threshold (served with sendfile).
fn big() -> Vec<u8> {
    (0..200 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

/// `waiter serve` over a fresh root; stopped with SIGTERM (and the root
/// removed) on drop, even when a check fails.
struct Server {
    running: Running,
    root: PathBuf,
}

impl Server {
    fn start(tag: &str, files: &[(&str, &[u8])], args: &[&str]) -> Server {
        let root = root_with(&format!("curl-{tag}"), files);
        let mut all = vec!["--workers", "1"];
        all.extend_from_slice(args);
        Server { running: spawn(&[], &root, &all), root }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.addr)
    }

    /// A scratch path next to the root (not served).
    fn scratch(&self, name: &str) -> PathBuf {
        self.root.with_extension(name)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        kill(self.running.child.id(), "TERM");
        if !std::thread::panicking() {
            assert_eq!(wait_exit(&mut self.running.child), Some(0), "clean exit");
        } else {
            let _ = self.running.child.kill();
            let _ = self.running.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.root);
        if let Some(parent) = self.root.parent() {
            let stem = self.root.file_name().unwrap().to_string_lossy().into_owned();
            if let Ok(entries) = std::fs::read_dir(parent) {
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.starts_with(&format!("{stem}.")) {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
    }
}

/// What one curl run printed.
struct Out {
    /// `-w` output: the last line, `<http_code> <http_version>`.
    code: u16,
    version: String,
    /// Everything before the `-w` line (headers for `-I`, the body without `-o`).
    stdout: Vec<u8>,
}

/// Runs `curl -sS --max-time 5 args... url` and checks it exited 0; `label` names the check.
fn curl(label: &str, args: &[&str], url: &str) -> Out {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-w", "\n%{http_code} %{http_version}"])
        .args(args)
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("{label}: cannot run curl (installed by .ci/run): {e}"));
    assert!(
        out.status.success(),
        "{label}: curl exited {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let split = out.stdout.iter().rposition(|&b| b == b'\n').expect("the -w line");
    let tail = String::from_utf8_lossy(&out.stdout[split + 1..]).into_owned();
    let (code, version) = tail.split_once(' ').unwrap_or_else(|| panic!("{label}: -w output {tail:?}"));
    Out {
        code: code.parse().unwrap_or_else(|_| panic!("{label}: http_code {code:?}")),
        version: version.to_owned(),
        stdout: out.stdout[..split].to_vec(),
    }
}

/// The value of header `name` in a `-I`/`-D` header dump (last response in it).
fn header(dump: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(dump);
    let last = text.rsplit("\r\n\r\n").find(|block| block.starts_with("HTTP/")).unwrap_or(&text).to_owned();
    last.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[test]
fn get_downloads_exact_bytes() {
    let big = big();
    let server = Server::start("get", &[("t.txt", TEXT), ("big.bin", &big)], &[]);
    for (path, want) in [("/t.txt", TEXT), ("/big.bin", &big[..])] {
        let label = format!("GET {path} (-o file)");
        let file = server.scratch(&format!("get{}", path.replace('/', "-")));
        let out = curl(&label, &["-o", file.to_str().unwrap()], &server.url(path));
        assert_eq!(out.code, 200, "{label}: status");
        assert_eq!(out.version, "1.1", "{label}: HTTP/1.1");
        assert!(read(&file) == want, "{label}: the downloaded bytes differ from the file");
    }
    // Both files on one keep-alive connection: curl reuses it for a second URL.
    let (a, b) = (server.scratch("ka-a"), server.scratch("ka-b"));
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-w", "%{num_connects} "])
        .args(["-o", a.to_str().unwrap(), &server.url("/t.txt")])
        .args(["-o", b.to_str().unwrap(), &server.url("/big.bin")])
        .output()
        .unwrap();
    assert!(out.status.success(), "keep-alive: curl failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1 0 ",
        "keep-alive: the second URL reused the connection"
    );
    assert!(read(&a) == TEXT && read(&b) == big, "keep-alive: both bodies exact");
}

#[test]
fn head_has_headers_and_no_body() {
    let server = Server::start("head", &[("t.txt", TEXT)], &[]);
    let out = curl("HEAD (-sI)", &["-I"], &server.url("/t.txt"));
    assert_eq!(out.code, 200, "HEAD: status");
    let dump = &out.stdout;
    assert!(dump.starts_with(b"HTTP/1.1 200 "), "HEAD: status line in {:?}", String::from_utf8_lossy(dump));
    assert!(dump.ends_with(b"\r\n\r\n"), "HEAD: nothing after the head: {:?}", String::from_utf8_lossy(dump));
    assert_eq!(header(dump, "Content-Length"), Some(TEXT.len().to_string()), "HEAD: Content-Length");
    assert_eq!(header(dump, "Accept-Ranges").as_deref(), Some("bytes"), "HEAD: Accept-Ranges");
    assert!(
        header(dump, "Content-Type")
            .is_some_and(|t| t.starts_with("text/plain") && t.contains("charset=utf-8")),
        "HEAD: Content-Type"
    );
    for name in ["Last-Modified", "ETag", "Date", "Server"] {
        assert!(header(dump, name).is_some(), "HEAD: {name}");
    }
}

#[test]
fn range_request() {
    let big = big();
    let server = Server::start("range", &[("t.txt", TEXT), ("big.bin", &big)], &[]);
    let file = server.scratch("range");
    let headers = server.scratch("range-headers");
    let out = curl(
        "range (-r 10-19)",
        &["-r", "10-19", "-o", file.to_str().unwrap(), "-D", headers.to_str().unwrap()],
        &server.url("/t.txt"),
    );
    assert_eq!(out.code, 206, "range: status");
    assert_eq!(read(&file), &TEXT[10..20], "range: bytes 10-19");
    let dump = read(&headers);
    assert_eq!(
        header(&dump, "Content-Range"),
        Some(format!("bytes 10-19/{}", TEXT.len())),
        "range: Content-Range"
    );
    // The same on a file sent with sendfile, from the middle.
    let out = curl(
        "range on a large file",
        &["-r", "100000-150000", "-o", file.to_str().unwrap()],
        &server.url("/big.bin"),
    );
    assert_eq!(out.code, 206, "range on a large file: status");
    assert!(read(&file) == big[100_000..=150_000], "range on a large file: bytes");
}

#[test]
fn resume_completes_a_partial_file() {
    let big = big();
    let server = Server::start("resume", &[("big.bin", &big)], &[]);
    for cut in [1usize, 12_345, 100_000, big.len() - 1] {
        let label = format!("resume (-C -) from {cut} bytes");
        let file = server.scratch(&format!("resume-{cut}"));
        std::fs::write(&file, &big[..cut]).unwrap();
        let out = curl(&label, &["-C", "-", "-o", file.to_str().unwrap()], &server.url("/big.bin"));
        assert_eq!(out.code, 206, "{label}: status");
        let got = read(&file);
        assert_eq!(got.len(), big.len(), "{label}: final length");
        assert!(got == big, "{label}: the resumed file differs from the original");
    }
}

#[test]
fn conditional_get_with_a_date() {
    let server = Server::start("cond", &[("t.txt", TEXT)], &[]);
    let head = curl("conditional: HEAD for Last-Modified", &["-I"], &server.url("/t.txt"));
    let last_modified = header(&head.stdout, "Last-Modified").expect("Last-Modified");

    let label = format!("conditional (-z {last_modified:?}): not modified");
    let out = curl(&label, &["-z", &last_modified, "-D", "-"], &server.url("/t.txt"));
    assert_eq!(out.code, 304, "{label}: status");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.ends_with("\r\n\r\n"), "{label}: no body after the 304 head: {text:?}");

    let label = "conditional (-z in the past): modified";
    let out = curl(label, &["-z", "Sat, 01 Jan 2000 00:00:00 GMT"], &server.url("/t.txt"));
    assert_eq!(out.code, 200, "{label}: status");
    assert_eq!(out.stdout, TEXT, "{label}: the whole body");

    // `-z FILE` takes the date from a local file's mtime: one written after
    // the served file is not older than it, so the answer is 304.
    let label = "conditional (-z a local file written later)";
    let local = server.scratch("cond-local");
    std::fs::write(&local, b"x").unwrap();
    let out = curl(label, &["-z", local.to_str().unwrap()], &server.url("/t.txt"));
    assert_eq!(out.code, 304, "{label}: status");
    assert!(out.stdout.is_empty(), "{label}: no body");
}

/// A gzip member holding `data` in stored (uncompressed) deflate blocks.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let chunks: Vec<&[u8]> = data.chunks(0xffff).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

#[test]
fn compressed_gets_the_gz_sibling() {
    let page: Vec<u8> = TEXT.repeat(50);
    let gz = gzip_stored(&page);
    let server = Server::start("gz", &[("page.html", &page), ("page.html.gz", &gz)], &["--precompressed"]);
    let file = server.scratch("gz-out");
    let headers = server.scratch("gz-headers");
    let args = ["--compressed", "-o", file.to_str().unwrap(), "-D", headers.to_str().unwrap()];
    let out = curl("--compressed", &args, &server.url("/page.html"));
    assert_eq!(out.code, 200, "--compressed: status");
    let dump = read(&headers);
    assert_eq!(header(&dump, "Content-Encoding").as_deref(), Some("gzip"), "--compressed: Content-Encoding");
    assert_eq!(header(&dump, "Vary").as_deref(), Some("Accept-Encoding"), "--compressed: Vary");
    assert_eq!(header(&dump, "Content-Length"), Some(gz.len().to_string()), "--compressed: the .gz length");
    assert!(
        header(&dump, "Content-Type").is_some_and(|t| t.starts_with("text/html")),
        "--compressed: the original's type"
    );
    assert!(read(&file) == page, "--compressed: curl's decoded bytes equal the original");

    // Without --compressed curl asks for no encoding and gets the original.
    let out = curl(
        "without --compressed",
        &["-o", file.to_str().unwrap(), "-D", headers.to_str().unwrap()],
        &server.url("/page.html"),
    );
    assert_eq!(out.code, 200, "without --compressed: status");
    assert_eq!(
        header(&read(&headers), "Content-Encoding"),
        None,
        "without --compressed: no Content-Encoding"
    );
    assert!(read(&file) == page, "without --compressed: the original bytes");
}

#[test]
fn missing_file_is_404() {
    let server = Server::start("404", &[("t.txt", TEXT)], &[]);
    let out = curl("404", &[], &server.url("/no-such-file.txt"));
    assert_eq!(out.code, 404, "404: status");
    // --fail turns it into curl's exit code 22, as scripts use it.
    let status = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "5", "-o", "/dev/null", &server.url("/no-such-file.txt")])
        .output()
        .unwrap()
        .status;
    assert_eq!(status.code(), Some(22), "404: curl --fail exit code");
}

#[test]
fn http_1_0_request() {
    let big = big();
    let server = Server::start("http10", &[("t.txt", TEXT), ("big.bin", &big)], &[]);
    for (path, want) in [("/t.txt", TEXT), ("/big.bin", &big[..])] {
        let label = format!("HTTP/1.0 (-0) {path}");
        let file = server.scratch(&format!("http10{}", path.replace('/', "-")));
        let headers = server.scratch(&format!("http10-headers{}", path.replace('/', "-")));
        let args = ["-0", "-o", file.to_str().unwrap(), "-D", headers.to_str().unwrap()];
        let out = curl(&label, &args, &server.url(path));
        assert_eq!(out.code, 200, "{label}: status");
        assert!(read(&file) == want, "{label}: the body");
        let dump = read(&headers);
        assert_eq!(header(&dump, "Content-Length"), Some(want.len().to_string()), "{label}: Content-Length");
        // An HTTP/1.0 request without keep-alive: the server closes after it.
        let connection = header(&dump, "Connection").map(|c| c.to_ascii_lowercase());
        assert_ne!(connection.as_deref(), Some("keep-alive"), "{label}: no keep-alive unless asked");
    }
}
