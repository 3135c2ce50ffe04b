//! `waiter serve` on files: GET and HEAD of small and large files, 404, 405,
//! directories, dotfiles (raw HTTP/1.1 against a server on 127.0.0.1).

mod serve_common;

use serve_common::start;

#[test]
fn get_small_file() {
    let server = start(&[("hello.txt", b"hello, world\n"), ("page.html", b"<p>hi</p>")], |_| {});
    let r = server.get("/hello.txt", "");
    assert_eq!(r.status, 200, "status");
    assert_eq!(r.body, b"hello, world\n", "exact body");
    assert_eq!(r.header("Content-Length"), Some("13"), "Content-Length");
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"), "Content-Type of .txt");
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"), "Accept-Ranges");
    assert_eq!(r.header("Server"), Some("waiter"), "Server");
    assert!(r.header("Date").is_some_and(|d| d.ends_with(" GMT")), "Date");
    let etag = r.header("ETag").expect("ETag");
    assert!(etag.starts_with('"') && etag.ends_with("-d\""), "ETag nginx-style, size 0xd: {etag}");
    let modified = r.header("Last-Modified").expect("Last-Modified");
    assert!(httpdate::parse_http_date(modified).is_ok(), "Last-Modified is an HTTP-date: {modified}");

    let r = server.get("/page.html", "");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"), "Content-Type of .html");
    assert_eq!(r.body, b"<p>hi</p>", "html body");
}

#[test]
fn get_large_file_through_sendfile() {
    let big: Vec<u8> = (0..1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let server = start(&[("big.bin", &big)], |_| {});
    let r = server.get("/big.bin", "");
    assert_eq!(r.status, 200, "status");
    assert_eq!(r.header("Content-Length"), Some("1048576"), "Content-Length");
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"), "Content-Type");
    assert!(r.body == big, "exact 1 MiB body");
    // Again, from the open-file cache.
    assert!(server.get("/big.bin", "").body == big, "exact body, cached descriptor");
}

#[test]
fn head_sends_headers_only() {
    let server = start(&[("a.txt", b"0123456789")], |_| {});
    let mut stream = server.connect();
    use std::io::Write;
    stream
        .write_all(b"HEAD /a.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let head = serve_common::read_response(&mut stream, true).unwrap();
    assert_eq!(head.status, 200, "HEAD status");
    assert_eq!(head.header("Content-Length"), Some("10"), "HEAD Content-Length is the GET one");
    let get = serve_common::read_response(&mut stream, false).unwrap();
    assert_eq!(
        get.body, b"0123456789",
        "the next response starts right after the HEAD head: no body was sent"
    );
}

#[test]
fn missing_file_is_404() {
    let server = start(&[("a.txt", b"a")], |_| {});
    let r = server.get("/nope.txt", "");
    assert_eq!(r.status, 404, "status");
    assert_eq!(r.header("Connection"), None, "a 404 keeps the (HTTP/1.1) connection: no close");
    assert_eq!(server.get("/a.txt/x", "").status, 404, "file used as a directory");
}

#[test]
fn other_methods_are_405_with_allow() {
    let server = start(&[("a.txt", b"a")], |_| {});
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "get"] {
        let r = server.exchange(format!("{method} /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert_eq!(r.status, 405, "{method} status");
        assert_eq!(r.header("Allow"), Some("GET, HEAD"), "{method} Allow");
    }
}

#[test]
fn directory_index_and_redirect() {
    let server = start(&[("docs/index.html", b"<h1>docs</h1>"), ("empty/.keep", b"")], |_| {});
    let r = server.get("/docs/", "");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"<h1>docs</h1>"[..]), "directory → index.html");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"), "index Content-Type");
    let r = server.get("/docs", "");
    assert_eq!(r.status, 301, "directory without slash");
    assert_eq!(r.header("Location"), Some("/docs/"), "Location is the slash form");
    let r = server.get("/docs?x=1", "");
    assert_eq!(r.header("Location"), Some("/docs/?x=1"), "the query is kept");
    assert_eq!(server.get("/empty/", "").status, 403, "directory without index (nginx: 403)");
}

#[test]
fn dotfiles_are_404_unless_allowed() {
    let files: &[(&str, &[u8])] = &[(".env", b"SECRET=1"), (".git/config", b"[core]")];
    let server = start(files, |_| {});
    assert_eq!(server.get("/.env", "").status, 404, ".env");
    assert_eq!(server.get("/.git/config", "").status, 404, ".git/config");
    assert_eq!(server.get("/%2eenv", "").status, 404, "encoded dot");
    drop(server);
    let server = start(files, |c| c.dotfiles = true);
    assert_eq!(server.get("/.env", "").body, b"SECRET=1", "--dotfiles allow");
}

#[test]
fn fifo_is_never_opened() {
    let server = start(&[("a.txt", b"a")], |_| {});
    let fifo = server.root.join("pipe");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success(), "mkfifo");
    assert_eq!(server.get("/pipe", "").status, 404, "a fifo is not a regular file");
}

#[test]
fn cache_control_is_sent_when_configured() {
    let server = start(&[("a.txt", b"a")], |c| {
        c.cache_control = Some(waiter_http::HeaderValue::new("public, max-age=3600").unwrap())
    });
    assert_eq!(
        server.get("/a.txt", "").header("Cache-Control"),
        Some("public, max-age=3600"),
        "Cache-Control"
    );
}
