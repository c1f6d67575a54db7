//! Deliberately broken frames for decoder robustness tests.
//!
//! Frames are Ethernet (or empty), never padded, so every length is exactly
//! as described. Outer IPv4 addresses are 10.66.1.<n> -> 10.66.0.10 so
//! nothing here can be mistaken for the real session of the `malformed`
//! scenario (10.66.0.1 -> 10.66.0.10).

use std::net::Ipv4Addr;

use super::Stack;
use super::build::{
    ETHERTYPE_ERSPAN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_MPLS, ETHERTYPE_TEB,
    ETHERTYPE_VLAN, ErspanII, GRE_FLAG_SEQ, IPPROTO_GRE, IPPROTO_ICMP, IPPROTO_UDP, Ipv4, Ipv6,
    PORT_GENEVE, PORT_TZSP, PORT_VXLAN, erspan2_header_with_version, ethernet_into, geneve_into,
    gre_erspan2_into, icmp_echo_into, ipv4_fix_checksum, ipv4_into, ipv6_into, mpls_entry,
    udp_no_checksum_into, vxlan_into,
};

/// Number of distinct malformed samples.
pub(crate) const MALFORMED_KINDS: usize = 15;

/// Nesting depth of the VXLAN-in-VXLAN sample.
pub(crate) const NESTED_VXLAN_LAYERS: u8 = 10;

const DST_MAC: [u8; 6] = [0x00, 0x1b, 0x21, 0x66, 0x00, 0x0a];
const SRC_MAC: [u8; 6] = [0x00, 0x0c, 0x29, 0x66, 0x01, 0x01];

fn src(octet: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 66, 1, octet)
}

const DST: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 10);

fn erspan_h() -> ErspanII {
    ErspanII {
        session_id: 3,
        index: 99,
        ..ErspanII::default()
    }
}

/// A small ICMP echo frame used as mirrored content.
fn inner_frame(st: &mut Stack) {
    st.cur.clear();
    icmp_echo_into(&mut st.cur, true, 0x6666, 1, &[0x61; 32]);
    let h = Ipv4::new(
        Ipv4Addr::new(192, 168, 66, 5),
        Ipv4Addr::new(192, 168, 66, 6),
        IPPROTO_ICMP,
    );
    st.wrap(|o, p| ipv4_into(o, &h, p));
    st.wrap(|o, p| {
        ethernet_into(
            o,
            [0x52, 0x54, 0x00, 0x66, 0x00, 0x06],
            [0x52, 0x54, 0x00, 0x66, 0x00, 0x05],
            ETHERTYPE_IPV4,
            p,
        );
    });
}

fn v4(st: &mut Stack, src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) {
    let h = Ipv4::new(src, dst, protocol);
    st.wrap(|o, p| ipv4_into(o, &h, p));
}

fn eth(st: &mut Stack, ethertype: u16) {
    st.wrap(|o, p| ethernet_into(o, DST_MAC, SRC_MAC, ethertype, p));
}

fn set(st: &mut Stack, bytes: &[u8]) {
    st.cur.clear();
    st.cur.extend_from_slice(bytes);
}

/// Builds malformed sample `kind` (0..[`MALFORMED_KINDS`]) into `st.cur`;
/// `octet` is the last octet of the outer source address.
///
/// 0 GRE header cut short (2 of 4 bytes); 1 ERSPAN II header cut short (4 of
/// 8 bytes); 2 ERSPAN II with version nibble 7; 3 VXLAN header cut short (4
/// of 8 bytes); 4 Geneve option length 63 words with 8 bytes present; 5 TZSP
/// tag list without END tag; 6 IPv4 IHL 3; 7 IPv6 header cut short (20 of 40
/// bytes); 8 UDP length 1000 in a 68-byte datagram (VXLAN port); 9 802.1Q tag
/// cut short (2 of 4 bytes); 10 MPLS stack of two entries without
/// bottom-of-stack; 11 ten nested VXLAN layers; 12 IPv4 non-first fragment
/// (offset 1480) whose payload looks like GRE/ERSPAN II session 3; 13
/// zero-length frame; 14 one-byte frame.
pub(crate) fn malformed_frame(kind: usize, octet: u8, st: &mut Stack) {
    let s = src(octet);
    match kind % MALFORMED_KINDS {
        0 => {
            set(st, &GRE_FLAG_SEQ.to_be_bytes());
            v4(st, s, DST, IPPROTO_GRE);
            eth(st, ETHERTYPE_IPV4);
        }
        1 => {
            st.cur.clear();
            gre_erspan2_into(&mut st.cur, 1, &erspan_h(), &[]);
            st.cur.truncate(8 + 4);
            v4(st, s, DST, IPPROTO_GRE);
            eth(st, ETHERTYPE_IPV4);
        }
        2 => {
            inner_frame(st);
            let hdr = erspan2_header_with_version(&erspan_h(), 7);
            st.wrap(|o, p| {
                o.extend_from_slice(&GRE_FLAG_SEQ.to_be_bytes());
                o.extend_from_slice(&ETHERTYPE_ERSPAN.to_be_bytes());
                o.extend_from_slice(&2u32.to_be_bytes());
                o.extend_from_slice(&hdr);
                o.extend_from_slice(p);
            });
            v4(st, s, DST, IPPROTO_GRE);
            eth(st, ETHERTYPE_IPV4);
        }
        3 => {
            set(st, &[0x08, 0, 0, 0]);
            st.wrap(|o, p| udp_no_checksum_into(o, 49200, PORT_VXLAN, p));
            v4(st, s, DST, IPPROTO_UDP);
            eth(st, ETHERTYPE_IPV4);
        }
        4 => {
            st.cur.clear();
            geneve_into(&mut st.cur, 77, ETHERTYPE_TEB, &[], &[]);
            st.cur[0] = 0x3f;
            st.cur
                .extend_from_slice(&[0xff, 0xff, 0x01, 0x01, 0, 0, 0, 1]);
            st.wrap(|o, p| udp_no_checksum_into(o, 49201, PORT_GENEVE, p));
            v4(st, s, DST, IPPROTO_UDP);
            eth(st, ETHERTYPE_IPV4);
        }
        5 => {
            set(st, &[1, 0, 0, 1, 10, 1, 0xc4, 40, 4, 0, 0, 0, 1]);
            st.wrap(|o, p| udp_no_checksum_into(o, 49202, PORT_TZSP, p));
            v4(st, s, DST, IPPROTO_UDP);
            eth(st, ETHERTYPE_IPV4);
        }
        6 => {
            inner_frame(st);
            st.wrap(|o, p| gre_erspan2_into(o, 6, &erspan_h(), p));
            v4(st, s, DST, IPPROTO_GRE);
            st.cur[0] = 0x43;
            ipv4_fix_checksum(&mut st.cur);
            eth(st, ETHERTYPE_IPV4);
        }
        7 => {
            inner_frame(st);
            st.wrap(|o, p| vxlan_into(o, 77, p));
            st.wrap(|o, p| udp_no_checksum_into(o, 49203, PORT_VXLAN, p));
            let h = Ipv6::new(
                std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x66, 1, 0, 0, 0, u16::from(octet)),
                std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x66, 0, 0, 0, 0, 0x10),
                IPPROTO_UDP,
            );
            st.wrap(|o, p| ipv6_into(o, &h, p));
            st.cur.truncate(20);
            eth(st, ETHERTYPE_IPV6);
        }
        8 => {
            set(st, &[0x08, 0, 0, 0, 0, 0, 77, 0]);
            st.cur.extend_from_slice(&[0x5a; 52]);
            st.wrap(|o, p| udp_no_checksum_into(o, 49204, PORT_VXLAN, p));
            st.cur[4..6].copy_from_slice(&1000u16.to_be_bytes());
            v4(st, s, DST, IPPROTO_UDP);
            eth(st, ETHERTYPE_IPV4);
        }
        9 => {
            set(st, &[0x00, 0x0a]);
            eth(st, ETHERTYPE_VLAN);
        }
        10 => {
            set(st, &mpls_entry(100, 0, false, 64));
            st.cur.extend_from_slice(&mpls_entry(200, 0, false, 64));
            eth(st, ETHERTYPE_MPLS);
        }
        11 => {
            inner_frame(st);
            for layer in (1..=NESTED_VXLAN_LAYERS).rev() {
                let vni = 1000 + u32::from(layer);
                let (a, b) = if layer == 1 {
                    (s, DST)
                } else {
                    (
                        Ipv4Addr::new(10, 66, 2, layer),
                        Ipv4Addr::new(10, 66, 3, layer),
                    )
                };
                st.wrap(|o, p| vxlan_into(o, vni, p));
                st.wrap(|o, p| udp_no_checksum_into(o, 49300 + u16::from(layer), PORT_VXLAN, p));
                v4(st, a, b, IPPROTO_UDP);
                eth(st, ETHERTYPE_IPV4);
            }
        }
        12 => {
            inner_frame(st);
            st.wrap(|o, p| gre_erspan2_into(o, 12, &erspan_h(), p));
            let mut h = Ipv4::new(s, DST, IPPROTO_GRE);
            h.dont_fragment = false;
            h.more_fragments = false;
            h.fragment_offset = 1480 / 8;
            h.identification = 0x6612;
            st.wrap(|o, p| ipv4_into(o, &h, p));
            eth(st, ETHERTYPE_IPV4);
        }
        13 => st.cur.clear(),
        _ => set(st, &[0x00]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_have_expected_shapes() {
        let mut st = Stack::default();
        let mut lens = Vec::new();
        for k in 0..MALFORMED_KINDS {
            malformed_frame(k, 1, &mut st);
            lens.push(st.cur.len());
        }
        assert_eq!(lens[0], 14 + 20 + 2);
        assert_eq!(lens[1], 14 + 20 + 12);
        assert_eq!(lens[3], 14 + 20 + 8 + 4);
        assert_eq!(lens[7], 14 + 20);
        assert_eq!(lens[9], 16);
        assert_eq!(lens[10], 22);
        assert_eq!(lens[13], 0);
        assert_eq!(lens[14], 1);
        malformed_frame(6, 1, &mut st);
        assert_eq!(st.cur[14], 0x43);
        malformed_frame(11, 1, &mut st);
        // Ten VXLAN layers of 50 bytes around a 74-byte ICMP frame.
        assert_eq!(st.cur.len(), 10 * 50 + 74);
    }
}
