//! The `--autoindex` page in a real browser: headless Chromium (Debian's
//! `chromium`, installed by `.ci/run`) renders a listing whose file names are
//! markup, and its DOM (`--dump-dom`, after scripts ran) shows the names as
//! text, no injected element, no script effect; the links it resolves fetch
//! the right files.

mod chromium;
mod serve_common;

use serve_common::start;

/// File names that would run script if the listing did not escape them.
const HOSTILE: [&str; 2] =
    ["<img src=x onerror=\"document.title='pwned'\">.txt", "<svg onload=\"document.title='pwned'\">.txt"];

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
    let dom = chromium::dump_dom(
        &format!("http://{}/", server.addr),
        &serve_common::temp_dir().join("chromium-profile"),
    );
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
