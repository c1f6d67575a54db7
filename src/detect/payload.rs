//! Duplicate flows without encapsulation: the same application payload
//! carried by two different flows to different destinations (traffic
//! shadowing, e.g. request mirroring to an outside host). Only payloads of
//! a minimum size count, and a flow pair needs several matches, so repeated
//! small messages (keep-alives, DNS queries) do not pair.
use core::net::IpAddr;
use std::collections::HashMap;

use serde::Serialize;

/// A transport flow, directed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Flow {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
}

impl Serialize for Flow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("src", &self.src.to_string())?;
        m.serialize_entry("dst", &self.dst.to_string())?;
        m.serialize_entry("src_port", &self.src_port)?;
        m.serialize_entry("dst_port", &self.dst_port)?;
        m.serialize_entry("protocol", &self.protocol)?;
        m.end()
    }
}

#[derive(Clone, Copy)]
struct Entry {
    digest: u64,
    ts_us: i64,
    flow: Flow,
}

/// Distinct payload digests remembered per flow pair.
const PAIR_DIGESTS: usize = 8;

/// A pair of flows that carried the same payloads.
#[derive(Debug, Clone)]
pub struct FlowPair {
    pub a: Flow,
    pub b: Flow,
    /// Distinct payloads both flows carried (a payload repeated, such as a
    /// keep-alive, counts once).
    pub matches: u64,
    digests: [u64; PAIR_DIGESTS],
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    pub reported: bool,
    /// Its key in the pair index.
    key: (u64, u64),
}

use super::fingerprint::WordHasherBuilder;
use super::grow::Grow;

const WAYS: usize = 4;

/// Digests the table starts with (3.5 MiB): the 10 s
/// window of a link carrying a few thousand payloads a second fits without
/// growing.
const INITIAL_ENTRIES: usize = 65_536;

pub struct PayloadTracker {
    table: Grow<[Option<Entry>; WAYS]>,
    window_us: i64,
    /// Flow pairs by the keyed hashes of their two flows (smaller first),
    /// as slots in `pair_slots`: a small index that stays in cache, and
    /// the pairs themselves touched only when they match.
    pair_index: HashMap<(u64, u64), u32, WordHasherBuilder>,
    pair_slots: Vec<Option<FlowPair>>,
    pair_free: Vec<u32>,
    /// Keys of the flow hashes.
    flow_hasher: WordHasherBuilder,
    max_pairs: usize,
    pub evicted_payloads: u64,
    pub evicted_pairs: u64,
}

impl PayloadTracker {
    /// At most `entries` payload digests (the table starts small and grows
    /// when a digest would be displaced inside its window), remembered for
    /// `window_us`; at most `max_pairs` flow pairs.
    pub fn new(entries: usize, window_us: i64, max_pairs: usize) -> Self {
        PayloadTracker {
            table: Grow::with_initial(entries / WAYS, INITIAL_ENTRIES / WAYS, [None; WAYS]),
            window_us,
            pair_index: HashMap::with_hasher(WordHasherBuilder::random()),
            pair_slots: Vec::new(),
            pair_free: Vec::new(),
            flow_hasher: WordHasherBuilder::random(),
            max_pairs: max_pairs.max(1),
            evicted_payloads: 0,
            evicted_pairs: 0,
        }
    }

    /// Digest entries the table holds now, and at most.
    pub fn entries(&self) -> (usize, usize) {
        (self.table.sets() * WAYS, self.table.max_sets() * WAYS)
    }

    /// Hints the cache about the set `digest` will use (all its lines).
    #[inline]
    pub fn prefetch(&self, digest: u64) {
        self.table.prefetch(digest);
    }

    /// Records a payload digest carried by `flow`. Returns the flow pair it
    /// joins when the same payload was seen on another flow to another
    /// destination within the window.
    pub fn observe(&mut self, digest: u64, ts_us: i64, flow: Flow) -> Option<&mut FlowPair> {
        let window = self.window_us;
        // After a growth, the previous table is looked up too; a digest
        // found there that does not pair moves to the current table.
        let mut other = self.table.find_old(digest, ts_us, |old| {
            let slot = old
                .iter_mut()
                .find(|s| s.is_some_and(|e| e.digest == digest))?;
            let e = (*slot)?;
            if e.flow != flow && (ts_us - e.ts_us).abs() <= window && e.flow.dst != flow.dst {
                return Some(e.flow);
            }
            *slot = None;
            None
        });
        if other.is_none() {
            let set = self.table.set(digest);
            let mut free = None;
            let mut oldest = (0, i64::MAX);
            for (i, slot) in set.iter_mut().enumerate() {
                match slot {
                    Some(e) if e.digest == digest => {
                        if e.flow == flow || (ts_us - e.ts_us).abs() > window {
                            *e = Entry {
                                digest,
                                ts_us,
                                flow,
                            };
                            return None;
                        }
                        if e.flow.dst != flow.dst {
                            other = Some(e.flow);
                        }
                        free = Some(i);
                        break;
                    }
                    None => {
                        free = Some(i);
                        break;
                    }
                    Some(e) => {
                        if e.ts_us < oldest.1 {
                            oldest = (i, e.ts_us);
                        }
                    }
                }
            }
            let entry = Entry {
                digest,
                ts_us,
                flow,
            };
            let (victim, live) = match free {
                Some(i) => (i, false),
                None => (oldest.0, ts_us - oldest.1 <= window),
            };
            // Keep the first flow that carried the payload as the reference.
            if other.is_none() {
                let (way, displaced) = self.table.admit(victim, live, ts_us, window);
                self.evicted_payloads += u64::from(displaced);
                self.table.set(digest)[way] = Some(entry);
            }
        }
        let other = other?;
        let (ho, hf) = (self.flow_key(&other), self.flow_key(&flow));
        let key = (ho.min(hf), ho.max(hf));
        let slot = match self.pair_index.get(&key) {
            Some(&i) => i,
            None => {
                if self.pair_index.len() >= self.max_pairs {
                    self.evict_pair();
                }
                let p = FlowPair {
                    a: other,
                    b: flow,
                    matches: 0,
                    digests: [0; PAIR_DIGESTS],
                    first_seen_us: ts_us,
                    last_seen_us: ts_us,
                    reported: false,
                    key,
                };
                let i = match self.pair_free.pop() {
                    Some(i) => {
                        self.pair_slots[i as usize] = Some(p);
                        i
                    }
                    None => {
                        self.pair_slots.push(Some(p));
                        (self.pair_slots.len() - 1) as u32
                    }
                };
                self.pair_index.insert(key, i);
                i
            }
        };
        let p = self.pair_slots.get_mut(slot as usize)?.as_mut()?;
        p.last_seen_us = ts_us;
        let known = p.digests[..(p.matches as usize).min(PAIR_DIGESTS)].contains(&digest);
        if !known {
            if (p.matches as usize) < PAIR_DIGESTS {
                p.digests[p.matches as usize] = digest;
            }
            p.matches += 1;
        }
        Some(p)
    }

    /// Keyed hash of a flow (its full addresses, ports and protocol), the
    /// pair index's key: cheaper to hash and compare than two flows.
    #[inline]
    fn flow_key(&self, f: &Flow) -> u64 {
        use core::hash::{BuildHasher, Hasher};
        // The address words, and which of them are IPv4.
        let word = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 1u64),
            IpAddr::V6(v6) => (u128::from(v6), 0),
        };
        let ((src, v4s), (dst, v4d)) = (word(f.src), word(f.dst));
        let mut h = self.flow_hasher.build_hasher();
        h.write_u128(src);
        h.write_u128(dst);
        h.write_u64(
            v4s << 49
                | v4d << 48
                | (u64::from(f.src_port) << 32)
                | (u64::from(f.dst_port) << 16)
                | u64::from(f.protocol),
        );
        h.finish()
    }

    /// Drops the least recently seen eighth of the pairs (at least one),
    /// unreported pairs first: amortised O(1) per new pair.
    fn evict_pair(&mut self) {
        let n = (self.pair_index.len() / 8).max(1);
        let mut order: Vec<(bool, i64)> =
            self.pairs().map(|p| (p.reported, p.last_seen_us)).collect();
        if order.is_empty() {
            return;
        }
        let k = n.min(order.len()) - 1;
        let (_, &mut cutoff, _) = order.select_nth_unstable(k);
        let mut removed = 0;
        for (i, slot) in self.pair_slots.iter_mut().enumerate() {
            if removed == n {
                break;
            }
            if let Some(p) = slot
                && (p.reported, p.last_seen_us) <= cutoff
            {
                self.pair_index.remove(&p.key);
                *slot = None;
                self.pair_free.push(i as u32);
                removed += 1;
            }
        }
        self.evicted_pairs += removed as u64;
    }

    pub fn pairs(&self) -> impl Iterator<Item = &FlowPair> {
        self.pair_slots.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(dst: [u8; 4], sport: u16) -> Flow {
        Flow {
            src: IpAddr::from([10, 0, 0, 1]),
            dst: IpAddr::from(dst),
            src_port: sport,
            dst_port: 443,
            protocol: 6,
        }
    }

    #[test]
    fn pairs_flows_to_different_destinations() {
        let mut t = PayloadTracker::new(64, 10_000_000, 16);
        let a = flow([10, 0, 0, 2], 1000);
        let b = flow([203, 0, 113, 9], 2000);
        for (i, d) in [11u64, 22, 33].into_iter().enumerate() {
            assert!(t.observe(d, i as i64 * 10, a).is_none());
            let p = t.observe(d, i as i64 * 10 + 3, b).expect("paired");
            assert_eq!(p.matches, i as u64 + 1);
        }
        // The same payload again counts once.
        assert_eq!(t.observe(33, 40, b).map(|p| p.matches), Some(3));
        // Same destination, other flow: not a shadow.
        let c = flow([10, 0, 0, 2], 3000);
        assert!(t.observe(11, 50, c).is_none());
        // Retransmission on the same flow: nothing.
        assert!(t.observe(22, 60, a).is_none());
    }

    #[test]
    fn pair_table_is_bounded() {
        let mut t = PayloadTracker::new(1024, 10_000_000, 4);
        for i in 0..20u16 {
            t.observe(u64::from(i) + 1, 0, flow([10, 0, 0, 2], i));
            t.observe(u64::from(i) + 1, 1, flow([203, 0, 113, 9], i));
        }
        assert!(t.pairs().count() <= 4);
        assert!(t.evicted_pairs >= 16);
        // Freed slots are reused: a new pair accumulates its own matches
        // and the table stays within its cap.
        let (a, b) = (flow([10, 0, 0, 3], 7000), flow([198, 51, 100, 7], 7001));
        for (i, d) in [101u64, 102, 103].into_iter().enumerate() {
            t.observe(d, 10 + i as i64, a);
            let p = t.observe(d, 20 + i as i64, b).expect("paired");
            assert_eq!((p.a, p.b, p.matches), (a, b, i as u64 + 1));
        }
        assert!(t.pairs().count() <= 4);
        assert_eq!(t.pairs().filter(|p| p.a == a && p.b == b).count(), 1);
    }

    #[test]
    fn pairs_across_growth_and_displaces_at_the_cap() {
        let cap = 1 << 20;
        let mut t = PayloadTracker::new(cap, 10_000_000, 16);
        let start = t.entries().0;
        assert!(start < cap);
        let a = flow([10, 0, 0, 2], 1000);
        let b = flow([203, 0, 113, 9], 2000);
        let digest = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        // Payloads inside one window make the table grow.
        let n = 2 * start as u64;
        for i in 0..n {
            assert!(t.observe(digest(i), 5, a).is_none());
        }
        assert!(t.entries().0 > start);
        assert!(t.evicted_payloads < n / 100, "{}", t.evicted_payloads);
        // Payloads seen before and during the growth still pair.
        let p = t
            .observe(digest(n / 2), 10, b)
            .expect("paired across growth");
        assert_eq!((p.a, p.b, p.matches), (a, b, 1));
        let paired = (0..n)
            .step_by(7)
            .filter(|&i| t.observe(digest(i), 10, b).is_some())
            .count() as u64;
        assert!(paired * 100 >= (n / 7) * 99, "{paired} of {}", n / 7);
        for i in n..2 * cap as u64 {
            t.observe(digest(i), 20, a);
        }
        assert_eq!(t.entries(), (cap, cap));
        assert!(t.evicted_payloads > 0);
    }
}
