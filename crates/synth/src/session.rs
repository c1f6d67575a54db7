//! Mirror/tunnel sessions: wrap an inner Ethernet frame in a tunnel, an outer
//! IP header and a link-layer header.

use std::net::IpAddr;

use super::Stack;
use super::build::{
    BSD_AF_INET, BSD_AF_INET6_BSD, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_MPLS, ETHERTYPE_QINQ,
    ETHERTYPE_TEB, ETHERTYPE_VLAN, ErspanII, ErspanIII, GPE_NEXT_ETHERNET, GPE_NEXT_IPV4,
    GPE_NEXT_IPV6, GeneveOption, Gre, IPPROTO_GRE, IPPROTO_UDP, IpPair, Mac, MplsLabel,
    PORT_GENEVE, PORT_GRE_IN_UDP, PORT_TZSP, PORT_VXLAN_GPE, SLL_HOST, TZSP_ENCAP_ETHERNET,
    TZSP_TYPE_RECEIVED, TzspTag, erspan3_platform_subheader, ethernet_into, geneve_into,
    gre_erspan1_into, gre_erspan2_into, gre_erspan3_into, gre_into, mpls_into, null_into,
    nvgre_key, pad_to_min_frame, pw_control_word, sll_into, sll2_into, tzsp_into, udp_into,
    udp_no_checksum_into, vlan_into, vxlan_gpe_into, vxlan_into,
};
use super::rng::mix;
use super::traffic::ip_layer_into_stack;

/// The tunnel a session uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tunnel {
    /// GRE 0x88BE, no sequence number, no ERSPAN header.
    ErspanI,
    /// GRE 0x88BE with sequence number + ERSPAN II header.
    ErspanII {
        session: u16,
        vlan: u16,
        en: u8,
    },
    /// GRE 0x22EB with sequence number + ERSPAN III header.
    ErspanIII {
        session: u16,
        hw_id: u8,
        sgt: u16,
    },
    Vxlan {
        vni: u32,
        port: u16,
    },
    VxlanGpe {
        vni: u32,
    },
    /// `l3`: carry the inner IP packet (protocol 0x0800/0x86DD) instead of
    /// the Ethernet frame (0x6558).
    Geneve {
        vni: u32,
        options: bool,
        l3: bool,
    },
    GreTeb {
        key: u32,
    },
    NvGre {
        vsid: u32,
        flow_id: u8,
    },
    /// GRE carrying the inner IP packet.
    GreIp {
        checksum: bool,
        key: Option<u32>,
        seq: bool,
    },
    /// GRE (no key) carrying the inner IP packet, in UDP 4754.
    GreInUdp,
    Tzsp,
}

/// The outer link layer of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Link {
    Ethernet,
    /// 802.1ad outer tag then 802.1Q inner tag.
    QinQ {
        outer_vid: u16,
        inner_vid: u16,
    },
    /// Ethernet, MPLS label stack, outer IP.
    Mpls {
        labels: [u32; 2],
    },
    /// Ethernet, MPLS label stack, optional control word, provider Ethernet
    /// frame, outer IP.
    EoMpls {
        labels: [u32; 2],
        control_word: bool,
    },
    Sll,
    Sll2,
    Raw,
    Null,
}

/// Per-packet variations of a session's encapsulation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tweaks {
    /// ERSPAN III D bit.
    pub egress: bool,
    /// ERSPAN III O bit + platform subheader.
    pub platform: bool,
    /// ERSPAN II/III: set T and cut the inner frame to this many bytes.
    pub truncate: Option<usize>,
    /// VXLAN-GPE: carry the inner IP packet instead of the Ethernet frame.
    pub l3: bool,
    /// ERSPAN II/III VLAN field (default: the session's).
    pub vlan: Option<u16>,
    /// `LINKTYPE_NULL` family for IPv6 outer packets (0 = 24).
    pub null_af6: u32,
    /// IPv6 outer: add hop-by-hop + destination options headers.
    pub ipv6_ext: bool,
    /// IPv4 outer: add a router-alert option.
    pub ipv4_options: bool,
    /// Flow hash for UDP source ports and IPv6 flow labels.
    pub entropy: u16,
}

/// Largest outer frame produced for the benchmark and scenario traffic.
pub(crate) const MAX_OUTER_FRAME: usize = 1514;

#[derive(Clone, Debug)]
pub(crate) struct Session {
    link: Link,
    outer: IpPair,
    tunnel: Tunnel,
    inner: Option<Box<Session>>,
    /// (dst, src) of the outer Ethernet header.
    macs: (Mac, Mac),
    gre_seq: u32,
    index: u32,
    ip_id: u16,
    pw_seq: u16,
    /// Largest inner frame that keeps the outer frame within 1514 bytes.
    pub(crate) max_frame: usize,
}

/// What a detector should report for a session: encapsulation name, outer
/// source, outer destination and id.
pub(crate) type SessionKey = (&'static str, IpAddr, IpAddr, Option<u32>);

impl Session {
    pub(crate) fn new(link: Link, outer: IpPair, tunnel: Tunnel) -> Self {
        let h = mix(
            0x5e55,
            u64::from(outer.src().is_ipv6()) ^ key_hash(outer.src()) ^ key_hash(outer.dst()) << 1,
        );
        let b = h.to_be_bytes();
        let mut s = Self {
            link,
            outer,
            tunnel,
            inner: None,
            // Collector-side router and the mirroring switch (OUIs of common vendors).
            macs: (
                [0x00, 0x1b, 0x21, b[0], b[1], b[2]],
                [0x00, 0x0c, 0x29, b[3], b[4], b[5]],
            ),
            gre_seq: (h >> 40) as u32 & 0xffff,
            index: 0,
            ip_id: (h >> 16) as u16,
            pw_seq: 0,
            max_frame: MAX_OUTER_FRAME,
        };
        s.max_frame = s.measure();
        s
    }

    /// Puts `inner` inside this session: frames are first encapsulated by
    /// `inner`, and the result is mirrored by `self`.
    pub(crate) fn nested(mut self, inner: Session) -> Self {
        self.inner = Some(Box::new(inner));
        self.max_frame = self.measure();
        self
    }

    /// Worst-case overhead measured on a clone; returns the largest inner
    /// frame that fits in [`MAX_OUTER_FRAME`].
    fn measure(&self) -> usize {
        let mut probe = self.clone();
        let mut st = Stack::default();
        st.cur.resize(64, 0);
        st.cur[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        st.cur[14] = 0x45;
        let tw = Tweaks {
            platform: true,
            ipv6_ext: true,
            ipv4_options: true,
            ..Tweaks::default()
        };
        probe.encap(&mut st, &tw, 0);
        (MAX_OUTER_FRAME + 64)
            .saturating_sub(st.cur.len())
            .clamp(64, MAX_OUTER_FRAME)
    }

    /// The key of this session and of any nested sessions, outermost first.
    pub(crate) fn keys(&self, out: &mut Vec<SessionKey>) {
        let (encap, id) = match self.tunnel {
            Tunnel::ErspanI => ("erspan1", None),
            Tunnel::ErspanII { session, .. } => ("erspan2", Some(u32::from(session))),
            Tunnel::ErspanIII { session, .. } => ("erspan3", Some(u32::from(session))),
            Tunnel::Vxlan { vni, .. } => ("vxlan", Some(vni)),
            Tunnel::VxlanGpe { vni } => ("vxlan-gpe", Some(vni)),
            Tunnel::Geneve { vni, .. } => ("geneve", Some(vni)),
            Tunnel::GreTeb { key } => ("gre-teb", Some(key)),
            Tunnel::NvGre { vsid, flow_id } => ("gre-teb", Some(nvgre_key(vsid, flow_id))),
            Tunnel::GreIp { key, .. } => ("gre", key),
            Tunnel::GreInUdp => ("gre", None),
            Tunnel::Tzsp => ("tzsp", None),
        };
        out.push((encap, self.outer.src(), self.outer.dst(), id));
        if let Some(inner) = &self.inner {
            inner.keys(out);
        }
    }

    /// Encapsulates the Ethernet frame in `st.cur` (nested sessions first).
    pub(crate) fn encap(&mut self, st: &mut Stack, tw: &Tweaks, ts_us: i64) {
        if let Some(inner) = self.inner.as_deref_mut() {
            let itw = Tweaks {
                entropy: tw.entropy,
                ..Tweaks::default()
            };
            inner.encap(st, &itw, ts_us);
        }
        let seq = self.gre_seq;
        self.gre_seq = self.gre_seq.wrapping_add(1);
        let udp_port = match self.tunnel {
            Tunnel::ErspanI => {
                st.wrap(gre_erspan1_into);
                None
            }
            Tunnel::ErspanII { session, vlan, en } => {
                let truncated = truncate(st, tw.truncate);
                self.index = (self.index + 1) & 0xf_ffff;
                let h = ErspanII {
                    vlan: tw.vlan.unwrap_or(vlan),
                    cos: 0,
                    encap_type: en,
                    truncated,
                    session_id: session,
                    index: self.index,
                };
                st.wrap(|o, p| gre_erspan2_into(o, seq, &h, p));
                None
            }
            Tunnel::ErspanIII {
                session,
                hw_id,
                sgt,
            } => {
                let truncated = truncate(st, tw.truncate);
                self.index = self.index.wrapping_add(1);
                let secs = ts_us.div_euclid(1_000_000) as u32;
                let h = ErspanIII {
                    vlan: tw.vlan.unwrap_or(0),
                    truncated,
                    session_id: session,
                    // Granularity 0: units of 100 microseconds.
                    timestamp: (ts_us.div_euclid(100) & 0xffff_ffff) as u32,
                    sgt,
                    // P: the payload is an Ethernet PDU (frame type 0).
                    p: true,
                    frame_type: 0,
                    hw_id,
                    egress: tw.egress,
                    granularity: 0,
                    platform: tw
                        .platform
                        .then(|| erspan3_platform_subheader(3, (self.index & 0x3fff) as u16, secs)),
                    ..ErspanIII::default()
                };
                st.wrap(|o, p| gre_erspan3_into(o, seq, &h, p));
                None
            }
            Tunnel::Vxlan { vni, port } => {
                st.wrap(|o, p| vxlan_into(o, vni, p));
                Some(port)
            }
            Tunnel::VxlanGpe { vni } => {
                let next = if tw.l3 {
                    match strip_l2(st) {
                        ETHERTYPE_IPV6 => GPE_NEXT_IPV6,
                        _ => GPE_NEXT_IPV4,
                    }
                } else {
                    GPE_NEXT_ETHERNET
                };
                st.wrap(|o, p| vxlan_gpe_into(o, vni, next, p));
                Some(PORT_VXLAN_GPE)
            }
            Tunnel::Geneve { vni, options, l3 } => {
                let protocol = if l3 { strip_l2(st) } else { ETHERTYPE_TEB };
                let data = (u64::from(tw.entropy) << 16 | u64::from(vni)).to_be_bytes();
                let opts = [
                    GeneveOption {
                        class: 0x0103,
                        opt_type: 0x01,
                        data: &data[4..],
                    },
                    GeneveOption {
                        class: 0xffff,
                        opt_type: 0x42,
                        data: &data,
                    },
                ];
                let opts: &[GeneveOption] = if options { &opts } else { &[] };
                st.wrap(|o, p| geneve_into(o, vni, protocol, opts, p));
                Some(PORT_GENEVE)
            }
            Tunnel::GreTeb { key } => {
                let h = Gre {
                    key: Some(key),
                    protocol: ETHERTYPE_TEB,
                    ..Gre::default()
                };
                st.wrap(|o, p| gre_into(o, &h, p));
                None
            }
            Tunnel::NvGre { vsid, flow_id } => {
                let h = Gre {
                    key: Some(nvgre_key(vsid, flow_id)),
                    protocol: ETHERTYPE_TEB,
                    ..Gre::default()
                };
                st.wrap(|o, p| gre_into(o, &h, p));
                None
            }
            Tunnel::GreIp {
                checksum,
                key,
                seq: with_seq,
            } => {
                let protocol = strip_l2(st);
                let h = Gre {
                    checksum,
                    key,
                    seq: with_seq.then_some(seq),
                    protocol,
                };
                st.wrap(|o, p| gre_into(o, &h, p));
                None
            }
            Tunnel::GreInUdp => {
                let h = Gre {
                    protocol: strip_l2(st),
                    ..Gre::default()
                };
                st.wrap(|o, p| gre_into(o, &h, p));
                Some(PORT_GRE_IN_UDP)
            }
            Tunnel::Tzsp => {
                let rssi = [0xc4u8.wrapping_add((tw.entropy % 16) as u8)];
                let count = (self.index & 0xffff).to_be_bytes();
                self.index = self.index.wrapping_add(1);
                // Tag 10: signal (RSSI), 18: RX channel, 40: packet id.
                let tags = [
                    TzspTag {
                        tag: 10,
                        value: &rssi,
                    },
                    TzspTag {
                        tag: 18,
                        value: &[6],
                    },
                    TzspTag {
                        tag: 40,
                        value: &count,
                    },
                ];
                st.wrap(|o, p| tzsp_into(o, TZSP_TYPE_RECEIVED, TZSP_ENCAP_ETHERNET, &tags, p));
                Some(PORT_TZSP)
            }
        };
        let protocol = match udp_port {
            Some(dport) => {
                let sport = 49152 + tw.entropy % 16000;
                let plain_vxlan = matches!(self.tunnel, Tunnel::Vxlan { .. });
                match self.outer {
                    // Linux and most VTEPs send VXLAN over IPv4 without a UDP checksum.
                    IpPair::V4(..) if plain_vxlan => {
                        st.wrap(|o, p| udp_no_checksum_into(o, sport, dport, p))
                    }
                    addrs => st.wrap(|o, p| udp_into(o, addrs, sport, dport, p)),
                }
                IPPROTO_UDP
            }
            None => IPPROTO_GRE,
        };
        self.ip_id = self.ip_id.wrapping_add(1);
        let options = match self.outer {
            IpPair::V4(..) => tw.ipv4_options,
            IpPair::V6(..) => tw.ipv6_ext,
        };
        ip_layer_into_stack(
            st,
            self.outer,
            protocol,
            64,
            self.ip_id,
            options,
            u32::from(tw.entropy),
        );
        self.link_layer(st, tw);
    }

    fn link_layer(&mut self, st: &mut Stack, tw: &Tweaks) {
        let ethertype = self.outer.ethertype();
        let (dst, src) = self.macs;
        let labels = |l: [u32; 2]| {
            [
                MplsLabel {
                    label: l[0],
                    tc: 0,
                    ttl: 254,
                },
                MplsLabel {
                    label: l[1],
                    tc: 0,
                    ttl: 254,
                },
            ]
        };
        match self.link {
            Link::Ethernet => st.wrap(|o, p| ethernet_into(o, dst, src, ethertype, p)),
            Link::QinQ {
                outer_vid,
                inner_vid,
            } => {
                st.wrap(|o, p| vlan_into(o, 0, false, inner_vid, ethertype, p));
                st.wrap(|o, p| vlan_into(o, 0, false, outer_vid, ETHERTYPE_VLAN, p));
                st.wrap(|o, p| ethernet_into(o, dst, src, ETHERTYPE_QINQ, p));
            }
            Link::Mpls { labels: l } => {
                let stack = labels(l);
                st.wrap(|o, p| mpls_into(o, &stack, p));
                st.wrap(|o, p| ethernet_into(o, dst, src, ETHERTYPE_MPLS, p));
            }
            Link::EoMpls {
                labels: l,
                control_word,
            } => {
                // Provider frame: destination MAC starting with 0x52 so the
                // first nibble is neither 0 (control word), 4 nor 6 (IP).
                let pdst = [0x52, 0x54, 0x00, 0xee, src[4], src[5]];
                let psrc = [0x52, 0x54, 0x00, 0xef, dst[4], dst[5]];
                st.wrap(|o, p| ethernet_into(o, pdst, psrc, ethertype, p));
                if control_word {
                    self.pw_seq = self.pw_seq.wrapping_add(1);
                    let cw = pw_control_word(self.pw_seq);
                    st.wrap(|o, p| {
                        o.extend_from_slice(&cw);
                        o.extend_from_slice(p);
                    });
                }
                let stack = labels(l);
                st.wrap(|o, p| mpls_into(o, &stack, p));
                st.wrap(|o, p| ethernet_into(o, dst, src, ETHERTYPE_MPLS, p));
            }
            Link::Sll => st.wrap(|o, p| sll_into(o, SLL_HOST, src, ethertype, p)),
            Link::Sll2 => st.wrap(|o, p| sll2_into(o, ethertype, 2, SLL_HOST, src, p)),
            Link::Raw => {}
            Link::Null => {
                let family = match self.outer {
                    IpPair::V4(..) => BSD_AF_INET,
                    IpPair::V6(..) if tw.null_af6 != 0 => tw.null_af6,
                    IpPair::V6(..) => BSD_AF_INET6_BSD,
                };
                st.wrap(|o, p| null_into(o, family, p));
            }
        }
        if matches!(
            self.link,
            Link::Ethernet | Link::QinQ { .. } | Link::Mpls { .. } | Link::EoMpls { .. }
        ) {
            pad_to_min_frame(&mut st.cur);
        }
    }
}

fn key_hash(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => {
            let x = u128::from(a);
            (x as u64) ^ ((x >> 64) as u64)
        }
    }
}

/// Cuts the frame for ERSPAN truncation; returns the T bit.
fn truncate(st: &mut Stack, to: Option<usize>) -> bool {
    match to {
        Some(n) if n < st.cur.len() => {
            st.cur.truncate(n);
            true
        }
        _ => false,
    }
}

/// Removes the Ethernet header (and one VLAN tag) and returns the ethertype
/// of what is left.
fn strip_l2(st: &mut Stack) -> u16 {
    let et = |b: &[u8], at: usize| {
        b.get(at..at + 2)
            .map_or(0, |x| u16::from_be_bytes([x[0], x[1]]))
    };
    let (n, ethertype) = match et(&st.cur, 12) {
        ETHERTYPE_VLAN => (18, et(&st.cur, 16)),
        other => (14, other),
    };
    st.cur.drain(..n.min(st.cur.len()));
    ethertype
}
