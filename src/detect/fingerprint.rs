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
const DIGEST_PREFIX: usize = 256;
const DIGEST_SUFFIX: usize = 32;

/// Keyed hashing for fingerprints. The key is per process unless fixed.
pub struct Fingerprinter {
    state: ahash::RandomState,
}

impl Fingerprinter {
    pub fn new(key: [u64; 4]) -> Self {
        Fingerprinter {
            state: ahash::RandomState::with_seeds(key[0], key[1], key[2], key[3]),
        }
    }

    /// Fingerprint of an IP packet, or None if its headers are too short.
    #[inline]
    pub fn packet(&self, ip: &InnerIp<'_>) -> Option<u64> {
        let p = ip.packet;
        let mut buf = [0u8; 128];
        let mut n = 0;
        let mut put = |b: &[u8]| {
            let k = b.len().min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&b[..k]);
            n += k;
        };
        match p.first()? >> 4 {
            4 if p.len() >= 20 => {
                put(&p[12..20]); // addresses
                put(&p[9..10]); // protocol
                put(&p[4..8]); // identification, flags, fragment offset
                put(&p[2..4]); // total length
            }
            6 if p.len() >= 40 => {
                put(&p[8..40]);
                put(&p[4..7]); // payload length, next header
                put(&[p[1] & 0x0f, p[2], p[3]]); // flow label
            }
            _ => return None,
        }
        if !ip.fragment {
            let l4 = p.get(ip.l4_offset..).unwrap_or(&[]);
            let payload_at = match ip.protocol {
                6 if l4.len() >= 20 => {
                    put(&l4[0..12]); // ports, sequence, acknowledgement
                    put(&l4[13..14]); // flags
                    usize::from(l4[12] >> 4) * 4
                }
                17 if l4.len() >= 8 => {
                    put(&l4[0..6]); // ports, length
                    8
                }
                1 | 58 if l4.len() >= 8 => {
                    put(&l4[0..2]);
                    put(&l4[4..8]);
                    8
                }
                _ => 0,
            };
            let payload = l4.get(payload_at..).unwrap_or(&[]);
            put(&payload[..payload.len().min(PAYLOAD_PREFIX)]);
        }
        Some(self.state.hash_one(&buf[..n]))
    }

    /// Digest of a transport payload (prefix, suffix and length).
    #[inline]
    pub fn payload(&self, payload: &[u8]) -> u64 {
        let head = &payload[..payload.len().min(DIGEST_PREFIX)];
        let tail = &payload[payload.len().saturating_sub(DIGEST_SUFFIX)..];
        self.state.hash_one((payload.len(), head, tail))
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
