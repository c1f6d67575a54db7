//! Prometheus metrics, computed at scrape time from the [`Shared`] state.
//!
//! The engine thread never touches these metrics: [`Metrics::update`] reads
//! the published counters and session view and brings every series up to
//! date, then [`Metrics::encode`] renders the text exposition. Counters stay
//! monotonic: a counter series is advanced by the difference between the
//! published value and the value it already exports, and starts again from
//! the published value only when the source itself restarted (a value that
//! went down, or a session key reused by a new session).
//!
//! Per-session series are capped: the first `max_session_series` sessions
//! seen get their own series, for as long as they stay in the session view;
//! the others are summed into one overflow series whose labels are all
//! `"other"`. Names follow [`METRIC_NAME_RULE`]; see `docs/metrics.md`.
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use prometheus::core::Collector;
use prometheus::{
    Gauge, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use super::state::{Counters, Shared};
use crate::decode::{Encap, Layer, Reason};
use crate::detect::alert::{AlertKind, Severity};
use crate::detect::{DstClass, SessionKey, Verdict};
use crate::logs::{Action, Platform};

/// Default cap of per-session series (`inventory.max_session_series`).
pub const DEFAULT_MAX_SESSION_SERIES: usize = 200;

/// The label value of overflow series and of unknown HTTP paths.
pub const OTHER: &str = "other";

/// The routes counted in `mirrorwatch_http_requests_total{path}`; any other
/// path is counted as `"other"`.
pub const HTTP_ROUTES: [&str; 4] = ["/metrics", "/healthz", "/api/v1/sessions", "/api/v1/alerts"];

/// The naming rule every metric family follows (checked by [`check_name`]
/// and [`check_kind`]).
pub const METRIC_NAME_RULE: &str = "^mirrorwatch_(build|capture|process|decode|inventory|session|detect|config|table|http|output|flow)_([a-z][a-z0-9]*_)*(packets|bytes|seconds|errors|sessions|alerts|entries|evictions|requests|info|up|records|datagrams|templates|sets|events)(_total)?$ \
     -- counters end in _total, gauges do not";

const SUBSYSTEMS: [&str; 12] = [
    "flow",
    "build",
    "capture",
    "config",
    "process",
    "decode",
    "inventory",
    "session",
    "detect",
    "table",
    "http",
    "output",
];

const UNITS: [&str; 16] = [
    "events",
    "records",
    "datagrams",
    "templates",
    "sets",
    "packets",
    "bytes",
    "seconds",
    "errors",
    "sessions",
    "alerts",
    "entries",
    "evictions",
    "requests",
    "info",
    "up",
];

/// True if `name` follows [`METRIC_NAME_RULE`] (regardless of its type).
pub fn check_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("mirrorwatch_") else {
        return false;
    };
    let Some((subsystem, rest)) = rest.split_once('_') else {
        return false;
    };
    if !SUBSYSTEMS.contains(&subsystem) {
        return false;
    }
    let rest = rest.strip_suffix("_total").unwrap_or(rest);
    let words: Vec<&str> = rest.split('_').collect();
    let Some((unit, lead)) = words.split_last() else {
        return false;
    };
    UNITS.contains(unit) && lead.iter().all(|w| is_word(w))
}

/// True if `name` follows [`METRIC_NAME_RULE`] for a metric of this type:
/// counters end in `_total`, gauges do not.
pub fn check_kind(name: &str, is_counter: bool) -> bool {
    check_name(name) && name.ends_with("_total") == is_counter
}

fn is_word(w: &str) -> bool {
    let mut b = w.bytes();
    b.next().is_some_and(|c| c.is_ascii_lowercase())
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

const DUP_PATHS: [&str; 3] = ["native_encapsulated", "session_session", "native_native"];
const ENTRY_TABLES: [&str; 4] = [
    "sessions",
    "flow_pairs",
    "flow_sessions",
    "flow_volume_pairs",
];
const EVICTION_TABLES: [&str; 6] = [
    "sessions",
    "duplicate_window",
    "payload_window",
    "flow_pairs",
    "flow_sessions",
    "flow_volume_pairs",
];
const SESSION_LABELS: [&str; 6] = ["encap", "src", "dst", "id", "dst_class", "verdict"];
const OVERFLOW_LABELS: [&str; 6] = [OTHER; 6];

/// Label values of a per-session series, in [`SESSION_LABELS`] order.
type SessionLabels = [String; 6];

/// A session with its own series.
struct OwnSeries {
    labels: SessionLabels,
    first_seen: String,
}

/// A session summed into the overflow series: what was added so far.
struct OverflowSession {
    first_seen: String,
    packets: u64,
    bytes: u64,
}

/// What `update` remembers between scrapes.
#[derive(Default)]
struct State {
    interfaces: HashSet<String>,
    decode_errors: HashSet<(Layer, Reason)>,
    active: HashSet<(Encap, DstClass, Verdict)>,
    own: HashMap<SessionKey, OwnSeries>,
    overflow: HashMap<SessionKey, OverflowSession>,
}

/// One session of the view, as `update` needs it.
struct SessionView {
    key: SessionKey,
    encap: Encap,
    dst_class: DstClass,
    verdict: Verdict,
    labels: SessionLabels,
    first_seen: String,
    packets: u64,
    bytes: u64,
}

/// The sensor's Prometheus metrics.
pub struct Metrics {
    registry: Registry,
    max_session_series: usize,
    capture_up: IntGaugeVec,
    capture_received_packets: IntCounterVec,
    capture_received_bytes: IntCounterVec,
    capture_kernel_dropped: IntCounterVec,
    capture_interface_dropped: IntCounterVec,
    capture_queue_dropped: IntCounterVec,
    capture_reordered: IntCounterVec,
    process_packets: IntCounter,
    process_lag: Gauge,
    decode_errors: IntCounterVec,
    encap_packets: IntCounterVec,
    encap_bytes: IntCounterVec,
    active_sessions: IntGaugeVec,
    overflow_sessions: IntGauge,
    session_packets: IntCounterVec,
    session_bytes: IntCounterVec,
    duplicates: IntCounterVec,
    alerts: IntCounterVec,
    alerts_suppressed: IntCounterVec,
    output_errors: IntCounterVec,
    config_events: IntCounterVec,
    correlated: IntGaugeVec,
    table_entries: IntGaugeVec,
    table_evictions: IntCounterVec,
    http_requests: IntCounterVec,
    http_evictions: IntCounterVec,
    flow: FlowMetrics,
    syslog: SyslogMetrics,
    state: Mutex<State>,
}

/// The `mirrorwatch_flow_*` families: what flow exporters sent and what
/// the collector made of it. Series appear once flow records were read.
struct FlowMetrics {
    datagrams: IntCounterVec,
    records: IntCounterVec,
    sampling: IntGaugeVec,
    templates: IntGaugeVec,
    missed: IntCounterVec,
    pending: IntGaugeVec,
    dropped_sets: IntCounterVec,
    errors: IntCounterVec,
    queue_dropped: IntCounterVec,
    kernel_dropped: IntCounterVec,
    mirrors: IntGaugeVec,
}

impl FlowMetrics {
    fn new(r: &Registry) -> Self {
        FlowMetrics {
            datagrams: counter_vec(
                r,
                "mirrorwatch_flow_received_datagrams_total",
                "Export datagrams read, by exporter address (\"other\" past 256) and format (netflow-v5, netflow-v9, ipfix, sflow).",
                &["exporter", "format"],
            ),
            records: counter_vec(
                r,
                "mirrorwatch_flow_received_records_total",
                "Flow records read from export datagrams, by exporter and format.",
                &["exporter", "format"],
            ),
            sampling: gauge_vec(
                r,
                "mirrorwatch_flow_sampling_interval_packets",
                "Sampling interval of the exporter's latest record: one packet in this many was seen (1: unsampled).",
                &["exporter", "format"],
            ),
            templates: gauge_vec(
                r,
                "mirrorwatch_flow_active_templates",
                "NetFlow v9 and IPFIX templates held for the exporter.",
                &["exporter"],
            ),
            missed: counter_vec(
                r,
                "mirrorwatch_flow_template_missed_sets_total",
                "Data sets that arrived before their template (held until it comes, for flows.pending_hold_s).",
                &["collector"],
            ),
            pending: gauge_vec(
                r,
                "mirrorwatch_flow_pending_sets",
                "Data sets held now, waiting for their template.",
                &["collector"],
            ),
            dropped_sets: counter_vec(
                r,
                "mirrorwatch_flow_dropped_sets_total",
                "Held data sets dropped: their template did not come in time, or too many were held.",
                &["collector"],
            ),
            errors: counter_vec(
                r,
                "mirrorwatch_flow_decode_errors_total",
                "Export datagrams (or parts of them) that could not be read, by kind.",
                &["kind"],
            ),
            queue_dropped: counter_vec(
                r,
                "mirrorwatch_flow_queue_dropped_datagrams_total",
                "Datagrams a --flow-listen socket received and dropped because the pipeline's queue was full.",
                &["collector"],
            ),
            kernel_dropped: counter_vec(
                r,
                "mirrorwatch_flow_kernel_dropped_datagrams_total",
                "Datagrams the kernel dropped before a --flow-listen socket read them (its receive buffer full), learned with the socket's next datagram.",
                &["collector"],
            ),
            mirrors: gauge_vec(
                r,
                "mirrorwatch_flow_mirror_sessions",
                "Mirror sessions seen in flow records (alone or with packets), by destination class.",
                &["dst_class"],
            ),
        }
    }

    fn update(&self, c: &Counters) {
        let Some(f) = &c.flows else {
            return;
        };
        for e in &f.exporters {
            let l = [e.exporter.as_str(), e.format.as_str()];
            sync_counter_vec(&self.datagrams, &l, e.counts.datagrams);
            sync_counter_vec(&self.records, &l, e.counts.records);
            if e.counts.sampling_rate > 0 {
                set_gauge_vec(&self.sampling, &l, i64::from(e.counts.sampling_rate));
            }
            if matches!(
                e.format,
                crate::source::flow::FlowFormat::NetflowV9 | crate::source::flow::FlowFormat::Ipfix
            ) {
                set_gauge_vec(&self.templates, &[e.exporter.as_str()], to_i64(e.templates));
            }
        }
        let k = &f.collector.counters;
        let l = ["main"];
        sync_counter_vec(&self.missed, &l, k.pending_held);
        set_gauge_vec(&self.pending, &l, to_i64(f.pending));
        sync_counter_vec(&self.dropped_sets, &l, k.pending_dropped);
        sync_counter_vec(&self.queue_dropped, &l, f.collector.queue_dropped);
        sync_counter_vec(&self.kernel_dropped, &l, f.collector.kernel_dropped);
        for e in crate::source::flow::FlowError::ALL {
            let n = f
                .collector
                .errors_by_kind
                .get(e.as_str())
                .copied()
                .unwrap_or(0);
            sync_counter_vec(&self.errors, &[e.as_str()], n);
        }
        for (class, n) in DstClass::ALL.into_iter().zip(c.flow_mirror_sessions) {
            set_gauge_vec(&self.mirrors, &[class.as_str()], to_i64(n));
        }
    }
}

/// The syslog receiver's counters (`--syslog-listen`), (name, help), in
/// the order of [`SyslogCounts::exported`]. Series appear once it listens.
///
/// [`SyslogCounts::exported`]: crate::source::syslog::SyslogCounts::exported
const SYSLOG_COUNTERS: [(&str, &str); 5] = [
    (
        "mirrorwatch_config_syslog_received_records_total",
        "Syslog messages the --syslog-listen receiver read (UDP and TCP).",
    ),
    (
        "mirrorwatch_config_syslog_dropped_events_total",
        "Configuration events from syslog over UDP dropped because the pipeline's queue was full (TCP senders wait instead).",
    ),
    (
        "mirrorwatch_config_syslog_kernel_dropped_records_total",
        "Syslog datagrams the kernel dropped before the --syslog-listen UDP socket read them (its receive buffer full), learned with the socket's next datagram.",
    ),
    (
        "mirrorwatch_config_syslog_cut_records_total",
        "Syslog messages longer than 16 KiB, cut there.",
    ),
    (
        "mirrorwatch_config_syslog_connection_evictions_total",
        "Quiet syslog TCP connections closed to admit a new sender beyond 64.",
    ),
];

/// [`SYSLOG_COUNTERS`], registered.
struct SyslogMetrics([IntCounterVec; SYSLOG_COUNTERS.len()]);

impl SyslogMetrics {
    fn new(r: &Registry) -> Self {
        SyslogMetrics(SYSLOG_COUNTERS.map(|(name, help)| counter_vec(r, name, help, &["listener"])))
    }

    fn update(&self, c: &Counters) {
        let Some(s) = &c.syslog else {
            return;
        };
        for (m, v) in self.0.iter().zip(s.exported()) {
            sync_counter_vec(m, &["main"], v);
        }
    }
}

/// Builds and registers one metric. The definitions are static (checked by
/// the tests), so a failure here is a programming error.
fn register<C: Collector + Clone + 'static>(registry: &Registry, made: prometheus::Result<C>) -> C {
    let c = made.expect("static metric definition");
    registry
        .register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(r, IntCounterVec::new(Opts::new(name, help), labels))
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(r, IntGaugeVec::new(Opts::new(name, help), labels))
}

/// The child of a vector with these label values; `None` only if the label
/// count is wrong (never, for the fixed label sets used here).
fn child<M, V: AsRef<str> + std::fmt::Debug>(
    v: &prometheus::core::MetricVec<M>,
    values: &[V],
) -> Option<M::M>
where
    M: prometheus::core::MetricVecBuilder,
{
    v.get_metric_with_label_values(values).ok()
}

/// Brings a counter to `value`: advances it by the difference, or starts it
/// again from `value` if the source went down (it restarted).
fn sync_counter(c: &IntCounter, value: u64) {
    let cur = c.get();
    if value >= cur {
        c.inc_by(value - cur);
    } else {
        c.reset();
        c.inc_by(value);
    }
}

fn sync_counter_vec<V: AsRef<str> + std::fmt::Debug>(v: &IntCounterVec, values: &[V], n: u64) {
    if let Some(c) = child(v, values) {
        sync_counter(&c, n);
    }
}

fn set_gauge_vec<V: AsRef<str> + std::fmt::Debug>(v: &IntGaugeVec, values: &[V], n: i64) {
    if let Some(g) = child(v, values) {
        g.set(n);
    }
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Metrics {
    /// Registers every metric. `max_session_series` caps the sessions given
    /// their own `mirrorwatch_session_*` series.
    pub fn new(max_session_series: usize) -> Self {
        let r = Registry::new();
        let build_info = gauge_vec(
            &r,
            "mirrorwatch_build_info",
            "Always 1; the version label is the sensor's version.",
            &["version"],
        );
        set_gauge_vec(&build_info, &[env!("CARGO_PKG_VERSION")], 1);
        let capture_up = gauge_vec(
            &r,
            "mirrorwatch_capture_up",
            "1 while the capture on the interface is running, 0 once it stopped.",
            &["interface"],
        );
        let capture_received_packets = counter_vec(
            &r,
            "mirrorwatch_capture_received_packets_total",
            "Packets received by the capture.",
            &["interface"],
        );
        let capture_received_bytes = counter_vec(
            &r,
            "mirrorwatch_capture_received_bytes_total",
            "Bytes (original frame lengths) received by the capture.",
            &["interface"],
        );
        let capture_kernel_dropped = counter_vec(
            &r,
            "mirrorwatch_capture_kernel_dropped_packets_total",
            "Packets dropped by the kernel because the capture buffer was full (libpcap ps_drop).",
            &["interface"],
        );
        let capture_interface_dropped = counter_vec(
            &r,
            "mirrorwatch_capture_interface_dropped_packets_total",
            "Packets dropped by the interface or its driver (libpcap ps_ifdrop).",
            &["interface"],
        );
        let capture_queue_dropped = counter_vec(
            &r,
            "mirrorwatch_capture_queue_dropped_packets_total",
            "Packets a capture thread dropped because the queue to the pipeline was full (capture never waits for the pipeline).",
            &["interface"],
        );
        let capture_reordered = counter_vec(
            &r,
            "mirrorwatch_capture_reordered_packets_total",
            "Packets judged after a later batch of their interface: a decode worker (live --workers N) held their batch back longer than 64 batches.",
            &["interface"],
        );
        let process_packets = register(
            &r,
            IntCounter::new(
                "mirrorwatch_process_packets_total",
                "Frames processed by the engine.",
            ),
        );
        let process_lag = register(
            &r,
            Gauge::new(
                "mirrorwatch_process_lag_seconds",
                "Wall clock minus the capture time of the last processed frame, at the last publication.",
            ),
        );
        let decode_errors = counter_vec(
            &r,
            "mirrorwatch_decode_errors_total",
            "Frames whose decoding stopped with an error, by protocol layer and reason.",
            &["layer", "reason"],
        );
        let encap_packets = counter_vec(
            &r,
            "mirrorwatch_decode_encapsulated_packets_total",
            "Frames carrying a mirroring encapsulation, by outermost encapsulation.",
            &["encap"],
        );
        let encap_bytes = counter_vec(
            &r,
            "mirrorwatch_decode_encapsulated_bytes_total",
            "Wire bytes of frames carrying a mirroring encapsulation, by outermost encapsulation.",
            &["encap"],
        );
        for e in Encap::ALL {
            sync_counter_vec(&encap_packets, &[e.as_str()], 0);
            sync_counter_vec(&encap_bytes, &[e.as_str()], 0);
        }
        let active_sessions = gauge_vec(
            &r,
            "mirrorwatch_inventory_active_sessions",
            "Sessions in the inventory, by encapsulation, destination class and verdict.",
            &["encap", "dst_class", "verdict"],
        );
        let overflow_sessions = register(
            &r,
            IntGauge::new(
                "mirrorwatch_inventory_overflow_sessions",
                "Sessions in the inventory without their own mirrorwatch_session_* series (summed into the \"other\" series).",
            ),
        );
        let session_packets = counter_vec(
            &r,
            "mirrorwatch_session_mirrored_packets_total",
            "Packets of a mirroring session (labels all \"other\": sessions beyond the series cap).",
            &SESSION_LABELS,
        );
        let session_bytes = counter_vec(
            &r,
            "mirrorwatch_session_mirrored_bytes_total",
            "Wire bytes of a mirroring session (labels all \"other\": sessions beyond the series cap).",
            &SESSION_LABELS,
        );
        let duplicates = counter_vec(
            &r,
            "mirrorwatch_detect_duplicate_packets_total",
            "Duplicate packets, by the pair of paths the original and its copy travelled.",
            &["path"],
        );
        for p in DUP_PATHS {
            sync_counter_vec(&duplicates, &[p], 0);
        }
        let alerts = counter_vec(
            &r,
            "mirrorwatch_detect_alerts_total",
            "Alerts raised, by kind and severity.",
            &["kind", "severity"],
        );
        for k in AlertKind::ALL {
            sync_counter_vec(&alerts, &[k.as_str(), k.severity().as_str()], 0);
        }
        let alerts_suppressed = counter_vec(
            &r,
            "mirrorwatch_detect_suppressed_alerts_total",
            "Alerts the per-kind rate limit suppressed (summarised in alert_flood), by kind.",
            &["kind"],
        );
        for k in AlertKind::ALL {
            sync_counter_vec(&alerts_suppressed, &[k.as_str()], 0);
        }
        let output_errors = counter_vec(
            &r,
            "mirrorwatch_output_errors_total",
            "Failed writes to an output (alerts file, evidence files); /healthz is 503 while one fails.",
            &["output"],
        );
        for o in crate::export::state::OUTPUTS {
            sync_counter_vec(&output_errors, &[o], 0);
        }
        let config_events = counter_vec(
            &r,
            "mirrorwatch_config_events_total",
            "Mirror configuration events read from device syslog and cloud audit logs, by platform and action.",
            &["platform", "action"],
        );
        let correlated = gauge_vec(
            &r,
            "mirrorwatch_config_correlated_sessions",
            "Mirror sessions with (correlated) and without (uncorrelated) a configuration event that explains them, while logs are watched.",
            &["state"],
        );
        let table_entries = gauge_vec(
            &r,
            "mirrorwatch_table_entries",
            "Entries in the engine's bounded tables.",
            &["table"],
        );
        for t in ENTRY_TABLES {
            set_gauge_vec(&table_entries, &[t], 0);
        }
        let table_evictions = counter_vec(
            &r,
            "mirrorwatch_table_evictions_total",
            "Entries evicted from the engine's bounded tables to stay within their caps.",
            &["table"],
        );
        for t in EVICTION_TABLES {
            sync_counter_vec(&table_evictions, &[t], 0);
        }
        let http_requests = counter_vec(
            &r,
            "mirrorwatch_http_requests_total",
            "HTTP requests answered, by route (\"other\" for unknown paths) and status code.",
            &["path", "code"],
        );
        let http_evictions = counter_vec(
            &r,
            "mirrorwatch_http_connection_evictions_total",
            "HTTP connections the server closed to keep its limits: to admit a connection beyond the per-client (client_limit) or overall (total_limit) limit, or idle for the idle timeout (idle).",
            &["reason"],
        );
        for reason in ["client_limit", "total_limit", "idle"] {
            sync_counter_vec(&http_evictions, &[reason], 0);
        }
        let flow = FlowMetrics::new(&r);
        let syslog = SyslogMetrics::new(&r);
        Metrics {
            registry: r,
            max_session_series,
            capture_up,
            capture_received_packets,
            capture_received_bytes,
            capture_kernel_dropped,
            capture_interface_dropped,
            capture_queue_dropped,
            capture_reordered,
            process_packets,
            process_lag,
            decode_errors,
            encap_packets,
            encap_bytes,
            active_sessions,
            overflow_sessions,
            session_packets,
            session_bytes,
            duplicates,
            alerts,
            alerts_suppressed,
            output_errors,
            config_events,
            correlated,
            table_entries,
            table_evictions,
            http_requests,
            http_evictions,
            flow,
            syslog,
            state: Mutex::new(State::default()),
        }
    }

    /// The registry holding every metric (to gather or add collectors).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts one HTTP response: `path` is counted as itself if it is one of
    /// [`HTTP_ROUTES`], as `"other"` otherwise.
    pub fn count_request(&self, path: &str, code: u16) {
        let path = HTTP_ROUTES
            .iter()
            .find(|r| **r == path)
            .copied()
            .unwrap_or(OTHER);
        if let Some(c) = child(&self.http_requests, &[path, &code.to_string()]) {
            c.inc();
        }
    }

    /// Counts one connection the HTTP server closed to keep a limit
    /// (`client_limit`, `total_limit`, `idle`).
    pub fn count_http_eviction(&self, reason: &str) {
        if let Some(c) = child(&self.http_evictions, &[reason]) {
            c.inc();
        }
    }

    /// Brings every metric up to date with the published state. Called at
    /// scrape time; concurrent calls are serialised.
    pub fn update(&self, shared: &Shared) {
        let mut counters = match shared.counters.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        counters.output_errors = shared.output_health().errors;
        let sessions = session_views(shared);
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        self.update_counters(&mut state, &counters);
        self.update_sessions(&mut state, &sessions);
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        match TextEncoder::new().encode_to_string(&self.registry.gather()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode the metrics");
                String::new()
            }
        }
    }

    fn update_counters(&self, state: &mut State, c: &Counters) {
        // Interfaces: remove the series of interfaces no longer listed.
        let now: HashSet<String> = c.interfaces.iter().map(|i| i.name.clone()).collect();
        for gone in state.interfaces.difference(&now) {
            let l = [gone.as_str()];
            let _ = self.capture_up.remove_label_values(&l);
            for v in [
                &self.capture_received_packets,
                &self.capture_received_bytes,
                &self.capture_kernel_dropped,
                &self.capture_interface_dropped,
                &self.capture_queue_dropped,
                &self.capture_reordered,
            ] {
                let _ = v.remove_label_values(&l);
            }
        }
        for i in &c.interfaces {
            let l = [i.name.as_str()];
            set_gauge_vec(&self.capture_up, &l, i64::from(i.up));
            sync_counter_vec(&self.capture_received_packets, &l, i.received_packets);
            sync_counter_vec(&self.capture_received_bytes, &l, i.received_bytes);
            sync_counter_vec(&self.capture_kernel_dropped, &l, i.kernel_dropped);
            sync_counter_vec(&self.capture_interface_dropped, &l, i.interface_dropped);
            sync_counter_vec(&self.capture_queue_dropped, &l, i.queue_dropped);
            sync_counter_vec(&self.capture_reordered, &l, i.reordered_packets);
        }
        state.interfaces = now;

        sync_counter(&self.process_packets, c.processed_packets);
        self.process_lag.set(c.lag_seconds);

        // Decode errors: only non-zero pairs (zero again only after a
        // restart of the source: remove those series).
        let mut errors = HashSet::new();
        for (e, n) in c.decode_errors.iter() {
            errors.insert((e.layer, e.reason));
            sync_counter_vec(
                &self.decode_errors,
                &[e.layer.as_str(), e.reason.as_str()],
                n,
            );
        }
        for (layer, reason) in state.decode_errors.difference(&errors) {
            let _ = self
                .decode_errors
                .remove_label_values(&[layer.as_str(), reason.as_str()]);
        }
        state.decode_errors = errors;

        for (e, (packets, bytes)) in Encap::ALL.into_iter().zip(c.encapsulated) {
            sync_counter_vec(&self.encap_packets, &[e.as_str()], packets);
            sync_counter_vec(&self.encap_bytes, &[e.as_str()], bytes);
        }

        let d = &c.duplicates;
        for (path, n) in
            DUP_PATHS
                .into_iter()
                .zip([d.native_encapsulated, d.session_session, d.native_native])
        {
            sync_counter_vec(&self.duplicates, &[path], n);
        }
        for (k, by_severity) in AlertKind::ALL.into_iter().zip(c.alerts) {
            for (sev, n) in Severity::ALL.into_iter().zip(by_severity) {
                // The usual severity always has a series; others once used.
                if n > 0 || sev == k.severity() {
                    sync_counter_vec(&self.alerts, &[k.as_str(), sev.as_str()], n);
                }
            }
        }
        for (o, n) in crate::export::state::OUTPUTS
            .into_iter()
            .zip(c.output_errors)
        {
            sync_counter_vec(&self.output_errors, &[o], n);
        }
        for (k, n) in AlertKind::ALL.into_iter().zip(c.alerts_suppressed) {
            sync_counter_vec(&self.alerts_suppressed, &[k.as_str()], n);
        }
        for (p, by_action) in Platform::ALL.into_iter().zip(c.config_events) {
            for (a, n) in Action::ALL.into_iter().zip(by_action) {
                if n > 0 {
                    sync_counter_vec(&self.config_events, &[p.as_str(), a.as_str()], n);
                }
            }
        }
        for (state, n) in [
            ("correlated", c.sessions_correlated),
            ("uncorrelated", c.sessions_uncorrelated),
        ] {
            set_gauge_vec(&self.correlated, &[state], to_i64(n));
        }

        self.flow.update(c);
        self.syslog.update(c);
        for (t, n) in ENTRY_TABLES.into_iter().zip([
            c.sessions,
            c.flow_pairs,
            c.flow_sessions,
            c.flow_volume_pairs,
        ]) {
            set_gauge_vec(&self.table_entries, &[t], to_i64(n));
        }
        for (t, n) in EVICTION_TABLES.into_iter().zip([
            c.session_evictions,
            c.duplicate_window_evictions,
            c.payload_window_evictions,
            c.flow_pair_evictions,
            c.flow_session_evictions,
            c.flow_volume_evictions,
        ]) {
            sync_counter_vec(&self.table_evictions, &[t], n);
        }
    }

    fn update_sessions(&self, state: &mut State, sessions: &[SessionView]) {
        // Active sessions by (encap, dst_class, verdict); combinations seen
        // before and absent now are set to zero.
        let mut active: HashMap<(Encap, DstClass, Verdict), i64> = HashMap::new();
        for s in sessions {
            *active.entry((s.encap, s.dst_class, s.verdict)).or_default() += 1;
        }
        for (e, d, v) in state.active.iter().chain(active.keys()) {
            let n = active.get(&(*e, *d, *v)).copied().unwrap_or(0);
            set_gauge_vec(
                &self.active_sessions,
                &[e.as_str(), d.as_str(), v.as_str()],
                n,
            );
        }
        state.active.extend(active.keys().copied());

        // Sessions that left the view lose their series.
        let present: HashSet<SessionKey> = sessions.iter().map(|s| s.key).collect();
        state.own.retain(|k, own| {
            let keep = present.contains(k);
            if !keep {
                self.remove_session_series(&own.labels);
            }
            keep
        });
        state.overflow.retain(|k, _| present.contains(k));

        let (mut overflow_packets, mut overflow_bytes) = (0u64, 0u64);
        for s in sessions {
            if let Some(own) = state.own.get_mut(&s.key) {
                if own.labels != s.labels || own.first_seen != s.first_seen {
                    // New labels (class or verdict changed), or a new
                    // session under the same key: a new series.
                    self.remove_session_series(&own.labels);
                    own.labels = s.labels.clone();
                    own.first_seen = s.first_seen.clone();
                }
                sync_counter_vec(&self.session_packets, &s.labels, s.packets);
                sync_counter_vec(&self.session_bytes, &s.labels, s.bytes);
            } else if let Some(o) = state.overflow.get_mut(&s.key) {
                if o.first_seen != s.first_seen || s.packets < o.packets || s.bytes < o.bytes {
                    // A new session under the same key: all of it is new.
                    o.first_seen = s.first_seen.clone();
                    o.packets = 0;
                    o.bytes = 0;
                }
                overflow_packets += s.packets - o.packets;
                overflow_bytes += s.bytes - o.bytes;
                o.packets = s.packets;
                o.bytes = s.bytes;
            } else if state.own.len() < self.max_session_series {
                sync_counter_vec(&self.session_packets, &s.labels, s.packets);
                sync_counter_vec(&self.session_bytes, &s.labels, s.bytes);
                state.own.insert(
                    s.key,
                    OwnSeries {
                        labels: s.labels.clone(),
                        first_seen: s.first_seen.clone(),
                    },
                );
            } else {
                overflow_packets += s.packets;
                overflow_bytes += s.bytes;
                state.overflow.insert(
                    s.key,
                    OverflowSession {
                        first_seen: s.first_seen.clone(),
                        packets: s.packets,
                        bytes: s.bytes,
                    },
                );
            }
        }
        if !state.overflow.is_empty() {
            // The overflow series exists from the first overflow on.
            if let Some(c) = child(&self.session_packets, &OVERFLOW_LABELS) {
                c.inc_by(overflow_packets);
            }
            if let Some(c) = child(&self.session_bytes, &OVERFLOW_LABELS) {
                c.inc_by(overflow_bytes);
            }
        }
        self.overflow_sessions.set(to_i64(state.overflow.len()));
    }

    fn remove_session_series(&self, labels: &SessionLabels) {
        let _ = self.session_packets.remove_label_values(labels);
        let _ = self.session_bytes.remove_label_values(labels);
    }
}

/// The session view in the report's one order
/// ([`crate::report::session_order`]: largest first, so that when series
/// are free the biggest new sessions get them; ties broken by key).
/// What [`crate::report::order`] reads of a view.
fn view_key(s: &SessionView) -> (u64, Encap, &str, &str, Option<u32>) {
    (s.bytes, s.encap, &s.labels[1], &s.labels[2], s.key.id)
}

fn session_views(shared: &Shared) -> Vec<SessionView> {
    let mut v: Vec<SessionView> = shared
        .sessions()
        .iter()
        .map(|r| SessionView {
            key: r.key,
            encap: r.encap,
            dst_class: r.dst_class,
            verdict: r.verdict,
            labels: [
                r.encap.as_str().to_owned(),
                r.src.clone(),
                r.dst.clone(),
                r.id.map_or_else(|| "none".to_owned(), |i| i.to_string()),
                r.dst_class.as_str().to_owned(),
                r.verdict.as_str().to_owned(),
            ],
            first_seen: r.first_seen.clone(),
            packets: r.packets,
            bytes: r.bytes,
        })
        .collect();
    v.sort_by(|a, b| crate::report::order(view_key(a), view_key(b)));
    v
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::detect::Engine;
    use crate::export::state::InterfaceStats;

    /// A fresh engine and the named scenarios.
    fn engine(names: &[&str]) -> (Engine, Vec<mirrorwatch_synth::Scenario>) {
        let cfg = crate::config::Config::default();
        let e = Engine::new(&cfg);
        let all = mirrorwatch_synth::scenarios();
        let picked = all
            .into_iter()
            .filter(|s| names.contains(&s.name))
            .collect::<Vec<_>>();
        assert_eq!(picked.len(), names.len(), "scenario names");
        (e, picked)
    }

    fn feed(
        e: &mut Engine,
        sc: &mirrorwatch_synth::Scenario,
        range: std::ops::Range<usize>,
    ) -> i64 {
        let mut last = 0;
        let end = range.end.min(sc.packets.len());
        for p in sc.packets.get(range.start..end).unwrap_or_default() {
            crate::detect::feed_for_tests(e, p.ts_us, &p.data);
            last = p.ts_us;
        }
        last
    }

    fn ifstats(packets: u64) -> Vec<InterfaceStats> {
        vec![InterfaceStats {
            name: "eth1".to_owned(),
            up: true,
            received_packets: packets,
            received_bytes: packets * 100,
            kernel_dropped: 1,
            interface_dropped: 0,
            queue_dropped: 2,
            reordered_packets: 3,
        }]
    }

    /// Sample lines of an exposition: `name{labels}` → value, and the type
    /// of each family.
    fn parse(text: &str) -> (BTreeMap<String, f64>, BTreeMap<String, String>) {
        let mut samples = BTreeMap::new();
        let mut types = BTreeMap::new();
        for line in text.lines() {
            if let Some(t) = line.strip_prefix("# TYPE ") {
                let (name, kind) = t.split_once(' ').expect("type line");
                types.insert(name.to_owned(), kind.to_owned());
            } else if !line.starts_with('#') && !line.is_empty() {
                let (series, value) = line.rsplit_once(' ').expect("sample line");
                samples.insert(series.to_owned(), value.parse().expect("value"));
            }
        }
        (samples, types)
    }

    fn family(series: &str) -> &str {
        series.split('{').next().unwrap_or(series)
    }

    #[test]
    fn name_rule() {
        for good in [
            "mirrorwatch_build_info",
            "mirrorwatch_capture_up",
            "mirrorwatch_capture_received_packets_total",
            "mirrorwatch_process_lag_seconds",
            "mirrorwatch_table_entries",
            "mirrorwatch_http_requests_total",
            "mirrorwatch_decode_ipv4_errors_total",
        ] {
            assert!(check_name(good), "{good}");
        }
        for bad in [
            "",
            "mirrorwatch_",
            "mirrorwatch_build",
            "mirrorwatch_http_total",
            "mirrorwatch_foo_packets_total",
            "mirrorwatch_capture_received_pkts_total",
            "mirrorwatch_capture_Received_packets_total",
            "mirrorwatch_capture__packets_total",
            "mirrorwatch_capture_received_packets_total_total",
            "mirrorwatch_capture_received-packets_total",
            "mirrorwatch_capture_1st_packets",
            "other_capture_received_packets_total",
        ] {
            assert!(!check_name(bad), "{bad}");
        }
        assert!(check_kind("mirrorwatch_process_packets_total", true));
        assert!(!check_kind("mirrorwatch_process_packets_total", false));
        assert!(check_kind("mirrorwatch_table_entries", false));
        assert!(!check_kind("mirrorwatch_table_entries", true));
    }

    /// Every family name written in this file follows the rule, also
    /// those the exposition test below does not produce (flow and
    /// configuration-event families appear only with their inputs).
    #[test]
    fn every_family_named_here_follows_the_rule() {
        let all = include_str!("metrics.rs");
        // The code, not these tests (which name bad names on purpose).
        let src = all.split("#[cfg(test)]").next().unwrap_or(all);
        let names: Vec<&str> = src
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|t| t.starts_with("mirrorwatch_") && !t.contains(['{', ' ', '(', '*']))
            .filter(|t| !t.ends_with('_'))
            .collect();
        assert!(names.len() > 30, "{names:?}");
        assert!(names.contains(&"mirrorwatch_config_events_total"));
        let bad: Vec<&&str> = names.iter().filter(|n| !check_name(n)).collect();
        assert!(bad.is_empty(), "not after the rule: {bad:?}");
    }

    #[test]
    fn syslog_receiver_counts_are_exported_while_it_listens() {
        let (e, _) = engine(&["vxlan"]);
        let shared = Shared::new("t");
        let m = Metrics::new(DEFAULT_MAX_SESSION_SERIES);
        shared.publish(&e, &[], 1, None);
        m.update(&shared);
        assert!(!m.encode().contains("mirrorwatch_config_syslog"));
        shared.set_syslog(crate::source::syslog::SyslogCounts {
            messages: 20_000,
            events: 20_000,
            dropped_events: 3,
            kernel_dropped_records: 7,
            cut_messages: 2,
            evicted_connections: 5,
        });
        shared.publish(&e, &[], 1, None);
        m.update(&shared);
        let (samples, types) = parse(&m.encode());
        for (name, n) in [
            ("mirrorwatch_config_syslog_received_records_total", 20_000.0),
            ("mirrorwatch_config_syslog_dropped_events_total", 3.0),
            (
                "mirrorwatch_config_syslog_kernel_dropped_records_total",
                7.0,
            ),
            ("mirrorwatch_config_syslog_cut_records_total", 2.0),
            ("mirrorwatch_config_syslog_connection_evictions_total", 5.0),
        ] {
            assert_eq!(
                samples
                    .get(&format!("{name}{{listener=\"main\"}}"))
                    .copied(),
                Some(n),
                "{name}"
            );
            assert_eq!(types.get(name).map(String::as_str), Some("counter"));
            assert!(check_name(name), "{name}");
        }
    }

    #[test]
    fn exposition_has_every_family_with_valid_names() {
        let (mut e, scs) = engine(&["vxlan", "erspan3", "malformed"]);
        let mut last = 0;
        for sc in &scs {
            last = last.max(feed(&mut e, sc, 0..usize::MAX));
        }
        let shared = Shared::new("t");
        shared.publish(&e, &ifstats(7), last + 2_000_000, None);
        let m = Metrics::new(DEFAULT_MAX_SESSION_SERIES);
        m.update(&shared);
        m.count_request("/metrics", 200);
        m.count_request("/wp-admin", 404);
        let text = m.encode();
        let (samples, types) = parse(&text);
        let families = [
            ("mirrorwatch_build_info", "gauge"),
            ("mirrorwatch_capture_up", "gauge"),
            ("mirrorwatch_capture_received_packets_total", "counter"),
            ("mirrorwatch_capture_received_bytes_total", "counter"),
            (
                "mirrorwatch_capture_kernel_dropped_packets_total",
                "counter",
            ),
            (
                "mirrorwatch_capture_interface_dropped_packets_total",
                "counter",
            ),
            ("mirrorwatch_capture_queue_dropped_packets_total", "counter"),
            ("mirrorwatch_capture_reordered_packets_total", "counter"),
            ("mirrorwatch_process_packets_total", "counter"),
            ("mirrorwatch_process_lag_seconds", "gauge"),
            ("mirrorwatch_decode_errors_total", "counter"),
            ("mirrorwatch_decode_encapsulated_packets_total", "counter"),
            ("mirrorwatch_decode_encapsulated_bytes_total", "counter"),
            ("mirrorwatch_inventory_active_sessions", "gauge"),
            ("mirrorwatch_inventory_overflow_sessions", "gauge"),
            ("mirrorwatch_session_mirrored_packets_total", "counter"),
            ("mirrorwatch_session_mirrored_bytes_total", "counter"),
            ("mirrorwatch_detect_duplicate_packets_total", "counter"),
            ("mirrorwatch_detect_alerts_total", "counter"),
            ("mirrorwatch_detect_suppressed_alerts_total", "counter"),
            ("mirrorwatch_output_errors_total", "counter"),
            ("mirrorwatch_table_entries", "gauge"),
            ("mirrorwatch_table_evictions_total", "counter"),
            ("mirrorwatch_http_requests_total", "counter"),
            ("mirrorwatch_http_connection_evictions_total", "counter"),
            ("mirrorwatch_config_correlated_sessions", "gauge"),
        ];
        for (name, kind) in families {
            assert_eq!(types.get(name).map(String::as_str), Some(kind), "{name}");
        }
        assert_eq!(types.len(), families.len(), "{types:?}");
        for (name, kind) in &types {
            assert!(check_kind(name, kind == "counter"), "{name} ({kind})");
        }
        let c = shared.counters.read().expect("lock").clone();
        let v = |s: &str| samples.get(s).copied();
        assert_eq!(
            v(&format!(
                "mirrorwatch_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )),
            Some(1.0)
        );
        assert_eq!(v("mirrorwatch_capture_up{interface=\"eth1\"}"), Some(1.0));
        assert_eq!(
            v("mirrorwatch_capture_received_bytes_total{interface=\"eth1\"}"),
            Some(700.0)
        );
        assert_eq!(
            v("mirrorwatch_capture_reordered_packets_total{interface=\"eth1\"}"),
            Some(3.0)
        );
        assert_eq!(
            v("mirrorwatch_process_packets_total"),
            Some(c.processed_packets as f64)
        );
        assert!(v("mirrorwatch_process_lag_seconds").is_some_and(|l| l > 1.5));
        for (err, n) in c.decode_errors.iter() {
            let s = format!(
                "mirrorwatch_decode_errors_total{{layer=\"{}\",reason=\"{}\"}}",
                err.layer, err.reason
            );
            assert_eq!(v(&s), Some(n as f64), "{s}");
        }
        assert!(c.decode_errors.total() > 0);
        let decode_series = samples
            .keys()
            .filter(|s| family(s) == "mirrorwatch_decode_errors_total")
            .count();
        assert_eq!(decode_series, c.decode_errors.iter().count());
        for e in Encap::ALL {
            let s = format!(
                "mirrorwatch_decode_encapsulated_packets_total{{encap=\"{}\"}}",
                e.as_str()
            );
            assert_eq!(v(&s), Some(c.encapsulated[e as usize].0 as f64), "{s}");
        }
        assert!(
            v("mirrorwatch_decode_encapsulated_packets_total{encap=\"vxlan\"}")
                .is_some_and(|n| n >= 32.0)
        );
        assert_eq!(
            v("mirrorwatch_decode_encapsulated_packets_total{encap=\"tzsp\"}"),
            Some(0.0)
        );
        for k in AlertKind::ALL {
            let s = format!(
                "mirrorwatch_detect_alerts_total{{kind=\"{}\",severity=\"{}\"}}",
                k.as_str(),
                k.severity().as_str()
            );
            assert_eq!(
                v(&s),
                Some(c.alerts[k as usize][k.severity() as usize] as f64),
                "{s}"
            );
        }
        for p in DUP_PATHS {
            let s = format!("mirrorwatch_detect_duplicate_packets_total{{path=\"{p}\"}}");
            assert!(v(&s).is_some(), "{s}");
        }
        assert_eq!(
            v("mirrorwatch_table_entries{table=\"sessions\"}"),
            Some(c.sessions as f64)
        );
        for t in EVICTION_TABLES {
            let s = format!("mirrorwatch_table_evictions_total{{table=\"{t}\"}}");
            assert!(v(&s).is_some(), "{s}");
        }
        assert_eq!(
            v("mirrorwatch_http_requests_total{code=\"404\",path=\"other\"}"),
            Some(1.0)
        );

        // Sessions: one series each, and the inventory gauge adds up.
        let list = shared.session_list();
        assert_eq!(list.len(), shared.sessions().len());
        for r in &list {
            let s = format!(
                "mirrorwatch_session_mirrored_bytes_total{{dst=\"{}\",dst_class=\"{}\",encap=\"{}\",id=\"{}\",src=\"{}\",verdict=\"{}\"}}",
                r.dst,
                r.dst_class.as_str(),
                r.encap.as_str(),
                r.id.map_or("none".to_owned(), |i| i.to_string()),
                r.src,
                r.verdict.as_str()
            );
            assert_eq!(v(&s), Some(r.bytes as f64), "{s}\n{text}");
        }
        let active: f64 = samples
            .iter()
            .filter(|(s, _)| family(s) == "mirrorwatch_inventory_active_sessions")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(active, list.len() as f64);
        assert_eq!(v("mirrorwatch_inventory_overflow_sessions"), Some(0.0));
        assert!(!text.contains("src=\"other\""));
    }

    /// Counter series, by name and labels.
    fn counters_of(m: &Metrics) -> BTreeMap<String, f64> {
        let (samples, types) = parse(&m.encode());
        samples
            .into_iter()
            .filter(|(s, _)| types.get(family(s)).is_some_and(|t| t == "counter"))
            .collect()
    }

    fn session_series(c: &BTreeMap<String, f64>) -> Vec<String> {
        c.keys()
            .filter(|s| family(s) == "mirrorwatch_session_mirrored_packets_total")
            .cloned()
            .collect()
    }

    #[test]
    fn session_cap_overflow_and_monotonic_counters() {
        let (mut e, scs) = engine(&["vxlan", "erspan3"]);
        let shared = Shared::new("t");
        let m = Metrics::new(2);
        // First half of each scenario, then the rest.
        let mut last = 0;
        for sc in &scs {
            last = last.max(feed(&mut e, sc, 0..sc.packets.len() / 2));
        }
        shared.publish(&e, &ifstats(10), last, None);
        m.update(&shared);
        let first = counters_of(&m);
        let own = session_series(&first);
        assert_eq!(own.len(), 3, "2 sessions and the overflow: {own:?}");
        let overflow_packets = "mirrorwatch_session_mirrored_packets_total{dst=\"other\",dst_class=\"other\",encap=\"other\",id=\"other\",src=\"other\",verdict=\"other\"}";
        let total_packets: u64 = shared.session_list().iter().map(|r| r.packets).sum();
        let series_sum: f64 = own.iter().filter_map(|s| first.get(s)).sum();
        assert_eq!(series_sum, total_packets as f64);
        let (samples, _) = parse(&m.encode());
        assert_eq!(
            samples.get("mirrorwatch_inventory_overflow_sessions"),
            Some(&(shared.sessions().len() as f64 - 2.0))
        );
        assert!(first.get(overflow_packets).is_some_and(|n| *n > 0.0));

        for sc in &scs {
            last = last.max(feed(&mut e, sc, sc.packets.len() / 2..usize::MAX));
        }
        shared.publish(&e, &ifstats(20), last, None);
        m.update(&shared);
        let second = counters_of(&m);
        // The same sessions keep their series, and no counter went down.
        assert_eq!(session_series(&second), own);
        for (s, n) in &first {
            let later = second.get(s).copied();
            assert!(later.is_some_and(|l| l >= *n), "{s}: {n} -> {later:?}");
        }
        assert!(
            second["mirrorwatch_process_packets_total"]
                > first["mirrorwatch_process_packets_total"]
        );
        let total_packets: u64 = shared.session_list().iter().map(|r| r.packets).sum();
        let series_sum: f64 = own.iter().filter_map(|s| second.get(s)).sum();
        assert_eq!(series_sum, total_packets as f64);
        // A scrape without changes changes nothing.
        m.update(&shared);
        assert_eq!(counters_of(&m), second);
    }

    #[test]
    fn label_changes_evictions_and_restarts() {
        let (mut e, scs) = engine(&["vxlan"]);
        let last = feed(&mut e, &scs[0], 0..usize::MAX);
        let shared = Shared::new("t");
        shared.publish(&e, &[], last, None);
        let m = Metrics::new(1);
        m.update(&shared);
        let before = counters_of(&m);
        let own = session_series(&before);
        assert_eq!(own.len(), 2);
        let overflow = own
            .iter()
            .find(|s| s.contains("src=\"other\""))
            .expect("overflow series")
            .clone();
        let single = own
            .iter()
            .find(|s| !s.contains("src=\"other\""))
            .expect("own series")
            .clone();
        // The largest session got the only series.
        let list = shared.session_list();
        assert_eq!(before[&single], list[0].packets as f64);
        let key = list[0].key;

        // Its verdict changes: the series moves to the new labels.
        let old_verdict = list[0].verdict;
        let new_verdict = if old_verdict == Verdict::Mirror {
            Verdict::Overlay
        } else {
            Verdict::Mirror
        };
        let mut changed = shared.session_list();
        for r in changed.iter_mut().filter(|r| r.key == key) {
            r.verdict = new_verdict;
        }
        shared.set_sessions(changed);
        m.update(&shared);
        let after = counters_of(&m);
        assert!(!after.contains_key(&single));
        let moved = single.replace(
            &format!("verdict=\"{}\"", old_verdict.as_str()),
            &format!("verdict=\"{}\"", new_verdict.as_str()),
        );
        assert_eq!(after.get(&moved), Some(&before[&single]));
        let (samples, _) = parse(&m.encode());
        let gauge = |class: &str, verdict: &str| {
            samples
                .get(&format!(
                    "mirrorwatch_inventory_active_sessions{{dst_class=\"{class}\",encap=\"vxlan\",verdict=\"{verdict}\"}}"
                ))
                .copied()
        };
        let class = list[0].dst_class.as_str();
        assert!(gauge(class, new_verdict.as_str()).is_some_and(|n| n >= 1.0));

        // An overflow session is evicted: the overflow counter stays.
        let small = shared
            .sessions()
            .iter()
            .find(|r| r.key != key)
            .expect("another session")
            .key;
        let mut fewer = shared.session_list();
        fewer.retain(|r| r.key != small);
        shared.set_sessions(fewer);
        m.update(&shared);
        let after = counters_of(&m);
        assert_eq!(after.get(&overflow), before.get(&overflow));
        let (samples, _) = parse(&m.encode());
        assert_eq!(
            samples.get("mirrorwatch_inventory_overflow_sessions"),
            Some(&(shared.sessions().len() as f64 - 1.0))
        );

        // The session with the series is evicted: its series goes, the slot
        // goes to the next new session (not to an overflow one).
        let mut fewer = shared.session_list();
        fewer.retain(|r| r.key != key);
        shared.set_sessions(fewer);
        m.update(&shared);
        let after = counters_of(&m);
        assert!(!after.contains_key(&moved));
        assert_eq!(session_series(&after), vec![overflow.clone()]);
        // Zero for the combinations that vanished entirely.
        let (samples, _) = parse(&m.encode());
        let total: f64 = samples
            .iter()
            .filter(|(s, _)| family(s) == "mirrorwatch_inventory_active_sessions")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(total, shared.sessions().len() as f64);
        assert!(samples.contains_key(&format!(
            "mirrorwatch_inventory_active_sessions{{dst_class=\"{class}\",encap=\"vxlan\",verdict=\"{}\"}}",
            new_verdict.as_str()
        )));

        // The engine restarted (fewer packets than exported): the counter
        // starts again from the published value instead of going wrong.
        let fresh = Engine::new(&crate::config::Config::default());
        shared.publish(&fresh, &[], last, None);
        m.update(&shared);
        let after = counters_of(&m);
        assert_eq!(after["mirrorwatch_process_packets_total"], 0.0);
    }
}
