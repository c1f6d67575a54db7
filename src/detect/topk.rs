//! Whose traffic a session copies: bounded heavy-hitter sketches of its
//! inner traffic (Space-Saving over bytes, [`TopK`]) and a bounded bytes
//! time series ([`Timeline`]). Fixed size, no allocation, a short linear
//! scan per update.
use core::net::{IpAddr, Ipv6Addr};

/// A key a [`TopK`] can hold: `Copy`, compared by value, with a filler for
/// the slots not yet used.
pub trait SketchKey: Copy + Eq + Ord {
    const EMPTY: Self;
    /// An 8-bit digest of the key: lookups compare the 16 tags at once and
    /// the full key only where a tag matches.
    fn tag(&self) -> u8;
}

#[inline(always)]
fn tag64(x: u64) -> u8 {
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8
}

/// An inner service: IP protocol and the service-side port (the lower of
/// the two ports; 0 for protocols without ports and for fragments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Service {
    pub protocol: u8,
    pub port: u16,
}

impl SketchKey for Service {
    const EMPTY: Self = Service {
        protocol: 0,
        port: 0,
    };
    #[inline(always)]
    fn tag(&self) -> u8 {
        tag64(u64::from(self.port) << 8 | u64::from(self.protocol))
    }
}

impl Service {
    /// The service of a packet between `src_port` and `dst_port`: the lower
    /// non-zero port (well-known and registered ports sit below ephemeral
    /// ones).
    #[inline]
    pub fn of(protocol: u8, src_port: u16, dst_port: u16) -> Self {
        let port = match (src_port, dst_port) {
            (0, p) | (p, 0) => p,
            (a, b) => a.min(b),
        };
        Service { protocol, port }
    }

    /// `tcp/5432`, `udp/53`, `icmp`, `proto-47`.
    pub fn label(&self) -> String {
        let name = match self.protocol {
            1 => "icmp",
            6 => "tcp",
            17 => "udp",
            58 => "icmpv6",
            132 => "sctp",
            47 => "gre",
            50 => "esp",
            _ => "",
        };
        match (name, self.port) {
            ("", 0) => format!("proto-{}", self.protocol),
            ("", p) => format!("proto-{}/{p}", self.protocol),
            (n, 0) => n.to_owned(),
            (n, p) => format!("{n}/{p}"),
        }
    }
}

/// One counted key. `bytes` and `packets` are upper bounds: a key that
/// took over a slot inherits the counts of the key it displaced, at most
/// `error_bytes` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted<K> {
    pub key: K,
    pub bytes: u64,
    pub packets: u64,
    pub error_bytes: u64,
}

/// Space-Saving heavy hitters over bytes with `N` slots: every key with
/// more than 1/N of the bytes is held, with counts overestimated by at
/// most its `error_bytes`. Keys and counts are kept in separate arrays, so
/// a lookup scans the keys only and a miss scans the byte counts only.
#[derive(Debug, Clone)]
pub struct TopK<K: SketchKey, const N: usize> {
    tags: [u8; N],
    keys: [K; N],
    bytes: [u64; N],
    packets: [u64; N],
    error: [u64; N],
    len: u8,
}

impl<K: SketchKey, const N: usize> Default for TopK<K, N> {
    fn default() -> Self {
        const { assert!(N > 0 && N <= 64) };
        TopK {
            tags: [0; N],
            keys: [K::EMPTY; N],
            bytes: [0; N],
            packets: [0; N],
            error: [0; N],
            len: 0,
        }
    }
}

impl<K: SketchKey, const N: usize> TopK<K, N> {
    /// Counts a packet of `bytes` for `key`. A key found is moved one slot
    /// towards the front, so the heavy ones are found within a few
    /// comparisons.
    #[inline]
    pub fn add(&mut self, key: K, bytes: u64) {
        let len = usize::from(self.len).min(N);
        // The tags that match, as a bit mask (one vector compare of the
        // 16 tags), then the full key where one does.
        let t = key.tag();
        let mut mask: u64 = 0;
        for (i, &x) in self.tags.iter().enumerate() {
            mask |= u64::from(x == t) << i;
        }
        if len < 64 {
            mask &= (1u64 << len) - 1;
        }
        let mut hit = N;
        while mask != 0 {
            let i = mask.trailing_zeros() as usize;
            if self.keys[i] == key {
                hit = i;
                break;
            }
            mask &= mask - 1;
        }
        if hit < N {
            let i = hit;
            self.bytes[i] = self.bytes[i].saturating_add(bytes);
            self.packets[i] = self.packets[i].saturating_add(1);
            if i > 0 && self.bytes[i] > self.bytes[i - 1] {
                self.swap(i, i - 1);
            }
            return;
        }
        self.insert_new(key, bytes, len);
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.tags.swap(a, b);
        self.keys.swap(a, b);
        self.bytes.swap(a, b);
        self.packets.swap(a, b);
        self.error.swap(a, b);
    }

    #[inline(never)]
    fn insert_new(&mut self, key: K, bytes: u64, len: usize) {
        let (i, base, packets) = if len < N {
            self.len += 1;
            (len, 0, 0)
        } else {
            // Full: the key takes over the slot with the fewest bytes.
            let (mut min, mut least) = (0, self.bytes[0]);
            for (i, &b) in self.bytes.iter().enumerate().skip(1) {
                let lower = b < least;
                min = if lower { i } else { min };
                least = if lower { b } else { least };
            }
            (min, least, self.packets[min])
        };
        self.tags[i] = key.tag();
        self.keys[i] = key;
        self.bytes[i] = base.saturating_add(bytes);
        self.packets[i] = packets.saturating_add(1);
        self.error[i] = base;
    }

    /// The keys held, most bytes first (ties by key).
    pub fn top(&self) -> Vec<Counted<K>> {
        let len = usize::from(self.len).min(N);
        let mut v: Vec<Counted<K>> = (0..len)
            .map(|i| Counted {
                key: self.keys[i],
                bytes: self.bytes[i],
                packets: self.packets[i],
                error_bytes: self.error[i],
            })
            .collect();
        v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.key.cmp(&b.key)));
        v
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A host as a sketch key: its address as 128 bits, IPv4 as IPv4-mapped
/// IPv6 (one comparison of two words per slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Host(pub u128);

impl SketchKey for Host {
    const EMPTY: Self = Host(0);
    #[inline(always)]
    fn tag(&self) -> u8 {
        tag64((self.0 as u64) ^ ((self.0 >> 64) as u64).rotate_left(29))
    }
}

impl Host {
    #[inline]
    pub fn of(ip: IpAddr) -> Self {
        Host(match ip {
            IpAddr::V4(a) => 0xffff_0000_0000 | u128::from(a.to_bits()),
            IpAddr::V6(a) => a.to_bits(),
        })
    }

    /// The address (an IPv4-mapped one as IPv4).
    pub fn addr(self) -> IpAddr {
        Ipv6Addr::from_bits(self.0).to_canonical()
    }
}

/// Buckets of a [`Timeline`].
pub const TIMELINE_BUCKETS: usize = 48;

/// Bytes over time in [`TIMELINE_BUCKETS`] buckets from the first packet.
/// Buckets start 1,024 µs wide and double (neighbours merged) whenever a
/// packet falls past the last one, so the series covers the whole session
/// at a resolution of at least 1/24 of its length: one subtraction and a
/// shift per packet.
#[derive(Debug, Clone)]
pub struct Timeline {
    start_us: i64,
    /// Bucket width is `1 << shift` µs.
    shift: u8,
    started: bool,
    buckets: [u64; TIMELINE_BUCKETS],
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            start_us: 0,
            shift: Self::FIRST_SHIFT,
            started: false,
            buckets: [0; TIMELINE_BUCKETS],
        }
    }
}

impl Timeline {
    const FIRST_SHIFT: u8 = 10;

    #[inline]
    pub fn add(&mut self, ts_us: i64, bytes: u64) {
        if !self.started {
            self.started = true;
            self.start_us = ts_us;
        }
        // A packet stamped before the first one counts in the first bucket.
        let off = ts_us.saturating_sub(self.start_us).max(0) as u64;
        let mut i = off >> self.shift;
        while i >= TIMELINE_BUCKETS as u64 {
            self.widen();
            i = off >> self.shift;
        }
        let b = &mut self.buckets[i as usize];
        *b = b.saturating_add(bytes);
    }

    #[cold]
    fn widen(&mut self) {
        for i in 0..TIMELINE_BUCKETS / 2 {
            self.buckets[i] = self.buckets[2 * i].saturating_add(self.buckets[2 * i + 1]);
        }
        self.buckets[TIMELINE_BUCKETS / 2..].fill(0);
        self.shift += 1;
    }

    /// Start (µs since the epoch), bucket width (µs) and the buckets up to
    /// the last one with bytes; `None` before the first packet.
    pub fn series(&self) -> Option<(i64, u64, Vec<u64>)> {
        if !self.started {
            return None;
        }
        let last = self
            .buckets
            .iter()
            .rposition(|&b| b > 0)
            .map_or(0, |i| i + 1);
        Some((
            self.start_us,
            1u64 << self.shift,
            self.buckets[..last].to_vec(),
        ))
    }
}

/// A session's inner traffic: top hosts (a packet counts for its source
/// and its destination), top services, bytes over time.
#[derive(Debug, Clone, Default)]
pub struct InnerTraffic {
    pub hosts: TopK<Host, { InnerTraffic::SLOTS }>,
    pub services: TopK<Service, { InnerTraffic::SLOTS }>,
    pub timeline: Timeline,
}

impl InnerTraffic {
    /// Slots of each heavy-hitter sketch.
    pub const SLOTS: usize = 16;
}

#[cfg(test)]
mod tests {
    use super::*;

    use core::net::Ipv4Addr;

    fn ip(i: u32) -> Host {
        Host::of(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
    }

    #[test]
    fn host_keys_round_trip() {
        for a in ["10.1.2.3", "2001:db8::1", "::1", "0.0.0.0"] {
            let ip: IpAddr = a.parse().expect("ip");
            assert_eq!(Host::of(ip).addr(), ip);
        }
        assert_ne!(
            Host::of("10.0.0.1".parse().expect("ip")),
            Host::of("::a00:1".parse().expect("ip"))
        );
    }

    #[test]
    fn exact_while_keys_fit() {
        let mut t = TopK::<Host, 4>::default();
        assert!(t.is_empty());
        for (k, b) in [(1, 100), (2, 50), (1, 10), (3, 500), (2, 5)] {
            t.add(ip(k), b);
        }
        let top = t.top();
        let got: Vec<(Host, u64, u64, u64)> = top
            .iter()
            .map(|c| (c.key, c.bytes, c.packets, c.error_bytes))
            .collect();
        assert_eq!(
            got,
            vec![(ip(3), 500, 1, 0), (ip(1), 110, 2, 0), (ip(2), 55, 2, 0)]
        );
    }

    #[test]
    fn heavy_hitters_survive_a_flood_of_small_keys() {
        let mut t = TopK::<Host, 16>::default();
        // Two heavy hosts among 10,000 one-packet ones.
        for i in 0..10_000u32 {
            t.add(ip(1_000_000 + i), 60);
            if i % 4 == 0 {
                t.add(ip(1), 1500);
            }
            if i % 10 == 0 {
                t.add(ip(2), 1500);
            }
        }
        let top = t.top();
        assert_eq!(top.len(), 16);
        assert_eq!(top[0].key, ip(1));
        assert_eq!(top[1].key, ip(2));
        // Upper bounds, within their error of the truth.
        assert!(top[0].bytes >= 2500 * 1500);
        assert!(top[0].bytes - top[0].error_bytes <= 2500 * 1500);
        assert!(top[1].bytes >= 1000 * 1500);
        assert!(top[1].bytes - top[1].error_bytes <= 1000 * 1500);
    }

    #[test]
    fn service_is_the_lower_port() {
        assert_eq!(Service::of(6, 52000, 5432).port, 5432);
        assert_eq!(Service::of(6, 5432, 52000).port, 5432);
        assert_eq!(Service::of(17, 0, 53).port, 53);
        assert_eq!(Service::of(6, 52000, 5432).label(), "tcp/5432");
        assert_eq!(Service::of(1, 0, 0).label(), "icmp");
        assert_eq!(Service::of(99, 0, 0).label(), "proto-99");
        assert_eq!(Service::of(99, 7, 9).label(), "proto-99/7");
    }

    #[test]
    fn timeline_widens_and_keeps_every_byte() {
        let mut t = Timeline::default();
        assert!(t.series().is_none());
        let start = 1_700_000_000_000_000;
        t.add(start, 100);
        t.add(start + 1_500, 50);
        let (s, w, b) = t.series().expect("started");
        assert_eq!((s, w), (start, 1024));
        assert_eq!(b, vec![100, 50]);
        // An hour later: buckets of at least 3600 s / 48.
        t.add(start + 3_600_000_000, 7);
        t.add(start - 5, 1);
        let (_, w, b) = t.series().expect("started");
        assert!(w >= 3_600_000_000 / TIMELINE_BUCKETS as u64, "{w}");
        assert!(w <= 2 * 3_600_000_000 / TIMELINE_BUCKETS as u64, "{w}");
        assert_eq!(b.iter().sum::<u64>(), 158);
        assert_eq!(b[0], 151);
        assert_eq!(*b.last().expect("last"), 7);
        // Far-future stamps stay bounded.
        t.add(i64::MAX, 1);
        let (_, _, b) = t.series().expect("started");
        assert!(b.len() <= TIMELINE_BUCKETS);
        assert_eq!(b.iter().sum::<u64>(), 159);
    }
}
