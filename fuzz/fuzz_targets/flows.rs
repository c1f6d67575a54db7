//! Fuzzes the flow path: export datagrams (NetFlow v5/v9, IPFIX, sFlow,
//! with template state across datagrams) and flow log lines (AWS, GCP,
//! Azure, Zeek, Suricata) into the engine's flow sessions and volume
//! baselines, judged and reported: never a panic, a hang or unbounded
//! memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mirrorwatch::flows::fuzz_input(data);
});
