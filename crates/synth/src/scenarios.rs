//! The named scenarios.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::build::{
    BSD_AF_INET6_BSD, BSD_AF_INET6_DARWIN, BSD_AF_INET6_FREEBSD, IpPair, PORT_VXLAN,
    PORT_VXLAN_LINUX, pad_to_min_frame,
};
use super::detection;
use super::malformed::{MALFORMED_KINDS, malformed_frame};
use super::session::{Link, MAX_OUTER_FRAME, Session, SessionKey, Tunnel, Tweaks};
use super::traffic::{Flow, FlowKind};
use super::{
    CaptureFormat, ExpectedSession, SCENARIO_STEP_US, START_TS_US, Scenario, Stack, SynthPacket,
};
use mirrorwatch_pcapfile::{
    LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_NULL, LINKTYPE_RAW,
};

/// All scenarios, in a fixed order.
pub fn scenarios() -> Vec<Scenario> {
    scenarios_with_expected()
        .into_iter()
        .map(|(s, _)| s)
        .collect()
}

/// All scenarios with the mirror sessions each contains (see
/// [`ExpectedSession`]), counted while the packets were generated.
pub fn scenarios_with_expected() -> Vec<(Scenario, Vec<ExpectedSession>)> {
    vec![
        erspan1(),
        erspan2(),
        erspan3(),
        erspan3_ipv6(),
        vxlan(),
        vxlan_gpe(),
        geneve(),
        gre_teb(),
        gre(),
        tzsp(),
        nested(),
        linktype_sll(),
        linktype_sll2(),
        linktype_raw(),
        linktype_null(),
        pcapng(),
        malformed(),
        ordinary(),
        detection::aws_vxlan_mirror(),
        detection::gre_teb_external(),
        detection::native_and_copies(),
        detection::tee_copy(),
        detection::payload_shadow(),
        detection::volume_spike(),
        detection::overlay_and_mirror_ipv6(),
        detection::ephemeral_tunnel_ports(),
        detection::vxlan_external_two_packets(),
    ]
}

// ---------------------------------------------------------------------------
// Machinery

pub(super) struct Builder {
    pub(super) scenario: Scenario,
    expected: Vec<ExpectedSession>,
    pub(super) st: Stack,
    keys: Vec<SessionKey>,
    /// Packets carried so far, per session index.
    sent: Vec<u64>,
}

impl Builder {
    pub(super) fn new(name: &'static str, description: &'static str, linktype: u32) -> Self {
        Self {
            scenario: Scenario {
                name,
                description,
                linktype,
                format: CaptureFormat::Pcap,
                packets: Vec::new(),
            },
            expected: Vec::new(),
            st: Stack::default(),
            keys: Vec::new(),
            sent: Vec::new(),
        }
    }

    pub(super) fn next_ts(&self) -> i64 {
        START_TS_US + self.scenario.packets.len() as i64 * SCENARIO_STEP_US
    }

    pub(super) fn push(&mut self) {
        let ts_us = self.next_ts();
        self.push_at(ts_us);
    }

    /// Appends `st.cur` as a packet with its own timestamp (for scenarios
    /// that do not follow the fixed step).
    pub(super) fn push_at(&mut self, ts_us: i64) {
        self.scenario.packets.push(SynthPacket {
            ts_us,
            data: self.st.cur.clone(),
        });
    }

    pub(super) fn record(&mut self, s: &Session) {
        self.keys.clear();
        s.keys(&mut self.keys);
        for &(encap, outer_src, outer_dst, id) in &self.keys {
            let found = self.expected.iter_mut().find(|e| {
                e.encap == encap
                    && e.outer_src == outer_src
                    && e.outer_dst == outer_dst
                    && e.id == id
            });
            match found {
                Some(e) => e.packets += 1,
                None => self.expected.push(ExpectedSession {
                    encap,
                    outer_src,
                    outer_dst,
                    id,
                    packets: 1,
                }),
            }
        }
    }

    pub(super) fn finish(self) -> (Scenario, Vec<ExpectedSession>) {
        (self.scenario, self.expected)
    }
}

/// A flow and the sessions that carry its two directions (`None`: sent as
/// is, without any tunnel).
pub(super) struct Lane {
    pub(super) flow: Flow,
    pub(super) fwd: Option<usize>,
    pub(super) rev: Option<usize>,
}

pub(super) fn via(flow: Flow, session: usize) -> Lane {
    Lane {
        flow,
        fwd: Some(session),
        rev: Some(session),
    }
}

fn plain(flow: Flow) -> Lane {
    Lane {
        flow,
        fwd: None,
        rev: None,
    }
}

/// What a tweak function may look at.
pub(super) struct Ctx {
    lane: usize,
    session: usize,
    /// Packets the session carried before this one.
    n: u64,
}

pub(super) fn no_tweaks(_: &Ctx) -> Tweaks {
    Tweaks::default()
}

/// Emits up to `limit` packets, taking one frame from each unfinished lane
/// in turn. Returns the number emitted.
pub(super) fn drive(
    b: &mut Builder,
    sessions: &mut [Session],
    lanes: &mut [Lane],
    limit: usize,
    mut tweak: impl FnMut(&Ctx) -> Tweaks,
) -> usize {
    let mut emitted = 0;
    loop {
        let mut progressed = false;
        for (li, lane) in lanes.iter_mut().enumerate() {
            if emitted >= limit {
                return emitted;
            }
            let max = [lane.fwd, lane.rev]
                .iter()
                .flatten()
                .map(|&s| sessions[s].max_frame)
                .min()
                .unwrap_or(MAX_OUTER_FRAME);
            let Some(from_client) = lane.flow.next_frame(&mut b.st, max) else {
                continue;
            };
            progressed = true;
            match if from_client { lane.fwd } else { lane.rev } {
                Some(si) => {
                    if b.sent.len() <= si {
                        b.sent.resize(si + 1, 0);
                    }
                    let ctx = Ctx {
                        lane: li,
                        session: si,
                        n: b.sent[si],
                    };
                    let mut tw = tweak(&ctx);
                    tw.entropy = lane.flow.entropy;
                    tw.vlan = tw.vlan.or(lane.flow.vlan);
                    let ts = b.next_ts();
                    sessions[si].encap(&mut b.st, &tw, ts);
                    b.sent[si] += 1;
                    b.record(&sessions[si]);
                }
                None => pad_to_min_frame(&mut b.st.cur),
            }
            b.push();
            emitted += 1;
        }
        if !progressed {
            return emitted;
        }
    }
}

pub(super) fn p4(s: [u8; 4], d: [u8; 4]) -> IpPair {
    IpPair::V4(Ipv4Addr::from(s), Ipv4Addr::from(d))
}

pub(super) fn p6(s: [u16; 8], d: [u16; 8]) -> IpPair {
    IpPair::V6(Ipv6Addr::from(s), Ipv6Addr::from(d))
}

pub(super) fn tcp(addrs: IpPair, cport: u16, sport: u16, packets: u32, seed: u64) -> Flow {
    Flow::new(FlowKind::Tcp { packets }, addrs, cport, sport, seed)
}

fn dns(addrs: IpPair, cport: u16, seed: u64) -> Flow {
    Flow::new(FlowKind::Dns, addrs, cport, 53, seed)
}

pub(super) fn icmp(addrs: IpPair, packets: u32, seed: u64) -> Flow {
    Flow::new(FlowKind::Icmp { packets }, addrs, 0, 0, seed)
}

pub(super) fn eth(outer: IpPair, tunnel: Tunnel) -> Session {
    Session::new(Link::Ethernet, outer, tunnel)
}

pub(super) fn erspan2_t(session: u16) -> Tunnel {
    Tunnel::ErspanII {
        session,
        vlan: 0,
        en: 0,
    }
}

// ---------------------------------------------------------------------------
// Scenarios

fn erspan1() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "erspan1",
        "ERSPAN type I (GRE 0x88BE, no sequence number, no ERSPAN header) from 10.1.0.1 to 10.9.0.10 mirroring one 20-packet TCP/HTTP conversation in both directions.",
        LINKTYPE_ETHERNET,
    );
    let mut sessions = [eth(p4([10, 1, 0, 1], [10, 9, 0, 10]), Tunnel::ErspanI)];
    let mut lanes = [via(
        tcp(
            p4([192, 168, 10, 21], [198, 51, 100, 20]),
            51514,
            80,
            20,
            101,
        ),
        0,
    )];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, no_tweaks);
    b.finish()
}

fn erspan2() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "erspan2",
        "ERSPAN type II session 100 from 10.1.0.2 to 10.9.0.10 (24 packets, GRE sequence and ERSPAN index incrementing) mirroring 802.1Q-tagged frames of VLAN 10 (16-packet TCP) and VLAN 20 (2 DNS exchanges, 4 ICMP echoes), with the ERSPAN VLAN field set to the frame's VLAN and En=3.",
        LINKTYPE_ETHERNET,
    );
    let mut sessions = [eth(
        p4([10, 1, 0, 2], [10, 9, 0, 10]),
        Tunnel::ErspanII {
            session: 100,
            vlan: 0,
            en: 3,
        },
    )];
    let mut lanes = [
        via(
            tcp(p4([10, 10, 10, 5], [10, 10, 20, 8]), 50022, 8080, 16, 201).with_vlan(10),
            0,
        ),
        via(
            dns(p4([10, 20, 0, 15], [10, 20, 0, 53]), 53001, 202).with_vlan(20),
            0,
        ),
        via(
            icmp(p4([10, 20, 0, 15], [10, 20, 0, 1]), 4, 203).with_vlan(20),
            0,
        ),
        via(
            dns(p4([10, 20, 0, 15], [10, 20, 0, 53]), 53002, 204).with_vlan(20),
            0,
        ),
    ];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, no_tweaks);
    b.finish()
}

fn erspan3() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "erspan3",
        "ERSPAN type III session 7 from 10.1.0.3 to 203.0.113.50: 20 packets of one TCP conversation, 12 ingress and 8 egress (D bit set on packets 1,3,6,8,11,13,16,18), 5 with the O flag and an 8-byte platform subheader (packets 0,4,8,12,16), and 2 with the T bit whose inner frame is cut to 128 bytes (packets 8 and 13).",
        LINKTYPE_ETHERNET,
    );
    let mut sessions = [eth(
        p4([10, 1, 0, 3], [203, 0, 113, 50]),
        Tunnel::ErspanIII {
            session: 7,
            hw_id: 5,
            sgt: 0x0010,
        },
    )];
    let mut lanes = [via(
        tcp(p4([172, 16, 5, 10], [172, 16, 9, 20]), 52000, 80, 20, 301),
        0,
    )];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, |c| Tweaks {
        egress: matches!(c.n % 5, 1 | 3),
        platform: c.n % 4 == 0,
        truncate: matches!(c.n, 8 | 13).then_some(128),
        ..Tweaks::default()
    });
    b.finish()
}

fn erspan3_ipv6() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "erspan3-ipv6",
        "ERSPAN type III session 9 over IPv6 from 2001:db8:1::3 to 2001:db8:ff::50 (16 packets: a 12-packet IPv4 TCP conversation and 4 ICMPv6 echoes); odd-numbered packets carry hop-by-hop and destination-options headers in the outer IPv6 header and every fourth packet (3,7,11,15) is egress.",
        LINKTYPE_ETHERNET,
    );
    let mut sessions = [eth(
        p6(
            [0x2001, 0xdb8, 1, 0, 0, 0, 0, 3],
            [0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 0x50],
        ),
        Tunnel::ErspanIII {
            session: 9,
            hw_id: 9,
            sgt: 0x0020,
        },
    )];
    let mut lanes = [
        via(
            tcp(p4([10, 30, 0, 5], [10, 30, 1, 9]), 52100, 8080, 12, 401),
            0,
        ),
        via(
            icmp(
                p6(
                    [0x2001, 0xdb8, 0x30, 0, 0, 0, 0, 5],
                    [0x2001, 0xdb8, 0x30, 0, 0, 0, 0, 1],
                ),
                4,
                402,
            ),
            0,
        ),
    ];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, |c| Tweaks {
        ipv6_ext: c.n % 2 == 1,
        egress: c.n % 4 == 3,
        ..Tweaks::default()
    });
    b.finish()
}

fn vxlan() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "vxlan",
        "VXLAN VNI 5001 on UDP 4789 between 10.2.0.1 and 10.2.0.2 carrying both directions of one 20-packet overlay TCP conversation (11 packets 10.2.0.1->10.2.0.2, 9 packets back), plus VNI 6000 on UDP 8472 one-way from 10.2.0.5 to 198.51.100.7 (12 packets).",
        LINKTYPE_ETHERNET,
    );
    let mut sessions = [
        eth(
            p4([10, 2, 0, 1], [10, 2, 0, 2]),
            Tunnel::Vxlan {
                vni: 5001,
                port: PORT_VXLAN,
            },
        ),
        eth(
            p4([10, 2, 0, 2], [10, 2, 0, 1]),
            Tunnel::Vxlan {
                vni: 5001,
                port: PORT_VXLAN,
            },
        ),
        eth(
            p4([10, 2, 0, 5], [198, 51, 100, 7]),
            Tunnel::Vxlan {
                vni: 6000,
                port: PORT_VXLAN_LINUX,
            },
        ),
    ];
    let mut lanes = [
        Lane {
            flow: tcp(p4([172, 16, 1, 10], [172, 16, 2, 20]), 50100, 80, 20, 501),
            fwd: Some(0),
            rev: Some(1),
        },
        via(
            tcp(
                p4([192, 168, 50, 3], [203, 0, 113, 15]),
                51000,
                8080,
                12,
                502,
            ),
            2,
        ),
    ];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, no_tweaks);
    b.finish()
}

fn vxlan_gpe() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "vxlan-gpe",
        "VXLAN-GPE on UDP 4790, VNI 42, one-way from 10.2.1.1 to 10.2.1.2 (20 packets): a 12-packet TCP conversation with next protocol 3 (Ethernet) and 8 DNS/ICMP packets with next protocol 1 (IPv4).",
        LINKTYPE_ETHERNET,
    );
    let mut sessions = [eth(
        p4([10, 2, 1, 1], [10, 2, 1, 2]),
        Tunnel::VxlanGpe { vni: 42 },
    )];
    let mut lanes = [
        via(
            tcp(
                p4([192, 168, 42, 10], [192, 168, 42, 20]),
                50200,
                80,
                12,
                601,
            ),
            0,
        ),
        via(
            dns(p4([192, 168, 42, 10], [192, 168, 42, 53]), 50201, 602),
            0,
        ),
        via(icmp(p4([192, 168, 42, 10], [198, 51, 100, 42]), 4, 603), 0),
        via(
            dns(p4([192, 168, 42, 10], [192, 168, 42, 53]), 50202, 604),
            0,
        ),
    ];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, |c| Tweaks {
        l3: c.lane >= 1,
        ..Tweaks::default()
    });
    b.finish()
}

fn geneve() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "geneve",
        "Geneve on UDP 6081: VNI 77 with two option TLVs (class 0x0103 and 0xffff) carrying Ethernet (0x6558) from 10.3.0.1 to 10.3.0.2 (16 packets), and VNI 78 without options carrying IPv4 (0x0800) over IPv6 from 2001:db8:3::1 to 2001:db8:3::2 (10 packets).",
        LINKTYPE_ETHERNET,
    );
    let mut sessions = [
        eth(
            p4([10, 3, 0, 1], [10, 3, 0, 2]),
            Tunnel::Geneve {
                vni: 77,
                options: true,
                l3: false,
            },
        ),
        eth(
            p6(
                [0x2001, 0xdb8, 3, 0, 0, 0, 0, 1],
                [0x2001, 0xdb8, 3, 0, 0, 0, 0, 2],
            ),
            Tunnel::Geneve {
                vni: 78,
                options: false,
                l3: true,
            },
        ),
    ];
    let mut lanes = [
        via(
            tcp(p4([10, 77, 0, 5], [10, 77, 0, 9]), 50300, 80, 16, 701),
            0,
        ),
        via(
            tcp(p4([10, 78, 0, 5], [10, 78, 0, 9]), 50301, 8080, 10, 702),
            1,
        ),
    ];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, no_tweaks);
    b.finish()
}

fn gre_teb() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "gre-teb",
        "GRE transparent Ethernet bridging (0x6558) with key 0x1234 from 10.3.1.1 to 10.3.1.2 (16 packets), and NVGRE VSID 0x00abcd flow id 0x05 (key 0x00abcd05) from 10.3.2.1 to 10.3.2.2 (12 packets).",
        LINKTYPE_ETHERNET,
    );
    let mut sessions = [
        eth(
            p4([10, 3, 1, 1], [10, 3, 1, 2]),
            Tunnel::GreTeb { key: 0x1234 },
        ),
        eth(
            p4([10, 3, 2, 1], [10, 3, 2, 2]),
            Tunnel::NvGre {
                vsid: 0x00_abcd,
                flow_id: 0x05,
            },
        ),
    ];
    let mut lanes = [
        via(
            tcp(p4([10, 31, 0, 5], [10, 31, 0, 9]), 50400, 80, 16, 801),
            0,
        ),
        via(
            tcp(p4([10, 32, 0, 5], [10, 32, 0, 9]), 50401, 8080, 12, 802),
            1,
        ),
    ];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, no_tweaks);
    b.finish()
}

fn gre() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "gre",
        "Plain GRE carrying IPv4: with checksum, sequence number and key 55 from 10.4.1.1 to 10.4.1.2 (12 packets); without key from 10.4.2.1 to 10.4.2.2 with a router-alert option in the outer IPv4 header (10 packets); and GRE-in-UDP (port 4754, no key) from 10.4.0.1 to 10.4.0.2 (10 packets).",
        LINKTYPE_ETHERNET,
    );
    let mut sessions = [
        eth(
            p4([10, 4, 1, 1], [10, 4, 1, 2]),
            Tunnel::GreIp {
                checksum: true,
                key: Some(55),
                seq: true,
            },
        ),
        eth(
            p4([10, 4, 2, 1], [10, 4, 2, 2]),
            Tunnel::GreIp {
                checksum: false,
                key: None,
                seq: false,
            },
        ),
        eth(p4([10, 4, 0, 1], [10, 4, 0, 2]), Tunnel::GreInUdp),
    ];
    let mut lanes = [
        via(
            tcp(p4([10, 41, 0, 5], [10, 41, 0, 9]), 50500, 80, 12, 901),
            0,
        ),
        via(icmp(p4([10, 42, 0, 5], [10, 42, 0, 9]), 6, 902), 1),
        via(dns(p4([10, 42, 0, 5], [10, 42, 0, 53]), 50501, 903), 1),
        via(dns(p4([10, 42, 0, 5], [10, 42, 0, 53]), 50502, 904), 1),
        via(
            tcp(p4([10, 40, 0, 5], [10, 40, 0, 9]), 50503, 8080, 10, 905),
            2,
        ),
    ];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, |c| Tweaks {
        ipv4_options: c.session == 1,
        ..Tweaks::default()
    });
    b.finish()
}

fn tzsp() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "tzsp",
        "TZSP (UDP 37008, version 1, type received, encapsulation Ethernet, tagged fields 10 (signal), 18 (RX channel) and 40 (packet id) then END) from 10.5.0.1 to 203.0.113.99 mirroring one 14-packet TCP conversation.",
        LINKTYPE_ETHERNET,
    );
    let mut sessions = [eth(p4([10, 5, 0, 1], [203, 0, 113, 99]), Tunnel::Tzsp)];
    let mut lanes = [via(
        tcp(
            p4([192, 168, 88, 20], [198, 51, 100, 88]),
            50600,
            80,
            14,
            1001,
        ),
        0,
    )];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, no_tweaks);
    b.finish()
}

fn nested() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "nested",
        "Nested and labelled transports, 48 packets: ERSPAN II session 5 (10.6.0.1->10.6.0.10) mirroring VXLAN VNI 300 (10.6.1.1->10.6.1.2, 12 packets); ERSPAN II session 6 (10.6.0.2->10.6.0.10) in QinQ 802.1ad 100 / 802.1Q 200 (10 packets); ERSPAN I (10.6.0.3->10.6.0.10) under MPLS labels 16001/24005 (10 packets); and Ethernet-over-MPLS carrying Ethernet/IPv4/GRE ERSPAN II session 8, with control word from 10.6.0.8 (labels 16002/24008, 8 packets) and without from 10.6.0.9 (labels 16002/24009, 8 packets), both to 10.6.0.10.",
        LINKTYPE_ETHERNET,
    );
    let collector = [10, 6, 0, 10];
    let mut sessions = [
        eth(p4([10, 6, 0, 1], collector), erspan2_t(5)).nested(eth(
            p4([10, 6, 1, 1], [10, 6, 1, 2]),
            Tunnel::Vxlan {
                vni: 300,
                port: PORT_VXLAN,
            },
        )),
        Session::new(
            Link::QinQ {
                outer_vid: 100,
                inner_vid: 200,
            },
            p4([10, 6, 0, 2], collector),
            erspan2_t(6),
        ),
        Session::new(
            Link::Mpls {
                labels: [16001, 24005],
            },
            p4([10, 6, 0, 3], collector),
            Tunnel::ErspanI,
        ),
        Session::new(
            Link::EoMpls {
                labels: [16002, 24008],
                control_word: true,
            },
            p4([10, 6, 0, 8], collector),
            erspan2_t(8),
        ),
        Session::new(
            Link::EoMpls {
                labels: [16002, 24009],
                control_word: false,
            },
            p4([10, 6, 0, 9], collector),
            erspan2_t(8),
        ),
    ];
    let mut lanes = [
        via(
            tcp(p4([10, 60, 0, 5], [10, 60, 0, 9]), 50700, 80, 12, 1101),
            0,
        ),
        via(
            tcp(p4([10, 61, 0, 5], [10, 61, 0, 9]), 50701, 80, 10, 1102),
            1,
        ),
        via(
            tcp(p4([10, 62, 0, 5], [10, 62, 0, 9]), 50702, 80, 10, 1103),
            2,
        ),
        via(
            tcp(p4([10, 63, 0, 5], [10, 63, 0, 9]), 50703, 8080, 8, 1104),
            3,
        ),
        via(
            tcp(p4([10, 64, 0, 5], [10, 64, 0, 9]), 50704, 8080, 8, 1105),
            4,
        ),
    ];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, no_tweaks);
    b.finish()
}

fn linktype_sll() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "linktype-sll",
        "Linux cooked capture v1 (linktype 113): ERSPAN II session 21 from 10.7.0.1 to 10.7.0.10 (8 packets).",
        LINKTYPE_LINUX_SLL,
    );
    let mut sessions = [Session::new(
        Link::Sll,
        p4([10, 7, 0, 1], [10, 7, 0, 10]),
        erspan2_t(21),
    )];
    let mut lanes = [via(
        tcp(p4([10, 71, 0, 5], [10, 71, 0, 9]), 50800, 80, 8, 1201),
        0,
    )];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, no_tweaks);
    b.finish()
}

fn linktype_sll2() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "linktype-sll2",
        "Linux cooked capture v2 (linktype 276): VXLAN VNI 2100 on UDP 4789 from 10.7.0.2 to 10.7.0.10 (8 packets).",
        LINKTYPE_LINUX_SLL2,
    );
    let mut sessions = [Session::new(
        Link::Sll2,
        p4([10, 7, 0, 2], [10, 7, 0, 10]),
        Tunnel::Vxlan {
            vni: 2100,
            port: PORT_VXLAN,
        },
    )];
    let mut lanes = [via(
        tcp(p4([10, 72, 0, 5], [10, 72, 0, 9]), 50801, 80, 8, 1301),
        0,
    )];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, no_tweaks);
    b.finish()
}

fn linktype_raw() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "linktype-raw",
        "Raw IP (linktype 101): ERSPAN II session 22 from 10.7.0.3 to 10.7.0.10 (8 packets).",
        LINKTYPE_RAW,
    );
    let mut sessions = [Session::new(
        Link::Raw,
        p4([10, 7, 0, 3], [10, 7, 0, 10]),
        erspan2_t(22),
    )];
    let mut lanes = [via(
        tcp(p4([10, 73, 0, 5], [10, 73, 0, 9]), 50802, 80, 8, 1401),
        0,
    )];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, no_tweaks);
    b.finish()
}

fn linktype_null() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "linktype-null",
        "BSD loopback (linktype 0): VXLAN VNI 2200 on UDP 4789 over IPv4 from 10.7.0.4 to 10.7.0.10 (6 packets, family 2) and over IPv6 from 2001:db8:7::4 to 2001:db8:7::10 (6 packets, families 24, 28 and 30 twice each).",
        LINKTYPE_NULL,
    );
    let vx = Tunnel::Vxlan {
        vni: 2200,
        port: PORT_VXLAN,
    };
    let mut sessions = [
        Session::new(Link::Null, p4([10, 7, 0, 4], [10, 7, 0, 10]), vx),
        Session::new(
            Link::Null,
            p6(
                [0x2001, 0xdb8, 7, 0, 0, 0, 0, 4],
                [0x2001, 0xdb8, 7, 0, 0, 0, 0, 0x10],
            ),
            vx,
        ),
    ];
    let mut lanes = [
        via(icmp(p4([10, 74, 0, 5], [10, 74, 0, 9]), 6, 1501), 0),
        via(icmp(p4([10, 75, 0, 5], [10, 75, 0, 9]), 6, 1502), 1),
    ];
    let families = [BSD_AF_INET6_BSD, BSD_AF_INET6_FREEBSD, BSD_AF_INET6_DARWIN];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, |c| Tweaks {
        null_af6: families[(c.n / 2 % 3) as usize],
        ..Tweaks::default()
    });
    b.finish()
}

fn pcapng() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "pcapng",
        "pcapng file (Ethernet): ERSPAN II session 11 from 10.8.0.1 to 10.8.0.10 (12 packets).",
        LINKTYPE_ETHERNET,
    );
    b.scenario.format = CaptureFormat::Pcapng;
    let mut sessions = [eth(p4([10, 8, 0, 1], [10, 8, 0, 10]), erspan2_t(11))];
    let mut lanes = [via(
        tcp(p4([10, 80, 0, 5], [10, 80, 0, 9]), 50900, 80, 12, 1601),
        0,
    )];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, no_tweaks);
    b.finish()
}

fn malformed() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "malformed",
        "A valid ERSPAN II session 3 from 10.66.0.1 to 10.66.0.10 (packets 0-4 and 20-24, 10 packets) around 15 broken samples at these 0-based packet indices, IPv4 ones from 10.66.1.<index> to 10.66.0.10: 5 GRE header cut short; 6 ERSPAN II header cut short; 7 ERSPAN II with version nibble 7; 8 VXLAN header cut short; 9 Geneve option length 63 words exceeding the packet; 10 TZSP tag list without END tag; 11 IPv4 IHL 3; 12 IPv6 header cut short (20 of 40 bytes); 13 UDP length 1000 in a 68-byte datagram; 14 802.1Q tag cut short; 15 MPLS stack without bottom-of-stack; 16 ten nested VXLAN layers (VNI 1001 outermost .. 1010); 17 IPv4 non-first fragment whose payload looks like GRE/ERSPAN II session 3; 18 zero-length frame; 19 one-byte frame.",
        LINKTYPE_ETHERNET,
    );
    let mut sessions = [eth(p4([10, 66, 0, 1], [10, 66, 0, 10]), erspan2_t(3))];
    let mut lanes = [via(
        tcp(p4([10, 67, 0, 5], [10, 67, 0, 9]), 51100, 80, 10, 1701),
        0,
    )];
    drive(&mut b, &mut sessions, &mut lanes, 5, no_tweaks);
    for kind in 0..MALFORMED_KINDS {
        let index = b.scenario.packets.len() as u8;
        malformed_frame(kind, index, &mut b.st);
        b.push();
    }
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, no_tweaks);
    b.finish()
}

fn ordinary() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "ordinary",
        "Ordinary traffic only, no tunnels: HTTP over TCP (IPv4 and IPv6), DNS, ICMP and ICMPv6 echo, ARP, an IPv4 packet with a router-alert option and IPv6 packets with hop-by-hop and destination-options headers.",
        LINKTYPE_ETHERNET,
    );
    let lan = |h: u8| [192, 168, 1, h];
    let v6 = |net: u16, h: u16| [0x2001, 0xdb8, net, 0, 0, 0, 0, h];
    let mut lanes = [
        plain(tcp(p4(lan(10), [198, 51, 100, 20]), 50001, 80, 14, 1801)),
        plain(tcp(
            p4([10, 0, 0, 5], [203, 0, 113, 80]),
            50002,
            8080,
            12,
            1802,
        )),
        plain(dns(p4(lan(10), lan(1)), 50003, 1803)),
        plain(Flow::new(FlowKind::Arp, p4(lan(10), lan(1)), 0, 0, 1804)),
        plain(icmp(p4(lan(10), [198, 51, 100, 1]), 4, 1805)),
        plain(dns(p4(lan(11), lan(1)), 50004, 1806)),
        plain(tcp(p6(v6(0x10, 5), v6(0x20, 0x80)), 50005, 80, 10, 1807)),
        plain(icmp(p6(v6(0x10, 5), v6(0x20, 1)), 2, 1808)),
        plain(dns(p6(v6(0x10, 5), v6(0x10, 0x53)), 50006, 1809).with_ip_options()),
        plain(icmp(p4(lan(12), lan(1)), 2, 1810).with_ip_options()),
        plain(dns(p4(lan(12), lan(1)), 50007, 1811)),
    ];
    drive(&mut b, &mut [], &mut lanes, usize::MAX, no_tweaks);
    b.finish()
}
