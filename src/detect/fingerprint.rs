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

/// Keyed hashing for fingerprints. The key is per process unless fixed.
pub struct Fingerprinter {
    state: ahash::RandomState,
    key: [u64; 4],
}

impl Fingerprinter {
    pub fn new(key: [u64; 4]) -> Self {
        Fingerprinter {
            state: ahash::RandomState::with_seeds(key[0], key[1], key[2], key[3]),
            key,
        }
    }

    /// Fingerprint of an IP packet, or None if its headers are too short.
    /// The kept fields are read as whole words and mixed; the payload
    /// prefix goes through [`keyed_hash`].
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
        let k = &self.key;
        let Some(&first) = p.first() else {
            return (None, None);
        };
        let mut h = match first >> 4 {
            4 if p.len() >= 20 => {
                // addresses; protocol, identification, flags and fragment
                // offset, total length (not TTL, checksum, DSCP/ECN)
                let meta = (u64::from(p[9]) << 48)
                    | (u64::from(be32(p, 4)) << 16)
                    | u64::from(be32(p, 0) & 0xffff);
                mix(be64(p, 12) ^ k[0], meta ^ k[1])
            }
            6 if p.len() >= 40 => {
                // addresses; payload length, next header, flow label (not
                // hop limit or traffic class)
                let meta = (u64::from(be32(p, 4) >> 8) << 20) | u64::from(be32(p, 0) & 0x000f_ffff);
                let a = mix(be64(p, 8) ^ k[0], be64(p, 16) ^ k[1]);
                let b = mix(be64(p, 24) ^ k[2], be64(p, 32) ^ k[3]);
                mix(a ^ meta, b)
            }
            _ => return (None, None),
        };
        let mut digest = None;
        if !ip.fragment {
            let l4 = p.get(ip.l4_offset..).unwrap_or(&[]);
            let (fields, payload_at, transport) = match ip.protocol {
                // ports, sequence, acknowledgement, flags
                6 if l4.len() >= 20 => (
                    mix(
                        be64(l4, 0),
                        (u64::from(be32(l4, 8)) << 8) | u64::from(l4[13]),
                    ),
                    usize::from(l4[12] >> 4) * 4,
                    true,
                ),
                // ports, length
                17 if l4.len() >= 8 => (be64(l4, 0) >> 16, 8, true),
                // type, code, identifier, sequence
                1 | 58 if l4.len() >= 8 => (be64(l4, 0) & 0xffff_0000_ffff_ffff, 8, false),
                _ => (0, 0, false),
            };
            let payload = l4.get(payload_at..).unwrap_or(&[]);
            let prefix = self.prefix(payload);
            if transport && payload.len() >= min_payload {
                digest = Some(self.finish_payload(prefix, payload));
            }
            h = mix(h ^ fields, prefix ^ h.rotate_left(31));
        }
        (Some(h), digest)
    }

    /// Keyed hash of a payload's first [`PAYLOAD_PREFIX`] bytes.
    #[inline(always)]
    fn prefix(&self, payload: &[u8]) -> u64 {
        keyed_hash(&self.key, &payload[..payload.len().min(PAYLOAD_PREFIX)], 0)
    }

    /// The payload digest from the prefix hash: bytes up to
    /// [`DIGEST_PREFIX`], the last [`DIGEST_SUFFIX`] bytes and the length.
    #[inline(always)]
    fn finish_payload(&self, prefix: u64, payload: &[u8]) -> u64 {
        let mid = payload
            .get(PAYLOAD_PREFIX..payload.len().min(DIGEST_PREFIX))
            .unwrap_or(&[]);
        let tail = &payload[payload.len().saturating_sub(DIGEST_SUFFIX)..];
        keyed_hash(
            &self.key,
            mid,
            keyed_hash(&self.key, tail, prefix ^ payload.len() as u64),
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
    ) -> (u64, u64) {
        let a = fold(src) ^ (u64::from(sport) << 48);
        let b = fold(dst) ^ (u64::from(dport) << 48);
        let p = u64::from(proto);
        (mix(a, b ^ p), mix(b, a ^ p))
    }

    /// A general keyed hash.
    #[inline]
    pub fn hash<T: core::hash::Hash>(&self, v: T) -> u64 {
        self.state.hash_one(v)
    }
}

/// A keyed hash over bytes, 16 at a time with one 64×64→128-bit multiply
/// per step (in the manner of wyhash): several times faster than a
/// byte-oriented hasher on the per-packet path.
#[inline]
fn keyed_hash(key: &[u64; 4], data: &[u8], seed: u64) -> u64 {
    let mut h = seed ^ key[0] ^ (data.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        let a = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let b = u64::from_le_bytes([c[8], c[9], c[10], c[11], c[12], c[13], c[14], c[15]]);
        h = fold_mul(a ^ key[1], b ^ key[2] ^ h);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut t = [0u8; 16];
        t[..rest.len()].copy_from_slice(rest);
        let a = u64::from_le_bytes([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]]);
        let b = u64::from_le_bytes([t[8], t[9], t[10], t[11], t[12], t[13], t[14], t[15]]);
        h = fold_mul(a ^ key[1], b ^ key[3] ^ h);
    }
    mix(h, key[3] ^ data.len() as u64)
}

/// One 64×64→128-bit multiply, folded to 64 bits.
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let x = u128::from(a) * u128::from(b);
    (x as u64) ^ ((x >> 64) as u64)
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

#[inline]
fn fold(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let v = u128::from(v6);
            (v as u64) ^ ((v >> 64) as u64).rotate_left(29) ^ 0x6a09_e667_f3bc_c909
        }
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
        let (fwd, rev) = f.flow_pair(a, b, 1000, 80, 6);
        let (fwd2, rev2) = f.flow_pair(b, a, 80, 1000, 6);
        assert_eq!((fwd, rev), (rev2, fwd2));
        assert_ne!(fwd, rev);
        assert_ne!(fwd, f.flow_pair(a, b, 1001, 80, 6).0);
    }

    #[test]
    fn keyed_hash_depends_on_every_byte_and_the_key() {
        let k = [1, 2, 3, 4];
        let base: Vec<u8> = (0u8..=99).collect();
        let h = keyed_hash(&k, &base, 0);
        for i in 0..base.len() {
            let mut v = base.clone();
            v[i] ^= 1;
            assert_ne!(keyed_hash(&k, &v, 0), h, "byte {i}");
        }
        assert_ne!(keyed_hash(&[5, 2, 3, 4], &base, 0), h);
        assert_ne!(keyed_hash(&k, &base[..99], 0), h);
        assert_ne!(keyed_hash(&k, &[], 0), keyed_hash(&k, &[0], 0));
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
