//! Where flow records come in: export datagrams (from `--flow-listen`
//! sockets, or found in a replayed capture as UDP to
//! `flows.collector_ports`) through the [`Collector`], and flow inputs
//! named on the command line (captures of export traffic, flow logs).
//! Counts what each exporter sent, bounded, for the report and metrics.
use core::net::IpAddr;
use std::collections::HashMap;

use serde::Serialize;

use super::capture::{self, FlowInput};
use super::{Collector, FlowCounters, FlowError, FlowFormat, FlowRecord, flowlog};
use crate::config::FlowsConfig;
use crate::decode::{Decoded, Decoder};

/// Exporters counted one by one; the rest are counted together.
pub const MAX_EXPORTERS: usize = 256;

/// What `--input-format` forces every flow input to be read as.
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

/// What one exporter sent in one format.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ExporterCounts {
    pub datagrams: u64,
    pub records: u64,
    /// Sampling rate of its latest record (1: unsampled).
    pub sampling_rate: u32,
}

/// The collector's state for the report: counters, templates, errors.
#[derive(Debug, Clone, Serialize)]
pub struct CollectorReport {
    #[serde(flatten)]
    pub counters: FlowCounters,
    /// Templates held at the end.
    pub templates: usize,
    /// Errors by kind (those seen).
    pub errors_by_kind: std::collections::BTreeMap<&'static str, u64>,
    /// Records whose sampled frame was ordinary traffic.
    pub sampled_ordinary: u64,
    /// Export datagrams dropped because the pipeline was behind
    /// (`--flow-listen`).
    pub queue_dropped: u64,
    /// Export datagrams the kernel dropped before a `--flow-listen`
    /// socket read them.
    pub kernel_dropped: u64,
}

/// One exporter and format, for the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExporterStat {
    /// The address, or `other` past [`MAX_EXPORTERS`].
    pub exporter: String,
    pub format: FlowFormat,
    pub counts: ExporterCounts,
    pub templates: usize,
}

/// Everything flow-related that was read, for the report (`flows` in
/// `replay --format json`, the `mirrorwatch flows` document) and metrics.
#[derive(Debug, Clone, Serialize)]
pub struct FlowSummary {
    pub inputs: Vec<FlowInput>,
    /// Flow records read over all inputs and datagrams.
    pub records: u64,
    pub collector: CollectorReport,
    /// Per exporter and format (not serialised; metrics).
    #[serde(skip)]
    pub exporters: Vec<ExporterStat>,
    /// Data sets waiting for their template now.
    #[serde(skip)]
    pub pending: usize,
}

/// The collector with its inputs and per-exporter counts.
pub struct FlowIntake {
    pub collector: Collector,
    /// UDP destination ports of export traffic in captures, as a bit set.
    ports: Box<[u64; 1024]>,
    any_port: bool,
    exporters: HashMap<(IpAddr, FlowFormat), ExporterCounts>,
    other: [ExporterCounts; FlowFormat::COUNT],
    pub inputs: Vec<FlowInput>,
    /// Records from every source.
    pub records: u64,
}

impl FlowIntake {
    pub fn new(cfg: &FlowsConfig) -> Self {
        let mut ports = Box::new([0u64; 1024]);
        for p in &cfg.collector_ports {
            ports[usize::from(*p >> 6)] |= 1 << (p & 63);
        }
        FlowIntake {
            collector: Collector::new(cfg.collector()),
            ports,
            any_port: !cfg.collector_ports.is_empty(),
            exporters: HashMap::new(),
            other: [ExporterCounts::default(); FlowFormat::COUNT],
            inputs: Vec::new(),
            records: 0,
        }
    }

    /// Is `port` a collector port?
    #[inline]
    pub fn is_collector_port(&self, port: u16) -> bool {
        self.ports[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }

    /// The UDP payload and source of a decoded frame that is an export
    /// datagram: UDP to a collector port, not inside a tunnel, not a
    /// later fragment.
    #[inline]
    pub fn export_datagram<'a>(&self, d: &Decoded<'a>) -> Option<(IpAddr, &'a [u8])> {
        if !self.any_port || d.tunnel.is_some() {
            return None;
        }
        let ip = d.inner.as_ref()?;
        if ip.protocol != 17 || ip.fragment || !self.is_collector_port(ip.dst_port) {
            return None;
        }
        let udp = ip.packet.get(ip.l4_offset..)?;
        let len = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
        // The UDP length bounds the payload (a short capture keeps what it has).
        let payload = udp.get(8..len.clamp(8, udp.len()))?;
        Some((ip.src(), payload))
    }

    /// Decodes one export datagram from `exporter`, records to `sink`.
    pub fn datagram(
        &mut self,
        exporter: IpAddr,
        now_us: i64,
        payload: &[u8],
        sink: &mut dyn FnMut(&FlowRecord<'_>),
    ) -> Result<FlowFormat, FlowError> {
        let mut records = 0u64;
        let mut rate = 0u32;
        let result = self
            .collector
            .datagram(exporter, now_us, payload, &mut |r: &FlowRecord<'_>| {
                records += 1;
                rate = r.sampling_rate.max(1);
                sink(r)
            });
        self.records += records;
        let format = match result {
            Ok(f) => Some(f),
            Err(_) => Collector::sniff(payload),
        };
        if let Some(f) = format {
            let n = self.exporters.len();
            let c = match self.exporters.get_mut(&(exporter, f)) {
                Some(c) => c,
                None if n < MAX_EXPORTERS => self.exporters.entry((exporter, f)).or_default(),
                None => &mut self.other[f as usize],
            };
            c.datagrams += 1;
            c.records += records;
            if rate > 0 {
                c.sampling_rate = rate;
            }
        }
        self.collector.expire(now_us);
        result
    }

    /// Reads flow inputs (captures of export traffic and flow logs, kind
    /// told by content unless `force` says it; directories walked), records
    /// to `sink`; each input is listed in [`FlowIntake::inputs`].
    pub fn read_inputs(
        &mut self,
        paths: &[String],
        force: Option<InputFormat>,
        decoder: &Decoder,
        sink: &mut dyn FnMut(&FlowRecord<'_>),
    ) {
        for (p, problem) in flowlog::expand(paths) {
            if let Some(e) = problem {
                let mut input = FlowInput::new(&p);
                input.error = Some(format!("{p}: {e}"));
                self.inputs.push(input);
                continue;
            }
            let log = match force {
                Some(InputFormat::Pcap) => None,
                Some(InputFormat::Log(f)) => Some(Some(f)),
                None if flowlog::is_capture(&p) => None,
                None => Some(None),
            };
            let input = match log {
                Some(f) => {
                    let input = flowlog::read_log(&p, f, sink);
                    self.records += input.records;
                    input
                }
                None => capture::read_capture(&p, decoder, self, sink),
            };
            self.inputs.push(input);
        }
    }

    /// Data still waiting for a template at the end of the input never
    /// gets one: dropped and counted.
    pub fn finish(&mut self) {
        self.collector.counters.pending_dropped += self.collector.templates.drop_pending();
    }

    /// What was read, for the report and metrics.
    pub fn summary(&self, sampled_ordinary: u64) -> FlowSummary {
        let templates = self.collector.templates.by_exporter();
        let mut exporters: Vec<ExporterStat> = self
            .exporters
            .iter()
            .map(|((ip, f), c)| ExporterStat {
                exporter: ip.to_string(),
                format: *f,
                counts: *c,
                templates: if matches!(f, FlowFormat::NetflowV9 | FlowFormat::Ipfix) {
                    templates.get(ip).copied().unwrap_or(0)
                } else {
                    0
                },
            })
            .collect();
        for f in FlowFormat::ALL {
            let c = self.other[f as usize];
            if c.datagrams > 0 {
                exporters.push(ExporterStat {
                    exporter: "other".to_owned(),
                    format: f,
                    counts: c,
                    templates: 0,
                });
            }
        }
        exporters.sort_by(|a, b| (&a.exporter, a.format).cmp(&(&b.exporter, b.format)));
        let c = &self.collector;
        FlowSummary {
            inputs: self.inputs.clone(),
            records: self.records,
            collector: CollectorReport {
                counters: c.counters,
                templates: c.templates(),
                errors_by_kind: FlowError::ALL
                    .into_iter()
                    .filter(|e| c.error_counts[*e as usize] > 0)
                    .map(|e| (e.as_str(), c.error_counts[e as usize]))
                    .collect(),
                sampled_ordinary,
                // The listeners' counts, which the pipeline fills in.
                queue_dropped: 0,
                kernel_dropped: 0,
            },
            exporters,
            pending: c.pending(),
        }
    }
}
