//! The mirror-session inventory: a bounded table keyed by the outermost
//! encapsulation, with batch eviction of the least recently seen sessions.
use std::collections::HashMap;

use super::sketch::{Hll, VlanSet};
use crate::decode::{Decoded, EncapSet, Tunnel};

/// A session key: (encapsulation, outer source, outer destination, id).
pub type SessionKey = Tunnel;

/// What is known about one session.
#[derive(Clone, Default)]
pub struct SessionStats {
    pub packets: u64,
    pub bytes: u64,
    pub inner_bytes: u64,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    pub vlans: VlanSet,
    pub flows: Hll,
    /// ERSPAN type III direction counts.
    pub ingress: u64,
    pub egress: u64,
    pub truncated: u64,
    pub nested: EncapSet,
}

/// Bounded session table.
pub struct SessionTable {
    map: HashMap<SessionKey, SessionStats, ahash::RandomState>,
    cap: usize,
    evicted: u64,
    flow_hasher: ahash::RandomState,
}

impl SessionTable {
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        SessionTable {
            map: HashMap::with_capacity_and_hasher(cap.min(4096), ahash::RandomState::new()),
            cap,
            evicted: 0,
            flow_hasher: ahash::RandomState::new(),
        }
    }

    /// Accounts one frame that carried a tunnel: one map lookup.
    #[inline]
    pub fn record(&mut self, ts_us: i64, orig_len: u32, key: SessionKey, d: &Decoded<'_>) {
        if self.map.len() >= self.cap && !self.map.contains_key(&key) {
            self.evict();
        }
        let s = self.map.entry(key).or_insert_with(|| SessionStats {
            first_seen_us: ts_us,
            last_seen_us: ts_us,
            ..SessionStats::default()
        });
        s.packets += 1;
        s.bytes += u64::from(orig_len);
        s.inner_bytes += u64::from(d.inner_bytes);
        s.first_seen_us = s.first_seen_us.min(ts_us);
        s.last_seen_us = s.last_seen_us.max(ts_us);
        for v in d.inner_vlans {
            if v != 0 {
                s.vlans.insert(v);
            }
        }
        match d.egress {
            Some(true) => s.egress += 1,
            Some(false) => s.ingress += 1,
            None => {}
        }
        s.truncated += u64::from(d.truncated);
        s.nested.union(d.nested);
        if let Some(ip) = &d.inner {
            // Direction-independent flow identity.
            let a = (ip.src, ip.src_port);
            let b = (ip.dst, ip.dst_port);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            s.flows
                .insert(self.flow_hasher.hash_one((lo, hi, ip.protocol)));
        }
    }

    /// Drops the least recently seen eighth of the table (at least one).
    fn evict(&mut self) {
        let n = (self.map.len() / 8).max(1);
        let mut seen: Vec<i64> = self.map.values().map(|s| s.last_seen_us).collect();
        let (_, &mut cutoff, _) = seen.select_nth_unstable(n - 1);
        let mut removed = 0;
        self.map.retain(|_, s| {
            if removed < n && s.last_seen_us <= cutoff {
                removed += 1;
                false
            } else {
                true
            }
        });
        self.evicted += removed as u64;
    }

    /// Sessions evicted to stay within the cap.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&SessionKey, &SessionStats)> {
        self.map.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Encap;
    use core::net::{IpAddr, Ipv4Addr};

    fn key(i: u32) -> SessionKey {
        Tunnel {
            encap: Encap::Vxlan,
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            id: Some(i),
        }
    }

    #[test]
    fn counts_and_times() {
        let mut t = SessionTable::new(16);
        let d = Decoded {
            inner_bytes: 60,
            inner_vlans: [10, 0],
            egress: Some(true),
            ..Decoded::default()
        };
        t.record(200, 100, key(1), &d);
        t.record(100, 100, key(1), &d);
        let (_, s) = t.iter().next().expect("one session");
        assert_eq!((s.packets, s.bytes, s.inner_bytes), (2, 200, 120));
        assert_eq!((s.first_seen_us, s.last_seen_us), (100, 200));
        assert_eq!(s.egress, 2);
        assert_eq!(s.vlans.iter().collect::<Vec<_>>(), [10]);
    }

    #[test]
    fn eviction_keeps_the_cap_and_the_recent() {
        let mut t = SessionTable::new(8);
        let d = Decoded::default();
        for i in 0..100 {
            t.record(i64::from(i), 64, key(i), &d);
            assert!(t.len() <= 8);
        }
        assert!(t.evicted() >= 92);
        assert!(t.iter().any(|(k, _)| k.id == Some(99)));
        assert!(!t.iter().any(|(k, _)| k.id == Some(0)));
    }
}
