//! Fuzzes the decoder entry point and the inventory behind it. The first
//! input byte picks the link type, the rest is the captured frame.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mirrorwatch::config::Config;
use mirrorwatch::decode::{Decoder, DecoderConfig, LinkType};
use mirrorwatch::pipeline::Analyzer;

const LINKTYPES: [i32; 9] = [1, 113, 276, 101, 228, 229, 0, 108, 195];

fuzz_target!(|data: &[u8]| {
    static DECODER: OnceLock<Decoder> = OnceLock::new();
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let lt = LinkType::from_dlt(LINKTYPES[usize::from(sel) % LINKTYPES.len()]);
    let decoder = DECODER.get_or_init(|| Decoder::new(&DecoderConfig::default()));
    let d = decoder.decode(lt, frame.len() as u32, frame);
    if let Some(inner) = d.inner {
        assert!(inner.l4_offset <= inner.packet.len());
    }
    // The whole per-packet path, including the session table.
    let mut cfg = Config::default();
    cfg.inventory.max_sessions = 4;
    cfg.duplicates.table_entries = 64;
    cfg.duplicates.payload_table_entries = 64;
    let mut engine = Analyzer::new(&cfg);
    engine.process(0, lt, frame.len() as u32, frame);
    engine.process(1, lt, u32::MAX, frame);
    engine.engine.finish();
    assert!(engine.engine.sessions.len() <= 4);
});
