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

impl PathId {
    const SESSION_BIT: u64 = 1 << 63;

    fn pack(self) -> u64 {
        match self {
            PathId::Session { slot, generation } => {
                Self::SESSION_BIT | (u64::from(slot) << 32) | u64::from(generation)
            }
            PathId::Native { l2 } => l2 & !Self::SESSION_BIT,
        }
    }

    fn unpack(v: u64) -> PathId {
        if v & Self::SESSION_BIT != 0 {
            PathId::Session {
                slot: ((v >> 32) as u32) & 0x7fff_ffff,
                generation: v as u32,
            }
        } else {
            PathId::Native { l2: v }
        }
    }
}

const WAYS: usize = 4;

/// One cache line: four tags, four timestamps, four paths.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Set {
    /// High half of the fingerprint, low bit forced to 1; 0 is empty.
    tags: [u32; WAYS],
    /// Low 32 bits of the timestamp in microseconds (wrapping).
    ts: [u32; WAYS],
    paths: [u64; WAYS],
}

/// A vector of `n` copies of `v` whose memory is marked for transparent
/// huge pages before it is first touched: the duplicate and payload tables
/// are probed at random, and with 4 KiB pages every probe would also miss
/// the TLB.
pub(crate) fn huge_vec<T: Clone>(n: usize, v: T) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(n);
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = out.as_ptr() as usize;
        let len = n * core::mem::size_of::<T>();
        let aligned = start.next_multiple_of(HUGE);
        if len >= 2 * HUGE && aligned < start + len {
            let span = (start + len - aligned) / HUGE * HUGE;
            // SAFETY: advice on memory this vector owns; it does not
            // change its contents or validity.
            unsafe { libc::madvise(aligned as *mut libc::c_void, span, libc::MADV_HUGEPAGE) };
        }
    }
    out.resize(n, v);
    out
}

/// A duplicate found: the path and time of the earlier copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    pub first_path: PathId,
    pub gap_us: i64,
}

/// Longest window the 32-bit timestamps can judge.
pub const MAX_WINDOW_US: i64 = (i32::MAX as i64) / 2;

pub struct DupWindow {
    sets: Vec<Set>,
    mask: usize,
    window_us: i64,
    evicted: u64,
}

impl DupWindow {
    /// `capacity` entries (rounded up to a power of two), `window_us` long
    /// (at most [`MAX_WINDOW_US`]).
    pub fn new(capacity: usize, window_us: i64) -> Self {
        let sets = (capacity / WAYS).max(1).next_power_of_two();
        DupWindow {
            sets: huge_vec(sets, Set::default()),
            mask: sets - 1,
            window_us: window_us.clamp(0, MAX_WINDOW_US),
            evicted: 0,
        }
    }

    /// Entries still inside their window that had to be displaced.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Hints the cache about the set `fp` will use.
    #[inline]
    pub fn prefetch(&self, fp: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            let p = &self.sets[(fp as usize) & self.mask] as *const Set as *const i8;
            // SAFETY: prefetching is a hint with no memory effects; the
            // pointer is in bounds.
            unsafe { core::arch::x86_64::_mm_prefetch(p, core::arch::x86_64::_MM_HINT_T0) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = fp;
    }

    /// Records `fp` seen at `ts_us` on `path`. Returns the earlier sighting
    /// when this is a copy of a packet seen on another path within the
    /// window. A repeat on the same path refreshes the entry (a
    /// retransmission on one link is not a copy).
    #[inline]
    pub fn observe(&mut self, fp: u64, ts_us: i64, path: PathId) -> Option<Repeat> {
        let tag = ((fp >> 32) as u32) | 1;
        let now = ts_us as u32;
        let packed = path.pack();
        let window = self.window_us;
        let set = &mut self.sets[(fp as usize) & self.mask];
        let age = |t: u32| i64::from(now.wrapping_sub(t) as i32);
        let mut victim = 0;
        let mut victim_age = i64::MIN;
        for i in 0..WAYS {
            if set.tags[i] == tag {
                let gap = age(set.ts[i]);
                if gap.abs() <= window && set.paths[i] != packed {
                    // Keep the original: a third copy pairs with it too.
                    return Some(Repeat {
                        first_path: PathId::unpack(set.paths[i]),
                        gap_us: gap.abs(),
                    });
                }
                set.ts[i] = now;
                set.paths[i] = packed;
                return None;
            }
            if set.tags[i] == 0 {
                victim = i;
                victim_age = i64::MAX;
            } else if victim_age != i64::MAX && age(set.ts[i]) > victim_age {
                victim = i;
                victim_age = age(set.ts[i]);
            }
        }
        if victim_age != i64::MAX && victim_age <= window {
            self.evicted += 1;
        }
        set.tags[victim] = tag;
        set.ts[victim] = now;
        set.paths[victim] = packed;
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

    #[test]
    fn paths_pack_and_unpack() {
        for p in [
            A,
            B,
            PathId::Session {
                slot: 0x7fff_ffff,
                generation: u32::MAX,
            },
        ] {
            assert_eq!(PathId::unpack(p.pack()), p);
        }
        assert_eq!(core::mem::size_of::<Set>(), 64);
    }
}
