//! The `--autoindex` page in a real browser: headless Chromium (Debian's
//! `chromium`, installed by `.ci/run`) renders a listing whose file names are
//! markup, and its DOM (`--dump-dom`, after scripts ran) shows the names as
//! text, no injected element, no script effect; the links it resolves fetch
//! the right files.

mod serve_common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serve_common::start;

/// File names that would run script if the listing did not escape them.
const HOSTILE: [&str; 2] =
    ["<img src=x onerror=\"document.title='pwned'\">.txt", "<svg onload=\"document.title='pwned'\">.txt"];

/// `chromium --headless --dump-dom URL`: the DOM after load, bounded in time.
fn dump_dom(url: &str) -> String {
    let profile = serve_common::temp_dir().join("chromium-profile");
    let mut child = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--virtual-time-budget=2000", "--dump-dom", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium (Debian package `chromium`) must be installed: .ci/run installs it");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("chromium did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "chromium failed: {:?}", out.status);
    String::from_utf8(out.stdout).expect("a UTF-8 DOM")
}

/// The `href` of the link whose text is `text` (as the DOM serialises it).
fn href_of<'a>(dom: &'a str, text: &str) -> &'a str {
    let end = dom.find(&format!("\">{text}</a>")).unwrap_or_else(|| panic!("no link {text:?} in {dom}"));
    let start = dom[..end].rfind("href=\"").expect("an href") + "href=\"".len();
    &dom[start..end]
}

#[test]
fn listing_renders_names_as_text_and_its_links_work() {
    let server = start(&[(HOSTILE[0], b"first"), (HOSTILE[1], b"second"), ("plain.txt", b"plain")], |c| {
        c.autoindex = true
    });
    let dom = dump_dom(&format!("http://{}/", server.addr));
    assert!(dom.contains("<title>Index of /</title>"), "no injected script changed the title: {dom}");
    assert!(!dom.contains("<img"), "a name became an element: {dom}");
    assert!(!dom.contains("<svg"), "a name became an element: {dom}");
    // Serialised text nodes escape `<`, `>` and `&`: the names are text.
    let texts: Vec<String> =
        HOSTILE.iter().map(|n| n.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")).collect();
    for (name, text) in HOSTILE.iter().zip(&texts) {
        assert!(dom.contains(text.as_str()), "{name:?} shown as text: {dom}");
    }
    // The browser's links fetch the files they name.
    for (text, body) in texts.iter().zip([&b"first"[..], b"second"]) {
        let href = href_of(&dom, text);
        let r = server.get(&format!("/{}", href.replace("&amp;", "&")), "");
        assert_eq!((r.status, r.body.as_slice()), (200, body), "link {href}");
    }
    assert_eq!(server.get(&format!("/{}", href_of(&dom, "plain.txt")), "").body, b"plain");
    server.stop();
}
