//! Scenarios for the detection stages (mirror verdicts, duplicate finding,
//! payload shadowing, volume anomalies): hand-made conversations whose
//! payloads, copies and timestamps are controlled exactly.

use std::net::Ipv4Addr;

use super::build::{
    ETHERTYPE_IPV4, IPPROTO_TCP, IPPROTO_UDP, IpPair, Mac, PORT_VXLAN, TCP_ACK, TCP_FIN, TCP_PSH,
    TCP_SYN, Tcp, ethernet_into, ipv4_fix_checksum, pad_to_min_frame, tcp_into, udp_into,
};
use super::rng::{SplitMix64, mix};
use super::scenarios::{Builder, Lane, drive, erspan2_t, eth, icmp, no_tweaks, p4, p6, tcp, via};
use super::session::{Session, Tunnel, Tweaks};
use super::traffic::ip_layer_into_stack;
use super::{ExpectedSession, START_TS_US, Scenario, Stack};
use mirrorwatch_pcapfile::LINKTYPE_ETHERNET;

/// Scenarios whose timestamps do not follow the fixed 1 ms step (they
/// still start at [`START_TS_US`] and strictly increase).
#[cfg(test)]
pub(crate) const OWN_TIMING: [&str; 4] = [
    "native-and-copies",
    "tee-copy",
    "payload-shadow",
    "volume-spike",
];

/// Lengths of the six HTTP POST payloads of `payload-shadow`.
const SHADOW_POSTS: [usize; 6] = [347, 512, 689, 301, 876, 455];

/// Outer frame lengths of `volume-spike`: steady and burst.
const SPIKE_STEADY_FRAME: usize = 500;
const SPIKE_BURST_FRAME: usize = 1400;
/// ERSPAN II overhead: Ethernet 14, IPv4 20, GRE with sequence 8, ERSPAN 8.
const ERSPAN2_OVERHEAD: usize = 50;
/// Ethernet + IPv4 + TCP headers without options.
const ETH_IP_TCP: usize = 54;

// ---------------------------------------------------------------------------
// Hand-made IPv4 conversations

/// One end of a hand-made IPv4 conversation.
#[derive(Clone, Debug)]
struct End {
    ip: Ipv4Addr,
    port: u16,
    /// Source MAC of this end's frames as seen at the capture point (the
    /// host's own, or its router's for a remote host).
    mac: Mac,
    ttl: u8,
    /// Next TCP sequence number this end sends.
    seq: u32,
    /// Last IPv4 identification used.
    ip_id: u16,
}

impl End {
    fn new(ip: [u8; 4], port: u16, mac: Mac, ttl: u8, seed: u64) -> Self {
        let h = mix(
            seed,
            u64::from(u32::from_be_bytes(ip)) << 16 | u64::from(port),
        );
        Self {
            ip: Ipv4Addr::from(ip),
            port,
            mac,
            ttl,
            seq: h as u32,
            ip_id: (h >> 32) as u16,
        }
    }
}

/// A host MAC (locally administered, like the generated traffic's).
fn host_mac(ip: [u8; 4]) -> Mac {
    [0x52, 0x54, 0x00, ip[1], ip[2], ip[3]]
}

/// A router MAC (an ordinary vendor OUI).
fn router_mac(ip: [u8; 4]) -> Mac {
    [0x00, 0x1b, 0x21, ip[1], ip[2], ip[3]]
}

/// Writes an Ethernet/IPv4/TCP frame from `from` to `to` (layer-2
/// destination `l2_dst`, not padded) into `st.cur` and advances `from`'s
/// sequence number and IPv4 identification. An ACK acknowledges everything
/// `to` has sent; SYNs carry an MSS option.
fn tcp_seg(st: &mut Stack, from: &mut End, to: &End, l2_dst: Mac, flags: u8, payload: &[u8]) {
    let addrs = IpPair::V4(from.ip, to.ip);
    let h = Tcp {
        sport: from.port,
        dport: to.port,
        seq: from.seq,
        ack: if flags & TCP_ACK != 0 { to.seq } else { 0 },
        flags,
        window: 64_240,
        mss: (flags & TCP_SYN != 0).then_some(1460),
    };
    st.cur.clear();
    st.cur.extend_from_slice(payload);
    st.wrap(|o, p| tcp_into(o, addrs, &h, p));
    from.ip_id = from.ip_id.wrapping_add(1);
    ip_layer_into_stack(st, addrs, IPPROTO_TCP, from.ttl, from.ip_id, false, 0);
    st.wrap(|o, p| ethernet_into(o, l2_dst, from.mac, ETHERTYPE_IPV4, p));
    let syn_fin = u32::from(flags & (TCP_SYN | TCP_FIN) != 0);
    from.seq = from.seq.wrapping_add(payload.len() as u32 + syn_fin);
}

/// Writes an Ethernet/IPv4/UDP frame (not padded) into `st.cur`.
fn udp_dgram(st: &mut Stack, from: &mut End, to: ([u8; 4], u16), l2_dst: Mac, payload: &[u8]) {
    let addrs = IpPair::V4(from.ip, Ipv4Addr::from(to.0));
    st.cur.clear();
    st.cur.extend_from_slice(payload);
    st.wrap(|o, p| udp_into(o, addrs, from.port, to.1, p));
    from.ip_id = from.ip_id.wrapping_add(1);
    ip_layer_into_stack(st, addrs, IPPROTO_UDP, from.ttl, from.ip_id, false, 0);
    st.wrap(|o, p| ethernet_into(o, l2_dst, from.mac, ETHERTYPE_IPV4, p));
}

/// `len` pseudo-random bytes (ciphertext-like).
fn noise(rng: &mut SplitMix64, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    v.truncate(len);
    v
}

/// `len` pseudo-random lowercase hex characters.
fn hex_text(rng: &mut SplitMix64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| b"0123456789abcdef"[rng.below(16) as usize])
        .collect()
}

/// A TLS application-data record of `len` bytes in total.
fn tls_record(rng: &mut SplitMix64, len: usize) -> Vec<u8> {
    let body = len.saturating_sub(5);
    let mut v = vec![0x17, 0x03, 0x03];
    v.extend_from_slice(&(body as u16).to_be_bytes());
    v.extend_from_slice(&noise(rng, body));
    v
}

/// A UDP source-port hash of a flow, the same for both directions.
fn flow_entropy(a: &End, b: &End, protocol: u8) -> u16 {
    let ips = u64::from(u32::from(a.ip)) ^ u64::from(u32::from(b.ip));
    (mix(ips, u64::from(a.port ^ b.port) << 8 | u64::from(protocol)) >> 24) as u16
}

/// Encapsulates `st.cur` in `session`, counts it and appends it at `ts_us`.
fn mirror_at(b: &mut Builder, session: &mut Session, entropy: u16, ts_us: i64) {
    let tw = Tweaks {
        entropy,
        ..Tweaks::default()
    };
    session.encap(&mut b.st, &tw, ts_us);
    b.record(session);
    b.push_at(ts_us);
}

/// Pads `st.cur` and queues it at `START_TS_US + off_us`.
fn queue(st: &mut Stack, ev: &mut Vec<(i64, Vec<u8>)>, off_us: i64) {
    pad_to_min_frame(&mut st.cur);
    ev.push((START_TS_US + off_us, st.cur.clone()));
}

// ---------------------------------------------------------------------------
// Scenarios

pub(super) fn aws_vxlan_mirror() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "aws-vxlan-mirror",
        "AWS VPC Traffic Mirroring style VXLAN VNI 4242 on UDP 4789 one-way from mirror source 10.20.0.5 to external target 198.51.100.20 (30 packets, nothing in the reverse direction, UDP source port per mirrored flow) carrying copies of both directions of a 26-packet TCP conversation 10.20.1.10:44000 <-> 10.20.1.20:443 (handshake, 10 data segments each way, FIN teardown) and a 4-packet ICMP echo exchange between the same hosts; verdict mirror, destination external.",
        LINKTYPE_ETHERNET,
    );
    let mut session = eth(
        p4([10, 20, 0, 5], [198, 51, 100, 20]),
        Tunnel::Vxlan {
            vni: 4242,
            port: PORT_VXLAN,
        },
    );
    let mut rng = SplitMix64::new(2001);
    let (ci, si) = ([10, 20, 1, 10], [10, 20, 1, 20]);
    let mut c = End::new(ci, 44000, host_mac(ci), 64, 2002);
    let mut s = End::new(si, 443, host_mac(si), 64, 2003);
    let entropy = flow_entropy(&c, &s, IPPROTO_TCP);
    let mut ping = icmp(p4(ci, si), 4, 2004);

    macro_rules! seg {
        ($from:expr, $to:expr, $flags:expr, $payload:expr) => {{
            let l2 = $to.mac;
            tcp_seg(&mut b.st, &mut $from, &$to, l2, $flags, $payload);
            let ts = b.next_ts();
            mirror_at(&mut b, &mut session, entropy, ts);
        }};
    }

    seg!(c, s, TCP_SYN, &[]);
    seg!(s, c, TCP_SYN | TCP_ACK, &[]);
    seg!(c, s, TCP_ACK, &[]);
    for round in 0..10 {
        let len = 80 + rng.below(520) as usize;
        let req = tls_record(&mut rng, len);
        seg!(c, s, TCP_PSH | TCP_ACK, &req);
        let len = 200 + rng.below(1100) as usize;
        let resp = tls_record(&mut rng, len);
        seg!(s, c, TCP_PSH | TCP_ACK, &resp);
        if round == 3 || round == 7 {
            for _ in 0..2 {
                if ping.next_frame(&mut b.st, session.max_frame).is_some() {
                    let ts = b.next_ts();
                    mirror_at(&mut b, &mut session, ping.entropy, ts);
                }
            }
        }
    }
    seg!(c, s, TCP_FIN | TCP_ACK, &[]);
    seg!(s, c, TCP_FIN | TCP_ACK, &[]);
    seg!(c, s, TCP_ACK, &[]);
    b.finish()
}

pub(super) fn gre_teb_external() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "gre-teb-external",
        "GRE transparent Ethernet bridging (0x6558) with key 77 one-way from 10.30.0.1 to external 203.0.113.77 (24 packets, nothing in the reverse direction) carrying both directions of a 24-packet TCP conversation 10.30.1.5:51300 <-> 10.30.1.6:8080 (13 packets client to server, 11 back); verdict mirror, destination external.",
        LINKTYPE_ETHERNET,
    );
    let mut sessions = [eth(
        p4([10, 30, 0, 1], [203, 0, 113, 77]),
        Tunnel::GreTeb { key: 77 },
    )];
    let mut lanes = [via(
        tcp(p4([10, 30, 1, 5], [10, 30, 1, 6]), 51300, 8080, 24, 2101),
        0,
    )];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, no_tweaks);
    b.finish()
}

pub(super) fn ephemeral_tunnel_ports() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "ephemeral-tunnel-ports",
        "Ordinary UDP whose client (ephemeral) ports happen to be tunnel ports, 60 packets, no tunnels: for each of the client ports 37008 (TZSP), 4789 and 8472 (VXLAN), 4790 (VXLAN-GPE), 6081 (Geneve) and 4754 (GRE-in-UDP), from 192.168.7.10: a DNS query to 8.8.8.8:53 and its reply, a QUIC-style exchange with 142.250.74.14:443 (2 long-header packets each way, first byte 0xc8 so a VXLAN I flag would read as set), an NTP v3 request to 162.159.200.1:123 and its reply (first byte 0x1c); then peer-to-peer UDP from 10.0.7.5:51000 to 10.0.7.6 on each tunnel port whose payload is no valid header of that protocol (first byte 0x00: no VXLAN I flag, no VXLAN-GPE P flag, a GRE header with an unknown protocol; Geneve first byte 0x40, version 1; TZSP version 2); no sessions, no alerts.",
        LINKTYPE_ETHERNET,
    );
    let mut rng = SplitMix64::new(2601);
    let client_ip = [192, 168, 7, 10];
    let gw = router_mac([192, 168, 7, 1]);
    let client_mac = host_mac(client_ip);
    for (k, port) in [37008u16, 4789, 8472, 4790, 6081, 4754]
        .into_iter()
        .enumerate()
    {
        let seed = 2610 + k as u64 * 10;
        let mut client = End::new(client_ip, port, client_mac, 64, seed);
        // DNS: the reply's transaction id starts 0x08..: a VXLAN I flag.
        let mut q = vec![0x08, 0x10 + k as u8, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        let mut dns = End::new([8, 8, 8, 8], 53, gw, 118, seed + 1);
        udp_dgram(&mut b.st, &mut client, ([8, 8, 8, 8], 53), gw, &q);
        b.push();
        let mut r = q.clone();
        r[2] = 0x81;
        r[3] = 0x80;
        r[7] = 1;
        r.extend_from_slice(&[
            0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 93, 184, 215, 14,
        ]);
        udp_dgram(&mut b.st, &mut dns, (client_ip, port), client_mac, &r);
        b.push();
        // QUIC long headers both ways.
        let mut quic = End::new([142, 250, 74, 14], 443, gw, 120, seed + 2);
        for _ in 0..2 {
            let mut p = vec![0xc8, 0, 0, 0, 1];
            p.extend_from_slice(&noise(&mut rng, 1195));
            udp_dgram(&mut b.st, &mut client, ([142, 250, 74, 14], 443), gw, &p);
            b.push();
            let mut p = vec![0xc8, 0, 0, 0, 1];
            p.extend_from_slice(&noise(&mut rng, 1195));
            udp_dgram(&mut b.st, &mut quic, (client_ip, port), client_mac, &p);
            b.push();
        }
        // NTP v3 client request and server reply.
        let mut ntp = End::new([162, 159, 200, 1], 123, gw, 57, seed + 3);
        let mut p = vec![0x1b];
        p.extend_from_slice(&noise(&mut rng, 47));
        udp_dgram(&mut b.st, &mut client, ([162, 159, 200, 1], 123), gw, &p);
        b.push();
        let mut p = vec![0x1c];
        p.extend_from_slice(&noise(&mut rng, 47));
        udp_dgram(&mut b.st, &mut ntp, (client_ip, port), client_mac, &p);
        b.push();
    }
    // Peer-to-peer UDP to each tunnel port with no valid header.
    let peer = [10, 0, 7, 6];
    let mut host = End::new([10, 0, 7, 5], 51000, host_mac([10, 0, 7, 5]), 64, 2690);
    for (port, first) in [
        (37008u16, 0x02u8),
        (4789, 0x00),
        (8472, 0x00),
        (4790, 0x00),
        (6081, 0x40),
        (4754, 0x00),
    ] {
        for _ in 0..2 {
            let mut p = vec![first, 0, 0, 1];
            p.extend_from_slice(&noise(&mut rng, 60));
            udp_dgram(&mut b.st, &mut host, (peer, port), host_mac(peer), &p);
            pad_to_min_frame(&mut b.st.cur);
            b.push();
        }
    }
    b.finish()
}

pub(super) fn vxlan_external_two_packets() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "vxlan-external-2pkt",
        "The smallest external mirror: VXLAN VNI 7 on UDP 4789 one-way from 10.70.0.5 to external 203.0.113.200, 2 packets carrying a TCP SYN 10.70.1.10:45000 -> 10.70.1.20:22 and its SYN-ACK (both directions of one conversation in one tunnel direction); verdict mirror, destination external, alerts mirror_session_new and mirror_to_external.",
        LINKTYPE_ETHERNET,
    );
    let mut session = eth(
        p4([10, 70, 0, 5], [203, 0, 113, 200]),
        Tunnel::Vxlan {
            vni: 7,
            port: PORT_VXLAN,
        },
    );
    let (ci, si) = ([10, 70, 1, 10], [10, 70, 1, 20]);
    let mut c = End::new(ci, 45000, host_mac(ci), 64, 2701);
    let mut s = End::new(si, 22, host_mac(si), 64, 2702);
    let entropy = flow_entropy(&c, &s, IPPROTO_TCP);
    let l2 = s.mac;
    tcp_seg(&mut b.st, &mut c, &s, l2, TCP_SYN, &[]);
    let ts = b.next_ts();
    mirror_at(&mut b, &mut session, entropy, ts);
    let l2 = c.mac;
    tcp_seg(&mut b.st, &mut s, &c, l2, TCP_SYN | TCP_ACK, &[]);
    let ts = b.next_ts();
    mirror_at(&mut b, &mut session, entropy, ts);
    b.finish()
}

pub(super) fn native_and_copies() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "native-and-copies",
        "Native traffic and its mirror copies at one capture point, 40 packets: a 20-packet TCP conversation 10.40.1.10:51400 <-> 10.40.1.20:80 sent as is (even packets 0,2,..,38, 1 ms apart), each followed 200 us later by an ERSPAN II session 40 copy from 10.40.0.1 to internal 10.40.0.99 whose inner frame is byte-identical to the native frame (odd packets, 20 in all); every copy is a duplicate of the packet before it; verdict mirror, destination internal.",
        LINKTYPE_ETHERNET,
    );
    let mut session = eth(p4([10, 40, 0, 1], [10, 40, 0, 99]), erspan2_t(40));
    let mut flow = tcp(p4([10, 40, 1, 10], [10, 40, 1, 20]), 51400, 80, 20, 2201);
    let mut ts = START_TS_US;
    while flow.next_frame(&mut b.st, session.max_frame).is_some() {
        pad_to_min_frame(&mut b.st.cur);
        b.push_at(ts);
        mirror_at(&mut b, &mut session, 0, ts + 200);
        ts += 1_000;
    }
    b.finish()
}

pub(super) fn tee_copy() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "tee-copy",
        "iptables TEE / tc mirred style unencapsulated copies, 24 packets, no tunnels: 12 native packets from 10.50.1.10 to 10.50.1.20 (even packets 0,2,..,22, 1 ms apart; UDP 40500->514 at 0,4,..,20 and TCP 40501->8443 data segments at 2,6,..,22) from MAC 52:54:00:32:01:0a to the gateway 00:1b:21:32:01:01, each followed 100 us later by the identical IP packet (same identification, ports, sequence numbers and payload; TTL 63 instead of 64 and so another IPv4 checksum) from the same source MAC to the TEE gateway 00:1b:21:32:01:fe; every copy duplicates the packet before it; no sessions, verdict unencapsulated copy (TEE).",
        LINKTYPE_ETHERNET,
    );
    let host = [10, 50, 1, 10];
    let peer = [10, 50, 1, 20];
    let mac_a = host_mac(host);
    let mac_b = router_mac([10, 50, 1, 1]);
    let mac_c = router_mac([10, 50, 1, 254]);
    let mut rng = SplitMix64::new(2301);
    let mut udp_src = End::new(host, 40500, mac_a, 64, 2302);
    let mut tcp_src = End::new(host, 40501, mac_a, 64, 2303);
    let tcp_dst = End::new(peer, 8443, host_mac(peer), 64, 2304);
    for i in 0..12i64 {
        if i % 2 == 0 {
            let len = 120 + rng.below(280) as usize;
            let mut msg = b"<134>1 2026-01-01T00:00:00Z app01 billing - - - ".to_vec();
            msg.extend_from_slice(&hex_text(&mut rng, len - msg.len()));
            udp_dgram(&mut b.st, &mut udp_src, (peer, 514), mac_b, &msg);
        } else {
            let len = 200 + rng.below(1000) as usize;
            let data = noise(&mut rng, len);
            tcp_seg(
                &mut b.st,
                &mut tcp_src,
                &tcp_dst,
                mac_b,
                TCP_PSH | TCP_ACK,
                &data,
            );
        }
        pad_to_min_frame(&mut b.st.cur);
        let ts = START_TS_US + i * 1_000;
        b.push_at(ts);
        b.st.cur[..6].copy_from_slice(&mac_c);
        let ip = &mut b.st.cur[14..];
        ip[8] -= 1;
        ipv4_fix_checksum(ip);
        b.push_at(ts + 100);
    }
    b.finish()
}

/// An HTTP POST request of exactly `len` bytes (300..=999) with a JSON body.
fn http_post(rng: &mut SplitMix64, k: usize, len: usize) -> Vec<u8> {
    // The body length has three digits for every length used here.
    const HEAD: &[u8] = b"POST /api/v1/orders HTTP/1.1\r\nHost: 10.60.1.20:8080\r\nContent-Type: application/json\r\nContent-Length: ";
    let body_len = len - HEAD.len() - 3 - 4;
    let mut v = HEAD.to_vec();
    v.extend_from_slice(format!("{body_len:03}\r\n\r\n").as_bytes());
    let prefix = format!("{{\"order\":{k},\"card\":\"");
    v.extend_from_slice(prefix.as_bytes());
    v.extend_from_slice(&hex_text(rng, body_len - prefix.len() - 2));
    v.extend_from_slice(b"\"}");
    v
}

pub(super) fn payload_shadow() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "payload-shadow",
        "Traffic shadowing without encapsulation, 42 packets, no tunnels: 10.60.1.10:50610 sends 6 HTTP POST requests (347, 512, 689, 301, 876 and 455 bytes, all different) to internal 10.60.1.20:8080 and 2.0, 2.5, 3.0, 3.5, 4.0 and 4.5 ms later the byte-identical payloads over a second TCP connection 10.60.1.10:50611 -> external 203.0.113.60:443 (other sequence numbers and IP identifications; 18 packets per connection with handshake, ACKs and FIN teardown), plus three identical 20-byte UDP keep-alives each to internal 10.60.1.30:5000 and external 198.51.100.61:5000 that are too small to count; no packet duplicates, verdict payload shadowing to external 203.0.113.60 (6 shared payloads).",
        LINKTYPE_ETHERNET,
    );
    let client = [10, 60, 1, 10];
    let (server, outside) = ([10, 60, 1, 20], [203, 0, 113, 60]);
    let mac_c = host_mac(client);
    let mac_g = router_mac([10, 60, 1, 1]);
    let mut rng = SplitMix64::new(2401);
    let mut c1 = End::new(client, 50610, mac_c, 64, 2402);
    let mut srv = End::new(server, 8080, host_mac(server), 64, 2403);
    let mut c2 = End::new(client, 50611, mac_c, 64, 2404);
    let mut ext = End::new(outside, 443, mac_g, 52, 2405);
    let mut ka = End::new(client, 50612, mac_c, 64, 2406);
    let mut st = Stack::default();
    let mut ev: Vec<(i64, Vec<u8>)> = Vec::new();

    // Handshakes: the inside one with a 0.3 ms, the outside one with a 3 ms
    // round trip.
    let (ms, ml, mg) = (srv.mac, c1.mac, mac_g);
    tcp_seg(&mut st, &mut c1, &srv, ms, TCP_SYN, &[]);
    queue(&mut st, &mut ev, 0);
    tcp_seg(&mut st, &mut srv, &c1, ml, TCP_SYN | TCP_ACK, &[]);
    queue(&mut st, &mut ev, 300);
    tcp_seg(&mut st, &mut c1, &srv, ms, TCP_ACK, &[]);
    queue(&mut st, &mut ev, 600);
    tcp_seg(&mut st, &mut c2, &ext, mg, TCP_SYN, &[]);
    queue(&mut st, &mut ev, 1_000);
    tcp_seg(&mut st, &mut ext, &c2, ml, TCP_SYN | TCP_ACK, &[]);
    queue(&mut st, &mut ev, 4_000);
    tcp_seg(&mut st, &mut c2, &ext, mg, TCP_ACK, &[]);
    queue(&mut st, &mut ev, 4_300);

    let mut beat = 0;
    for (k, &len) in SHADOW_POSTS.iter().enumerate() {
        let slot = 10_000 + k as i64 * 10_000;
        let delay = 2_000 + k as i64 * 500;
        let post = http_post(&mut rng, k, len);
        tcp_seg(&mut st, &mut c1, &srv, ms, TCP_PSH | TCP_ACK, &post);
        queue(&mut st, &mut ev, slot);
        tcp_seg(&mut st, &mut srv, &c1, ml, TCP_ACK, &[]);
        queue(&mut st, &mut ev, slot + 400);
        tcp_seg(&mut st, &mut c2, &ext, mg, TCP_PSH | TCP_ACK, &post);
        queue(&mut st, &mut ev, slot + delay);
        tcp_seg(&mut st, &mut ext, &c2, ml, TCP_ACK, &[]);
        queue(&mut st, &mut ev, slot + delay + 3_000);
        if k % 2 == 1 {
            beat += 1;
            let msg = format!("KEEPALIVE seq={beat:05}\n");
            let inside = [10, 60, 1, 30];
            udp_dgram(
                &mut st,
                &mut ka,
                (inside, 5000),
                host_mac(inside),
                msg.as_bytes(),
            );
            queue(&mut st, &mut ev, slot + 8_000);
            udp_dgram(
                &mut st,
                &mut ka,
                ([198, 51, 100, 61], 5000),
                mg,
                msg.as_bytes(),
            );
            queue(&mut st, &mut ev, slot + 8_200);
        }
    }

    tcp_seg(&mut st, &mut c1, &srv, ms, TCP_FIN | TCP_ACK, &[]);
    queue(&mut st, &mut ev, 70_000);
    tcp_seg(&mut st, &mut srv, &c1, ml, TCP_FIN | TCP_ACK, &[]);
    queue(&mut st, &mut ev, 70_300);
    tcp_seg(&mut st, &mut c1, &srv, ms, TCP_ACK, &[]);
    queue(&mut st, &mut ev, 70_600);
    tcp_seg(&mut st, &mut c2, &ext, mg, TCP_FIN | TCP_ACK, &[]);
    queue(&mut st, &mut ev, 71_000);
    tcp_seg(&mut st, &mut ext, &c2, ml, TCP_FIN | TCP_ACK, &[]);
    queue(&mut st, &mut ev, 74_000);
    tcp_seg(&mut st, &mut c2, &ext, mg, TCP_ACK, &[]);
    queue(&mut st, &mut ev, 74_300);

    ev.sort_by_key(|e| e.0);
    for (ts, frame) in ev {
        b.st.cur = frame;
        b.push_at(ts);
    }
    b.finish()
}

pub(super) fn volume_spike() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "volume-spike",
        "ERSPAN II session 50 from 10.70.0.1 to internal 10.70.0.99, 860 packets over 24 seconds, timestamps spread evenly inside each second: 20 packets/s of 500-byte frames (10,000 B/s; TCP 10.70.1.10:50700 <-> 10.70.1.20:5432 data, alternating directions) in seconds 0-19 and 21-23, and in second 20 (00:00:20-00:00:21Z) a burst of 400 frames of 1400 bytes (560,000 B/s, 56 times the baseline; TCP 10.70.1.30:50701 -> 10.70.1.40:445 data); verdict mirror, destination internal, volume anomaly in second 20.",
        LINKTYPE_ETHERNET,
    );
    let mut session = eth(p4([10, 70, 0, 1], [10, 70, 0, 99]), erspan2_t(50));
    let mut rng = SplitMix64::new(2501);
    let block = noise(&mut rng, 2048);
    let (ai, bi) = ([10, 70, 1, 10], [10, 70, 1, 20]);
    let (ui, vi) = ([10, 70, 1, 30], [10, 70, 1, 40]);
    let mut a = End::new(ai, 50700, host_mac(ai), 64, 2502);
    let mut db = End::new(bi, 5432, host_mac(bi), 64, 2503);
    let mut up = End::new(ui, 50701, host_mac(ui), 64, 2504);
    let smb = End::new(vi, 445, host_mac(vi), 64, 2505);
    let steady = SPIKE_STEADY_FRAME - ERSPAN2_OVERHEAD - ETH_IP_TCP;
    let burst = SPIKE_BURST_FRAME - ERSPAN2_OVERHEAD - ETH_IP_TCP;
    for sec in 0..24i64 {
        let n = if sec == 20 { 400 } else { 20 };
        for i in 0..n {
            let off = (sec * 37 + i * 13) as usize % (block.len() - burst);
            let flags = TCP_PSH | TCP_ACK;
            if sec == 20 {
                let l2 = smb.mac;
                tcp_seg(
                    &mut b.st,
                    &mut up,
                    &smb,
                    l2,
                    flags,
                    &block[off..off + burst],
                );
            } else if i % 2 == 0 {
                let l2 = db.mac;
                tcp_seg(&mut b.st, &mut a, &db, l2, flags, &block[off..off + steady]);
            } else {
                let l2 = a.mac;
                tcp_seg(&mut b.st, &mut db, &a, l2, flags, &block[off..off + steady]);
            }
            let ts = START_TS_US + sec * 1_000_000 + i * (1_000_000 / n);
            mirror_at(&mut b, &mut session, 0, ts);
        }
    }
    b.finish()
}

pub(super) fn overlay_and_mirror_ipv6() -> (Scenario, Vec<ExpectedSession>) {
    let mut b = Builder::new(
        "overlay-and-mirror-ipv6",
        "VXLAN over IPv6 on UDP 4789, 32 packets: an overlay, VNI 100 between internal VTEPs fd00:10::1 and fd00:10::2 carrying a 16-packet IPv6 TCP conversation [fd00:100::10]:51600 <-> [fd00:100::20]:80 each direction from its own VTEP (9 packets fd00:10::1->fd00:10::2, 7 back; verdict overlay, not a mirror), and a mirror, VNI 4243 one-way from fd00:10::5 to external 2001:db8:beef::20 carrying both directions of a 12-packet IPv6 TCP conversation [fd00:200::10]:51601 <-> [fd00:200::20]:8080 and 4 ICMPv6 echoes fd00:200::10 <-> fd00:200::1 (16 packets; verdict mirror, destination external).",
        LINKTYPE_ETHERNET,
    );
    let v6 = |a: u16, b: u16, h: u16| [a, b, 0, 0, 0, 0, 0, h];
    let vx = |vni| Tunnel::Vxlan {
        vni,
        port: PORT_VXLAN,
    };
    let mut sessions = [
        eth(p6(v6(0xfd00, 0x10, 1), v6(0xfd00, 0x10, 2)), vx(100)),
        eth(p6(v6(0xfd00, 0x10, 2), v6(0xfd00, 0x10, 1)), vx(100)),
        eth(
            p6(
                v6(0xfd00, 0x10, 5),
                [0x2001, 0xdb8, 0xbeef, 0, 0, 0, 0, 0x20],
            ),
            vx(4243),
        ),
    ];
    let mut lanes = [
        Lane {
            flow: tcp(
                p6(v6(0xfd00, 0x100, 0x10), v6(0xfd00, 0x100, 0x20)),
                51600,
                80,
                16,
                2601,
            ),
            fwd: Some(0),
            rev: Some(1),
        },
        via(
            tcp(
                p6(v6(0xfd00, 0x200, 0x10), v6(0xfd00, 0x200, 0x20)),
                51601,
                8080,
                12,
                2602,
            ),
            2,
        ),
        via(
            icmp(p6(v6(0xfd00, 0x200, 0x10), v6(0xfd00, 0x200, 1)), 4, 2603),
            2,
        ),
    ];
    drive(&mut b, &mut sessions, &mut lanes, usize::MAX, no_tweaks);
    b.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::IpAddr;

    use super::super::scenarios_with_expected;
    use super::*;

    fn get(name: &str) -> (Scenario, Vec<ExpectedSession>) {
        match scenarios_with_expected()
            .into_iter()
            .find(|(s, _)| s.name == name)
        {
            Some(x) => x,
            None => panic!("missing scenario {name}"),
        }
    }

    fn ip(s: &str) -> IpAddr {
        match s.parse() {
            Ok(a) => a,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn session(encap: &'static str, src: &str, dst: &str, id: u32, n: u64) -> ExpectedSession {
        ExpectedSession {
            encap,
            outer_src: ip(src),
            outer_dst: ip(dst),
            id: Some(id),
            packets: n,
        }
    }

    /// The IPv4 packet of an untagged Ethernet frame, without padding.
    fn ipv4(frame: &[u8]) -> &[u8] {
        assert_eq!(&frame[12..14], &[0x08, 0x00]);
        let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
        &frame[14..14 + total]
    }

    /// Transport payload of an IPv4 TCP/UDP packet.
    fn payload(ip: &[u8]) -> &[u8] {
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        match ip[9] {
            6 => &ip[ihl + usize::from(ip[ihl + 12] >> 4) * 4..],
            17 => &ip[ihl + 8..],
            p => panic!("protocol {p}"),
        }
    }

    /// (source, destination) of an IPv4 packet.
    fn addrs(ip: &[u8]) -> ([u8; 4], [u8; 4]) {
        let a = |i: usize| [ip[i], ip[i + 1], ip[i + 2], ip[i + 3]];
        (a(12), a(16))
    }

    #[test]
    fn packet_counts_and_sessions() {
        let cases: [(&str, usize, Vec<ExpectedSession>); 7] = [
            (
                "aws-vxlan-mirror",
                30,
                vec![session("vxlan", "10.20.0.5", "198.51.100.20", 4242, 30)],
            ),
            (
                "gre-teb-external",
                24,
                vec![session("gre-teb", "10.30.0.1", "203.0.113.77", 77, 24)],
            ),
            (
                "native-and-copies",
                40,
                vec![session("erspan2", "10.40.0.1", "10.40.0.99", 40, 20)],
            ),
            ("tee-copy", 24, vec![]),
            ("payload-shadow", 42, vec![]),
            (
                "volume-spike",
                860,
                vec![session("erspan2", "10.70.0.1", "10.70.0.99", 50, 860)],
            ),
            (
                "overlay-and-mirror-ipv6",
                32,
                vec![
                    session("vxlan", "fd00:10::1", "fd00:10::2", 100, 9),
                    session("vxlan", "fd00:10::5", "2001:db8:beef::20", 4243, 16),
                    session("vxlan", "fd00:10::2", "fd00:10::1", 100, 7),
                ],
            ),
        ];
        for (name, n, sessions) in cases {
            let (s, e) = get(name);
            assert_eq!(s.packets.len(), n, "{name}");
            assert_eq!(e, sessions, "{name}");
            assert_eq!(s.packets[0].ts_us, START_TS_US, "{name}");
            assert!(
                s.packets.windows(2).all(|w| w[0].ts_us < w[1].ts_us),
                "{name}: timestamps must increase"
            );
        }
    }

    /// Inner IPv4 packets of VXLAN/IPv4 (no UDP checksum) or GRE-TEB frames.
    fn tunnelled_ipv4(frame: &[u8]) -> &[u8] {
        let outer = ipv4(frame);
        let inner = match outer[9] {
            17 => &outer[20 + 8 + 8..],
            47 => &outer[20 + 8..],
            p => panic!("protocol {p}"),
        };
        ipv4(inner)
    }

    #[test]
    fn one_way_mirrors_carry_both_directions() {
        for (name, src, dst, a, b) in [
            (
                "aws-vxlan-mirror",
                [10, 20, 0, 5],
                [198, 51, 100, 20],
                [10, 20, 1, 10],
                [10, 20, 1, 20],
            ),
            (
                "gre-teb-external",
                [10, 30, 0, 1],
                [203, 0, 113, 77],
                [10, 30, 1, 5],
                [10, 30, 1, 6],
            ),
        ] {
            let (s, _) = get(name);
            let mut dirs = HashMap::new();
            for p in &s.packets {
                assert_eq!(addrs(ipv4(&p.data)), (src, dst), "{name}");
                *dirs.entry(addrs(tunnelled_ipv4(&p.data))).or_insert(0) += 1;
            }
            assert_eq!(dirs.len(), 2, "{name}: {dirs:?}");
            assert!(dirs[&(a, b)] > 0 && dirs[&(b, a)] > 0, "{name}");
        }
        // AWS: 13 + 2 packets each way, TCP data segments carry payloads, one
        // UDP source port per mirrored flow.
        let (s, _) = get("aws-vxlan-mirror");
        let mut data = [0, 0];
        let mut ports = HashMap::new();
        for p in &s.packets {
            let outer = ipv4(&p.data);
            let sport = u16::from_be_bytes([outer[20], outer[21]]);
            assert_eq!(&outer[22..24], &4789u16.to_be_bytes());
            let inner = tunnelled_ipv4(&p.data);
            ports.entry(inner[9]).or_insert(sport);
            assert_eq!(ports[&inner[9]], sport);
            if inner[9] == 6 && !payload(inner).is_empty() {
                data[usize::from(inner[12..16] == [10, 20, 1, 20])] += 1;
            }
        }
        assert_eq!(data, [10, 10]);
        assert_eq!(ports.len(), 2);
        assert_ne!(ports[&6], ports[&1]);
    }

    #[test]
    fn native_and_copies_are_duplicates() {
        let (s, _) = get("native-and-copies");
        for (i, pair) in s.packets.chunks(2).enumerate() {
            let (native, copy) = (&pair[0], &pair[1]);
            assert_eq!(native.ts_us, START_TS_US + i as i64 * 1_000);
            assert_eq!(copy.ts_us, native.ts_us + 200);
            assert_eq!(addrs(ipv4(&native.data)).0[..3], [10, 40, 1]);
            let outer = ipv4(&copy.data);
            assert_eq!(addrs(outer), ([10, 40, 0, 1], [10, 40, 0, 99]));
            // GRE with sequence (8) + ERSPAN II (8), then the native frame.
            assert_eq!(&outer[20 + 8 + 8..], &native.data[..]);
        }
    }

    #[test]
    fn tee_copies_differ_only_in_ttl_checksum_and_mac() {
        let (s, e) = get("tee-copy");
        assert!(e.is_empty());
        let (mut udp, mut tcp) = (0, 0);
        for (i, pair) in s.packets.chunks(2).enumerate() {
            let (native, copy) = (&pair[0].data, &pair[1].data);
            assert_eq!(pair[1].ts_us, pair[0].ts_us + 100);
            assert_eq!(pair[0].ts_us, START_TS_US + i as i64 * 1_000);
            assert_eq!(&native[6..12], &copy[6..12], "same source MAC");
            assert_eq!(&native[..6], &[0x00, 0x1b, 0x21, 50, 1, 1]);
            assert_eq!(&copy[..6], &[0x00, 0x1b, 0x21, 50, 1, 254]);
            let (a, b) = (ipv4(native), ipv4(copy));
            assert_eq!(addrs(a), ([10, 50, 1, 10], [10, 50, 1, 20]));
            assert_eq!((a[8], b[8]), (64, 63));
            assert_ne!(a[10..12], b[10..12]);
            assert_eq!(a[..8], b[..8]);
            assert_eq!(a[12..], b[12..]);
            assert!(payload(a).len() >= 64);
            udp += usize::from(a[9] == 17);
            tcp += usize::from(a[9] == 6);
        }
        assert_eq!((udp, tcp), (6, 6));
    }

    #[test]
    fn shadow_payloads_are_shared_with_the_outside() {
        let (s, e) = get("payload-shadow");
        assert!(e.is_empty());
        // payload -> (destination, timestamp) of each sighting.
        let mut seen: HashMap<Vec<u8>, Vec<([u8; 4], i64)>> = HashMap::new();
        let mut ids = HashMap::new();
        for p in &s.packets {
            let ip = ipv4(&p.data);
            let pl = payload(ip);
            if !pl.is_empty() {
                seen.entry(pl.to_vec())
                    .or_default()
                    .push((addrs(ip).1, p.ts_us));
            }
            let id = u16::from_be_bytes([ip[4], ip[5]]);
            assert!(ids.insert((addrs(ip).0, id), ()).is_none(), "IP id reused");
        }
        let mut posts = 0;
        let mut beats = 0;
        for (pl, at) in &seen {
            assert_eq!(at.len(), 2, "each payload goes inside and outside");
            if pl.starts_with(b"POST ") {
                posts += 1;
                assert!((300..=900).contains(&pl.len()));
                assert_eq!(at[0].0, [10, 60, 1, 20]);
                assert_eq!(at[1].0, [203, 0, 113, 60]);
                assert!((2_000..=5_000).contains(&(at[1].1 - at[0].1)));
                let body =
                    pl.len() - (pl.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4);
                assert!(pl.ends_with(b"\"}"));
                assert!(
                    String::from_utf8_lossy(pl).contains(&format!("Content-Length: {body}\r\n"))
                );
            } else {
                beats += 1;
                assert_eq!(pl.len(), 20);
                assert_eq!(at[0].0, [10, 60, 1, 30]);
                assert_eq!(at[1].0, [198, 51, 100, 61]);
            }
        }
        assert_eq!((posts, beats), (6, 3));
        let mut lens: Vec<usize> = SHADOW_POSTS.to_vec();
        lens.sort_unstable();
        lens.dedup();
        assert_eq!(lens.len(), 6);
    }

    #[test]
    fn volume_spike_rates() {
        let (s, _) = get("volume-spike");
        let mut per_sec: HashMap<i64, (usize, usize)> = HashMap::new();
        for p in &s.packets {
            let e = per_sec
                .entry((p.ts_us - START_TS_US) / 1_000_000)
                .or_default();
            e.0 += 1;
            e.1 += p.data.len();
        }
        assert_eq!(per_sec.len(), 24);
        for (sec, (n, bytes)) in per_sec {
            if sec == 20 {
                assert_eq!((n, bytes), (400, 560_000));
            } else {
                assert_eq!((n, bytes), (20, 10_000), "second {sec}");
            }
        }
    }
}
