//! Detection: the session inventory (and, as it grows, classification,
//! duplicate finding and alerts). Everything here is fed decoded frames and
//! keeps bounded state.
pub mod dup;
pub mod fingerprint;
pub mod net;
pub mod session;
pub mod sketch;

use crate::decode::{Decoder, ErrorCounts, LinkType};
pub use session::{SessionKey, SessionStats, SessionTable};

/// Default cap of the session table.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;

/// Decodes frames and keeps the inventory: the per-packet hot path.
pub struct Engine {
    decoder: Decoder,
    pub sessions: SessionTable,
    pub errors: ErrorCounts,
    pub packets: u64,
    pub bytes: u64,
    /// Frames that carried a session-making encapsulation.
    pub encapsulated: u64,
}

impl Engine {
    pub fn new(decoder: Decoder, max_sessions: usize) -> Self {
        Engine {
            decoder,
            sessions: SessionTable::new(max_sessions),
            errors: ErrorCounts::default(),
            packets: 0,
            bytes: 0,
            encapsulated: 0,
        }
    }

    /// Processes one frame.
    #[inline]
    pub fn process(&mut self, ts_us: i64, linktype: LinkType, orig_len: u32, data: &[u8]) {
        self.packets += 1;
        self.bytes += u64::from(orig_len);
        let d = self.decoder.decode(linktype, orig_len, data);
        if let Some(e) = d.error {
            self.errors.add(e);
        }
        if let Some(t) = d.tunnel {
            self.encapsulated += 1;
            self.sessions.record(ts_us, orig_len, t, &d);
        }
    }
}
