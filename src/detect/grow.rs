//! Set-associative tables that start small and grow with the traffic, up
//! to their configured size. A table holds fingerprints for a time window,
//! so what it needs is the packets of one window, not the configured cap:
//! a 10 kpps link needs 10 k entries for a 1 s window, a 1 Mpps link the
//! full million. Starting small keeps a short replay from paying for
//! (and the kernel from zeroing) tens of megabytes it never uses.
//!
//! Entries keep only part of their hash, so a table cannot be rehashed in
//! place. Growing instead starts a table four times larger and keeps the
//! old one for one window, looked up after it: everything the old table
//! held either expires within that window or is seen again and moves over.
//! Growth can repeat within a window, so the largest size is reached as
//! fast as traffic needs it; the old tables together are at most a third
//! of the current one.

/// A set-associative table of `S` (one set per hash), growing by four.
pub(crate) struct Grow<S: Clone> {
    cur: Box<[S]>,
    cur_mask: usize,
    /// Tables before the last growths, oldest first, each with its mask
    /// and the time it is kept until.
    old: Vec<(Box<[S]>, usize, i64)>,
    max_sets: usize,
    empty: S,
    /// Inserts and in-window displacements since the last growth.
    inserts: u64,
    displaced: u64,
}

/// Sets a table starts with at least (or its maximum, if smaller).
const INITIAL_SETS: usize = 4096;

/// Sets a table of `S` starts with: [`INITIAL_SETS`], or as many as fill
/// 2 MiB if that is more (a power of two).
pub(crate) fn initial_sets<S>() -> usize {
    let fit = FIRST_TABLE_BYTES / core::mem::size_of::<S>().max(1);
    // The largest power of two that fits.
    let fill = if fit.is_power_of_two() {
        fit
    } else {
        fit.next_power_of_two() / 2
    };
    fill.max(INITIAL_SETS)
}

/// Factor a table grows by.
const GROWTH: usize = 4;
/// A table grows when more than one insert in `PRESSURE` displaces an
/// entry inside its window...
const PRESSURE: u64 = 256;
/// ...and at least this many did since the last growth.
const MIN_DISPLACED: u64 = 16;

impl<S: Clone> Grow<S> {
    /// A table of at most `max_sets` sets (rounded up to a power of two).
    pub fn new(max_sets: usize, empty: S) -> Self {
        Self::with_initial(max_sets, initial_sets::<S>(), empty)
    }

    /// A table of at most `max_sets` sets that starts with `initial`
    /// (both rounded up to a power of two).
    pub fn with_initial(max_sets: usize, initial: usize, empty: S) -> Self {
        let max_sets = max_sets.max(1).next_power_of_two();
        let sets = max_sets.min(initial.max(1).next_power_of_two());
        Grow {
            cur: table(sets, empty.clone()),
            cur_mask: sets - 1,
            old: Vec::new(),
            max_sets,
            empty,
            inserts: 0,
            displaced: 0,
        }
    }

    /// Sets in the current table.
    pub fn sets(&self) -> usize {
        self.cur.len()
    }

    /// The largest the table may grow to, in sets.
    pub fn max_sets(&self) -> usize {
        self.max_sets
    }

    /// The current table's set for `hash`.
    #[inline(always)]
    pub fn set(&mut self, hash: u64) -> &mut S {
        &mut self.cur[(hash as usize) & self.cur_mask]
    }

    /// Calls `f` with the set for `hash` of each table kept from before a
    /// growth, newest first, until it returns something. Tables whose
    /// window ended before `now_us` are dropped first.
    #[inline(always)]
    pub fn find_old<R>(
        &mut self,
        hash: u64,
        now_us: i64,
        mut f: impl FnMut(&mut S) -> Option<R>,
    ) -> Option<R> {
        if self.old.is_empty() {
            return None;
        }
        self.old.retain(|(_, _, until)| now_us <= *until);
        self.old
            .iter_mut()
            .rev()
            .find_map(|(t, mask, _)| f(&mut t[(hash as usize) & *mask]))
    }

    /// Where an entry goes whose set has no way matching it: `victim`, a
    /// way of the current set, holds an entry still inside its window when
    /// `live`. Returns the way of the current set to write and whether a
    /// live entry is displaced. Instead of displacing, the table may grow:
    /// the entry then goes to way 0 of the new, empty set, and the victim
    /// stays in the previous table for its window.
    #[inline]
    pub fn admit(
        &mut self,
        victim: usize,
        live: bool,
        now_us: i64,
        window_us: i64,
    ) -> (usize, bool) {
        if live && self.should_grow() {
            self.grow(now_us, window_us);
            return (0, false);
        }
        self.inserts += 1;
        (victim, live)
    }

    /// An insert must displace an entry still inside its window: should
    /// the table grow instead? Yes, below the cap, once such displacements
    /// are more than 1 in [`PRESSURE`] inserts (and at least
    /// [`MIN_DISPLACED`]): a set-associative table displaces a few entries
    /// even when it is large enough, and growing for those would take it to
    /// its cap at any rate.
    #[inline]
    fn should_grow(&mut self) -> bool {
        self.displaced += 1;
        self.can_grow()
            && self.displaced >= MIN_DISPLACED
            && self.displaced.saturating_mul(PRESSURE) > self.inserts
    }

    /// Whether the table is below its cap.
    #[inline(always)]
    pub fn can_grow(&self) -> bool {
        self.cur.len() < self.max_sets
    }

    /// Starts a larger table; the current one is kept, looked up after
    /// it, for `window_us` after `now_us`.
    pub fn grow(&mut self, now_us: i64, window_us: i64) {
        if !self.can_grow() {
            return;
        }
        let sets = (self.cur.len() * GROWTH).min(self.max_sets);
        let new = table(sets, self.empty.clone());
        let old = std::mem::replace(&mut self.cur, new);
        self.old
            .push((old, self.cur_mask, now_us.saturating_add(window_us)));
        self.cur_mask = sets - 1;
        self.inserts = 0;
        self.displaced = 0;
    }

    /// Hints the cache about the current table's set for `hash`.
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            let set = &self.cur[(hash as usize) & self.cur_mask];
            let p = set as *const S as *const i8;
            let len = core::mem::size_of::<S>();
            let mut off = 0;
            while off < len {
                // SAFETY: prefetching is a hint with no memory effects; the
                // pointer stays within the set.
                unsafe {
                    core::arch::x86_64::_mm_prefetch(p.add(off), core::arch::x86_64::_MM_HINT_T0)
                };
                off += 64;
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = hash;
    }
}

/// Bytes of the first table (see [`initial_sets`]).
const FIRST_TABLE_BYTES: usize = 2 << 20;

/// A table of `n` (at least one) copies of `v`. Plain heap memory: tables
/// used to be put on 2 MiB transparent huge pages (aligned allocation and
/// `madvise`, 70 lines of unsafe code), which gave single-threaded replay
/// about 5 % (4.51 against 4.28 million packets/s, median of 9, mixed
/// capture) and the default replay with the reader on its own thread
/// nothing (6.66 against 6.65): removed.
fn table<T: Clone>(n: usize, v: T) -> Box<[T]> {
    vec![v; n.max(1)].into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_small_grows_by_four_to_the_cap_and_keeps_old_tables_one_window() {
        let init = initial_sets::<u64>();
        assert_eq!(init, FIRST_TABLE_BYTES / 8);
        let mut g = Grow::new(init * 10, 0u64);
        assert_eq!(g.sets(), init);
        assert_eq!(g.max_sets(), init * 16);
        let get = |g: &mut Grow<u64>, now| {
            let mut seen = Vec::new();
            g.find_old(5, now, |s| {
                seen.push(*s);
                None::<()>
            });
            seen
        };
        *g.set(5) = 7;
        assert!(get(&mut g, 0).is_empty());
        g.grow(1_000, 500);
        assert_eq!(g.sets(), init * 4);
        assert_eq!(*g.set(5), 0, "the new table starts empty");
        *g.set(5) = 8;
        assert_eq!(get(&mut g, 1_100), vec![7]);
        // Growing again inside the window keeps both old tables, newest
        // first.
        g.grow(1_200, 500);
        assert_eq!(g.sets(), init * 16);
        assert_eq!(get(&mut g, 1_300), vec![8, 7]);
        assert_eq!(
            g.find_old(5, 1_300, |s| (*s == 7).then_some("found")),
            Some("found")
        );
        assert_eq!(
            get(&mut g, 1_600),
            vec![8],
            "the first dropped after its window"
        );
        assert!(get(&mut g, 1_701).is_empty());
        assert!(!g.can_grow(), "at the cap");
        g.grow(4_000, 500);
        assert_eq!(g.sets(), init * 16);
    }

    #[test]
    fn initial_size_fills_a_huge_page() {
        assert_eq!(initial_sets::<[u64; 8]>(), 32768);
        // 224-byte sets: the largest power of two that fits.
        assert_eq!(initial_sets::<[u8; 224]>(), 8192);
        assert_eq!(initial_sets::<[u8; 4096]>(), INITIAL_SETS);
    }

    #[test]
    fn small_caps_start_at_the_cap() {
        let g = Grow::new(3, 0u8);
        assert_eq!(g.sets(), 4);
        assert!(!g.can_grow());
    }
}
