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
    cur: Vec<S>,
    cur_mask: usize,
    /// Tables before the last growths, oldest first, each with its mask
    /// and the time it is kept until.
    old: Vec<(Vec<S>, usize, i64)>,
    max_sets: usize,
    empty: S,
    /// Inserts and in-window displacements since the last growth.
    inserts: u64,
    displaced: u64,
}

/// Sets a table starts with (or its maximum, if smaller).
pub(crate) const INITIAL_SETS: usize = 4096;
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
        let max_sets = max_sets.max(1).next_power_of_two();
        let sets = max_sets.min(INITIAL_SETS);
        Grow {
            cur: huge_vec(sets, empty.clone()),
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

    /// Counts an insert into the current table.
    #[inline(always)]
    pub fn inserted(&mut self) {
        self.inserts += 1;
    }

    /// An insert must displace an entry still inside its window: should
    /// the table grow instead? Yes, below the cap, once such displacements
    /// are more than 1 in [`PRESSURE`] inserts (and at least
    /// [`MIN_DISPLACED`]): a set-associative table displaces a few entries
    /// even when it is large enough, and growing for those would take it to
    /// its cap at any rate.
    #[inline]
    pub fn should_grow(&mut self) -> bool {
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
        let new = huge_vec(sets, self.empty.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_small_grows_by_four_to_the_cap_and_keeps_old_tables_one_window() {
        let mut g = Grow::new(INITIAL_SETS * 10, 0u64);
        assert_eq!(g.sets(), INITIAL_SETS);
        assert_eq!(g.max_sets(), INITIAL_SETS * 16);
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
        assert_eq!(g.sets(), INITIAL_SETS * 4);
        assert_eq!(*g.set(5), 0, "the new table starts empty");
        *g.set(5) = 8;
        assert_eq!(get(&mut g, 1_100), vec![7]);
        // Growing again inside the window keeps both old tables, newest
        // first.
        g.grow(1_200, 500);
        assert_eq!(g.sets(), INITIAL_SETS * 16);
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
        assert_eq!(g.sets(), INITIAL_SETS * 16);
    }

    #[test]
    fn small_caps_start_at_the_cap() {
        let g = Grow::new(3, 0u8);
        assert_eq!(g.sets(), 4);
        assert!(!g.can_grow());
    }
}
