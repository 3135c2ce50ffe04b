//! Conditional GET: `If-None-Match` / `If-Modified-Since` → 304 and
//! `If-Match` / `If-Unmodified-Since` → 412, each check labelled.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use waiter_http::conditional::{evaluate, match_hits, none_match_hits};
use waiter_http::{Conditions, ETag, LastModified, Precondition};

/// Sun, 06 Nov 1994 08:49:37 GMT, and a file of 10 bytes modified then.
const MTIME: u64 = 784_111_777;
const TAG: &str = "\"2ebc98a1-a\"";
const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const EARLIER: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
const LATER: &str = "Mon, 07 Nov 1994 08:49:37 GMT";

fn file() -> (ETag, LastModified, SystemTime) {
    let mtime = UNIX_EPOCH + Duration::from_secs(MTIME);
    // A sub-second mtime: validators work on whole seconds, as HTTP-dates do.
    let exact = mtime + Duration::from_millis(250);
    (ETag::for_file(exact, 10), LastModified::new(exact), mtime + Duration::from_secs(86_400 * 30))
}

fn decide(cond: Conditions<'_>) -> Precondition {
    let (etag, modified, now) = file();
    evaluate(&cond, &etag, &modified, now)
}

#[test]
fn validators() {
    let (etag, modified, _) = file();
    assert_eq!(etag.as_str(), TAG, "etag is \"mtime hex-size hex\"");
    assert_eq!(modified.as_str(), DATE, "Last-Modified is IMF-fixdate");
    assert_eq!(modified.time(), UNIX_EPOCH + Duration::from_secs(MTIME), "time truncated to the second");
    assert_eq!(ETag::for_file(UNIX_EPOCH, 0).as_str(), "\"0-0\"", "epoch, empty");
    assert_eq!(
        ETag::for_file(UNIX_EPOCH + Duration::from_secs(0xffff), u64::MAX).as_str(),
        "\"ffff-ffffffffffffffff\"",
        "max size"
    );
}

#[test]
fn if_none_match() {
    use Precondition::*;
    let inm = |v: &'static str| Conditions { if_none_match: Some(v.as_bytes()), ..Default::default() };
    let cases: &[(&str, &'static str, Precondition)] = &[
        ("same tag", TAG, NotModified),
        ("weak form of same tag", "W/\"2ebc98a1-a\"", NotModified),
        ("in a list", "\"x\", W/\"y\", \"2ebc98a1-a\"", NotModified),
        ("after a tag with a comma inside", "\"a,b\", \"2ebc98a1-a\"", NotModified),
        ("space inside a tag", "\"a b\", \"2ebc98a1-a\"", Proceed),
        ("star", "*", NotModified),
        ("star with spaces", " * ", NotModified),
        ("other tag", "\"2ebc98a1-b\"", Proceed),
        ("unquoted", "2ebc98a1-a", Proceed),
        ("invalid list with our tag", "\"2ebc98a1-a\" junk", Proceed),
        ("star in a list", "*, \"2ebc98a1-a\"", Proceed),
        ("lower-case weak prefix", "w/\"2ebc98a1-a\"", Proceed),
        ("empty", "", Proceed),
    ];
    for (label, value, want) in cases {
        assert_eq!(decide(inm(value)), *want, "{label}");
    }
    let (etag, _, _) = file();
    assert!(none_match_hits(b"W/\"2ebc98a1-a\"", &etag), "weak comparison");
    assert!(!match_hits(b"W/\"2ebc98a1-a\"", &etag), "strong comparison refuses weak");
}

#[test]
fn if_modified_since() {
    use Precondition::*;
    let ims = |v: &'static str| Conditions { if_modified_since: Some(v.as_bytes()), ..Default::default() };
    assert_eq!(decide(ims(DATE)), NotModified, "same second");
    assert_eq!(decide(ims("Sunday, 06-Nov-94 08:49:37 GMT")), NotModified, "RFC 850 form");
    assert_eq!(decide(ims("Sun Nov  6 08:49:37 1994")), NotModified, "asctime form");
    assert_eq!(decide(ims(LATER)), NotModified, "later than the file");
    assert_eq!(decide(ims(EARLIER)), Proceed, "earlier than the file");
    assert_eq!(decide(ims("Sun, 06 Nov 2094 08:49:37 GMT")), Proceed, "in the future: ignored");
    assert_eq!(decide(ims("yesterday")), Proceed, "invalid: ignored");
    assert_eq!(
        decide(ims("Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT")),
        Proceed,
        "two dates"
    );

    let both = |inm: &'static str, ims: &'static str| Conditions {
        if_none_match: Some(inm.as_bytes()),
        if_modified_since: Some(ims.as_bytes()),
        ..Default::default()
    };
    assert_eq!(decide(both("\"other\"", DATE)), Proceed, "If-None-Match wins over a matching date");
    assert_eq!(decide(both(TAG, EARLIER)), NotModified, "If-None-Match wins over an older date");
}

#[test]
fn if_match_and_unmodified_since() {
    use Precondition::*;
    let im = |v: &'static str| Conditions { if_match: Some(v.as_bytes()), ..Default::default() };
    assert_eq!(decide(im(TAG)), Proceed, "If-Match same tag");
    assert_eq!(decide(im("*")), Proceed, "If-Match star");
    assert_eq!(decide(im("\"x\", \"2ebc98a1-a\"")), Proceed, "If-Match list");
    assert_eq!(decide(im("W/\"2ebc98a1-a\"")), Failed, "If-Match weak tag");
    assert_eq!(decide(im("\"x\"")), Failed, "If-Match other tag");
    assert_eq!(decide(im("x")), Failed, "If-Match invalid");

    let ius = |v: &'static str| Conditions { if_unmodified_since: Some(v.as_bytes()), ..Default::default() };
    assert_eq!(decide(ius(DATE)), Proceed, "If-Unmodified-Since same second");
    assert_eq!(decide(ius(LATER)), Proceed, "If-Unmodified-Since later");
    assert_eq!(decide(ius(EARLIER)), Failed, "If-Unmodified-Since earlier");
    assert_eq!(decide(ius("garbage")), Proceed, "If-Unmodified-Since invalid: ignored");

    let cond = Conditions {
        if_match: Some(TAG.as_bytes()),
        if_unmodified_since: Some(EARLIER.as_bytes()),
        ..Default::default()
    };
    assert_eq!(decide(cond), Proceed, "If-Match present: If-Unmodified-Since not evaluated");
    let cond = Conditions {
        if_match: Some(TAG.as_bytes()),
        if_none_match: Some(TAG.as_bytes()),
        ..Default::default()
    };
    assert_eq!(decide(cond), NotModified, "If-Match passes, then If-None-Match gives 304");
    let cond =
        Conditions { if_match: Some(b"\"x\""), if_none_match: Some(TAG.as_bytes()), ..Default::default() };
    assert_eq!(decide(cond), Failed, "412 before 304");
    assert_eq!(decide(Conditions::default()), Proceed, "no conditions");
}
