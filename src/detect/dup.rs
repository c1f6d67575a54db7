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

    /// The path as one word (what the table stores).
    #[inline(always)]
    pub fn pack(self) -> u64 {
        match self {
            PathId::Session { slot, generation } => {
                Self::SESSION_BIT | (u64::from(slot) << 32) | u64::from(generation)
            }
            PathId::Native { l2 } => l2 & !Self::SESSION_BIT,
        }
    }

    /// The path a word from [`PathId::pack`] stands for.
    #[inline]
    pub fn unpack(v: u64) -> PathId {
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

use super::grow::Grow;

const WAYS: usize = 3;

/// One cache line: three tags, three timestamps, three paths. Timestamps
/// are whole 64-bit microseconds: a sensor runs for months, and 32 bits of
/// microseconds wrap every 71.6 minutes (an entry that old would read as
/// recent).
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Set {
    /// High half of the fingerprint, low bit forced to 1; 0 is empty.
    tags: [u32; WAYS],
    _pad: u32,
    ts: [i64; WAYS],
    paths: [u64; WAYS],
}

/// A duplicate found: the path and time of the earlier copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    pub first_path: PathId,
    pub gap_us: i64,
}

/// Longest window accepted (one hour; a copy arrives within milliseconds).
pub const MAX_WINDOW_US: i64 = 3_600_000_000;

pub struct DupWindow {
    table: Grow<Set>,
    window_us: i64,
    evicted: u64,
}

/// What a set holds for a fingerprint.
enum Probe {
    /// A copy: the fingerprint was seen on another path within the window.
    Copy(Repeat),
    /// Seen on the same path, or too long ago: way `usize` is refreshed.
    Again(usize),
    /// Not there.
    Missing,
}

/// Bit `i` set where `xs[i] == v`. Written without branches: which way
/// matches is data the branch predictor cannot learn.
#[inline(always)]
fn mask(xs: &[u32; WAYS], v: u32) -> u32 {
    u32::from(xs[0] == v) | u32::from(xs[1] == v) << 1 | u32::from(xs[2] == v) << 2
}

#[inline(always)]
fn probe(set: &Set, tag: u32, now: i64, packed: u64, window: i64) -> Probe {
    let m = mask(&set.tags, tag);
    if m == 0 {
        return Probe::Missing;
    }
    let i = m.trailing_zeros() as usize;
    let gap = now.saturating_sub(set.ts[i]).saturating_abs();
    if gap <= window && set.paths[i] != packed {
        return Probe::Copy(Repeat {
            first_path: PathId::unpack(set.paths[i]),
            gap_us: gap,
        });
    }
    Probe::Again(i)
}

/// The way a new entry replaces: the first empty one, else the oldest
/// (the first of equally old ones), and whether that one is still inside
/// the window. The oldest is picked with selects, not branches.
#[inline(always)]
fn victim(set: &Set, now: i64, window: i64) -> (usize, bool) {
    let empty = mask(&set.tags, 0);
    if empty != 0 {
        return (empty.trailing_zeros() as usize, false);
    }
    let age = |i: usize| now.saturating_sub(set.ts[i]);
    let pick = |(i, a): (usize, i64), (j, b): (usize, i64)| if b > a { (j, b) } else { (i, a) };
    let (v, a) = pick(pick((0, age(0)), (1, age(1))), (2, age(2)));
    (v, a <= window)
}

impl DupWindow {
    /// About `capacity` entries (sets of [`WAYS`], their number rounded up to
    /// a power of two), `window_us`
    /// long (at most [`MAX_WINDOW_US`]). The table starts small and grows
    /// when an entry would be displaced inside its window.
    pub fn new(capacity: usize, window_us: i64) -> Self {
        DupWindow {
            table: Grow::new(capacity / WAYS, Set::default()),
            window_us: window_us.clamp(0, MAX_WINDOW_US),
            evicted: 0,
        }
    }

    /// Entries still inside their window that had to be displaced.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Entries the table holds now, and at most.
    pub fn entries(&self) -> (usize, usize) {
        (self.table.sets() * WAYS, self.table.max_sets() * WAYS)
    }

    /// Hints the cache about the set `fp` will use.
    #[inline]
    pub fn prefetch(&self, fp: u64) {
        self.table.prefetch(fp);
    }

    /// Records `fp` seen at `ts_us` on `path`. Returns the earlier sighting
    /// when this is a copy of a packet seen on another path within the
    /// window. A repeat on the same path refreshes the entry (a
    /// retransmission on one link is not a copy).
    #[inline]
    pub fn observe(&mut self, fp: u64, ts_us: i64, path: PathId) -> Option<Repeat> {
        self.observe_packed(fp, ts_us, path.pack())
    }

    /// [`DupWindow::observe`] with the path already packed: packing where
    /// the kind of path is known spares a branch on it here.
    #[inline]
    pub fn observe_packed(&mut self, fp: u64, ts_us: i64, packed: u64) -> Option<Repeat> {
        let tag = ((fp >> 32) as u32) | 1;
        let now = ts_us;
        let window = self.window_us;
        // After a growth, what the previous table holds is looked up too;
        // an entry found there moves to the current table.
        let found = self.table.find_old(fp, ts_us, |old| {
            match probe(old, tag, now, packed, window) {
                Probe::Copy(rep) => Some(rep),
                Probe::Again(i) => {
                    old.tags[i] = 0;
                    None
                }
                Probe::Missing => None,
            }
        });
        if found.is_some() {
            return found;
        }
        let set = self.table.set(fp);
        let (victim, live) = match probe(set, tag, now, packed, window) {
            Probe::Copy(rep) => return Some(rep),
            Probe::Again(i) => (i, false),
            Probe::Missing => victim(set, now, window),
        };
        let (victim, displaced) = self.table.admit(victim, live, ts_us, window);
        self.evicted += u64::from(displaced);
        let set = self.table.set(fp);
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
        let (n, max) = w.entries();
        assert_eq!(n, max);
        assert!(n <= 2 * 16, "{n} entries"); // sets of 3, a power of two of them
        assert!(w.evicted() >= 1000 - n as u64);
    }

    /// 2^32 microseconds (71.6 minutes) later is not "100 us later": the
    /// window is judged on whole 64-bit timestamps.
    #[test]
    fn no_duplicate_across_a_two_to_the_32_microsecond_gap() {
        let mut w = DupWindow::new(1024, 1_000_000);
        let t0 = 1_767_225_600_000_000i64; // 2026-01-01
        assert_eq!(w.observe(42, t0, A), None);
        assert_eq!(w.observe(42, t0 + (1i64 << 32) + 100, B), None);
        // An entry ~36 minutes old is not live either.
        assert_eq!(w.observe(43, t0, A), None);
        assert_eq!(w.observe(43, t0 + (1i64 << 31) + 5, B), None);
        // Inside the window it still is.
        assert_eq!(w.observe(44, t0, A), None);
        assert!(w.observe(44, t0 + 100, B).is_some());
    }

    #[test]
    fn grows_instead_of_displacing_and_finds_copies_across_growth() {
        let cap = 1 << 20;
        let mut w = DupWindow::new(cap, 1_000_000);
        let start = w.entries().0;
        assert!(start < cap);
        let fp = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i << 7);
        // Many distinct packets inside one window force growth.
        let n = 4 * start as u64;
        for i in 0..n {
            assert_eq!(w.observe(fp(i), 10, A), None);
        }
        assert!(w.entries().0 > start, "grew");
        assert!(w.evicted() < n / 100, "{} evictions", w.evicted());
        // Packets recorded before and during growth are still known: their
        // copies on another path are found.
        let found = (0..n)
            .step_by(7)
            .filter(|&i| w.observe(fp(i), 20, B).is_some())
            .count() as u64;
        assert!(found * 100 >= (n / 7) * 99, "{found} of {}", n / 7);
        // Growth stops at the cap; beyond it entries are displaced and counted.
        let max = w.entries().1;
        for i in n..4 * max as u64 {
            w.observe(fp(i), 30, A);
        }
        assert_eq!(w.entries(), (max, max));
        assert!(w.evicted() > 0);
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
