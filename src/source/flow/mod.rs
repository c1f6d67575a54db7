//! Flow exports as evidence: NetFlow v5 ([`v5`]), NetFlow v9 ([`v9`]),
//! IPFIX ([`ipfix`], RFC 7011) and sFlow v5 ([`sflow`]) turned into one
//! [`FlowRecord`] type. Templates are kept per (exporter, observation
//! domain) in a bounded cache ([`template`]); data that arrives before its
//! template is held for a bounded time and count. [`capture`] reads pcap
//! files of export traffic.
//!
//! Own code rather than a crate: `netflow_parser` needs Rust 1.88 (we build
//! with 1.85), allocates a map per record and keeps one template cache per
//! parser without holding early data; `netgauze-flow-pkt` brings a large
//! generated IANA registry and a dozen dependencies, and leaves template
//! state to the caller; `sflow-parser` decodes every counter structure into
//! owned vectors. What mirrorwatch needs is a few dozen fields, records that
//! borrow the datagram (no allocation per record) and counted, bounded
//! state: about a thousand lines here.
pub mod capture;
pub mod flowlog;
pub mod intake;
pub mod ipfix;
pub mod listen;
pub mod sflow;
pub mod template;
pub mod v5;
pub mod v9;

use core::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use crate::decode::{Encap, LinkType};
use template::{PendingConfig, TemplateCache};

labelled_enum! {
    /// The export format a record came in.
    pub enum FlowFormat {
        NetflowV5 => "netflow-v5",
        NetflowV9 => "netflow-v9",
        Ipfix => "ipfix",
        Sflow => "sflow",
        /// AWS VPC Flow Logs (default and custom formats).
        AwsVpc => "aws-vpc",
        /// GCP VPC Flow Logs (Cloud Logging entries).
        GcpVpc => "gcp-vpc",
        /// Azure VNet flow logs and NSG flow logs v2.
        AzureVnet => "azure-vnet",
        /// Zeek `conn.log` and `tunnel.log` (TSV or JSON).
        Zeek => "zeek",
        /// Suricata EVE `flow` and `netflow` events.
        Suricata => "suricata",
    }
}

impl FlowFormat {
    /// The `seen_by` label of sessions found in this format.
    pub const fn seen_by(self) -> &'static str {
        match self {
            FlowFormat::NetflowV5 | FlowFormat::NetflowV9 => "netflow",
            FlowFormat::Ipfix => "ipfix",
            FlowFormat::Sflow => "sflow",
            FlowFormat::AwsVpc => "aws-vpc",
            FlowFormat::GcpVpc => "gcp-vpc",
            FlowFormat::AzureVnet => "azure-vnet",
            FlowFormat::Zeek => "zeek",
            FlowFormat::Suricata => "suricata",
        }
    }

    /// Formats read from log files rather than export datagrams.
    pub const fn is_log(self) -> bool {
        matches!(
            self,
            FlowFormat::AwsVpc
                | FlowFormat::GcpVpc
                | FlowFormat::AzureVnet
                | FlowFormat::Zeek
                | FlowFormat::Suricata
        )
    }
}

labelled_enum! {
    /// Direction of a flow relative to the observation point, where given.
    pub enum Direction {
        Ingress => "ingress",
        Egress => "egress",
    }
}

/// Bytes of a sampled packet carried in the record (sFlow raw packet
/// header, IPFIX `dataLinkFrameSection` or `ipHeaderPacketSection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampledFrame<'a> {
    /// Ethernet for frames, RawIp for IP header sections.
    pub linktype: LinkType,
    /// Length of the packet on the wire (as large as `data` when unknown).
    pub orig_len: u32,
    pub data: &'a [u8],
}

/// One flow record, whatever the format. Borrows the datagram it came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRecord<'a> {
    pub format: FlowFormat,
    /// The exporter: the datagram's source address (NetFlow, IPFIX) or the
    /// sFlow agent address; unspecified (0.0.0.0) for records from log
    /// files, which name no exporter address.
    pub exporter: IpAddr,
    /// NetFlow v9 source id, IPFIX observation domain, sFlow source id.
    pub domain: u32,
    /// Time span of the flow, microseconds since the Unix epoch.
    pub start_us: i64,
    pub end_us: i64,
    /// Addresses; unspecified (0.0.0.0) when the record has none (a packet
    /// section alone).
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    /// As exported (not scaled by the sampling rate).
    pub packets: u64,
    pub bytes: u64,
    pub direction: Option<Direction>,
    /// One in `sampling_rate` packets was seen; 1 when unsampled or unknown.
    pub sampling_rate: u32,
    pub frame: Option<SampledFrame<'a>>,
    /// The tunnel family the record names itself (Zeek `tunnel.log`,
    /// Suricata's `tunnel` object); None: protocol and port decide.
    pub tunnel: Option<Encap>,
    /// Counts of the reverse direction (destination to source), for logs
    /// that write both directions in one record (Azure tuples, Zeek
    /// `conn.log`, Suricata `flow`); 0 elsewhere.
    pub rev_packets: u64,
    pub rev_bytes: u64,
}

impl FlowRecord<'_> {
    /// A record with nothing but where it came from.
    pub fn empty(format: FlowFormat, exporter: IpAddr, domain: u32, ts_us: i64) -> Self {
        FlowRecord {
            format,
            exporter,
            domain,
            start_us: ts_us,
            end_us: ts_us,
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            src_port: 0,
            dst_port: 0,
            protocol: 0,
            packets: 0,
            bytes: 0,
            direction: None,
            sampling_rate: 1,
            frame: None,
            tunnel: None,
            rev_packets: 0,
            rev_bytes: 0,
        }
    }
}

labelled_enum! {
    /// Why a datagram (or part of it) could not be read. Counted by kind.
    pub enum FlowError {
        /// Shorter than its headers or lengths say.
        Truncated => "truncated",
        /// Not NetFlow v5/v9, IPFIX or sFlow v5.
        UnknownVersion => "unknown_version",
        /// A length or count field that cannot be right.
        BadLength => "bad_length",
        /// A template with an impossible field list.
        BadTemplate => "bad_template",
        /// A set id that no version defines (1, 4-255).
        BadSetId => "bad_set_id",
        /// An address type sFlow does not define.
        BadAddress => "bad_address",
    }
}

impl std::error::Error for FlowError {}

/// What the collector did, for the report and metrics.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct FlowCounters {
    pub datagrams: u64,
    pub records: u64,
    /// Options data records read (sampling rates, system init time).
    pub options_records: u64,
    pub templates_added: u64,
    pub templates_withdrawn: u64,
    /// Templates dropped to stay within `flows.max_templates`.
    pub templates_evicted: u64,
    /// Data sets held until their template arrives.
    pub pending_held: u64,
    /// Held data sets decoded once their template arrived.
    pub pending_decoded: u64,
    /// Held data sets dropped: too old or too many held.
    pub pending_dropped: u64,
    /// Records found only in the optional fields of a template we do not
    /// use, or with a zero-length template (skipped, not errors).
    pub records_skipped: u64,
    pub errors: u64,
}

/// Collector settings (the `[flows]` section of the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectorConfig {
    /// Templates kept over all exporters and domains.
    pub max_templates: usize,
    /// Data sets held before their template.
    pub max_pending: usize,
    /// How long a held data set waits for its template, microseconds.
    pub pending_us: i64,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            max_templates: 4096,
            max_pending: 256,
            pending_us: 60_000_000,
        }
    }
}

/// Decodes export datagrams of any supported format into records, keeping
/// the template state they need.
pub struct Collector {
    pub(crate) templates: TemplateCache,
    pub counters: FlowCounters,
    /// Errors by [`FlowError`] kind.
    pub error_counts: [u64; FlowError::COUNT],
    /// Datagrams by format.
    pub format_counts: [u64; FlowFormat::COUNT],
}

impl Collector {
    pub fn new(cfg: CollectorConfig) -> Self {
        Collector {
            templates: TemplateCache::new(
                cfg.max_templates,
                PendingConfig {
                    max: cfg.max_pending,
                    hold_us: cfg.pending_us,
                },
            ),
            counters: FlowCounters::default(),
            error_counts: [0; FlowError::COUNT],
            format_counts: [0; FlowFormat::COUNT],
        }
    }

    /// The format of a datagram, from its first bytes.
    pub fn sniff(payload: &[u8]) -> Option<FlowFormat> {
        match payload {
            [0, 0, 0, 5, ..] => Some(FlowFormat::Sflow),
            [0, 5, ..] => Some(FlowFormat::NetflowV5),
            [0, 9, ..] => Some(FlowFormat::NetflowV9),
            [0, 10, ..] => Some(FlowFormat::Ipfix),
            _ => None,
        }
    }

    /// Decodes one datagram from `exporter` received at `now_us`, handing
    /// each record to `sink`. Records before an error are delivered; the
    /// error is counted and returned.
    pub fn datagram(
        &mut self,
        exporter: IpAddr,
        now_us: i64,
        payload: &[u8],
        sink: &mut dyn FnMut(&FlowRecord<'_>),
    ) -> Result<FlowFormat, FlowError> {
        self.counters.datagrams += 1;
        let mut records = 0u64;
        let mut count = |r: &FlowRecord<'_>| {
            records += 1;
            sink(r)
        };
        let format = Self::sniff(payload);
        let result = match format {
            Some(FlowFormat::NetflowV5) => v5::decode(exporter, payload, &mut count),
            Some(FlowFormat::NetflowV9) => v9::decode(self, exporter, now_us, payload, &mut count),
            Some(FlowFormat::Ipfix) => ipfix::decode(self, exporter, now_us, payload, &mut count),
            Some(FlowFormat::Sflow) => sflow::decode(now_us, payload, &mut count),
            // Never sniffed from a datagram: log formats are read from files.
            Some(_) | None => Err(FlowError::UnknownVersion),
        };
        self.counters.records += records;
        if let Some(f) = format {
            self.format_counts[f as usize] += 1;
        }
        match (result, format) {
            (Ok(()), Some(f)) => Ok(f),
            (Ok(()), None) => Err(FlowError::UnknownVersion),
            (Err(e), _) => {
                self.counters.errors += 1;
                self.error_counts[e as usize] += 1;
                Err(e)
            }
        }
    }

    /// Templates held now.
    pub fn templates(&self) -> usize {
        self.templates.len()
    }

    /// Data sets waiting for their template now.
    pub fn pending(&self) -> usize {
        self.templates.pending_len()
    }

    /// Drops held data sets older than the hold time at `now_us`.
    pub fn expire(&mut self, now_us: i64) {
        let n = self.templates.expire_pending(now_us);
        self.counters.pending_dropped += n;
    }
}

/// Big-endian reads that never panic.
pub(crate) mod be {
    #[inline]
    pub fn u8(b: &[u8], at: usize) -> Option<u8> {
        b.get(at).copied()
    }
    #[inline]
    pub fn u16(b: &[u8], at: usize) -> Option<u16> {
        let s = b.get(at..at.checked_add(2)?)?;
        Some(u16::from_be_bytes([s[0], s[1]]))
    }
    #[inline]
    pub fn u32(b: &[u8], at: usize) -> Option<u32> {
        let s = b.get(at..at.checked_add(4)?)?;
        Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    /// An unsigned integer of 1 to 8 bytes (reduced-size encoding, RFC
    /// 7011 section 6.2); None for other lengths.
    #[inline]
    pub fn uint(s: &[u8]) -> Option<u64> {
        if s.is_empty() || s.len() > 8 {
            return None;
        }
        Some(s.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b)))
    }
    pub fn ipv4(s: &[u8]) -> Option<core::net::IpAddr> {
        let a: [u8; 4] = s.try_into().ok()?;
        Some(core::net::IpAddr::from(a))
    }
    pub fn ipv6(s: &[u8]) -> Option<core::net::IpAddr> {
        let a: [u8; 16] = s.try_into().ok()?;
        Some(core::net::IpAddr::from(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_each_format_and_counts_unknown() {
        assert_eq!(Collector::sniff(&[0, 5, 0, 0]), Some(FlowFormat::NetflowV5));
        assert_eq!(Collector::sniff(&[0, 9, 0, 0]), Some(FlowFormat::NetflowV9));
        assert_eq!(Collector::sniff(&[0, 10, 0, 0]), Some(FlowFormat::Ipfix));
        assert_eq!(Collector::sniff(&[0, 0, 0, 5]), Some(FlowFormat::Sflow));
        assert_eq!(Collector::sniff(&[0, 0, 0, 4]), None);
        assert_eq!(Collector::sniff(&[]), None);
        let mut c = Collector::new(CollectorConfig::default());
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let r = c.datagram(ip, 0, &[0, 7, 0, 0], &mut |_| panic!("no record"));
        assert_eq!(r, Err(FlowError::UnknownVersion));
        assert_eq!(c.counters.errors, 1);
        assert_eq!(c.error_counts[FlowError::UnknownVersion as usize], 1);
        assert_eq!(c.counters.datagrams, 1);
    }

    /// Every prefix and many byte flips of valid datagrams of each format:
    /// errors or records, never a panic, and the counters add up.
    #[test]
    fn damaged_datagrams_never_panic() {
        let rec = ([10, 1, 0, 2], [10, 9, 0, 10], 1, 100, 0, 0, 1, 2, 47);
        let v5 = v5::tests::datagram(0, &[rec, rec]);
        let t = ipfix::tests::words(&[256, 3, 8, 4, 12, 4, 313, 0xffff]);
        let d = vec![10, 1, 0, 2, 10, 9, 0, 10, 3, 0x45, 0, 0];
        let ipfix = ipfix::tests::message(1, 0, &[(2, t), (256, d)]);
        let sflow = sflow::tests::datagram(&[(
            1,
            sflow::tests::flow_sample(4, &[sflow::tests::raw_header(&[0xaa; 30], 60)]),
        )]);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for good in [v5, ipfix, sflow] {
            let mut c = Collector::new(CollectorConfig::default());
            assert!(c.datagram(ip, 0, &good, &mut |_| {}).is_ok());
            for cut in 0..good.len() {
                let _ = c.datagram(ip, 0, &good[..cut], &mut |_| {});
            }
            for _ in 0..2000 {
                let mut b = good.clone();
                for _ in 0..3 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let i = (seed % b.len() as u64) as usize;
                    b[i] = (seed >> 32) as u8;
                }
                let _ = c.datagram(ip, 0, &b, &mut |_| {});
            }
            let n = 1 + good.len() as u64 + 2000;
            assert_eq!(c.counters.datagrams, n);
            assert!(c.counters.errors > 0 && c.counters.errors < n);
            assert_eq!(c.error_counts.iter().sum::<u64>(), c.counters.errors);
            assert!(c.templates() <= CollectorConfig::default().max_templates);
            assert!(c.pending() <= CollectorConfig::default().max_pending);
        }
    }

    #[test]
    fn uint_reads_reduced_sizes() {
        assert_eq!(be::uint(&[1]), Some(1));
        assert_eq!(be::uint(&[1, 2, 3]), Some(0x010203));
        assert_eq!(be::uint(&[0xff; 8]), Some(u64::MAX));
        assert_eq!(be::uint(&[0; 9]), None);
        assert_eq!(be::uint(&[]), None);
        assert_eq!(be::u16(&[1], 0), None);
        assert_eq!(be::u32(&[0, 0, 0, 1, 2], 1), Some(0x102));
        assert_eq!(be::u16(&[1, 2], usize::MAX), None);
    }
}
