//! The large mixed capture used for benchmarks.
//!
//! About 30 % ordinary traffic, 1 % malformed samples (from 10.66.1.100+kind;
//! the ten-layer VXLAN sample is a valid VXLAN VNI 1001 session at its
//! outermost layer), the rest spread over 60 mirror sessions of every supported encapsulation (IPv4 and IPv6 outer,
//! some nested or labelled). Inner traffic comes from a space of 20,000
//! distinct flows (5-tuples); a bounded pool of active flows is advanced
//! packet by packet, so memory use does not depend on the packet count.

use std::io::{self, BufWriter, Write};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::build::{IpPair, PORT_VXLAN, PORT_VXLAN_LINUX, pad_to_min_frame};
use super::malformed::{MALFORMED_KINDS, malformed_frame};
use super::rng::{SplitMix64, mix};
use super::session::{Link, MAX_OUTER_FRAME, Session, Tunnel, Tweaks};
use super::traffic::{Flow, FlowKind};
use super::{MIXED_STEP_US, MixedSummary, START_TS_US, Stack, orig_len};
use mirrorwatch_pcapfile::{LINKTYPE_ETHERNET, PcapWriter};

/// Number of mirror sessions.
const SESSIONS: usize = 60;
/// Distinct inner flows; indices below `ORDINARY_FLOWS` are sent untunnelled.
const FLOW_SPACE: u64 = 20_000;
const ORDINARY_FLOWS: u64 = 6_000;
/// Concurrently active flows.
const ORDINARY_POOL: usize = 48;
const TUNNEL_POOL: usize = 192;
/// Per mille of packets that are malformed samples / ordinary traffic.
const MALFORMED_PER_MILLE: u64 = 10;
const ORDINARY_PER_MILLE: u64 = 300;

/// Writes `packets` packets of mixed traffic as a classic pcap (Ethernet)
/// to `w`, deterministically for a given `(packets, seed)`: the first `n`
/// packets are the same whatever the total. Memory use is constant.
pub fn write_mixed<W: Write>(w: W, packets: u64, seed: u64) -> io::Result<MixedSummary> {
    let mut pw = PcapWriter::new(BufWriter::with_capacity(1 << 16, w), LINKTYPE_ETHERNET)?;
    let mut g = MixedGen::new(seed);
    let mut summary = MixedSummary::default();
    for i in 0..packets {
        let step = i64::try_from(i).unwrap_or(i64::MAX);
        let ts = START_TS_US.saturating_add(step.saturating_mul(MIXED_STEP_US));
        g.next_packet(ts);
        let data = &g.st.cur;
        pw.write_packet(ts, orig_len(data), data)?;
        summary.packets += 1;
        summary.bytes += data.len() as u64;
    }
    pw.flush()?;
    Ok(summary)
}

struct MixedGen {
    seed: u64,
    rng: SplitMix64,
    sessions: Vec<Session>,
    ordinary: Vec<Flow>,
    /// Flow and the index of the session that mirrors it.
    tunneled: Vec<(Flow, usize)>,
    st: Stack,
    instance: u64,
}

impl MixedGen {
    fn new(seed: u64) -> Self {
        let mut g = Self {
            seed,
            rng: SplitMix64::new(mix(seed, 0x006d_6978_6564)),
            sessions: (0..SESSIONS).map(|k| mixed_session(seed, k)).collect(),
            ordinary: Vec::with_capacity(ORDINARY_POOL),
            tunneled: Vec::with_capacity(TUNNEL_POOL),
            st: Stack::default(),
            instance: 0,
        };
        for _ in 0..ORDINARY_POOL {
            let f = g.new_ordinary();
            g.ordinary.push(f);
        }
        for _ in 0..TUNNEL_POOL {
            let f = g.new_tunneled();
            g.tunneled.push(f);
        }
        g
    }

    fn new_ordinary(&mut self) -> Flow {
        let index = self.rng.below(ORDINARY_FLOWS);
        self.instance += 1;
        make_flow(self.seed, index, self.instance, true)
    }

    fn new_tunneled(&mut self) -> (Flow, usize) {
        let index = ORDINARY_FLOWS + self.rng.below(FLOW_SPACE - ORDINARY_FLOWS);
        self.instance += 1;
        let session = (mix(self.seed ^ 0x005e_551d, index) % SESSIONS as u64) as usize;
        (make_flow(self.seed, index, self.instance, false), session)
    }

    /// Builds the next packet into `self.st.cur`.
    fn next_packet(&mut self, ts_us: i64) {
        let roll = self.rng.below(1000);
        if roll < MALFORMED_PER_MILLE {
            let kind = self.rng.below(MALFORMED_KINDS as u64) as usize;
            // One fixed source (10.66.1.100+kind) per kind, so samples that
            // are partly valid (the nested VXLAN stack) add one session, not many.
            malformed_frame(kind, 100 + kind as u8, &mut self.st);
        } else if roll < MALFORMED_PER_MILLE + ORDINARY_PER_MILLE {
            let slot = self.rng.below(ORDINARY_POOL as u64) as usize;
            if self.ordinary[slot]
                .next_frame(&mut self.st, MAX_OUTER_FRAME)
                .is_none()
            {
                // Finished flows are replaced right away, so this is not reached.
                self.st.cur.clear();
            }
            pad_to_min_frame(&mut self.st.cur);
            if self.ordinary[slot].is_done() {
                self.ordinary[slot] = self.new_ordinary();
            }
        } else {
            let slot = self.rng.below(TUNNEL_POOL as u64) as usize;
            let r = self.rng.next_u64();
            let (flow, si) = &mut self.tunneled[slot];
            let session = &mut self.sessions[*si];
            if flow.next_frame(&mut self.st, session.max_frame).is_none() {
                self.st.cur.clear();
            }
            let tw = Tweaks {
                egress: r & 1 == 1,
                platform: (r >> 1) & 3 == 0,
                truncate: ((r >> 3) % 64 == 0 && self.st.cur.len() > 160).then_some(128),
                l3: flow.entropy & 1 == 1,
                ipv6_ext: (r >> 9) % 32 == 0,
                ipv4_options: (r >> 14) % 64 == 0,
                entropy: flow.entropy,
                ..Tweaks::default()
            };
            session.encap(&mut self.st, &tw, ts_us);
            if flow.is_done() {
                self.tunneled[slot] = self.new_tunneled();
            }
        }
    }
}

/// Flow number `index` of the flow space; `instance` varies sequence
/// numbers and ids between reuses of the same 5-tuple.
fn make_flow(seed: u64, index: u64, instance: u64, ordinary: bool) -> Flow {
    let base = mix(seed, index);
    let mut r = SplitMix64::new(base);
    let v6 = r.below(100) < 15;
    let roll = r.below(100);
    let kind = if ordinary && roll >= 96 && !v6 {
        FlowKind::Arp
    } else if roll < 55 {
        FlowKind::Tcp {
            packets: 7 + r.below_u32(34),
        }
    } else if roll < 85 {
        FlowKind::Dns
    } else {
        FlowKind::Icmp {
            packets: 2 + 2 * r.below_u32(4),
        }
    };
    let i = index as u32;
    let addrs = if v6 {
        let client = Ipv6Addr::new(
            0x2001,
            0xdb8,
            if ordinary { 0x10 } else { 0x20 },
            0,
            0,
            0,
            (i >> 16) as u16,
            i as u16,
        );
        let server = Ipv6Addr::new(0x2001, 0xdb8, 0xf0, 0, 0, 0, 0, 1 + r.below(200) as u16);
        IpPair::V6(client, server)
    } else {
        let host = (i % 250) as u8 + 2;
        let net = (i / 250 % 250) as u8;
        let client = if ordinary {
            Ipv4Addr::new(192, 168, net, host)
        } else {
            Ipv4Addr::new(10, 100 + (i / 62_500) as u8, net, host)
        };
        let h = 1 + r.below(250) as u8;
        let server = match (kind, r.below(3)) {
            (FlowKind::Arp, _) => Ipv4Addr::new(192, 168, net, 1),
            (_, 0) => Ipv4Addr::new(198, 51, 100, h),
            (_, 1) => Ipv4Addr::new(203, 0, 113, h),
            _ => Ipv4Addr::new(10, 0, (h % 8) + 1, h),
        };
        IpPair::V4(client, server)
    };
    let cport = 49152 + r.below(16_000) as u16;
    let sport = match kind {
        FlowKind::Tcp { .. } => [80, 8080][r.below(2) as usize],
        FlowKind::Dns => 53,
        _ => 0,
    };
    Flow::new(kind, addrs, cport, sport, mix(base, instance))
}

/// Session `k` of the 60: the encapsulation cycles through 18 kinds; every
/// fourth session has an IPv6 outer header.
fn mixed_session(seed: u64, k: usize) -> Session {
    let mut r = SplitMix64::new(mix(seed ^ 0x5e55_1015, k as u64));
    let kb = k as u8;
    let outer = if k % 4 == 3 {
        IpPair::V6(
            Ipv6Addr::new(0x2001, 0xdb8, 0x100, k as u16, 0, 0, 0, 1),
            Ipv6Addr::new(0x2001, 0xdb8, 0xff00, 0, 0, 0, 0, (k % 3) as u16 + 1),
        )
    } else {
        let dst = match k % 3 {
            0 => Ipv4Addr::new(10, 250, 0, 10),
            1 => Ipv4Addr::new(203, 0, 113, 200),
            _ => Ipv4Addr::new(198, 51, 100, 200),
        };
        IpPair::V4(Ipv4Addr::new(10, 200, kb, 1), dst)
    };
    let id10 = (k as u16 * 17 + r.below(17) as u16) % 1023 + 1;
    let vni = 10_000 + k as u32 * 1000 + r.below_u32(1000);
    let key = (r.next_u64() >> 32) as u32;
    let erspan2 = Tunnel::ErspanII {
        session: id10,
        vlan: 0,
        en: 0,
    };
    let eth = |t| Session::new(Link::Ethernet, outer, t);
    match k % 18 {
        0 => eth(Tunnel::ErspanI),
        1 => eth(erspan2),
        2 => eth(Tunnel::ErspanIII {
            session: id10,
            hw_id: kb % 64,
            sgt: r.below(0x1_0000) as u16,
        }),
        3 => eth(Tunnel::Vxlan {
            vni,
            port: PORT_VXLAN,
        }),
        4 => eth(Tunnel::Vxlan {
            vni,
            port: PORT_VXLAN_LINUX,
        }),
        5 => eth(Tunnel::VxlanGpe { vni }),
        6 => eth(Tunnel::Geneve {
            vni,
            options: true,
            l3: false,
        }),
        7 => eth(Tunnel::Geneve {
            vni,
            options: false,
            l3: true,
        }),
        8 => eth(Tunnel::GreTeb { key }),
        9 => eth(Tunnel::NvGre {
            vsid: vni,
            flow_id: kb,
        }),
        10 => eth(Tunnel::GreIp {
            checksum: true,
            key: Some(key),
            seq: true,
        }),
        11 => eth(Tunnel::GreIp {
            checksum: false,
            key: None,
            seq: false,
        }),
        12 => eth(Tunnel::GreInUdp),
        13 => eth(Tunnel::Tzsp),
        14 => eth(erspan2).nested(Session::new(
            Link::Ethernet,
            IpPair::V4(Ipv4Addr::new(10, 201, kb, 1), Ipv4Addr::new(10, 201, kb, 2)),
            Tunnel::Vxlan {
                vni: vni + 500,
                port: PORT_VXLAN,
            },
        )),
        15 => Session::new(
            Link::QinQ {
                outer_vid: 100 + u16::from(kb),
                inner_vid: 200 + u16::from(kb),
            },
            outer,
            erspan2,
        ),
        16 => Session::new(
            Link::Mpls {
                labels: [16_000 + k as u32, 24_000 + k as u32],
            },
            outer,
            Tunnel::ErspanI,
        ),
        _ => Session::new(
            Link::EoMpls {
                labels: [16_000 + k as u32, 24_000 + k as u32],
                control_word: k / 18 % 2 == 0,
            },
            outer,
            erspan2,
        ),
    }
}
