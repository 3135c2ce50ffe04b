//! Directory listings (`--autoindex`, nginx's `autoindex`): entries in, an
//! HTML5 page out, and the directory read on the thread pool.
//!
//! [`render`] is sans-I/O: it takes [`Entry`]s and returns the page's bytes,
//! so escaping is unit-tested with hostile names. `read` is the blocking
//! half and runs on a pool thread (from the file lookup), never on the loop.
//!
//! Every name is written twice and differently: HTML-escaped as text and as
//! an attribute (`& < > " '`), and percent-encoded in the `href`, where all
//! but RFC 3986's unreserved bytes are encoded, so that a `:` cannot turn a
//! relative link into a scheme, nor `?` or `#` cut it short. [`render`]
//! shows a non-UTF-8 name lossily and links it by its exact bytes; `read`
//! lists only names a request can reach, so every link on the page works
//! (path resolution refuses non-UTF-8 names, control bytes and backslashes
//! with 400: such files are left out, as they cannot be served).

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use waiter_loop::net::TcpStream;

use crate::calendar::Utc;
use crate::conn::Reply;
use crate::file::Policy;
use crate::path::percent_encode_into;
use crate::response::HeaderValue;
use crate::send::{self, Body};
use crate::server::Worker;
use crate::status::Status;

/// One listed directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The file name's bytes (not necessarily UTF-8).
    pub name: Vec<u8>,
    /// A directory (linked with a trailing `/`, no size).
    pub is_dir: bool,
    /// The size in bytes.
    pub len: u64,
    /// The modification time.
    pub modified: SystemTime,
}

/// The listing page of the directory at URL path `dir` (e.g. `/docs/`, slash
/// at both ends), directories first, then files, each by name.
///
/// # Examples
///
/// ```
/// use std::time::UNIX_EPOCH;
/// use waiter_http::autoindex::{render, Entry};
///
/// let mut entries = vec![Entry { name: b"a&b.txt".to_vec(), is_dir: false, len: 2048, modified: UNIX_EPOCH }];
/// let page = String::from_utf8(render("/docs/", &mut entries)).unwrap();
/// assert!(page.starts_with("<!doctype html>"));
/// assert!(page.contains("<title>Index of /docs/</title>"));
/// assert!(page.contains(r#"<a href="a%26b.txt">a&amp;b.txt</a>"#));
/// assert!(page.contains(r#"data-bytes="2048""#));
/// ```
pub fn render(dir: &str, entries: &mut [Entry]) -> Vec<u8> {
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    let mut title = String::from("Index of ");
    escape_into(&mut title, dir);
    let mut out = String::with_capacity(1024 + entries.len() * 160);
    out.push_str("<!doctype html>\n<html lang=en>\n<meta charset=utf-8>\n");
    out.push_str("<meta name=viewport content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!("<title>{title}</title>\n"));
    out.push_str(STYLE);
    out.push_str(&format!("<h1>{title}</h1>\n<table>\n<thead>\n"));
    out.push_str("<tr><th scope=col>Name</th><th scope=col>Size</th><th scope=col>Last modified</th></tr>\n");
    out.push_str("</thead>\n<tbody>\n");
    if dir != "/" {
        out.push_str("<tr><td><a href=\"../\">../</a></td><td>-</td><td></td></tr>\n");
    }
    for entry in entries.iter() {
        let shown = String::from_utf8_lossy(&entry.name);
        let slash = if entry.is_dir { "/" } else { "" };
        out.push_str("<tr><td><a href=\"");
        percent_encode_into(&mut out, &entry.name, b"");
        out.push_str(slash);
        out.push_str("\">");
        escape_into(&mut out, &shown);
        out.push_str(slash);
        out.push_str("</a></td>");
        if entry.is_dir {
            out.push_str("<td>-</td>");
        } else {
            let bytes = entry.len;
            out.push_str(&format!(
                "<td data-bytes=\"{bytes}\" title=\"{bytes} bytes\">{}</td>",
                human_size(bytes)
            ));
        }
        let (date, time) = utc(entry.modified);
        out.push_str(&format!("<td><time datetime=\"{date}T{time}Z\">{date} {time}</time></td></tr>\n"));
    }
    out.push_str("</tbody>\n</table>\n</html>\n");
    out.into_bytes()
}

const STYLE: &str = "<style>\
body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse}\
th,td{padding:.2em 1em;text-align:left}\
td:nth-child(2){text-align:right;font-variant-numeric:tabular-nums}\
tbody tr:nth-child(odd){background:#f4f4f4}\
</style>\n";

/// `text` with `& < > " '` replaced by entities: safe as element text and
/// inside a quoted attribute.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// `1023 B`, `1.5 KiB`, `12.0 MiB`: binary units, one decimal.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `("YYYY-MM-DD", "hh:mm:ss")` in UTC; times before 1970 show as the epoch.
fn utc(time: SystemTime) -> (String, String) {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let t = Utc::from_secs(secs);
    (
        format!("{:04}-{:02}-{:02}", t.year, t.month, t.day),
        format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second),
    )
}

/// Reads directory `dir` (the request's `rel` under the root) and renders its
/// page. Blocking: call on a pool thread.
///
/// Listed: directories and regular files (after following symlinks), not
/// dotfiles unless `policy.dotfiles`, not symlinks leading outside the root
/// unless `policy.follow_symlinks` (they would be 403 anyway), not names no
/// request can reach (see [`reachable`]). Entries that vanish or fail to
/// `stat` meanwhile are left out.
///
/// # Errors
///
/// Opening or reading the directory itself.
pub(crate) fn read(policy: &Policy, dir: &Path, rel: &Path) -> io::Result<Vec<u8>> {
    let mut entries = Vec::new();
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let name = item.file_name();
        let hidden = !policy.dotfiles && name.as_bytes().first() == Some(&b'.');
        if hidden || !reachable(name.as_bytes()) {
            continue;
        }
        let path = item.path();
        if !policy.follow_symlinks && item.file_type()?.is_symlink() {
            match std::fs::canonicalize(&path) {
                Ok(real) if real.starts_with(&policy.root) => {}
                _ => continue,
            }
        }
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if !meta.is_dir() && !meta.is_file() {
            continue;
        }
        entries.push(Entry {
            name: OsStr::as_bytes(&name).to_vec(),
            is_dir: meta.is_dir(),
            len: meta.len(),
            modified: meta.modified().unwrap_or(UNIX_EPOCH),
        });
    }
    let mut url = String::from("/");
    for segment in rel.iter() {
        url.push_str(&segment.to_string_lossy());
        url.push('/');
    }
    Ok(render(&url, &mut entries))
}

/// Whether a request can name the file `name` (one path segment): its link,
/// percent-encoded as [`render`] writes it, resolves back to exactly `name`.
/// Path resolution refuses names that are not UTF-8 or hold a control byte
/// or a backslash (400): a listing that showed them would link to an error.
fn reachable(name: &[u8]) -> bool {
    let mut target = String::from("/");
    percent_encode_into(&mut target, name, b"");
    crate::path::resolve(&target).is_ok_and(|path| path.as_str().as_bytes() == name)
}

/// Sends a listing page: 200, `text/html`, no validators (it changes with
/// every entry), no body for HEAD.
pub(crate) async fn send(worker: &Worker, stream: &TcpStream, page: &[u8], reply: Reply) -> io::Result<()> {
    static HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
    let mut response = reply.head(Status::OK);
    response.content_type = Some(&HTML);
    response.content_length = Some(page.len() as u64);
    let mut out = Vec::with_capacity(256);
    worker.write_head(&response, &mut out);
    let body = if reply.is_head { Body::Empty } else { Body::Memory(vec![page]) };
    send::send(&worker.lp, stream, worker.config.send_timeout, &out, body).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn entry(name: &[u8], is_dir: bool, len: u64) -> Entry {
        Entry { name: name.to_vec(), is_dir, len, modified: UNIX_EPOCH + Duration::from_secs(1_700_000_000) }
    }

    #[test]
    fn hostile_name_escaped_and_encoded() {
        let mut entries = vec![entry(b"a\"b<c>&d e%.txt", false, 5), entry(b"it's", false, 1)];
        let page = String::from_utf8(render("/", &mut entries)).unwrap();
        assert!(
            page.contains(r#"<a href="a%22b%3Cc%3E%26d%20e%25.txt">a&quot;b&lt;c&gt;&amp;d e%.txt</a>"#),
            "{page}"
        );
        assert!(page.contains(r#"<a href="it%27s">it&#39;s</a>"#), "{page}");
        assert!(!page.contains("<c>"), "no raw markup from names");
    }

    #[test]
    fn colon_cannot_become_a_scheme() {
        let page = String::from_utf8(render("/", &mut [entry(b"javascript:alert(1)", false, 1)])).unwrap();
        assert!(page.contains(r#"href="javascript%3Aalert%281%29""#), "{page}");
    }

    #[test]
    fn names_no_request_can_reach_are_not_listed() {
        for name in [&b"a.txt"[..], b"sp ace", b"a%b", b"q?#", b"caf\xc3\xa9", b"<&>\"'"] {
            assert!(reachable(name), "{:?}", String::from_utf8_lossy(name));
        }
        for name in [&b"caf\xe9"[..], b"a\\b", b"new\nline", b"tab\t", b"del\x7f", b"\xc0\xae"] {
            assert!(!reachable(name), "{:?}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn non_utf8_name_linked_by_bytes() {
        let page = String::from_utf8(render("/", &mut [entry(b"caf\xe9", false, 1)])).unwrap();
        assert!(page.contains("href=\"caf%E9\">caf\u{fffd}</a>"), "{page}");
    }

    #[test]
    fn order_parent_and_title() {
        let mut entries = vec![entry(b"b.txt", false, 1), entry(b"z", true, 4096), entry(b"a.txt", false, 1)];
        let page = String::from_utf8(render("/x <y>/", &mut entries)).unwrap();
        assert!(page.contains("<title>Index of /x &lt;y&gt;/</title>"), "escaped title");
        let (parent, z, a, b) =
            (page.find("href=\"../\""), page.find("href=\"z/\""), page.find(">a.txt<"), page.find(">b.txt<"));
        assert!(parent < z && z < a && a < b, "parent, dirs, then files by name: {page}");
        assert!(!String::from_utf8(render("/", &mut [])).unwrap().contains("../"), "no parent at root");
    }

    #[test]
    fn table_and_date() {
        let page = String::from_utf8(render("/", &mut [entry(b"f", false, 1536)])).unwrap();
        assert!(page.contains("<meta charset=utf-8>"));
        assert!(
            page.contains("<th scope=col>Name</th><th scope=col>Size</th><th scope=col>Last modified</th>")
        );
        assert!(page.contains(r#"<td data-bytes="1536" title="1536 bytes">1.5 KiB</td>"#), "{page}");
        // 1_700_000_000 is 2023-11-14 22:13:20 UTC.
        assert!(
            page.contains(r#"<time datetime="2023-11-14T22:13:20Z">2023-11-14 22:13:20</time>"#),
            "{page}"
        );
    }

    #[test]
    fn sizes_and_dates() {
        for (n, text) in [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (10 << 20, "10.0 MiB")] {
            assert_eq!(human_size(n), text);
        }
        for (secs, date) in [(0, "1970-01-01"), (951_782_400, "2000-02-29"), (4_107_542_400, "2100-03-01")] {
            assert_eq!(utc(UNIX_EPOCH + Duration::from_secs(secs)).0, date, "{secs}");
        }
    }
}
