//! What the engine saves across a restart ([`crate::store`] keeps it in
//! SQLite): plain values, no sketches.
use super::session::{DstClass, SessionKey, Verdict};
use crate::logs::ConfigEvent;

/// One session as saved.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedSession {
    pub key: SessionKey,
    pub packets: u64,
    pub bytes: u64,
    pub inner_bytes: u64,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    pub dst_class: DstClass,
    pub verdict: Verdict,
    pub alerted: u16,
    pub alerted_ever: u16,
    pub dup_packets: u64,
    /// Volume baseline: moving average of bytes/s, and its seconds.
    pub baseline: f64,
    pub seconds: u64,
}

/// One flow session as saved: counts, who saw it, how it was judged and
/// what it raised.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedFlowSession {
    pub key: SessionKey,
    pub packets: u64,
    pub bytes: u64,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    /// Bits of the flow formats that reported it.
    pub seen_by: u16,
    pub exporters: Vec<core::net::IpAddr>,
    pub sampling_rate: u32,
    pub estimated: bool,
    pub dst_class: DstClass,
    pub verdict: Verdict,
    pub alerted: u16,
    pub alerted_ever: u16,
}

/// What is saved and restored.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub sessions: Vec<SavedSession>,
    pub events: Vec<ConfigEvent>,
    pub flow_sessions: Vec<SavedFlowSession>,
}
