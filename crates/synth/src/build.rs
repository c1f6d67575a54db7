//! Byte-level packet builders for synthetic captures.
//!
//! Every builder has an `*_into` form that appends one header followed by the
//! given payload to `out`, so packets are assembled from the inside out:
//! build the innermost payload, then wrap it layer by layer. The most common
//! layers also have a convenience form returning a fresh `Vec<u8>`, e.g.
//! `ethernet(dst, src, ETHERTYPE_IPV4, &ipv4(&hdr, &udp(addrs, 1, 2, b"x")))`.
//!
//! Lengths that do not fit their header fields are truncated to the field
//! width; checksums are always computed over what was written.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An Ethernet MAC address.
pub type Mac = [u8; 6];

/// Broadcast MAC address.
pub const MAC_BROADCAST: Mac = [0xff; 6];

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// 802.1Q customer VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// 802.1ad service VLAN tag (QinQ outer tag).
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// MPLS unicast.
pub const ETHERTYPE_MPLS: u16 = 0x8847;
/// GRE protocol type of ERSPAN type I and II.
pub const ETHERTYPE_ERSPAN: u16 = 0x88be;
/// GRE protocol type of ERSPAN type III.
pub const ETHERTYPE_ERSPAN3: u16 = 0x22eb;
/// Transparent Ethernet bridging (GRE-TEB, NVGRE, Geneve Ethernet payload).
pub const ETHERTYPE_TEB: u16 = 0x6558;

pub const IPPROTO_HOPOPTS: u8 = 0;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_FRAGMENT: u8 = 44;
pub const IPPROTO_GRE: u8 = 47;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const IPPROTO_DSTOPTS: u8 = 60;

pub const PORT_DNS: u16 = 53;
pub const PORT_GRE_IN_UDP: u16 = 4754;
pub const PORT_VXLAN: u16 = 4789;
pub const PORT_VXLAN_GPE: u16 = 4790;
pub const PORT_GENEVE: u16 = 6081;
/// Linux kernel default VXLAN port.
pub const PORT_VXLAN_LINUX: u16 = 8472;
pub const PORT_TZSP: u16 = 37008;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;

pub const GRE_FLAG_CHECKSUM: u16 = 0x8000;
pub const GRE_FLAG_KEY: u16 = 0x2000;
pub const GRE_FLAG_SEQ: u16 = 0x1000;

/// Version nibble of an ERSPAN type II header.
pub const ERSPAN_II_VERSION: u8 = 1;
/// Version nibble of an ERSPAN type III header.
pub const ERSPAN_III_VERSION: u8 = 2;

/// VXLAN-GPE next protocol values.
pub const GPE_NEXT_IPV4: u8 = 1;
pub const GPE_NEXT_IPV6: u8 = 2;
pub const GPE_NEXT_ETHERNET: u8 = 3;
pub const GPE_NEXT_NSH: u8 = 4;

/// TZSP type "received tag list".
pub const TZSP_TYPE_RECEIVED: u8 = 0;
/// TZSP encapsulation "Ethernet".
pub const TZSP_ENCAP_ETHERNET: u16 = 1;
pub const TZSP_TAG_PADDING: u8 = 0;
pub const TZSP_TAG_END: u8 = 1;

/// `ARPHRD_ETHER`, the hardware type used in Linux cooked headers.
pub const ARPHRD_ETHER: u16 = 1;
/// Linux cooked-capture packet types.
pub const SLL_HOST: u8 = 0;
pub const SLL_BROADCAST: u8 = 1;
pub const SLL_MULTICAST: u8 = 2;
pub const SLL_OTHERHOST: u8 = 3;
pub const SLL_OUTGOING: u8 = 4;

/// BSD loopback (`LINKTYPE_NULL`) address families.
pub const BSD_AF_INET: u32 = 2;
/// IPv6 on NetBSD/OpenBSD.
pub const BSD_AF_INET6_BSD: u32 = 24;
/// IPv6 on FreeBSD.
pub const BSD_AF_INET6_FREEBSD: u32 = 28;
/// IPv6 on macOS.
pub const BSD_AF_INET6_DARWIN: u32 = 30;

/// Minimum Ethernet frame length without FCS.
pub const ETH_MIN_FRAME: usize = 60;

/// Runs `f` on a fresh buffer and returns it; turns any `*_into` builder
/// into one that returns a `Vec<u8>`.
pub fn build(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = Vec::new();
    f(&mut v);
    v
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn patch_u16(out: &mut [u8], at: usize, v: u16) {
    out[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

// ---------------------------------------------------------------------------
// Addresses and checksums

/// Source and destination of one IP packet, both of the same family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpPair {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

impl IpPair {
    /// The same pair with source and destination swapped.
    pub fn reversed(self) -> Self {
        match self {
            IpPair::V4(s, d) => IpPair::V4(d, s),
            IpPair::V6(s, d) => IpPair::V6(d, s),
        }
    }

    pub fn src(self) -> IpAddr {
        match self {
            IpPair::V4(s, _) => IpAddr::V4(s),
            IpPair::V6(s, _) => IpAddr::V6(s),
        }
    }

    pub fn dst(self) -> IpAddr {
        match self {
            IpPair::V4(_, d) => IpAddr::V4(d),
            IpPair::V6(_, d) => IpAddr::V6(d),
        }
    }

    pub fn is_ipv6(self) -> bool {
        matches!(self, IpPair::V6(..))
    }

    /// Ethertype of packets of this family.
    pub fn ethertype(self) -> u16 {
        match self {
            IpPair::V4(..) => ETHERTYPE_IPV4,
            IpPair::V6(..) => ETHERTYPE_IPV6,
        }
    }
}

/// Adds `data` to a running ones'-complement sum (big-endian 16-bit words,
/// an odd trailing byte padded with zero). Every chunk but the last must have
/// even length.
pub fn checksum_add(sum: u64, data: &[u8]) -> u64 {
    let mut s = sum;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        s += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        s += u64::from(u16::from_be_bytes([*last, 0]));
    }
    s
}

/// Folds a running sum and returns its ones' complement.
pub fn checksum_finish(sum: u64) -> u16 {
    let mut s = sum;
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// RFC 1071 Internet checksum of `data`.
pub fn internet_checksum(data: &[u8]) -> u16 {
    checksum_finish(checksum_add(0, data))
}

/// Sum of the TCP/UDP/ICMPv6 pseudo header.
pub fn pseudo_header_sum(addrs: IpPair, protocol: u8, len: usize) -> u64 {
    let s = match addrs {
        IpPair::V4(a, b) => checksum_add(checksum_add(0, &a.octets()), &b.octets()),
        IpPair::V6(a, b) => checksum_add(checksum_add(0, &a.octets()), &b.octets()),
    };
    s + u64::from(protocol) + len as u64
}

// ---------------------------------------------------------------------------
// Link layer

/// Ethernet II header followed by `payload` (no padding, no FCS).
pub fn ethernet_into(out: &mut Vec<u8>, dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) {
    out.extend_from_slice(&dst);
    out.extend_from_slice(&src);
    put_u16(out, ethertype);
    out.extend_from_slice(payload);
}

pub fn ethernet(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    build(|o| ethernet_into(o, dst, src, ethertype, payload))
}

/// Pads a frame with zeros to the 60-byte Ethernet minimum.
pub fn pad_to_min_frame(frame: &mut Vec<u8>) {
    if frame.len() < ETH_MIN_FRAME {
        frame.resize(ETH_MIN_FRAME, 0);
    }
}

/// The part of an 802.1Q / 802.1ad tag that follows the TPID: TCI (PCP 3
/// bits, DEI 1 bit, VID 12 bits) and the next ethertype, then `payload`.
/// The TPID itself is the ethertype of the enclosing header, so a QinQ frame
/// is `ethernet(.., ETHERTYPE_QINQ, &vlan(.., 100, ETHERTYPE_VLAN,
/// &vlan(.., 200, ETHERTYPE_IPV4, ip)))`.
pub fn vlan_into(out: &mut Vec<u8>, pcp: u8, dei: bool, vid: u16, ethertype: u16, payload: &[u8]) {
    let tci = (u16::from(pcp & 7) << 13) | (u16::from(dei) << 12) | (vid & 0x0fff);
    put_u16(out, tci);
    put_u16(out, ethertype);
    out.extend_from_slice(payload);
}

pub fn vlan(pcp: u8, dei: bool, vid: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    build(|o| vlan_into(o, pcp, dei, vid, ethertype, payload))
}

/// One MPLS label stack entry: label (20 bits), traffic class (3), bottom of
/// stack (1), TTL (8).
pub fn mpls_entry(label: u32, tc: u8, bottom: bool, ttl: u8) -> [u8; 4] {
    ((label & 0xf_ffff) << 12 | u32::from(tc & 7) << 9 | u32::from(bottom) << 8 | u32::from(ttl))
        .to_be_bytes()
}

/// One label of an MPLS stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MplsLabel {
    pub label: u32,
    pub tc: u8,
    pub ttl: u8,
}

/// MPLS label stack (bottom-of-stack set on the last entry) then `payload`.
pub fn mpls_into(out: &mut Vec<u8>, labels: &[MplsLabel], payload: &[u8]) {
    for (i, l) in labels.iter().enumerate() {
        out.extend_from_slice(&mpls_entry(l.label, l.tc, i + 1 == labels.len(), l.ttl));
    }
    out.extend_from_slice(payload);
}

/// RFC 4385 pseudowire control word (first nibble 0, no flags, length 0)
/// with the given sequence number.
pub fn pw_control_word(seq: u16) -> [u8; 4] {
    u32::from(seq).to_be_bytes()
}

/// Linux cooked capture v1 header (`LINKTYPE_LINUX_SLL`, 16 bytes) for an
/// Ethernet device, then `payload`.
pub fn sll_into(out: &mut Vec<u8>, packet_type: u8, addr: Mac, protocol: u16, payload: &[u8]) {
    put_u16(out, u16::from(packet_type));
    put_u16(out, ARPHRD_ETHER);
    put_u16(out, 6);
    out.extend_from_slice(&addr);
    out.extend_from_slice(&[0, 0]);
    put_u16(out, protocol);
    out.extend_from_slice(payload);
}

/// Linux cooked capture v2 header (`LINKTYPE_LINUX_SLL2`, 20 bytes) for an
/// Ethernet device, then `payload`.
pub fn sll2_into(
    out: &mut Vec<u8>,
    protocol: u16,
    ifindex: u32,
    packet_type: u8,
    addr: Mac,
    payload: &[u8],
) {
    put_u16(out, protocol);
    put_u16(out, 0);
    put_u32(out, ifindex);
    put_u16(out, ARPHRD_ETHER);
    out.push(packet_type);
    out.push(6);
    out.extend_from_slice(&addr);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
}

/// BSD loopback header (`LINKTYPE_NULL`): the address family as a 4-byte
/// little-endian integer (the byte order of the capturing host, here x86).
pub fn null_into(out: &mut Vec<u8>, family: u32, payload: &[u8]) {
    out.extend_from_slice(&family.to_le_bytes());
    out.extend_from_slice(payload);
}

/// ARP request/reply for IPv4 over Ethernet (28 bytes, no payload).
pub fn arp_into(out: &mut Vec<u8>, op: u16, sha: Mac, spa: Ipv4Addr, tha: Mac, tpa: Ipv4Addr) {
    put_u16(out, 1);
    put_u16(out, ETHERTYPE_IPV4);
    out.push(6);
    out.push(4);
    put_u16(out, op);
    out.extend_from_slice(&sha);
    out.extend_from_slice(&spa.octets());
    out.extend_from_slice(&tha);
    out.extend_from_slice(&tpa.octets());
}

// ---------------------------------------------------------------------------
// IP

/// IPv4 header fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub identification: u16,
    /// DSCP and ECN byte.
    pub tos: u8,
    pub dont_fragment: bool,
    pub more_fragments: bool,
    /// Fragment offset in 8-byte units (13 bits).
    pub fragment_offset: u16,
    /// Raw option bytes (at most 40), padded with EOL to a 4-byte multiple.
    pub options: Vec<u8>,
}

impl Ipv4 {
    /// TTL 64, identification 0, DF set, no options.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> Self {
        Self {
            src,
            dst,
            protocol,
            ttl: 64,
            identification: 0,
            tos: 0,
            dont_fragment: true,
            more_fragments: false,
            fragment_offset: 0,
            options: Vec::new(),
        }
    }
}

/// IPv4 header with a correct header checksum, then `payload`.
pub fn ipv4_into(out: &mut Vec<u8>, h: &Ipv4, payload: &[u8]) {
    let start = out.len();
    let options = &h.options[..h.options.len().min(40)];
    let hlen = 20 + options.len().div_ceil(4) * 4;
    let total = hlen + payload.len();
    out.push(0x40 | (hlen / 4) as u8);
    out.push(h.tos);
    put_u16(out, total as u16);
    put_u16(out, h.identification);
    let mut frag = h.fragment_offset & 0x1fff;
    if h.dont_fragment {
        frag |= 0x4000;
    }
    if h.more_fragments {
        frag |= 0x2000;
    }
    put_u16(out, frag);
    out.push(h.ttl);
    out.push(h.protocol);
    put_u16(out, 0);
    out.extend_from_slice(&h.src.octets());
    out.extend_from_slice(&h.dst.octets());
    out.extend_from_slice(options);
    out.resize(start + hlen, 0);
    let c = internet_checksum(&out[start..start + hlen]);
    patch_u16(out, start + 10, c);
    out.extend_from_slice(payload);
}

pub fn ipv4(h: &Ipv4, payload: &[u8]) -> Vec<u8> {
    build(|o| ipv4_into(o, h, payload))
}

/// Recomputes the header checksum of the IPv4 packet at the start of
/// `packet`, over IHL*4 bytes (at least 20, at most what is present). Use it
/// after patching header fields by hand.
pub fn ipv4_fix_checksum(packet: &mut [u8]) {
    if packet.len() < 12 {
        return;
    }
    let hlen = (usize::from(packet[0] & 0x0f) * 4)
        .max(20)
        .min(packet.len());
    patch_u16(packet, 10, 0);
    let c = internet_checksum(&packet[..hlen]);
    patch_u16(packet, 10, c);
}

/// An IPv6 extension header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ipv6Ext {
    /// Hop-by-hop options; the raw option TLVs, padded with Pad1/PadN.
    HopByHop(Vec<u8>),
    /// Destination options; the raw option TLVs, padded with Pad1/PadN.
    DestinationOptions(Vec<u8>),
    /// Fragment header; `offset` in 8-byte units.
    Fragment {
        offset: u16,
        more: bool,
        identification: u32,
    },
}

impl Ipv6Ext {
    /// The next-header value that announces this extension.
    pub fn protocol(&self) -> u8 {
        match self {
            Ipv6Ext::HopByHop(_) => IPPROTO_HOPOPTS,
            Ipv6Ext::DestinationOptions(_) => IPPROTO_DSTOPTS,
            Ipv6Ext::Fragment { .. } => IPPROTO_FRAGMENT,
        }
    }
}

/// IPv6 header fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// Protocol of the payload after all extension headers.
    pub next_header: u8,
    pub hop_limit: u8,
    pub traffic_class: u8,
    /// 20 bits.
    pub flow_label: u32,
    pub extensions: Vec<Ipv6Ext>,
}

impl Ipv6 {
    /// Hop limit 64, no extension headers.
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8) -> Self {
        Self {
            src,
            dst,
            next_header,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
            extensions: Vec::new(),
        }
    }
}

fn ipv6_options_into(out: &mut Vec<u8>, next: u8, options: &[u8]) {
    let body = 2 + options.len();
    let total = body.div_ceil(8) * 8;
    out.push(next);
    out.push((total / 8 - 1) as u8);
    out.extend_from_slice(options);
    match total - body {
        0 => {}
        1 => out.push(0),
        pad => {
            out.push(1);
            out.push((pad - 2) as u8);
            out.resize(out.len() + pad - 2, 0);
        }
    }
}

/// IPv6 header and extension headers (chained in order), then `payload`.
pub fn ipv6_into(out: &mut Vec<u8>, h: &Ipv6, payload: &[u8]) {
    let start = out.len();
    let first = h
        .extensions
        .first()
        .map_or(h.next_header, Ipv6Ext::protocol);
    put_u32(
        out,
        6 << 28 | u32::from(h.traffic_class) << 20 | (h.flow_label & 0xf_ffff),
    );
    put_u16(out, 0);
    out.push(first);
    out.push(h.hop_limit);
    out.extend_from_slice(&h.src.octets());
    out.extend_from_slice(&h.dst.octets());
    for (i, ext) in h.extensions.iter().enumerate() {
        let next = h
            .extensions
            .get(i + 1)
            .map_or(h.next_header, Ipv6Ext::protocol);
        match ext {
            Ipv6Ext::HopByHop(opts) | Ipv6Ext::DestinationOptions(opts) => {
                ipv6_options_into(out, next, opts);
            }
            Ipv6Ext::Fragment {
                offset,
                more,
                identification,
            } => {
                out.push(next);
                out.push(0);
                put_u16(out, (offset & 0x1fff) << 3 | u16::from(*more));
                put_u32(out, *identification);
            }
        }
    }
    out.extend_from_slice(payload);
    let plen = out.len() - start - 40;
    patch_u16(out, start + 4, plen as u16);
}

pub fn ipv6(h: &Ipv6, payload: &[u8]) -> Vec<u8> {
    build(|o| ipv6_into(o, h, payload))
}

/// A plain IPv4 (DF set, no options) or IPv6 (no extensions) header for
/// `addrs`, then `payload`. `identification` is ignored for IPv6.
pub fn ip_into(
    out: &mut Vec<u8>,
    addrs: IpPair,
    protocol: u8,
    ttl: u8,
    identification: u16,
    payload: &[u8],
) {
    match addrs {
        IpPair::V4(src, dst) => {
            let mut h = Ipv4::new(src, dst, protocol);
            h.ttl = ttl;
            h.identification = identification;
            ipv4_into(out, &h, payload);
        }
        IpPair::V6(src, dst) => {
            let mut h = Ipv6::new(src, dst, protocol);
            h.hop_limit = ttl;
            ipv6_into(out, &h, payload);
        }
    }
}

// ---------------------------------------------------------------------------
// Transport

/// UDP header with a correct checksum (IPv4 or IPv6 pseudo header), then
/// `payload`.
pub fn udp_into(out: &mut Vec<u8>, addrs: IpPair, sport: u16, dport: u16, payload: &[u8]) {
    let start = out.len();
    let len = 8 + payload.len();
    put_u16(out, sport);
    put_u16(out, dport);
    put_u16(out, len as u16);
    put_u16(out, 0);
    out.extend_from_slice(payload);
    let sum = checksum_add(pseudo_header_sum(addrs, IPPROTO_UDP, len), &out[start..]);
    let c = match checksum_finish(sum) {
        0 => 0xffff,
        c => c,
    };
    patch_u16(out, start + 6, c);
}

pub fn udp(addrs: IpPair, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    build(|o| udp_into(o, addrs, sport, dport, payload))
}

/// UDP header with checksum 0 ("not computed"; valid over IPv4 only), then
/// `payload`.
pub fn udp_no_checksum_into(out: &mut Vec<u8>, sport: u16, dport: u16, payload: &[u8]) {
    put_u16(out, sport);
    put_u16(out, dport);
    put_u16(out, (8 + payload.len()) as u16);
    put_u16(out, 0);
    out.extend_from_slice(payload);
}

/// TCP header fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tcp {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// `TCP_*` flag bits.
    pub flags: u8,
    pub window: u16,
    /// Emits an MSS option (4 bytes) when set.
    pub mss: Option<u16>,
}

/// TCP header with a correct checksum, then `payload`.
pub fn tcp_into(out: &mut Vec<u8>, addrs: IpPair, h: &Tcp, payload: &[u8]) {
    let start = out.len();
    let hlen: u8 = if h.mss.is_some() { 24 } else { 20 };
    put_u16(out, h.sport);
    put_u16(out, h.dport);
    put_u32(out, h.seq);
    put_u32(out, h.ack);
    out.push((hlen / 4) << 4);
    out.push(h.flags);
    put_u16(out, h.window);
    put_u16(out, 0);
    put_u16(out, 0);
    if let Some(mss) = h.mss {
        out.push(2);
        out.push(4);
        put_u16(out, mss);
    }
    out.extend_from_slice(payload);
    let len = out.len() - start;
    let sum = checksum_add(pseudo_header_sum(addrs, IPPROTO_TCP, len), &out[start..]);
    patch_u16(out, start + 16, checksum_finish(sum));
}

pub fn tcp(addrs: IpPair, h: &Tcp, payload: &[u8]) -> Vec<u8> {
    build(|o| tcp_into(o, addrs, h, payload))
}

/// ICMPv4 echo request (type 8) or reply (type 0) with checksum.
pub fn icmp_echo_into(out: &mut Vec<u8>, request: bool, id: u16, seq: u16, payload: &[u8]) {
    let start = out.len();
    out.push(if request { 8 } else { 0 });
    out.push(0);
    put_u16(out, 0);
    put_u16(out, id);
    put_u16(out, seq);
    out.extend_from_slice(payload);
    let c = internet_checksum(&out[start..]);
    patch_u16(out, start + 2, c);
}

/// ICMPv6 echo request (type 128) or reply (type 129) with checksum.
pub fn icmpv6_echo_into(
    out: &mut Vec<u8>,
    addrs: IpPair,
    request: bool,
    id: u16,
    seq: u16,
    payload: &[u8],
) {
    let start = out.len();
    out.push(if request { 128 } else { 129 });
    out.push(0);
    put_u16(out, 0);
    put_u16(out, id);
    put_u16(out, seq);
    out.extend_from_slice(payload);
    let len = out.len() - start;
    let sum = checksum_add(pseudo_header_sum(addrs, IPPROTO_ICMPV6, len), &out[start..]);
    patch_u16(out, start + 2, checksum_finish(sum));
}

fn dns_name_into(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let label = &label.as_bytes()[..label.len().min(63)];
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
}

/// DNS query message (RD set) for `name` with type `qtype`, class IN.
pub fn dns_query_into(out: &mut Vec<u8>, id: u16, name: &str, qtype: u16) {
    put_u16(out, id);
    put_u16(out, 0x0100);
    put_u16(out, 1);
    put_u16(out, 0);
    put_u16(out, 0);
    put_u16(out, 0);
    dns_name_into(out, name);
    put_u16(out, qtype);
    put_u16(out, 1);
}

/// DNS response to an A query for `name` carrying one A record.
pub fn dns_response_a_into(out: &mut Vec<u8>, id: u16, name: &str, addr: Ipv4Addr, ttl: u32) {
    put_u16(out, id);
    put_u16(out, 0x8180);
    put_u16(out, 1);
    put_u16(out, 1);
    put_u16(out, 0);
    put_u16(out, 0);
    dns_name_into(out, name);
    put_u16(out, 1);
    put_u16(out, 1);
    put_u16(out, 0xc00c);
    put_u16(out, 1);
    put_u16(out, 1);
    put_u32(out, ttl);
    put_u16(out, 4);
    out.extend_from_slice(&addr.octets());
}

// ---------------------------------------------------------------------------
// GRE and ERSPAN

/// GRE version 0 header fields (RFC 2784 / RFC 2890).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gre {
    /// C bit: checksum over GRE header and payload.
    pub checksum: bool,
    /// K bit and key.
    pub key: Option<u32>,
    /// S bit and sequence number.
    pub seq: Option<u32>,
    pub protocol: u16,
}

/// Length of the GRE header described by `h` (4 to 16 bytes).
pub fn gre_header_len(h: &Gre) -> usize {
    4 + 4 * (usize::from(h.checksum) + usize::from(h.key.is_some()) + usize::from(h.seq.is_some()))
}

/// GRE header (checksum computed when present), then `payload`.
pub fn gre_into(out: &mut Vec<u8>, h: &Gre, payload: &[u8]) {
    let start = out.len();
    let mut flags = 0u16;
    if h.checksum {
        flags |= GRE_FLAG_CHECKSUM;
    }
    if h.key.is_some() {
        flags |= GRE_FLAG_KEY;
    }
    if h.seq.is_some() {
        flags |= GRE_FLAG_SEQ;
    }
    put_u16(out, flags);
    put_u16(out, h.protocol);
    if h.checksum {
        put_u32(out, 0);
    }
    if let Some(key) = h.key {
        put_u32(out, key);
    }
    if let Some(seq) = h.seq {
        put_u32(out, seq);
    }
    out.extend_from_slice(payload);
    if h.checksum {
        let c = internet_checksum(&out[start..]);
        patch_u16(out, start + 4, c);
    }
}

pub fn gre(h: &Gre, payload: &[u8]) -> Vec<u8> {
    build(|o| gre_into(o, h, payload))
}

/// NVGRE key: 24-bit virtual subnet id and 8-bit flow id.
pub fn nvgre_key(vsid: u32, flow_id: u8) -> u32 {
    (vsid & 0xff_ffff) << 8 | u32::from(flow_id)
}

/// ERSPAN type II header fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErspanII {
    /// Original VLAN of the mirrored frame (12 bits).
    pub vlan: u16,
    /// Class of service (3 bits).
    pub cos: u8,
    /// En: 0 untagged, 1 ISL, 2 802.1Q, 3 VLAN tag preserved in the frame.
    pub encap_type: u8,
    /// T: the mirrored frame was truncated.
    pub truncated: bool,
    /// 10 bits.
    pub session_id: u16,
    /// 20 bits.
    pub index: u32,
}

/// The 8-byte ERSPAN type II header.
pub fn erspan2_header(h: &ErspanII) -> [u8; 8] {
    erspan2_header_with_version(h, ERSPAN_II_VERSION)
}

/// An ERSPAN type II header with an arbitrary version nibble (for malformed
/// samples).
pub fn erspan2_header_with_version(h: &ErspanII, version: u8) -> [u8; 8] {
    let w0 = u32::from(version & 0x0f) << 28
        | u32::from(h.vlan & 0x0fff) << 16
        | u32::from(h.cos & 7) << 13
        | u32::from(h.encap_type & 3) << 11
        | u32::from(h.truncated) << 10
        | u32::from(h.session_id & 0x03ff);
    let w1 = h.index & 0xf_ffff;
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&w0.to_be_bytes());
    b[4..].copy_from_slice(&w1.to_be_bytes());
    b
}

/// ERSPAN type II header then the mirrored `frame`.
pub fn erspan2_into(out: &mut Vec<u8>, h: &ErspanII, frame: &[u8]) {
    out.extend_from_slice(&erspan2_header(h));
    out.extend_from_slice(frame);
}

/// ERSPAN type I: GRE 0x88BE without sequence number, then the frame.
pub fn gre_erspan1_into(out: &mut Vec<u8>, frame: &[u8]) {
    put_u16(out, 0);
    put_u16(out, ETHERTYPE_ERSPAN);
    out.extend_from_slice(frame);
}

/// ERSPAN type II: GRE 0x88BE with sequence number, ERSPAN II header, frame.
pub fn gre_erspan2_into(out: &mut Vec<u8>, gre_seq: u32, h: &ErspanII, frame: &[u8]) {
    put_u16(out, GRE_FLAG_SEQ);
    put_u16(out, ETHERTYPE_ERSPAN);
    put_u32(out, gre_seq);
    erspan2_into(out, h, frame);
}

/// ERSPAN type III header fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErspanIII {
    /// 12 bits.
    pub vlan: u16,
    /// 3 bits.
    pub cos: u8,
    /// Bad/short/oversized frame indication (2 bits).
    pub bso: u8,
    /// T: the mirrored frame was truncated.
    pub truncated: bool,
    /// 10 bits.
    pub session_id: u16,
    pub timestamp: u32,
    /// Security group tag.
    pub sgt: u16,
    /// P: the frame is from the Ethernet protocol (1) or not (0).
    pub p: bool,
    /// Frame type (5 bits): 0 Ethernet, 2 IP.
    pub frame_type: u8,
    /// Hardware id (6 bits).
    pub hw_id: u8,
    /// D: false = ingress, true = egress.
    pub egress: bool,
    /// Timestamp granularity (2 bits): 0 100 us, 1 100 ns, 2 IEEE 1588.
    pub granularity: u8,
    /// Optional platform-specific subheader; its presence sets the O bit.
    pub platform: Option<[u8; 8]>,
}

/// Length of the ERSPAN III header: 12, or 20 with a platform subheader.
pub fn erspan3_header_len(h: &ErspanIII) -> usize {
    if h.platform.is_some() { 20 } else { 12 }
}

/// The ERSPAN type III header (12 bytes, plus 8 when `platform` is set).
pub fn erspan3_header_into(out: &mut Vec<u8>, h: &ErspanIII) {
    let w0 = u32::from(ERSPAN_III_VERSION) << 28
        | u32::from(h.vlan & 0x0fff) << 16
        | u32::from(h.cos & 7) << 13
        | u32::from(h.bso & 3) << 11
        | u32::from(h.truncated) << 10
        | u32::from(h.session_id & 0x03ff);
    let w2 = u32::from(h.sgt) << 16
        | u32::from(h.p) << 15
        | u32::from(h.frame_type & 0x1f) << 10
        | u32::from(h.hw_id & 0x3f) << 4
        | u32::from(h.egress) << 3
        | u32::from(h.granularity & 3) << 1
        | u32::from(h.platform.is_some());
    put_u32(out, w0);
    put_u32(out, h.timestamp);
    put_u32(out, w2);
    if let Some(p) = h.platform {
        out.extend_from_slice(&p);
    }
}

/// Platform-specific subheader in the layout of platform id 3: Platf ID (6
/// bits), reserved (12 bits), port index (14 bits), then the upper 32 bits
/// of the timestamp (seconds).
pub fn erspan3_platform_subheader(
    platform_id: u8,
    port_index: u16,
    timestamp_secs: u32,
) -> [u8; 8] {
    let w0 = u32::from(platform_id & 0x3f) << 26 | u32::from(port_index & 0x3fff);
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&w0.to_be_bytes());
    b[4..].copy_from_slice(&timestamp_secs.to_be_bytes());
    b
}

/// ERSPAN III header then the mirrored `frame`.
pub fn erspan3_into(out: &mut Vec<u8>, h: &ErspanIII, frame: &[u8]) {
    erspan3_header_into(out, h);
    out.extend_from_slice(frame);
}

/// ERSPAN type III: GRE 0x22EB with sequence number, ERSPAN III header,
/// frame.
pub fn gre_erspan3_into(out: &mut Vec<u8>, gre_seq: u32, h: &ErspanIII, frame: &[u8]) {
    put_u16(out, GRE_FLAG_SEQ);
    put_u16(out, ETHERTYPE_ERSPAN3);
    put_u32(out, gre_seq);
    erspan3_into(out, h, frame);
}

// ---------------------------------------------------------------------------
// UDP-based tunnels

/// VXLAN header (flags 0x08, 24-bit VNI), then `payload` (an Ethernet frame).
pub fn vxlan_into(out: &mut Vec<u8>, vni: u32, payload: &[u8]) {
    put_u32(out, 0x0800_0000);
    put_u32(out, (vni & 0xff_ffff) << 8);
    out.extend_from_slice(payload);
}

pub fn vxlan(vni: u32, payload: &[u8]) -> Vec<u8> {
    build(|o| vxlan_into(o, vni, payload))
}

/// VXLAN-GPE header (I and P flags, version 0, next protocol, VNI), then
/// `payload`.
pub fn vxlan_gpe_into(out: &mut Vec<u8>, vni: u32, next_protocol: u8, payload: &[u8]) {
    out.push(0x0c);
    out.push(0);
    out.push(0);
    out.push(next_protocol);
    put_u32(out, (vni & 0xff_ffff) << 8);
    out.extend_from_slice(payload);
}

/// One Geneve option TLV. `data` is padded with zeros to a multiple of 4
/// bytes and cut at 124 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneveOption<'a> {
    pub class: u16,
    /// The high bit is the "critical" flag.
    pub opt_type: u8,
    pub data: &'a [u8],
}

/// Geneve header (version 0, option length in 4-byte words, protocol type,
/// VNI), the options, then `payload`.
pub fn geneve_into(
    out: &mut Vec<u8>,
    vni: u32,
    protocol: u16,
    options: &[GeneveOption],
    payload: &[u8],
) {
    let start = out.len();
    out.push(0);
    out.push(0);
    put_u16(out, protocol);
    put_u32(out, (vni & 0xff_ffff) << 8);
    for o in options {
        let data = &o.data[..o.data.len().min(124)];
        let words = data.len().div_ceil(4);
        put_u16(out, o.class);
        out.push(o.opt_type);
        out.push(words as u8 & 0x1f);
        out.extend_from_slice(data);
        out.resize(out.len() + words * 4 - data.len(), 0);
    }
    let opt_words = (out.len() - start - 8) / 4;
    out[start] = (opt_words & 0x3f) as u8;
    out.extend_from_slice(payload);
}

pub fn geneve(vni: u32, protocol: u16, options: &[GeneveOption], payload: &[u8]) -> Vec<u8> {
    build(|o| geneve_into(o, vni, protocol, options, payload))
}

/// One TZSP tagged field. Tags 0 (padding) and 1 (end) carry no length or
/// value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TzspTag<'a> {
    pub tag: u8,
    pub value: &'a [u8],
}

/// TZSP header (version 1, type, encapsulation), tagged fields, the END tag,
/// then `frame`.
pub fn tzsp_into(
    out: &mut Vec<u8>,
    tzsp_type: u8,
    encapsulation: u16,
    tags: &[TzspTag],
    frame: &[u8],
) {
    out.push(1);
    out.push(tzsp_type);
    put_u16(out, encapsulation);
    for t in tags {
        out.push(t.tag);
        if t.tag != TZSP_TAG_PADDING && t.tag != TZSP_TAG_END {
            let value = &t.value[..t.value.len().min(255)];
            out.push(value.len() as u8);
            out.extend_from_slice(value);
        }
    }
    out.push(TZSP_TAG_END);
    out.extend_from_slice(frame);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be16(b: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    fn v4(a: [u8; 4], b: [u8; 4]) -> IpPair {
        IpPair::V4(Ipv4Addr::from(a), Ipv4Addr::from(b))
    }

    fn v6() -> IpPair {
        IpPair::V6(
            Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 3),
            Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 0x50),
        )
    }

    #[test]
    fn ipv4_known_header_checksum() {
        // The classic example header 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7.
        let mut h = Ipv4::new(
            Ipv4Addr::new(192, 168, 0, 1),
            Ipv4Addr::new(192, 168, 0, 199),
            IPPROTO_UDP,
        );
        h.ttl = 0x40;
        let pkt = ipv4(&h, &[0u8; 0x73 - 20]);
        assert_eq!(
            &pkt[..20],
            &[
                0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
                0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7
            ]
        );
        assert_eq!(internet_checksum(&pkt[..20]), 0);
    }

    #[test]
    fn ipv4_options_and_fragments() {
        let mut h = Ipv4::new(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            IPPROTO_GRE,
        );
        h.options = vec![0x94, 0x04, 0, 0, 1];
        h.dont_fragment = false;
        h.more_fragments = true;
        h.fragment_offset = 185;
        let pkt = ipv4(&h, &[1, 2, 3]);
        assert_eq!(pkt[0], 0x47);
        assert_eq!(pkt.len(), 28 + 3);
        assert_eq!(be16(&pkt, 2), 31);
        assert_eq!(be16(&pkt, 6), 0x2000 | 185);
        assert_eq!(internet_checksum(&pkt[..28]), 0);
        let mut bad = pkt.clone();
        bad[0] = 0x43;
        ipv4_fix_checksum(&mut bad);
        assert_eq!(internet_checksum(&bad[..20]), 0);
    }

    #[test]
    fn ipv6_extension_chain() {
        let IpPair::V6(src, dst) = v6() else {
            panic!("v6 pair");
        };
        let mut h = Ipv6::new(src, dst, IPPROTO_GRE);
        h.extensions = vec![
            Ipv6Ext::HopByHop(vec![5, 2, 0, 0]),
            Ipv6Ext::DestinationOptions(vec![]),
        ];
        let pkt = ipv6(&h, &[0xee; 4]);
        assert_eq!(pkt.len(), 40 + 8 + 8 + 4);
        assert_eq!(be16(&pkt, 4), 20);
        assert_eq!(pkt[6], IPPROTO_HOPOPTS);
        assert_eq!(pkt[40], IPPROTO_DSTOPTS);
        assert_eq!(pkt[41], 0);
        // 2 header bytes + 4 option bytes + PadN(2).
        assert_eq!(&pkt[46..48], &[1, 0]);
        assert_eq!(pkt[48], IPPROTO_GRE);
        assert_eq!(&pkt[50..52], &[1, 4]);
    }

    #[test]
    fn udp_and_tcp_checksums_verify() {
        for addrs in [v4([10, 1, 0, 1], [10, 9, 0, 10]), v6()] {
            let seg = udp(addrs, 49999, PORT_VXLAN, b"hello, odd");
            assert_eq!(seg.len(), 18);
            assert_eq!(be16(&seg, 4), 18);
            let sum = checksum_add(pseudo_header_sum(addrs, IPPROTO_UDP, seg.len()), &seg);
            assert_eq!(checksum_finish(sum), 0);

            let h = Tcp {
                sport: 50000,
                dport: 80,
                seq: 1,
                ack: 2,
                flags: TCP_SYN,
                window: 64240,
                mss: Some(1460),
            };
            let seg = tcp(addrs, &h, b"abc");
            assert_eq!(seg.len(), 27);
            assert_eq!(seg[12], 6 << 4);
            let sum = checksum_add(pseudo_header_sum(addrs, IPPROTO_TCP, seg.len()), &seg);
            assert_eq!(checksum_finish(sum), 0);

            let mut icmp = Vec::new();
            icmpv6_echo_into(&mut icmp, addrs, true, 1, 2, &[7; 9]);
            let sum = checksum_add(pseudo_header_sum(addrs, IPPROTO_ICMPV6, icmp.len()), &icmp);
            assert_eq!(checksum_finish(sum), 0);
        }
    }

    #[test]
    fn gre_lengths_and_checksum() {
        let h = Gre {
            checksum: true,
            key: Some(55),
            seq: Some(9),
            protocol: ETHERTYPE_IPV4,
        };
        assert_eq!(gre_header_len(&h), 16);
        let g = gre(&h, &[0x45, 0, 0, 20, 1]);
        assert_eq!(g.len(), 21);
        assert_eq!(be16(&g, 0), 0xb000);
        assert_eq!(internet_checksum(&g), 0);
        assert_eq!(&g[8..12], &55u32.to_be_bytes());
        assert_eq!(&g[12..16], &9u32.to_be_bytes());
        assert_eq!(gre_header_len(&Gre::default()), 4);
        assert_eq!(nvgre_key(0xabcd, 5), 0x00ab_cd05);
    }

    #[test]
    fn erspan_headers() {
        let h = ErspanII {
            vlan: 10,
            cos: 5,
            encap_type: 3,
            truncated: true,
            session_id: 100,
            index: 0x12345,
        };
        assert_eq!(
            erspan2_header(&h),
            [0x10, 0x0a, 0xbc, 0x64, 0x00, 0x01, 0x23, 0x45]
        );
        let mut g = Vec::new();
        gre_erspan2_into(&mut g, 7, &h, &[0xaa; 14]);
        assert_eq!(g.len(), 8 + 8 + 14);
        assert_eq!(&g[..4], &[0x10, 0x00, 0x88, 0xbe]);

        let mut h3 = ErspanIII {
            session_id: 7,
            timestamp: 0xdead_beef,
            sgt: 0x10,
            hw_id: 0x2a,
            egress: true,
            granularity: 0,
            ..ErspanIII::default()
        };
        let mut b = Vec::new();
        erspan3_header_into(&mut b, &h3);
        assert_eq!(b.len(), 12);
        assert_eq!(b[0] >> 4, 2);
        assert_eq!(be16(&b, 2) & 0x3ff, 7);
        assert_eq!(&b[4..8], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(b[11], 0xa8);
        h3.platform = Some(erspan3_platform_subheader(3, 0x15, 100));
        b.clear();
        erspan3_header_into(&mut b, &h3);
        assert_eq!(b.len(), erspan3_header_len(&h3));
        assert_eq!(b.len(), 20);
        assert_eq!(b[11] & 1, 1);
        assert_eq!(b[12] >> 2, 3);
    }

    #[test]
    fn udp_tunnel_headers() {
        assert_eq!(vxlan(5001, &[]), [0x08, 0, 0, 0, 0x00, 0x13, 0x89, 0]);
        let mut g = Vec::new();
        vxlan_gpe_into(&mut g, 42, GPE_NEXT_IPV4, &[]);
        assert_eq!(g, [0x0c, 0, 0, 1, 0, 0, 42, 0]);
        let opts = [
            GeneveOption {
                class: 0x0103,
                opt_type: 1,
                data: &[1, 2, 3, 4],
            },
            GeneveOption {
                class: 0xffff,
                opt_type: 2,
                data: &[9; 5],
            },
        ];
        let gv = geneve(77, ETHERTYPE_TEB, &opts, &[0xcc]);
        assert_eq!(gv.len(), 8 + 8 + 12 + 1);
        assert_eq!(gv[0], 5);
        assert_eq!(be16(&gv, 2), ETHERTYPE_TEB);
        assert_eq!(gv[11], 1);
        assert_eq!(gv[19], 2);
        let mut t = Vec::new();
        tzsp_into(
            &mut t,
            TZSP_TYPE_RECEIVED,
            TZSP_ENCAP_ETHERNET,
            &[TzspTag {
                tag: 10,
                value: &[0xc4],
            }],
            &[0xdd],
        );
        assert_eq!(t, [1, 0, 0, 1, 10, 1, 0xc4, 1, 0xdd]);
    }

    #[test]
    fn link_headers() {
        let mac = [0, 1, 2, 3, 4, 5];
        let mut b = Vec::new();
        sll_into(&mut b, SLL_HOST, mac, ETHERTYPE_IPV4, &[]);
        assert_eq!(b.len(), 16);
        assert_eq!(be16(&b, 14), ETHERTYPE_IPV4);
        b.clear();
        sll2_into(&mut b, ETHERTYPE_IPV6, 3, SLL_OUTGOING, mac, &[]);
        assert_eq!(b.len(), 20);
        assert_eq!(b[10], SLL_OUTGOING);
        b.clear();
        null_into(&mut b, BSD_AF_INET6_DARWIN, &[]);
        assert_eq!(b, [30, 0, 0, 0]);
        let mut f = ethernet(MAC_BROADCAST, mac, ETHERTYPE_ARP, &[]);
        pad_to_min_frame(&mut f);
        assert_eq!(f.len(), 60);
        let tagged = ethernet(
            mac,
            mac,
            ETHERTYPE_QINQ,
            &vlan(
                0,
                false,
                100,
                ETHERTYPE_VLAN,
                &vlan(3, false, 200, ETHERTYPE_IPV4, &[]),
            ),
        );
        assert_eq!(tagged.len(), 22);
        assert_eq!(&tagged[14..18], &[0x00, 0x64, 0x81, 0x00]);
        assert_eq!(&tagged[18..22], &[0x60, 0xc8, 0x08, 0x00]);
        let mut m = Vec::new();
        mpls_into(
            &mut m,
            &[
                MplsLabel {
                    label: 16001,
                    tc: 0,
                    ttl: 64,
                },
                MplsLabel {
                    label: 24005,
                    tc: 0,
                    ttl: 64,
                },
            ],
            &[],
        );
        assert_eq!(m, [0x03, 0xe8, 0x10, 0x40, 0x05, 0xdc, 0x51, 0x40]);
    }
}
