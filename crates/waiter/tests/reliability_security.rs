//! Issue 5, security defaults of `waiter serve`, each shown to be a default
//! by the flag that turns it off: dotfiles (404 unless `--dotfiles allow`),
//! symlinks out of the root (403 unless `--follow-symlinks`), special files
//! (a FIFO, a character device: 404 even when symlinks may be followed, and
//! at once: the server never blocks opening them), `nosniff` on every
//! response, and file names escaped in a directory listing, in the HTML and
//! in headless Chromium (a file named `<script>` shows as text).

#[path = "../../waiter-http/tests/chromium/mod.rs"]
mod chromium;
mod reliability;

use std::io::Write;
use std::time::{Duration, Instant};

use reliability::{get_once, hostile_root, read_response, record, scratch, Cleanup, Waiter, SECRET};

fn status(server: &Waiter, path: &str) -> u16 {
    let r = get_once(server.addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert!(
        !r.body.windows(SECRET.len()).any(|w| w == SECRET) || path.contains("allowed"),
        "GET {path}: secret"
    );
    r.status
}

#[test]
fn dotfiles_symlinks_and_special_files_are_refused_by_default() {
    let base = scratch("security");
    let _cleanup = Cleanup(base.clone());
    let root = hostile_root(&base);
    std::os::unix::fs::symlink("/dev/zero", root.join("zero")).unwrap();
    std::os::unix::fs::symlink("/dev/null", root.join("null")).unwrap();

    let server = Waiter::start(&[], &root, &["--workers", "1"]);
    for (path, want) in [
        ("/.env", 404),
        ("/.git/config", 404),
        ("/out.txt", 403),
        ("/outdir/secret.txt", 403),
        ("/zero", 403),
        ("/fifo", 404),
        ("/in.txt", 200),
    ] {
        assert_eq!(status(&server, path), want, "default: GET {path}");
    }
    server.stop();

    // The same requests with each protection turned off: the tests above can fail.
    let server = Waiter::start(&[], &root, &["--workers", "1", "--dotfiles", "allow", "--follow-symlinks"]);
    let env = get_once(server.addr, "/.env").unwrap();
    assert_eq!((env.status, env.body.as_slice()), (200, SECRET), "--dotfiles allow serves dotfiles");
    assert_eq!(get_once(server.addr, "/out.txt").unwrap().body, SECRET, "--follow-symlinks follows");
    // Special files stay refused, and promptly: a FIFO without a writer or
    // /dev/zero would block or never end if the server opened and read them.
    for path in ["/fifo", "/zero", "/null"] {
        let t0 = Instant::now();
        assert_eq!(status(&server, path), 404, "a special file with --follow-symlinks: GET {path}");
        assert!(t0.elapsed() < Duration::from_secs(5), "GET {path} took {:?}", t0.elapsed());
    }
    server.stop();
}

#[test]
fn every_response_says_nosniff() {
    let base = scratch("nosniff");
    let _cleanup = Cleanup(base.clone());
    let root = hostile_root(&base);
    let server = Waiter::start(&[], &root, &["--workers", "1"]);
    let etag = get_once(server.addr, "/a.txt").unwrap().header("ETag").unwrap().to_owned();
    for (request, want) in [
        ("GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n".to_string(), 200),
        ("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n".to_string(), 200),
        ("GET /a.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1\r\n\r\n".to_string(), 206),
        ("GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1,5-6\r\n\r\n".to_string(), 206),
        ("GET /a.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=99-\r\n\r\n".to_string(), 416),
        (format!("GET /a.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\n\r\n"), 304),
        ("GET /a.txt HTTP/1.1\r\nHost: t\r\nIf-Match: \"x\"\r\n\r\n".to_string(), 412),
        ("GET /dir HTTP/1.1\r\nHost: t\r\n\r\n".to_string(), 301),
        ("GET /noindex/ HTTP/1.1\r\nHost: t\r\n\r\n".to_string(), 403),
        ("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n".to_string(), 404),
        ("POST /a.txt HTTP/1.1\r\nHost: t\r\n\r\n".to_string(), 405),
        ("GET /a.txt HTTP/1.1\r\n\r\n".to_string(), 400),
        ("GET /a.txt HTTP/2.0\r\nHost: t\r\n\r\n".to_string(), 505),
    ] {
        let mut stream = server.connect();
        stream.write_all(request.as_bytes()).unwrap();
        let r = read_response(&mut stream, false).unwrap().expect("a response");
        assert_eq!(r.status, want, "{request:?}");
        assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"), "{request:?}: {}", r.head);
    }
    server.stop();
}

#[test]
fn directory_listing_escapes_file_names() {
    let base = scratch("listing");
    let _cleanup = Cleanup(base.clone());
    let root = base.join("root");
    std::fs::create_dir_all(root.join("list")).unwrap();
    let hostile = ["<script>alert(1).txt", "\"><img src=x onerror=alert(2)>", "a&amp;b"];
    for name in hostile {
        std::fs::write(root.join("list").join(name), b"x").unwrap();
    }
    let server = Waiter::start(&[], &root, &["--workers", "1", "--autoindex"]);
    let page = get_once(server.addr, "/list/").unwrap();
    assert_eq!(page.status, 200, "{}", page.head);
    let html = String::from_utf8(page.body).unwrap();
    assert!(!html.contains("<script>alert"), "a raw <script> in the listing:\n{html}");
    assert!(!html.contains("<img"), "a raw <img> in the listing:\n{html}");
    assert!(html.contains("&lt;script&gt;alert(1).txt"), "the name, escaped:\n{html}");
    assert!(html.contains("a&amp;amp;b"), "& escaped:\n{html}");
    assert!(page.head.contains("nosniff"), "nosniff on the listing");
    server.stop();
}

#[test]
fn directory_listing_shows_a_script_name_as_text_in_chromium() {
    let base = scratch("listing-chromium");
    let _cleanup = Cleanup(base.clone());
    let root = base.join("root");
    std::fs::create_dir_all(root.join("list")).unwrap();
    // Unescaped, the first would open a script element that swallows the rest
    // of the page, the second would set the title when its image fails.
    let hostile = ["<script>", "<img src=x onerror=\"document.title='pwned'\">"];
    for name in hostile {
        std::fs::write(root.join("list").join(name), b"x").unwrap();
    }
    let server = Waiter::start(&[], &root, &["--workers", "1", "--autoindex"]);
    let dom = chromium::dump_dom(&format!("http://{}/list/", server.addr), &base.join("chromium-profile"));
    assert!(dom.contains("<title>Index of /list/</title>"), "no script changed the title:\n{dom}");
    assert!(!dom.contains("<script"), "a name became a script element:\n{dom}");
    assert!(!dom.contains("<img"), "a name became an element:\n{dom}");
    // A serialised text node escapes `<`, `>` and `&`: each name is text, shown once
    // as the link's text at least.
    for name in hostile {
        let text = name.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        assert!(dom.contains(&format!(">{text}</a>")), "{name:?} shown as a link's text:\n{dom}");
    }
    record(
        "chromium",
        "verdict",
        "a file named <script> and one named <img onerror> show as link text, no element, title unchanged",
    );
    server.stop();
}
