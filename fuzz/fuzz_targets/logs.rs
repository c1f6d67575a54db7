//! Fuzzes the configuration-log readers end to end: format sniffing (gzip,
//! JSON documents, JSON lines, syslog), RFC 3164/5424 framing and every
//! vendor and cloud recogniser, as `mirrorwatch logs` reads a file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorwatch::logs::LogReader;

fuzz_target!(|data: &[u8]| {
    let mut r = LogReader::new(2026);
    let out = r.read_from(data, "fuzz");
    // Whatever was read is counted, never more events than records.
    assert!(out.events.len() as u64 <= out.records.max(out.lines));
    // Line by line too, as the syslog listener feeds them.
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines().take(64) {
            let _ = mirrorwatch::logs::parse_syslog_line(line, 2026);
        }
    }
});
