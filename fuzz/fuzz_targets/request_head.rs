//! `request::parse_with` on arbitrary bytes, under the default limits and
//! under tight ones. When a head is returned it must have consumed no more
//! than the buffer, parse identically from exactly the bytes it consumed
//! (what the connection re-reads when it pipelines), and no shorter prefix of
//! those bytes may already be a complete head (no desync of pipelined requests).
#![no_main]

use libfuzzer_sys::fuzz_target;
use waiter_http::request::{parse_with, Limits};
use waiter_http::{path, range};

fn check(data: &[u8], limits: &Limits) {
    let Ok(Some((head, consumed))) = parse_with(data, limits) else { return };
    assert!(consumed <= data.len(), "consumed {consumed} > len {}", data.len());
    assert!(consumed > 0, "an empty head was consumed");

    let again = parse_with(&data[..consumed], limits);
    let Ok(Some((head2, consumed2))) = again else {
        panic!("re-parsing the {consumed} consumed bytes gave {again:?}, first parse gave {head:?}");
    };
    assert_eq!(consumed2, consumed, "re-parse consumed a different count");
    assert_eq!(head2.method, head.method);
    assert_eq!(head2.target, head.target);
    assert_eq!(head2.path, head.path);
    assert_eq!(head2.version, head.version);
    assert_eq!(head2.host, head.host);
    assert_eq!(head2.keep_alive, head.keep_alive);
    assert_eq!(head2.body, head.body);
    assert_eq!(head2.fields, head.fields);
    assert!(head2.headers().eq(head.headers()), "header lines differ");
    assert_eq!(head2, head);

    // One byte fewer must not already be a complete head.
    if let Ok(Some((short, n))) = parse_with(&data[..consumed - 1], limits) {
        panic!("prefix of {} bytes is already a head ({n} bytes): {short:?}; full: {head:?}", consumed - 1);
    }

    // What the connection does next with the head must not panic either.
    let _ = head.headers().count();
    let _ = head.conditions();
    if let Ok(clean) = path::resolve(head.path) {
        assert!(!clean.as_str().starts_with('/'));
        assert!(!clean.segments().any(|s| s == ".." || s.contains('\\') || s.contains('\0')));
    }
    if let Some(value) = head.fields.range.as_deref() {
        let _ = range::evaluate(value, 1 << 20, range::DEFAULT_MAX_RANGES);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, &Limits::default());
    let tight = Limits {
        max_request_line: 64,
        max_field_line: 48,
        max_head: 256,
        max_headers: 4,
        max_discard_body: 16,
    };
    check(data, &tight);
    let none = Limits { max_request_line: 0, max_field_line: 0, max_head: 0, max_headers: 0, max_discard_body: 0 };
    check(data, &none);
});
