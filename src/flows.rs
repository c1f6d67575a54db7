//! Mirror sessions from flow records (`mirrorwatch flows`). A record whose
//! destination signature is a mirror encapsulation — IP protocol 47, or UDP
//! to a configured VXLAN, VXLAN-GPE, Geneve, TZSP or GRE-in-UDP port — is
//! part of a session keyed like packet sessions. Where the record carries a
//! sampled frame (sFlow raw header, IPFIX packet sections), the frame goes
//! through mirrorwatch's own decoder, so the encapsulation and ERSPAN id /
//! VNI are exact; otherwise the key is the family (`gre` for protocol 47,
//! else by destination port) with no id. Counts of sampled records are
//! scaled by the sampling rate and marked `estimated`.
//!
//! Verdicts use what flows can show: ERSPAN and TZSP exist only to carry
//! copies; a reverse session (same family, ends swapped) makes an overlay;
//! GRE from a flow exporter's own address (a router or switch) with no
//! reverse traffic, or a one-way session of at least
//! `alerts.verdict_min_packets` packets, is a mirror.
use core::net::IpAddr;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::config::{Authorized, Config};
use crate::decode::{Decoder, Encap, EncapSet, Tunnel};
use crate::detect::alert::{Alert, AlertCounts, AlertKind, Facts, session_message};
use crate::detect::net::Cidr;
use crate::detect::verdict::classify;
use crate::detect::{DstClass, SessionKey, Verdict};
use crate::report::{SessionDuplicates, SessionReport, session_order};
use crate::source::flow::capture::{self, FlowInput};
use crate::source::flow::flowlog;
use crate::source::flow::{Collector, Direction, FlowCounters, FlowFormat, FlowRecord};
use crate::time::rfc3339_us;

/// Exporters remembered per session.
const MAX_EXPORTERS: usize = 8;
/// Exporter addresses remembered over all (for "GRE from a device").
const MAX_KNOWN_EXPORTERS: usize = 4096;

/// What is known about one flow-derived session.
#[derive(Debug, Clone, Default)]
struct FlowSession {
    packets: u64,
    bytes: u64,
    first_us: i64,
    last_us: i64,
    /// Bits of [`FlowFormat`] (as `seen_by` labels).
    seen_by: u16,
    exporters: Vec<IpAddr>,
    sampling_rate: u32,
    estimated: bool,
    nested: EncapSet,
    vlans: Vec<u16>,
    ingress: u64,
    egress: u64,
    truncated: u64,
}

/// The session inventory built from flow records, bounded like the packet
/// inventory (least recently seen evicted, counted).
pub struct FlowSessions {
    decoder: Decoder,
    udp_roles: HashMap<u16, Encap>,
    internal: Vec<Cidr>,
    authorized: Vec<Authorized>,
    min_packets: u64,
    sensor: String,
    sessions: HashMap<SessionKey, FlowSession>,
    cap: usize,
    pub evicted: u64,
    exporters: HashSet<IpAddr>,
    /// Records that were part of a session.
    pub session_records: u64,
    /// Records whose sampled frame decoded as ordinary traffic (no session
    /// even when the record's ports looked like one).
    pub sampled_ordinary: u64,
}

impl FlowSessions {
    pub fn new(cfg: &Config) -> Self {
        let d = &cfg.decode;
        let mut udp_roles = HashMap::new();
        for (ports, e) in [
            (&d.vxlan_ports, Encap::Vxlan),
            (&d.vxlan_gpe_ports, Encap::VxlanGpe),
            (&d.geneve_ports, Encap::Geneve),
            (&d.tzsp_ports, Encap::Tzsp),
            (&d.gre_udp_ports, Encap::Gre),
        ] {
            for p in ports {
                udp_roles.insert(*p, e);
            }
        }
        FlowSessions {
            decoder: Decoder::new(d),
            udp_roles,
            internal: cfg.internal_networks.clone(),
            authorized: cfg.authorized.clone(),
            min_packets: cfg.alerts.verdict_min_packets,
            sensor: cfg.sensor.clone(),
            sessions: HashMap::new(),
            cap: cfg.inventory.max_sessions.max(1),
            evicted: 0,
            exporters: HashSet::new(),
            session_records: 0,
            sampled_ordinary: 0,
        }
    }

    /// Sessions held now.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The family of a record from its fields alone (or the tunnel the
    /// record names, for logs that say it).
    fn family(&self, r: &FlowRecord<'_>) -> Option<Encap> {
        if r.tunnel.is_some() {
            return r.tunnel;
        }
        match r.protocol {
            47 => Some(Encap::Gre),
            17 => self.udp_roles.get(&r.dst_port).copied(),
            _ => None,
        }
    }

    /// Takes one record. A record from a log file has no sampled frame and
    /// no exporter address: like an unsampled NetFlow record, its fields
    /// alone decide, and where it also counts the reverse direction
    /// (`rev_packets`) that is taken as a record the other way.
    pub fn record(&mut self, r: &FlowRecord<'_>) {
        let known = !r.exporter.is_unspecified();
        if known && self.exporters.len() < MAX_KNOWN_EXPORTERS {
            self.exporters.insert(r.exporter);
        }
        let mut extra = FlowSession::default();
        let mut key = None;
        if let Some(f) = r.frame {
            let d = self.decoder.decode(f.linktype, f.orig_len, f.data);
            match (d.tunnel, d.inner) {
                (Some(t), _) => {
                    key = Some(t);
                    extra.nested = d.nested;
                    extra.vlans = d.inner_vlans.into_iter().filter(|v| *v != 0).collect();
                    match d.egress {
                        Some(true) => extra.egress = 1,
                        Some(false) => extra.ingress = 1,
                        None => {}
                    }
                    extra.truncated = u64::from(d.truncated);
                }
                (None, Some(_)) => {
                    self.sampled_ordinary += 1;
                    return;
                }
                // Too damaged to say: the record's own fields decide.
                (None, None) => {}
            }
        }
        let key = match key {
            Some(k) => k,
            None => {
                let Some(encap) = self.family(r) else {
                    return;
                };
                if r.src.is_unspecified() || r.dst.is_unspecified() {
                    return;
                }
                Tunnel {
                    encap,
                    src: r.src,
                    dst: r.dst,
                    id: None,
                }
            }
        };
        let rate = u64::from(r.sampling_rate.max(1));
        let scale = |n: u64| n.saturating_mul(rate);
        if !self.sessions.contains_key(&key) && self.sessions.len() >= self.cap {
            self.evict();
        }
        self.session_records += 1;
        let s = self.sessions.entry(key).or_insert_with(|| FlowSession {
            first_us: r.start_us,
            last_us: r.end_us,
            ..FlowSession::default()
        });
        s.packets = s.packets.saturating_add(scale(r.packets));
        s.bytes = s.bytes.saturating_add(scale(r.bytes));
        s.first_us = s.first_us.min(r.start_us);
        s.last_us = s.last_us.max(r.end_us);
        s.seen_by |= 1 << (r.format as u16);
        if known && s.exporters.len() < MAX_EXPORTERS && !s.exporters.contains(&r.exporter) {
            s.exporters.push(r.exporter);
        }
        s.sampling_rate = s.sampling_rate.max(r.sampling_rate.max(1));
        s.estimated |= rate > 1;
        s.nested.union(extra.nested);
        for v in extra.vlans {
            if !s.vlans.contains(&v) && s.vlans.len() < 64 {
                s.vlans.push(v);
            }
        }
        // A sampled ERSPAN III header says the direction; else the record.
        let (ing, eg) = match (extra.ingress + extra.egress, r.direction) {
            (0, Some(Direction::Ingress)) => (1, 0),
            (0, Some(Direction::Egress)) => (0, 1),
            _ => (extra.ingress, extra.egress),
        };
        // A sampled frame stands for at least one packet; a log record for
        // what it counts.
        let n = if r.frame.is_some() {
            r.packets.max(1)
        } else {
            r.packets
        };
        s.ingress += scale(ing * n);
        s.egress += scale(eg * n);
        s.truncated += scale(extra.truncated);
        if r.frame.is_none() && (r.rev_packets > 0 || r.rev_bytes > 0) {
            // The same connection's other direction: reverse traffic of the
            // same family between the same ends.
            let back = FlowRecord {
                src: r.dst,
                dst: r.src,
                src_port: r.dst_port,
                dst_port: r.src_port,
                packets: r.rev_packets,
                bytes: r.rev_bytes,
                rev_packets: 0,
                rev_bytes: 0,
                direction: None,
                tunnel: Some(key.encap),
                ..*r
            };
            self.record(&back);
        }
    }

    /// Drops the least recently seen eighth (at least one).
    fn evict(&mut self) {
        let n = (self.sessions.len() / 8).max(1);
        let mut by_age: Vec<(i64, SessionKey)> =
            self.sessions.iter().map(|(k, s)| (s.last_us, *k)).collect();
        by_age.sort_unstable_by_key(|(t, _)| *t);
        for (_, k) in by_age.into_iter().take(n) {
            self.sessions.remove(&k);
            self.evicted += 1;
        }
    }

    /// Judges one session: class, verdict, evidence, whether an expired
    /// authorisation matched.
    fn judge(&self, k: &SessionKey, s: &FlowSession) -> (DstClass, Verdict, Vec<String>, bool) {
        let (class, expired) = classify(&self.authorized, &self.internal, k, s.last_us);
        let mut ev = Vec::new();
        if matches!(
            k.encap,
            Encap::Erspan1 | Encap::Erspan2 | Encap::Erspan3 | Encap::Tzsp
        ) {
            ev.push(format!(
                "mirror_encapsulation: {} exists only to carry copies of traffic",
                k.encap
            ));
            return (class, Verdict::Mirror, ev, expired);
        }
        let reverse = SessionKey {
            src: k.dst,
            dst: k.src,
            ..*k
        };
        if let Some(r) = self.sessions.get(&reverse) {
            ev.push(format!(
                "reverse_traffic: {} packets from {} to {} in flow records",
                r.packets, k.dst, k.src
            ));
            return (class, Verdict::Overlay, ev, expired);
        }
        ev.push(format!(
            "one_way: no flow from {} to {} with the same encapsulation",
            k.dst, k.src
        ));
        let from_device =
            matches!(k.encap, Encap::Gre | Encap::GreTeb) && self.exporters.contains(&k.src);
        if from_device {
            ev.push(format!(
                "from_network_device: {} exports flows (a router or switch) and sends this GRE",
                k.src
            ));
        }
        let verdict = if from_device || s.packets >= self.min_packets {
            Verdict::Mirror
        } else {
            ev.push(format!(
                "too_few_packets: {} of {} needed",
                s.packets, self.min_packets
            ));
            Verdict::Undetermined
        };
        (class, verdict, ev, expired)
    }

    /// Every session judged, as reports in the one session order, and the
    /// alerts they raise.
    pub fn finish(&self) -> (Vec<SessionReport>, Vec<Alert>) {
        let mut reports = Vec::with_capacity(self.sessions.len());
        let mut alerts = Vec::new();
        for (k, s) in &self.sessions {
            let (class, verdict, evidence, expired) = self.judge(k, s);
            let mut kinds = Vec::new();
            if verdict == Verdict::Mirror {
                kinds.push(AlertKind::MirrorSessionNew);
                match class {
                    DstClass::External => kinds.push(AlertKind::MirrorToExternal),
                    DstClass::Internal => kinds.push(AlertKind::MirrorToUnauthorizedInternal),
                    DstClass::Authorized => {}
                }
                if expired {
                    kinds.push(AlertKind::AuthorizedMirrorExpired);
                }
            }
            let id = k.id.map_or_else(String::new, |i| format!(" id {i}"));
            let what = format!(
                "{} session{id} from {} to {} (flow records)",
                k.encap, k.src, k.dst
            );
            for kind in &kinds {
                let facts = Facts {
                    dst_class: class,
                    verdict,
                    evidence: evidence.clone(),
                    counts: AlertCounts {
                        packets: s.packets,
                        bytes: s.bytes,
                        duplicates: 0,
                    },
                    first_seen_us: s.first_us,
                    last_seen_us: s.last_us,
                };
                let message = session_message(*kind, &what, 0, 0.0);
                alerts.push(
                    Alert::new(
                        *kind,
                        kind.severity(),
                        &self.sensor,
                        s.last_us,
                        facts,
                        message,
                    )
                    .with_session(k),
                );
            }
            let mut vlans = s.vlans.clone();
            vlans.sort_unstable();
            reports.push(SessionReport {
                key: *k,
                encap: k.encap,
                src: k.src.to_string(),
                dst: k.dst.to_string(),
                id: k.id,
                packets: s.packets,
                bytes: s.bytes,
                inner_bytes: 0,
                first_seen: rfc3339_us(s.first_us),
                last_seen: rfc3339_us(s.last_us),
                inner_vlans: vlans,
                inner_flows: 0,
                ingress_packets: s.ingress,
                egress_packets: s.egress,
                truncated_packets: s.truncated,
                nested: s.nested.iter().collect(),
                dst_class: class,
                verdict,
                evidence,
                duplicates: SessionDuplicates {
                    packets: 0,
                    ratio: 0.0,
                    median_gap_us: None,
                },
                alerts: kinds,
                traffic: Default::default(),
                config_events: None,
                seen_by: Some(seen_by_labels(s.seen_by)),
                exporters: Some(s.exporters.iter().map(IpAddr::to_string).collect()),
                sampling_rate: Some(s.sampling_rate.max(1)),
                estimated: Some(s.estimated),
            });
        }
        reports.sort_by(session_order);
        alerts.sort_by_key(|a| (a.ts_us, a.kind));
        (reports, alerts)
    }
}

/// The distinct `seen_by` labels of a format bit set, in a fixed order.
fn seen_by_labels(bits: u16) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    for f in FlowFormat::ALL {
        if bits & (1 << (f as u8)) != 0 && !v.contains(&f.seen_by()) {
            v.push(f.seen_by());
        }
    }
    v
}

/// The `mirrorwatch flows --format json` document.
#[derive(Debug, Clone, Serialize)]
pub struct FlowsReport {
    pub inputs: Vec<FlowInput>,
    /// Flow records read over all inputs.
    pub records: u64,
    pub sessions: Vec<SessionReport>,
    /// Sessions dropped to stay within `inventory.max_sessions`.
    pub sessions_evicted: u64,
    /// Template, pending and error counts of the collector.
    pub collector: CollectorReport,
    /// Alerts raised, by kind.
    pub alerts: BTreeMap<&'static str, u64>,
    /// The alerts themselves (written with `--alerts`).
    #[serde(skip)]
    pub alert_list: Vec<Alert>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CollectorReport {
    #[serde(flatten)]
    pub counters: FlowCounters,
    /// Templates held at the end.
    pub templates: usize,
    /// Errors by kind (those seen).
    pub errors_by_kind: BTreeMap<&'static str, u64>,
    /// Records whose sampled frame was ordinary traffic.
    pub sampled_ordinary: u64,
}

/// What `mirrorwatch flows --input-format` forces every input to be read
/// as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// A capture of export datagrams (pcap or pcapng).
    Pcap,
    /// A log file of this format.
    Log(FlowFormat),
}

impl InputFormat {
    /// The names `--input-format` takes.
    pub const NAMES: [&'static str; 6] = [
        "pcap",
        "aws-vpc",
        "gcp-vpc",
        "azure-vnet",
        "zeek",
        "suricata",
    ];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pcap" => Some(InputFormat::Pcap),
            _ => FlowFormat::parse(s)
                .filter(|f| f.is_log())
                .map(InputFormat::Log),
        }
    }
}

/// Reads capture files of export traffic and log files of flows (kind
/// told by content) and builds the flow sessions.
pub fn run(paths: &[String], cfg: &Config) -> FlowsReport {
    run_inputs(paths, cfg, None)
}

/// As [`run`], directories walked, every input read as `force` if given.
pub fn run_inputs(paths: &[String], cfg: &Config, force: Option<InputFormat>) -> FlowsReport {
    let mut collector = Collector::new(cfg.flows.collector());
    let mut sessions = FlowSessions::new(cfg);
    let decoder = Decoder::new(&cfg.decode);
    let files = flowlog::expand(paths);
    let mut inputs = Vec::with_capacity(files.len());
    for (p, problem) in files {
        if let Some(e) = problem {
            let mut input = FlowInput::new(&p);
            input.error = Some(format!("{p}: {e}"));
            inputs.push(input);
            continue;
        }
        let log = match force {
            Some(InputFormat::Pcap) => None,
            Some(InputFormat::Log(f)) => Some(Some(f)),
            None if flowlog::is_capture(&p) => None,
            None => Some(None),
        };
        let input = match log {
            Some(f) => flowlog::read_log(&p, f, &mut |r| sessions.record(r)),
            None => capture::read_capture(
                &p,
                &decoder,
                &cfg.flows.collector_ports,
                &mut collector,
                &mut |r| sessions.record(r),
            ),
        };
        inputs.push(input);
    }
    // Data still waiting for a template at the end never gets one.
    collector.counters.pending_dropped += collector.templates.drop_pending();
    let (reports, alert_list) = sessions.finish();
    let mut alerts = BTreeMap::new();
    for a in &alert_list {
        *alerts.entry(a.kind.as_str()).or_insert(0) += 1;
    }
    FlowsReport {
        records: inputs.iter().map(|i| i.records).sum(),
        inputs,
        sessions: reports,
        sessions_evicted: sessions.evicted,
        collector: CollectorReport {
            counters: collector.counters,
            templates: collector.templates(),
            errors_by_kind: crate::source::flow::FlowError::ALL
                .into_iter()
                .filter(|e| collector.error_counts[*e as usize] > 0)
                .map(|e| (e.as_str(), collector.error_counts[e as usize]))
                .collect(),
            sampled_ordinary: sessions.sampled_ordinary,
        },
        alerts,
        alert_list,
    }
}

/// The `--format table` rendering.
pub fn render_table(r: &FlowsReport) -> String {
    use std::fmt::Write as _;
    let headers = [
        "ENCAP",
        "SOURCE",
        "DESTINATION",
        "ID",
        "CLASS",
        "VERDICT",
        "PACKETS",
        "BYTES",
        "SEEN BY",
        "EXPORTERS",
        "SAMPLING",
        "ALERTS",
    ];
    let rows: Vec<Vec<String>> = r
        .sessions
        .iter()
        .map(|s| {
            let est = if s.estimated == Some(true) { "~" } else { "" };
            vec![
                s.encap.to_string(),
                s.src.clone(),
                s.dst.clone(),
                s.id.map_or_else(|| "-".to_owned(), |i| i.to_string()),
                s.dst_class.to_string(),
                s.verdict.to_string(),
                format!("{est}{}", s.packets),
                format!("{est}{}", crate::export::table::human_bytes(s.bytes)),
                s.seen_by.as_deref().unwrap_or_default().join(","),
                match s.exporters.as_deref().unwrap_or_default() {
                    [] => "-".to_owned(),
                    list => list.join(","),
                },
                format!("1:{}", s.sampling_rate.unwrap_or(1)),
                crate::export::table::alert_list(&s.alerts),
            ]
        })
        .collect();
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str("No mirror or tunnel sessions found in the flow records.\n");
    } else {
        crate::export::table::aligned(&mut out, &headers, &rows, &[]);
    }
    let c = &r.collector;
    let _ = writeln!(
        out,
        "\n{} input(s), {} datagrams, {} records, {} in {} session(s); {} errors, {} templates, {} data sets held ({} dropped)",
        r.inputs.len(),
        c.counters.datagrams,
        r.records,
        r.sessions.iter().map(|s| s.packets).sum::<u64>(),
        r.sessions.len(),
        // Datagram errors of captures and malformed lines of logs.
        r.inputs.iter().map(|i| i.errors).sum::<u64>(),
        c.templates,
        c.counters.pending_held,
        c.counters.pending_dropped,
    );
    for i in &r.inputs {
        let skipped = if i.skipped > 0 {
            format!(", {} skipped", i.skipped)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  {}: {}, {} records{skipped}, {} errors{}",
            i.path,
            i.format,
            i.records,
            i.errors,
            i.error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
    }
    if !r.alerts.is_empty() {
        let list: Vec<String> = r.alerts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(out, "alerts: {}", list.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::flow::SampledFrame;
    use core::net::Ipv4Addr;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn rec(
        format: FlowFormat,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        dport: u16,
        packets: u64,
    ) -> FlowRecord<'static> {
        let mut r = FlowRecord::empty(format, v4(192, 0, 2, 1), 0, 1_000_000);
        r.src = src;
        r.dst = dst;
        r.protocol = proto;
        r.dst_port = dport;
        r.packets = packets;
        r.bytes = packets * 100;
        r
    }

    /// An Ethernet/IPv4/GRE/ERSPAN II frame of session 100 from 10.1.0.2
    /// to 203.0.113.9, with a 14-byte inner Ethernet header.
    fn erspan2_frame() -> Vec<u8> {
        let mut f = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
        let total: u16 = 20 + 8 + 8 + 14;
        f.extend([
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0,
            0,
            64,
            47,
            0,
            0,
        ]);
        f.extend([10, 1, 0, 2, 203, 0, 113, 9]);
        // GRE with sequence number, protocol ERSPAN type II (0x88be).
        f.extend([0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1]);
        // ERSPAN II: version 1, VLAN 0; COS/En/T, session id 100; index.
        f.extend([0x10, 0x00, 0x00, 100, 0, 0, 0, 0]);
        f.extend([0xff; 12]);
        f.extend([0x08, 0x00]);
        f
    }

    #[test]
    fn families_from_fields_and_verdicts() {
        let cfg = Config::default();
        let mut fs = FlowSessions::new(&cfg);
        let sw = v4(192, 0, 2, 1); // the exporter itself
        // GRE from the exporter to an outside address: one record, mirror.
        fs.record(&rec(
            FlowFormat::NetflowV5,
            sw,
            v4(203, 0, 113, 9),
            47,
            0,
            2,
        ));
        // VXLAN both ways: overlay.
        let (a, b) = (v4(10, 0, 0, 1), v4(10, 0, 0, 2));
        fs.record(&rec(FlowFormat::NetflowV9, a, b, 17, 4789, 10));
        fs.record(&rec(FlowFormat::NetflowV9, b, a, 17, 4789, 10));
        // Geneve one way, three packets: too few.
        fs.record(&rec(FlowFormat::Ipfix, a, v4(10, 0, 0, 3), 17, 6081, 3));
        // Geneve one way, sampled 1:100 -> estimated, mirror.
        let mut r = rec(FlowFormat::Ipfix, a, v4(198, 51, 100, 7), 17, 6081, 3);
        r.sampling_rate = 100;
        fs.record(&r);
        // Ordinary traffic and a port that is not a tunnel: nothing.
        fs.record(&rec(FlowFormat::Ipfix, a, b, 6, 4789, 50));
        fs.record(&rec(FlowFormat::Ipfix, a, b, 17, 53, 50));
        assert_eq!(fs.len(), 5);
        assert_eq!(fs.session_records, 5);
        let (reports, alerts) = fs.finish();
        let find = |dst: &str, encap: Encap| {
            reports
                .iter()
                .find(|s| s.dst == dst && s.encap == encap)
                .unwrap_or_else(|| panic!("{dst} {encap}"))
        };
        let g = find("203.0.113.9", Encap::Gre);
        assert_eq!(
            (g.verdict, g.dst_class, g.id),
            (Verdict::Mirror, DstClass::External, None)
        );
        assert!(
            g.evidence
                .iter()
                .any(|e| e.starts_with("from_network_device"))
        );
        assert_eq!(g.seen_by.as_deref(), Some(&["netflow"][..]));
        assert_eq!(g.exporters.as_deref(), Some(&["192.0.2.1".to_owned()][..]));
        assert_eq!(
            g.alerts,
            [AlertKind::MirrorSessionNew, AlertKind::MirrorToExternal]
        );
        let v = find("10.0.0.2", Encap::Vxlan);
        assert_eq!((v.verdict, v.packets), (Verdict::Overlay, 10));
        let few = find("10.0.0.3", Encap::Geneve);
        assert_eq!(few.verdict, Verdict::Undetermined);
        let est = find("198.51.100.7", Encap::Geneve);
        assert_eq!((est.packets, est.bytes), (300, 30_000));
        assert_eq!((est.estimated, est.sampling_rate), (Some(true), Some(100)));
        assert_eq!(est.verdict, Verdict::Mirror);
        assert_eq!(est.seen_by.as_deref(), Some(&["ipfix"][..]));
        assert_eq!(alerts.len(), 4);
    }

    #[test]
    fn sampled_frames_give_the_exact_encapsulation_and_id() {
        let cfg = Config::default();
        let mut fs = FlowSessions::new(&cfg);
        let frame = erspan2_frame();
        let mut r = FlowRecord::empty(FlowFormat::Sflow, v4(192, 0, 2, 7), 3, 5_000_000);
        r.packets = 1;
        r.bytes = frame.len() as u64;
        r.sampling_rate = 512;
        r.frame = Some(SampledFrame {
            linktype: crate::decode::LinkType::Ethernet,
            orig_len: frame.len() as u32,
            data: &frame,
        });
        fs.record(&r);
        fs.record(&r);
        // The same record whose frame is ordinary TCP makes no session.
        let mut tcp = erspan2_frame();
        tcp[23] = 6;
        let mut o = r;
        o.frame = Some(SampledFrame {
            data: &tcp,
            ..r.frame.expect("frame")
        });
        fs.record(&o);
        assert_eq!(fs.sampled_ordinary, 1);
        let (reports, _) = fs.finish();
        assert_eq!(reports.len(), 1);
        let s = &reports[0];
        assert_eq!((s.encap, s.id), (Encap::Erspan2, Some(100)));
        assert_eq!(
            (s.src.as_str(), s.dst.as_str()),
            ("10.1.0.2", "203.0.113.9")
        );
        assert_eq!(s.packets, 1024);
        assert_eq!(s.estimated, Some(true));
        assert_eq!(s.seen_by.as_deref(), Some(&["sflow"][..]));
        assert_eq!(s.verdict, Verdict::Mirror);
        assert!(s.alerts.contains(&AlertKind::MirrorToExternal));
    }

    #[test]
    fn the_inventory_is_bounded_and_evictions_counted() {
        let mut cfg = Config::default();
        cfg.inventory.max_sessions = 16;
        let mut fs = FlowSessions::new(&cfg);
        for i in 0..200u32 {
            let mut r = rec(
                FlowFormat::NetflowV5,
                v4(10, 0, (i >> 8) as u8, i as u8),
                v4(203, 0, 113, 9),
                47,
                0,
                1,
            );
            r.end_us = i64::from(i);
            fs.record(&r);
            assert!(fs.len() <= 16);
        }
        assert!(fs.evicted >= 184, "{}", fs.evicted);
        let (reports, _) = fs.finish();
        assert!(
            reports.iter().any(|s| s.src == "10.0.0.199"),
            "the newest stays"
        );
    }
}
