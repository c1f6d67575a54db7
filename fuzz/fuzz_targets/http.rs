//! Fuzzes the HTTP request head parser and the query parameters the API
//! reads (`since` as RFC 3339).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mirrorwatch::export::http::fuzz_request_head(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = mirrorwatch::export::http::parse_rfc3339(s);
    }
});
