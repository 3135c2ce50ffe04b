//! Incremental parsing: a valid request split at every byte parses the same, and
//! no input — random or a mutated valid request — makes the parser panic.

use proptest::prelude::*;
use waiter_http::request::{parse, parse_with, Limits};

/// A valid request head: method, target, version, up to 12 header lines with
/// `Host` among them, optional leading empty lines, CRLF or bare-LF endings.
fn valid_request() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec!["GET", "HEAD", "POST", "OPTIONS", "DELETE", "PROPFIND"]);
    let target =
        prop_oneof!["/[a-zA-Z0-9._~%/?=&-]{0,40}", "http://[a-z]{1,10}(:[0-9]{1,5})?/[a-z0-9/.]{0,20}",];
    let version = prop::sample::select(vec!["HTTP/1.0", "HTTP/1.1"]);
    let field = prop_oneof![
        ("X-[A-Za-z0-9-]{1,15}", "[ -~]{0,30}"),
        (Just("Range".to_owned()), "bytes=[0-9]{1,3}-[0-9]{0,3}"),
        (Just("If-None-Match".to_owned()), "(W/)?\"[a-z0-9,-]{0,10}\""),
        (
            Just("Connection".to_owned()),
            prop::sample::select(vec!["close".to_owned(), "keep-alive".to_owned()])
        ),
        (Just("Content-Length".to_owned()), "[0-9]{1,6}"),
        (Just("Accept-Encoding".to_owned()), Just("gzip, br".to_owned())),
    ];
    let fields = prop::collection::vec(field, 0..12);
    (0..3usize, method, target, version, fields, any::<prop::sample::Index>(), any::<bool>()).prop_map(
        |(empty_lines, method, target, version, mut fields, host_at, bare_lf)| {
            let content_lengths = fields.iter().filter(|(n, _)| n == "Content-Length").count();
            if content_lengths > 1 {
                fields.retain(|(n, _)| n != "Content-Length");
            }
            let at = host_at.index(fields.len() + 1);
            fields.insert(at, ("Host".to_owned(), "example.com".to_owned()));
            let eol = if bare_lf { "\n" } else { "\r\n" };
            let mut text = eol.repeat(empty_lines);
            text += &format!("{method} {target} {version}{eol}");
            for (name, value) in fields {
                text += &format!("{name}: {value}{eol}");
            }
            text += eol;
            text.into_bytes()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn split_at_every_byte_parses_the_same(req in valid_request(), next in "[A-Z]{0,8}") {
        let (whole, used) = parse(&req).expect("valid").expect("complete");
        prop_assert_eq!(used, req.len(), "the head is all of it");
        for cut in 0..req.len() {
            prop_assert_eq!(parse(&req[..cut]), Ok(None), "prefix of {} bytes waits", cut);
        }
        let mut pipelined = req.clone();
        pipelined.extend_from_slice(next.as_bytes());
        let (again, used_again) = parse(&pipelined).expect("valid").expect("complete");
        prop_assert_eq!(&again, &whole, "bytes after the head change nothing");
        prop_assert_eq!(used_again, used, "and are not consumed");
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(Some((_, used))) = parse(&bytes) {
            prop_assert!(used <= bytes.len());
        }
    }

    #[test]
    fn mutated_requests_never_panic(
        req in valid_request(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..6),
    ) {
        let mut bytes = req;
        for (at, byte, kind) in edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 => bytes.insert(i, byte),
                1 if i < bytes.len() => bytes[i] = byte,
                _ if i < bytes.len() => { bytes.remove(i); }
                _ => {}
            }
        }
        let tight = Limits { max_request_line: 30, max_field_line: 20, max_head: 120, max_headers: 3, max_discard_body: 0 };
        for limits in [Limits::default(), tight] {
            match parse_with(&bytes, &limits) {
                Ok(Some((head, used))) => {
                    prop_assert!(used <= bytes.len() && used <= limits.max_head);
                    prop_assert!(head.headers().count() <= limits.max_headers);
                }
                Ok(None) => prop_assert!(bytes.len() <= limits.max_head),
                Err(e) => prop_assert!([400, 414, 431, 505].contains(&e.status().code())),
            }
        }
    }
}
