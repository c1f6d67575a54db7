//! What evicted sessions had alerted: a bounded, time-limited memory keyed
//! by session key, so that a session evicted to stay within the table's cap
//! and seen again does not raise its alerts again (a decoy flood of new
//! sessions would otherwise make every real one re-alert).
use std::collections::{HashMap, VecDeque};

use super::session::{DstClass, SessionKey, Verdict};

/// Evicted sessions remembered at most (about 64 bytes each).
pub const ALERTED_MEMORY_ENTRIES: usize = 100_000;
/// How long an evicted session's alerts are remembered.
pub const ALERTED_MEMORY_US: i64 = 24 * 3600 * 1_000_000;

/// What is kept of an evicted session that had alerted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alerted {
    /// Alert kinds raised since its class or verdict last changed.
    pub alerted: u16,
    /// Every alert kind ever raised.
    pub alerted_ever: u16,
    pub dst_class: DstClass,
    pub verdict: Verdict,
    /// Last seen (stream time).
    pub at_us: i64,
}

/// The memory: insertion order for bounding and expiry, a map for lookups.
pub struct AlertedMemory {
    map: HashMap<SessionKey, Alerted>,
    order: VecDeque<(SessionKey, i64)>,
    cap: usize,
    ttl_us: i64,
    /// Entries dropped to stay within the cap before they expired.
    pub forgotten: u64,
}

impl AlertedMemory {
    pub fn new(cap: usize, ttl_us: i64) -> Self {
        AlertedMemory {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
            ttl_us,
            forgotten: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Remembers an evicted session (only one that alerted).
    pub fn remember(&mut self, key: SessionKey, a: Alerted) {
        if a.alerted_ever == 0 {
            return;
        }
        self.map.insert(key, a);
        self.order.push_back((key, a.at_us));
        self.trim(a.at_us);
    }

    /// What an evicted session that comes back had alerted, if it is
    /// remembered and not expired at `now_us`; forgotten once recalled.
    pub fn recall(&mut self, key: &SessionKey, now_us: i64) -> Option<Alerted> {
        let a = self.map.remove(key)?;
        (now_us.saturating_sub(a.at_us) <= self.ttl_us).then_some(a)
    }

    /// Drops expired entries and the oldest beyond the cap.
    fn trim(&mut self, now_us: i64) {
        while let Some(&(key, at)) = self.order.front() {
            let current = self.map.get(&key).is_some_and(|a| a.at_us == at);
            let expired = now_us.saturating_sub(at) > self.ttl_us;
            if current && !expired && self.map.len() <= self.cap {
                break;
            }
            self.order.pop_front();
            if current {
                self.map.remove(&key);
                if !expired {
                    self.forgotten += 1;
                }
            }
        }
        // Stale order entries (recalled or refreshed keys) cannot pile up
        // past twice the cap.
        if self.order.len() > 2 * self.cap {
            let map = &self.map;
            self.order
                .retain(|(k, at)| map.get(k).is_some_and(|a| a.at_us == *at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Encap;

    fn key(i: u32) -> SessionKey {
        SessionKey {
            encap: Encap::Erspan2,
            src: "10.0.0.1".parse().expect("ip"),
            dst: "203.0.113.9".parse().expect("ip"),
            id: Some(i),
        }
    }

    fn alerted(at_us: i64) -> Alerted {
        Alerted {
            alerted: 0b11,
            alerted_ever: 0b11,
            dst_class: DstClass::External,
            verdict: Verdict::Mirror,
            at_us,
        }
    }

    #[test]
    fn remembers_recalls_once_expires_and_stays_bounded() {
        let mut m = AlertedMemory::new(3, 1_000);
        m.remember(key(1), alerted(0));
        assert_eq!(m.recall(&key(1), 10), Some(alerted(0)));
        assert_eq!(m.recall(&key(1), 10), None, "recalled once");
        // A session that never alerted is not kept.
        m.remember(
            key(2),
            Alerted {
                alerted_ever: 0,
                alerted: 0,
                ..alerted(0)
            },
        );
        assert!(m.is_empty());
        // Expired.
        m.remember(key(3), alerted(0));
        assert_eq!(m.recall(&key(3), 5_000), None);
        // Bounded: the oldest go first, counted.
        for i in 10..20 {
            m.remember(key(i), alerted(i64::from(i)));
        }
        assert_eq!(m.len(), 3);
        assert_eq!(m.forgotten, 7);
        assert!(m.recall(&key(19), 20).is_some());
        assert!(m.recall(&key(10), 20).is_none());
        // Many refreshes of one key keep the order queue bounded.
        for t in 0..10_000 {
            m.remember(key(50), alerted(100 + t));
            m.recall(&key(50), 100 + t);
        }
        assert!(m.order.len() <= 7, "{}", m.order.len());
    }
}
