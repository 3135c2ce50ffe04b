//! `waiter serve --autoindex`: directory listings, escaping of hostile names,
//! hidden dotfiles, symlinks out of the root, and 403 without the flag (raw
//! HTTP/1.1 against a server on 127.0.0.1).

mod serve_common;

use serve_common::start;

const HOSTILE: &str = "a\"b<c>&d e%.txt";
const HOSTILE_HREF: &str = "a%22b%3Cc%3E%26d%20e%25.txt";

fn text(r: &serve_common::Response) -> String {
    String::from_utf8(r.body.clone()).expect("a UTF-8 page")
}

#[test]
fn without_flag_is_403() {
    let server = start(&[("dir/a.txt", b"a")], |_| {});
    assert_eq!(server.get("/dir/", "").status, 403, "directory without index, no autoindex: 403 as nginx");
    assert_eq!(server.get("/", "").status, 403, "root without index: 403");
}

#[test]
fn lists_root() {
    let big = vec![b'x'; 3000];
    let server =
        start(&[("small.txt", b"12345"), ("big.bin", &big), ("sub/inner.txt", b"i")], |c| c.autoindex = true);
    let r = server.get("/", "");
    assert_eq!(r.status, 200, "status");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"), "Content-Type");
    let page = text(&r);
    assert!(page.starts_with("<!doctype html>"), "doctype: {page}");
    assert!(page.contains("<meta charset=utf-8>"), "charset");
    assert!(page.contains("<title>Index of /</title>"), "title");
    assert!(page.contains("<th scope=col>Name</th><th scope=col>Size</th><th scope=col>Last modified</th>"));
    assert!(!page.contains("href=\"../\""), "no parent link at the root");
    let (sub, big_at, small) =
        (page.find("href=\"sub/\">sub/</a>"), page.find("href=\"big.bin\""), page.find("href=\"small.txt\""));
    assert!(sub.is_some() && sub < big_at && big_at < small, "directories first, then by name: {page}");
    assert!(
        page.contains(r#"data-bytes="3000" title="3000 bytes">2.9 KiB</td>"#),
        "human size + exact bytes"
    );
    assert!(page.contains(r#"data-bytes="5" title="5 bytes">5 B</td>"#), "small size");
    assert!(page.contains("<time datetime=\"20"), "ISO date");

    let head = server.exchange(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(head.status, 200, "HEAD status");
    assert_eq!(head.header("Content-Length"), r.header("Content-Length"), "HEAD Content-Length");
}

#[test]
fn subdirectory_has_parent_and_links_work() {
    let server =
        start(&[("docs/guide/x.txt", b"x"), ("docs/readme.txt", b"read me")], |c| c.autoindex = true);
    assert_eq!(server.get("/docs", "").status, 301, "no trailing slash: redirect first");
    let page = text(&server.get("/docs/", ""));
    assert!(page.contains("<title>Index of /docs/</title>"), "title: {page}");
    assert!(page.contains("<a href=\"../\">../</a>"), "parent link");
    assert!(page.contains("<a href=\"guide/\">guide/</a>"), "subdirectory link");
    assert_eq!(server.get("/docs/readme.txt", "").body, b"read me", "a listed file's link resolves");
    assert!(text(&server.get("/docs/guide/", "")).contains("href=\"x.txt\""), "nested listing");
}

#[test]
fn index_html_still_wins() {
    let server = start(&[("index.html", b"<p>home</p>"), ("other.txt", b"o")], |c| c.autoindex = true);
    assert_eq!(server.get("/", "").body, b"<p>home</p>", "index.html served, not a listing");
}

#[test]
fn hostile_name_escaped_and_linked() {
    let server = start(&[(HOSTILE, b"hostile"), ("x.txt", b"x")], |c| c.autoindex = true);
    let page = text(&server.get("/", ""));
    let link = format!("<a href=\"{HOSTILE_HREF}\">a&quot;b&lt;c&gt;&amp;d e%.txt</a>");
    assert!(page.contains(&link), "escaped text, percent-encoded href: {page}");
    assert!(!page.contains("<c>"), "no markup from the name");
    let r = server.get(&format!("/{HOSTILE_HREF}"), "");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hostile"[..]), "the href fetches the file");
}

#[test]
fn dotfiles_hidden_unless_allowed() {
    let files: &[(&str, &[u8])] = &[(".env", b"SECRET=1"), (".git/HEAD", b"ref"), ("seen.txt", b"s")];
    let server = start(files, |c| c.autoindex = true);
    let page = text(&server.get("/", ""));
    assert!(page.contains("seen.txt"), "ordinary file listed");
    assert!(!page.contains(".env") && !page.contains(".git"), "dotfiles hidden: {page}");
    drop(server);

    let server = start(files, |c| {
        c.autoindex = true;
        c.dotfiles = true;
    });
    let page = text(&server.get("/", ""));
    assert!(page.contains("href=\".env\"") && page.contains("href=\".git/\""), "dotfiles allowed: {page}");
}

#[test]
fn symlinks_out_of_root_not_listed() {
    let base = serve_common::temp_dir();
    let root = base.join("root");
    serve_common::write_files(&base, &[("outside/secret.txt", b"secret"), ("root/inside.txt", b"in")]);
    std::os::unix::fs::symlink(base.join("outside/secret.txt"), root.join("escape-file")).unwrap();
    std::os::unix::fs::symlink(base.join("outside"), root.join("escape-dir")).unwrap();
    std::os::unix::fs::symlink("inside.txt", root.join("inner-link")).unwrap();
    std::os::unix::fs::symlink("missing", root.join("dangling")).unwrap();

    let server = serve_common::start_at(root.clone(), |c| c.autoindex = true);
    let page = text(&server.get("/", ""));
    assert!(page.contains("href=\"inside.txt\""), "file listed");
    assert!(page.contains("href=\"inner-link\""), "symlink inside the root listed");
    assert!(!page.contains("escape"), "symlinks leaving the root not listed: {page}");
    assert!(!page.contains("dangling"), "dangling symlink not listed");
    assert_eq!(server.get("/escape-dir/", "").status, 403, "and not listable through the link");
    drop(server);

    let server = serve_common::start_at(root, |c| {
        c.autoindex = true;
        c.follow_symlinks = true;
    });
    let page = text(&server.get("/", ""));
    assert!(
        page.contains("href=\"escape-file\"") && page.contains("href=\"escape-dir/\""),
        "followed: {page}"
    );
    assert!(text(&server.get("/escape-dir/", "")).contains("secret.txt"), "listing through a followed link");
    drop(server);
    let _ = std::fs::remove_dir_all(base);
}
