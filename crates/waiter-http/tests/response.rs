//! Response heads byte for byte, `multipart/byteranges`, the io-error mapping
//! and content types, each check labelled.

use std::io;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use waiter_http::{
    content_type_for, status_for_io_error, ByteRange, ContentRange, DateCache, ETag, Encoding, HeaderValue,
    LastModified, Multipart, ResponseHead, Status, ALLOW_GET_HEAD,
};

fn text(head: &ResponseHead<'_>) -> String {
    let date = DateCache::new(UNIX_EPOCH + Duration::from_secs(784_111_777));
    let mut out = Vec::new();
    head.write(&mut out, &date);
    String::from_utf8(out).expect("ASCII")
}

#[test]
fn every_header() {
    let mtime = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let (etag, modified) = (ETag::for_file(mtime, 1000), LastModified::new(mtime));
    let html = content_type_for(Path::new("index.html"));
    let cache = HeaderValue::new("public, max-age=3600").unwrap();
    let location = HeaderValue::from_static("/dir/");
    let mut head = ResponseHead::new(Status::PARTIAL_CONTENT);
    head.content_length = Some(100);
    head.content_type = Some(&html);
    head.last_modified = Some(&modified);
    head.etag = Some(&etag);
    head.accept_ranges = true;
    head.content_range = Some(ContentRange::Bytes { range: ByteRange { first: 0, last: 99 }, len: 1000 });
    head.keep_alive = false;
    head.vary_accept_encoding = true;
    head.content_encoding = Some(Encoding::Brotli);
    head.cache_control = Some(&cache);
    head.allow = Some(&ALLOW_GET_HEAD);
    head.location = Some(&location);
    let want = "HTTP/1.1 206 Partial Content\r\n\
        Server: waiter\r\n\
        Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
        Content-Type: text/html; charset=utf-8\r\n\
        Content-Length: 100\r\n\
        Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\n\
        Connection: close\r\n\
        ETag: \"6553f100-3e8\"\r\n\
        Accept-Ranges: bytes\r\n\
        Content-Range: bytes 0-99/1000\r\n\
        Content-Encoding: br\r\n\
        Vary: Accept-Encoding\r\n\
        Cache-Control: public, max-age=3600\r\n\
        Allow: GET, HEAD\r\n\
        Location: /dir/\r\n\
        X-Content-Type-Options: nosniff\r\n\r\n";
    assert_eq!(text(&head), want, "all headers, nginx's order");
}

#[test]
fn minimal_heads() {
    let want = "HTTP/1.1 304 Not Modified\r\nServer: waiter\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
        Connection: keep-alive\r\nX-Content-Type-Options: nosniff\r\n\r\n";
    assert_eq!(text(&ResponseHead::new(Status::NOT_MODIFIED)), want, "304 without Content-Length");
    let mut head = ResponseHead::new(Status::RANGE_NOT_SATISFIABLE);
    head.content_range = Some(ContentRange::Unsatisfied { len: 1234 });
    assert!(text(&head).contains("\r\nContent-Range: bytes */1234\r\n"), "416 Content-Range");
    assert!(text(&head).starts_with("HTTP/1.1 416 Range Not Satisfiable\r\n"), "416 status line");
    let mut head = ResponseHead::new(Status::OK);
    head.content_length = Some(u64::MAX);
    head.content_encoding = Some(Encoding::Gzip);
    assert!(text(&head).contains("\r\nContent-Length: 18446744073709551615\r\n"), "u64::MAX length");
    assert!(text(&head).contains("\r\nContent-Encoding: gzip\r\n"), "gzip");
    assert!(
        text(&ResponseHead::new(Status::new(299).unwrap())).starts_with("HTTP/1.1 299 \r\n"),
        "unnamed code"
    );
}

#[test]
fn statuses() {
    assert_eq!(Status::new(99), None, "below 100");
    assert_eq!(Status::new(600), None, "above 599");
    assert_eq!(Status::new(404), Some(Status::NOT_FOUND), "404 by number");
    assert_eq!(Status::HTTP_VERSION_NOT_SUPPORTED.to_string(), "505 HTTP Version Not Supported", "Display");
    assert_eq!(
        Status::REQUEST_HEADER_FIELDS_TOO_LARGE.reason(),
        "Request Header Fields Too Large",
        "431 reason"
    );
    assert_eq!(Status::URI_TOO_LONG.reason(), "URI Too Long", "414 reason");
}

#[test]
fn header_values() {
    const CUSTOM: HeaderValue = HeaderValue::from_static("no-cache");
    assert_eq!(CUSTOM.as_str(), "no-cache", "const value");
    for bad in ["x\r\nSet-Cookie: a=b", "x\ny", "x\rY", "\0", "\u{1b}[0m", "\u{e9}"] {
        assert!(HeaderValue::new(bad).is_err(), "refused {bad:?}");
    }
    assert!(
        std::panic::catch_unwind(|| HeaderValue::from_static("a\r\nb")).is_err(),
        "from_static panics on CRLF"
    );
}

#[test]
fn multipart() {
    let part_type = HeaderValue::from_static("text/plain");
    let mp = Multipart::new(42, &part_type, 10);
    assert_eq!(mp.content_type().as_str(), "multipart/byteranges; boundary=00000000000000000042", "boundary");
    let ranges = [ByteRange { first: 0, last: 1 }, ByteRange { first: 8, last: 9 }];
    let file = b"0123456789";
    let mut body = Vec::new();
    for r in ranges {
        mp.write_part_header(&mut body, r);
        body.extend_from_slice(&file[r.first as usize..=r.last as usize]);
    }
    mp.write_trailer(&mut body);
    let want =
        "\r\n--00000000000000000042\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n01\
        \r\n--00000000000000000042\r\nContent-Type: text/plain\r\nContent-Range: bytes 8-9/10\r\n\r\n89\
        \r\n--00000000000000000042--\r\n";
    assert_eq!(String::from_utf8(body.clone()).unwrap(), want, "body layout");
    assert_eq!(mp.body_len(&ranges), body.len() as u64, "body_len counts every byte");
}

#[test]
fn io_errors() {
    let cases: &[(&str, io::Error, u16)] = &[
        ("NotFound kind", io::Error::from(io::ErrorKind::NotFound), 404),
        ("PermissionDenied kind", io::Error::from(io::ErrorKind::PermissionDenied), 403),
        ("ENOENT", io::Error::from_raw_os_error(2), 404),
        ("EACCES", io::Error::from_raw_os_error(13), 403),
        ("EPERM", io::Error::from_raw_os_error(1), 403),
        ("ENOTDIR", io::Error::from_raw_os_error(20), 404),
        ("ENAMETOOLONG", io::Error::from_raw_os_error(36), 404),
        ("ELOOP", io::Error::from_raw_os_error(40), 403),
        ("EMLINK", io::Error::from_raw_os_error(31), 403),
        ("EIO", io::Error::from_raw_os_error(5), 500),
        ("EMFILE", io::Error::from_raw_os_error(24), 503),
        ("ENFILE", io::Error::from_raw_os_error(23), 503),
        ("ENOMEM", io::Error::from_raw_os_error(12), 503),
        ("Other", io::Error::other("x"), 500),
    ];
    for (label, err, want) in cases {
        assert_eq!(status_for_io_error(err).code(), *want, "{label}");
    }
    let err = std::fs::File::open("/proc/self/status/x").unwrap_err();
    assert_eq!(status_for_io_error(&err).code(), 404, "real ENOTDIR from the kernel");
}

#[test]
fn content_types() {
    let cases: &[(&str, &str)] = &[
        ("index.html", "text/html; charset=utf-8"),
        ("INDEX.HTM", "text/html; charset=utf-8"),
        ("a.txt", "text/plain; charset=utf-8"),
        ("a.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("mod.mjs", "application/javascript; charset=utf-8"),
        ("data.json", "application/json; charset=utf-8"),
        ("logo.png", "image/png"),
        ("logo.svg", "image/svg+xml"),
        ("a.wasm", "application/wasm"),
        ("a.pdf", "application/pdf"),
        ("README", "application/octet-stream"),
        ("a.no-such-ext", "application/octet-stream"),
        ("dir.d/file", "application/octet-stream"),
    ];
    for (name, want) in cases {
        assert_eq!(content_type_for(Path::new(name)).as_str(), *want, "{name}");
    }
}

#[test]
fn date_cache() {
    let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
    let mut cache = DateCache::new(t);
    assert_eq!(cache.as_str(), "Sun, 06 Nov 1994 08:49:37 GMT", "formatted");
    cache.update(t + Duration::from_millis(999));
    assert_eq!(cache.as_str(), "Sun, 06 Nov 1994 08:49:37 GMT", "same second");
    cache.update(t + Duration::from_secs(1));
    assert_eq!(cache.as_str(), "Sun, 06 Nov 1994 08:49:38 GMT", "next second");
    cache.update(UNIX_EPOCH - Duration::from_secs(5));
    assert_eq!(cache.as_str(), "Thu, 01 Jan 1970 00:00:00 GMT", "clock before 1970 clamps");
}
