//! `--alerts-format native|eve|ecs|ocsf`: every scenario capture in
//! `pcaps/` replayed with each format (configuration pcaps/golden.toml,
//! sensor name `golden`); every line parses and carries the fields
//! docs/alerts.md documents, checked against the native alert of the same
//! position (the golden `pcaps/<name>.alerts.jsonl`, itself checked by
//! tests/golden.rs). Beside the structural checks, hand-written
//! expectations from the scenario definitions (crates/synth):
//!
//! - erspan3: ERSPAN III session 7 from 10.1.0.3 to 203.0.113.50, an
//!   external collector: mirror_to_external is signature 1020002, severity
//!   1, outer ends 10.1.0.3 -> 203.0.113.50 over GRE, in `tunnel` too;
//! - payload-shadow: the POST payloads of 10.60.1.10:50610 -> 10.60.1.20:8080
//!   copied over 10.60.1.10:50611 -> 203.0.113.60:443: the
//!   duplicate_flow_to_external alert's flow is the copy, with the
//!   Community ID of that TCP 5-tuple (computed independently, by the spec's
//!   reference algorithm, as 1:qHbCCLQ8OTtICgYr/2kvfo6eRJ8=).
//!
//! With `MIRRORWATCH_EVE_SCHEMA` set to Suricata's `etc/schema.json`
//! (GPL-2.0, not shipped here), every EVE line is also validated against
//! it; without it that part prints `SKIPPED: ...`.
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

mod common;

const FORMATS: [&str; 4] = ["native", "eve", "ecs", "ocsf"];

/// Kinds in declaration order (their signature ids are 1020001 + index).
const KINDS: [&str; 10] = [
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
];

fn sid(kind: &str) -> u64 {
    let i = KINDS
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_else(|| panic!("unknown kind {kind}"));
    1_020_001 + i as u64
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!(
            "mirrorwatch-formats-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).expect("temporary directory");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Replays `pcap` writing its alerts in `format`; the parsed lines.
fn replay(dir: &Path, pcap: &Path, format: &str) -> (Vec<String>, Vec<Value>) {
    let stem = pcap.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
    let out = dir.join(format!("{stem}.{format}.jsonl"));
    let config = root().join("pcaps/golden.toml");
    let o = common::mirrorwatch(
        &[
            "replay",
            "--config",
            config.to_str().expect("utf-8 path"),
            "--format",
            "json",
            "--alerts",
            out.to_str().expect("utf-8 path"),
            "--alerts-format",
            format,
            pcap.to_str().expect("utf-8 path"),
        ],
        Duration::from_secs(60),
    );
    assert!(
        o.status.code().is_some(),
        "{stem} {format}: killed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let values = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{stem} {format}: {e}: {l}")))
        .collect();
    (lines, values)
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn is_eve_time(v: &Value) -> bool {
    // ^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+[+\-]\d+$ as in the schema.
    let Some(s) = v.as_str() else { return false };
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    b.len() >= 25
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && s[20..].split_once(['+', '-']).is_some_and(|(f, z)| {
            !f.is_empty()
                && f.bytes().all(|c| c.is_ascii_digit())
                && !z.is_empty()
                && z.bytes().all(|c| c.is_ascii_digit())
        })
}

/// The ends docs/alerts.md documents: the copy flow of a duplicate-flow
/// alert, else the outer ends of the session.
fn ends(n: &Value) -> (Option<&str>, Option<&str>) {
    if let Some(f) = n["flows"].as_array() {
        return (f[1]["src"].as_str(), f[1]["dst"].as_str());
    }
    if n["session"].is_object() {
        return (n["session"]["src"].as_str(), n["session"]["dst"].as_str());
    }
    (None, n["config_event"]["destination_ip"].as_str())
}

fn outer_proto(encap: &str) -> &'static str {
    match encap {
        "erspan1" | "erspan2" | "erspan3" | "gre" | "gre-teb" => "GRE",
        "vxlan" | "vxlan-gpe" | "geneve" | "tzsp" => "UDP",
        e => panic!("unknown encapsulation {e}"),
    }
}

fn check_eve(ctx: &str, n: &Value, e: &Value) {
    let o = e
        .as_object()
        .unwrap_or_else(|| panic!("{ctx}: not an object"));
    const TOP: [&str; 12] = [
        "timestamp",
        "event_type",
        "host",
        "src_ip",
        "src_port",
        "dest_ip",
        "dest_port",
        "proto",
        "community_id",
        "tunnel",
        "alert",
        "flow",
    ];
    for k in o.keys() {
        assert!(TOP.contains(&k.as_str()), "{ctx}: unexpected top-level {k}");
    }
    assert!(
        is_eve_time(&e["timestamp"]),
        "{ctx}: timestamp {}",
        e["timestamp"]
    );
    assert_eq!(
        e["timestamp"].as_str().map(|t| t.replace("+0000", "Z")),
        n["timestamp"].as_str().map(str::to_owned),
        "{ctx}"
    );
    assert_eq!(e["event_type"], "alert", "{ctx}");
    assert_eq!(e["host"], "golden", "{ctx}");
    let kind = n["kind"].as_str().expect("native kind");
    let a = &e["alert"];
    assert_eq!(a["action"], "allowed", "{ctx}");
    assert_eq!(a["gid"], 1, "{ctx}");
    assert_eq!(a["signature_id"].as_u64(), Some(sid(kind)), "{ctx}");
    assert_eq!(a["rev"], 1, "{ctx}");
    assert!(
        a["signature"]
            .as_str()
            .is_some_and(|s| s.starts_with("MIRRORWATCH ")),
        "{ctx}: signature"
    );
    assert!(
        a["category"].as_str().is_some_and(|s| !s.is_empty()),
        "{ctx}: category"
    );
    let sev = match n["severity"].as_str() {
        Some("high") => 1,
        Some("medium") => 2,
        Some("low" | "info") => 3,
        s => panic!("{ctx}: severity {s:?}"),
    };
    assert_eq!(a["severity"], sev, "{ctx}");
    let md = a["metadata"].as_object().expect("alert.metadata");
    for (k, v) in md {
        let arr = v
            .as_array()
            .unwrap_or_else(|| panic!("{ctx}: metadata {k} not an array"));
        assert!(
            !arr.is_empty() && arr.iter().all(Value::is_string),
            "{ctx}: metadata {k} is not a list of strings"
        );
    }
    assert_eq!(strs(&a["metadata"]["mitre_tactic_id"]), ["TA0010"], "{ctx}");
    assert_eq!(
        strs(&a["metadata"]["mitre_technique_id"]),
        ["T1020.001"],
        "{ctx}"
    );
    assert_eq!(strs(&a["metadata"]["mirrorwatch_kind"]), [kind], "{ctx}");
    let (src, dst) = ends(n);
    assert_eq!(e["src_ip"].as_str(), src, "{ctx}");
    assert_eq!(e["dest_ip"].as_str(), dst, "{ctx}");
    if let Some(s) = n["session"].as_object() {
        let t = &e["tunnel"];
        assert_eq!(t["src_ip"], s["src"], "{ctx}");
        assert_eq!(t["dest_ip"], s["dst"], "{ctx}");
        let p = outer_proto(s["encap"].as_str().unwrap_or(""));
        assert_eq!(t["proto"], p, "{ctx}");
        assert_eq!(e["proto"], p, "{ctx}");
        assert_eq!(t["depth"], 1, "{ctx}");
        assert!(e.get("community_id").is_none(), "{ctx}: no inner flow");
    } else {
        assert!(e.get("tunnel").is_none(), "{ctx}: tunnel without session");
    }
    if let Some(f) = n["flows"].as_array() {
        assert_eq!(e["src_port"], f[1]["src_port"], "{ctx}");
        assert_eq!(e["dest_port"], f[1]["dst_port"], "{ctx}");
        let cid = e["community_id"].as_str().unwrap_or("");
        assert!(
            cid.starts_with("1:") && cid.len() == 30,
            "{ctx}: community_id {cid}"
        );
    }
    assert_eq!(e["flow"]["pkts_toserver"], n["counts"]["packets"], "{ctx}");
    assert_eq!(e["flow"]["bytes_toserver"], n["counts"]["bytes"], "{ctx}");
    assert!(is_eve_time(&e["flow"]["start"]), "{ctx}: flow.start");
    assert!(is_eve_time(&e["flow"]["end"]), "{ctx}: flow.end");
}

fn check_ecs(ctx: &str, n: &Value, e: &Value) {
    assert_eq!(e["@timestamp"], n["timestamp"], "{ctx}");
    let ev = &e["event"];
    assert_eq!(ev["kind"], "alert", "{ctx}");
    assert_eq!(
        strs(&ev["category"]),
        ["network", "intrusion_detection"],
        "{ctx}"
    );
    assert!(!strs(&ev["type"]).is_empty(), "{ctx}: event.type");
    let sev = match n["severity"].as_str() {
        Some("info") => 1,
        Some("low") => 2,
        Some("medium") => 3,
        Some("high") => 4,
        s => panic!("{ctx}: severity {s:?}"),
    };
    assert_eq!(ev["severity"], sev, "{ctx}");
    assert_eq!(ev["dataset"], "mirrorwatch.alert", "{ctx}");
    assert_eq!(ev["action"], n["kind"], "{ctx}");
    let kind = n["kind"].as_str().expect("kind");
    assert_eq!(e["rule"]["id"], sid(kind).to_string(), "{ctx}");
    assert!(
        e["rule"]["name"]
            .as_str()
            .is_some_and(|s| s.starts_with("MIRRORWATCH ")),
        "{ctx}: rule.name"
    );
    let t = &e["threat"];
    assert_eq!(t["framework"], "MITRE ATT&CK", "{ctx}");
    assert_eq!(strs(&t["tactic"]["id"]), ["TA0010"], "{ctx}");
    assert_eq!(strs(&t["tactic"]["name"]), ["Exfiltration"], "{ctx}");
    assert_eq!(strs(&t["technique"]["id"]), ["T1020"], "{ctx}");
    assert_eq!(
        strs(&t["technique"]["name"]),
        ["Automated Exfiltration"],
        "{ctx}"
    );
    assert_eq!(
        strs(&t["technique"]["subtechnique"]["id"]),
        ["T1020.001"],
        "{ctx}"
    );
    assert_eq!(
        strs(&t["technique"]["subtechnique"]["name"]),
        ["Traffic Duplication"],
        "{ctx}"
    );
    assert_eq!(e["observer"]["name"], "golden", "{ctx}");
    assert_eq!(e["message"], n["message"], "{ctx}");
    assert_eq!(e["network"]["packets"], n["counts"]["packets"], "{ctx}");
    assert_eq!(e["network"]["bytes"], n["counts"]["bytes"], "{ctx}");
    let (src, dst) = ends(n);
    assert_eq!(e["source"]["ip"].as_str(), src, "{ctx}");
    assert_eq!(e["destination"]["ip"].as_str(), dst, "{ctx}");
    if let Some(s) = n["session"].as_object() {
        let p = outer_proto(s["encap"].as_str().unwrap_or("")).to_ascii_lowercase();
        assert_eq!(e["network"]["transport"], p.as_str(), "{ctx}");
        let v6 = s["src"].as_str().is_some_and(|a| a.contains(':'));
        assert_eq!(
            e["network"]["type"],
            if v6 { "ipv6" } else { "ipv4" },
            "{ctx}"
        );
    }
    if let Some(f) = n["flows"].as_array() {
        assert_eq!(e["source"]["port"], f[1]["src_port"], "{ctx}");
        assert_eq!(e["destination"]["port"], f[1]["dst_port"], "{ctx}");
        assert!(
            e["network"]["community_id"]
                .as_str()
                .is_some_and(|c| c.starts_with("1:")),
            "{ctx}: network.community_id"
        );
    }
    assert_eq!(e["mirrorwatch"]["kind"], n["kind"], "{ctx}");
}

fn check_ocsf(ctx: &str, n: &Value, e: &Value) {
    assert_eq!(e["class_uid"], 2004, "{ctx}");
    assert_eq!(e["category_uid"], 2, "{ctx}");
    assert_eq!(e["activity_id"], 1, "{ctx}");
    assert_eq!(e["type_uid"], 200401, "{ctx}");
    let sev = match n["severity"].as_str() {
        Some("info") => 1,
        Some("low") => 2,
        Some("medium") => 3,
        Some("high") => 4,
        s => panic!("{ctx}: severity {s:?}"),
    };
    assert_eq!(e["severity_id"], sev, "{ctx}");
    // The native timestamp in milliseconds (jiff reads RFC 3339).
    let t = e["time"].as_i64().expect("time in ms");
    let native: jiff::Timestamp = n["timestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{ctx}: native timestamp {}", n["timestamp"]));
    assert_eq!(t, native.as_millisecond(), "{ctx}: time");
    let fi = &e["finding_info"];
    let uid = fi["uid"].as_str().unwrap_or("");
    assert!(
        uid.len() == 32 && uid.bytes().all(|c| c.is_ascii_hexdigit()),
        "{ctx}: uid {uid}"
    );
    assert!(
        fi["title"]
            .as_str()
            .is_some_and(|s| s.starts_with("MIRRORWATCH ")),
        "{ctx}"
    );
    assert!(
        strs(&fi["types"]).contains(&n["kind"].as_str().unwrap_or("?")),
        "{ctx}: types"
    );
    let kind = n["kind"].as_str().expect("kind");
    assert_eq!(fi["analytic"]["uid"], sid(kind).to_string(), "{ctx}");
    assert_eq!(fi["analytic"]["name"], kind, "{ctx}");
    assert_eq!(fi["analytic"]["type_id"], 1, "{ctx}");
    let a = &e["attacks"][0];
    assert_eq!(a["tactic"]["uid"], "TA0010", "{ctx}");
    assert_eq!(a["tactic"]["name"], "Exfiltration", "{ctx}");
    assert_eq!(a["technique"]["uid"], "T1020", "{ctx}");
    assert_eq!(a["sub_technique"]["uid"], "T1020.001", "{ctx}");
    let (src, dst) = ends(n);
    assert_eq!(e["src_endpoint"]["ip"].as_str(), src, "{ctx}");
    assert_eq!(e["dst_endpoint"]["ip"].as_str(), dst, "{ctx}");
    let ev = e["evidences"].as_array().expect("evidences");
    assert!(!ev.is_empty(), "{ctx}: evidences");
    assert_eq!(ev[0]["data"]["evidence"], n["evidence"], "{ctx}");
    assert_eq!(e["metadata"]["product"]["name"], "mirrorwatch", "{ctx}");
    assert_eq!(
        e["metadata"]["product"]["vendor_name"], "mirrorwatch",
        "{ctx}"
    );
    assert_eq!(
        e["metadata"]["product"]["version"],
        env!("CARGO_PKG_VERSION"),
        "{ctx}"
    );
    assert_eq!(e["metadata"]["version"], "1.3.0", "{ctx}");
    assert_eq!(e["message"], n["message"], "{ctx}");
}

/// Suricata's EVE schema, when `MIRRORWATCH_EVE_SCHEMA` names it.
fn eve_schema() -> Option<jsonschema::Validator> {
    let Some(p) = std::env::var_os("MIRRORWATCH_EVE_SCHEMA") else {
        eprintln!(
            "SKIPPED: EVE schema validation: MIRRORWATCH_EVE_SCHEMA is not set \
             (point it at Suricata's etc/schema.json); the structural checks ran"
        );
        return None;
    };
    let text = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("MIRRORWATCH_EVE_SCHEMA={}: {e}", p.to_string_lossy()));
    let schema: Value = serde_json::from_str(&text).expect("schema JSON");
    Some(jsonschema::validator_for(&schema).expect("a valid JSON schema"))
}

#[test]
fn every_scenario_in_every_format() {
    let dir = TempDir::new("all");
    let schema = eve_schema();
    let captures = common::captures_in(&common::project_pcaps());
    assert!(captures.len() >= 20, "scenario captures: {captures:?}");
    let mut kinds_seen = std::collections::BTreeSet::new();
    let mut validated = 0;
    for pcap in &captures {
        let stem = pcap
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("x")
            .to_string();
        let golden = std::fs::read_to_string(root().join(format!("pcaps/{stem}.alerts.jsonl")))
            .expect("golden alerts");
        let (native_lines, native) = replay(&dir.0, pcap, "native");
        // Native is unchanged by the option: the golden lines, byte for byte.
        assert_eq!(
            native_lines,
            golden.lines().map(str::to_owned).collect::<Vec<_>>(),
            "{stem}: native alerts differ from the golden file"
        );
        for format in &FORMATS[1..] {
            let (_, lines) = replay(&dir.0, pcap, format);
            assert_eq!(lines.len(), native.len(), "{stem} {format}: line count");
            for (i, (n, e)) in native.iter().zip(&lines).enumerate() {
                let ctx = format!("{stem} {format} line {}", i + 1);
                match *format {
                    "eve" => {
                        check_eve(&ctx, n, e);
                        if let Some(v) = &schema {
                            let errors: Vec<String> =
                                v.iter_errors(e).map(|err| err.to_string()).collect();
                            assert!(errors.is_empty(), "{ctx}: EVE schema: {errors:?}\n{e}");
                            validated += 1;
                        }
                    }
                    "ecs" => check_ecs(&ctx, n, e),
                    _ => check_ocsf(&ctx, n, e),
                }
                kinds_seen.insert(n["kind"].as_str().unwrap_or("").to_string());
            }
        }
    }
    if schema.is_some() {
        eprintln!("EVE schema: {validated} alerts valid");
        assert!(validated > 0);
    }
    // The scenarios cover the session, flow-pair and volume alerts.
    for k in [
        "mirror_session_new",
        "mirror_to_external",
        "mirror_to_unauthorized_internal",
        "duplicate_flow_to_external",
        "mirror_volume_spike",
        "authorized_mirror_expired",
    ] {
        assert!(
            kinds_seen.contains(k),
            "no scenario raised {k}: {kinds_seen:?}"
        );
    }
}

fn by_kind<'a>(lines: &'a [Value], key: &str, kind: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| {
            let v = key.split('.').fold(*l, |v, k| &v[k]);
            v == kind || strs(v).contains(&kind)
        })
        .unwrap_or_else(|| panic!("no {kind} alert in {lines:?}"))
}

#[test]
fn erspan3_external_mirror_in_each_format() {
    let dir = TempDir::new("erspan3");
    let pcap = root().join("pcaps/erspan3.pcap");
    let (_, eve) = replay(&dir.0, &pcap, "eve");
    let a = by_kind(
        &eve,
        "alert.metadata.mirrorwatch_kind",
        "mirror_to_external",
    );
    assert_eq!(a["timestamp"], "2026-01-01T00:00:00.000000+0000");
    assert_eq!(a["src_ip"], "10.1.0.3");
    assert_eq!(a["dest_ip"], "203.0.113.50");
    assert_eq!(a["proto"], "GRE");
    assert_eq!(
        a["tunnel"],
        serde_json::json!({"src_ip": "10.1.0.3", "dest_ip": "203.0.113.50", "proto": "GRE", "depth": 1})
    );
    assert_eq!(a["alert"]["signature_id"], 1_020_002);
    assert_eq!(a["alert"]["severity"], 1);
    assert_eq!(a["alert"]["category"], "Attempted Information Leak");
    assert_eq!(
        a["alert"]["signature"],
        "MIRRORWATCH traffic mirrored to an external destination"
    );
    assert_eq!(
        strs(&a["alert"]["metadata"]["mirrorwatch_session_id"]),
        ["7"]
    );
    assert_eq!(
        strs(&a["alert"]["metadata"]["mirrorwatch_encapsulation"]),
        ["erspan3"]
    );
    assert_eq!(
        strs(&a["alert"]["metadata"]["mirrorwatch_dst_class"]),
        ["external"]
    );
    let new = by_kind(
        &eve,
        "alert.metadata.mirrorwatch_kind",
        "mirror_session_new",
    );
    assert_eq!(new["alert"]["signature_id"], 1_020_001);
    assert_eq!(new["alert"]["severity"], 3);

    let (_, ecs) = replay(&dir.0, &pcap, "ecs");
    let a = by_kind(&ecs, "event.action", "mirror_to_external");
    assert_eq!(a["source"]["ip"], "10.1.0.3");
    assert_eq!(a["destination"]["ip"], "203.0.113.50");
    assert_eq!(a["network"]["transport"], "gre");
    assert_eq!(a["network"]["iana_number"], "47");
    assert_eq!(a["event"]["severity"], 4);
    assert_eq!(a["mirrorwatch"]["session"]["id"], 7);

    let (_, ocsf) = replay(&dir.0, &pcap, "ocsf");
    let a = by_kind(&ocsf, "finding_info.analytic.name", "mirror_to_external");
    assert_eq!(a["time"], 1_767_225_600_000_i64);
    assert_eq!(a["severity_id"], 4);
    assert_eq!(a["src_endpoint"]["ip"], "10.1.0.3");
    assert_eq!(a["dst_endpoint"]["ip"], "203.0.113.50");
    assert_eq!(a["evidences"][0]["connection_info"]["protocol_num"], 47);
    assert_eq!(a["evidences"][0]["data"]["session"]["encap"], "erspan3");
}

#[test]
fn payload_shadow_duplicate_flow_carries_the_community_id() {
    let dir = TempDir::new("shadow");
    let pcap = root().join("pcaps/payload-shadow.pcap");
    let (_, eve) = replay(&dir.0, &pcap, "eve");
    let a = by_kind(
        &eve,
        "alert.metadata.mirrorwatch_kind",
        "duplicate_flow_to_external",
    );
    assert_eq!(a["src_ip"], "10.60.1.10");
    assert_eq!(a["src_port"], 50611);
    assert_eq!(a["dest_ip"], "203.0.113.60");
    assert_eq!(a["dest_port"], 443);
    assert_eq!(a["proto"], "TCP");
    assert_eq!(a["community_id"], "1:qHbCCLQ8OTtICgYr/2kvfo6eRJ8=");
    assert!(a.get("tunnel").is_none());
    assert_eq!(a["alert"]["signature_id"], 1_020_004);
    assert_eq!(
        strs(&a["alert"]["metadata"]["mirrorwatch_original_flow"]),
        ["TCP 10.60.1.10:50610 -> 10.60.1.20:8080"]
    );
    let (_, ecs) = replay(&dir.0, &pcap, "ecs");
    let a = by_kind(&ecs, "event.action", "duplicate_flow_to_external");
    assert_eq!(
        a["network"]["community_id"],
        "1:qHbCCLQ8OTtICgYr/2kvfo6eRJ8="
    );
    assert_eq!(a["network"]["transport"], "tcp");
    assert_eq!(a["destination"]["port"], 443);
}

#[test]
fn alerts_to_stdout_and_a_bad_format() {
    let pcap = root().join("pcaps/erspan3.pcap");
    let config = root().join("pcaps/golden.toml");
    let (p, c) = (pcap.to_str().expect("path"), config.to_str().expect("path"));
    let o = common::mirrorwatch(
        &[
            "replay",
            "--config",
            c,
            "--alerts",
            "-",
            "--alerts-format",
            "ocsf",
            p,
        ],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let findings: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["class_uid"] == 2004)
        .collect();
    assert_eq!(findings.len(), 2, "{stdout}");
    let o = common::mirrorwatch(
        &[
            "replay",
            "--config",
            c,
            "--alerts",
            "-",
            "--alerts-format",
            "suricata",
            p,
        ],
        Duration::from_secs(60),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("expected native, eve, ecs or ocsf"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `--alerts-syslog udp://...` without `--alerts`: each alert of the
/// erspan3 scenario arrives as one RFC 5424 datagram whose MSG is the EVE
/// line; a bad URL is refused before anything runs.
#[test]
fn alerts_to_a_syslog_collector() {
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    rx.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let url = format!("udp://{}", rx.local_addr().expect("addr"));
    let pcap = root().join("pcaps/erspan3.pcap");
    let config = root().join("pcaps/golden.toml");
    let (p, c) = (pcap.to_str().expect("path"), config.to_str().expect("path"));
    let o = common::mirrorwatch(
        &[
            "replay",
            "--config",
            c,
            "--alerts-syslog",
            &url,
            "--alerts-format",
            "eve",
            p,
        ],
        Duration::from_secs(60),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut kinds = Vec::new();
    let mut b = [0u8; 65_536];
    for _ in 0..2 {
        let n = rx.recv(&mut b).expect("a datagram per alert");
        let m = String::from_utf8_lossy(&b[..n]).to_string();
        // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] BOM MSG
        let f: Vec<&str> = m.splitn(7, ' ').collect();
        assert_eq!(f[1], "2026-01-01T00:00:00.000000Z", "{m}");
        assert_eq!(f[2], "golden", "{m}");
        assert_eq!(f[3], "mirrorwatch", "{m}");
        let (sd, msg) = f[6].split_once("] \u{feff}").expect("SD and MSG");
        assert!(sd.starts_with("[mirrorwatch@32473 kind=\""), "{m}");
        assert!(
            sd.contains("src=\"10.1.0.3\" dst=\"203.0.113.50\" id=\"7\""),
            "{m}"
        );
        let eve: Value = serde_json::from_str(msg).expect("MSG is the EVE line");
        assert_eq!(eve["event_type"], "alert");
        let pri = match f[5] {
            "mirror_to_external" => "<130>1", // local0, critical
            "mirror_session_new" => "<134>1", // local0, informational
            k => panic!("unexpected kind {k}"),
        };
        assert_eq!(f[0], pri, "{m}");
        assert_eq!(strs(&eve["alert"]["metadata"]["mirrorwatch_kind"]), [f[5]]);
        kinds.push(f[5].to_string());
    }
    kinds.sort();
    assert_eq!(kinds, ["mirror_session_new", "mirror_to_external"]);
    let o = common::mirrorwatch(
        &[
            "replay",
            "--config",
            c,
            "--alerts-syslog",
            "syslog.example:514",
            p,
        ],
        Duration::from_secs(60),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("expected udp://HOST:PORT or tcp://HOST:PORT")
    );
}

/// In sensor mode the alerts the collector did not get are a metric: a
/// UDP collector that is not listening (the port answers "unreachable")
/// fails the sends after the first, counted in
/// `mirrorwatch_output_errors_total{output="alerts_syslog"}`.
#[test]
fn unsent_syslog_alerts_are_a_metric() {
    // A port nothing listens on: bound, read, closed.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a UDP port");
    let url = format!("udp://{dead}");
    let addr = format!("127.0.0.1:{}", common::free_port());
    let config = root().join("pcaps/golden.toml");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let child = Kill(
        std::process::Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
            .current_dir(root())
            .args(["replay", "--listen", &addr, "--hold", "--config"])
            .arg(&config)
            .args([
                "--alerts-syslog",
                &url,
                "pcaps/gre.pcap",
                "pcaps/gre-teb.pcap",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let value = |m: &str, series: &str| -> Option<f64> {
        m.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    let unsent = common::wait_for(Duration::from_secs(20), || {
        let (_, m) = common::http_get(&addr, "/metrics").ok()?;
        value(
            &m,
            "mirrorwatch_output_errors_total{output=\"alerts_syslog\"}",
        )
        .filter(|v| *v >= 1.0)
    });
    let (_, m) = common::http_get(&addr, "/metrics").unwrap_or_default();
    assert!(unsent.is_some(), "no unsent syslog alerts counted:\n{m}");
    // The alerts file output is not blamed for it.
    assert_eq!(
        value(&m, "mirrorwatch_output_errors_total{output=\"alerts\"}"),
        Some(0.0)
    );
    drop(child);
}

/// `mirrorwatch logs` writes the configuration alerts in every format too,
/// the same alerts as its native lines (checked field by field as for
/// replay), and sends them to a syslog collector.
#[test]
fn config_log_alerts_in_every_format_and_to_syslog() {
    let dir = TempDir::new("logs");
    let logs = root().join("tests/fixtures/logs");
    let files: Vec<String> = ["cisco-ios.log", "aws-mirror.jsonl", "gcp-audit.jsonl"]
        .iter()
        .map(|f| logs.join(f).to_string_lossy().into_owned())
        .collect();
    let config = root().join("pcaps/golden.toml");
    let config = config.to_string_lossy().into_owned();
    let run = |extra: &[&str]| {
        let mut args = vec!["logs", "--config", &config, "--format", "json"];
        args.extend_from_slice(extra);
        args.extend(files.iter().map(String::as_str));
        let o = common::mirrorwatch(&args, Duration::from_secs(60));
        assert_eq!(
            o.status.code(),
            Some(0),
            "{extra:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    };
    let lines = |format: &str| -> Vec<Value> {
        let out = dir.0.join(format!("logs.{format}.jsonl"));
        let p = out.to_string_lossy().into_owned();
        run(&["--alerts", &p, "--alerts-format", format]);
        std::fs::read_to_string(&out)
            .expect("alerts file")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{format}: {e}: {l}")))
            .collect()
    };
    let native = lines("native");
    assert!(native.len() >= 3, "{native:?}");
    assert!(
        native
            .iter()
            .all(|n| n["kind"].as_str().is_some_and(|k| k.contains("config"))),
        "{native:?}"
    );
    for format in &FORMATS[1..] {
        let got = lines(format);
        assert_eq!(got.len(), native.len(), "{format}: line count");
        for (i, (n, e)) in native.iter().zip(&got).enumerate() {
            let ctx = format!("logs {format} line {}", i + 1);
            match *format {
                "eve" => check_eve(&ctx, n, e),
                "ecs" => check_ecs(&ctx, n, e),
                _ => check_ocsf(&ctx, n, e),
            }
        }
    }
    // The same alerts to a syslog collector, one datagram each.
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    rx.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let url = format!("udp://{}", rx.local_addr().expect("addr"));
    run(&["--alerts-syslog", &url, "--alerts-format", "ecs"]);
    let mut b = [0u8; 65_536];
    let mut kinds = Vec::new();
    for _ in 0..native.len() {
        let n = rx.recv(&mut b).expect("a datagram per alert");
        let m = String::from_utf8_lossy(&b[..n]).to_string();
        let f: Vec<&str> = m.splitn(7, ' ').collect();
        assert_eq!(f[3], "mirrorwatch", "{m}");
        let (_, msg) = f[6].split_once("] \u{feff}").expect("SD and MSG");
        let ecs: Value = serde_json::from_str(msg).expect("MSG is the ECS line");
        assert!(ecs["@timestamp"].is_string(), "{m}");
        kinds.push(f[5].to_string());
    }
    let mut want: Vec<String> = native
        .iter()
        .filter_map(|n| n["kind"].as_str().map(str::to_owned))
        .collect();
    kinds.sort();
    want.sort();
    assert_eq!(kinds, want);
}
