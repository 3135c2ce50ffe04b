//! Request heads, in the nginx-tests manner: raw bytes in, each check labelled.

use std::borrow::Cow;

use waiter_http::request::{parse, parse_with, Body, HttpError, Limits, Method, Version};

/// A head's key facts: method, path, host, keep-alive, body.
type Facts<'b> = (Method<'b>, &'b str, Option<&'b str>, bool, Body);

/// What parsing the whole buffer gives: the error, `Ok(None)`, or the head's key facts.
fn outcome(buf: &[u8]) -> Result<Option<Facts<'_>>, HttpError> {
    parse(buf).map(|o| o.map(|(h, _)| (h.method, h.path, h.host, h.keep_alive, h.body)))
}

fn err(buf: &[u8]) -> Option<HttpError> {
    parse(buf).err()
}

#[test]
fn request_line() {
    use Method::*;
    let ok = |m, p, h| Ok(Some((m, p, h, true, Body::None)));
    assert_eq!(outcome(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), ok(Get, "/", Some("a")), "plain GET");
    assert_eq!(
        outcome(b"HEAD /x?y HTTP/1.1\r\nHost: a\r\n\r\n"),
        ok(Head, "/x?y", Some("a")),
        "HEAD with query"
    );
    assert_eq!(
        outcome(b"DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n"),
        ok(Other("DELETE"), "/x", Some("a")),
        "other method"
    );
    assert_eq!(
        outcome(b"get / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ok(Other("get"), "/", Some("a")),
        "method is case-sensitive"
    );
    assert_eq!(
        outcome(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ok(Get, "/", Some("a")),
        "leading empty lines"
    );
    assert_eq!(outcome(b"GET / HTTP/1.1\nHost: a\n\n"), ok(Get, "/", Some("a")), "bare LF line ends");
    assert_eq!(outcome(b"GET / HTTP/1.1\r\nHost: a\r\n"), Ok(None), "incomplete head");
    assert_eq!(outcome(b""), Ok(None), "nothing yet");
    for (label, bad) in [
        ("two spaces", &b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"[..]),
        ("tab separator", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("no target", b"GET HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("HTTP/0.9", b"GET /\r\n\r\n"),
        ("lower-case version", b"GET / http/1.1\r\nHost: a\r\n\r\n"),
        ("trailing space", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n"),
        ("bare CR", b"GET / HTTP/1.1\rHost: a\r\n\r\n"),
        ("NUL in target", b"GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("space in target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("non-UTF-8 target", b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("binary garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
        ("method with slash", b"GE/T / HTTP/1.1\r\nHost: a\r\n\r\n"),
    ] {
        assert_eq!(err(bad), Some(HttpError::Syntax), "{label}");
    }
    for (label, bad) in [
        ("relative", &b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n"[..]),
        ("ftp scheme", b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("authority-form on GET", b"GET a:443 HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("CONNECT without a port", b"CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("CONNECT without a host", b"CONNECT :443 HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("asterisk on GET", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
    ] {
        assert_eq!(err(bad), Some(HttpError::InvalidTarget), "{label}");
    }
    assert_eq!(
        outcome(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"),
        ok(Other("CONNECT"), "a:443", Some("a:443")),
        "authority-form"
    );
    assert_eq!(
        outcome(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
        ok(Other("OPTIONS"), "*", Some("a")),
        "asterisk-form"
    );
}

#[test]
fn versions() {
    let (h10, h11) = (b"GET / HTTP/1.0\r\n\r\n", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(parse(h10).unwrap().unwrap().0.version, Version::Http10, "1.0");
    assert_eq!(parse(h11).unwrap().unwrap().0.version, Version::Http11, "1.1");
    for v in ["HTTP/1.2", "HTTP/1.9"] {
        let req = format!("GET / {v}\r\nHost: a\r\n\r\n");
        let (head, used) = parse(req.as_bytes()).unwrap().unwrap();
        assert_eq!(
            (head.version, used),
            (Version::Http11, req.len()),
            "{v} is served as 1.1 (RFC 9110 §2.5)"
        );
    }
    for v in ["HTTP/2.0", "HTTP/0.9", "HTTP/3.0", "HTTP/9.9"] {
        let req = format!("GET / {v}\r\nHost: a\r\n\r\n");
        assert_eq!(err(req.as_bytes()), Some(HttpError::VersionNotSupported), "{v} is 505");
        assert_eq!(HttpError::VersionNotSupported.status().code(), 505, "505 code");
    }
    assert_eq!(
        parse(b"GET / HTTP/2.0\r\n"),
        Err(HttpError::VersionNotSupported),
        "505 before the headers end"
    );
    assert_eq!(parse(b"GET / HTTP/2."), Ok(None), "undecided version prefix waits");
    for v in ["HTTP/10.0", "HTTP/2", "HTTP/1.1.1", "HTTPS/1.1", "HTTP/a.b"] {
        let req = format!("GET / {v}\r\nHost: a\r\n\r\n");
        assert_eq!(err(req.as_bytes()), Some(HttpError::Syntax), "{v} is 400");
    }
}

#[test]
fn host() {
    fn host(req: &[u8]) -> Result<Option<&str>, HttpError> {
        parse(req).map(|o| o.unwrap().0.host)
    }
    assert_eq!(err(b"GET / HTTP/1.1\r\n\r\n"), Some(HttpError::MissingHost), "1.1 needs Host");
    assert_eq!(host(b"GET / HTTP/1.0\r\n\r\n"), Ok(None), "1.0 without Host");
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
        Some(HttpError::MultipleHost),
        "repeated Host"
    );
    assert_eq!(
        err(b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"),
        Some(HttpError::MultipleHost),
        "repeated Host on 1.0"
    );
    assert_eq!(host(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"), Ok(None), "empty Host");
    assert_eq!(
        host(b"GET / HTTP/1.1\r\nHOST: Ex.com:8080\r\n\r\n"),
        Ok(Some("Ex.com:8080")),
        "name case, port"
    );
    assert_eq!(host(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), Ok(Some("[::1]:80")), "IPv6 literal");
    for bad in ["a/b", "../x", "a b", "a\\b", "a@b", "a:b", "[::1"] {
        let req = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
        assert_eq!(err(req.as_bytes()), Some(HttpError::InvalidHost), "Host {bad:?}");
    }
    assert_eq!(err(b"GET / HTTP/1.1\r\nHost: a\xffb\r\n\r\n"), Some(HttpError::InvalidHost), "obs-text Host");
}

#[test]
fn absolute_form() {
    let req = b"GET HTTP://Example.com:81/a/b?q HTTP/1.1\r\nHost: other\r\n\r\n";
    let (head, _) = parse(req).unwrap().unwrap();
    assert_eq!((head.host, head.path), (Some("Example.com:81"), "/a/b?q"), "authority replaces Host");
    assert_eq!(head.target, "HTTP://Example.com:81/a/b?q", "target kept as sent");
    let (head, _) = parse(b"GET https://h HTTP/1.1\r\nHost: h\r\n\r\n").unwrap().unwrap();
    assert_eq!((head.host, head.path), (Some("h"), ""), "empty path");
    let (head, _) = parse(b"GET http://h?x HTTP/1.0\r\n\r\n").unwrap().unwrap();
    assert_eq!((head.host, head.path), (Some("h"), "?x"), "query without path, 1.0 without Host");
    assert_eq!(
        err(b"GET http://u:p@h/ HTTP/1.1\r\nHost: h\r\n\r\n"),
        Some(HttpError::InvalidHost),
        "userinfo"
    );
    assert_eq!(
        err(b"GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n"),
        Some(HttpError::InvalidHost),
        "empty authority"
    );
    assert_eq!(err(b"GET http://h/ HTTP/1.1\r\n\r\n"), Some(HttpError::MissingHost), "1.1 still needs Host");
    assert_eq!(
        err(b"GET http://h/ HTTP/1.1\r\nHost: a/b\r\n\r\n"),
        Some(HttpError::InvalidHost),
        "bad Host still 400"
    );
}

#[test]
fn smuggling() {
    use HttpError::*;
    let cases: &[(&str, &str, HttpError)] = &[
        ("TE and CL", "Transfer-Encoding: chunked\r\nContent-Length: 5", TransferEncodingWithContentLength),
        ("CL and TE", "Content-Length: 5\r\nTransfer-Encoding: chunked", TransferEncodingWithContentLength),
        ("differing CL", "Content-Length: 5\r\nContent-Length: 6", ContentLengthMismatch),
        ("differing CL list", "Content-Length: 5, 6", ContentLengthMismatch),
        ("negative CL", "Content-Length: -1", InvalidContentLength),
        ("plus CL", "Content-Length: +5", InvalidContentLength),
        ("hex CL", "Content-Length: 0x5", InvalidContentLength),
        ("empty CL", "Content-Length:", InvalidContentLength),
        ("CL with space inside", "Content-Length: 1 2", InvalidContentLength),
        ("CL overflow", "Content-Length: 18446744073709551616", InvalidContentLength),
        ("CL empty list element", "Content-Length: 5,,5", InvalidContentLength),
        ("TE gzip only", "Transfer-Encoding: gzip", UnsupportedTransferEncoding),
        ("TE chunked not last", "Transfer-Encoding: chunked, gzip", UnsupportedTransferEncoding),
        ("TE chunked twice", "Transfer-Encoding: chunked, chunked", UnsupportedTransferEncoding),
        (
            "TE chunked twice over lines",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
            UnsupportedTransferEncoding,
        ),
        ("TE empty", "Transfer-Encoding:", UnsupportedTransferEncoding),
        ("TE with junk", "Transfer-Encoding: chunked;x", UnsupportedTransferEncoding),
        ("TE quoted", "Transfer-Encoding: \"chunked\"", UnsupportedTransferEncoding),
        ("TE identity", "Transfer-Encoding: identity", UnsupportedTransferEncoding),
        ("obs-fold", "X-A: 1\r\n 2", Syntax),
        ("obs-fold tab", "X-A: 1\r\n\t2", Syntax),
        ("obs-fold on TE", "Transfer-Encoding:\r\n chunked", Syntax),
        ("space before colon", "Transfer-Encoding : chunked", Syntax),
        ("space in name", "Content Length: 5", Syntax),
        ("bare CR in value", "X-A: a\rb", Syntax),
        ("NUL in value", "X-A: a\0b", Syntax),
        ("NUL in name", "X-\0A: a", Syntax),
        ("no colon", "X-A", Syntax),
        ("empty name", ": a", Syntax),
        ("header starts with space", " Host: b", Syntax),
    ];
    for (label, headers, want) in cases {
        let req = format!("POST / HTTP/1.1\r\nHost: a\r\n{headers}\r\n\r\n");
        assert_eq!(err(req.as_bytes()), Some(*want), "{label}");
        assert_eq!(want.status().code(), 400, "{label} is a 400");
    }
    assert_eq!(
        err(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Some(UnsupportedTransferEncoding),
        "TE in 1.0"
    );
}

#[test]
fn bodies_and_keep_alive() {
    let facts = |req: &str| parse(req.as_bytes()).map(|o| o.map(|(h, _)| (h.keep_alive, h.body)));
    let cases: &[(&str, &str, bool, Body)] = &[
        ("1.1 default", "GET / HTTP/1.1\r\nHost: a", true, Body::None),
        ("1.1 close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close", false, Body::None),
        (
            "1.1 close in list, any case",
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: TE, Close",
            false,
            Body::None,
        ),
        ("1.0 default", "GET / HTTP/1.0", false, Body::None),
        ("1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive", true, Body::None),
        ("1.0 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive, close", false, Body::None),
        ("CL 0", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0", true, Body::None),
        (
            "small body discarded",
            "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 65536",
            true,
            Body::Length(65536),
        ),
        (
            "large body closes",
            "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 65537",
            false,
            Body::Length(65537),
        ),
        (
            "equal CL repeats",
            "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nContent-Length: 7, 007",
            true,
            Body::Length(7),
        ),
        (
            "chunked is discarded",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, Chunked",
            true,
            Body::Chunked,
        ),
        (
            "chunked with Expect closes",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue",
            false,
            Body::Chunked,
        ),
        (
            "Expect with a body closes",
            "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5",
            false,
            Body::Length(5),
        ),
        ("Expect without a body", "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue", true, Body::None),
    ];
    for (label, head, keep_alive, body) in cases {
        assert_eq!(facts(&format!("{head}\r\n\r\n")), Ok(Some((*keep_alive, *body))), "{label}");
    }
}

#[test]
fn limits() {
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(8192));
    assert_eq!(err(long_target.as_bytes()), Some(HttpError::UriTooLong), "request line over 8 KiB");
    assert_eq!(err(&long_target.as_bytes()[..8200]), Some(HttpError::UriTooLong), "414 before the line ends");
    let fits = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(8192 - 14));
    assert!(parse(fits.as_bytes()).unwrap().is_some(), "request line of exactly 8 KiB");
    let big_field = format!("GET / HTTP/1.1\r\nHost: a\r\nCookie: {}\r\n\r\n", "c".repeat(8192));
    assert_eq!(err(big_field.as_bytes()), Some(HttpError::HeadTooLarge), "header line over 8 KiB");
    let many_big = format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", "Cookie: x\r\n".repeat(3000));
    assert_eq!(err(many_big.as_bytes()), Some(HttpError::TooManyHeaders), "over 100 lines");
    let head_32k =
        format!("GET / HTTP/1.1\r\nHost: a\r\n{}", format!("X: {}\r\n", "v".repeat(8000)).repeat(5));
    assert_eq!(err(head_32k.as_bytes()), Some(HttpError::HeadTooLarge), "head over 32 KiB, still incomplete");
    let hundred = format!("GET / HTTP/1.1\r\n{}Host: a\r\n\r\n", "X: y\r\n".repeat(99));
    assert!(parse(hundred.as_bytes()).unwrap().is_some(), "exactly 100 lines");
    let empties = "\r\n".repeat(20_000);
    assert_eq!(err(empties.as_bytes()), Some(HttpError::HeadTooLarge), "endless empty lines");
    assert_eq!(HttpError::UriTooLong.status().code(), 414, "414 code");
    assert_eq!(HttpError::HeadTooLarge.status().code(), 431, "431 code");
    assert_eq!(HttpError::TooManyHeaders.status().code(), 431, "431 code for count");

    let tight = Limits { max_request_line: 20, max_head: 40, max_headers: 2, ..Limits::default() };
    assert_eq!(
        parse_with(b"GET /abcdefg HTTP/1.1\r\n", &tight).err(),
        Some(HttpError::UriTooLong),
        "custom line limit"
    );
    let three = b"GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(parse_with(three, &tight).err(), Some(HttpError::TooManyHeaders), "custom header count");
    let long = b"GET / HTTP/1.0\r\nA: 0123456789012345678901234\r\n\r\n";
    assert_eq!(parse_with(long, &tight).err(), Some(HttpError::HeadTooLarge), "custom head size");
}

#[test]
fn fields_and_headers() {
    let req = b"GET / HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\nIF-NONE-MATCH: \"x\"\r\nIf-None-Match: W/\"y\"  \r\n\
        Accept-Encoding: gzip, br\r\nX-Custom:\tv v \r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n";
    let (head, used) = parse(req).unwrap().unwrap();
    assert_eq!(used, req.len(), "consumed all");
    assert_eq!(head.fields.range.as_deref(), Some(&b"bytes=0-1"[..]), "Range");
    assert_eq!(head.fields.if_none_match, Some(Cow::Owned(b"\"x\", W/\"y\"".to_vec())), "repeats joined");
    assert_eq!(head.fields.accept_encoding.as_deref(), Some(&b"gzip, br"[..]), "Accept-Encoding");
    assert_eq!(head.fields.if_range, None, "absent field");
    assert_eq!(
        head.conditions().if_modified_since,
        Some(&b"Sun, 06 Nov 1994 08:49:37 GMT"[..]),
        "conditions()"
    );
    let all: Vec<_> = head.headers().collect();
    assert_eq!(all.len(), 7, "headers() sees every line");
    assert_eq!(all[5], ("X-Custom", &b"v v"[..]), "headers() trims, keeps inner space");
    assert_eq!(all[3], ("If-None-Match", &b"W/\"y\""[..]), "headers() keeps name case");
    let (head, _) = parse(b"\r\n\nGET / HTTP/1.0\nA: 1\r\nB:2\n\n").unwrap().unwrap();
    let all: Vec<_> = head.headers().collect();
    assert_eq!(all, [("A", &b"1"[..]), ("B", &b"2"[..])], "headers() after empty lines, with bare LFs");
}

#[test]
fn pipelined() {
    let two = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3";
    let (first, n) = parse(two).unwrap().unwrap();
    assert_eq!((first.path, n), ("/1", 28), "first of three");
    let (second, m) = parse(&two[n..]).unwrap().unwrap();
    assert_eq!((second.path, m), ("/2", 28), "second");
    assert_eq!(parse(&two[n + m..]), Ok(None), "third still incomplete");
    let after_body = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n";
    let (post, n) = parse(after_body).unwrap().unwrap();
    let Body::Length(len) = post.body else { panic!("body framing") };
    let (next, _) = parse(&after_body[n + len as usize..]).unwrap().unwrap();
    assert_eq!(next.path, "/next", "request after a discarded body and a stray CRLF");
}
