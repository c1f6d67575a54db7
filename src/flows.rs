//! `mirrorwatch flows`: mirror sessions from flow records alone — the one
//! pipeline ([`crate::pipeline`]) run on flow inputs and no packets, so
//! flow sessions are judged, correlated and alerted exactly as in
//! `replay --flows` and `live --flow-listen`
//! ([`crate::detect::flow_sessions`]).
use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Config;
use crate::export::alerts::AlertWriter;
use crate::pipeline::{self, Outputs};
use crate::report::SessionReport;
pub use crate::source::flow::capture::FlowInput;
pub use crate::source::flow::intake::{CollectorReport, InputFormat};

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
    /// Configuration logs read with `--logs`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<crate::report::LogSummary>,
    /// Alert or evidence output that failed (not serialised).
    #[serde(skip)]
    pub output_errors: Vec<String>,
    /// The highest severity raised (not serialised).
    #[serde(skip)]
    pub max_severity: Option<crate::detect::alert::Severity>,
}

/// Reads capture files of export traffic and log files of flows (kind
/// told by content) and builds the flow sessions.
pub fn run(paths: &[String], cfg: &Config) -> FlowsReport {
    run_inputs(paths, cfg, None)
}

/// As [`run`], directories walked, every input read as `force` if given.
pub fn run_inputs(paths: &[String], cfg: &Config, force: Option<InputFormat>) -> FlowsReport {
    run_with(paths, cfg, force, Extra::default())
}

/// What a `flows` run takes besides its inputs.
#[derive(Default)]
pub struct Extra<'a> {
    /// Alerts written as they are raised.
    pub alerts: Option<AlertWriter>,
    /// Configuration-change logs read first, to explain the sessions.
    pub logs: &'a [String],
    /// Year of RFC 3164 syslog times in `logs`.
    pub year: Option<i32>,
}

/// As [`run_inputs`], with alerts written and configuration logs read.
pub fn run_with(
    paths: &[String],
    cfg: &Config,
    force: Option<InputFormat>,
    extra: Extra<'_>,
) -> FlowsReport {
    let out = Outputs {
        flows: paths,
        flow_format: force,
        alerts: extra.alerts,
        logs: extra.logs,
        year: extra.year,
        ..Outputs::default()
    };
    // No state file is attached, so starting cannot fail.
    let (report, output_errors) = match pipeline::replay_with(&[], cfg, out) {
        Ok(r) => (r.outcome.report, r.outcome.output_errors),
        Err(e) => return empty(paths, cfg, e.to_string()),
    };
    let max_severity = report.max_severity();
    let flows = report
        .flows
        .unwrap_or_else(|| crate::source::flow::intake::FlowIntake::new(&cfg.flows).summary(0));
    FlowsReport {
        inputs: flows.inputs,
        records: flows.records,
        sessions: report.sessions,
        sessions_evicted: report.sessions_evicted,
        collector: flows.collector,
        max_severity,
        alerts: report.alerts,
        logs: report.logs,
        output_errors,
    }
}

fn empty(paths: &[String], cfg: &Config, e: String) -> FlowsReport {
    let flows = crate::source::flow::intake::FlowIntake::new(&cfg.flows).summary(0);
    FlowsReport {
        inputs: paths.iter().map(|p| FlowInput::new(p)).collect(),
        records: 0,
        sessions: Vec::new(),
        sessions_evicted: 0,
        collector: flows.collector,
        alerts: BTreeMap::new(),
        logs: Vec::new(),
        output_errors: vec![e],
        max_severity: None,
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

/// Feeds `data` to the flow path, for the fuzz target: with a first byte
/// below 128, as export datagrams (each a 2-byte big-endian length and its
/// bytes, from exporters told by the length's low bits, so templates are
/// kept across them); else as a flow log (any format, told by content).
/// Every record goes into an engine, which is then finished and reported:
/// never a panic, a hang or unbounded memory. Returns the records read.
#[doc(hidden)]
pub fn fuzz_input(data: &[u8]) -> u64 {
    use crate::source::flow::capture::FlowInput;
    let cfg = Config::default();
    let mut engine = crate::detect::Engine::new(&cfg);
    let mut intake = crate::source::flow::intake::FlowIntake::new(&cfg.flows);
    let Some((&mode, mut rest)) = data.split_first() else {
        return 0;
    };
    let mut records = 0u64;
    if mode < 128 {
        let mut t = 1_700_000_000_000_000i64;
        while let [a, b, tail @ ..] = rest {
            let n = usize::from(u16::from_be_bytes([*a, *b])).min(tail.len());
            let (dg, next) = tail.split_at(n);
            let exporter = core::net::IpAddr::V4(core::net::Ipv4Addr::new(192, 0, 2, *a & 3));
            let _ = intake.datagram(exporter, t, dg, &mut |r| {
                records += 1;
                engine.flow_record(r)
            });
            t += 1_000_000;
            rest = next;
        }
    } else {
        let mut input = FlowInput::new("fuzz");
        crate::source::flow::flowlog::read_log_from(
            rest,
            "fuzz",
            None,
            &mut |r| {
                records += 1;
                engine.flow_record(r)
            },
            &mut input,
        );
    }
    intake.finish();
    engine.finish();
    let _ = crate::report::sessions_of(&engine);
    let _ = engine.drain_alerts().count();
    records
}
