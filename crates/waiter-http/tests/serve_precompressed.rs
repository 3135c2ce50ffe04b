//! `waiter serve --precompressed`: `file.br` / `file.gz` siblings chosen by
//! `Accept-Encoding` (nginx's `gzip_static`), with `Vary`, their own length
//! and `ETag`, Range over the file itself unless `If-Range` names the
//! sibling, and HEAD (raw HTTP/1.1 against a server on 127.0.0.1).

mod serve_common;

use serve_common::{start, TestServer};

const PLAIN: &[u8] = b"console.log('the uncompressed original');\n";
const BR: &[u8] = b"BROTLI-BYTES-0123456789";
const GZ: &[u8] = b"\x1f\x8bGZIP-BYTES-abcdefghijklmnop";

fn server(precompressed: bool) -> TestServer {
    start(
        &[
            ("app.js", PLAIN),
            ("app.js.br", BR),
            ("app.js.gz", GZ),
            ("only-gz.css", b"body{}"),
            ("only-gz.css.gz", GZ),
        ],
        move |c| c.precompressed = precompressed,
    )
}

#[test]
fn brotli_preferred() {
    let server = server(true);
    let plain = server.get("/app.js", "");
    let r = server.get("/app.js", "Accept-Encoding: gzip, deflate, br\r\n");
    assert_eq!(r.status, 200, "status");
    assert_eq!(r.body, BR, "the .br bytes");
    assert_eq!(r.header("Content-Encoding"), Some("br"), "Content-Encoding");
    assert_eq!(r.header("Content-Type"), plain.header("Content-Type"), "the original's Content-Type");
    assert!(r.header("Content-Type").is_some_and(|t| t.contains("javascript")), "a JavaScript type");
    assert_eq!(r.header("Vary"), Some("Accept-Encoding"), "Vary");
    assert_eq!(r.header("Content-Length"), Some(BR.len().to_string().as_str()), "its own length");
    let (etag, plain_etag) = (r.header("ETag").unwrap(), plain.header("ETag").unwrap());
    assert_ne!(etag, plain_etag, "a distinct ETag");
    assert_eq!(server.get("/app.js", "Accept-Encoding: br\r\n").body, BR, "again, from the cache");
}

#[test]
fn gzip_when_only_gzip_accepted() {
    let server = server(true);
    for accept in ["gzip", "br;q=0, gzip", "x-gzip", "gzip;q=1, br;q=0.5"] {
        let r = server.get("/app.js", &format!("Accept-Encoding: {accept}\r\n"));
        assert_eq!(r.body, GZ, "{accept}: the .gz bytes");
        assert_eq!(r.header("Content-Encoding"), Some("gzip"), "{accept}: Content-Encoding");
        assert_eq!(r.header("Vary"), Some("Accept-Encoding"), "{accept}: Vary");
    }
    let r = server.get("/only-gz.css", "Accept-Encoding: br, gzip\r\n");
    assert_eq!((r.body.as_slice(), r.header("Content-Encoding")), (GZ, Some("gzip")), "only a .gz exists");
    assert_eq!(r.header("Content-Type"), Some("text/css; charset=utf-8"), "CSS type kept");
    let r = server.get("/app.js", "Accept-Encoding: *\r\n");
    assert_eq!(r.header("Content-Encoding"), Some("br"), "* allows br");
}

#[test]
fn identity_when_not_accepted() {
    let server = server(true);
    for extra in [
        "",
        "Accept-Encoding: br;q=0, gzip;q=0\r\n",
        "Accept-Encoding: identity\r\n",
        "Accept-Encoding: *;q=0\r\n",
    ] {
        let r = server.get("/app.js", extra);
        assert_eq!(r.body, PLAIN, "{extra:?}: the original");
        assert_eq!(r.header("Content-Encoding"), None, "{extra:?}: no Content-Encoding");
        assert_eq!(r.header("Vary"), Some("Accept-Encoding"), "{extra:?}: Vary, a sibling exists");
    }
    let plain_only = start(&[("x.js", PLAIN)], |c| c.precompressed = true);
    let r = plain_only.get("/x.js", "Accept-Encoding: br, gzip\r\n");
    assert_eq!((r.body.as_slice(), r.header("Vary")), (PLAIN, None), "no sibling: no Vary");
}

#[test]
fn off_by_default() {
    let server = server(false);
    let r = server.get("/app.js", "Accept-Encoding: br, gzip\r\n");
    assert_eq!(r.body, PLAIN, "flag off: the original");
    assert_eq!(
        (r.header("Content-Encoding"), r.header("Vary")),
        (None, None),
        "flag off: no coding, no Vary"
    );
    assert_eq!(server.get("/app.js.gz", "").body, GZ, "a sibling asked for by name is a plain file");
}

/// A resumed download (`curl -C - --compressed`) asks for the bytes after
/// those of the decoded file it has, with `Accept-Encoding: gzip`: the range
/// is of the file itself. Before, it was of the `.gz` (curl: "incorrect
/// header check"), or a 416 past the `.gz`'s end, which curl takes for
/// "already complete" and keeps the truncated file.
#[test]
fn range_counts_the_file_itself_unless_if_range_names_the_sibling() {
    let server = server(true);
    let r = server.get("/app.js", "Accept-Encoding: br, gzip\r\nRange: bytes=2-5\r\n");
    assert_eq!(r.status, 206, "status");
    assert_eq!(r.body, &PLAIN[2..=5], "bytes 2-5 of the file itself");
    assert_eq!(
        r.header("Content-Range"),
        Some(format!("bytes 2-5/{}", PLAIN.len()).as_str()),
        "Content-Range"
    );
    assert_eq!(r.header("Content-Encoding"), None, "no Content-Encoding");
    assert_eq!(r.header("Vary"), Some("Accept-Encoding"), "Vary");
    let from = GZ.len() + 1;
    let r = server.get("/app.js", &format!("Accept-Encoding: gzip\r\nRange: bytes={from}-\r\n"));
    assert_eq!((r.status, r.body.as_slice()), (206, &PLAIN[from..]), "past the .gz's end: no 416");

    let br_tag = server.get("/app.js", "Accept-Encoding: br\r\n").header("ETag").unwrap().to_owned();
    let r =
        server.get("/app.js", &format!("Accept-Encoding: br\r\nRange: bytes=2-5\r\nIf-Range: {br_tag}\r\n"));
    assert_eq!((r.status, r.body.as_slice()), (206, &BR[2..=5]), "If-Range names the .br: its bytes 2-5");
    assert_eq!(
        r.header("Content-Range"),
        Some(format!("bytes 2-5/{}", BR.len()).as_str()),
        "its Content-Range"
    );
    assert_eq!(r.header("Content-Encoding"), Some("br"), "Content-Encoding on 206");
    let plain_tag = server.get("/app.js", "").header("ETag").unwrap().to_owned();
    let r = server
        .get("/app.js", &format!("Accept-Encoding: br\r\nRange: bytes=-3\r\nIf-Range: {plain_tag}\r\n"));
    assert_eq!((r.status, r.body.as_slice()), (206, &PLAIN[PLAIN.len() - 3..]), "If-Range names the file");
    let r =
        server.get("/app.js", &format!("Accept-Encoding: gzip\r\nRange: bytes=-3\r\nIf-Range: {br_tag}\r\n"));
    assert_eq!((r.status, r.body.as_slice()), (200, PLAIN), "If-Range names another coding: the whole file");
    let head = server
        .exchange(b"HEAD /app.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br\r\nRange: bytes=2-5\r\n\r\n");
    assert_eq!((head.status, head.header("Content-Encoding")), (200, Some("br")), "HEAD ignores Range");
}

#[test]
fn large_sibling_through_sendfile() {
    let big: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let server = start(&[("big.svg", b"<svg/>"), ("big.svg.gz", &big)], |c| c.precompressed = true);
    let r = server.get("/big.svg", "Accept-Encoding: gzip\r\n");
    assert!(r.body == big, "exact 100 KB .gz body");
    assert_eq!(r.header("Content-Type"), Some("image/svg+xml"), "original type");
    let tag = r.header("ETag").unwrap().to_owned();
    let r = server.get(
        "/big.svg",
        &format!("Accept-Encoding: gzip\r\nRange: bytes=50000-50009\r\nIf-Range: {tag}\r\n"),
    );
    assert_eq!(r.body, &big[50_000..50_010], "range of the large sibling");
}

#[test]
fn head_and_conditional() {
    let server = server(true);
    let get = server.get("/app.js", "Accept-Encoding: br\r\n");
    let head = server.exchange(b"HEAD /app.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br\r\n\r\n");
    assert_eq!(head.status, 200, "HEAD status");
    assert_eq!(head.header("Content-Length"), get.header("Content-Length"), "HEAD Content-Length of the .br");
    assert_eq!(head.header("Content-Encoding"), Some("br"), "HEAD Content-Encoding");
    assert_eq!(head.header("Vary"), Some("Accept-Encoding"), "HEAD Vary");
    let etag = get.header("ETag").unwrap();
    let r = server.get("/app.js", &format!("Accept-Encoding: br\r\nIf-None-Match: {etag}\r\n"));
    assert_eq!(r.status, 304, "304 for the sibling's own tag");
    assert_eq!(r.header("Vary"), Some("Accept-Encoding"), "Vary on 304");
    let r = server.get("/app.js", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!((r.status, r.body.as_slice()), (200, PLAIN), "the .br tag does not validate the original");
}

#[test]
fn directory_index_sibling() {
    let server =
        start(&[("site/index.html", b"<p>hi</p>"), ("site/index.html.gz", GZ)], |c| c.precompressed = true);
    let r = server.get("/site/", "Accept-Encoding: gzip\r\n");
    assert_eq!((r.body.as_slice(), r.header("Content-Encoding")), (GZ, Some("gzip")), "index.html.gz");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"), "HTML type");
}

#[test]
fn sibling_symlink_out_of_root_ignored() {
    let base = serve_common::temp_dir();
    let root = base.join("root");
    serve_common::write_files(&base, &[("outside.gz", b"secret"), ("root/a.txt", b"plain")]);
    std::os::unix::fs::symlink(base.join("outside.gz"), root.join("a.txt.gz")).unwrap();
    let server = serve_common::start_at(root, |c| c.precompressed = true);
    let r = server.get("/a.txt", "Accept-Encoding: gzip\r\n");
    assert_eq!(
        (r.body.as_slice(), r.header("Content-Encoding")),
        (&b"plain"[..], None),
        "never the outside file"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(base);
}
