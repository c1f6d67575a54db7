//! Fuzzes the query parameters the API parses (limit, cursor, and
//! `since` as RFC 3339); hyper parses the rest of a request.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mirrorwatch::export::http::fuzz_query(&String::from_utf8_lossy(data));
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = mirrorwatch::export::http::parse_rfc3339(s);
    }
});
