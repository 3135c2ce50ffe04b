//! waiter-pg's backend decoding on arbitrary bytes: framing (with a small
//! size limit, so oversized lengths are exercised), row descriptions, every
//! value of every data row decoded as each supported Rust type in the format
//! the description names, error/notice fields, command tags. Nothing may
//! panic; an incomplete message must stay buffered.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    waiter_pg::fuzzing::decode_backend_stream(data, 64 * 1024);
});
