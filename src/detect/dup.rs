//! The duplicate window: a bounded, set-associative table of recent packet
//! fingerprints. A fingerprint seen again within the window on a different
//! path is a duplicate. Memory is fixed at construction; an entry displaced
//! before its window ended is counted as an eviction.

/// Where a packet was seen: a session slot (encapsulated) or a native
/// layer-2 path (hash of the MAC pair), never equal to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathId {
    Session { slot: u32, generation: u32 },
    Native { l2: u64 },
}

#[derive(Clone, Copy)]
struct Entry {
    fp: u64,
    ts_us: i64,
    path: PathId,
}

const WAYS: usize = 4;

/// A duplicate found: the path and time of the earlier copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    pub first_path: PathId,
    pub gap_us: i64,
}

pub struct DupWindow {
    sets: Vec<[Option<Entry>; WAYS]>,
    mask: usize,
    window_us: i64,
    evicted: u64,
}

impl DupWindow {
    /// `capacity` entries (rounded up to a power of two), `window_us` long.
    pub fn new(capacity: usize, window_us: i64) -> Self {
        let sets = (capacity / WAYS).max(1).next_power_of_two();
        DupWindow {
            sets: vec![[None; WAYS]; sets],
            mask: sets - 1,
            window_us,
            evicted: 0,
        }
    }

    /// Entries still inside their window that had to be displaced.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Records `fp` seen at `ts_us` on `path`. Returns the earlier sighting
    /// when this is a copy of a packet seen on another path within the
    /// window. A repeat on the same path refreshes the entry (a
    /// retransmission on one link is not a copy).
    #[inline]
    pub fn observe(&mut self, fp: u64, ts_us: i64, path: PathId) -> Option<Repeat> {
        let set = &mut self.sets[(fp as usize) & self.mask];
        let mut oldest = 0;
        let mut oldest_ts = i64::MAX;
        for (i, slot) in set.iter_mut().enumerate() {
            match slot {
                Some(e) if e.fp == fp => {
                    let gap = ts_us - e.ts_us;
                    if gap.abs() <= self.window_us && e.path != path {
                        let r = Repeat {
                            first_path: e.path,
                            gap_us: gap.abs(),
                        };
                        // Keep the original: a third copy pairs with it too.
                        return Some(r);
                    }
                    *e = Entry { fp, ts_us, path };
                    return None;
                }
                None => {
                    *slot = Some(Entry { fp, ts_us, path });
                    return None;
                }
                Some(e) => {
                    if e.ts_us < oldest_ts {
                        oldest_ts = e.ts_us;
                        oldest = i;
                    }
                }
            }
        }
        if ts_us - oldest_ts <= self.window_us {
            self.evicted += 1;
        }
        set[oldest] = Some(Entry { fp, ts_us, path });
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: PathId = PathId::Native { l2: 1 };
    const B: PathId = PathId::Session {
        slot: 3,
        generation: 0,
    };

    #[test]
    fn copy_on_other_path_within_window() {
        let mut w = DupWindow::new(1024, 1_000_000);
        assert_eq!(w.observe(42, 0, A), None);
        assert_eq!(
            w.observe(42, 300, B),
            Some(Repeat {
                first_path: A,
                gap_us: 300
            })
        );
        // Same path again: not a copy.
        assert_eq!(w.observe(7, 0, A), None);
        assert_eq!(w.observe(7, 10, A), None);
        // Outside the window: not a copy.
        assert_eq!(w.observe(9, 0, A), None);
        assert_eq!(w.observe(9, 2_000_000, B), None);
    }

    #[test]
    fn bounded_with_evictions_counted() {
        let mut w = DupWindow::new(16, 1_000_000);
        for fp in 0..1000u64 {
            w.observe(fp.wrapping_mul(0x9e37_79b9_7f4a_7c15), 0, A);
        }
        assert!(w.evicted() >= 1000 - 16);
        assert_eq!(w.sets.len(), 4);
    }
}
