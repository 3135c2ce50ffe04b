//! Differential test of `waiter serve` against nginx 1.22, the way an outside
//! judge would compare them: every request of `nginx_diff/corpus.txt` (raw
//! bytes) goes to both servers on a fresh connection, and the answers must be
//! the same except for the differences the corpus lists, each with its reason.
//!
//! Why: issue 3 asks for a server that can replace nginx in front of real
//! traffic, so wherever waiter answers otherwise it should be because nginx is
//! wrong or laxer (RFC 9110/9112) or because of a deliberate, written choice.
//!
//! Both serve the same root ([`build_root`]): text, HTML, binary (above the
//! small-file limit, so sendfile), empty, CSS with `.gz`/`.br` siblings, JS
//! with `.gz` only, directories with and without `index.html`, dotfiles,
//! names needing percent-encoding, a symlink inside and one leading outside.
//! waiter runs with `--workers 1 --precompressed` (autoindex off, dotfiles
//! denied: the defaults); nginx with [`NGINX_CONF`], the closest equivalents:
//! `gzip_static on` + `gzip_vary on` + `gzip_http_version 1.0` (waiter has
//! no HTTP/1.0 exception), `if_modified_since before` (waiter's RFC rule),
//! `etag on`, `max_ranges 16` (waiter's cap), `absolute_redirect off`
//! (waiter's `Location` is a path), `charset utf-8` for the text types,
//! `location ~ /\.` → 404 for dotfiles, `autoindex off`, `index index.html`.
//!
//! Compared per final response (1xx ones are only counted): the status; `Content-Length`, `Content-Range`,
//! `Content-Type`, `Content-Encoding`, `Vary`, `ETag`, `Last-Modified`,
//! `Allow`, `Location`, `Connection`, `Accept-Ranges`, `Transfer-Encoding`,
//! `Keep-Alive`; the body's length and hash; how many responses came; and
//! whether the connection stayed open and in sync (after the first answer a
//! probe `GET /probe.txt` is sent and must be answered). Normalised, because
//! they legitimately differ: `Date`, `Server` and other headers are not
//! compared; `Connection: keep-alive` on an HTTP/1.1 exchange is dropped
//! (persistence is the default; the probe measures it); `Accept-Ranges`
//! outside a 200 (waiter also sends it with 206, 304 and 416, which RFC 9110
//! §14.3 allows in any response); a multipart boundary; for a status of 300 or more other than 304,
//! the body, `Content-Length`, `Content-Type`, `ETag` and `Last-Modified`
//! (each server's own error page). When a case lists `status` as differing,
//! its headers and body are not compared either (a different answer), but
//! the response count and the connection still are, unless listed too.
//!
//! A listed difference that no longer occurs fails the test as well, so the
//! list stays true. nginx must be installed (Debian's `nginx` package; `.ci/run`
//! installs it): the test fails, not skips, without it. It takes about 2 s.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The corpus: cases, reasons and the listed differences (format in its header).
const CORPUS: &str = include_str!("nginx_diff/corpus.txt");

/// Every file's mtime (2020-06-01T08:26:40Z), so validators are reproducible.
const MTIME: u64 = 1_591_000_000;

/// How long one exchange may wait for answers in all: past it, what has not
/// come counts as "no answer" ([`End::Silent`]).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// The whole corpus must be done within this, or the test fails (it runs in
/// about a second; this bounds a server that stops answering).
const CORPUS_TIMEOUT: Duration = Duration::from_secs(25);

/// The probe sent after the first answer, and the body that identifies its answer.
const PROBE: &[u8] = b"GET /probe.txt HTTP/1.1\r\nHost: t\r\n\r\n";
const PROBE_BODY: &[u8] = b"PROBE-OK\n";

/// nginx's configuration; `{dir}`, `{port}` and `{root}` are filled in.
const NGINX_CONF: &str = r#"
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    sendfile on;
    server_tokens off;
    charset utf-8;
    charset_types text/plain text/css application/javascript application/json;
    etag on;
    if_modified_since before;
    gzip_static on;
    gzip_vary on;
    gzip_http_version 1.0;
    max_ranges 16;
    absolute_redirect off;
    keepalive_timeout 75;
    keepalive_requests 1000;
    server {
        listen 127.0.0.1:{port};
        root {root};
        index index.html;
        autoindex off;
        location ~ /\. { return 404; }
    }
}
"#;

/// The files of the served root: (path, contents).
fn root_files() -> Vec<(&'static str, Vec<u8>)> {
    let text = |s: &str| s.as_bytes().to_vec();
    vec![
        ("a.txt", text("0123456789abcdefghijklmnopqrstuvwxyz\n")),
        ("index.html", text("<h1>home</h1>\n")),
        ("page.html", text("<!doctype html><title>p</title>\n")),
        ("big.bin", (0..40_000u32).map(|i| ((i * 7 + i / 256) % 256) as u8).collect()),
        ("empty.txt", Vec::new()),
        ("style.css", text(&"body { color: red }\n".repeat(10))),
        ("style.css.gz", b"GZ-BYTES-OF-STYLE\x1f\x8b".to_vec()),
        ("style.css.br", text("BR-BYTES-OF-STYLE")),
        ("app.js", text("console.log(1)\n")),
        ("app.js.gz", text("GZ-APP")),
        ("data.json", text("{\"a\":1}\n")),
        ("notes.zzq", text("zzq\n")),
        ("README", text("readme\n")),
        ("UPPER.TXT", text("upper\n")),
        ("dir/index.html", text("<h1>dir</h1>\n")),
        ("dir/.secret", text("secret\n")),
        ("noindex/file.txt", text("f\n")),
        ("gzdir/index.html", text("<p>gz</p>\n")),
        ("gzdir/index.html.gz", text("GZ-INDEX")),
        ("sp dir/index.html", text("sp\n")),
        ("100%dir/index.html", text("pd\n")),
        ("édir/index.html", text("ed\n")),
        (".env", text("SECRET=1\n")),
        (".hidden/x.txt", text("x\n")),
        ("sp ace.txt", text("space\n")),
        ("100%.txt", text("percent\n")),
        ("é.txt", text("e-acute\n")),
        ("a+b.txt", text("plus\n")),
        ("probe.txt", PROBE_BODY.to_vec()),
    ]
}

/// `base/root` with [`root_files`], every file's mtime [`MTIME`], plus
/// `inlink.txt` → `a.txt` and `outlink.txt` → `../outside.txt`.
fn build_root(base: &Path) -> PathBuf {
    let root = base.join("root");
    let mtime = UNIX_EPOCH + Duration::from_secs(MTIME);
    for (name, contents) in root_files() {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
    }
    std::fs::write(base.join("outside.txt"), b"outside\n").unwrap();
    std::os::unix::fs::symlink("../outside.txt", root.join("outlink.txt")).unwrap();
    std::os::unix::fs::symlink("a.txt", root.join("inlink.txt")).unwrap();
    root
}

/// One corpus case.
struct Case {
    name: String,
    request: Vec<u8>,
    /// Field → reason id, for the listed differences.
    differs: BTreeMap<String, String>,
}

/// The fields a `differs` line may name besides header names.
const FIELDS: &[&str] = &["status", "body", "count", "interim", "conn"];

/// Parses the corpus, expanding `{LM f}`, `{ETAG f}` (from the files in
/// `root`) and `{REPEAT text n}`, then the escapes.
fn parse_corpus(root: &Path) -> (Vec<Case>, BTreeMap<String, String>) {
    let mut cases: Vec<Case> = Vec::new();
    let mut reasons = BTreeMap::new();
    for (n, line) in CORPUS.lines().enumerate() {
        let at = || format!("corpus.txt:{}", n + 1);
        if let Some(name) = line.strip_prefix("case ") {
            assert!(cases.iter().all(|c| c.name != name.trim()), "{}: duplicate case {name}", at());
            cases.push(Case { name: name.trim().to_owned(), request: Vec::new(), differs: BTreeMap::new() });
        } else if let Some(raw) = line.strip_prefix("  ") {
            let case = cases.last_mut().unwrap_or_else(|| panic!("{}: request bytes outside a case", at()));
            case.request.extend(unescape(&expand(raw, root)));
        } else if let Some(rest) = line.strip_prefix("differs ") {
            let (fields, reason) = rest.split_once(" -- ").unwrap_or_else(|| panic!("{}: no reason", at()));
            let case = cases.last_mut().unwrap_or_else(|| panic!("{}: differs outside a case", at()));
            for field in fields.split(',').map(str::trim) {
                case.differs.insert(field.to_owned(), reason.trim().to_owned());
            }
        } else if let Some(rest) = line.strip_prefix("reason ") {
            let (id, text) = rest.split_once(' ').unwrap_or_else(|| panic!("{}: empty reason", at()));
            reasons.insert(id.to_owned(), text.to_owned());
        } else {
            assert!(line.is_empty() || line.starts_with('#'), "{}: unknown line {line:?}", at());
        }
    }
    for case in &cases {
        for (field, reason) in &case.differs {
            assert!(reasons.contains_key(reason), "{}: unknown reason {reason}", case.name);
            let header = field.chars().all(|c| c.is_ascii_lowercase() || c == '-');
            assert!(FIELDS.contains(&field.as_str()) || header, "{}: bad field {field}", case.name);
        }
    }
    (cases, reasons)
}

/// Replaces the `{...}` templates of one corpus line.
fn expand(line: &str, root: &Path) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else { break };
        let inner = &rest[open + 1..close];
        let mut words = inner.split(' ');
        let expanded = match words.next() {
            Some("LM") => Some(
                waiter_http::LastModified::new(mtime_of(root, words.next().unwrap())).as_str().to_owned(),
            ),
            Some("ETAG") => {
                let meta = std::fs::metadata(root.join(words.next().unwrap())).unwrap();
                let secs = meta.modified().unwrap().duration_since(UNIX_EPOCH).unwrap().as_secs();
                Some(format!("\"{secs:x}-{:x}\"", meta.len()))
            }
            Some("REPEAT") => {
                let (text, count) = inner["REPEAT ".len()..].rsplit_once(' ').unwrap();
                Some(text.repeat(count.parse().unwrap()))
            }
            _ => None,
        };
        match expanded {
            Some(text) => {
                out.push_str(&rest[..open]);
                out.push_str(&text);
            }
            None => out.push_str(&rest[..=close]),
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

fn mtime_of(root: &Path, name: &str) -> SystemTime {
    std::fs::metadata(root.join(name)).unwrap().modified().unwrap()
}

/// Decodes `\r \n \t \\ \xHH`.
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex = [bytes.next().unwrap(), bytes.next().unwrap()];
                out.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap());
            }
            other => panic!("bad escape \\{other:?} in {text:?}"),
        }
    }
    out
}

/// One response as read off the wire.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// How an exchange ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// The probe was answered: the connection stayed open and in sync.
    Open,
    /// The server closed (EOF or reset).
    Closed,
    /// Nothing more came before the exchange's deadline.
    Silent,
    /// Bytes that are not an HTTP/1.x response (e.g. an HTTP/0.9 answer).
    Garbage,
}

/// A buffered reader of responses on one connection.
struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
    deadline: Instant,
}

impl Reader {
    /// More bytes into `buf`; the end if there are none.
    fn fill(&mut self) -> Result<(), End> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(End::Silent);
        }
        self.stream.set_read_timeout(Some(left)).unwrap();
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(End::Closed),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Err(End::Silent),
            Err(_) => Err(End::Closed),
        }
    }

    /// The next response; `head_only` for an answer to HEAD.
    fn response(&mut self, head_only: bool) -> Result<Response, End> {
        let end = loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            if let Err(end) = self.fill() {
                return Err(if self.buf.is_empty() { end } else { End::Garbage });
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = match status_line.strip_prefix("HTTP/1.") {
            Some(rest) => rest.get(2..5).and_then(|s| s.parse().ok()).ok_or(End::Garbage)?,
            None => return Err(End::Garbage),
        };
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok());
        let body = if head_only || status < 200 || status == 204 || status == 304 {
            Vec::new()
        } else if let Some(length) = length {
            while self.buf.len() < length && self.fill().is_ok() {}
            let n = length.min(self.buf.len());
            self.buf.drain(..n).collect()
        } else {
            while self.fill().is_ok() {}
            std::mem::take(&mut self.buf)
        };
        Ok(Response { status, headers, body })
    }
}

/// Sends `request` on a fresh connection to `addr`, reads the answers, sends
/// the probe after the first final one, and reads on until the probe's answer
/// or the end; gives up at [`EXCHANGE_TIMEOUT`] or at `deadline`.
fn exchange(addr: SocketAddr, request: &[u8], deadline: Instant) -> (Vec<Response>, End) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_write_timeout(Some(EXCHANGE_TIMEOUT)).unwrap();
    let deadline = deadline.min(Instant::now() + EXCHANGE_TIMEOUT);
    let mut reader = Reader { stream, buf: Vec::new(), deadline };
    let head_only = request.starts_with(b"HEAD ");
    let mut responses = Vec::new();
    if let Err(e) = reader.stream.write_all(request) {
        panic!("sending to {addr}: {e}");
    }
    loop {
        match reader.response(head_only) {
            Ok(r) if r.status < 200 => responses.push(r),
            Ok(r) => {
                responses.push(r);
                break;
            }
            Err(end) => return (responses, end),
        }
    }
    if reader.stream.write_all(PROBE).is_err() {
        return (responses, End::Closed);
    }
    loop {
        match reader.response(false) {
            Ok(r) if r.body == PROBE_BODY => return (responses, End::Open),
            Ok(r) => responses.push(r),
            Err(end) => return (responses, end),
        }
    }
}

/// The headers compared (see the module notes).
const COMPARED: &[&str] = &[
    "content-length",
    "content-range",
    "content-type",
    "content-encoding",
    "vary",
    "etag",
    "last-modified",
    "allow",
    "location",
    "connection",
    "accept-ranges",
    "transfer-encoding",
    "keep-alive",
];

/// A response reduced to what is compared: status, headers, body digest.
#[derive(Debug, PartialEq, Eq)]
struct Normal {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Option<String>,
}

fn normalise(r: &Response, http10: bool) -> Normal {
    let mut headers = BTreeMap::<String, String>::new();
    for (k, v) in &r.headers {
        if COMPARED.contains(&k.as_str()) {
            headers.entry(k.clone()).and_modify(|all| *all = format!("{all}, {v}")).or_insert(v.clone());
        }
    }
    if !http10 && headers.get("connection").is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")) {
        headers.remove("connection");
    }
    if r.status != 200 {
        headers.remove("accept-ranges");
    }
    let mut body = r.body.clone();
    if let Some(ct) = headers.get("content-type").cloned() {
        if let Some(boundary) = ct.split("boundary=").nth(1).map(|b| b.trim().to_owned()) {
            body = replace(&body, boundary.as_bytes(), b"BOUNDARY");
            headers.insert("content-type".into(), ct.replace(&boundary, "BOUNDARY"));
            headers.remove("content-length");
        }
    }
    let mut digest = Some(format!("{} bytes, {:016x}", body.len(), fnv1a(&body)));
    if r.status >= 300 && r.status != 304 {
        for k in ["content-length", "content-type", "etag", "last-modified"] {
            headers.remove(k);
        }
        digest = None;
    }
    Normal { status: r.status, headers, body: digest }
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The fields in which two exchanges differ, each with both sides' values.
fn differences(
    case: &Case,
    waiter: &(Vec<Response>, End),
    nginx: &(Vec<Response>, End),
) -> Vec<(String, String)> {
    let first_line = case.request.split(|&b| b == b'\n').next().unwrap_or_default();
    let http10 = first_line.windows(9).any(|w| w == b" HTTP/1.0");
    let finals =
        |all: &[Response]| all.iter().filter(|r| r.status >= 200).map(|r| normalise(r, http10)).collect();
    let (w, n): (Vec<Normal>, Vec<Normal>) = (finals(&waiter.0), finals(&nginx.0));
    let interim = |all: &[Response]| all.iter().filter(|r| r.status < 200).count();
    let mut out = Vec::new();
    if waiter.1 != nginx.1 {
        out.push(("conn".to_owned(), format!("waiter {:?}, nginx {:?}", waiter.1, nginx.1)));
    }
    if interim(&waiter.0) != interim(&nginx.0) {
        let counts = format!("waiter {}, nginx {}", interim(&waiter.0), interim(&nginx.0));
        out.push(("interim".to_owned(), format!("1xx responses: {counts}")));
    }
    if w.len() != n.len() {
        let statuses = |v: &[Normal]| v.iter().map(|r| r.status.to_string()).collect::<Vec<_>>().join(" ");
        out.push(("count".to_owned(), format!("waiter [{}], nginx [{}]", statuses(&w), statuses(&n))));
    }
    for (i, (w, n)) in w.iter().zip(&n).enumerate() {
        if w.status != n.status {
            out.push(("status".to_owned(), format!("#{i}: waiter {}, nginx {}", w.status, n.status)));
            if case.differs.contains_key("status") {
                continue;
            }
        }
        let keys: BTreeSet<&String> = w.headers.keys().chain(n.headers.keys()).collect();
        for k in keys {
            let (wv, nv) = (w.headers.get(k), n.headers.get(k));
            if wv != nv {
                out.push((k.clone(), format!("#{i}: waiter {wv:?}, nginx {nv:?}")));
            }
        }
        if w.body != n.body {
            out.push(("body".to_owned(), format!("#{i}: waiter {:?}, nginx {:?}", w.body, n.body)));
        }
    }
    out
}

/// A `waiter serve` killed on drop, so a failing test leaves no server behind.
struct Killed(common::Running);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

/// nginx running with [`NGINX_CONF`] over `root` on a free port; killed on drop.
struct Nginx {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nginx binary: `$NGINX`, else Debian's `/usr/sbin/nginx`, else `nginx` on the PATH.
fn nginx_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NGINX") {
        return path.into();
    }
    let debian = PathBuf::from("/usr/sbin/nginx");
    if debian.exists() {
        return debian;
    }
    PathBuf::from("nginx")
}

fn start_nginx(base: &Path, root: &Path) -> Nginx {
    let dir = base.join("nginx");
    std::fs::create_dir_all(&dir).unwrap();
    // A port the kernel just gave out and took back: free unless someone
    // grabs it in the next milliseconds, which a retry covers.
    for _attempt in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let conf = NGINX_CONF
            .replace("{dir}", dir.to_str().unwrap())
            .replace("{port}", &port.to_string())
            .replace("{root}", root.to_str().unwrap());
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let binary = nginx_binary();
        let child = Command::new(&binary)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): this test needs nginx (Debian's nginx package)",
                    binary.display()
                )
            });
        let mut nginx = Nginx { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), dir: dir.clone() };
        let deadline = Instant::now() + common::TIMEOUT;
        loop {
            if TcpStream::connect(nginx.addr).is_ok() {
                return nginx;
            }
            if nginx.child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let log = std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default();
        if !log.contains("Address already in use") {
            panic!("nginx did not start: {log}");
        }
    }
    panic!("nginx found no free port in 5 attempts");
}

#[test]
fn waiter_answers_the_corpus_as_nginx_does_but_for_the_listed_differences() {
    let base = std::env::temp_dir().join(format!("waiter-nginx-diff-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = build_root(&base);
    let (cases, reasons) = parse_corpus(&root);
    assert!(cases.len() >= 150, "the corpus has {} cases", cases.len());
    let nginx = start_nginx(&base, &root);
    let waiter = Killed(common::spawn(&[], &root, &["--workers", "1", "--precompressed"]));
    let deadline = Instant::now() + CORPUS_TIMEOUT;

    // Four threads: each exchange waits on two servers, mostly for nothing.
    let results: Vec<_> = std::thread::scope(|s| {
        let chunks: Vec<_> = cases
            .chunks(cases.len().div_ceil(4))
            .map(|chunk| {
                let (w, n) = (waiter.0.addr, nginx.addr);
                s.spawn(move || {
                    let both =
                        |c: &Case| (exchange(w, &c.request, deadline), exchange(n, &c.request, deadline));
                    chunk.iter().map(both).collect::<Vec<_>>()
                })
            })
            .collect();
        chunks.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    drop(waiter);
    drop(nginx);
    assert!(
        Instant::now() < deadline,
        "the corpus took more than {CORPUS_TIMEOUT:?}: a server stopped answering"
    );

    let mut report = String::new();
    let mut used = BTreeSet::new();
    for (case, (w, n)) in cases.iter().zip(&results) {
        let found = differences(case, w, n);
        let found_fields: BTreeSet<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
        for (field, detail) in &found {
            if !case.differs.contains_key(field) {
                let _ = writeln!(report, "{}: {field} differs, not listed: {detail}", case.name);
            }
        }
        for (field, reason) in &case.differs {
            used.insert(reason.as_str());
            if !found_fields.contains(field.as_str()) {
                let _ =
                    writeln!(report, "{}: {field} listed as differing ({reason}) but the same", case.name);
            }
        }
    }
    for id in reasons.keys() {
        if !used.contains(id.as_str()) {
            let _ = writeln!(report, "reason {id} is used by no case");
        }
    }
    let _ = std::fs::remove_dir_all(&base);
    assert!(report.is_empty(), "waiter and nginx 1.22 differ outside corpus.txt's list:\n{report}");
}

/// `GET /a.txt/` names a directory `a.txt`; a file is not one. nginx answers
/// 404 (its `open` fails with ENOTDIR); waiter served the file, so the same
/// bytes had a second URL whose relative links resolve under `/a.txt/`.
#[test]
fn a_file_named_with_a_trailing_slash_is_not_found() {
    let files: &[(&str, &[u8])] = &[("a.txt", b"abc\n"), ("style.css", b"x"), ("style.css.gz", b"gz")];
    let root = common::root_with("slash-file", files);
    let server = Killed(common::spawn(&[], &root, &["--workers", "1", "--precompressed"]));
    for (target, extra) in [("/a.txt/", ""), ("/style.css/", "Accept-Encoding: gzip\r\n"), ("/a.txt", "")] {
        let mut stream = common::connect(server.0.addr);
        let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\n{extra}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let want = if target == "/a.txt" { "HTTP/1.1 200 " } else { "HTTP/1.1 404 " };
        assert!(answer.starts_with(want), "{target}: {answer:?}");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(root);
}

/// A 304 or 416 for a precompressed sibling said `Content-Encoding: gzip`:
/// the 416's empty content is no gzip stream (a decoding client fails on it),
/// and on a 304 RFC 9110 §15.4.5 says not to send representation metadata
/// beyond the validators and Vary. nginx sends it on neither; the 200 and
/// 206 keep it, and every one of them keeps `Vary: Accept-Encoding`.
#[test]
fn only_a_200_or_206_of_a_precompressed_file_says_content_encoding() {
    let files: &[(&str, &[u8])] = &[("style.css", b"body {}\n"), ("style.css.gz", b"0123456789")];
    let root = common::root_with("encoding-status", files);
    let server = Killed(common::spawn(&[], &root, &["--workers", "1", "--precompressed"]));
    let get = |extra: &str| {
        let mut stream = common::connect(server.0.addr);
        let request = format!(
            "GET /style.css HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n{extra}Connection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    // A Range counts the .gz's bytes only when If-Range names the .gz
    // (precompressed.rs); its tag comes from the 200.
    let first = get("");
    let tag = first.split("\r\n").find_map(|l| l.strip_prefix("ETag: ")).expect("an ETag").to_owned();
    let cases = [
        (String::new(), "200"),
        (format!("Range: bytes=0-3\r\nIf-Range: {tag}\r\n"), "206"),
        ("If-None-Match: *\r\n".to_owned(), "304"),
        (format!("Range: bytes=500-\r\nIf-Range: {tag}\r\n"), "416"),
    ];
    for (extra, status) in cases {
        let answer = get(&extra);
        assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{extra:?}: {answer:?}");
        assert!(answer.contains("\r\nVary: Accept-Encoding\r\n"), "{status}: {answer:?}");
        let encoded = answer.contains("\r\nContent-Encoding: gzip\r\n");
        assert_eq!(encoded, matches!(status, "200" | "206"), "{status}: {answer:?}");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(root);
}
