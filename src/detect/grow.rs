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
    cur: HugeArray<S>,
    cur_mask: usize,
    /// Tables before the last growths, oldest first, each with its mask
    /// and the time it is kept until.
    old: Vec<(HugeArray<S>, usize, i64)>,
    max_sets: usize,
    empty: S,
    /// Inserts and in-window displacements since the last growth.
    inserts: u64,
    displaced: u64,
}

/// Sets a table starts with at least (or its maximum, if smaller).
const INITIAL_SETS: usize = 4096;

/// Sets a table of `S` starts with: [`INITIAL_SETS`], or as many as fill
/// one 2 MiB huge page if that is more (the page is zeroed whole anyway).
pub(crate) fn initial_sets<S>() -> usize {
    let per_page = HUGE / core::mem::size_of::<S>().max(1);
    let fill = if per_page.is_power_of_two() {
        per_page
    } else {
        per_page.next_power_of_two() / 2
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
            cur: HugeArray::new(sets, empty.clone()),
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
        let new = HugeArray::new(sets, self.empty.clone());
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

/// Huge-page size on x86-64 and aarch64 Linux.
const HUGE: usize = 2 << 20;
/// Tables at least this large are put on huge pages.
const HUGE_FROM: usize = 256 << 10;

/// A fixed array of `n` copies of a value. Tables of [`HUGE_FROM`] bytes or
/// more are allocated 2 MiB-aligned, in whole 2 MiB pages, and marked for
/// transparent huge pages before they are first touched: the duplicate and
/// payload tables are probed at random, and with 4 KiB pages nearly every
/// probe also misses the TLB (in a virtual machine, a nested page walk).
/// Measured on the development VM, the prefetches meant to hide the probes'
/// latency only paid off once the tables were on huge pages.
pub(crate) struct HugeArray<T> {
    ptr: core::ptr::NonNull<T>,
    len: usize,
    layout: std::alloc::Layout,
}

// SAFETY: HugeArray owns its elements like a Vec does.
unsafe impl<T: Send> Send for HugeArray<T> {}
// SAFETY: shared access only hands out shared references to the elements.
unsafe impl<T: Sync> Sync for HugeArray<T> {}

impl<T: Clone> HugeArray<T> {
    /// `n` (at least one) copies of `v`.
    pub fn new(n: usize, v: T) -> Self {
        let n = n.max(1);
        let bytes = n
            .checked_mul(core::mem::size_of::<T>().max(1))
            .expect("table size fits in memory");
        let huge = bytes >= HUGE_FROM;
        let layout = if huge {
            std::alloc::Layout::from_size_align(bytes.next_multiple_of(HUGE), HUGE)
        } else {
            std::alloc::Layout::array::<T>(n)
        }
        .expect("table layout");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { std::alloc::alloc(layout) } as *mut T;
        let Some(ptr) = core::ptr::NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout);
        };
        #[cfg(target_os = "linux")]
        if huge {
            // SAFETY: advice on memory this array owns, 2 MiB-aligned and a
            // whole number of 2 MiB pages long; it changes no contents.
            unsafe {
                libc::madvise(
                    ptr.as_ptr() as *mut libc::c_void,
                    layout.size(),
                    libc::MADV_HUGEPAGE,
                )
            };
        }
        for i in 0..n {
            // SAFETY: `i < n` elements fit in the allocation; each slot is
            // written once, before any is read.
            unsafe { ptr.as_ptr().add(i).write(v.clone()) };
        }
        HugeArray {
            ptr,
            len: n,
            layout,
        }
    }
}

impl<T> core::ops::Deref for HugeArray<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `len` initialised elements live at `ptr` until drop.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> core::ops::DerefMut for HugeArray<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as for Deref, and `&mut self` makes the access unique.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for HugeArray<T> {
    fn drop(&mut self) {
        // SAFETY: the elements are initialised and dropped once; the
        // memory was allocated with `layout`.
        unsafe {
            core::ptr::drop_in_place(core::ptr::slice_from_raw_parts_mut(
                self.ptr.as_ptr(),
                self.len,
            ));
            std::alloc::dealloc(self.ptr.as_ptr() as *mut u8, self.layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_small_grows_by_four_to_the_cap_and_keeps_old_tables_one_window() {
        let init = initial_sets::<u64>();
        assert_eq!(init, HUGE / 8);
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
    fn huge_arrays_hold_their_values_and_drop_them() {
        use std::rc::Rc;
        let v = Rc::new(5u8);
        {
            let mut a = HugeArray::new(3, Rc::clone(&v));
            assert_eq!(Rc::strong_count(&v), 4);
            assert_eq!(a.len(), 3);
            a[1] = Rc::new(6);
            assert_eq!(*a[1], 6);
            assert_eq!(Rc::strong_count(&v), 3);
        }
        assert_eq!(Rc::strong_count(&v), 1, "dropped with the array");
        let big = HugeArray::new(HUGE_FROM / 8 + 1, 7u64);
        assert_eq!(big.as_ptr() as usize % HUGE, 0, "2 MiB-aligned");
        assert!(big.iter().all(|&x| x == 7));
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
