//! Small fixed-size sketches kept per session.

/// HyperLogLog with 256 one-byte registers (about 6.5% standard error),
/// for counting distinct inner flows in constant memory.
#[derive(Clone)]
pub struct Hll {
    regs: [u8; Hll::M],
}

impl Default for Hll {
    fn default() -> Self {
        Hll { regs: [0; Hll::M] }
    }
}

impl Hll {
    const P: u32 = 8;
    const M: usize = 1 << Self::P;

    /// Adds a well-mixed 64-bit hash.
    #[inline]
    pub fn insert(&mut self, hash: u64) {
        let idx = (hash >> (64 - Self::P)) as usize;
        let rest = (hash << Self::P) | (1 << (Self::P - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        if self.regs[idx] < rank {
            self.regs[idx] = rank;
        }
    }

    pub fn estimate(&self) -> u64 {
        let m = Self::M as f64;
        let mut sum = 0.0;
        let mut zeros = 0usize;
        for &r in &self.regs {
            sum += 1.0 / f64::from(1u32 << r);
            if r == 0 {
                zeros += 1;
            }
        }
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        let est = if raw <= 2.5 * m && zeros > 0 {
            // Linear counting for small cardinalities.
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        est.round() as u64
    }
}

/// The set of 12-bit VLAN ids seen, as a 4096-bit bitmap.
#[derive(Clone)]
pub struct VlanSet {
    bits: [u64; 64],
}

impl Default for VlanSet {
    fn default() -> Self {
        VlanSet { bits: [0; 64] }
    }
}

impl VlanSet {
    #[inline]
    pub fn insert(&mut self, vlan: u16) {
        let v = usize::from(vlan & 0x0fff);
        self.bits[v / 64] |= 1 << (v % 64);
    }
    /// The VLANs in the set, ascending (word by word: an empty set costs
    /// 64 loads, not 4,096 tests).
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.bits.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros();
                rest &= rest - 1;
                Some((w as u16) * 64 + bit as u16)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(mut x: u64) -> u64 {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    #[test]
    fn hll_small_and_large() {
        let mut h = Hll::default();
        assert_eq!(h.estimate(), 0);
        for i in 0..10 {
            h.insert(mix(i));
            h.insert(mix(i)); // repeats do not count
        }
        let small = h.estimate();
        assert!((9..=11).contains(&small), "estimate {small}");
        let mut h = Hll::default();
        for i in 0..100_000 {
            h.insert(mix(i));
        }
        let e = h.estimate() as f64;
        assert!((e - 100_000.0).abs() / 100_000.0 < 0.2, "estimate {e}");
    }

    #[test]
    fn vlan_set() {
        let mut s = VlanSet::default();
        for v in [20, 10, 4095, 10, 0, 63, 64] {
            s.insert(v);
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 10, 20, 63, 64, 4095]);
    }
}

/// A 1024-bit Bloom filter with two probes, for "was this directed flow
/// seen" questions in constant memory. Both probes fall in the same 64-bit
/// word (a blocked filter), so a lookup or insert touches one cache line.
#[derive(Clone, Default)]
pub struct Bloom {
    bits: [u64; 16],
}

impl Bloom {
    #[inline]
    fn probes(hash: u64) -> [usize; 2] {
        let word = (hash & 15) as usize * 64;
        [
            word + ((hash >> 8) & 63) as usize,
            word + ((hash >> 32) & 63) as usize,
        ]
    }
    #[inline]
    pub fn insert(&mut self, hash: u64) {
        for p in Self::probes(hash) {
            self.bits[p / 64] |= 1 << (p % 64);
        }
    }
    #[inline]
    pub fn contains(&self, hash: u64) -> bool {
        Self::probes(hash)
            .iter()
            .all(|&p| self.bits[p / 64] & (1 << (p % 64)) != 0)
    }
    /// Bits set in both filters.
    pub fn overlap(&self, other: &Bloom) -> u32 {
        self.bits
            .iter()
            .zip(other.bits.iter())
            .map(|(a, b)| (a & b).count_ones())
            .sum()
    }
}

#[cfg(test)]
mod bloom_tests {
    use super::*;

    #[test]
    fn bloom() {
        let mut b = Bloom::default();
        b.insert(0x1234_5678_9abc_def0);
        assert!(b.contains(0x1234_5678_9abc_def0));
        assert!(!b.contains(0x0fed_cba9_8765_4321));
        let mut c = Bloom::default();
        assert_eq!(b.overlap(&c), 0);
        c.insert(0x1234_5678_9abc_def0);
        assert_eq!(b.overlap(&c), 2);
    }
}
