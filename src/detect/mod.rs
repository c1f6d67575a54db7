//! Detection, one job per file: the per-packet [`engine`], the session
//! inventory ([`session`]), verdicts and destination classes as pure
//! functions ([`verdict`]), volume spikes ([`volume`]), duplicate packets
//! ([`dup`], [`fingerprint`]) and duplicate flows ([`payload`]), alert
//! building ([`alert`]), configuration-event policy ([`policy`]) and
//! correlation ([`correlate`]). Everything here is fed decoded frames and
//! keeps bounded state.
pub mod alert;
pub mod alerted;
pub mod correlate;
pub mod dup;
pub mod engine;
pub mod fingerprint;
pub mod flow_sessions;
pub mod flow_volume;
pub mod grow;
pub mod limit;
pub mod net;
pub mod payload;
pub mod policy;
pub mod saved;
pub mod session;
pub mod sketch;
pub mod topk;
pub mod verdict;
pub mod volume;

pub use engine::*;
pub use session::{DstClass, SessionKey, SessionStats, SessionTable, SlotRef, Verdict};
