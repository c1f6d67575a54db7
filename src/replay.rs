//! Replay of capture files through the decoder and the inventory.
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Config;
use crate::decode::{Encap, ErrorCounts, LinkType};
use crate::detect::alert::{AlertKind, Severity};
use crate::detect::{DstClass, DupCounts, Engine, Processed, SessionKey, SessionStats, Verdict};
use crate::export::alerts::{AlertWriter, EvidenceWriter};
use crate::source::{CaptureFile, Frame, SourceError};
use crate::time::rfc3339_us;

/// One input file in the report.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    pub packets: u64,
    pub bytes: u64,
    pub linktype: String,
    /// Why the file could not be read to its end, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One session in the report.
#[derive(Debug, Clone, Serialize)]
pub struct SessionReport {
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
    /// Configuration events that explain this session (when logs are
    /// watched).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_events: Option<Vec<crate::detect::correlate::ConfigEventRef>>,
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
            config_events: watching_logs.then(|| s.config_events.clone()),
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
    /// Configuration logs read with `--logs`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogSummary>,
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

/// What happened to the inputs besides the report.
#[derive(Debug, Default)]
pub struct Problems {
    /// Files that could not be opened (nothing read from them).
    pub unreadable: Vec<SourceError>,
    /// Files cut off mid-record (frames before the cut are in the report).
    pub truncated: Vec<SourceError>,
    /// Files whose link type is not decoded (frames counted only).
    pub unsupported: Vec<(String, i32)>,
    /// Alert or evidence output that failed.
    pub output: Vec<String>,
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

/// Reads configuration logs into the engine (before the captures, so that
/// every session can be matched against every event).
pub fn read_logs(engine: &mut Engine, paths: &[String], year: i32) -> Vec<LogSummary> {
    engine.watch_logs();
    let mut reader = crate::logs::LogReader::new(year);
    let mut out = Vec::new();
    for path in paths {
        match reader.read_file(std::path::Path::new(path)) {
            Ok(o) => {
                let mut warnings: Vec<String> = o
                    .warnings
                    .iter()
                    .map(|w| format!("{}: {}", w.origin, w.reason))
                    .collect();
                if o.warnings_dropped > 0 {
                    warnings.push(format!("{path}: {} more warnings", o.warnings_dropped));
                }
                out.push(LogSummary {
                    path: path.clone(),
                    format: format!("{:?}", o.format).to_lowercase(),
                    lines: o.lines,
                    records: o.records,
                    recognised: o.recognised,
                    unmatched: o.unmatched,
                    malformed: o.malformed,
                    warnings,
                    error: None,
                });
                for e in o.events {
                    engine.config_event(e);
                }
            }
            Err(e) => out.push(LogSummary {
                path: path.clone(),
                format: "none".to_owned(),
                lines: 0,
                records: 0,
                recognised: 0,
                unmatched: 0,
                malformed: 0,
                warnings: Vec::new(),
                error: Some(e.to_string()),
            }),
        }
    }
    out
}

/// [`read_logs`] when there are log files (so that an empty list leaves
/// the engine not watching logs).
pub fn read_logs_if(engine: &mut Engine, paths: &[String]) -> Vec<LogSummary> {
    if paths.is_empty() {
        return Vec::new();
    }
    read_logs(engine, paths, crate::time::current_year())
}

/// Where a replay's outputs go besides the report.
#[derive(Default)]
pub struct Outputs<'a> {
    /// Configuration logs (syslog, CloudTrail, GCP, Azure) read first.
    pub logs: &'a [String],
    pub progress: Option<&'a mut dyn FnMut(Progress<'_>)>,
    pub alerts: Option<&'a mut AlertWriter>,
    pub evidence: Option<&'a mut EvidenceWriter>,
}

/// Progress of a long replay, for a progress line.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub file_index: usize,
    pub files: usize,
    pub path: &'a str,
    pub packets: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

/// Replays `paths` in order into one inventory, with no output besides the
/// report.
pub fn replay(paths: &[String], cfg: &Config) -> (Report, Problems) {
    replay_with(paths, cfg, Outputs::default())
}

/// Replays `paths` in order into one inventory, writing alerts and
/// evidence as they are raised. `progress` is called about every
/// `PROGRESS_EVERY` of wall time.
pub fn replay_with(paths: &[String], cfg: &Config, out: Outputs<'_>) -> (Report, Problems) {
    const PROGRESS_EVERY: Duration = Duration::from_millis(250);
    let Outputs {
        logs,
        mut progress,
        mut alerts,
        mut evidence,
    } = out;
    let mut problems = Problems::default();
    let mut engine = Engine::new(cfg);
    engine.enable_evidence(evidence.is_some());
    let log_summaries = read_logs_if(&mut engine, logs);
    drain(&mut engine, alerts.as_deref_mut(), &mut problems);
    // The engine pipelines its own table lookups: frames are processed
    // straight from libpcap's buffer, without a copy.
    let mut files = Vec::with_capacity(paths.len());
    let start = Instant::now();
    let mut last_tick = start;
    for (file_index, path) in paths.iter().enumerate() {
        let mut f = match CaptureFile::open(path) {
            Ok(f) => f,
            Err(e) => {
                files.push(FileReport {
                    path: path.clone(),
                    packets: 0,
                    bytes: 0,
                    linktype: "none".to_owned(),
                    error: Some(e.to_string()),
                });
                problems.unreadable.push(e);
                continue;
            }
        };
        let lt = f.linktype();
        if let LinkType::Unsupported(dlt) = lt {
            problems.unsupported.push((path.clone(), dlt));
        }
        let dlt = f.dlt();
        let mut error = None;
        let mut n = 0u32;
        let mut sinks = Sinks {
            dlt,
            alerts: alerts.as_deref_mut(),
            evidence: evidence.as_deref_mut(),
        };
        loop {
            match f.next_frame() {
                Ok(Some(fr)) => {
                    let p = engine.process(fr.ts_us, fr.linktype, fr.orig_len, fr.data);
                    sinks.take(&mut engine, &fr, p, &mut problems);
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(e.to_string());
                    problems.truncated.push(e);
                    break;
                }
            }
            n = n.wrapping_add(1);
            if n % 65_536 == 0
                && let Some(cb) = progress.as_deref_mut()
            {
                let now = Instant::now();
                if now - last_tick >= PROGRESS_EVERY {
                    last_tick = now;
                    cb(Progress {
                        file_index,
                        files: paths.len(),
                        path,
                        packets: engine.packets,
                        bytes: engine.bytes,
                        elapsed: now - start,
                    });
                }
            }
        }
        files.push(FileReport {
            path: path.clone(),
            packets: f.packets(),
            bytes: f.bytes(),
            linktype: match lt {
                LinkType::Unsupported(dlt) => format!("dlt-{dlt}"),
                other => other.name().to_owned(),
            },
            error,
        });
    }
    engine.finish();
    drain(&mut engine, alerts.as_deref_mut(), &mut problems);
    if let Some(a) = alerts
        && let Err(e) = a.flush()
    {
        problems.output.push(format!("alerts: {e}"));
    }
    if let Some(ev) = evidence {
        if let Err(e) = ev.flush() {
            problems.output.push(format!("evidence: {e}"));
        }
        if let Some(e) = ev.error.take() {
            problems.output.push(format!("evidence: {e}"));
        }
    }
    let mut report = report_of(&engine, files, cfg);
    report.logs = log_summaries;
    (report, problems)
}

/// Where processed frames and alerts go.
struct Sinks<'a> {
    dlt: i32,
    alerts: Option<&'a mut AlertWriter>,
    evidence: Option<&'a mut EvidenceWriter>,
}

impl Sinks<'_> {
    #[inline]
    fn take(&mut self, engine: &mut Engine, fr: &Frame<'_>, p: Processed, problems: &mut Problems) {
        if p.evidence
            && let Some(ev) = self.evidence.as_deref_mut()
        {
            ev.keep(engine, p, self.dlt, fr);
        }
        if engine.has_alerts() {
            drain(engine, self.alerts.as_deref_mut(), problems);
        }
    }
}

fn drain(engine: &mut Engine, alerts: Option<&mut AlertWriter>, problems: &mut Problems) {
    match alerts {
        Some(w) => {
            for a in engine.drain_alerts() {
                if let Err(e) = w.write(&a)
                    && problems.output.is_empty()
                {
                    problems.output.push(format!("alerts: {e}"));
                }
            }
        }
        None => {
            engine.drain_alerts();
        }
    }
}

/// Builds the report of an engine's current state, sessions sorted by
/// bytes (largest first), then by key for a stable order.
pub fn report_of(engine: &Engine, files: Vec<FileReport>, cfg: &Config) -> Report {
    let mut sessions: Vec<(&SessionKey, &SessionStats)> = engine.sessions.iter().collect();
    sessions.sort_by(|a, b| {
        b.1.bytes.cmp(&a.1.bytes).then_with(|| {
            (a.0.encap, a.0.src, a.0.dst, a.0.id).cmp(&(b.0.encap, b.0.src, b.0.dst, b.0.id))
        })
    });
    Report {
        files,
        packets: engine.packets,
        bytes: engine.bytes,
        decode_errors: engine.errors.clone(),
        sessions: sessions
            .into_iter()
            .map(|(k, s)| SessionReport::new(k, s, engine.watching_logs()))
            .collect(),
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
        logs: Vec::new(),
    }
}
