//! Checks of the Grafana and Prometheus material in `grafana/`: the
//! dashboard, the provisioning files and both forms of the alert rules use
//! only metrics the sensor exports, with the labels it gives them; and, when
//! `promtool` is installed, the Prometheus rules load and their unit tests
//! pass. See docs/grafana.md.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use serde_json::Value;

/// Every metric the sensor exports. This list mirrors docs/metrics.md: a
/// metric added, renamed or removed there must change here too.
const METRICS: &[&str] = &[
    "mirrorwatch_build_info",
    "mirrorwatch_capture_up",
    "mirrorwatch_capture_received_packets_total",
    "mirrorwatch_capture_received_bytes_total",
    "mirrorwatch_capture_kernel_dropped_packets_total",
    "mirrorwatch_capture_interface_dropped_packets_total",
    "mirrorwatch_capture_queue_dropped_packets_total",
    "mirrorwatch_capture_reordered_packets_total",
    "mirrorwatch_process_packets_total",
    "mirrorwatch_process_lag_seconds",
    "mirrorwatch_decode_errors_total",
    "mirrorwatch_decode_encapsulated_packets_total",
    "mirrorwatch_decode_encapsulated_bytes_total",
    "mirrorwatch_inventory_active_sessions",
    "mirrorwatch_inventory_overflow_sessions",
    "mirrorwatch_session_mirrored_packets_total",
    "mirrorwatch_session_mirrored_bytes_total",
    "mirrorwatch_detect_duplicate_packets_total",
    "mirrorwatch_detect_alerts_total",
    "mirrorwatch_detect_suppressed_alerts_total",
    "mirrorwatch_output_errors_total",
    "mirrorwatch_config_events_total",
    "mirrorwatch_config_correlated_sessions",
    "mirrorwatch_config_syslog_received_records_total",
    "mirrorwatch_config_syslog_dropped_events_total",
    "mirrorwatch_config_syslog_kernel_dropped_records_total",
    "mirrorwatch_config_syslog_cut_records_total",
    "mirrorwatch_config_syslog_connection_evictions_total",
    "mirrorwatch_flow_received_datagrams_total",
    "mirrorwatch_flow_received_records_total",
    "mirrorwatch_flow_sampling_interval_packets",
    "mirrorwatch_flow_active_templates",
    "mirrorwatch_flow_template_missed_sets_total",
    "mirrorwatch_flow_pending_sets",
    "mirrorwatch_flow_dropped_sets_total",
    "mirrorwatch_flow_decode_errors_total",
    "mirrorwatch_flow_queue_dropped_datagrams_total",
    "mirrorwatch_flow_kernel_dropped_datagrams_total",
    "mirrorwatch_flow_mirror_sessions",
    "mirrorwatch_table_entries",
    "mirrorwatch_table_evictions_total",
    "mirrorwatch_http_requests_total",
    "mirrorwatch_http_connection_evictions_total",
];

/// The `kind` label values of `mirrorwatch_detect_alerts_total` (all of
/// them always exported); mirrors docs/metrics.md.
const ALERT_KINDS: &[&str] = &[
    "mirror_session_new",
    "mirror_to_external",
    "mirror_to_unauthorized_internal",
    "duplicate_flow_to_external",
    "mirror_volume_spike",
    "authorized_mirror_expired",
    "mirror_config_change",
    "unapproved_mirror_config",
    "mirror_without_config",
    "alert_flood",
    "flow_volume_shift",
];

/// The alert kinds raised from configuration logs, and the rule (in both
/// rule files) that reads each.
const CONFIG_ALERT_RULES: &[(&str, &str)] = &[
    ("mirror_config_change", "MirrorConfigChange"),
    ("mirror_config_change", "MirrorConfigChangeHighRisk"),
    ("unapproved_mirror_config", "UnapprovedMirrorConfig"),
    ("mirror_without_config", "MirrorWithoutConfig"),
];

/// Series Prometheus makes itself for every target.
const PROMETHEUS_SERIES: &[&str] = &["up"];

/// The datasource uid fixed in grafana/provisioning/datasources/prometheus.yml.
const DATASOURCE_UID: &str = "mirrorwatch-prometheus";

/// Rules both rule files must have, with their severity.
const REQUIRED_RULES: &[(&str, &str)] = &[
    ("MirrorToExternal", "critical"),
    ("NewMirrorSession", "warning"),
    ("UnauthorizedInternalMirror", ""),
    ("DuplicateFlowToExternal", ""),
    ("MirrorVolumeSpike", ""),
    ("SensorDown", ""),
    ("CaptureDrops", ""),
    ("DecodeErrorSurge", ""),
    ("MirrorConfigChange", "warning"),
    ("MirrorConfigChangeHighRisk", "critical"),
    ("UnapprovedMirrorConfig", "critical"),
    ("MirrorWithoutConfig", "critical"),
];

const PER_SESSION_METRICS: &[&str] = &[
    "mirrorwatch_session_mirrored_packets_total",
    "mirrorwatch_session_mirrored_bytes_total",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let p = root().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn dashboard() -> Value {
    serde_json::from_str(&read("grafana/dashboards/mirrorwatch.json"))
        .expect("grafana/dashboards/mirrorwatch.json is JSON")
}

// ---------------------------------------------------------------------
// A small PromQL scanner: enough to find the metric names and selectors of
// the expressions in this repository (and to reject anything else).

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "atan2",
];

/// Keywords that may be followed by a parenthesised list of label names.
const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Aggregation operators, which may put `by (...)`/`without (...)` before
/// their parenthesised argument.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];

/// A metric selector found in an expression: the name and the text of its
/// `{...}` matchers (empty when it has none).
#[derive(Debug)]
struct Selector {
    name: String,
    matchers: String,
}

fn skip_string(b: &[u8], mut i: usize) -> usize {
    let q = b[i];
    i += 1;
    while i < b.len() && b[i] != q {
        if b[i] == b'\\' && q != b'`' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// Index after the bracket closing the one at `i` (`{`, `[` or `(`),
/// stepping over string literals.
fn skip_group(b: &[u8], mut i: usize) -> usize {
    let (open, close) = match b[i] {
        b'{' => (b'{', b'}'),
        b'[' => (b'[', b']'),
        _ => (b'(', b')'),
    };
    let mut depth = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i);
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!(
        "unbalanced {} in {:?}",
        open as char,
        String::from_utf8_lossy(b)
    );
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// Every metric selector of a PromQL expression. Function names, keywords,
/// label lists, durations, numbers, strings and `$variables` are skipped;
/// every other identifier is a metric name.
fn selectors(expr: &str) -> Vec<Selector> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if matches!(c, b'"' | b'\'' | b'`') {
            i = skip_string(b, i);
        } else if c == b'[' {
            i = skip_group(b, i);
        } else if c == b'{' {
            // A selector without a name ({__name__="..."}) is not used here.
            panic!("selector without a metric name in {expr:?}");
        } else if c == b'$' {
            i += 1;
            while i < b.len() && (is_ident(b[i]) || b[i] == b'{' || b[i] == b'}') {
                i += 1;
            }
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            let word = &expr[start..i];
            let next = skip_space(b, i);
            let lower = word.to_ascii_lowercase();
            if KEYWORDS.contains(&lower.as_str()) {
                if LABEL_LIST_KEYWORDS.contains(&lower.as_str()) && b.get(next) == Some(&b'(') {
                    i = skip_group(b, next);
                }
            } else if b.get(next) == Some(&b'(') {
                // a function call: its arguments are scanned as usual
            } else if AGGREGATIONS.contains(&lower.as_str())
                && (expr[next..].starts_with("by") || expr[next..].starts_with("without"))
            {
                // `sum by (labels) (...)`: the keyword comes next
            } else {
                let matchers = if b.get(next) == Some(&b'{') {
                    let end = skip_group(b, next);
                    i = end;
                    expr[next..end].to_string()
                } else {
                    String::new()
                };
                out.push(Selector {
                    name: word.to_string(),
                    matchers,
                });
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Matcher text without whitespace outside string literals.
fn squeeze(matchers: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    for c in matchers.chars() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                out.push(c);
            }
            None if c.is_whitespace() => {}
            None => out.push(c),
        }
    }
    out
}

/// The metric names of an expression that are neither the sensor's nor
/// Prometheus's own.
fn unknown_metrics(expr: &str) -> Vec<String> {
    selectors(expr)
        .into_iter()
        .map(|s| s.name)
        .filter(|n| !METRICS.contains(&n.as_str()) && !PROMETHEUS_SERIES.contains(&n.as_str()))
        .collect()
}

/// The values a matcher on `label` allows in a selector's `{...}` text:
/// `label="v"` gives `v`, `label=~"a|b"` gives `a` and `b`; negative
/// matchers give nothing.
fn matcher_values(matchers: &str, label: &str) -> Vec<String> {
    let m = squeeze(matchers);
    let mut out = Vec::new();
    for op in ["=~\"", "=\""] {
        let pat = format!("{label}{op}");
        let mut rest = m.as_str();
        while let Some(i) = rest.find(&pat) {
            let other_name = rest[..i]
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            let after = &rest[i + pat.len()..];
            let end = after.find('"').unwrap_or(after.len());
            if !other_name {
                out.extend(after[..end].split('|').map(str::to_string));
            }
            rest = &after[end..];
        }
    }
    out
}

/// Does the expression keep `label` (named in a `by (...)` list)?
fn keeps_label(expr: &str, label: &str) -> bool {
    expr.split(['(', ')', ',', ' ']).any(|w| w == label)
}

/// The selector argument of Grafana's `label_values(selector, label)` (or
/// the whole query when it is plain PromQL).
fn variable_query_expr(q: &str) -> String {
    let q = q.trim();
    if let Some(inner) = q
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
    {
        match inner.rfind(',') {
            Some(comma) => inner[..comma].trim().to_string(),
            None => String::new(),
        }
    } else if let Some(inner) = q
        .strip_prefix("query_result(")
        .and_then(|r| r.strip_suffix(')'))
    {
        inner.to_string()
    } else {
        q.to_string()
    }
}

// ---------------------------------------------------------------------
// The dashboard.

/// (panel title, expr) of every panel query.
fn panel_exprs(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in common::all_panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push((p["title"].as_str().unwrap_or("").to_string(), e.to_string()));
            }
        }
    }
    out
}

/// (variable name, PromQL) of every query variable.
fn variable_exprs(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] != "query" {
            continue;
        }
        let q = match &v["query"] {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("query")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        };
        out.push((
            v["name"].as_str().unwrap_or("").to_string(),
            variable_query_expr(&q),
        ));
    }
    out
}

#[test]
fn scanner_finds_metric_names_only() {
    let s = selectors(
        r#"sum by (job, instance) (rate(mirrorwatch_decode_errors_total{job=~"$job", layer="a b"}[$__rate_interval]))
           / on (job, instance) group_left sum(up) > 0.01 and x offset 15m or absent(y{z="{"}) unless bool 1e3"#,
    );
    let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["mirrorwatch_decode_errors_total", "up", "x", "y"]);
    assert_eq!(squeeze(&s[0].matchers), r#"{job=~"$job",layer="a b"}"#);
    assert_eq!(
        variable_query_expr(r#"label_values(mirrorwatch_build_info{job=~"$job"}, instance)"#),
        r#"mirrorwatch_build_info{job=~"$job"}"#
    );
    assert_eq!(
        unknown_metrics("rate(node_cpu_seconds_total[5m])"),
        ["node_cpu_seconds_total"]
    );
    assert_eq!(
        matcher_values(r#"{kind=~"a|b", severity!="high", subkind="c"}"#, "kind"),
        ["a", "b"]
    );
    assert_eq!(
        matcher_values(r#"{kind="a", severity="high"}"#, "severity"),
        ["high"]
    );
    assert!(matcher_values(r#"{severity!="high"}"#, "severity").is_empty());
}

#[test]
fn metric_list_mirrors_the_source_and_metrics_md() {
    let listed: BTreeSet<&str> = METRICS.iter().copied().collect();
    assert_eq!(listed.len(), METRICS.len(), "METRICS has duplicates");

    // Every family registered in src/export/metrics.rs (outside its tests).
    let src = read("src/export/metrics.rs");
    let src = src.split("#[cfg(test)]").next().unwrap_or("");
    let registered: BTreeSet<&str> = src
        .match_indices("\"mirrorwatch_")
        .filter_map(|(i, _)| {
            let rest = &src[i + 1..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
            (end > "mirrorwatch_".len() && rest[end..].starts_with('"')).then(|| &rest[..end])
        })
        .collect();
    assert_eq!(
        listed, registered,
        "METRICS against the families registered in src/export/metrics.rs"
    );

    // Every family has its heading in docs/metrics.md.
    let docs = read("docs/metrics.md");
    let documented: BTreeSet<&str> = docs
        .lines()
        .filter(|l| l.starts_with("### "))
        .flat_map(|l| l.split('`').skip(1).step_by(2))
        .filter(|n| n.starts_with("mirrorwatch_"))
        .collect();
    assert_eq!(
        listed, documented,
        "METRICS against the ### headings of docs/metrics.md"
    );

    // The alert kinds: those of src/detect/alert.rs, each in docs/metrics.md.
    let alert_src = read("src/detect/alert.rs");
    // The variants of `pub enum AlertKind { Variant => "label", ... }`.
    let kinds: BTreeSet<&str> = alert_src
        .lines()
        .skip_while(|l| !l.contains("pub enum AlertKind {"))
        .skip(1)
        .take_while(|l| l.trim() != "}")
        .filter_map(|l| l.split_once("=> \""))
        .map(|(_, r)| r.trim_end_matches(['"', ',']))
        .collect();
    let listed_kinds: BTreeSet<&str> = ALERT_KINDS.iter().copied().collect();
    assert_eq!(
        listed_kinds, kinds,
        "ALERT_KINDS against src/detect/alert.rs"
    );
    for k in ALERT_KINDS {
        assert!(
            docs.contains(&format!("`{k}`")),
            "docs/metrics.md does not document the alert kind {k}"
        );
    }
}

#[test]
fn dashboard_is_importable() {
    let d = dashboard();
    assert!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
        "schemaVersion {}",
        d["schemaVersion"]
    );
    assert_eq!(d["uid"], "mirrorwatch");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        d["id"].is_null(),
        "an importable dashboard carries no database id"
    );

    let vars: BTreeMap<&str, &Value> = d["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .map(|v| (v["name"].as_str().unwrap_or(""), v))
        .collect();
    let ds = vars.get("datasource").expect("a datasource variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    assert_eq!(
        ds["current"]["value"], DATASOURCE_UID,
        "defaults to the provisioned datasource"
    );
    for name in ["job", "instance"] {
        let v = vars
            .get(name)
            .unwrap_or_else(|| panic!("a {name} variable"));
        assert_eq!(v["type"], "query", "{name}");
        assert_eq!(v["datasource"]["uid"], "${datasource}", "{name}");
        assert_eq!(v["includeAll"], true, "{name}");
        assert_eq!(v["multi"], true, "{name}");
    }

    let panels = common::all_panels(&d);
    let mut ids = BTreeSet::new();
    for p in &panels {
        let id = p["id"].as_u64().expect("every panel has a numeric id");
        assert!(ids.insert(id), "panel id {id} used twice");
        let gp = &p["gridPos"];
        for k in ["x", "y", "w", "h"] {
            assert!(gp[k].is_u64(), "panel {} gridPos.{k}", p["title"]);
        }
        assert!(gp["x"].as_u64().unwrap() + gp["w"].as_u64().unwrap() <= 24);
        if p["type"] == "row" || p["type"] == "text" {
            continue;
        }
        assert_eq!(
            p["datasource"]["type"], "prometheus",
            "panel {}",
            p["title"]
        );
        assert_eq!(
            p["datasource"]["uid"], "${datasource}",
            "panel {}",
            p["title"]
        );
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {} has no query", p["title"]);
        for t in targets {
            assert_eq!(
                t["datasource"]["uid"], "${datasource}",
                "panel {}",
                p["title"]
            );
        }
    }

    let rows: Vec<String> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| p["title"].as_str().unwrap_or("").to_lowercase())
        .collect();
    for want in [
        "sensor health",
        "mirror sessions",
        "mirrored",
        "duplicates",
        "alerts",
        "configuration",
        "about",
    ] {
        assert!(
            rows.iter().any(|r| r.contains(want)),
            "no row titled like {want:?}: {rows:?}"
        );
    }
}

#[test]
fn dashboard_uses_only_exported_metrics_and_the_job_instance_variables() {
    let d = dashboard();
    let exprs = panel_exprs(&d);
    assert!(exprs.len() >= 20, "only {} panel queries", exprs.len());
    let mut used = BTreeSet::new();
    for (title, e) in &exprs {
        let unknown = unknown_metrics(e);
        assert!(
            unknown.is_empty(),
            "panel {title:?} uses metrics the sensor does not export: {unknown:?}\n{e}"
        );
        let sels = selectors(e);
        assert!(!sels.is_empty(), "panel {title:?} reads no metric: {e}");
        for s in sels {
            let m = squeeze(&s.matchers);
            assert!(
                m.contains(r#"job=~"$job""#) && m.contains(r#"instance=~"$instance""#),
                "panel {title:?}: {} lacks {{job=~\"$job\", instance=~\"$instance\"}}: {e}",
                s.name
            );
            used.insert(s.name);
        }
    }
    let vars = variable_exprs(&d);
    assert!(vars.iter().any(|(n, _)| n == "job"));
    for (name, e) in &vars {
        let unknown = unknown_metrics(e);
        assert!(unknown.is_empty(), "variable {name}: {unknown:?} in {e}");
        if name == "instance" {
            let s = selectors(e);
            assert!(
                s.iter()
                    .all(|s| squeeze(&s.matchers).contains(r#"job=~"$job""#)),
                "the instance variable follows $job: {e}"
            );
        }
    }
    // Each part of the brief has its data on the dashboard.
    for m in [
        "up",
        "mirrorwatch_capture_up",
        "mirrorwatch_capture_received_packets_total",
        "mirrorwatch_capture_kernel_dropped_packets_total",
        "mirrorwatch_decode_errors_total",
        "mirrorwatch_process_lag_seconds",
        "mirrorwatch_session_mirrored_bytes_total",
        "mirrorwatch_inventory_active_sessions",
        "mirrorwatch_detect_duplicate_packets_total",
        "mirrorwatch_detect_alerts_total",
        "mirrorwatch_config_events_total",
        "mirrorwatch_config_correlated_sessions",
    ] {
        assert!(used.contains(m), "no panel shows {m}");
    }
}

#[test]
fn sessions_table_lists_each_session_and_flags_external_ones() {
    let d = dashboard();
    let panels = common::all_panels(&d);
    let table = panels
        .iter()
        .find(|p| {
            p["type"] == "table"
                && p["targets"].as_array().into_iter().flatten().any(|t| {
                    t["expr"]
                        .as_str()
                        .is_some_and(|e| e.contains("mirrorwatch_session_mirrored_bytes_total"))
                })
        })
        .expect("a table panel over mirrorwatch_session_mirrored_bytes_total");
    let t = table["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            t["expr"]
                .as_str()
                .is_some_and(|e| e.contains("mirrorwatch_session_mirrored_bytes_total"))
        })
        .unwrap();
    assert_eq!(t["instant"], true, "an instant query");
    assert_eq!(t["format"], "table", "labels become columns");
    let e = t["expr"].as_str().unwrap();
    for label in ["encap", "src", "dst", "id", "dst_class", "verdict"] {
        assert!(
            e.split(['(', ')', ',', ' ']).any(|w| w == label),
            "the table keeps the {label} label: {e}"
        );
    }
    // dst_class values are mapped to colours; external and internal stand out.
    let overrides = table["fieldConfig"]["overrides"]
        .as_array()
        .expect("overrides");
    let dst_class = overrides
        .iter()
        .find(|o| o["matcher"]["options"] == "dst_class")
        .expect("an override on the dst_class column");
    let text = dst_class.to_string();
    for want in [
        "\"external\"",
        "\"internal\"",
        "\"red\"",
        "color-background",
    ] {
        assert!(
            text.contains(want),
            "dst_class override lacks {want}: {text}"
        );
    }
}

#[test]
fn configuration_row_shows_events_correlation_and_config_alerts() {
    let d = dashboard();
    let panels = common::all_panels(&d);
    let y = |p: &Value| p["gridPos"]["y"].as_u64().unwrap_or(0);
    let row = panels
        .iter()
        .find(|p| {
            p["type"] == "row"
                && p["title"]
                    .as_str()
                    .is_some_and(|t| t.to_lowercase().contains("configuration"))
        })
        .expect("a Configuration changes row");
    let next_row = panels
        .iter()
        .filter(|p| p["type"] == "row" && y(p) > y(row))
        .map(|p| y(p))
        .min()
        .unwrap_or(u64::MAX);
    let in_row: Vec<&&Value> = panels
        .iter()
        .filter(|p| p["type"] != "row" && y(p) > y(row) && y(p) < next_row)
        .collect();
    let exprs: Vec<(&str, &str)> = in_row
        .iter()
        .flat_map(|p| {
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["expr"].as_str())
                .map(|e| (p["title"].as_str().unwrap_or(""), e))
        })
        .collect();
    let reading = |metric: &str| -> Vec<(&str, &str)> {
        exprs
            .iter()
            .copied()
            .filter(|(_, e)| selectors(e).iter().any(|s| s.name == metric))
            .collect()
    };

    let events = reading("mirrorwatch_config_events_total");
    assert!(
        events
            .iter()
            .any(|(_, e)| keeps_label(e, "platform") && keeps_label(e, "action")),
        "no panel of the row shows config events by platform and action: {events:?}"
    );
    assert!(
        events.iter().any(|(_, e)| e.contains("rate(")),
        "no panel of the row shows config events per second: {events:?}"
    );

    let correlated = reading("mirrorwatch_config_correlated_sessions");
    let (title, e) = correlated
        .iter()
        .find(|(_, e)| keeps_label(e, "state"))
        .unwrap_or_else(|| {
            panic!("no panel of the row shows correlated and uncorrelated sessions: {correlated:?}")
        });
    assert!(
        selectors(e)
            .iter()
            .all(|s| matcher_values(&s.matchers, "state").is_empty()),
        "{title}: both states, correlated and uncorrelated: {e}"
    );
    let panel = in_row.iter().find(|p| p["title"] == *title).unwrap();
    let uncorrelated = panel["fieldConfig"]["overrides"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["matcher"]["options"] == "uncorrelated")
        .unwrap_or_else(|| panic!("{title}: no override for uncorrelated"));
    assert!(
        uncorrelated.to_string().contains("\"red\""),
        "{title}: uncorrelated sessions are red: {uncorrelated}"
    );

    let config_kinds: BTreeSet<&str> = CONFIG_ALERT_RULES.iter().map(|(k, _)| *k).collect();
    let alerts = reading("mirrorwatch_detect_alerts_total");
    assert!(
        !alerts.is_empty(),
        "no panel of the row shows config alerts"
    );
    for (title, e) in &alerts {
        for s in selectors(e)
            .iter()
            .filter(|s| s.name == "mirrorwatch_detect_alerts_total")
        {
            let kinds: BTreeSet<String> = matcher_values(&s.matchers, "kind").into_iter().collect();
            let kinds: BTreeSet<&str> = kinds.iter().map(String::as_str).collect();
            assert_eq!(kinds, config_kinds, "{title}: the configuration kinds: {e}");
        }
        assert!(
            keeps_label(e, "kind") && keeps_label(e, "severity"),
            "{title}: by kind and severity (mirror_config_change is medium or high): {e}"
        );
    }
}

/// The panels below the row whose title contains `title` (lower case),
/// down to the next row.
fn panels_in_row<'a>(panels: &[&'a Value], title: &str) -> Vec<&'a Value> {
    let y = |p: &Value| p["gridPos"]["y"].as_u64().unwrap_or(0);
    let row = panels
        .iter()
        .find(|p| {
            p["type"] == "row"
                && p["title"]
                    .as_str()
                    .is_some_and(|t| t.to_lowercase().contains(title))
        })
        .unwrap_or_else(|| panic!("no row titled like {title:?}"));
    let next_row = panels
        .iter()
        .filter(|p| p["type"] == "row" && y(p) > y(row))
        .map(|p| y(p))
        .min()
        .unwrap_or(u64::MAX);
    panels
        .iter()
        .copied()
        .filter(|p| p["type"] != "row" && y(p) > y(row) && y(p) < next_row)
        .collect()
}

#[test]
fn flow_row_shows_exporters_templates_errors_and_flow_alerts() {
    let d = dashboard();
    let panels = common::all_panels(&d);
    let in_row = panels_in_row(&panels, "flow records");
    let exprs: Vec<(&Value, &str)> = in_row
        .iter()
        .flat_map(|p| {
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["expr"].as_str())
                .map(move |e| (*p, e))
        })
        .collect();
    let reading = |metric: &str| -> Vec<(&Value, &str)> {
        exprs
            .iter()
            .copied()
            .filter(|(_, e)| selectors(e).iter().any(|s| s.name == metric))
            .collect()
    };
    // Every flow family, and the labels that say where it comes from.
    for (metric, labels) in [
        (
            "mirrorwatch_flow_received_records_total",
            &["exporter", "format"][..],
        ),
        (
            "mirrorwatch_flow_received_datagrams_total",
            &["exporter", "format"],
        ),
        ("mirrorwatch_flow_sampling_interval_packets", &["exporter"]),
        ("mirrorwatch_flow_active_templates", &["exporter"]),
        ("mirrorwatch_flow_template_missed_sets_total", &[]),
        ("mirrorwatch_flow_pending_sets", &[]),
        ("mirrorwatch_flow_dropped_sets_total", &[]),
        ("mirrorwatch_flow_decode_errors_total", &["kind"]),
        ("mirrorwatch_flow_queue_dropped_datagrams_total", &[]),
        ("mirrorwatch_flow_kernel_dropped_datagrams_total", &[]),
        ("mirrorwatch_flow_mirror_sessions", &["dst_class"]),
    ] {
        let found = reading(metric);
        assert!(
            !found.is_empty(),
            "no panel of the Flow records row shows {metric}"
        );
        for label in labels {
            assert!(
                found.iter().any(|(_, e)| keeps_label(e, label)),
                "no panel of the Flow records row shows {metric} by {label}: {:?}",
                found.iter().map(|(_, e)| *e).collect::<Vec<_>>()
            );
        }
    }
    let (sessions, _) = reading("mirrorwatch_flow_mirror_sessions")[0];
    assert_eq!(
        sessions["type"], "stat",
        "flow-detected mirror sessions are a stat"
    );
    let external = sessions["fieldConfig"]["overrides"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["matcher"]["options"] == "external")
        .expect("an override for external flow mirror sessions");
    assert!(
        external.to_string().contains("\"red\""),
        "external flow mirror sessions are red: {external}"
    );
    // The flow alerts: flow_volume_shift only, by severity (medium or high).
    let alerts = reading("mirrorwatch_detect_alerts_total");
    assert!(
        !alerts.is_empty(),
        "no panel of the row shows flow_volume_shift"
    );
    for (p, e) in &alerts {
        for s in selectors(e)
            .iter()
            .filter(|s| s.name == "mirrorwatch_detect_alerts_total")
        {
            assert_eq!(
                matcher_values(&s.matchers, "kind"),
                ["flow_volume_shift"],
                "{}: {e}",
                p["title"]
            );
        }
        assert!(
            keeps_label(e, "severity"),
            "{}: by severity: {e}",
            p["title"]
        );
    }
}

#[test]
fn alert_kinds_read_are_the_sensors() {
    let d = dashboard();
    let mut exprs: Vec<(String, String)> = panel_exprs(&d);
    for r in prometheus_rules().iter().chain(grafana_rules().iter()) {
        exprs.extend(r.values("expr").into_iter().map(|e| (r.name.clone(), e)));
    }
    for (origin, e) in &exprs {
        for s in selectors(e)
            .iter()
            .filter(|s| s.name == "mirrorwatch_detect_alerts_total")
        {
            for k in matcher_values(&s.matchers, "kind") {
                assert!(
                    ALERT_KINDS.contains(&k.as_str()),
                    "{origin}: the sensor raises no alert kind {k:?}: {e}"
                );
            }
            for sev in matcher_values(&s.matchers, "severity") {
                assert!(
                    ["info", "low", "medium", "high"].contains(&sev.as_str()),
                    "{origin}: no alert severity {sev:?}: {e}"
                );
            }
        }
    }
}

#[test]
fn text_panel_explains_every_panel() {
    let d = dashboard();
    let panels = common::all_panels(&d);
    let text = panels
        .iter()
        .find(|p| p["type"] == "text")
        .expect("a text panel");
    let content = text["options"]["content"].as_str().expect("content");
    for p in &panels {
        if p["type"] == "row" || p["type"] == "text" {
            continue;
        }
        let title = p["title"].as_str().unwrap();
        let line = content
            .lines()
            .find(|l| l.contains(&format!("**{title}**")))
            .unwrap_or_else(|| panic!("the text panel does not explain {title:?}"));
        assert!(
            line.len() > title.len() + 20,
            "one real line for {title:?}: {line}"
        );
    }
}

// ---------------------------------------------------------------------
// Rule files, read with simple line scanning (no YAML crate).

/// Indentation of a line.
fn indent(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

/// The value of `key:` on line `i` (which may start with `- `): the inline
/// text without quotes, or the block scalar (`|`, `>`) below it.
fn value_at(lines: &[&str], i: usize, key: &str) -> Option<String> {
    let t = lines[i].trim_start();
    let t = t.strip_prefix("- ").unwrap_or(t).trim_start();
    let rest = t.strip_prefix(key)?.strip_prefix(':')?;
    let rest = rest.trim();
    if rest.starts_with('|') || rest.starts_with('>') {
        let base = indent(lines[i]);
        let mut out = Vec::new();
        for l in &lines[i + 1..] {
            if !l.trim().is_empty() && indent(l) <= base {
                break;
            }
            out.push(l.trim());
        }
        while out.last() == Some(&"") {
            out.pop();
        }
        let sep = if rest.starts_with('|') { "\n" } else { " " };
        Some(out.join(sep))
    } else {
        let rest = rest.split(" #").next().unwrap_or("").trim();
        Some(rest.trim_matches(|c| c == '"' || c == '\'').to_string())
    }
}

/// One rule of a rule file: the lines from its start marker to the next.
struct Rule {
    name: String,
    lines: Vec<String>,
}

impl Rule {
    fn values(&self, key: &str) -> Vec<String> {
        let lines: Vec<&str> = self.lines.iter().map(String::as_str).collect();
        (0..lines.len())
            .filter_map(|i| value_at(&lines, i, key))
            .collect()
    }
    /// The one value of `key` anywhere in the rule.
    fn value(&self, key: &str) -> String {
        let v = self.values(key);
        assert_eq!(v.len(), 1, "rule {}: {key} {v:?}", self.name);
        v.into_iter().next().unwrap()
    }
    /// The value of `key` among the rule's own keys (not nested ones).
    fn top(&self, key: &str) -> String {
        fn key_column(l: &str) -> usize {
            indent(l)
                + if l.trim_start().starts_with("- ") {
                    2
                } else {
                    0
                }
        }
        let lines: Vec<&str> = self.lines.iter().map(String::as_str).collect();
        let col = key_column(lines[0]);
        let v: Vec<String> = (0..lines.len())
            .filter(|&i| key_column(lines[i]) == col)
            .filter_map(|i| value_at(&lines, i, key))
            .collect();
        assert_eq!(v.len(), 1, "rule {}: {key} {v:?}", self.name);
        v.into_iter().next().unwrap()
    }
}

/// Splits a rule file at each line whose key is `marker` (`alert`, `uid`).
fn rules(text: &str, marker: &str, name_key: &str) -> Vec<Rule> {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim_start().starts_with(&format!("- {marker}:")))
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, &s)| {
            let end = starts.get(n + 1).copied().unwrap_or(lines.len());
            let body: Vec<String> = lines[s..end].iter().map(|l| l.to_string()).collect();
            let refs: Vec<&str> = body.iter().map(String::as_str).collect();
            let name = (0..refs.len())
                .find_map(|i| value_at(&refs, i, name_key))
                .expect("rule name");
            Rule { name, lines: body }
        })
        .collect()
}

fn prometheus_rules() -> Vec<Rule> {
    rules(
        &read("grafana/alerts/prometheus-rules.yml"),
        "alert",
        "alert",
    )
}

fn grafana_rules() -> Vec<Rule> {
    rules(
        &read("grafana/provisioning/alerting/mirrorwatch-rules.yml"),
        "uid",
        "title",
    )
}

fn check_rule_exprs(file: &str, rules: &[Rule]) -> BTreeMap<String, BTreeSet<String>> {
    let mut metrics = BTreeMap::new();
    for r in rules {
        let exprs = r.values("expr");
        assert_eq!(
            exprs.len(),
            1,
            "{file}: rule {} has {} exprs",
            r.name,
            exprs.len()
        );
        let e = &exprs[0];
        let unknown = unknown_metrics(e);
        assert!(
            unknown.is_empty(),
            "{file}: rule {} uses metrics the sensor does not export: {unknown:?}\n{e}",
            r.name
        );
        let names: BTreeSet<String> = selectors(e).into_iter().map(|s| s.name).collect();
        assert!(!names.is_empty(), "{file}: rule {} reads no metric", r.name);
        metrics.insert(r.name.clone(), names);
    }
    metrics
}

fn check_annotations(file: &str, r: &Rule, metrics: &BTreeSet<String>) {
    let summary = r.value("summary");
    let description = r.value("description");
    let runbook = r.value("runbook");
    let both = format!("{summary} {description}");
    assert!(
        both.contains("$labels.instance"),
        "{file}: {} does not name the sensor ({{{{ $labels.instance }}}})",
        r.name
    );
    if metrics
        .iter()
        .any(|m| PER_SESSION_METRICS.contains(&m.as_str()))
    {
        for label in ["encap", "src", "dst", "id"] {
            assert!(
                description.contains(&format!("$labels.{label} ")),
                "{file}: {} has per-session labels but its description does not name {label}",
                r.name
            );
        }
    }
    for part in ["Verify", "Escalate", "Contain"] {
        assert!(
            runbook.contains(part),
            "{file}: {} runbook has no {part:?} step",
            r.name
        );
    }
    if r.name.contains("Mirror") {
        for want in ["change record", "disable", "evidence", "pcap"] {
            assert!(
                runbook.contains(want),
                "{file}: {} runbook does not mention {want:?}",
                r.name
            );
        }
    }
}

#[test]
fn prometheus_rules_use_only_exported_metrics() {
    let file = "grafana/alerts/prometheus-rules.yml";
    let rules = prometheus_rules();
    let metrics = check_rule_exprs(file, &rules);
    for (name, severity) in REQUIRED_RULES {
        let r = rules
            .iter()
            .find(|r| r.name == *name)
            .unwrap_or_else(|| panic!("{file}: no rule {name}"));
        let got = r.value("severity");
        assert!(
            ["critical", "warning", "info"].contains(&got.as_str()),
            "{file}: {name} severity {got}"
        );
        if !severity.is_empty() {
            assert_eq!(&got, severity, "{file}: {name} severity");
        }
    }
    for r in &rules {
        check_annotations(file, r, &metrics[&r.name]);
    }
    let down = &metrics["SensorDown"];
    assert!(down.contains("up"), "SensorDown reads up");
    let e = rules
        .iter()
        .find(|r| r.name == "SensorDown")
        .unwrap()
        .value("expr");
    assert!(
        e.contains("absent("),
        "SensorDown also fires when no sensor is scraped"
    );
    assert_eq!(
        rules
            .iter()
            .find(|r| r.name == "MirrorToExternal")
            .unwrap()
            .top("for"),
        "0m",
        "the critical rule fires at once"
    );
}

#[test]
fn grafana_rules_mirror_the_prometheus_rules() {
    let file = "grafana/provisioning/alerting/mirrorwatch-rules.yml";
    let text = read(file);
    assert!(
        text.lines().any(|l| l.trim() == "apiVersion: 1"),
        "{file}: apiVersion 1"
    );
    for key in ["folder:", "interval:", "name:"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(key)),
            "{file}: no {key}"
        );
    }
    let grafana = grafana_rules();
    let g_metrics = check_rule_exprs(file, &grafana);
    let prom = prometheus_rules();
    let p_metrics = check_rule_exprs("prometheus-rules.yml", &prom);

    let g_names: BTreeSet<&str> = grafana.iter().map(|r| r.name.as_str()).collect();
    let p_names: BTreeSet<&str> = prom.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(g_names, p_names, "both files hold the same rules");
    assert_eq!(g_names.len(), grafana.len(), "titles are unique");

    let mut uids = BTreeSet::new();
    for g in &grafana {
        let p = prom.iter().find(|p| p.name == g.name).unwrap();
        assert!(uids.insert(g.top("uid")), "uid of {} used twice", g.name);
        assert!(
            g.top("uid").len() <= 40,
            "Grafana uids have at most 40 characters"
        );
        assert_eq!(
            g.value("severity"),
            p.value("severity"),
            "{}: severity",
            g.name
        );
        assert_eq!(g.top("for"), p.top("for"), "{}: for", g.name);
        assert_eq!(
            g_metrics[&g.name], p_metrics[&g.name],
            "{}: metrics read",
            g.name
        );
        let sources = g.values("datasourceUid");
        let queries: Vec<&String> = sources.iter().filter(|s| *s != "__expr__").collect();
        assert_eq!(queries.len(), 1, "{}: one query {sources:?}", g.name);
        assert_eq!(
            queries[0], DATASOURCE_UID,
            "{}: the provisioned datasource",
            g.name
        );
        let types = g.values("type");
        for t in ["reduce", "threshold"] {
            assert!(
                types.iter().any(|x| x == t),
                "{}: no {t} expression",
                g.name
            );
        }
        assert_eq!(g.top("condition"), "C", "{}", g.name);
        check_annotations(file, g, &g_metrics[&g.name]);
    }
}

#[test]
fn configuration_rules_read_the_config_alert_kinds() {
    for (file, rules) in [
        ("grafana/alerts/prometheus-rules.yml", prometheus_rules()),
        (
            "grafana/provisioning/alerting/mirrorwatch-rules.yml",
            grafana_rules(),
        ),
    ] {
        for (kind, name) in CONFIG_ALERT_RULES {
            let r = rules
                .iter()
                .find(|r| r.name == *name)
                .unwrap_or_else(|| panic!("{file}: no rule {name}"));
            let e = r.value("expr");
            let sels = selectors(&e);
            let counters: Vec<&Selector> = sels
                .iter()
                .filter(|s| s.name == "mirrorwatch_detect_alerts_total")
                .collect();
            assert!(
                !counters.is_empty(),
                "{file}: {name} reads no alert counter"
            );
            for s in &counters {
                assert_eq!(
                    matcher_values(&s.matchers, "kind"),
                    [*kind],
                    "{file}: {name} reads kind {kind}: {e}"
                );
            }
            assert_eq!(
                r.value("mitre_technique"),
                "T1020.001",
                "{file}: {name} technique"
            );
            // mirror_config_change comes as medium or high: the two rules
            // share it out by the counter's severity label.
            match *name {
                "MirrorConfigChange" => {
                    for s in &counters {
                        assert!(
                            squeeze(&s.matchers).contains(r#"severity!="high""#),
                            "{file}: {name} leaves high events to MirrorConfigChangeHighRisk: {e}"
                        );
                    }
                }
                "MirrorConfigChangeHighRisk" => {
                    for s in &counters {
                        assert_eq!(
                            matcher_values(&s.matchers, "severity"),
                            ["high"],
                            "{file}: {name} reads the high events: {e}"
                        );
                    }
                }
                "MirrorWithoutConfig" => {
                    let gauge = sels
                        .iter()
                        .find(|s| s.name == "mirrorwatch_config_correlated_sessions")
                        .unwrap_or_else(|| {
                            panic!("{file}: {name} reads the uncorrelated sessions: {e}")
                        });
                    assert_eq!(
                        matcher_values(&gauge.matchers, "state"),
                        ["uncorrelated"],
                        "{file}: {name}: {e}"
                    );
                }
                _ => {}
            }
        }
    }
}

#[test]
fn provisioning_loads_datasource_and_dashboard() {
    let ds = read("grafana/provisioning/datasources/prometheus.yml");
    let lines: Vec<&str> = ds
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let get = |key: &str| -> Vec<String> {
        (0..lines.len())
            .filter_map(|i| value_at(&lines, i, key))
            .collect()
    };
    assert_eq!(get("apiVersion"), ["1"]);
    assert_eq!(get("type"), ["prometheus"]);
    assert_eq!(get("uid"), [DATASOURCE_UID]);
    assert_eq!(get("url"), ["${PROMETHEUS_URL}"]);
    let run = read("grafana/run-grafana.sh");
    assert!(
        run.contains("PROMETHEUS_URL=\"${PROMETHEUS_URL:-http://localhost:9090}\""),
        "run-grafana.sh gives PROMETHEUS_URL its default"
    );

    let dash = read("grafana/provisioning/dashboards/mirrorwatch.yml");
    let lines: Vec<&str> = dash
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let get = |key: &str| -> Vec<String> {
        (0..lines.len())
            .filter_map(|i| value_at(&lines, i, key))
            .collect()
    };
    assert_eq!(get("apiVersion"), ["1"]);
    assert_eq!(get("type"), ["file"]);
    let path = get("path");
    assert_eq!(path.len(), 1);
    // ${GF_PATHS_PROVISIONING} is grafana/provisioning: the path must lead
    // to grafana/dashboards.
    let resolved = path[0].replace(
        "${GF_PATHS_PROVISIONING}",
        &root().join("grafana/provisioning").to_string_lossy(),
    );
    assert!(
        Path::new(&resolved).join("mirrorwatch.json").is_file(),
        "the provider path {resolved} holds the dashboard"
    );
}

// ---------------------------------------------------------------------
// promtool

#[test]
fn promtool_checks_and_tests_the_rules() {
    let Some(promtool) = common::on_path("promtool") else {
        eprintln!("SKIPPED: promtool not installed (Debian package prometheus)");
        return;
    };
    for args in [
        ["check", "rules", "grafana/alerts/prometheus-rules.yml"],
        ["test", "rules", "grafana/alerts/prometheus-rules.test.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(root())
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
