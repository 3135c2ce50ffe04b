//! Path resolution: a traversal corpus, each check labelled, and the property
//! that no input whatsoever yields a path leaving the root.

use std::path::{Component, Path};

use proptest::prelude::*;
use waiter_http::path::{resolve, CleanPath, PathError};

const ROOT: &str = "/srv/www";

/// Every way out of the root a resolved path could take, checked.
fn assert_safe(input: &str, p: &CleanPath) {
    let rel = p.as_str();
    assert!(!rel.starts_with('/'), "{input:?}: absolute {rel:?}");
    for segment in p.segments() {
        assert!(!segment.is_empty() && segment != "." && segment != "..", "{input:?}: segment {segment:?}");
        assert!(!segment.contains(['/', '\\', '\0']), "{input:?}: separator or NUL in {segment:?}");
        assert!(!segment.chars().any(|c| c.is_ascii_control()), "{input:?}: control in {segment:?}");
    }
    assert_eq!(p.segments().count(), if rel.is_empty() { 0 } else { rel.split('/').count() }, "{input:?}");
    let full = p.under(Path::new(ROOT));
    assert!(full.starts_with(ROOT), "{input:?}: {full:?} left the root");
    assert!(
        Path::new(rel).components().all(|c| matches!(c, Component::Normal(_))),
        "{input:?}: {rel:?} has a non-normal component"
    );
    assert_eq!(p.has_dotfile(), p.segments().any(|s| s.starts_with('.')), "{input:?}: dotfile flag");
}

#[test]
fn traversal_corpus() {
    use PathError::*;
    let refused: &[(&str, PathError)] = &[
        ("/..", AboveRoot),
        ("/../", AboveRoot),
        ("/../etc/passwd", AboveRoot),
        ("/a/../../etc/passwd", AboveRoot),
        ("/./../etc/passwd", AboveRoot),
        ("//../etc/passwd", AboveRoot),
        ("/a/./../../x", AboveRoot),
        ("/a/b/../../../x", AboveRoot),
        ("/%2e%2e/etc/passwd", AboveRoot),
        ("/%2E%2E/etc/passwd", AboveRoot),
        ("/.%2e/etc/passwd", AboveRoot),
        ("/%2e./etc/passwd", AboveRoot),
        ("/a/%2e%2e/%2e%2e/x", AboveRoot),
        ("/%2e%2e%2fetc%2fpasswd", AboveRoot),
        ("/..%2fetc/passwd", AboveRoot),
        ("/a%2f..%2f..%2fetc", AboveRoot),
        ("/%2F..%2F..", AboveRoot),
        ("%2F..%2F..", NotOriginForm),
        ("/..\\..\\etc\\passwd", Backslash),
        ("/%5c..%5c..%5cetc%5cpasswd", Backslash),
        ("/..%5cetc", Backslash),
        ("/..%5C..%5Cwindows", Backslash),
        ("/a\\b", Backslash),
        ("/etc/passwd%00.html", ControlCharacter),
        ("/%00", ControlCharacter),
        ("/a%0a", ControlCharacter),
        ("/a%0d%0aSet-Cookie:%20x", ControlCharacter),
        ("/a%09b", ControlCharacter),
        ("/a%7f", ControlCharacter),
        ("/a%1b[31m", ControlCharacter),
        ("/%c0%ae%c0%ae/etc/passwd", InvalidUtf8),
        ("/%c0%af", InvalidUtf8),
        ("/..%c0%af..%c0%afetc", InvalidUtf8),
        ("/%e0%80%ae%e0%80%ae/x", InvalidUtf8),
        ("/%f0%80%80%ae", InvalidUtf8),
        ("/%f8%80%80%80%ae", InvalidUtf8),
        ("/%c1%9c", InvalidUtf8),
        ("/%ed%a0%80", InvalidUtf8),
        ("/%ff", InvalidUtf8),
        ("/%80", InvalidUtf8),
        ("/%c3", InvalidUtf8),
        ("/%", BadPercentEncoding),
        ("/%2", BadPercentEncoding),
        ("/%zz", BadPercentEncoding),
        ("/%2g", BadPercentEncoding),
        ("/a%", BadPercentEncoding),
        ("/%%32%65%%32%65", BadPercentEncoding),
        ("/%u002e%u002e", BadPercentEncoding),
        ("a/b", NotOriginForm),
        ("../x", NotOriginForm),
        ("..", NotOriginForm),
        ("*", NotOriginForm),
        ("\\x", NotOriginForm),
    ];
    for (input, want) in refused {
        assert_eq!(resolve(input), Err(*want), "refused {input:?}");
        assert_eq!(want.status().code(), 400, "{input:?} is a 400");
    }

    // (input, relative path, trailing slash, dotfile)
    let accepted: &[(&str, &str, bool, bool)] = &[
        ("/", "", true, false),
        ("", "", true, false),
        ("?x=1", "", true, false),
        ("/a/b/../c", "a/c", false, false),
        ("/a/./b", "a/b", false, false),
        ("//a//b//", "a/b", true, false),
        ("/a/b/..", "a", true, false),
        ("/a/b/.", "a/b", true, false),
        ("/a/b/../../", "", true, false),
        ("/%2e", "", true, false),
        ("/a/%2e/b", "a/b", false, false),
        ("/a%2Fb", "a/b", false, false),
        ("/dir%2F", "dir", true, false),
        ("/a?b=../../etc/passwd", "a", false, false),
        ("/a#/../../etc", "a", false, false),
        ("/%3F", "?", false, false),
        ("/%23x", "#x", false, false),
        ("/%252e%252e/x", "%2e%2e/x", false, false),
        ("/caf%C3%A9", "caf\u{e9}", false, false),
        ("/caf\u{e9}", "caf\u{e9}", false, false),
        ("/a%20b", "a b", false, false),
        ("/a+b", "a+b", false, false),
        ("/.well-known/x", ".well-known/x", false, true),
        ("/.git/HEAD", ".git/HEAD", false, true),
        ("/a/.env", "a/.env", false, true),
        ("/...", "...", false, true),
        ("/..;/x", "..;/x", false, true),
        ("/a/..b", "a/..b", false, true),
        ("/a/b../c", "a/b../c", false, false),
        ("/.git/../index.html", "index.html", false, false),
        ("/a/.%2e/b", "b", false, false),
    ];
    for &(input, rel, trailing, dotfile) in accepted {
        let p = resolve(input).unwrap_or_else(|e| panic!("{input:?} refused: {e}"));
        assert_eq!(
            (p.as_str(), p.trailing_slash(), p.has_dotfile()),
            (rel, trailing, dotfile),
            "accepted {input:?}"
        );
        assert_eq!(p.is_root(), rel.is_empty(), "{input:?} is_root");
        assert_eq!(p.to_path_buf(), Path::new(rel), "{input:?} to_path_buf");
        assert_safe(input, &p);
    }
    assert!(refused.len() + accepted.len() >= 80, "corpus size");
}

/// Pieces that traversal attempts are made of.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "/", "/", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "\\", "%00", "%0a", "a", "b.", "%", "%c0%ae",
        "%c0", "?", "#", "\u{e9}", "%25", "%2", "//", "/./", "/../", "%ff", ";", "%3F",
    ]);
    prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_string_stays_under_the_root(input in prop_oneof![any::<String>(), "/.*", hostile()]) {
        if let Ok(p) = resolve(&input) {
            assert_safe(&input, &p);
            let again = resolve(&p.to_target()).expect("a clean path resolves");
            prop_assert_eq!(again, p, "clean paths are a fixed point");
        }
    }
}
