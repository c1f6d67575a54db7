//! Inner traffic: small stateful conversations (TCP, DNS, ICMP echo, ARP)
//! that emit one Ethernet frame at a time.

use std::net::Ipv4Addr;

use super::Stack;
use super::build::{
    ETHERTYPE_ARP, ETHERTYPE_VLAN, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, IpPair,
    Ipv4, Ipv6, Ipv6Ext, MAC_BROADCAST, Mac, PORT_DNS, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, Tcp,
    arp_into, dns_query_into, dns_response_a_into, ethernet_into, icmp_echo_into, icmpv6_echo_into,
    ipv4_into, ipv6_into, tcp_into, udp_into, vlan_into,
};
use super::rng::{SplitMix64, mix};

/// What a flow looks like on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlowKind {
    /// Handshake, request/response data, FIN teardown; at least 7 packets.
    Tcp { packets: u32 },
    /// One A query and its response.
    Dns,
    /// Alternating echo requests and replies.
    Icmp { packets: u32 },
    /// One ARP request (broadcast) and its reply; IPv4 only.
    Arp,
}

const DNS_NAMES: [&str; 6] = [
    "www.example.com",
    "mail.example.org",
    "updates.example.net",
    "cdn.example.com",
    "intranet.corp.example",
    "api.example.org",
];

const HTTP_REQUESTS: [&[u8]; 4] = [
    b"GET / HTTP/1.1\r\nHost: intranet.example\r\nAccept: */*\r\n\r\n",
    b"GET /api/v2/orders?limit=50&page=3 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\nAccept: application/json\r\nCookie: session=7f3a9c2e51d04b8a\r\n\r\n",
    b"GET /static/app.3f9c1e.js HTTP/1.1\r\nHost: cdn.example\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n",
    b"GET /reports/q4/export.csv HTTP/1.1\r\nHost: files.example\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.c3ludGg.dGVzdA\r\nAccept: text/csv\r\n\r\n",
];

const HTTP_BODY: &[u8] = b"{\"id\":4711,\"customer\":\"ACME Corp\",\"items\":[{\"sku\":\"A-100\",\"qty\":3,\"price\":19.99},{\"sku\":\"B-220\",\"qty\":1,\"price\":249.00}],\"status\":\"shipped\",\"notes\":\"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.\"}\n";

/// One conversation between a client and a server.
#[derive(Clone, Debug)]
pub(crate) struct Flow {
    kind: FlowKind,
    /// Client -> server.
    addrs: IpPair,
    client_mac: Mac,
    server_mac: Mac,
    cport: u16,
    sport: u16,
    /// 802.1Q tag on every frame of the flow.
    pub(crate) vlan: Option<u16>,
    /// IPv4 router-alert option / IPv6 hop-by-hop + destination options.
    ip_options: bool,
    seed: u64,
    step: u32,
    c_next: u32,
    s_next: u32,
    c_ip_id: u16,
    s_ip_id: u16,
    /// Body bytes still announced by the last HTTP response header.
    pending_body: usize,
    /// Stable per 5-tuple hash, used for tunnel UDP source ports.
    pub(crate) entropy: u16,
}

/// Derives a locally administered-looking MAC from an address pair side.
pub(crate) fn mac_for(addrs: IpPair, server: bool) -> Mac {
    let ip = if server { addrs.dst() } else { addrs.src() };
    let h = match ip {
        std::net::IpAddr::V4(a) => mix(0x4d41_4334, u64::from(u32::from(a))),
        std::net::IpAddr::V6(a) => mix(0x4d41_4336, (u128::from(a) & u128::from(u64::MAX)) as u64),
    };
    let b = h.to_be_bytes();
    [0x52, 0x54, 0x00, b[0], b[1], b[2]]
}

impl Flow {
    pub(crate) fn new(kind: FlowKind, addrs: IpPair, cport: u16, sport: u16, seed: u64) -> Self {
        let kind = match (kind, addrs) {
            (FlowKind::Arp, IpPair::V6(..)) => FlowKind::Icmp { packets: 2 },
            (k, _) => k,
        };
        let tuple = mix(
            mix(u64::from(addrs.is_ipv6()), hash_ip(addrs)),
            u64::from(cport) << 16 | u64::from(sport),
        );
        let isn = mix(seed, 0x15);
        Self {
            kind,
            addrs,
            client_mac: mac_for(addrs, false),
            server_mac: mac_for(addrs, true),
            cport,
            sport,
            vlan: None,
            ip_options: false,
            seed,
            step: 0,
            c_next: (isn >> 32) as u32,
            s_next: isn as u32,
            c_ip_id: (isn >> 8) as u16,
            s_ip_id: (isn >> 40) as u16,
            pending_body: 0,
            entropy: (tuple >> 24) as u16,
        }
    }

    pub(crate) fn with_vlan(mut self, vid: u16) -> Self {
        self.vlan = Some(vid);
        self
    }

    pub(crate) fn with_ip_options(mut self) -> Self {
        self.ip_options = true;
        self
    }

    /// Total number of frames the flow emits.
    pub(crate) fn total(&self) -> u32 {
        match self.kind {
            FlowKind::Tcp { packets } => packets.max(7),
            FlowKind::Dns | FlowKind::Arp => 2,
            FlowKind::Icmp { packets } => packets.max(1),
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.step >= self.total()
    }

    /// Writes the next frame (Ethernet, 802.1Q-tagged when `vlan` is set,
    /// not padded) into `st.cur`, no longer than `max_frame` where the
    /// payload size allows. Returns `Some(true)` for client -> server,
    /// `Some(false)` for server -> client, `None` when the flow is done.
    pub(crate) fn next_frame(&mut self, st: &mut Stack, max_frame: usize) -> Option<bool> {
        if self.is_done() {
            return None;
        }
        let step = self.step;
        self.step += 1;
        st.cur.clear();
        let l2 = if self.vlan.is_some() { 18 } else { 14 };
        let l3 = match (self.addrs, self.ip_options) {
            (IpPair::V4(..), false) => 20,
            (IpPair::V4(..), true) => 24,
            (IpPair::V6(..), false) => 40,
            (IpPair::V6(..), true) => 56,
        };
        let room = max_frame.saturating_sub(l2 + l3);
        let (from_client, ethertype) = match self.kind {
            FlowKind::Arp => (self.arp(step, st), ETHERTYPE_ARP),
            kind => {
                let (from_client, protocol) = match kind {
                    FlowKind::Tcp { packets } => {
                        (self.tcp(step, packets.max(7), room, st), IPPROTO_TCP)
                    }
                    FlowKind::Dns => (self.dns(step, st), IPPROTO_UDP),
                    _ => self.icmp(step, st),
                };
                self.ip(from_client, protocol, st);
                (from_client, self.addrs.ethertype())
            }
        };
        let (dst, src) = if from_client {
            (self.server_mac, self.client_mac)
        } else {
            (self.client_mac, self.server_mac)
        };
        let dst = if self.kind == FlowKind::Arp && step == 0 {
            MAC_BROADCAST
        } else {
            dst
        };
        match self.vlan {
            Some(vid) => {
                st.wrap(|o, p| vlan_into(o, 0, false, vid, ethertype, p));
                st.wrap(|o, p| ethernet_into(o, dst, src, ETHERTYPE_VLAN, p));
            }
            None => st.wrap(|o, p| ethernet_into(o, dst, src, ethertype, p)),
        }
        Some(from_client)
    }

    fn dir(&self, from_client: bool) -> IpPair {
        if from_client {
            self.addrs
        } else {
            self.addrs.reversed()
        }
    }

    fn ip(&mut self, from_client: bool, protocol: u8, st: &mut Stack) {
        let addrs = self.dir(from_client);
        let (ttl, id) = if from_client {
            self.c_ip_id = self.c_ip_id.wrapping_add(1);
            (64, self.c_ip_id)
        } else {
            self.s_ip_id = self.s_ip_id.wrapping_add(1);
            (57, self.s_ip_id)
        };
        ip_layer_into_stack(
            st,
            addrs,
            protocol,
            ttl,
            id,
            self.ip_options,
            u32::from(self.entropy),
        );
    }

    fn tcp(&mut self, step: u32, n: u32, room: usize, st: &mut Stack) -> bool {
        let max_payload = room.saturating_sub(20);
        let mut rng = SplitMix64::new(mix(self.seed, u64::from(step)));
        let data_step = step.checked_sub(3).filter(|_| step + 3 < n);
        let (from_client, flags, mss) = match (step, data_step) {
            (0, _) => (true, TCP_SYN, true),
            (1, _) => (false, TCP_SYN | TCP_ACK, true),
            (_, Some(j)) => match j % 4 {
                0 => (true, TCP_PSH | TCP_ACK, false),
                1 => (false, TCP_ACK, false),
                2 => (false, TCP_PSH | TCP_ACK, false),
                _ => (true, TCP_ACK, false),
            },
            _ if step + 3 == n => (true, TCP_FIN | TCP_ACK, false),
            _ if step + 2 == n => (false, TCP_FIN | TCP_ACK, false),
            _ => (true, TCP_ACK, false),
        };
        let start = st.cur.len();
        if let Some(j) = data_step {
            match j % 4 {
                0 => {
                    let req =
                        HTTP_REQUESTS[(self.seed as usize ^ j as usize) % HTTP_REQUESTS.len()];
                    st.cur.extend_from_slice(&req[..req.len().min(max_payload)]);
                }
                1 => {
                    // First segment of a response: mostly full-sized.
                    let len1 = if rng.below(4) == 0 && max_payload > 300 {
                        300 + rng.below((max_payload - 300) as u64) as usize
                    } else {
                        max_payload
                    };
                    let len2 = 200.min(max_payload)
                        + rng.below(max_payload.saturating_sub(200) as u64 + 1) as usize;
                    self.http_response(len1, len2, st);
                }
                2 => {
                    let len = self.pending_body.min(max_payload);
                    self.pending_body = 0;
                    body_into(&mut st.cur, len, self.seed as usize);
                }
                _ => {}
            }
        }
        let len = (st.cur.len() - start) as u32;
        let syn_fin = u32::from(flags & (TCP_SYN | TCP_FIN) != 0);
        let (seq, ack) = if from_client {
            let s = self.c_next;
            self.c_next = s.wrapping_add(len + syn_fin);
            (s, self.s_next)
        } else {
            let s = self.s_next;
            self.s_next = s.wrapping_add(len + syn_fin);
            (s, self.c_next)
        };
        let (sport, dport) = if from_client {
            (self.cport, self.sport)
        } else {
            (self.sport, self.cport)
        };
        let h = Tcp {
            sport,
            dport,
            seq,
            ack: if flags & TCP_ACK != 0 { ack } else { 0 },
            flags,
            window: if from_client { 64_240 } else { 65_160 },
            mss: mss.then_some(1460),
        };
        let addrs = self.dir(from_client);
        st.wrap(|o, p| tcp_into(o, addrs, &h, p));
        from_client
    }

    /// Writes a response of `len1` bytes starting with an HTTP header whose
    /// Content-Length also covers the next `len2`-byte segment.
    fn http_response(&mut self, len1: usize, len2: usize, st: &mut Stack) {
        const HEAD: &[u8] =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ";
        let digits = |n: usize| n.checked_ilog10().unwrap_or(0) as usize + 1;
        // Header length depends on the digit count of the body length.
        let mut body = 0;
        let mut fits = false;
        for d in 1..=6 {
            let hdr = HEAD.len() + d + 4;
            if len1 >= hdr {
                let b = len1 - hdr + len2;
                if digits(b) == d {
                    body = b;
                    fits = true;
                    break;
                }
            }
        }
        if !fits {
            body_into(&mut st.cur, len1, self.seed as usize);
            return;
        }
        st.cur.extend_from_slice(HEAD);
        push_decimal(&mut st.cur, body);
        st.cur.extend_from_slice(b"\r\n\r\n");
        let hdr_len = HEAD.len() + digits(body) + 4;
        body_into(&mut st.cur, len1 - hdr_len, self.seed as usize);
        self.pending_body = len2;
    }

    fn dns(&mut self, step: u32, st: &mut Stack) -> bool {
        let id = (self.seed >> 16) as u16;
        let name = DNS_NAMES[(self.seed % DNS_NAMES.len() as u64) as usize];
        let from_client = step == 0;
        if from_client {
            dns_query_into(&mut st.cur, id, name, 1);
        } else {
            let b = (self.seed >> 40).to_be_bytes();
            let answer = if b[7] & 1 == 0 {
                Ipv4Addr::new(198, 51, 100, b[6] % 250 + 1)
            } else {
                Ipv4Addr::new(203, 0, 113, b[6] % 250 + 1)
            };
            dns_response_a_into(&mut st.cur, id, name, answer, 300);
        }
        let (sport, dport) = if from_client {
            (self.cport, PORT_DNS)
        } else {
            (PORT_DNS, self.cport)
        };
        let addrs = self.dir(from_client);
        st.wrap(|o, p| udp_into(o, addrs, sport, dport, p));
        from_client
    }

    fn icmp(&mut self, step: u32, st: &mut Stack) -> (bool, u8) {
        let from_client = step % 2 == 0;
        let id = (self.seed >> 24) as u16;
        let seq = (step / 2 + 1) as u16;
        // Like ping: 8 bytes of "timestamp" then 0x10, 0x11, ...
        let mut payload = [0u8; 56];
        payload[..8].copy_from_slice(&mix(self.seed, u64::from(seq)).to_le_bytes());
        for (i, b) in payload[8..].iter_mut().enumerate() {
            *b = 0x10 + i as u8;
        }
        let addrs = self.dir(from_client);
        match addrs {
            IpPair::V4(..) => {
                icmp_echo_into(&mut st.cur, from_client, id, seq, &payload);
                (from_client, IPPROTO_ICMP)
            }
            IpPair::V6(..) => {
                icmpv6_echo_into(&mut st.cur, addrs, from_client, id, seq, &payload);
                (from_client, IPPROTO_ICMPV6)
            }
        }
    }

    fn arp(&mut self, step: u32, st: &mut Stack) -> bool {
        let IpPair::V4(c, s) = self.addrs else {
            return true;
        };
        if step == 0 {
            arp_into(&mut st.cur, 1, self.client_mac, c, [0; 6], s);
            true
        } else {
            arp_into(&mut st.cur, 2, self.server_mac, s, self.client_mac, c);
            false
        }
    }
}

fn hash_ip(addrs: IpPair) -> u64 {
    match addrs {
        IpPair::V4(a, b) => u64::from(u32::from(a)) << 32 | u64::from(u32::from(b)),
        IpPair::V6(a, b) => {
            let x = u128::from(a) ^ u128::from(b).rotate_left(64);
            (x as u64) ^ ((x >> 64) as u64)
        }
    }
}

fn body_into(out: &mut Vec<u8>, len: usize, offset: usize) {
    let mut off = offset % HTTP_BODY.len();
    let mut left = len;
    while left > 0 {
        let n = left.min(HTTP_BODY.len() - off);
        out.extend_from_slice(&HTTP_BODY[off..off + n]);
        left -= n;
        off = 0;
    }
}

fn push_decimal(out: &mut Vec<u8>, n: usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Wraps `st.cur` in an IP header: IPv4 (DF, optional router-alert option)
/// or IPv6 (flow label from `flow`, optional hop-by-hop + destination
/// options headers).
pub(crate) fn ip_layer_into_stack(
    st: &mut Stack,
    addrs: IpPair,
    protocol: u8,
    ttl: u8,
    id: u16,
    options: bool,
    flow: u32,
) {
    match addrs {
        IpPair::V4(src, dst) => {
            let mut h = Ipv4::new(src, dst, protocol);
            h.ttl = ttl;
            h.identification = id;
            if options {
                h.options = vec![0x94, 0x04, 0x00, 0x00];
            }
            st.wrap(|o, p| ipv4_into(o, &h, p));
        }
        IpPair::V6(src, dst) => {
            let mut h = Ipv6::new(src, dst, protocol);
            h.hop_limit = ttl;
            h.flow_label = flow & 0xf_ffff;
            if options {
                h.extensions = vec![
                    Ipv6Ext::HopByHop(vec![0x05, 0x02, 0x00, 0x00]),
                    Ipv6Ext::DestinationOptions(Vec::new()),
                ];
            }
            st.wrap(|o, p| ipv6_into(o, &h, p));
        }
    }
}
