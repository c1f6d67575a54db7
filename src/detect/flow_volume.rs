//! Traffic-pattern shifts over flow records (NetFlow, IPFIX, sFlow, cloud
//! flow logs): a mirror or an exfiltration tap shows up in flow data as a
//! (source, destination, protocol) pair that appears already carrying a lot
//! with no traffic coming back ([`Shift::NewOneWay`]), or as a known pair
//! whose rate jumps far above its own history ([`Shift::Jump`]).
//!
//! A new pair is judged one-way when its first interval closes, not at its
//! first record: flow logs and exporters write each direction as its own
//! record, and the reverse one often comes right after. The cost is up to
//! one interval of delay for [`Shift::NewOneWay`].
//!
//! The engine calls [`PairTable::record`] for every flow record, so the
//! record path is one hash lookup and a compare while a record falls in
//! the pair's open interval; the work of closing an interval happens once
//! per pair and interval, and eviction once per eighth of the table.

use ahash::AHashMap;
use core::net::IpAddr;

/// Weight of the newest closed interval in a pair's moving-average
/// baseline (bytes/s).
pub const BASELINE_ALPHA: f64 = 0.1;

/// Most quiet intervals applied to a baseline at once. After a thousand
/// quiet intervals the baseline is below 10⁻⁴⁵ of what it was, so more
/// would change nothing but cost: a gap of any length is one `powi`.
pub const MAX_QUIET_INTERVALS: i64 = 1000;

/// Microseconds per second, the unit of flow-record times.
const US_PER_S: i64 = 1_000_000;

/// A (source, destination, IP protocol) pair seen in flow records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PairKey {
    /// Source address of the records.
    pub src: IpAddr,
    /// Destination address of the records.
    pub dst: IpAddr,
    /// IP protocol number (6 TCP, 17 UDP, 47 GRE, …).
    pub protocol: u8,
}

impl PairKey {
    /// The pair carrying the other direction: destination → source, same
    /// protocol.
    pub fn reverse(&self) -> PairKey {
        PairKey {
            src: self.dst,
            dst: self.src,
            protocol: self.protocol,
        }
    }
}

/// Thresholds of the traffic-pattern shift detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VolumeConfig {
    /// Length of the rate interval, seconds (default 60).
    pub interval_s: u32,
    /// A pair's interval rate above spike_factor × its baseline is a jump (default 10.0; the engine passes alerts.spike_factor).
    pub spike_factor: f64,
    /// Intervals a pair needs (closed, with traffic or quiet) before its baseline is trusted for jumps (default 3).
    pub min_baseline_intervals: u32,
    /// A new pair whose first record's rate (bytes / max(duration, 1 s)) or first interval's rate reaches this is "high volume" (default 1_000_000 bytes/s).
    pub new_flow_min_bytes_per_s: u64,
    /// Jumps below this rate are ignored (noise floor; default 100_000 bytes/s).
    pub min_jump_bytes_per_s: u64,
    /// Pairs kept; past it the least recently seen eighth is evicted (counted). Default 100_000.
    pub max_pairs: usize,
}

impl Default for VolumeConfig {
    fn default() -> Self {
        VolumeConfig {
            interval_s: 60,
            spike_factor: 10.0,
            min_baseline_intervals: 3,
            new_flow_min_bytes_per_s: 1_000_000,
            min_jump_bytes_per_s: 100_000,
            max_pairs: 100_000,
        }
    }
}

/// A shift in a pair's traffic pattern, revealed by a record or by
/// [`PairTable::close_all`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shift {
    /// A pair not seen before (or since eviction) with no reverse pair (dst→src, same protocol) in the table, already at a high rate.
    NewOneWay {
        /// The first interval's rate (due when it, or the first record
        /// alone, reached the threshold).
        bytes_per_s: f64,
    },
    /// A known pair's closed interval rate jumped past spike_factor × baseline.
    Jump {
        /// Rate of the interval that closed, bytes/s.
        bytes_per_s: f64,
        /// The pair's baseline before that interval was folded in, bytes/s.
        baseline_bytes_per_s: f64,
    },
}

/// What the table keeps per pair. 48 bytes (see the size test): the map
/// holds 100,000 of them next to their 35-byte keys, and the record path
/// touches one, so it must stay within a cache line or two.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Start of the open interval, µs. Aligned to the interval length,
    /// except for the first interval after a reload changed the length,
    /// which starts where the previous one ended.
    start_us: i64,
    /// End of the open interval, µs, exclusive. Kept explicitly (rather
    /// than derived from the start) so the hot path is one compare, and so
    /// an interval opened before a reload closes with its own length.
    end_us: i64,
    /// Bytes attributed to the open interval.
    bytes: u64,
    /// Moving average of closed interval rates, bytes/s.
    baseline: f64,
    /// Latest record end seen, µs: the eviction order. Record time rather
    /// than wall-clock time, so a replay evicts as the live sensor would.
    last_seen_us: i64,
    /// Intervals closed so far, with traffic or quiet (saturating).
    closed: u32,
    /// NewOneWay was raised for this entry (at most once per entry).
    raised_new: bool,
    /// The entry's first record alone was at a high rate: NewOneWay is due
    /// when the first interval closes, if no reverse pair came by then.
    first_high: bool,
}

impl Entry {
    /// Closes the open interval, followed by `quiet` intervals without
    /// traffic, and folds them into the baseline. Returns a Jump, or a
    /// NewOneWay *candidate* when the first interval reached the new-flow
    /// rate: whether the pair is one-way needs the table, which the caller
    /// holds.
    fn close(&mut self, cfg: &VolumeConfig, quiet: i64) -> Option<Shift> {
        // Normally the interval length; after a reload changed it, the
        // length this interval actually had, so its rate stays a rate.
        let len_s = self.end_us.saturating_sub(self.start_us).max(1) as f64 / US_PER_S as f64;
        let rate = self.bytes as f64 / len_s;
        let mut shift = None;
        if self.closed == 0 {
            // Nothing to compare the first interval with: it seeds the
            // baseline, and may show a new pair at a high rate that no
            // single record showed.
            self.baseline = rate;
            if !self.raised_new && (self.first_high || rate >= cfg.new_flow_min_bytes_per_s as f64)
            {
                shift = Some(Shift::NewOneWay { bytes_per_s: rate });
            }
        } else {
            // `closed >= 1` here, so even min_baseline_intervals = 0 never
            // compares against a baseline no interval has set.
            if self.closed >= cfg.min_baseline_intervals
                && rate >= cfg.min_jump_bytes_per_s as f64
                && rate > cfg.spike_factor * self.baseline
            {
                shift = Some(Shift::Jump {
                    bytes_per_s: rate,
                    baseline_bytes_per_s: self.baseline,
                });
            }
            self.baseline = BASELINE_ALPHA * rate + (1.0 - BASELINE_ALPHA) * self.baseline;
        }
        self.closed = self.closed.saturating_add(1);
        // Quiet intervals are closed intervals of rate 0: each one scales
        // the baseline by (1 - alpha), all at once.
        let quiet = quiet.clamp(0, MAX_QUIET_INTERVALS);
        if quiet > 0 {
            self.baseline *= (1.0 - BASELINE_ALPHA).powi(quiet as i32);
            self.closed = self.closed.saturating_add(quiet as u32);
        }
        self.bytes = 0;
        shift
    }

    /// The interval after the open one that contains `t_us` (`t_us` at or
    /// past the open interval's end): its bounds, and the number of whole
    /// intervals between the two, which had no traffic. None only at the
    /// very end of the time range, where no interval follows.
    fn next_interval(&self, t_us: i64, interval_us: i64) -> Option<(i64, i64, i64)> {
        let aligned = t_us.div_euclid(interval_us) * interval_us;
        // After a reload changed the length, the new grid's start may fall
        // inside the interval that just closed: never overlap it.
        let start = aligned.max(self.end_us);
        let end = aligned.saturating_add(interval_us);
        if end <= start {
            return None;
        }
        let quiet = start.saturating_sub(self.end_us) / interval_us;
        Some((start, end, quiet))
    }
}

/// The traffic-pattern state of every (source, destination, protocol) pair
/// seen in flow records, bounded by [`VolumeConfig::max_pairs`].
#[derive(Debug)]
pub struct PairTable {
    /// ahash with its per-process random keys: the keys are addresses an
    /// attacker can choose, so the hash must be keyed, and SipHash would
    /// cost a good part of the per-record budget.
    map: AHashMap<PairKey, Entry>,
    cfg: VolumeConfig,
    /// `cfg.interval_s` in µs, at least one second.
    interval_us: i64,
    /// Last-seen times for eviction, kept between evictions so an eviction
    /// allocates nothing once the table has been full once.
    scratch: Vec<i64>,
    /// Pairs evicted to stay within `max_pairs`, since the table was made.
    pub evicted: u64,
}

impl PairTable {
    /// An empty table with these thresholds.
    pub fn new(cfg: VolumeConfig) -> Self {
        PairTable {
            map: AHashMap::new(),
            cfg,
            interval_us: interval_us(&cfg),
            scratch: Vec::new(),
            evicted: 0,
        }
    }

    /// Reload: new thresholds, same pairs. An interval length change takes
    /// effect from each pair's next interval (the open one closes with the
    /// length it opened with); a smaller `max_pairs` evicts the least
    /// recently seen pairs now, so memory is bounded from the reload on.
    pub fn configure(&mut self, cfg: VolumeConfig) {
        self.cfg = cfg;
        self.interval_us = interval_us(&cfg);
        let max = self.max_pairs();
        if self.map.len() > max {
            self.evict_oldest(self.map.len() - max);
        }
    }

    /// One record of `bytes` over [start_us, end_us] (end >= start; if end < start treat as start). Returns the shift this record reveals, if any. A pair raises NewOneWay at most once per entry; Jump at most once per interval.
    ///
    /// The bytes count in the interval containing the record's end; a
    /// record ending before the pair's open interval (exported late) counts
    /// in the open one, as its interval has already been judged.
    #[inline]
    pub fn record(
        &mut self,
        key: PairKey,
        start_us: i64,
        end_us: i64,
        bytes: u64,
    ) -> Option<Shift> {
        let end_us = end_us.max(start_us);
        let Some(e) = self.map.get_mut(&key) else {
            return self.insert_new(key, start_us, end_us, bytes);
        };
        if end_us > e.last_seen_us {
            e.last_seen_us = end_us;
        }
        // Hot path: the record falls in the open interval (or is late).
        if end_us < e.end_us {
            e.bytes = e.bytes.saturating_add(bytes);
            return None;
        }
        let Some((start, end, quiet)) = e.next_interval(end_us, self.interval_us) else {
            e.bytes = e.bytes.saturating_add(bytes);
            return None;
        };
        let shift = e.close(&self.cfg, quiet);
        e.start_us = start;
        e.end_us = end;
        e.bytes = bytes;
        match shift {
            Some(Shift::NewOneWay { bytes_per_s }) => self.confirm_one_way(&key, bytes_per_s),
            other => other,
        }
    }

    /// Closes every interval that ended before now_us (end of input: pass i64::MAX) and returns the jumps found, with their keys. Must be O(pairs) and is called rarely (end of a replay); do not require it on the hot path.
    ///
    /// A pair's first interval closing here can also raise NewOneWay, as
    /// it would at the pair's next record. The intervals between a closed
    /// one and `now_us` count as quiet, and the pair's open interval
    /// becomes the one containing `now_us`. Shifts come sorted by key, so
    /// a replay reports them in the same order every run.
    pub fn close_all(&mut self, now_us: i64) -> Vec<(PairKey, Shift)> {
        let mut shifts = Vec::new();
        let mut candidates = Vec::new();
        for (key, e) in self.map.iter_mut() {
            if e.end_us > now_us {
                continue;
            }
            let Some((start, end, quiet)) = e.next_interval(now_us, self.interval_us) else {
                continue;
            };
            match e.close(&self.cfg, quiet) {
                Some(Shift::NewOneWay { bytes_per_s }) => candidates.push((*key, bytes_per_s)),
                Some(jump) => shifts.push((*key, jump)),
                None => {}
            }
            e.start_us = start;
            e.end_us = end;
        }
        // Judged after every interval closed: the table's pairs are the
        // same either way, and the map is no longer borrowed.
        for (key, rate) in candidates {
            if let Some(shift) = self.confirm_one_way(&key, rate) {
                shifts.push((key, shift));
            }
        }
        shifts.sort_unstable_by(|(a, _), (b, _)| {
            (a.src, a.dst, a.protocol).cmp(&(b.src, b.dst, b.protocol))
        });
        shifts
    }

    /// Pairs in the table.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when the table holds no pair.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Does the reverse pair exist?
    pub fn has_reverse(&self, key: &PairKey) -> bool {
        self.map.contains_key(&key.reverse())
    }

    /// `max_pairs`, at least one so a new pair always fits.
    fn max_pairs(&self) -> usize {
        self.cfg.max_pairs.max(1)
    }

    /// Whether a high-rate pair counts as one-way. A pair from a host to
    /// itself is its own reverse, so it never does.
    fn is_one_way(&self, key: &PairKey) -> bool {
        key.src != key.dst && !self.has_reverse(key)
    }

    /// Turns a NewOneWay candidate from a first interval's close into a
    /// shift when the pair is one-way, and marks the entry as having raised it.
    fn confirm_one_way(&mut self, key: &PairKey, bytes_per_s: f64) -> Option<Shift> {
        if !self.is_one_way(key) {
            return None;
        }
        if let Some(e) = self.map.get_mut(key) {
            e.raised_new = true;
        }
        Some(Shift::NewOneWay { bytes_per_s })
    }

    /// The first record of a pair not in the table.
    #[cold]
    fn insert_new(
        &mut self,
        key: PairKey,
        start_us: i64,
        end_us: i64,
        bytes: u64,
    ) -> Option<Shift> {
        let duration_s = end_us.saturating_sub(start_us) as f64 / US_PER_S as f64;
        let rate = bytes as f64 / duration_s.max(1.0);
        // Not raised yet: the reverse direction is often the next record
        // (flow logs write each direction as its own line), so whether the
        // pair is one-way is decided when its first interval closes.
        let high = rate >= self.cfg.new_flow_min_bytes_per_s as f64;
        let max = self.max_pairs();
        if self.map.len() >= max {
            // An eighth at once, so the O(n) selection is paid once per
            // max/8 new pairs: amortised O(1) per record.
            let k = self.map.len() - max + (max / 8).max(1);
            self.evict_oldest(k);
        }
        let start = end_us.div_euclid(self.interval_us) * self.interval_us;
        self.map.insert(
            key,
            Entry {
                start_us: start,
                end_us: start.saturating_add(self.interval_us),
                bytes,
                baseline: 0.0,
                last_seen_us: end_us,
                closed: 0,
                raised_new: false,
                first_high: high,
            },
        );
        None
    }

    /// Evicts the `k` least recently seen pairs, exactly `k` (counted).
    /// O(pairs): a selection over the last-seen times, not a sort. The
    /// selection runs over a compact `Vec<i64>` (8 bytes a pair, rather
    /// than 48 with the key), then one `retain` drops the pairs.
    fn evict_oldest(&mut self, k: usize) {
        let k = k.min(self.map.len());
        if k == 0 {
            return;
        }
        self.scratch.clear();
        self.scratch
            .extend(self.map.values().map(|e| e.last_seen_us));
        let (older, &mut cutoff, _) = self.scratch.select_nth_unstable_by_key(k - 1, |&t| t);
        // Every pair seen before the cutoff goes; of those seen exactly at
        // it, only as many as make `k`. Ties are common (one export packet
        // carries many records ending at the same time), and evicting all
        // of them could empty the table.
        let mut at_cutoff = k - older.iter().filter(|&&t| t < cutoff).count();
        self.map.retain(|_, e| {
            if e.last_seen_us < cutoff {
                false
            } else if e.last_seen_us == cutoff && at_cutoff > 0 {
                at_cutoff -= 1;
                false
            } else {
                true
            }
        });
        self.evicted += k as u64;
    }
}

/// The interval length in µs, at least a second (an interval of 0 s would
/// make every record close one and every rate infinite).
fn interval_us(cfg: &VolumeConfig) -> i64 {
    i64::from(cfg.interval_s.max(1)) * US_PER_S
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    const MIN: i64 = 60 * US_PER_S;

    fn key(a: u32, b: u32) -> PairKey {
        PairKey {
            src: IpAddr::V4(Ipv4Addr::from(a)),
            dst: IpAddr::V4(Ipv4Addr::from(b)),
            protocol: 6,
        }
    }

    /// A record ending `s` seconds into interval `i` (60 s intervals),
    /// lasting `s` seconds so its own rate stays low.
    fn rec(t: &mut PairTable, k: PairKey, i: i64, s: i64, bytes: u64) -> Option<Shift> {
        let end = i * MIN + s * US_PER_S;
        t.record(k, end - s * US_PER_S, end, bytes)
    }

    /// One full-interval record per interval in `from..to`, each carrying
    /// `rate` bytes/s over the whole interval; no shift expected.
    fn steady(t: &mut PairTable, k: PairKey, from: i64, to: i64, rate: u64) {
        for i in from..to {
            assert_eq!(rec(t, k, i, 59, rate * 60), None, "interval {i}");
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn entry_fits_a_cache_line() {
        assert!(size_of::<Entry>() <= 64, "{}", size_of::<Entry>());
        assert_eq!(size_of::<Entry>(), 48);
    }

    #[test]
    fn steady_pair_raises_nothing() {
        let mut t = PairTable::new(VolumeConfig::default());
        let k = key(1, 2);
        // 50 KB/s for 100 intervals, several records an interval.
        for i in 0..100 {
            for s in [10, 30, 59] {
                assert_eq!(rec(&mut t, k, i, s, 50_000 * 20), None, "interval {i}");
            }
        }
        let e = t.map[&k];
        assert_eq!(e.closed, 99);
        assert!(close(e.baseline, 50_000.0), "{}", e.baseline);
        assert!(t.close_all(i64::MAX).is_empty());
    }

    #[test]
    fn jump_of_twenty_times_after_five_intervals() {
        let mut t = PairTable::new(VolumeConfig::default());
        let k = key(1, 2);
        steady(&mut t, k, 0, 5, 10_000);
        assert!(close(t.map[&k].baseline, 10_000.0));
        // Interval 5 carries 200 KB/s in two records; nothing until it closes.
        assert_eq!(rec(&mut t, k, 5, 20, 6_000_000), None);
        assert_eq!(rec(&mut t, k, 5, 40, 6_000_000), None);
        let Some(Shift::Jump {
            bytes_per_s,
            baseline_bytes_per_s,
        }) = rec(&mut t, k, 6, 1, 1000)
        else {
            panic!("no jump");
        };
        assert!(close(bytes_per_s, 200_000.0), "{bytes_per_s}");
        assert!(
            close(baseline_bytes_per_s, 10_000.0),
            "{baseline_bytes_per_s}"
        );
        // Once per interval: more records in interval 6 raise nothing.
        assert_eq!(rec(&mut t, k, 6, 2, 1000), None);
        // The jump entered the baseline: 0.1 × 200k + 0.9 × 10k.
        assert!(close(t.map[&k].baseline, 29_000.0));
    }

    #[test]
    fn jump_needs_min_baseline_intervals() {
        let mut t = PairTable::new(VolumeConfig::default());
        let k = key(1, 2);
        // Two closed intervals before the burst: fewer than 3.
        steady(&mut t, k, 0, 2, 10_000);
        assert_eq!(rec(&mut t, k, 2, 59, 200_000 * 60), None);
        assert_eq!(rec(&mut t, k, 3, 1, 1), None);
    }

    #[test]
    fn jump_below_the_floor_is_ignored() {
        let mut t = PairTable::new(VolumeConfig::default());
        let k = key(1, 2);
        steady(&mut t, k, 0, 5, 1_000);
        // ×20 = 20 KB/s, under min_jump_bytes_per_s (100 KB/s).
        assert_eq!(rec(&mut t, k, 5, 59, 20_000 * 60), None);
        assert_eq!(rec(&mut t, k, 6, 1, 1), None);
        // The same ×20 with the floor lowered is a jump.
        let mut t = PairTable::new(VolumeConfig {
            min_jump_bytes_per_s: 10_000,
            ..VolumeConfig::default()
        });
        steady(&mut t, k, 0, 5, 1_000);
        assert_eq!(rec(&mut t, k, 5, 59, 20_000 * 60), None);
        assert!(matches!(rec(&mut t, k, 6, 1, 1), Some(Shift::Jump { .. })));
    }

    #[test]
    fn below_the_spike_factor_is_ignored() {
        let k = key(1, 2);
        let run = |times: u64| {
            let mut t = PairTable::new(VolumeConfig::default());
            steady(&mut t, k, 0, 5, 50_000);
            assert_eq!(rec(&mut t, k, 5, 59, 50_000 * times * 60), None);
            rec(&mut t, k, 6, 1, 1)
        };
        // ×9 = 450 KB/s: above the floor, under 10 × baseline.
        assert_eq!(run(9), None);
        assert!(matches!(run(11), Some(Shift::Jump { .. })));
    }

    #[test]
    fn new_high_rate_one_way_pair_raises_once_when_its_first_interval_closes() {
        let mut t = PairTable::new(VolumeConfig::default());
        let k = key(1, 2);
        // 100 MB over 20 s (5 MB/s): due, but not before the first
        // interval closes (the reverse direction may be the next record).
        assert_eq!(t.record(k, 0, 20 * US_PER_S, 100_000_000), None);
        assert_eq!(t.record(k, 3 * US_PER_S, 4 * US_PER_S, 10_000_000), None);
        // The next interval's record closes the first: 110 MB / 60 s.
        assert_eq!(
            rec(&mut t, k, 1, 1, 10_000_000),
            Some(Shift::NewOneWay {
                bytes_per_s: 110_000_000.0 / 60.0
            })
        );
        assert_eq!(t.map[&k].closed, 1);
        // Once only.
        assert!(t.close_all(i64::MAX).is_empty());
        // A record shorter than a second counts as one second: 2 MB/s, due
        // although its interval's average (33 kB/s) is low.
        let k2 = key(3, 4);
        assert_eq!(t.record(k2, 0, 1000, 2_000_000), None);
        // IPv6 pairs alike.
        let k6 = PairKey {
            src: IpAddr::V6(Ipv6Addr::LOCALHOST),
            dst: IpAddr::V6(Ipv6Addr::from(7u128)),
            protocol: 17,
        };
        assert_eq!(t.record(k6, 0, 0, 2_000_000), None);
        let due: Vec<PairKey> = t.close_all(i64::MAX).into_iter().map(|(k, _)| k).collect();
        assert_eq!(due.len(), 2, "{due:?}");
        assert!(due.contains(&k2) && due.contains(&k6));
    }

    #[test]
    fn new_high_rate_pair_with_a_reverse_raises_nothing() {
        let mut t = PairTable::new(VolumeConfig::default());
        let k = key(1, 2);
        assert_eq!(t.record(k, 0, US_PER_S, 100_000_000), None);
        // The reverse direction comes as the next record, in time.
        assert_eq!(t.record(k.reverse(), 0, US_PER_S, 100), None);
        assert!(t.has_reverse(&k));
        assert!(t.has_reverse(&k.reverse()));
        assert!(t.close_all(i64::MAX).is_empty());
        // The reverse of another protocol is not a reverse.
        let udp = PairKey { protocol: 17, ..k };
        assert!(!t.has_reverse(&udp));
        assert_eq!(t.record(udp, 0, US_PER_S, 100_000_000), None);
        // A host sending to itself is its own reverse.
        assert_eq!(t.record(key(9, 9), 0, US_PER_S, 100_000_000), None);
        let due: Vec<PairKey> = t.close_all(i64::MAX).into_iter().map(|(k, _)| k).collect();
        assert_eq!(due, [udp]);
    }

    #[test]
    fn many_small_records_raise_new_one_way_at_close() {
        // 1,000 records of 100 KB, each over a second (100 KB/s, under the
        // threshold), are 100 MB in the first minute: 1.67 MB/s.
        let feed = |t: &mut PairTable, k: PairKey| {
            for n in 0..1000i64 {
                let end = n * 59_000 + US_PER_S;
                assert_eq!(t.record(k, end - US_PER_S, end, 100_000), None);
            }
        };
        let rate = 100_000_000.0 / 60.0;
        let k = key(1, 2);
        let mut t = PairTable::new(VolumeConfig::default());
        feed(&mut t, k);
        assert_eq!(
            rec(&mut t, k, 1, 1, 1),
            Some(Shift::NewOneWay { bytes_per_s: rate })
        );
        assert_eq!(rec(&mut t, k, 2, 1, 1), None);
        // Closed by close_all alike.
        let mut t = PairTable::new(VolumeConfig::default());
        feed(&mut t, k);
        assert!(t.close_all(MIN - 1).is_empty(), "interval 0 has not ended");
        assert_eq!(
            t.close_all(MIN),
            vec![(k, Shift::NewOneWay { bytes_per_s: rate })]
        );
        assert!(t.close_all(i64::MAX).is_empty());
        // Not when the reverse pair appeared during the interval.
        let mut t = PairTable::new(VolumeConfig::default());
        feed(&mut t, k);
        t.record(k.reverse(), 0, 30 * US_PER_S, 10);
        assert_eq!(rec(&mut t, k, 1, 1, 1), None);
    }

    #[test]
    fn quiet_gap_lowers_the_baseline() {
        let k = key(1, 2);
        // 20 KB/s for 5 intervals; 150 KB/s is only 7.5× that.
        let mut t = PairTable::new(VolumeConfig::default());
        steady(&mut t, k, 0, 5, 20_000);
        assert_eq!(rec(&mut t, k, 5, 59, 150_000 * 60), None);
        assert_eq!(rec(&mut t, k, 6, 1, 1), None);
        // The same after 30 quiet intervals (baseline 20k × 0.9³⁰ ≈ 848).
        let mut t = PairTable::new(VolumeConfig::default());
        steady(&mut t, k, 0, 5, 20_000);
        assert_eq!(rec(&mut t, k, 35, 59, 150_000 * 60), None);
        let e = t.map[&k];
        assert_eq!(e.closed, 35, "5 with traffic, 30 quiet");
        let baseline = 20_000.0 * 0.9f64.powi(30);
        assert!(close(e.baseline, baseline), "{}", e.baseline);
        let Some(Shift::Jump {
            bytes_per_s,
            baseline_bytes_per_s,
        }) = rec(&mut t, k, 36, 1, 1)
        else {
            panic!("no jump");
        };
        assert!(close(bytes_per_s, 150_000.0));
        assert!(close(baseline_bytes_per_s, baseline));
        // A huge gap is capped, and leaves a baseline of (almost) nothing.
        rec(&mut t, k, 10_000_000, 1, 1);
        assert!(t.map[&k].baseline < 1e-30);
    }

    #[test]
    fn eviction_bounds_the_table_and_evicts_the_oldest() {
        let mut t = PairTable::new(VolumeConfig {
            max_pairs: 16,
            ..VolumeConfig::default()
        });
        for n in 0..16u32 {
            t.record(key(n, 100), 0, i64::from(n) * US_PER_S, 10);
        }
        assert_eq!((t.len(), t.evicted), (16, 0));
        // Pair 0 seen again: now the newest; pairs 1 and 2 are the oldest.
        t.record(key(0, 100), 0, 100 * US_PER_S, 10);
        t.record(key(16, 100), 0, 101 * US_PER_S, 10);
        assert_eq!((t.len(), t.evicted), (15, 2), "an eighth of 16 evicted");
        for n in [0, 3, 15, 16] {
            assert!(t.map.contains_key(&key(n, 100)), "{n} kept");
        }
        for n in [1, 2] {
            assert!(!t.map.contains_key(&key(n, 100)), "{n} evicted");
        }
        // A late record does not make a pair look older.
        t.record(key(3, 100), 0, 0, 10);
        assert_eq!(t.map[&key(3, 100)].last_seen_us, 3 * US_PER_S);
        // Lowering max_pairs evicts at once, down to it.
        t.configure(VolumeConfig {
            max_pairs: 4,
            ..VolumeConfig::default()
        });
        assert_eq!((t.len(), t.evicted), (4, 13));
        for n in [0, 14, 15, 16] {
            assert!(t.map.contains_key(&key(n, 100)), "{n} kept");
        }
    }

    #[test]
    fn eviction_of_ties_evicts_exactly_an_eighth() {
        let mut t = PairTable::new(VolumeConfig {
            max_pairs: 80,
            ..VolumeConfig::default()
        });
        // All seen at the same time: an eighth goes, not all of them.
        for n in 0..81u32 {
            t.record(key(n, 0), 0, 0, 10);
        }
        assert_eq!((t.len(), t.evicted), (71, 10));
    }

    #[test]
    fn a_million_pairs_in_a_table_of_ten_thousand() {
        let mut t = PairTable::new(VolumeConfig {
            max_pairs: 10_000,
            ..VolumeConfig::default()
        });
        for n in 0..1_000_000u32 {
            t.record(key(n, !n), i64::from(n), i64::from(n), 100);
            assert!(t.len() <= 10_000);
        }
        assert!(t.len() > 10_000 - 10_000 / 8, "{}", t.len());
        assert!((985_000..=990_000).contains(&t.evicted), "{}", t.evicted);
        assert_eq!(t.len() as u64 + t.evicted, 1_000_000);
        // The newest survive.
        assert!(t.map.contains_key(&key(999_999, !999_999)));
    }

    #[test]
    fn close_all_returns_pending_jumps() {
        let mut t = PairTable::new(VolumeConfig::default());
        let (a, b) = (key(1, 2), key(3, 4));
        steady(&mut t, a, 0, 5, 10_000);
        steady(&mut t, b, 0, 5, 10_000);
        // Both jump in interval 5; a's jump is also a's last record.
        assert_eq!(rec(&mut t, b, 5, 59, 500_000 * 60), None);
        assert_eq!(rec(&mut t, a, 5, 59, 300_000 * 60), None);
        assert!(t.close_all(6 * MIN - 1).is_empty(), "interval 5 still open");
        let shifts = t.close_all(i64::MAX);
        assert_eq!(shifts.len(), 2, "{shifts:?}");
        assert_eq!(shifts[0].0, a, "sorted by key");
        assert_eq!(shifts[1].0, b);
        assert!(
            matches!(shifts[0].1, Shift::Jump { bytes_per_s, .. } if close(bytes_per_s, 300_000.0))
        );
        assert!(
            matches!(shifts[1].1, Shift::Jump { bytes_per_s, .. } if close(bytes_per_s, 500_000.0))
        );
        // Each interval is judged once.
        assert!(t.close_all(i64::MAX).is_empty());
    }

    #[test]
    fn close_all_counts_the_quiet_intervals_up_to_now() {
        let mut t = PairTable::new(VolumeConfig::default());
        let k = key(1, 2);
        steady(&mut t, k, 0, 5, 20_000);
        // Closing at interval 35 is the same as a record in it.
        assert!(t.close_all(35 * MIN + 1).is_empty());
        assert_eq!(t.map[&k].closed, 35);
        assert_eq!(rec(&mut t, k, 35, 59, 150_000 * 60), None);
        assert!(matches!(rec(&mut t, k, 36, 1, 1), Some(Shift::Jump { .. })));
    }

    #[test]
    fn end_before_start_counts_as_start() {
        let mut t = PairTable::new(VolumeConfig::default());
        let k = key(1, 2);
        // Ends "at 10 s" but starts at 130 s: a zero-length record at 130 s,
        // in interval 2, at bytes / 1 s (high: due at the close).
        assert_eq!(t.record(k, 130 * US_PER_S, 10 * US_PER_S, 2_000_000), None);
        let e = t.map[&k];
        assert_eq!((e.start_us, e.end_us), (2 * MIN, 3 * MIN));
        assert_eq!(e.last_seen_us, 130 * US_PER_S);
        assert!(e.first_high);
        // Negative times (before the epoch) are intervals too.
        let k2 = key(3, 4);
        assert_eq!(t.record(k2, -1, -1, 10), None);
        assert_eq!(t.map[&k2].start_us, -MIN);
        let due: Vec<PairKey> = t.close_all(i64::MAX).into_iter().map(|(k, _)| k).collect();
        assert_eq!(due, [k]);
    }

    #[test]
    fn late_records_count_in_the_open_interval() {
        let mut t = PairTable::new(VolumeConfig::default());
        let k = key(1, 2);
        steady(&mut t, k, 0, 5, 10_000);
        // 200 KB/s in interval 5, half of it in a record that ended in
        // interval 3 but was exported late.
        rec(&mut t, k, 5, 30, 6_000_000);
        rec(&mut t, k, 3, 30, 6_000_000);
        assert!(matches!(
            rec(&mut t, k, 6, 1, 1),
            Some(Shift::Jump { bytes_per_s, .. }) if close(bytes_per_s, 200_000.0)
        ));
    }

    #[test]
    fn reload_keeps_the_table_and_changes_thresholds() {
        let mut t = PairTable::new(VolumeConfig::default());
        let k = key(1, 2);
        steady(&mut t, k, 0, 5, 50_000);
        // ×5 is no jump at factor 10, but is at factor 4.
        t.configure(VolumeConfig {
            spike_factor: 4.0,
            ..VolumeConfig::default()
        });
        assert_eq!(t.len(), 1);
        assert_eq!(rec(&mut t, k, 5, 59, 250_000 * 60), None);
        assert!(matches!(rec(&mut t, k, 6, 1, 1), Some(Shift::Jump { .. })));
    }

    #[test]
    fn reload_to_a_shorter_interval_keeps_rates_right() {
        let mut t = PairTable::new(VolumeConfig::default());
        let k = key(1, 2);
        steady(&mut t, k, 0, 5, 50_000);
        // Interval 5 (300..360 s) is open with 40 s at 50 KB/s when the
        // interval becomes 10 s: it closes with its own 60 s length (at
        // 10 s it would be a 300 KB/s jump).
        rec(&mut t, k, 5, 40, 50_000 * 40);
        t.configure(VolumeConfig {
            interval_s: 10,
            ..VolumeConfig::default()
        });
        assert_eq!(t.record(k, 0, 355 * US_PER_S, 50_000 * 20), None);
        assert_eq!(t.record(k, 0, 361 * US_PER_S, 50_000 * 10), None);
        let e = t.map[&k];
        assert!(close(e.baseline, 50_000.0), "{}", e.baseline);
        assert_eq!((e.start_us, e.end_us), (360 * US_PER_S, 370 * US_PER_S));
        // Then 10 s intervals: 360..370 s at 50 KB/s is no jump.
        assert_eq!(t.record(k, 0, 370 * US_PER_S, 1), None);
        assert!(
            close(t.map[&k].baseline, 50_000.0),
            "{}",
            t.map[&k].baseline
        );
        // A new length need not divide the old one: 10 s → 25 s, the open
        // 370..380 s keeps its bounds, and the next interval starts where it
        // ended, not at 375 s where the 25 s grid would put it.
        t.configure(VolumeConfig {
            interval_s: 25,
            ..VolumeConfig::default()
        });
        assert_eq!(t.record(k, 0, 379 * US_PER_S, 1), None);
        assert_eq!(t.record(k, 0, 381 * US_PER_S, 1), None);
        assert_eq!(t.record(k, 0, 371 * US_PER_S, 1), None, "late");
        let e = t.map[&k];
        assert_eq!((e.start_us, e.end_us), (380 * US_PER_S, 400 * US_PER_S));
        assert_eq!(e.bytes, 2);
    }

    /// Steady records over 100,000 pairs: no shift, no eviction, every
    /// interval closed once. Prints the rate; asserts nothing about time.
    #[test]
    fn throughput_sanity() {
        const PAIRS: u32 = 100_000;
        const ROUNDS: i64 = 30;
        let mut t = PairTable::new(VolumeConfig::default());
        let started = std::time::Instant::now();
        let mut shifts = 0usize;
        // A record per pair every 10 s for 300 s: 5 intervals, 4 closed.
        for r in 0..ROUNDS {
            let end = r * 10 * US_PER_S + 1;
            for n in 0..PAIRS {
                // Pseudo-random order, so the map is not walked in sequence.
                // (2654435761 is prime to 100,000: a permutation.)
                let p = (u64::from(n) * 2_654_435_761 % u64::from(PAIRS)) as u32;
                shifts += usize::from(t.record(key(p, p + 1), end - 1, end, 1000).is_some());
            }
        }
        let elapsed = started.elapsed();
        let records = ROUNDS as f64 * f64::from(PAIRS);
        eprintln!(
            "flow_volume: {records} records in {elapsed:?}: {:.2} M records/s",
            records / elapsed.as_secs_f64().max(1e-9) / 1e6
        );
        assert_eq!(shifts, 0);
        assert_eq!((t.len(), t.evicted), (PAIRS as usize, 0));
        assert_eq!(t.map[&key(5, 6)].closed, 4);
    }
}
