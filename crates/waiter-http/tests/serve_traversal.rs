//! A corpus of hostile request targets against a root whose parent holds a
//! secret: every one is refused (400/403/404) or redirected inside the root,
//! and no response carries the secret. Raw TCP, exact request bytes.

mod serve_common;

use serve_common::{start_at, temp_dir, write_files, TestServer};

/// In the root's parent only; no file under the root contains it.
const MARKER: &[u8] = b"WAITER-TRAVERSAL-MARKER-7f3a9c1e";

/// The hostile targets, each sent as `GET target HTTP/1.1` with `Host: t`.
fn targets() -> Vec<String> {
    let mut t: Vec<String> = [
        // Plain `..`.
        "/../secret.txt",
        "/../../secret.txt",
        "/../root/../secret.txt",
        "/sub/../../secret.txt",
        "/ok.txt/../../secret.txt",
        "/sub/../../root/../secret.txt",
        "/..",
        "/../",
        "/../../../../../../../../etc/passwd",
        // `.` segments around it.
        "/./../secret.txt",
        "/././../secret.txt",
        "/.././secret.txt",
        "/sub/./.././../secret.txt",
        // Percent-encoded dots, every case mix.
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/%2E%2e/secret.txt",
        "/%2e%2E/secret.txt",
        "/.%2e/secret.txt",
        "/%2e./secret.txt",
        "/%2e%2e",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        // Encoded separators.
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/%2e%2e%2Fsecret.txt",
        "/sub/..%2f..%2fsecret.txt",
        "/sub%2f..%2f..%2fsecret.txt",
        "/%2f..%2fsecret.txt",
        "/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/..%2f..%2f..%2fetc/passwd",
        "%2f..%2fsecret.txt",
        // Backslashes, raw and encoded.
        "/..\\secret.txt",
        "/\\..\\secret.txt",
        "/sub\\..\\..\\secret.txt",
        "/..%5csecret.txt",
        "/..%5Csecret.txt",
        "/%5c..%5c..%5csecret.txt",
        "/sub/..%5c..%5csecret.txt",
        // NUL and other control bytes.
        "/..%00/secret.txt",
        "/%00../secret.txt",
        "/.%00./secret.txt",
        "/%2e%2e%00/secret.txt",
        "/../secret.txt%00.html",
        "/..%0a/secret.txt",
        "/..%0d%0a/secret.txt",
        // Overlong and invalid UTF-8 for `.`, `/` and `\`.
        "/%c0%ae%c0%ae/secret.txt",
        "/%C0%AE%C0%AE/secret.txt",
        "/%c0%ae%c0%ae%c0%afsecret.txt",
        "/..%c0%afsecret.txt",
        "/..%c1%9csecret.txt",
        "/%c0%2e%c0%2e/secret.txt",
        "/%e0%80%ae%e0%80%ae/secret.txt",
        "/%e0%80%ae%e0%80%ae%e0%80%afsecret.txt",
        "/%f0%80%80%ae%f0%80%80%ae/secret.txt",
        "/%ed%a0%80../secret.txt",
        // Double encoding (decoded once: `%2e` stays a name).
        "/%252e%252e/secret.txt",
        "/%252e%252e%252fsecret.txt",
        "/..%252fsecret.txt",
        "/..%255csecret.txt",
        "/%25%32%65%25%32%65/secret.txt",
        "/%252E%252E/%252E%252E/secret.txt",
        // Invalid percent-encoding.
        "/..%u2216secret.txt",
        "/%u002e%u002e/secret.txt",
        "/%2/../secret.txt",
        "/%%32%65%%32%65/secret.txt",
        // Absolute-form.
        "http://t/../secret.txt",
        "http://t/%2e%2e/secret.txt",
        "http://t/..%2fsecret.txt",
        "http://t/sub/../../secret.txt",
        "HTTP://t/../secret.txt",
        "https://t/../secret.txt",
        "http://t/..\\secret.txt",
        // Doubled slashes.
        "//etc/passwd",
        "//../secret.txt",
        "///../secret.txt",
        "/sub//..//..//secret.txt",
        // Trailing and extra dots, and `..;` (a name here, not a parameter).
        "/../secret.txt.",
        "/..../secret.txt",
        "/.../secret.txt",
        "/.../.../secret.txt",
        "/...%2fsecret.txt",
        "/..;/secret.txt",
        "/sub/..;/..;/secret.txt",
        "/;/../secret.txt",
        // Unicode look-alikes: full-width dot and solidus, one dot leader.
        "/%ef%bc%8e%ef%bc%8e/secret.txt",
        "/%EF%BC%8E%EF%BC%8E%EF%BC%8Fsecret.txt",
        "/\u{ff0e}\u{ff0e}/secret.txt",
        "/%e2%80%a4%e2%80%a4/secret.txt",
        "/..%e2%88%95secret.txt",
        // Query and fragment tricks: cut before the path is resolved.
        "/?/../../secret.txt",
        "/sub/%2e%2e%2f%2e%2e%2fsecret.txt?x=1",
        "/sub/..%3f/../../secret.txt",
        "/#/../secret.txt",
        // The secret's name, inside the root (where it is not).
        "/secret.txt",
        "/sub/..",
        "/sub/%2e%2e",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Very long chains, still under the 8 KiB request-line limit.
    t.push(format!("/{}secret.txt", "../".repeat(2000)));
    t.push(format!("/{}secret.txt", "..%2f".repeat(1000)));
    t.push(format!("/sub/{}secret.txt", "%2e%2e/".repeat(900)));
    t.push(format!("/{}{}secret.txt", "a/".repeat(500), "../".repeat(501)));
    t
}

/// Whole raw requests: other versions and methods, odd framing around a hostile target.
fn raw_requests() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("HTTP/1.0", b"GET /../secret.txt HTTP/1.0\r\n\r\n"),
        ("HTTP/1.0 keep-alive", b"GET /%2e%2e/secret.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
        ("HEAD", b"HEAD /../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("bare LF", b"GET /../secret.txt HTTP/1.1\nHost: t\n\n"),
        ("Host with dots", b"GET /secret.txt HTTP/1.1\r\nHost: ..\r\n\r\n"),
        ("Host with a path", b"GET /secret.txt HTTP/1.1\r\nHost: t/..\r\n\r\n"),
        ("absolute-form authority with ..", b"GET http://../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("userinfo", b"GET http://u@t/../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("raw NUL", b"GET /..\x00/secret.txt HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("raw tab", b"GET /..\t/secret.txt HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("raw overlong", b"GET /\xc0\xae\xc0\xae/secret.txt HTTP/1.1\r\nHost: t\r\n\r\n"),
    ]
}

/// Whether `location` is a path inside the root: origin-form, and after one
/// decoding no segment climbs and no backslash or control byte appears.
fn location_inside_root(location: &str) -> bool {
    if !location.starts_with('/') || location.starts_with("//") {
        return false;
    }
    let path = location.split(['?', '#']).next().unwrap_or("");
    let bytes = path.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let Some(b) = path.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) else {
                return false;
            };
            decoded.push(b);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    if decoded.iter().any(|&b| b < 0x20 || b == 0x7f || b == b'\\') {
        return false;
    }
    decoded.split(|&b| b == b'/').all(|s| s != b"..")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Sends `raw` and checks the answer; `label` names the attempt in failures.
fn check(server: &TestServer, label: &str, raw: &[u8]) {
    let mut stream = server.connect();
    std::io::Write::write_all(&mut stream, raw).unwrap_or_else(|e| panic!("{label}: sending: {e}"));
    let is_head = raw.starts_with(b"HEAD ");
    let r = serve_common::read_response(&mut stream, is_head)
        .unwrap_or_else(|| panic!("{label}: the server closed the connection without a response"));
    assert!(!contains(&r.body, MARKER), "{label}: served the secret (status {})", r.status);
    assert!(!contains(&r.body, b"root:x:0:0"), "{label}: served /etc/passwd (status {})", r.status);
    match r.status {
        400 | 403 | 404 => {}
        301 => {
            let location = r.header("Location").unwrap_or_else(|| panic!("{label}: 301 without Location"));
            assert!(location_inside_root(location), "{label}: 301 to {location:?}, outside the root");
            let followed = server.get(location, "");
            assert!(
                !contains(&followed.body, MARKER),
                "{label}: the redirect to {location:?} served the secret"
            );
        }
        other => panic!("{label}: status {other}, expected 400, 403, 404 or a 301 inside the root"),
    }
}

#[test]
fn traversal_corpus_never_reaches_the_parent() {
    let base = temp_dir();
    let mut secret = b"top secret: ".to_vec();
    secret.extend_from_slice(MARKER);
    write_files(
        &base,
        &[
            ("secret.txt", &secret),
            ("root/ok.txt", b"ok"),
            ("root/sub/inner.txt", b"inner"),
            ("root/a/placeholder.txt", b"a"),
        ],
    );
    let targets = targets();
    let raws = raw_requests();
    assert!(targets.len() + raws.len() >= 60, "corpus size {}", targets.len() + raws.len());

    // The marker is real: a server rooted at the parent serves it, so a leak would be seen.
    {
        let parent = start_at(base.clone(), |_| {});
        assert!(contains(&parent.get("/secret.txt", "").body, MARKER), "control: the secret is servable");
    }

    let server = start_at(base.join("root"), |_| {});
    for (i, target) in targets.iter().enumerate() {
        let shown = if target.len() > 80 {
            format!("{}… ({} bytes)", &target[..80], target.len())
        } else {
            target.clone()
        };
        let label = format!("#{i} {shown:?}");
        check(&server, &label, format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    for (label, raw) in raws {
        check(&server, &format!("raw request ({label})"), raw);
    }
    // The root itself still serves, before and after the corpus.
    assert_eq!(server.get("/ok.txt", "").body, b"ok", "the root still serves");
    assert_eq!(server.get("/sub/../sub/inner.txt", "").body, b"inner", "`..` inside the root still works");
    drop(server);
    let _ = std::fs::remove_dir_all(&base);
}
