//! `path::resolve` on any string. When it answers Ok, the clean path is
//! relative, has no `..`, `.` or empty segment, no segment holding `/`, `\`,
//! NUL or another control byte, and resolving its own string form again gives
//! the same path. The target form (`to_target`) is percent-encoded: `%`, `?`
//! and `#` are legitimate name bytes after decoding (`/a%3Fb` is the file
//! `a?b`), so the raw `"/" + as_str()` would be cut at the `?` or decoded a
//! second time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waiter_http::path::resolve;

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else { return };
    let Ok(clean) = resolve(target) else { return };
    let rel = clean.as_str();
    assert!(!rel.starts_with('/'), "absolute: {rel:?} from {target:?}");
    assert!(!rel.ends_with('/'), "trailing separator in {rel:?} from {target:?}");
    assert_eq!(clean.is_root(), rel.is_empty());
    assert!(clean.to_path_buf().is_relative(), "{rel:?} from {target:?}");
    if !rel.is_empty() {
        for segment in rel.split('/') {
            assert!(
                !segment.is_empty() && segment != "." && segment != "..",
                "segment {segment:?} in {rel:?} from {target:?}"
            );
            assert!(
                !segment.bytes().any(|b| b == b'\\' || b == 0 || b < 0x20 || b == 0x7f),
                "bad byte in segment {segment:?} from {target:?}"
            );
        }
    }
    assert_eq!(clean.segments().collect::<Vec<_>>().join("/"), rel);
    assert_eq!(clean.has_dotfile(), clean.segments().any(|s| s.starts_with('.')));
    let root = std::path::Path::new("/srv/root");
    assert!(clean.under(root).starts_with(root));

    // Idempotent: the target form (with the trailing slash the request had) resolves to itself.
    let again_target = clean.to_target();
    let again = resolve(&again_target);
    assert_eq!(again.as_ref(), Ok(&clean), "resolve({again_target:?}) from {target:?}");
    // Unencoded, and without a `%`/`?`/`#` in it, the plain form must agree too.
    if !rel.contains(['%', '?', '#']) {
        let plain = resolve(&format!("/{rel}")).map(|p| p.as_str().to_owned());
        assert_eq!(plain.as_deref(), Ok(rel), "plain form of {rel:?} from {target:?}");
    }
});
