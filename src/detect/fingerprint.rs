//! Fingerprints of IP packets that survive copying: a keyed hash over what
//! a mirror, a tunnel or a TEE keeps (addresses, protocol, IPv4
//! identification and length or IPv6 payload length and flow label, ports,
//! TCP sequence, acknowledgement and flags, a prefix of the payload) and
//! nothing a copy or a router changes (TTL/hop limit, checksums, DSCP/ECN,
//! layer 2).
use core::net::IpAddr;

use crate::decode::InnerIp;

/// Bytes of transport payload included in the packet fingerprint.
const PAYLOAD_PREFIX: usize = 64;
/// Bytes of payload hashed for the payload digest (with its length and
/// its last bytes).
const DIGEST_PREFIX: usize = 128;
const DIGEST_SUFFIX: usize = 32;

/// 16-byte chunks of payload hashed at distinct positions: the prefix
/// (in the packet fingerprint), the rest of the digest prefix, the suffix.
const LANES: usize = (DIGEST_PREFIX + DIGEST_SUFFIX) / 16;
/// Lanes of the header words (IPv6 addresses, metadata, transport fields).
const HEADER_LANES: usize = 4;

/// Keyed hashing for fingerprints. The key is per process unless fixed.
///
/// Words are combined in the manner of NH (UMAC): pairs of 64-bit words,
/// each offset by its own key, multiplied to 128 bits and summed, then
/// mixed once. The products are independent, so the processor computes
/// them side by side instead of one after the other.
pub struct Fingerprinter {
    key: [u64; 4],
    /// Key pairs per 16-byte payload position.
    lanes: [(u64, u64); LANES],
    /// Key pairs per header word pair.
    header: [(u64, u64); HEADER_LANES],
}

impl Fingerprinter {
    pub fn new(key: [u64; 4]) -> Self {
        let derive = |i: u64| (mix(key[0] ^ i, key[1]), mix(key[2] ^ i, key[3]));
        Fingerprinter {
            key,
            lanes: core::array::from_fn(|i| derive(i as u64 + 1)),
            header: core::array::from_fn(|i| derive(i as u64 + 0x100)),
        }
    }

    /// Fingerprint of an IP packet, or None if its headers are too short.
    #[inline]
    pub fn packet(&self, ip: &InnerIp<'_>) -> Option<u64> {
        self.packet_and_payload(ip, usize::MAX).0
    }

    /// The packet fingerprint and, when the packet carries a TCP or UDP
    /// payload of at least `min_payload` bytes, its payload digest (equal
    /// to [`Fingerprinter::payload`] of [`transport_payload`]). The hash of
    /// the first payload bytes is shared by both, so a native packet's
    /// payload prefix is read once.
    #[inline]
    pub fn packet_and_payload(
        &self,
        ip: &InnerIp<'_>,
        min_payload: usize,
    ) -> (Option<u64>, Option<u64>) {
        let p = ip.packet;
        let hk = &self.header;
        let Some(&first) = p.first() else {
            return (None, None);
        };
        let mut acc = match first >> 4 {
            4 if p.len() >= 20 => {
                // addresses; protocol, identification, flags and fragment
                // offset, total length (not TTL, checksum, DSCP/ECN)
                let meta = (u64::from(p[9]) << 48)
                    | (u64::from(be32(p, 4)) << 16)
                    | u64::from(be32(p, 0) & 0xffff);
                nh(be64(p, 12), meta, hk[0])
            }
            6 if p.len() >= 40 => {
                // addresses; payload length, next header, flow label (not
                // hop limit or traffic class)
                let meta = (u64::from(be32(p, 4) >> 8) << 20)
                    | u64::from(be32(p, 0) & 0x000f_ffff)
                    | 1 << 63;
                nh(be64(p, 8), be64(p, 16), hk[0])
                    .wrapping_add(nh(be64(p, 24), be64(p, 32), hk[1]))
                    .wrapping_add(nh(meta, 0, hk[2]))
            }
            _ => return (None, None),
        };
        let mut prefix = 0;
        let mut digest = None;
        if !ip.fragment {
            let l4 = p.get(ip.l4_offset..).unwrap_or(&[]);
            let (fa, fb, payload_at, transport) = match ip.protocol {
                // ports, sequence, acknowledgement, flags
                6 if l4.len() >= 20 => (
                    be64(l4, 0),
                    (u64::from(be32(l4, 8)) << 8) | u64::from(l4[13]),
                    usize::from(l4[12] >> 4) * 4,
                    true,
                ),
                // ports, length
                17 if l4.len() >= 8 => (be64(l4, 0) >> 16, 0, 8, true),
                // type, code, identifier, sequence
                1 | 58 if l4.len() >= 8 => (be64(l4, 0) & 0xffff_0000_ffff_ffff, 0, 8, false),
                _ => (0, 0, 0, false),
            };
            acc = acc.wrapping_add(nh(fa, fb, hk[3]));
            let payload = l4.get(payload_at..).unwrap_or(&[]);
            prefix = self.prefix(payload);
            if transport && payload.len() >= min_payload {
                digest = Some(self.finish_payload(prefix, payload));
            }
        }
        let h = (acc as u64) ^ ((acc >> 64) as u64);
        (Some(mix(h ^ self.key[0], prefix ^ self.key[1])), digest)
    }

    /// Keyed hash of a payload's first [`PAYLOAD_PREFIX`] bytes (and of how
    /// many there are).
    #[inline(always)]
    fn prefix(&self, payload: &[u8]) -> u64 {
        let head = &payload[..payload.len().min(PAYLOAD_PREFIX)];
        let acc = nh_bytes(&self.lanes[..PAYLOAD_PREFIX / 16], head);
        (acc as u64) ^ ((acc >> 64) as u64) ^ (head.len() as u64).rotate_left(56)
    }

    /// The payload digest from the prefix hash: bytes up to
    /// [`DIGEST_PREFIX`], the last [`DIGEST_SUFFIX`] bytes and the length.
    #[inline(always)]
    fn finish_payload(&self, prefix: u64, payload: &[u8]) -> u64 {
        const MID: usize = PAYLOAD_PREFIX / 16;
        const TAIL: usize = DIGEST_PREFIX / 16;
        let mid = payload
            .get(PAYLOAD_PREFIX..payload.len().min(DIGEST_PREFIX))
            .unwrap_or(&[]);
        let tail = &payload[payload.len().saturating_sub(DIGEST_SUFFIX)..];
        let acc =
            nh_bytes(&self.lanes[MID..TAIL], mid).wrapping_add(nh_bytes(&self.lanes[TAIL..], tail));
        mix(
            (acc as u64) ^ ((acc >> 64) as u64) ^ self.key[2],
            prefix ^ (payload.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ self.key[3],
        )
    }

    /// Digest of a transport payload (prefix, suffix and length).
    #[inline]
    pub fn payload(&self, payload: &[u8]) -> u64 {
        self.finish_payload(self.prefix(payload), payload)
    }

    /// Fast hashes of a directed inner flow and of its reverse, for the
    /// per-session sketches (not for anything an attacker gains by
    /// colliding: at worst an estimate is off).
    #[inline]
    pub fn flow_pair(
        &self,
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
        proto: u8,
    ) -> FlowHashes {
        let a = fold(src) ^ (u64::from(sport) << 48);
        let b = fold(dst) ^ (u64::from(dport) << 48);
        let p = u64::from(proto);
        let (fwd, rev) = (mix(a, b ^ p), mix(b, a ^ p));
        // The canonical order of the two endpoints picks one of the two
        // hashes, the same whichever way the packet travels: a hash of the
        // canonical 5-tuple, as uniform as either (the smaller of the two
        // hashes, used before, is not, and biased the flow count).
        FlowHashes {
            fwd,
            rev,
            canonical: if a <= b { fwd } else { rev },
        }
    }
}

/// Hashes of one inner flow: as it travels, reversed, and independent of
/// direction (for counting distinct flows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowHashes {
    pub fwd: u64,
    pub rev: u64,
    pub canonical: u64,
}

/// One NH term: `(x + k.0) * (y + k.1)` to 128 bits.
#[inline(always)]
fn nh(x: u64, y: u64, k: (u64, u64)) -> u128 {
    u128::from(x.wrapping_add(k.0)) * u128::from(y.wrapping_add(k.1))
}

/// NH over bytes, 16 at a time, chunk `i` keyed by `lanes[i]` (the bytes
/// beyond `lanes.len() * 16` are ignored; a short last chunk is padded with
/// zeros, so callers hash the length as well).
#[inline(always)]
fn nh_bytes(lanes: &[(u64, u64)], data: &[u8]) -> u128 {
    let mut acc: u128 = 0;
    let mut chunks = data.chunks_exact(16);
    for (c, &k) in (&mut chunks).zip(lanes) {
        let a = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let b = u64::from_le_bytes([c[8], c[9], c[10], c[11], c[12], c[13], c[14], c[15]]);
        acc = acc.wrapping_add(nh(a, b, k));
    }
    let rest = chunks.remainder();
    if !rest.is_empty()
        && let Some(&k) = lanes.get(data.len() / 16)
    {
        let (a, b) = tail_words(data, rest.len());
        acc = acc.wrapping_add(nh(a, b, k));
    }
    acc
}

/// The last `r` (1 to 15) bytes of `data` as two little-endian words,
/// zero-padded as if copied into a zeroed 16-byte block, without a call to
/// `memcpy`: when `data` has 16 bytes or more, the 16 ending at its end are
/// loaded and shifted; shorter data is assembled from 8-, 4- and 1-byte
/// loads.
#[inline(always)]
fn tail_words(data: &[u8], r: usize) -> (u64, u64) {
    debug_assert!((1..16).contains(&r) && r <= data.len());
    let v = if let Some(&last) = data.last_chunk::<16>() {
        u128::from_le_bytes(last) >> (8 * (16 - r))
    } else {
        let t = &data[data.len() - r..];
        let mut v = 0u128;
        let mut at = 0;
        if let Some(w) = t.first_chunk::<8>() {
            v = u128::from(u64::from_le_bytes(*w));
            at = 8;
        }
        if let Some(w) = t[at..].first_chunk::<4>() {
            v |= u128::from(u32::from_le_bytes(*w)) << (8 * at);
            at += 4;
        }
        for (i, &x) in t[at..].iter().enumerate() {
            v |= u128::from(x) << (8 * (at + i));
        }
        v
    };
    (v as u64, (v >> 64) as u64)
}

/// A big-endian word at `o` (zero past the end; callers check lengths).
#[inline(always)]
fn be32(b: &[u8], o: usize) -> u32 {
    match b.get(o..o + 4) {
        Some(&[x0, x1, x2, x3]) => u32::from_be_bytes([x0, x1, x2, x3]),
        _ => 0,
    }
}

#[inline(always)]
fn be64(b: &[u8], o: usize) -> u64 {
    match b.get(o..o + 8) {
        Some(&[x0, x1, x2, x3, x4, x5, x6, x7]) => {
            u64::from_be_bytes([x0, x1, x2, x3, x4, x5, x6, x7])
        }
        _ => 0,
    }
}

/// An address folded into one word (not keyed: callers mix it with a key).
#[inline]
pub(crate) fn fold(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let v = u128::from(v6);
            (v as u64) ^ ((v >> 64) as u64).rotate_left(29) ^ 0x6a09_e667_f3bc_c909
        }
    }
}

/// A keyed hasher for keys written as a few whole words (session keys):
/// one 64×64→128-bit multiply per word, with per-table random keys so
/// that outer addresses chosen by an attacker cannot be made to collide
/// at will.
#[derive(Clone, Copy)]
pub struct WordHasherBuilder {
    k0: u64,
    k1: u64,
}

impl WordHasherBuilder {
    /// Keys from the process's random source (std's `RandomState`).
    pub fn random() -> Self {
        use core::hash::{BuildHasher, Hasher};
        let r = std::collections::hash_map::RandomState::new();
        let mut a = r.build_hasher();
        a.write_u64(0x6d69_7272_6f72);
        let mut b = r.build_hasher();
        b.write_u64(0x0077_6174_6368);
        WordHasherBuilder {
            k0: a.finish() | 1,
            k1: b.finish(),
        }
    }

    /// The key's odd random multiplier, for a one-multiply keyed index.
    pub fn multiplier(&self) -> u64 {
        self.k0
    }
}

impl core::hash::BuildHasher for WordHasherBuilder {
    type Hasher = WordHasher;
    #[inline]
    fn build_hasher(&self) -> WordHasher {
        WordHasher {
            state: self.k1,
            k0: self.k0,
        }
    }
}

pub struct WordHasher {
    state: u64,
    k0: u64,
}

impl core::hash::Hasher for WordHasher {
    #[inline]
    fn write_u64(&mut self, w: u64) {
        let x = u128::from(self.state ^ w) * u128::from(self.k0);
        self.state = (x as u64) ^ ((x >> 64) as u64);
    }
    #[inline]
    fn write_u128(&mut self, w: u128) {
        self.write_u64(w as u64);
        self.write_u64((w >> 64) as u64);
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut t = [0u8; 8];
            t[..c.len()].copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(t));
        }
    }
    #[inline]
    fn finish(&self) -> u64 {
        let x = u128::from(self.state.rotate_left(29) ^ self.k0) * 0x9e37_79b9_7f4a_7c15u128;
        (x as u64) ^ ((x >> 64) as u64)
    }
}

/// Two-input 64-bit mix (multiply-fold), order-sensitive.
#[inline]
fn mix(a: u64, b: u64) -> u64 {
    let x = (u128::from(a ^ 0x243f_6a88_85a3_08d3)) * u128::from(b ^ 0x1319_8a2e_0370_7344);
    let y = (x as u64) ^ ((x >> 64) as u64);
    let z = (u128::from(y ^ a.rotate_left(23))) * 0x9e37_79b9_7f4a_7c15u128;
    (z as u64) ^ ((z >> 64) as u64)
}

/// The transport payload of an IP packet (TCP, UDP), if any.
pub fn transport_payload<'a>(ip: &InnerIp<'a>) -> &'a [u8] {
    if ip.fragment {
        return &[];
    }
    let l4 = ip.packet.get(ip.l4_offset..).unwrap_or(&[]);
    let at = match ip.protocol {
        6 if l4.len() >= 20 => usize::from(l4[12] >> 4) * 4,
        17 if l4.len() >= 8 => 8,
        _ => return &[],
    };
    l4.get(at..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Decoder, DecoderConfig, LinkType};

    #[test]
    fn tail_words_equal_a_zero_padded_copy() {
        let data: Vec<u8> = (1..=40).collect();
        for len in 1..=data.len() {
            let d = &data[..len];
            let r = len % 16;
            if r == 0 {
                continue;
            }
            let mut t = [0u8; 16];
            t[..r].copy_from_slice(&d[len - r..]);
            let want = (
                u64::from_le_bytes(t[..8].try_into().expect("8 bytes")),
                u64::from_le_bytes(t[8..].try_into().expect("8 bytes")),
            );
            assert_eq!(tail_words(d, r), want, "length {len}");
        }
    }

    fn ipv4_tcp(ttl: u8, dscp: u8, csum: u16) -> Vec<u8> {
        let mut p = vec![
            0x45,
            dscp,
            0,
            44,
            0x12,
            0x34,
            0x40,
            0,
            ttl,
            6,
            (csum >> 8) as u8,
            csum as u8,
            10,
            0,
            0,
            1,
            203,
            0,
            113,
            5,
        ];
        p.extend_from_slice(&[
            0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 2, 0x50, 0x18, 1, 0, 0, 0, 0, 0,
        ]);
        p.extend_from_slice(b"abcd");
        p
    }

    fn fp(f: &Fingerprinter, pkt: &[u8]) -> u64 {
        let d = Decoder::new(&DecoderConfig::default());
        let dec = d.decode(LinkType::RawIp, pkt.len() as u32, pkt);
        f.packet(&dec.inner.expect("ip")).expect("fingerprint")
    }

    #[test]
    fn ignores_what_copies_change() {
        let f = Fingerprinter::new([1, 2, 3, 4]);
        let a = fp(&f, &ipv4_tcp(64, 0, 0x1111));
        assert_eq!(a, fp(&f, &ipv4_tcp(63, 0xb8, 0x2222)));
        let mut other = ipv4_tcp(64, 0, 0x1111);
        *other.last_mut().expect("payload") = b'e';
        assert_ne!(a, fp(&f, &other));
        let mut other = ipv4_tcp(64, 0, 0x1111);
        other[5] = 0x35; // identification
        assert_ne!(a, fp(&f, &other));
    }

    #[test]
    fn flow_pair_is_reversible() {
        let f = Fingerprinter::new([1, 2, 3, 4]);
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let h = f.flow_pair(a, b, 1000, 80, 6);
        let r = f.flow_pair(b, a, 80, 1000, 6);
        assert_eq!((h.fwd, h.rev), (r.rev, r.fwd));
        assert_eq!(h.canonical, r.canonical);
        assert!(h.canonical == h.fwd || h.canonical == h.rev);
        assert_ne!(h.fwd, h.rev);
        assert_ne!(h.fwd, f.flow_pair(a, b, 1001, 80, 6).fwd);
    }

    /// The distinct-flow count of a session (HyperLogLog over the
    /// canonical flow hash) stays within 3 standard errors (1.04/sqrt(256),
    /// 6.5 % each) of the truth, each flow seen in both directions.
    #[test]
    fn distinct_flow_estimate_within_three_standard_errors() {
        use super::super::sketch::Hll;
        use core::net::Ipv4Addr;
        let f = Fingerprinter::new(super::super::fingerprint_key_for_tests());
        let se = 1.04 / 16.0;
        for n in [1_000u32, 100_000, 1_000_000] {
            let mut hll = Hll::default();
            for i in 0..n {
                // Clients in 10.0.0.0/12 with ephemeral ports talking to a
                // few servers: the structure of real inner traffic.
                let client = IpAddr::from(Ipv4Addr::from(0x0a00_0000 + (i / 7) % (1 << 20)));
                let server = IpAddr::from(Ipv4Addr::new(192, 168, 1, (i % 7) as u8 + 1));
                let sport = 32768 + (i % 28_000) as u16;
                let dport = [443u16, 80, 5432, 53, 22, 3306, 8080][(i % 7) as usize];
                let proto = if dport == 53 { 17 } else { 6 };
                hll.insert(f.flow_pair(client, server, sport, dport, proto).canonical);
                hll.insert(f.flow_pair(server, client, dport, sport, proto).canonical);
            }
            let est = hll.estimate() as f64;
            let err = (est - f64::from(n)).abs() / f64::from(n);
            eprintln!("{n} flows: estimate {est} ({:.1} %)", err * 100.0);
            assert!(
                err <= 3.0 * se,
                "{n} flows estimated as {est} ({:.1} %)",
                err * 100.0
            );
        }
    }

    #[test]
    fn payload_digest_depends_on_every_byte_its_position_and_the_key() {
        let f = Fingerprinter::new([1, 2, 3, 4]);
        // 100 bytes: all in the hashed prefix, middle and suffix.
        let base: Vec<u8> = (0u8..=99).collect();
        let h = f.payload(&base);
        for i in 0..base.len() {
            let mut v = base.clone();
            v[i] ^= 1;
            assert_ne!(f.payload(&v), h, "byte {i}");
        }
        // Swapping two 16-byte chunks changes it (positions are keyed).
        let mut swapped = base.clone();
        swapped[..32].rotate_left(16);
        assert_ne!(f.payload(&swapped), h);
        assert_ne!(Fingerprinter::new([5, 2, 3, 4]).payload(&base), h);
        assert_ne!(f.payload(&base[..99]), h);
        assert_ne!(f.payload(&[]), f.payload(&[0]));
        // Bytes between the digest prefix and suffix of a long payload are
        // left out by design (prefix 128, suffix 32).
        let long = vec![9u8; 1000];
        let mut other = long.clone();
        other[500] = 1;
        assert_eq!(f.payload(&long), f.payload(&other));
    }

    #[test]
    fn combined_matches_separate() {
        let f = Fingerprinter::new([9, 8, 7, 6]);
        let d = Decoder::new(&DecoderConfig::default());
        for len in [0usize, 3, 63, 64, 65, 127, 128, 129, 200, 1400] {
            let mut pkt = ipv4_tcp(64, 0, 0);
            pkt.truncate(40);
            pkt.extend((0..len).map(|i| (i * 7 + len) as u8));
            let total = pkt.len() as u16;
            pkt[2..4].copy_from_slice(&total.to_be_bytes());
            let dec = d.decode(LinkType::RawIp, pkt.len() as u32, &pkt);
            let ip = dec.inner.expect("ip");
            let payload = transport_payload(&ip);
            assert_eq!(payload.len(), len);
            let (fp, digest) = f.packet_and_payload(&ip, 64);
            assert_eq!(fp, f.packet(&ip));
            assert_eq!(digest, (len >= 64).then(|| f.payload(payload)), "len {len}");
            assert_eq!(f.packet_and_payload(&ip, usize::MAX).1, None);
        }
    }

    #[test]
    fn payload_digest() {
        let f = Fingerprinter::new([1, 2, 3, 4]);
        let a = vec![7u8; 1000];
        let mut b = a.clone();
        assert_eq!(f.payload(&a), f.payload(&b));
        b[999] = 8;
        assert_ne!(f.payload(&a), f.payload(&b));
        let pkt = ipv4_tcp(64, 0, 0);
        let d = Decoder::new(&DecoderConfig::default());
        let dec = d.decode(LinkType::RawIp, pkt.len() as u32, &pkt);
        assert_eq!(transport_payload(&dec.inner.expect("ip")), b"abcd");
    }
}
