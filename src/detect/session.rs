//! The mirror-session inventory: a bounded slab of sessions indexed by
//! their key (one map lookup per packet), with batch eviction of the least
//! recently seen. A slot's generation changes when it is reused, so stale
//! references (from the duplicate window) are recognised.
use std::collections::HashMap;

use super::alerted::{ALERTED_MEMORY_ENTRIES, ALERTED_MEMORY_US, Alerted, AlertedMemory};
use super::fingerprint::{WordHasherBuilder, fold};
use super::sketch::{Bloom, Hll, VlanSet};
use crate::decode::{EncapSet, Tunnel};

/// A session key: (encapsulation, outer source, outer destination, id).
pub type SessionKey = Tunnel;

labelled_enum! {
    /// Where a copy goes.
    #[derive(Default)]
    pub enum DstClass {
        /// Matches an `[[authorized]]` entry that has not expired.
        Authorized => "authorized",
        /// Inside `internal_networks`, not authorised.
        Internal => "internal",
        /// Outside `internal_networks`.
        #[default]
        External => "external",
    }
}

labelled_enum! {
    /// Is this session a mirror (copies of someone else's traffic) or an
    /// ordinary overlay?
    #[derive(Default)]
    pub enum Verdict {
        Mirror => "mirror",
        Overlay => "overlay",
        #[default]
        Undetermined => "undetermined",
    }
}

/// Samples of the gap between an original and its copy, for a median.
#[derive(Clone, Default)]
pub struct GapSamples {
    samples: Vec<u32>,
    seen: u64,
}

impl GapSamples {
    const MAX: usize = 64;

    pub fn add(&mut self, gap_us: i64) {
        let g = gap_us.clamp(0, i64::from(u32::MAX)) as u32;
        self.seen += 1;
        if self.samples.len() < Self::MAX {
            self.samples.push(g);
        } else {
            // Deterministic reservoir: replace a pseudo-random slot with
            // probability MAX/seen.
            let r = (self.seen.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) % self.seen;
            if (r as usize) < Self::MAX {
                self.samples[r as usize] = g;
            }
        }
    }

    pub fn median(&self) -> Option<u32> {
        if self.samples.is_empty() {
            return None;
        }
        let mut v = self.samples.clone();
        v.sort_unstable();
        Some(v[v.len() / 2])
    }
}

/// Per-second volume accounting for spike detection.
#[derive(Clone, Default)]
pub struct Volume {
    pub second: i64,
    /// `second` in microseconds, for the per-packet check.
    pub second_start_us: i64,
    pub bytes: u64,
    /// Moving average of bytes per second.
    pub baseline: f64,
    pub seconds: u64,
    /// Bytes of the last second judged a spike.
    pub last_spike_bytes: u64,
}

/// What is known about one session. The fields every packet updates come
/// first and stay together (a few cache lines), ahead of the sketches and
/// the rarely touched ones.
#[derive(Clone, Default)]
#[repr(C)]
pub struct SessionStats {
    pub packets: u64,
    pub bytes: u64,
    pub inner_bytes: u64,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    /// Judged again when the packet count reaches this (on packets).
    pub next_eval_at: u64,
    /// Packets and duplicates when last judged (a tick judges the session
    /// again when either changed).
    pub judged_packets: u64,
    pub judged_dups: u64,
    /// ERSPAN type III direction counts.
    pub ingress: u64,
    pub egress: u64,
    pub truncated: u64,
    /// Inner packets whose reverse direction was already seen in this
    /// tunnel direction.
    pub both_directions: u64,
    /// Inner packets whose addresses match an outer endpoint.
    pub inner_related: u64,
    pub volume: Volume,
    pub nested: EncapSet,
    /// The session's packets go to an evidence file.
    pub evidence_on: bool,
    /// Alert kinds raised since the last change of class or verdict.
    pub alerted: u16,
    /// Every alert kind ever raised for this session.
    pub alerted_ever: u16,
    /// Alert kinds the rate limit refused (retried once the session's
    /// packet count reaches `retry_at_packets`).
    pub suppressed: u16,
    pub retry_at_packets: u64,
    pub dst_class: DstClass,
    pub verdict: Verdict,
    /// Matches an `[[authorized]]` entry that has expired.
    pub authorization_expired: bool,
    /// Recreated after an eviction with what it had alerted
    /// ([`super::alerted`]), not yet judged decisively again.
    pub restored: bool,
    pub dup_packets: u64,
    // Sketches.
    /// Directed inner flows seen, and the same flows reversed.
    pub flows_fwd: Bloom,
    pub flows_rev: Bloom,
    pub flows: Hll,
    pub vlans: VlanSet,
    pub dup_gaps: GapSamples,
    /// Top inner hosts and services, bytes over time.
    pub inner: super::topk::InnerTraffic,
    pub evidence: Vec<String>,
    /// Configuration events that explain this session (at most 8).
    pub config_events: Vec<super::correlate::ConfigEventRef>,
}

/// A session slot: the key and generation (read on every lookup) share the
/// first cache line with the start of the statistics.
#[repr(C)]
struct Slot {
    generation: u32,
    live: bool,
    key: SessionKey,
    stats: SessionStats,
}

/// A reference to a session slot, valid while its generation matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlotRef {
    pub slot: u32,
    pub generation: u32,
}

/// Bounded session table.
pub struct SessionTable {
    index: HashMap<SessionKey, u32, WordHasherBuilder>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    cap: usize,
    evicted: u64,
    /// Direct-mapped cache of recent keys in front of `index`: (tag, slot)
    /// pairs. Most packets find their session here with one cheap hash and
    /// a comparison with the slot's own key, so a stale entry (its slot
    /// evicted or reused) is simply a miss.
    recent: Box<[(u32, u32)]>,
    recent_seed: u64,
    /// What evicted sessions had alerted, restored when they come back.
    pub alerted: AlertedMemory,
}

/// Entries of the recent-key cache (a power of two).
const RECENT: usize = 256;

impl SessionTable {
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        SessionTable {
            index: HashMap::with_capacity_and_hasher(cap.min(4096), WordHasherBuilder::random()),
            slots: Vec::new(),
            free: Vec::new(),
            cap,
            evicted: 0,
            // Tag 0 never matches: the entries start empty.
            recent: vec![(0, 0); RECENT].into_boxed_slice(),
            recent_seed: WordHasherBuilder::random().multiplier(),
            alerted: AlertedMemory::new(ALERTED_MEMORY_ENTRIES, ALERTED_MEMORY_US),
        }
    }

    /// The recent-key cache entry of `key` and its tag (never 0): one
    /// multiply, keyed per table (a collision only costs a map lookup).
    #[inline(always)]
    fn recent_index(&self, key: &SessionKey) -> (usize, u32) {
        let w = fold(key.src).rotate_left(32)
            ^ fold(key.dst)
            ^ u64::from(key.id.unwrap_or(0)).rotate_left(40)
            ^ (key.encap as u64) << 24;
        let h = w.wrapping_mul(self.recent_seed);
        ((h >> 56) as usize & (RECENT - 1), (h as u32) | 1)
    }

    /// The session of `key`, created if new (evicting if full): one map
    /// lookup. Returns the slot and whether it was created.
    #[inline]
    pub fn upsert(&mut self, key: SessionKey, ts_us: i64) -> (SlotRef, bool) {
        let (qi, tag) = self.recent_index(&key);
        let (t, i) = self.recent[qi];
        if t == tag
            && let Some(s) = self.slots.get(i as usize)
            && s.live
            && s.key == key
        {
            return (
                SlotRef {
                    slot: i,
                    generation: s.generation,
                },
                false,
            );
        }
        if let Some(&i) = self.index.get(&key) {
            self.recent[qi] = (tag, i);
            let s = &self.slots[i as usize];
            return (
                SlotRef {
                    slot: i,
                    generation: s.generation,
                },
                false,
            );
        }
        if self.index.len() >= self.cap {
            self.evict();
        }
        let mut stats = SessionStats {
            first_seen_us: ts_us,
            last_seen_us: ts_us,
            ..SessionStats::default()
        };
        // An evicted session seen again keeps what it had alerted (and
        // the class and verdict those alerts were for).
        if let Some(a) = self.alerted.recall(&key, ts_us) {
            stats.alerted = a.alerted;
            stats.alerted_ever = a.alerted_ever;
            stats.dst_class = a.dst_class;
            stats.verdict = a.verdict;
            stats.restored = true;
        }
        let i = match self.free.pop() {
            Some(i) => {
                let s = &mut self.slots[i as usize];
                s.key = key;
                s.live = true;
                s.stats = stats;
                i
            }
            None => {
                self.slots.push(Slot {
                    key,
                    generation: 0,
                    live: true,
                    stats,
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key, i);
        self.recent[qi] = (tag, i);
        (
            SlotRef {
                slot: i,
                generation: self.slots[i as usize].generation,
            },
            true,
        )
    }

    /// The live session behind `r`, if it was not evicted since.
    pub fn get_mut(&mut self, r: SlotRef) -> Option<(&SessionKey, &mut SessionStats)> {
        let s = self.slots.get_mut(r.slot as usize)?;
        (s.live && s.generation == r.generation).then_some((&s.key, &mut s.stats))
    }

    pub fn get(&self, r: SlotRef) -> Option<(&SessionKey, &SessionStats)> {
        let s = self.slots.get(r.slot as usize)?;
        (s.live && s.generation == r.generation).then_some((&s.key, &s.stats))
    }

    pub fn find(&self, key: &SessionKey) -> Option<&SessionStats> {
        self.index.get(key).map(|&i| &self.slots[i as usize].stats)
    }

    /// Drops the least recently seen eighth of the table (at least one).
    fn evict(&mut self) {
        let n = (self.index.len() / 8).max(1);
        let mut seen: Vec<i64> = self
            .slots
            .iter()
            .filter(|s| s.live)
            .map(|s| s.stats.last_seen_us)
            .collect();
        if seen.is_empty() {
            return;
        }
        let k = n.min(seen.len()) - 1;
        let (_, &mut cutoff, _) = seen.select_nth_unstable(k);
        let mut removed = 0;
        for (i, s) in self.slots.iter_mut().enumerate() {
            if removed == n {
                break;
            }
            if s.live && s.stats.last_seen_us <= cutoff {
                self.alerted.remember(
                    s.key,
                    Alerted {
                        alerted: s.stats.alerted,
                        alerted_ever: s.stats.alerted_ever,
                        dst_class: s.stats.dst_class,
                        verdict: s.stats.verdict,
                        at_us: s.stats.last_seen_us,
                    },
                );
                s.live = false;
                s.generation = s.generation.wrapping_add(1);
                s.stats = SessionStats::default();
                self.index.remove(&s.key);
                self.free.push(i as u32);
                removed += 1;
            }
        }
        self.evicted += removed as u64;
    }

    /// Sessions evicted to stay within the cap.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&SessionKey, &SessionStats)> {
        self.slots
            .iter()
            .filter(|s| s.live)
            .map(|s| (&s.key, &s.stats))
    }

    /// Live slots, for a pass over every session.
    pub fn refs(&self) -> Vec<SlotRef> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live)
            .map(|(i, s)| SlotRef {
                slot: i as u32,
                generation: s.generation,
            })
            .collect()
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
    fn word_hasher_spreads_keys_and_depends_on_every_field() {
        use core::hash::BuildHasher;
        let b = WordHasherBuilder::random();
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000u32 {
            let mut k = key(i % 100);
            k.dst = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i / 100));
            assert!(seen.insert(b.hash_one(k)), "64-bit collision at {i}");
        }
        let base = key(1);
        let h = b.hash_one(base);
        let v6: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        for other in [
            Tunnel {
                encap: Encap::Geneve,
                ..base
            },
            Tunnel { id: None, ..base },
            Tunnel {
                id: Some(0),
                ..base
            },
            Tunnel {
                src: base.dst,
                dst: base.src,
                ..base
            },
            Tunnel { src: v6, ..base },
        ] {
            assert_ne!(b.hash_one(other), h, "{other:?}");
        }
        // Another table, other keys.
        assert_ne!(WordHasherBuilder::random().hash_one(base), h);
    }

    #[test]
    fn upsert_finds_the_same_slot() {
        let mut t = SessionTable::new(16);
        let (a, created) = t.upsert(key(1), 5);
        assert!(created);
        let (b, created) = t.upsert(key(1), 6);
        assert!(!created);
        assert_eq!(a, b);
        assert_eq!(t.get(a).map(|(_, s)| s.first_seen_us), Some(5));
    }

    #[test]
    fn eviction_keeps_the_cap_and_the_recent_and_invalidates_refs() {
        let mut t = SessionTable::new(8);
        let (first, _) = t.upsert(key(0), 0);
        for i in 1..100 {
            let (r, _) = t.upsert(key(i), i64::from(i));
            if let Some((_, s)) = t.get_mut(r) {
                s.last_seen_us = i64::from(i);
            }
            assert!(t.len() <= 8);
        }
        assert!(t.evicted() >= 92);
        assert!(t.iter().any(|(k, _)| k.id == Some(99)));
        assert!(!t.iter().any(|(k, _)| k.id == Some(0)));
        assert!(t.get(first).is_none(), "stale reference rejected");
        // An evicted key seen again is a new session in a live slot, never
        // the stale slot a cached lookup might remember.
        let (again, created) = t.upsert(key(0), 100);
        assert!(created);
        assert_ne!(again, first);
        assert_eq!(t.get(again).map(|(k, _)| k.id), Some(Some(0)));
        // Every live key maps to its own slot, cached or not.
        for i in 0..3 {
            let (keys, slots): (Vec<_>, Vec<_>) = t
                .iter()
                .map(|(k, _)| *k)
                .collect::<Vec<_>>()
                .into_iter()
                .map(|k| (k, t.upsert(k, 200 + i)))
                .unzip();
            for (k, (r, created)) in keys.iter().zip(&slots) {
                assert!(!created);
                assert_eq!(t.get(*r).map(|(key, _)| *key), Some(*k));
            }
        }
    }

    #[test]
    fn gap_median() {
        let mut g = GapSamples::default();
        assert_eq!(g.median(), None);
        for v in [300, 100, 200] {
            g.add(v);
        }
        assert_eq!(g.median(), Some(200));
        for _ in 0..1000 {
            g.add(50);
        }
        assert_eq!(g.median(), Some(50));
    }
}
