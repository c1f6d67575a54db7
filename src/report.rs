//! The report model: what a run found, in one shape for the table, the
//! JSON document, the HTTP API, the metrics and the incident report. One
//! sort order ([`session_order`]) is used by all of them.
use std::collections::HashMap;

use serde::Serialize;

use crate::config::Config;
use crate::decode::{Encap, ErrorCounts};
use crate::detect::alert::{AlertKind, Severity};
use crate::detect::flow_sessions::{FlowSession, family_key, seen_by_labels};
use crate::detect::topk::InnerTraffic;
use crate::detect::{DstClass, DupCounts, Engine, SessionKey, SessionStats, Verdict};
pub use crate::source::files::FileReport;
use crate::time::rfc3339_us;

/// One session in the report.
#[derive(Debug, Clone, Serialize)]
pub struct SessionReport {
    /// The inventory key (not serialised: `encap`, `src`, `dst` and `id`
    /// say it).
    #[serde(skip)]
    pub key: SessionKey,
    pub encap: Encap,
    pub src: String,
    pub dst: String,
    pub id: Option<u32>,
    pub packets: u64,
    pub bytes: u64,
    pub inner_bytes: u64,
    pub first_seen: String,
    pub last_seen: String,
    pub inner_vlans: Vec<u16>,
    /// Distinct inner flows (HyperLogLog estimate).
    pub inner_flows: u64,
    /// ERSPAN type III direction counts.
    pub ingress_packets: u64,
    pub egress_packets: u64,
    pub truncated_packets: u64,
    /// Encapsulations found inside this one.
    pub nested: Vec<Encap>,
    pub dst_class: DstClass,
    pub verdict: Verdict,
    /// The signals behind the verdict, `name: detail`.
    pub evidence: Vec<String>,
    pub duplicates: SessionDuplicates,
    /// Alert kinds raised for this session.
    pub alerts: Vec<AlertKind>,
    /// Whose traffic is copied: top inner hosts and services, bytes over
    /// time (`top_inner_hosts`, `top_inner_services`, `timeline`).
    #[serde(flatten)]
    pub traffic: TrafficReport,
    /// Configuration events that explain this session (when logs are
    /// watched).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_events: Option<Vec<crate::detect::correlate::ConfigEventRef>>,
    // Present once flow records were read (`flows`, `replay --flows`,
    // `live --flow-listen`, export datagrams in a capture).
    /// What saw the session: `packets`, `netflow`, `ipfix`, `sflow`,
    /// `aws-vpc`, `gcp-vpc`, `azure-vnet`, `zeek`, `suricata`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen_by: Option<Vec<&'static str>>,
    /// Flow exporters that reported it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exporters: Option<Vec<String>>,
    /// Highest sampling rate of its records (1: unsampled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampling_rate: Option<u32>,
    /// Packet and byte counts are scaled up from samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated: Option<bool>,
}

/// What a session copies (from its [`InnerTraffic`] sketches). Counts
/// are upper bounds; `overestimate_bytes` (absent when 0) says how much of
/// an entry's bytes may belong to keys it displaced.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrafficReport {
    /// Inner hosts by bytes (a packet counts for its source and its
    /// destination), at most [`InnerTraffic::SLOTS`].
    pub top_inner_hosts: Vec<HostCount>,
    /// Inner services (protocol, lower port) by bytes.
    pub top_inner_services: Vec<ServiceCount>,
    /// Wire bytes of the session over time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<TimelineReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostCount {
    pub addr: String,
    pub bytes: u64,
    pub packets: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub overestimate_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceCount {
    /// `tcp/5432`, `udp/53`, `icmp`.
    pub service: String,
    pub protocol: u8,
    pub port: u16,
    pub bytes: u64,
    pub packets: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub overestimate_bytes: u64,
}

/// Bytes per bucket from `start`, each bucket `bucket_us` wide.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineReport {
    pub start: String,
    #[serde(skip)]
    pub start_us: i64,
    pub bucket_us: u64,
    pub bytes: Vec<u64>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl TrafficReport {
    pub fn of(t: &InnerTraffic) -> Self {
        TrafficReport {
            top_inner_hosts: t
                .hosts
                .top()
                .into_iter()
                .map(|c| HostCount {
                    addr: c.key.addr().to_string(),
                    bytes: c.bytes,
                    packets: c.packets,
                    overestimate_bytes: c.error_bytes,
                })
                .collect(),
            top_inner_services: t
                .services
                .top()
                .into_iter()
                .map(|c| ServiceCount {
                    service: c.key.label(),
                    protocol: c.key.protocol,
                    port: c.key.port,
                    bytes: c.bytes,
                    packets: c.packets,
                    overestimate_bytes: c.error_bytes,
                })
                .collect(),
            timeline: t
                .timeline
                .series()
                .map(|(start_us, bucket_us, bytes)| TimelineReport {
                    start: rfc3339_us(start_us),
                    start_us,
                    bucket_us,
                    bytes,
                }),
        }
    }
}

/// Duplicates attributed to a session (its packets that copy packets seen
/// on another path).
#[derive(Debug, Clone, Serialize)]
pub struct SessionDuplicates {
    pub packets: u64,
    pub ratio: f64,
    /// Median time between an original and its copy.
    pub median_gap_us: Option<u32>,
}

impl SessionReport {
    /// `watching_logs`: configuration logs are read, so `config_events` is
    /// reported (possibly empty).
    pub fn new(k: &SessionKey, s: &SessionStats, watching_logs: bool) -> Self {
        SessionReport {
            key: *k,
            encap: k.encap,
            src: k.src.to_string(),
            dst: k.dst.to_string(),
            id: k.id,
            packets: s.packets,
            bytes: s.bytes,
            inner_bytes: s.inner_bytes,
            first_seen: rfc3339_us(s.first_seen_us),
            last_seen: rfc3339_us(s.last_seen_us),
            inner_vlans: s.vlans.iter().collect(),
            inner_flows: s.flows.estimate(),
            ingress_packets: s.ingress,
            egress_packets: s.egress,
            truncated_packets: s.truncated,
            nested: s.nested.iter().collect(),
            dst_class: s.dst_class,
            verdict: s.verdict,
            evidence: s.evidence.clone(),
            duplicates: SessionDuplicates {
                packets: s.dup_packets,
                ratio: if s.packets == 0 {
                    0.0
                } else {
                    (s.dup_packets as f64 / s.packets as f64 * 10_000.0).round() / 10_000.0
                },
                median_gap_us: s.dup_gaps.median(),
            },
            alerts: AlertKind::ALL
                .into_iter()
                .filter(|k| s.alerted_ever & (1 << (*k as u16)) != 0)
                .collect(),
            traffic: TrafficReport::of(&s.inner),
            config_events: watching_logs.then(|| s.config_events.clone()),
            seen_by: None,
            exporters: None,
            sampling_rate: None,
            estimated: None,
        }
    }
}

/// Duplicates over the whole replay.
#[derive(Debug, Clone, Serialize)]
pub struct DuplicateSummary {
    #[serde(flatten)]
    pub paths: DupCounts,
    /// Fingerprints displaced before their window ended.
    pub window_evictions: u64,
    /// Flow pairs that carried the same payloads to different
    /// destinations, at least `duplicates.min_matching_payloads` times.
    pub flow_pairs: Vec<FlowPairReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FlowPairReport {
    pub flows: [crate::detect::payload::Flow; 2],
    pub matching_payloads: u64,
    pub first_seen: String,
    pub last_seen: String,
}

/// The result of a replay: the `--format json` document.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub files: Vec<FileReport>,
    pub packets: u64,
    pub bytes: u64,
    pub decode_errors: ErrorCounts,
    pub sessions: Vec<SessionReport>,
    /// Sessions dropped from the table to stay within its cap.
    pub sessions_evicted: u64,
    pub duplicates: DuplicateSummary,
    /// Alerts raised, by kind.
    pub alerts: std::collections::BTreeMap<&'static str, u64>,
    /// Alerts the per-kind rate limit suppressed (summarised in
    /// `alert_flood` alerts), by kind; absent when none were.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub alerts_suppressed: std::collections::BTreeMap<&'static str, u64>,
    /// Configuration logs read with `--logs`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogSummary>,
    /// Flow records read (`--flows`, export datagrams in the captures,
    /// `--flow-listen`); absent when there were none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flows: Option<crate::source::flow::intake::FlowSummary>,
    /// Reading stopped early (SIGINT or SIGTERM): the report covers what
    /// was read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

impl Report {
    /// The highest severity of the alerts raised, if any.
    pub fn max_severity(&self) -> Option<Severity> {
        AlertKind::ALL
            .into_iter()
            .filter(|k| self.alerts.get(k.as_str()).copied().unwrap_or(0) > 0)
            .map(AlertKind::severity)
            .max()
    }
}

/// One configuration log file read beside the captures.
#[derive(Debug, Clone, Serialize)]
pub struct LogSummary {
    pub path: String,
    pub format: String,
    pub lines: u64,
    pub records: u64,
    /// Records that became mirror configuration events.
    pub recognised: u64,
    /// Records that are not mirror configuration (counted, never alerted).
    pub unmatched: u64,
    /// Records that could not be parsed.
    pub malformed: u64,
    /// The first warnings, `file:line: reason`.
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The one order of sessions everywhere: bytes (largest first), then the
/// key, for a stable order.
pub fn session_order(a: &SessionReport, b: &SessionReport) -> std::cmp::Ordering {
    order(
        (a.bytes, a.encap, &a.src, &a.dst, a.id),
        (b.bytes, b.encap, &b.src, &b.dst, b.id),
    )
}

/// [`session_order`] on the fields it reads: (bytes, encapsulation,
/// source, destination as written, id), for views that hold no report.
pub fn order(
    a: (u64, Encap, &str, &str, Option<u32>),
    b: (u64, Encap, &str, &str, Option<u32>),
) -> std::cmp::Ordering {
    b.0.cmp(&a.0)
        .then_with(|| (a.1, a.2, a.3, a.4).cmp(&(b.1, b.2, b.3, b.4)))
}

impl SessionReport {
    /// A session seen only in flow records.
    pub fn of_flow(k: &SessionKey, s: &FlowSession, watching_logs: bool) -> Self {
        let mut vlans = s.vlans.clone();
        vlans.sort_unstable();
        SessionReport {
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
            dst_class: s.dst_class,
            verdict: s.verdict,
            evidence: s.evidence.clone(),
            duplicates: SessionDuplicates {
                packets: 0,
                ratio: 0.0,
                median_gap_us: None,
            },
            alerts: AlertKind::ALL
                .into_iter()
                .filter(|k| s.alerted_ever & (1 << (*k as u16)) != 0)
                .collect(),
            traffic: TrafficReport::default(),
            config_events: watching_logs.then(|| s.config_events.clone()),
            seen_by: Some(seen_by_labels(s.seen_by)),
            exporters: Some(s.exporters.iter().map(ToString::to_string).collect()),
            sampling_rate: Some(s.sampling_rate.max(1)),
            estimated: Some(s.estimated),
        }
    }

    /// Adds what flow records say of this packet session: who else saw it.
    fn add_flow(&mut self, s: &FlowSession) {
        let seen = self.seen_by.get_or_insert_with(|| vec!["packets"]);
        for l in seen_by_labels(s.seen_by) {
            if !seen.contains(&l) {
                seen.push(l);
            }
        }
        let ex = self.exporters.get_or_insert_with(Vec::new);
        for e in &s.exporters {
            let e = e.to_string();
            if !ex.contains(&e) {
                ex.push(e);
            }
        }
        let rate = self.sampling_rate.get_or_insert(1);
        *rate = (*rate).max(s.sampling_rate);
        for k in AlertKind::ALL {
            if s.alerted_ever & (1 << (k as u16)) != 0 && !self.alerts.contains(&k) {
                self.alerts.push(k);
            }
        }
        self.alerts.sort_unstable();
        if let (Some(mine), false) = (self.config_events.as_mut(), s.config_events.is_empty()) {
            for e in &s.config_events {
                if mine.len() < 8 && !mine.iter().any(|m| m.seq == e.seq) {
                    mine.push(e.clone());
                }
            }
        }
    }
}

/// Every session of an engine as reports, in [`session_order`]: the
/// packet sessions, and once flow records were read, the flow sessions —
/// a flow session that is a packet session ([`family_key`]) adds its
/// `seen_by`, exporters and sampling rate to it rather than a row of its
/// own (the packets' exact counts stand).
pub fn sessions_of(engine: &Engine) -> Vec<SessionReport> {
    let watching = engine.watching_logs();
    let mut v: Vec<SessionReport> = engine
        .sessions
        .iter()
        .map(|(k, s)| SessionReport::new(k, s, watching))
        .collect();
    if engine.flow_records > 0 {
        let mut exact: HashMap<SessionKey, usize> = HashMap::with_capacity(v.len());
        let mut families: HashMap<SessionKey, Vec<usize>> = HashMap::with_capacity(v.len());
        for (i, r) in v.iter_mut().enumerate() {
            r.seen_by = Some(vec!["packets"]);
            r.exporters = Some(Vec::new());
            r.sampling_rate = Some(1);
            r.estimated = Some(false);
            exact.insert(r.key, i);
            families.entry(family_key(&r.key)).or_default().push(i);
        }
        let mut flow_only = Vec::new();
        for (k, s) in engine.flows.iter() {
            let same: &[usize] = match exact.get(k) {
                Some(i) => std::slice::from_ref(i),
                None if k.id.is_none() => families.get(k).map_or(&[], Vec::as_slice),
                None => &[],
            };
            if same.is_empty() {
                flow_only.push(SessionReport::of_flow(k, s, watching));
            }
            for i in same {
                if let Some(r) = v.get_mut(*i) {
                    r.add_flow(s);
                }
            }
        }
        v.extend(flow_only);
    }
    v.sort_by(session_order);
    v
}

/// Builds the report of an engine's current state.
pub fn report_of(engine: &Engine, files: Vec<FileReport>, cfg: &Config) -> Report {
    Report {
        files,
        packets: engine.packets,
        bytes: engine.bytes,
        decode_errors: engine.errors.clone(),
        sessions: sessions_of(engine),
        sessions_evicted: engine.sessions.evicted(),
        duplicates: DuplicateSummary {
            paths: engine.dup_counts,
            window_evictions: engine.dup_evictions(),
            flow_pairs: {
                let mut v: Vec<FlowPairReport> = engine
                    .flow_pairs()
                    .filter(|p| p.matches >= cfg.duplicates.min_matching_payloads)
                    .map(|p| FlowPairReport {
                        flows: [p.a, p.b],
                        matching_payloads: p.matches,
                        first_seen: rfc3339_us(p.first_seen_us),
                        last_seen: rfc3339_us(p.last_seen_us),
                    })
                    .collect();
                v.sort_by_key(|p| p.flows);
                v
            },
        },
        alerts: AlertKind::ALL
            .into_iter()
            .map(|k| {
                (
                    k.as_str(),
                    engine.alert_counts[k as usize].iter().sum::<u64>(),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect(),
        alerts_suppressed: AlertKind::ALL
            .into_iter()
            .zip(engine.suppressed_alerts())
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.as_str(), n))
            .collect(),
        logs: Vec::new(),
        flows: None,
        interrupted: false,
    }
}
