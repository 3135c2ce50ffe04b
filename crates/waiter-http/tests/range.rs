//! Range resolution: RFC 9110 §14 examples and edge cases, `If-Range`, and a
//! property test against a naive model that marks bytes in a `Vec<bool>`.

use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use waiter_http::range::{evaluate, if_range_allows, ByteRange, RangeDecision, DEFAULT_MAX_RANGES};
use waiter_http::{ETag, LastModified};

fn partial(ranges: &[(u64, u64)]) -> RangeDecision {
    RangeDecision::Partial(ranges.iter().map(|&(first, last)| ByteRange { first, last }).collect())
}

#[test]
fn rfc_examples_and_edges() {
    use RangeDecision::{Full, Unsatisfiable};
    let cases: &[(&str, &str, RangeDecision)] = &[
        ("first 500", "bytes=0-499", partial(&[(0, 499)])),
        ("second 500", "bytes=500-999", partial(&[(500, 999)])),
        ("suffix", "bytes=-500", partial(&[(9500, 9999)])),
        ("open", "bytes=9500-", partial(&[(9500, 9999)])),
        ("first and last byte", "bytes=0-0,-1", partial(&[(0, 0), (9999, 9999)])),
        ("three", "bytes=0-999,4500-5499,-1000", partial(&[(0, 999), (4500, 5499), (9000, 9999)])),
        ("adjacent coalesce", "bytes=500-600,601-999", partial(&[(500, 999)])),
        ("overlap coalesce", "bytes=500-700,601-999", partial(&[(500, 999)])),
        ("order kept", "bytes=9000-9099,0-9", partial(&[(9000, 9099), (0, 9)])),
        ("coalesced at its first member", "bytes=50-59,0-9,5-20", partial(&[(50, 59), (0, 20)])),
        ("last clamped", "bytes=0-99999", partial(&[(0, 9999)])),
        ("suffix over length", "bytes=-20000", partial(&[(0, 9999)])),
        ("last byte exactly", "bytes=9999-9999", partial(&[(9999, 9999)])),
        ("satisfiable among not", "bytes=10000-,0-1", partial(&[(0, 1)])),
        ("unit case", "BYTES=1-2", partial(&[(1, 2)])),
        ("OWS in list", "bytes=1-2 , 4-5", partial(&[(1, 2), (4, 5)])),
        ("empty elements", "bytes=,1-2,,", partial(&[(1, 2)])),
        ("last saturates", "bytes=0-99999999999999999999999", partial(&[(0, 9999)])),
        ("past the end", "bytes=10000-", Unsatisfiable),
        ("zero suffix", "bytes=-0", Unsatisfiable),
        ("both past", "bytes=10000-20000,-0", Unsatisfiable),
        ("first saturates", "bytes=99999999999999999999-", Unsatisfiable),
        ("reversed", "bytes=5-2", Unsatisfiable),
        ("one reversed of two", "bytes=0-1,5-2", Unsatisfiable),
        ("reversed beside junk", "bytes=5-2,x", Full),
        ("letters", "bytes=abc", Full),
        ("junk element", "bytes=0-1,x", Full),
        ("other unit", "items=0-1", Full),
        ("no unit", "0-1", Full),
        ("no specs", "bytes=", Full),
        ("space inside spec", "bytes=0 -1", Full),
        ("semicolon", "bytes=0-1;", Full),
        ("negative", "bytes=--1", Full),
        ("empty", "", Full),
    ];
    for (label, header, want) in cases {
        assert_eq!(&evaluate(header.as_bytes(), 10_000, DEFAULT_MAX_RANGES), want, "{label}: {header}");
    }
    assert_eq!(evaluate(b"bytes=0-", 0, 16), Full, "empty file ignores Range");
    assert_eq!(evaluate(b"bytes=-1", 0, 16), Full, "empty file ignores suffix");
    assert_eq!(evaluate(b"bytes=0-0", 1, 16), partial(&[(0, 0)]), "one-byte file");
}

#[test]
fn abuse() {
    let sixteen = format!("bytes={}", vec!["0-"; 16].join(","));
    assert_eq!(
        evaluate(sixteen.as_bytes(), 100, 16),
        partial(&[(0, 99)]),
        "16 whole-file ranges send the file once"
    );
    let seventeen = format!("bytes={}", vec!["0-0"; 17].join(","));
    assert_eq!(evaluate(seventeen.as_bytes(), 100, 16), RangeDecision::Full, "17 ranges: Range ignored");
    let spread: Vec<String> = (0..16).map(|i| format!("{}-{}", i * 10, i * 10)).collect();
    let spread = format!("bytes={}", spread.join(","));
    let RangeDecision::Partial(parts) = evaluate(spread.as_bytes(), 1000, 16) else { panic!("spread") };
    assert_eq!(parts.len(), 16, "16 separate ranges kept");
    let huge = format!("bytes={}", "1-1,".repeat(100_000));
    assert_eq!(evaluate(huge.as_bytes(), 10, 16), RangeDecision::Full, "100k specs: ignored, bounded work");
}

#[test]
fn if_range() {
    let mtime = UNIX_EPOCH + Duration::from_secs(784_111_777);
    let (etag, modified) = (ETag::for_file(mtime, 10), LastModified::new(mtime));
    assert_eq!(etag.as_str(), "\"2ebc98a1-a\"", "nginx-style etag");
    let cases: &[(&str, &str, bool)] = &[
        ("same strong etag", "\"2ebc98a1-a\"", true),
        ("same etag, spaces", "  \"2ebc98a1-a\" ", true),
        ("weak etag never", "W/\"2ebc98a1-a\"", false),
        ("other etag", "\"2ebc98a1-b\"", false),
        ("etag list", "\"2ebc98a1-a\", \"x\"", false),
        ("unquoted etag", "2ebc98a1-a", false),
        ("same date", "Sun, 06 Nov 1994 08:49:37 GMT", true),
        ("same date, RFC 850", "Sunday, 06-Nov-94 08:49:37 GMT", true),
        ("same date, asctime", "Sun Nov  6 08:49:37 1994", true),
        ("a second later", "Sun, 06 Nov 1994 08:49:38 GMT", false),
        ("a second earlier", "Sun, 06 Nov 1994 08:49:36 GMT", false),
        ("garbage", "yesterday", false),
        ("empty", "", false),
    ];
    for (label, value, want) in cases {
        assert_eq!(if_range_allows(value.as_bytes(), &etag, &modified), *want, "{label}");
    }
    let sub_second = LastModified::new(mtime + Duration::from_millis(999));
    assert!(
        if_range_allows(b"Sun, 06 Nov 1994 08:49:37 GMT", &etag, &sub_second),
        "mtime truncated to the second"
    );
}

/// One element of a generated `Range` list.
#[derive(Clone, Debug)]
enum Element {
    FromTo(u64, u64),
    From(u64),
    Suffix(u64),
    Empty,
    /// Not a range-spec at all: the header is ignored.
    Invalid(&'static str),
    /// A well-formed range-spec whose last is before its first: 416.
    Reversed,
}

fn element() -> impl Strategy<Value = Element> {
    let pos = prop_oneof![8 => 0..30u64, 1 => Just(u64::MAX), 1 => Just(u64::MAX - 1)];
    prop_oneof![
        6 => (pos.clone(), pos.clone()).prop_map(|(a, b)| Element::FromTo(a.min(b), a.max(b))),
        3 => pos.clone().prop_map(Element::From),
        3 => pos.prop_map(Element::Suffix),
        1 => Just(Element::Empty),
        1 => prop::sample::select(vec!["x", "-", "1-x", "+1-2", "1 2"]).prop_map(Element::Invalid),
        1 => Just(Element::Reversed),
    ]
}

fn render(elements: &[Element], ows: &[bool]) -> String {
    let parts: Vec<String> = elements
        .iter()
        .zip(ows.iter().cycle())
        .map(|(e, &space)| {
            let text = match e {
                Element::FromTo(a, b) => format!("{a}-{b}"),
                Element::From(a) => format!("{a}-"),
                Element::Suffix(n) => format!("-{n}"),
                Element::Empty => String::new(),
                Element::Invalid(s) => (*s).to_owned(),
                Element::Reversed => "5-2".to_owned(),
            };
            if space {
                format!(" {text}\t")
            } else {
                text
            }
        })
        .collect();
    format!("bytes={}", parts.join(","))
}

/// The naive model: mark every selected byte with the first spec that selects
/// it, then read off the runs, ordered by the first spec in each.
fn model(elements: &[Element], len: u64, max_ranges: usize) -> RangeDecision {
    let specs: Vec<&Element> = elements.iter().filter(|e| !matches!(e, Element::Empty)).collect();
    if specs.is_empty() || specs.len() > max_ranges || specs.iter().any(|e| matches!(e, Element::Invalid(_)))
    {
        return RangeDecision::Full;
    }
    if len == 0 {
        return RangeDecision::Full;
    }
    if specs.iter().any(|e| matches!(e, Element::Reversed)) {
        return RangeDecision::Unsatisfiable;
    }
    let mut marks: Vec<Option<usize>> = vec![None; len as usize];
    for (at, spec) in specs.into_iter().enumerate() {
        let (first, end) = match *spec {
            Element::FromTo(a, b) => (a, b.saturating_add(1).min(len)),
            Element::From(a) => (a, len),
            Element::Suffix(n) => (len.saturating_sub(n), if n == 0 { 0 } else { len }),
            _ => unreachable!(),
        };
        for i in first..end {
            marks[i as usize].get_or_insert(at);
        }
    }
    let mut runs = Vec::new();
    let mut i = 0;
    while i < marks.len() {
        if marks[i].is_some() {
            let start = i;
            let mut first_spec = usize::MAX;
            while let Some(Some(at)) = marks.get(i) {
                first_spec = first_spec.min(*at);
                i += 1;
            }
            runs.push((first_spec, ByteRange { first: start as u64, last: i as u64 - 1 }));
        }
        i += 1;
    }
    runs.sort_unstable();
    if runs.is_empty() {
        RangeDecision::Unsatisfiable
    } else {
        RangeDecision::Partial(runs.into_iter().map(|(_, range)| range).collect())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn resolution_matches_the_model(
        elements in prop::collection::vec(element(), 1..20),
        ows in prop::collection::vec(any::<bool>(), 1..4),
        len in 0..24u64,
        max_ranges in prop_oneof![Just(DEFAULT_MAX_RANGES), 1..6usize],
    ) {
        let header = render(&elements, &ows);
        prop_assert_eq!(evaluate(header.as_bytes(), len, max_ranges), model(&elements, len, max_ranges), "{}", header);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), len in any::<u64>()) {
        if let RangeDecision::Partial(ranges) = evaluate(&bytes, len, DEFAULT_MAX_RANGES) {
            let total: u64 = ranges.iter().map(ByteRange::len).sum();
            prop_assert!(total <= len, "never more bytes than the file");
            let mut sorted = ranges.clone();
            sorted.sort_unstable();
            prop_assert!(sorted.windows(2).all(|w| w[0].last + 1 < w[1].first), "apart");
        }
    }
}
