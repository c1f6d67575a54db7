//! Fuzzes mirrorwatch's pcap/pcapng reader (and its gzip/zstd sniffing):
//! any bytes are read to an end or an error, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mirrorwatch::source::reader::fuzz_read(data);
});
