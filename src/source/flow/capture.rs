//! Export traffic from capture files: UDP datagrams to the collector ports
//! in pcap/pcapng files, read with [`crate::source::CaptureFile`] and the
//! project's decoder, handed to a [`Collector`].
use serde::Serialize;

use super::intake::FlowIntake;
use super::{Collector, FlowFormat, FlowRecord};
use crate::decode::Decoder;
use crate::source::CaptureFile;

/// Warnings kept per input (the rest are counted).
pub const MAX_WARNINGS: usize = 20;

/// One input as read: what the report lists.
#[derive(Debug, Clone, Serialize)]
pub struct FlowInput {
    pub path: String,
    /// The export formats found (`netflow-v5`, `netflow-v9`, `ipfix`,
    /// `sflow`, joined with `+`), or `none`.
    pub format: String,
    /// Flow records read.
    pub records: u64,
    /// Datagrams (or parts of them) that could not be read, skipped.
    pub errors: u64,
    /// Frames in the capture, and those that were export datagrams.
    pub frames: u64,
    pub datagrams: u64,
    /// Log files: lines read (after decompression).
    #[serde(skip_serializing_if = "is_zero")]
    pub lines: u64,
    /// Log files: well-formed records that are not flows to count
    /// (`NODATA`/`SKIPDATA`, rejected or denied flows, other event types,
    /// a flow the other end also reported), counted only.
    #[serde(skip_serializing_if = "is_zero")]
    pub skipped: u64,
    /// Why the file could not be read to its end, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The first warnings, `file: frame N: reason` (captures) or
    /// `file:line: reason` (log files).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl FlowInput {
    /// An input not read yet.
    pub fn new(path: &str) -> Self {
        FlowInput {
            path: path.to_owned(),
            format: "none".to_owned(),
            records: 0,
            errors: 0,
            frames: 0,
            datagrams: 0,
            lines: 0,
            skipped: 0,
            error: None,
            warnings: Vec::new(),
        }
    }
}

/// Reads every export datagram of one capture into `intake`, records to
/// `sink`. A datagram that cannot be read is counted and warned about;
/// what was read before it is kept.
pub fn read_capture(
    path: &str,
    decoder: &Decoder,
    intake: &mut FlowIntake,
    sink: &mut dyn FnMut(&FlowRecord<'_>),
) -> FlowInput {
    let mut input = FlowInput::new(path);
    let mut file = match CaptureFile::open(path) {
        Ok(f) => f,
        Err(e) => {
            input.error = Some(e.to_string());
            return input;
        }
    };
    let mut formats = [false; FlowFormat::COUNT];
    let mut records = 0u64;
    while let Some(f) = file.read() {
        input.frames += 1;
        let d = decoder.decode(f.linktype, f.orig_len, f.data);
        let Some((exporter, payload)) = intake.export_datagram(&d) else {
            continue;
        };
        input.datagrams += 1;
        let before = intake.collector.counters.records;
        let mut count = |r: &FlowRecord<'_>| {
            records += 1;
            sink(r)
        };
        match intake.datagram(exporter, f.ts_us, payload, &mut count) {
            Ok(fmt) => formats[fmt as usize] = true,
            Err(e) => {
                input.errors += 1;
                if let Some(fmt) = Collector::sniff(payload) {
                    formats[fmt as usize] = true;
                }
                if input.warnings.len() < MAX_WARNINGS {
                    let kept = intake.collector.counters.records - before;
                    input.warnings.push(format!(
                        "{path}: frame {} (datagram from {exporter}): {e}; skipped after {kept} records",
                        input.frames
                    ));
                }
            }
        }
    }
    input.records = records;
    if let Some(e) = file.take_error() {
        input.error = Some(e.to_string());
    }
    let names: Vec<&str> = FlowFormat::ALL
        .into_iter()
        .filter(|f| formats[*f as usize])
        .map(FlowFormat::as_str)
        .collect();
    if !names.is_empty() {
        input.format = names.join("+");
    }
    input
}
