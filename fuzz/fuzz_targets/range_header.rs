//! `range::parse` / `range::evaluate` on any header value and any length.
//! Never panics; a `Partial` answer lies within `[0, len)`, neither
//! overlapping nor adjacent (in the order asked for, so sorted here first),
//! and never sends more than `len` bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waiter_http::range::{self, RangeDecision, RangeSpec};

fn check(value: &[u8], len: u64, max: usize) {
    let specs = range::parse(value, max);
    if let Some(specs) = &specs {
        assert!(!specs.is_empty() && specs.len() <= max, "{} specs, max {max}", specs.len());
        for spec in specs {
            if let RangeSpec::FromTo(first, last) = *spec {
                assert!(first <= last, "{spec:?}");
            }
        }
    }
    let decision = range::evaluate(value, len, max);
    match (&specs, &decision) {
        (None, RangeDecision::Full) => {}
        (None, other) => panic!("unparsed header gave {other:?}"),
        (Some(specs), d) => assert_eq!(&range::resolve(specs, len), d),
    }
    match decision {
        RangeDecision::Full => {}
        RangeDecision::Unsatisfiable => assert!(len > 0, "416 for an empty file"),
        RangeDecision::Partial(ranges) => {
            assert!(!ranges.is_empty(), "206 with no range");
            assert!(ranges.len() <= max, "{} ranges, max {max}", ranges.len());
            let mut total: u64 = 0;
            for r in &ranges {
                assert!(r.first <= r.last && r.last < len, "{r:?} outside [0, {len})");
                total = total.checked_add(r.len()).expect("total overflows");
            }
            let mut sorted = ranges.clone();
            sorted.sort_unstable();
            for w in sorted.windows(2) {
                assert!(w[0].last + 1 < w[1].first, "overlapping or adjacent: {w:?}");
            }
            assert!(total <= len, "{total} bytes of {len}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes choose the length (when present), the rest is the value.
    let (len, value) = match data.split_first_chunk::<8>() {
        Some((head, rest)) => (u64::from_le_bytes(*head), rest),
        None => (0, data),
    };
    // Stress the edges as well as the random length.
    for len in [len, len >> 32, len & 0xffff, 0, 1, u64::MAX] {
        check(value, len, range::DEFAULT_MAX_RANGES);
    }
    check(value, len & 0xffff, 1);
    check(value, len & 0xffff, 0);
});
