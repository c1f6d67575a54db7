//! Replay of capture files through the decoder and the inventory.
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Config;
use crate::decode::{Decoder, Encap, ErrorCounts, LinkType};
use crate::detect::{Engine, SessionKey, SessionStats};
use crate::source::{CaptureFile, SourceError};
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
}

impl SessionReport {
    pub fn new(k: &SessionKey, s: &SessionStats) -> Self {
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
        }
    }
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

/// Replays `paths` in order into one inventory. `progress` is called about
/// every `PROGRESS_EVERY` of wall time.
pub fn replay(
    paths: &[String],
    cfg: &Config,
    mut progress: Option<&mut dyn FnMut(Progress<'_>)>,
) -> (Report, Problems) {
    const PROGRESS_EVERY: Duration = Duration::from_millis(250);
    let mut engine = Engine::new(Decoder::new(&cfg.decode), cfg.inventory.max_sessions);
    let mut files = Vec::with_capacity(paths.len());
    let mut problems = Problems::default();
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
        let mut error = None;
        let mut n = 0u32;
        loop {
            match f.next_frame() {
                Ok(Some(fr)) => engine.process(fr.ts_us, fr.linktype, fr.orig_len, fr.data),
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
    (report_of(&engine, files), problems)
}

/// Builds the report of an engine's current state, sessions sorted by
/// bytes (largest first), then by key for a stable order.
pub fn report_of(engine: &Engine, files: Vec<FileReport>) -> Report {
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
            .map(|(k, s)| SessionReport::new(k, s))
            .collect(),
        sessions_evicted: engine.sessions.evicted(),
    }
}
