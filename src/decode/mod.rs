//! Zero-copy decoding of a captured frame down to its innermost IP packet,
//! unwrapping every mirroring and overlay encapsulation on the way.
//!
//! etherparse slices the standard layers (Ethernet, 802.1Q/802.1ad, IPv4,
//! IPv6 and its extension headers, UDP); the formats it does not know live
//! in [`wire`]. Decoding is iterative with an explicit depth bound, so no
//! input can recurse without limit, and nothing is allocated per packet.
pub mod error;
pub mod wire;

use core::net::IpAddr;

use etherparse::{Ethernet2HeaderSlice, Ipv4HeaderSlice, Ipv6HeaderSlice, SingleVlanHeaderSlice};
use serde::Serialize;

pub use error::{DecodeError, ErrorCounts, Layer, Reason};
use wire::{erspan, geneve, gre, link, mpls, tzsp, vxlan};

/// Capture link types mirrorwatch decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    Ethernet,
    LinuxSll,
    LinuxSll2,
    RawIp,
    Ipv4,
    Ipv6,
    Null,
    Loop,
    /// Any other link type: frames are counted, not decoded.
    Unsupported(i32),
}

impl LinkType {
    /// From a libpcap DLT value.
    pub fn from_dlt(dlt: i32) -> Self {
        match dlt {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            // DLT_RAW is 12 on most systems, 14 on OpenBSD; LINKTYPE_RAW is 101.
            12 | 14 | 101 => LinkType::RawIp,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            other => LinkType::Unsupported(other),
        }
    }

    pub fn is_supported(self) -> bool {
        !matches!(self, LinkType::Unsupported(_))
    }

    pub fn name(self) -> &'static str {
        match self {
            LinkType::Ethernet => "ethernet",
            LinkType::LinuxSll => "linux-sll",
            LinkType::LinuxSll2 => "linux-sll2",
            LinkType::RawIp => "raw",
            LinkType::Ipv4 => "ipv4",
            LinkType::Ipv6 => "ipv6",
            LinkType::Null => "null",
            LinkType::Loop => "loop",
            LinkType::Unsupported(_) => "unsupported",
        }
    }
}

/// Encapsulations that make a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Encap {
    #[serde(rename = "erspan1")]
    Erspan1,
    #[serde(rename = "erspan2")]
    Erspan2,
    #[serde(rename = "erspan3")]
    Erspan3,
    #[serde(rename = "vxlan")]
    Vxlan,
    #[serde(rename = "vxlan-gpe")]
    VxlanGpe,
    #[serde(rename = "geneve")]
    Geneve,
    #[serde(rename = "gre-teb")]
    GreTeb,
    #[serde(rename = "gre")]
    Gre,
    #[serde(rename = "tzsp")]
    Tzsp,
}

impl Encap {
    pub const ALL: [Encap; 9] = [
        Encap::Erspan1,
        Encap::Erspan2,
        Encap::Erspan3,
        Encap::Vxlan,
        Encap::VxlanGpe,
        Encap::Geneve,
        Encap::GreTeb,
        Encap::Gre,
        Encap::Tzsp,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Encap::Erspan1 => "erspan1",
            Encap::Erspan2 => "erspan2",
            Encap::Erspan3 => "erspan3",
            Encap::Vxlan => "vxlan",
            Encap::VxlanGpe => "vxlan-gpe",
            Encap::Geneve => "geneve",
            Encap::GreTeb => "gre-teb",
            Encap::Gre => "gre",
            Encap::Tzsp => "tzsp",
        }
    }

    pub fn parse(s: &str) -> Option<Encap> {
        Encap::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Bit of this encapsulation in an [`EncapSet`].
    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl core::fmt::Display for Encap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A small set of encapsulations (a bit mask).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncapSet(u16);

impl EncapSet {
    pub fn insert(&mut self, e: Encap) {
        self.0 |= e.bit();
    }
    pub fn union(&mut self, other: EncapSet) {
        self.0 |= other.0;
    }
    pub fn contains(self, e: Encap) -> bool {
        self.0 & e.bit() != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Encap> {
        Encap::ALL.into_iter().filter(move |e| self.contains(*e))
    }
}

/// The outermost encapsulation of a frame: what a session is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    pub encap: Encap,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// ERSPAN session id, VXLAN/Geneve VNI, GRE key, or none.
    pub id: Option<u32>,
}

/// Hashes the key in two words when both ends are IPv4 (the common case)
/// and in five otherwise, rather than field by field: it is hashed once per
/// packet. IPv4 addresses are mapped into IPv6 space; the family bit keeps
/// a mapped IPv6 address apart from the IPv4 one.
impl core::hash::Hash for Tunnel {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        let id = self.id.map_or(0, |i| u64::from(i) | (1 << 32)) | (self.encap as u64) << 40;
        if let (IpAddr::V4(s), IpAddr::V4(d)) = (self.src, self.dst) {
            h.write_u64((u64::from(u32::from(s)) << 32) | u64::from(u32::from(d)));
            h.write_u64(id | 1 << 48);
            return;
        }
        let word = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => u128::from(u32::from(v4)) | (1 << 127),
            IpAddr::V6(v6) => u128::from(v6) & !(1 << 127) ^ (u128::from(v6) >> 127),
        };
        h.write_u128(word(self.src));
        h.write_u128(word(self.dst));
        h.write_u64(id);
    }
}

/// The innermost IP packet found in a frame.
#[derive(Debug, Clone, Copy)]
pub struct InnerIp<'a> {
    pub protocol: u8,
    /// Ports for TCP, UDP and SCTP (zero otherwise, and for fragments).
    pub src_port: u16,
    pub dst_port: u16,
    /// The IP packet from its first header byte (bounded by its length field
    /// when that is consistent). Its fixed header has been checked.
    pub packet: &'a [u8],
    /// Offset of the transport header in `packet`.
    pub l4_offset: usize,
    /// A non-first fragment: no transport header.
    pub fragment: bool,
}

impl InnerIp<'_> {
    /// Source address (read from the header when asked: most frames never
    /// need their inner addresses as `IpAddr`).
    #[inline]
    pub fn src(&self) -> IpAddr {
        ip_addrs(self.packet).0
    }
    #[inline]
    pub fn dst(&self) -> IpAddr {
        ip_addrs(self.packet).1
    }
    /// Both addresses.
    #[inline]
    pub fn addrs(&self) -> (IpAddr, IpAddr) {
        ip_addrs(self.packet)
    }
}

/// Source and destination of a checked IPv4 or IPv6 header (the caller
/// has checked the fixed header is there; a short slice gives unspecified
/// addresses rather than a panic).
#[inline]
fn ip_addrs(h: &[u8]) -> (IpAddr, IpAddr) {
    if h.first().is_some_and(|v| v >> 4 == 4) {
        match h.get(12..20) {
            Some(a) => {
                let x = u64::from_be_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]);
                (
                    IpAddr::V4(((x >> 32) as u32).into()),
                    IpAddr::V4((x as u32).into()),
                )
            }
            None => (IpAddr::from([0u8; 4]), IpAddr::from([0u8; 4])),
        }
    } else {
        match h.get(8..40) {
            Some(a) => {
                let mut s = [0u8; 16];
                let mut d = [0u8; 16];
                s.copy_from_slice(&a[..16]);
                d.copy_from_slice(&a[16..]);
                (IpAddr::from(s), IpAddr::from(d))
            }
            None => (IpAddr::from([0u8; 16]), IpAddr::from([0u8; 16])),
        }
    }
}

/// Everything the detection stage needs to know about one frame.
#[derive(Debug, Clone, Copy, Default)]
pub struct Decoded<'a> {
    /// Outermost session-making encapsulation.
    pub tunnel: Option<Tunnel>,
    /// Encapsulations found inside the outermost one.
    pub nested: EncapSet,
    /// Wire bytes of the outermost tunnel's payload (from `orig_len`).
    pub inner_bytes: u32,
    /// Up to two VLAN ids of the mirrored frame (inside the tunnel); 0 = none.
    pub inner_vlans: [u16; 2],
    /// ERSPAN type III direction of the outermost header: Some(true) egress.
    pub egress: Option<bool>,
    /// The mirrored frame was truncated (ERSPAN T bit, or cut short).
    pub truncated: bool,
    /// Innermost IP packet.
    pub inner: Option<InnerIp<'a>>,
    /// Why decoding stopped early, if it did.
    pub error: Option<DecodeError>,
    /// Destination and source MAC of the outermost Ethernet header, packed
    /// (0 when the frame has none): the layer-2 hop a native copy took.
    pub l2: u128,
}

/// UDP port roles, looked up in a 64 Ki table built once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum UdpTunnel {
    None = 0,
    Vxlan,
    VxlanGpe,
    Geneve,
    Tzsp,
    GreInUdp,
}

/// Decoder settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecoderConfig {
    /// UDP destination ports decoded as VXLAN.
    pub vxlan_ports: Vec<u16>,
    /// UDP ports decoded as VXLAN-GPE.
    pub vxlan_gpe_ports: Vec<u16>,
    /// UDP ports decoded as Geneve.
    pub geneve_ports: Vec<u16>,
    /// UDP ports decoded as TZSP.
    pub tzsp_ports: Vec<u16>,
    /// UDP ports decoded as GRE-in-UDP (RFC 8086).
    pub gre_udp_ports: Vec<u16>,
    /// Encapsulation layers unwrapped before giving up (`tunnel/too_deep`).
    pub max_depth: u8,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            vxlan_ports: vec![4789, 8472],
            vxlan_gpe_ports: vec![4790],
            geneve_ports: vec![6081],
            tzsp_ports: vec![37008],
            gre_udp_ports: vec![4754],
            max_depth: 8,
        }
    }
}

/// A decoder built from a [`DecoderConfig`]. Cheap to share by reference.
pub struct Decoder {
    udp_ports: Box<[UdpTunnel; 65536]>,
    max_depth: u8,
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88A8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_MPLS_UC: u16 = 0x8847;
const ETH_MPLS_MC: u16 = 0x8848;

const IPPROTO_IPIP: u8 = 4;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_IPV6: u8 = 41;
const IPPROTO_GRE: u8 = 47;
const IPPROTO_SCTP: u8 = 132;

/// Where the decoder is in the frame.
enum Next<'a> {
    Ethernet(&'a [u8]),
    EtherType(u16, &'a [u8]),
    Ip(&'a [u8]),
    Done,
}

/// Per-frame decoding state.
struct Walk<'a, 'd> {
    out: &'d mut Decoded<'a>,
    data_start: usize,
    orig_len: u32,
    depth: u8,
    /// The (checked) IP header that carries the current payload.
    last_ip: Option<&'a [u8]>,
    /// The last IP layer was cut short (capture snap length).
    ip_incomplete: bool,
    vlans: usize,
    max_depth: u8,
}

/// Whether a UDP payload holds a valid header of the tunnel its
/// destination port is configured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    Valid,
    /// This protocol's header, cut short or running past the datagram.
    Short(Layer, Reason),
    /// Not this protocol's header: ordinary UDP.
    Invalid,
}

/// Checks the header of a UDP tunnel payload. What is not this protocol's
/// header is [`Header::Invalid`] (ordinary UDP); what looks like it but is
/// cut short or runs past its datagram is an error. VXLAN needs the I flag
/// (reserved bits ignored, RFC 7348 section 5); VXLAN-GPE version 0, the P
/// flag and a known next protocol; Geneve version 0 (RFC 8926) and options
/// within the datagram; TZSP version 1, a known type and encapsulation,
/// then a terminated tag list. GRE-in-UDP (RFC 8086) is checked by the GRE
/// decoder.
fn udp_tunnel_header(kind: UdpTunnel, payload: &[u8]) -> Header {
    match kind {
        UdpTunnel::Vxlan => match vxlan::Packet::new_checked(payload) {
            Err(_) => Header::Short(Layer::Vxlan, Reason::Truncated),
            Ok(v) if v.vni_valid() => Header::Valid,
            Ok(_) => Header::Invalid,
        },
        UdpTunnel::VxlanGpe => match vxlan::Packet::new_checked(payload) {
            Err(_) => Header::Short(Layer::VxlanGpe, Reason::Truncated),
            Ok(v)
                if v.gpe_version() == 0
                    && v.gpe_next_protocol().is_some_and(vxlan::next::known) =>
            {
                Header::Valid
            }
            Ok(_) => Header::Invalid,
        },
        UdpTunnel::Geneve => match payload.get(geneve::field::VER_OPTLEN) {
            _ if payload.len() < geneve::field::FIXED_LEN => {
                Header::Short(Layer::Geneve, Reason::Truncated)
            }
            Some(&b) if b >> 6 != 0 => Header::Invalid,
            _ => match geneve::Packet::new_checked(payload) {
                Ok(_) => Header::Valid,
                Err(_) => Header::Short(Layer::Geneve, Reason::Truncated),
            },
        },
        UdpTunnel::Tzsp => {
            let Some(fixed) = payload.get(..tzsp::field::FIXED_LEN) else {
                return Header::Short(Layer::Tzsp, Reason::Truncated);
            };
            let encap = u16::from_be_bytes([fixed[2], fixed[3]]);
            if fixed[0] != 1 || !tzsp::known_type(fixed[1]) || !tzsp::known_encapsulation(encap) {
                return Header::Invalid;
            }
            match tzsp::Packet::new_checked(payload) {
                Ok(_) => Header::Valid,
                Err(_) => Header::Short(Layer::Tzsp, Reason::Unterminated),
            }
        }
        UdpTunnel::GreInUdp | UdpTunnel::None => Header::Valid,
    }
}

impl Decoder {
    pub fn new(cfg: &DecoderConfig) -> Self {
        let mut udp_ports = Box::new([UdpTunnel::None; 65536]);
        // Later lists win on overlap; the config check reports overlaps.
        for (ports, kind) in [
            (&cfg.gre_udp_ports, UdpTunnel::GreInUdp),
            (&cfg.tzsp_ports, UdpTunnel::Tzsp),
            (&cfg.geneve_ports, UdpTunnel::Geneve),
            (&cfg.vxlan_gpe_ports, UdpTunnel::VxlanGpe),
            (&cfg.vxlan_ports, UdpTunnel::Vxlan),
        ] {
            for &p in ports {
                udp_ports[usize::from(p)] = kind;
            }
        }
        Decoder {
            udp_ports,
            max_depth: cfg.max_depth,
        }
    }

    /// Decodes one frame. Never panics; a malformed layer ends decoding with
    /// `error` set and keeps whatever was found before it.
    #[inline]
    pub fn decode<'a>(&self, linktype: LinkType, orig_len: u32, data: &'a [u8]) -> Decoded<'a> {
        let mut out = Decoded::default();
        self.decode_into(linktype, orig_len, data, &mut out);
        out
    }

    /// [`Decoder::decode`] into `out`, which must be `Decoded::default()`:
    /// the per-packet path decodes in place instead of moving the result.
    #[inline]
    pub fn decode_into<'a>(
        &self,
        linktype: LinkType,
        orig_len: u32,
        data: &'a [u8],
        out: &mut Decoded<'a>,
    ) {
        let mut w = Walk {
            out,
            data_start: data.as_ptr() as usize,
            orig_len,
            depth: 0,
            last_ip: None,
            ip_incomplete: false,
            vlans: 0,
            max_depth: self.max_depth,
        };
        let mut next = match self.link(linktype, data) {
            Ok(n) => n,
            Err(e) => {
                w.out.error = Some(e);
                Next::Done
            }
        };
        loop {
            let step = match next {
                Next::Done => break,
                Next::Ethernet(b) => Self::ethernet(&mut w, b),
                Next::EtherType(t, b) => Self::ether_type(&mut w, t, b),
                Next::Ip(b) => self.ip(&mut w, b),
            };
            next = match step {
                Ok(n) => n,
                Err(e) => {
                    w.out.error = Some(e);
                    Next::Done
                }
            };
        }
    }

    fn link<'a>(&self, linktype: LinkType, b: &'a [u8]) -> Result<Next<'a>, DecodeError> {
        let trunc = DecodeError::new(Layer::Link, Reason::Truncated);
        Ok(match linktype {
            LinkType::Ethernet => Next::Ethernet(b),
            LinkType::RawIp | LinkType::Ipv4 | LinkType::Ipv6 => Next::Ip(b),
            LinkType::LinuxSll | LinkType::LinuxSll2 => {
                let c = if linktype == LinkType::LinuxSll {
                    link::sll(b)
                } else {
                    link::sll2(b)
                }
                .map_err(|_| trunc)?;
                let payload = &b[c.header_len..];
                if c.arphrd == link::ARPHRD_IPGRE {
                    // A Linux GRE device: the protocol field is the GRE one.
                    return Ok(match c.protocol {
                        gre::proto::TEB => Next::Ethernet(payload),
                        p => Next::EtherType(p, payload),
                    });
                }
                Next::EtherType(c.protocol, payload)
            }
            LinkType::Null | LinkType::Loop => {
                let payload = &b[link::NULL_HEADER_LEN.min(b.len())..];
                match link::null_family(b).map_err(|_| trunc)? {
                    link::NullFamily::Ipv4 | link::NullFamily::Ipv6 => Next::Ip(payload),
                    link::NullFamily::Other => Next::Done,
                }
            }
            LinkType::Unsupported(_) => {
                return Err(DecodeError::new(Layer::Link, Reason::UnsupportedLinktype));
            }
        })
    }

    fn ethernet<'a>(w: &mut Walk<'a, '_>, b: &'a [u8]) -> Result<Next<'a>, DecodeError> {
        let eth = Ethernet2HeaderSlice::from_slice(b)
            .map_err(|_| DecodeError::new(Layer::Ethernet, Reason::Truncated))?;
        if w.out.l2 == 0 && w.out.tunnel.is_none() && w.depth == 0 {
            let mut macs = [0u8; 16];
            macs[..12].copy_from_slice(&eth.slice()[..12]);
            w.out.l2 = u128::from_le_bytes(macs);
        }
        Ok(Next::EtherType(eth.ether_type().0, &b[eth.slice().len()..]))
    }

    fn ether_type<'a>(w: &mut Walk<'a, '_>, t: u16, b: &'a [u8]) -> Result<Next<'a>, DecodeError> {
        Ok(match t {
            ETH_IPV4 | ETH_IPV6 => Next::Ip(b),
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => {
                let v = SingleVlanHeaderSlice::from_slice(b)
                    .map_err(|_| DecodeError::new(Layer::Vlan, Reason::Truncated))?;
                if w.out.tunnel.is_some() && w.vlans < 2 {
                    w.out.inner_vlans[w.vlans] = v.vlan_identifier().value();
                    w.vlans += 1;
                }
                Next::EtherType(v.ether_type().0, &b[v.slice().len()..])
            }
            ETH_MPLS_UC | ETH_MPLS_MC => Self::mpls(b)?,
            _ => Next::Done,
        })
    }

    /// Walks an MPLS label stack to its bottom and guesses the payload the
    /// way Wireshark does: IPv4/IPv6 by the first nibble, a zero nibble is a
    /// pseudowire control word before an Ethernet frame, anything else an
    /// Ethernet frame without control word.
    fn mpls(mut b: &[u8]) -> Result<Next<'_>, DecodeError> {
        loop {
            let e = mpls::Entry::new_checked(b)
                .map_err(|_| DecodeError::new(Layer::Mpls, Reason::Truncated))?;
            b = &b[mpls::ENTRY_LEN..];
            if e.bottom_of_stack() {
                break;
            }
        }
        let Some(&first) = b.first() else {
            return Err(DecodeError::new(Layer::Mpls, Reason::Truncated));
        };
        Ok(match first >> 4 {
            4 | 6 => Next::Ip(b),
            0 => {
                if b.len() < 4 {
                    return Err(DecodeError::new(Layer::Mpls, Reason::Truncated));
                }
                Next::Ethernet(&b[4..])
            }
            _ => Next::Ethernet(b),
        })
    }

    fn ip<'a>(&self, w: &mut Walk<'a, '_>, b: &'a [u8]) -> Result<Next<'a>, DecodeError> {
        let version = b.first().map(|v| v >> 4);
        let layer = match version {
            Some(4) => Layer::Ipv4,
            Some(6) => Layer::Ipv6,
            Some(_) => return Err(DecodeError::new(Layer::Ip, Reason::BadVersion)),
            None => return Err(DecodeError::new(Layer::Ip, Reason::Truncated)),
        };
        // etherparse checks the fixed headers; lengths are taken laxly, the
        // way tshark does: a total/payload length of 0 (GSO, BIG TCP,
        // jumbograms) or beyond the capture falls back to what was captured.
        let (header_len, total, protocol, non_first_fragment) = match layer {
            Layer::Ipv4 => {
                let h = Ipv4HeaderSlice::from_slice(b).map_err(|e| {
                    use etherparse::err::ipv4::HeaderSliceError as E;
                    match e {
                        E::Len(_) => DecodeError::new(layer, Reason::Truncated),
                        E::Content(_) => DecodeError::new(layer, Reason::BadHeaderLen),
                    }
                })?;
                let hl = h.slice().len();
                let total = usize::from(h.total_len());
                (
                    hl,
                    if total < hl { 0 } else { total },
                    h.protocol().0,
                    h.fragments_offset().value() != 0,
                )
            }
            _ => {
                let h = Ipv6HeaderSlice::from_slice(b)
                    .map_err(|_| DecodeError::new(layer, Reason::Truncated))?;
                let x = ipv6_extensions(b).ok_or(DecodeError::new(layer, Reason::Truncated))?;
                let payload_len = usize::from(h.payload_length());
                (
                    x.header_len,
                    if payload_len == 0 {
                        0
                    } else {
                        40 + payload_len
                    },
                    x.next_header,
                    x.fragment_offset.is_some_and(|o| o != 0),
                )
            }
        };
        let incomplete = total > b.len();
        let packet_len = if total == 0 || incomplete {
            b.len()
        } else {
            total.max(header_len)
        };
        let l4 = &b[header_len..packet_len];
        let (src_port, dst_port) = match protocol {
            IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP if !non_first_fragment && l4.len() >= 4 => (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
            ),
            _ => (0, 0),
        };
        w.out.inner = Some(InnerIp {
            protocol,
            src_port,
            dst_port,
            packet: &b[..packet_len],
            l4_offset: header_len,
            fragment: non_first_fragment,
        });
        w.last_ip = Some(b);
        w.ip_incomplete = incomplete;
        if incomplete && w.out.tunnel.is_some() {
            w.out.truncated = true;
        }
        if non_first_fragment {
            return Ok(Next::Done);
        }
        match protocol {
            IPPROTO_GRE => self.gre(w, l4),
            IPPROTO_UDP => self.udp(w, l4, src_port, dst_port),
            IPPROTO_IPIP | IPPROTO_IPV6 => {
                w.enter()?;
                Ok(Next::Ip(l4))
            }
            _ => Ok(Next::Done),
        }
    }

    /// A UDP datagram is a tunnel only when its *destination* port is
    /// configured for one, it does not come from a well-known port, and its
    /// header is valid for that protocol ([`udp_tunnel_header`]); anything
    /// else is ordinary UDP (still fingerprinted for duplicates, never a
    /// session). The source port alone never makes a tunnel: ephemeral
    /// ports (Linux 32768-60999, Windows 49152-65535) cover every tunnel
    /// port.
    fn udp<'a>(
        &self,
        w: &mut Walk<'a, '_>,
        b: &'a [u8],
        src_port: u16,
        dst_port: u16,
    ) -> Result<Next<'a>, DecodeError> {
        let udp = etherparse::UdpHeaderSlice::from_slice(b)
            .map_err(|_| DecodeError::new(Layer::Udp, Reason::Truncated))?;
        let kind = self.udp_ports[usize::from(dst_port)];
        // From a well-known port that is no tunnel port: a server's reply
        // to a client whose ephemeral port happens to be a tunnel port
        // (tunnel senders pick source ports from the dynamic range for
        // flow entropy: RFC 7348 section 5, RFC 8926 section 3.3, RFC 8086
        // section 3.2; some send from port 0, which no server uses).
        if kind == UdpTunnel::None
            || ((1..1024).contains(&src_port)
                && self.udp_ports[usize::from(src_port)] == UdpTunnel::None)
        {
            return Ok(Next::Done);
        }
        // UDP length: 0 (GSO/jumbo) or larger than what was captured falls
        // back to the captured bytes; larger than a complete IP payload or
        // smaller than the header is malformed.
        let len = usize::from(udp.length());
        let payload = if len == 0 || (len > b.len() && w.ip_incomplete) {
            &b[8..]
        } else if len < 8 || len > b.len() {
            return Err(DecodeError::new(Layer::Udp, Reason::BadLength));
        } else {
            &b[8..len]
        };
        match udp_tunnel_header(kind, payload) {
            Header::Valid => {}
            Header::Short(layer, reason) => return Err(DecodeError::new(layer, reason)),
            Header::Invalid => return Ok(Next::Done),
        }
        w.enter()?;
        match kind {
            UdpTunnel::Vxlan => {
                let v = vxlan::Packet::new_checked(payload)
                    .map_err(|_| DecodeError::new(Layer::Vxlan, Reason::Truncated))?;
                let inner = v.payload();
                w.found(Encap::Vxlan, Some(v.vni()), inner);
                Ok(Next::Ethernet(inner))
            }
            UdpTunnel::VxlanGpe => {
                let v = vxlan::Packet::new_checked(payload)
                    .map_err(|_| DecodeError::new(Layer::VxlanGpe, Reason::Truncated))?;
                let inner = v.payload();
                w.found(Encap::VxlanGpe, Some(v.vni()), inner);
                Ok(match v.gpe_next_protocol() {
                    Some(vxlan::next::ETHERNET) => Next::Ethernet(inner),
                    Some(vxlan::next::IPV4 | vxlan::next::IPV6) => Next::Ip(inner),
                    Some(vxlan::next::MPLS) => Self::mpls(inner)?,
                    _ => Next::Done, // NSH: inventoried, not unwrapped
                })
            }
            UdpTunnel::Geneve => {
                let g = geneve::Packet::new_checked(payload)
                    .map_err(|_| DecodeError::new(Layer::Geneve, Reason::Truncated))?;
                let inner = g.payload();
                w.found(Encap::Geneve, Some(g.vni()), inner);
                Ok(match g.protocol() {
                    gre::proto::TEB => Next::Ethernet(inner),
                    p => Next::EtherType(p, inner),
                })
            }
            UdpTunnel::Tzsp => {
                let t = tzsp::Packet::new_checked(payload)
                    .map_err(|_| DecodeError::new(Layer::Tzsp, Reason::Unterminated))?;
                let inner = t.payload();
                w.found(Encap::Tzsp, None, inner);
                Ok(match t.encapsulation() {
                    tzsp::ENCAP_ETHERNET => Next::Ethernet(inner),
                    _ => Next::Done,
                })
            }
            UdpTunnel::GreInUdp => self.gre_payload(w, payload),
            UdpTunnel::None => Ok(Next::Done),
        }
    }

    fn gre<'a>(&self, w: &mut Walk<'a, '_>, b: &'a [u8]) -> Result<Next<'a>, DecodeError> {
        w.enter()?;
        self.gre_payload(w, b)
    }

    fn gre_payload<'a>(&self, w: &mut Walk<'a, '_>, b: &'a [u8]) -> Result<Next<'a>, DecodeError> {
        let g = gre::Packet::new_checked(b)
            .map_err(|_| DecodeError::new(Layer::Gre, Reason::Truncated))?;
        if g.version() != 0 {
            // Version 1 is PPTP's enhanced GRE carrying PPP: not a mirror.
            return Ok(Next::Done);
        }
        if g.has_routing() {
            return Err(DecodeError::new(Layer::Gre, Reason::BadVersion));
        }
        let payload = g.payload();
        match g.protocol() {
            gre::proto::ERSPAN_I_II if !g.has_sequence() => {
                w.found(Encap::Erspan1, None, payload);
                Ok(Next::Ethernet(payload))
            }
            gre::proto::ERSPAN_I_II => {
                let h = erspan::Type2::new_checked(payload)
                    .map_err(|_| DecodeError::new(Layer::Erspan, Reason::Truncated))?;
                if h.version() != erspan::VERSION_TYPE2 {
                    return Err(DecodeError::new(Layer::Erspan, Reason::BadVersion));
                }
                let inner = h.payload();
                w.found(Encap::Erspan2, Some(u32::from(h.session_id())), inner);
                w.erspan_meta(h.truncated(), h.vlan(), None);
                Ok(Next::Ethernet(inner))
            }
            gre::proto::ERSPAN_III => {
                let trunc = DecodeError::new(Layer::Erspan, Reason::Truncated);
                if payload.len() < erspan::field::TYPE3_LEN {
                    return Err(trunc);
                }
                // The fixed header names the session even when the platform
                // subheader it announces is cut off.
                let fixed = erspan::Type3::new_unchecked(payload);
                if fixed.version() != erspan::VERSION_TYPE3 {
                    return Err(DecodeError::new(Layer::Erspan, Reason::BadVersion));
                }
                let session = Some(u32::from(fixed.session_id()));
                let Ok(h) = erspan::Type3::new_checked(payload) else {
                    w.found(Encap::Erspan3, session, &payload[payload.len()..]);
                    return Err(trunc);
                };
                let inner = h.payload();
                w.found(Encap::Erspan3, session, inner);
                w.erspan_meta(h.truncated(), h.vlan(), Some(h.egress()));
                match h.frame_type() {
                    erspan::FRAME_TYPE_ETHERNET => Ok(Next::Ethernet(inner)),
                    erspan::FRAME_TYPE_IP => Ok(Next::Ip(inner)),
                    _ => Err(DecodeError::new(Layer::Erspan, Reason::BadFrameType)),
                }
            }
            gre::proto::TEB => {
                w.found(Encap::GreTeb, g.key(), payload);
                Ok(Next::Ethernet(payload))
            }
            p @ (gre::proto::IPV4 | gre::proto::IPV6) => {
                w.found(Encap::Gre, g.key(), payload);
                Ok(Next::EtherType(p, payload))
            }
            p @ (gre::proto::MPLS_UC | gre::proto::MPLS_MC) => Ok(Next::EtherType(p, payload)),
            _ => Ok(Next::Done),
        }
    }
}

/// What follows an IPv6 header's extension-header chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ipv6Extensions {
    /// Fixed header plus extension headers.
    header_len: usize,
    /// The upper-layer protocol.
    next_header: u8,
    /// Fragment offset (8-byte units) when a fragment header is present.
    fragment_offset: Option<u16>,
}

/// Walks an IPv6 packet's extension headers with bounds checks (etherparse
/// 0.21's extension iterator reads out of bounds on cut-short headers:
/// found by fuzzing, see fuzz/regressions). None when the chain is cut
/// short.
fn ipv6_extensions(b: &[u8]) -> Option<Ipv6Extensions> {
    const HOP_BY_HOP: u8 = 0;
    const ROUTING: u8 = 43;
    const FRAGMENT: u8 = 44;
    const AUTH: u8 = 51;
    const DEST_OPTS: u8 = 60;
    let mut next = *b.get(6)?;
    let mut off = 40usize;
    let mut fragment_offset = None;
    // Each extension header is at least 8 bytes: bounded by the length.
    loop {
        let len = match next {
            HOP_BY_HOP | ROUTING | DEST_OPTS => {
                let h = b.get(off..off + 8)?;
                (usize::from(h[1]) + 1) * 8
            }
            AUTH => {
                let h = b.get(off..off + 8)?;
                (usize::from(h[1]) + 2) * 4
            }
            FRAGMENT => {
                let h = b.get(off..off + 8)?;
                fragment_offset = Some(u16::from_be_bytes([h[2], h[3]]) >> 3);
                8
            }
            _ => {
                return (off <= b.len()).then_some(Ipv6Extensions {
                    header_len: off,
                    next_header: next,
                    fragment_offset,
                });
            }
        };
        next = b[off];
        off += len;
        if off > b.len() {
            return None;
        }
        if fragment_offset.is_some_and(|o| o != 0) {
            // Nothing after a non-first fragment's header is ours to read.
            return Some(Ipv6Extensions {
                header_len: off,
                next_header: next,
                fragment_offset,
            });
        }
    }
}

impl<'a> Walk<'a, '_> {
    /// One more encapsulation layer.
    fn enter(&mut self) -> Result<(), DecodeError> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(DecodeError::new(Layer::Tunnel, Reason::TooDeep));
        }
        Ok(())
    }

    /// Records an encapsulation: the first one becomes the session.
    fn found(&mut self, encap: Encap, id: Option<u32>, payload: &'a [u8]) {
        if self.out.tunnel.is_some() {
            self.out.nested.insert(encap);
            return;
        }
        let Some(hdr) = self.last_ip else {
            return;
        };
        let (src, dst) = ip_addrs(hdr);
        self.out.tunnel = Some(Tunnel {
            encap,
            src,
            dst,
            id,
        });
        let offset = (payload.as_ptr() as usize).saturating_sub(self.data_start);
        self.out.inner_bytes = self.orig_len.saturating_sub(offset as u32);
        if self.ip_incomplete {
            self.out.truncated = true;
        }
    }

    fn erspan_meta(&mut self, truncated: bool, vlan: u16, egress: Option<bool>) {
        if self.out.nested.is_empty() {
            self.out.truncated |= truncated;
            self.out.egress = egress;
            if vlan != 0 && self.vlans == 0 {
                self.out.inner_vlans[0] = vlan;
                self.vlans = 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs the fuzzer found crashing; each must decode without panic.
    #[test]
    fn fuzz_regressions() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/regressions");
        let d = Decoder::new(&DecoderConfig::default());
        let mut n = 0;
        for e in std::fs::read_dir(dir).expect("fuzz/regressions") {
            let data = std::fs::read(e.expect("entry").path()).expect("read");
            let Some((&sel, frame)) = data.split_first() else {
                continue;
            };
            let lt = [1, 113, 276, 101, 228, 229, 0, 108, 195][usize::from(sel) % 9];
            let _ = d.decode(LinkType::from_dlt(lt), frame.len() as u32, frame);
            n += 1;
        }
        assert!(n >= 1);
    }

    #[test]
    fn ipv6_extension_walk() {
        let mut p = vec![0x60, 0, 0, 0, 0, 24, 0, 64];
        p.extend_from_slice(&[0; 32]);
        // hop-by-hop (8 bytes) -> fragment with offset 185 (1480 bytes) -> UDP
        p.extend_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&[17, 0, 0x05, 0xc8, 0, 0, 0, 1]);
        p.extend_from_slice(&[0; 8]);
        let x = ipv6_extensions(&p).expect("walks");
        assert_eq!(x.fragment_offset, Some(185));
        assert_eq!(x.next_header, 17);
        assert_eq!(x.header_len, 56);
        p[6] = 17;
        let x = ipv6_extensions(&p).expect("walks");
        assert_eq!(
            (x.fragment_offset, x.header_len, x.next_header),
            (None, 40, 17)
        );
        p[6] = 0;
        assert_eq!(ipv6_extensions(&p[..50]), None);
    }

    #[test]
    fn lax_ip_lengths() {
        let d = Decoder::new(&DecoderConfig::default());
        // IPv4 total length 0 (GSO): the captured bytes are the packet.
        let mut p = vec![
            0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0, 12, 0, 0, 1, 2, 3, 4]);
        let out = d.decode(LinkType::RawIp, p.len() as u32, &p);
        let ip = out.inner.expect("ip");
        assert_eq!((ip.packet.len(), ip.dst_port), (32, 53));
        // Trailer after total length is cut off.
        p[3] = 28;
        p.extend_from_slice(&[0xee; 6]);
        let out = d.decode(LinkType::RawIp, p.len() as u32, &p);
        assert_eq!(out.inner.expect("ip").packet.len(), 28);
        // IHL 3 is refused.
        p[0] = 0x43;
        let out = d.decode(LinkType::RawIp, p.len() as u32, &p);
        assert_eq!(
            out.error,
            Some(DecodeError::new(Layer::Ipv4, Reason::BadHeaderLen))
        );
    }

    /// Raw IPv4/UDP from `sport` to `dport` carrying `payload`.
    fn udp_packet(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let total = 20 + 8 + payload.len();
        let mut p = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0,
            0,
            64,
            17,
            0,
            0,
            10,
            0,
            0,
            1,
            10,
            0,
            0,
            2,
        ];
        let ulen = (8 + payload.len()) as u16;
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&ulen.to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        p
    }

    /// Which UDP datagrams are tunnels: the destination port and a valid
    /// header decide; the source port alone never does.
    #[test]
    fn udp_tunnels_by_destination_port_and_valid_header() {
        let d = Decoder::new(&DecoderConfig::default());
        // An inner Ethernet frame (IPv4 ethertype, 20 zero bytes).
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        eth.extend_from_slice(&[0x45; 1]);
        eth.extend_from_slice(&[0u8; 19]);
        let with = |hdr: &[u8]| [hdr, &eth[..]].concat();
        let vxlan_ok = with(&[0x08, 0, 0, 0, 0, 0, 5, 0]);
        let vxlan_reserved = with(&[0xff, 0xff, 0xff, 0xff, 0, 0, 5, 0xff]);
        let vxlan_no_i = with(&[0x00, 0, 0, 0, 0, 0, 5, 0]);
        let gpe_ok = with(&[0x0c, 0, 0, 3, 0, 0, 9, 0]);
        let gpe_no_p = with(&[0x08, 0, 0, 3, 0, 0, 9, 0]);
        let gpe_bad_next = with(&[0x0c, 0, 0, 9, 0, 0, 9, 0]);
        let geneve_ok = with(&[0x00, 0, 0x65, 0x58, 0, 0, 3, 0]);
        let geneve_v1 = with(&[0x40, 0, 0x65, 0x58, 0, 0, 3, 0]);
        let tzsp_ok = with(&[1, 0, 0, 1, 1]);
        let tzsp_v2 = with(&[2, 0, 0, 1, 1]);
        let tzsp_bad_type = with(&[1, 2, 0, 1, 1]);
        let tzsp_bad_encap = with(&[1, 0, 0x81, 0x80, 1]);
        type Case<'a> = (&'a str, u16, u16, &'a [u8], Option<Encap>);
        let cases: [Case<'_>; 16] = [
            ("vxlan", 50000, 4789, &vxlan_ok, Some(Encap::Vxlan)),
            (
                "vxlan linux port",
                50000,
                8472,
                &vxlan_ok,
                Some(Encap::Vxlan),
            ),
            (
                "vxlan reserved bits ignored",
                50000,
                4789,
                &vxlan_reserved,
                Some(Encap::Vxlan),
            ),
            (
                "vtep to vtep, both 4789",
                4789,
                4789,
                &vxlan_ok,
                Some(Encap::Vxlan),
            ),
            (
                "vxlan from source port 0",
                0,
                4789,
                &vxlan_ok,
                Some(Encap::Vxlan),
            ),
            ("vxlan without I flag", 50000, 4789, &vxlan_no_i, None),
            ("source port 4789 only", 4789, 53, &vxlan_ok, None),
            ("reply from a well-known port", 53, 4789, &vxlan_ok, None),
            ("gpe", 50000, 4790, &gpe_ok, Some(Encap::VxlanGpe)),
            ("gpe without P flag", 50000, 4790, &gpe_no_p, None),
            (
                "gpe unknown next protocol",
                50000,
                4790,
                &gpe_bad_next,
                None,
            ),
            ("geneve", 50000, 6081, &geneve_ok, Some(Encap::Geneve)),
            ("geneve version 1", 50000, 6081, &geneve_v1, None),
            ("tzsp", 50000, 37008, &tzsp_ok, Some(Encap::Tzsp)),
            ("tzsp version 2", 50000, 37008, &tzsp_v2, None),
            ("tzsp source port only", 37008, 50000, &tzsp_ok, None),
        ];
        for (what, sport, dport, payload, want) in cases {
            let p = udp_packet(sport, dport, payload);
            let out = d.decode(LinkType::RawIp, p.len() as u32, &p);
            assert_eq!(out.tunnel.map(|t| t.encap), want, "{what}");
            assert_eq!(out.error, None, "{what}");
            if want.is_none() {
                // Ordinary UDP: the datagram itself is the inner packet.
                assert_eq!(out.inner.map(|i| i.dst_port), Some(dport), "{what}");
            }
        }
        for (what, payload) in [
            ("tzsp unknown type", &tzsp_bad_type),
            ("tzsp unknown encapsulation", &tzsp_bad_encap),
        ] {
            let p = udp_packet(50000, 37008, payload);
            assert_eq!(
                d.decode(LinkType::RawIp, p.len() as u32, &p).tunnel,
                None,
                "{what}"
            );
        }
        // A header that is this protocol's but cut short is counted.
        let p = udp_packet(50000, 4789, &[0x08, 0, 0, 0]);
        let out = d.decode(LinkType::RawIp, p.len() as u32, &p);
        assert_eq!(
            out.error,
            Some(DecodeError::new(Layer::Vxlan, Reason::Truncated))
        );
        assert_eq!(out.tunnel, None);
    }

    #[test]
    fn depth_limit_is_enforced() {
        // 10 nested VXLAN layers exceed the default depth of 8.
        let s = mirrorwatch_synth::scenarios();
        let m = s
            .iter()
            .find(|s| s.name == "malformed")
            .expect("malformed scenario");
        let d = Decoder::new(&DecoderConfig::default());
        let p = &m.packets[16].data;
        let out = d.decode(LinkType::Ethernet, p.len() as u32, p);
        assert_eq!(
            out.error,
            Some(DecodeError::new(Layer::Tunnel, Reason::TooDeep))
        );
        assert_eq!(out.tunnel.map(|t| t.id), Some(Some(1001)));
        let deep = Decoder::new(&DecoderConfig {
            max_depth: 16,
            ..DecoderConfig::default()
        });
        assert_eq!(
            deep.decode(LinkType::Ethernet, p.len() as u32, p).error,
            None
        );
    }
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn decoded_stays_small() {
        // Decoded is returned by value once per frame.
        let n = core::mem::size_of::<super::Decoded<'static>>();
        assert!(n <= 256, "Decoded is {n} bytes");
        eprintln!("Decoded: {n} bytes");
    }
}
