//! Configuration-change evidence linked to observed sessions: a CloudTrail
//! CreateTrafficMirrorSession (VNI 4242, cross-account target) paired with
//! a capture whose VXLAN session carries VNI 4242.
mod common;

use std::path::PathBuf;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/logs")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn pcap(name: &str) -> String {
    common::project_pcaps()
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Runs replay with `--alerts -` and JSON output to a file; returns
/// (report, alerts).
fn replay(args: &[&str]) -> (serde_json::Value, Vec<serde_json::Value>) {
    // One file per call: tests run in parallel in this process.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let report_path = std::env::temp_dir().join(format!("mw-corr-{}-{n}.json", std::process::id()));
    let golden = common::project_pcaps().join("golden.toml");
    let mut all = vec![
        "replay".to_owned(),
        "--config".to_owned(),
        golden.to_string_lossy().into_owned(),
        "--alerts".to_owned(),
        report_path.to_string_lossy().into_owned(),
        "--format".to_owned(),
        "json".to_owned(),
    ];
    all.extend(args.iter().map(|s| (*s).to_owned()));
    std::fs::remove_file(&report_path).ok();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = common::mirrorwatch(&refs, LIMIT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = serde_json::from_slice(&out.stdout).expect("report JSON");
    let alerts = std::fs::read_to_string(&report_path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert JSON"))
        .collect();
    std::fs::remove_file(&report_path).ok();
    (report, alerts)
}

fn kinds(alerts: &[serde_json::Value]) -> Vec<String> {
    alerts
        .iter()
        .filter_map(|a| a["kind"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn cloudtrail_event_explains_the_vxlan_session() {
    let (r, alerts) = replay(&[
        "--logs",
        &fixture("aws-vxlan-mirror-cloudtrail.json"),
        &pcap("aws-vxlan-mirror.pcap"),
    ]);
    let s = &r["sessions"][0];
    assert_eq!(s["id"], 4242);
    let ev = s["config_events"].as_array().expect("config_events");
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["platform"], "aws");
    assert_eq!(ev[0]["action"], "create");
    assert_eq!(ev[0]["vni"], 4242);
    assert_eq!(ev[0]["target_account"], "999988887777");
    assert_eq!(ev[0]["actor"], "arn:aws:iam::111122223333:user/mallory");
    let k = kinds(&alerts);
    assert!(!k.contains(&"mirror_without_config".to_owned()), "{k:?}");
    let change = alerts
        .iter()
        .find(|a| a["kind"] == "mirror_config_change" && a["config_event"]["vni"] == 4242)
        .expect("mirror_config_change for the session");
    assert_eq!(change["severity"], "high", "cross-account target");
    assert_eq!(change["mitre"]["subtechnique"], "T1020.001");
    assert!(
        alerts
            .iter()
            .any(|a| a["kind"] == "unapproved_mirror_config" && a["config_event"]["vni"] == 4242)
    );
    assert_eq!(r["logs"][0]["recognised"], 2);
}

#[test]
fn without_the_session_record_the_mirror_is_unexplained() {
    // Logs are watched (the target record is there) but the session's
    // creation is not: mirror_without_config.
    let full: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("aws-vxlan-mirror-cloudtrail.json")).expect("fixture"),
    )
    .expect("JSON");
    let mut only_target = full.clone();
    only_target["Records"] = serde_json::Value::Array(vec![full["Records"][0].clone()]);
    let path = std::env::temp_dir().join(format!("mw-target-only-{}.json", std::process::id()));
    std::fs::write(&path, only_target.to_string()).expect("write");
    let (r, alerts) = replay(&[
        "--logs",
        &path.to_string_lossy(),
        &pcap("aws-vxlan-mirror.pcap"),
    ]);
    assert_eq!(
        r["sessions"][0]["config_events"].as_array().map(Vec::len),
        Some(0)
    );
    let a = alerts
        .iter()
        .find(|a| a["kind"] == "mirror_without_config")
        .expect("mirror_without_config");
    assert_eq!(a["session"]["id"], 4242);
    assert_eq!(a["severity"], "medium");
    std::fs::remove_file(&path).ok();
    // Without any log input nothing is claimed either way.
    let (r, alerts) = replay(&[&pcap("aws-vxlan-mirror.pcap")]);
    assert!(r["sessions"][0].get("config_events").is_none());
    assert!(!kinds(&alerts).contains(&"mirror_without_config".to_owned()));
}

#[test]
fn logs_command_lists_events_and_counts_the_rest() {
    let out = common::mirrorwatch(
        &[
            "logs",
            "--format",
            "json",
            &fixture("cisco-ios.log"),
            &fixture("cloudtrail.json"),
            &fixture("gcp-audit.jsonl"),
            &fixture("azure-activity.jsonl"),
            &fixture("malformed.log"),
        ],
        LIMIT,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let events = v["events"].as_array().expect("events");
    for platform in ["cisco-ios", "aws", "gcp", "azure"] {
        assert!(
            events.iter().any(|e| e["platform"] == platform),
            "{platform}"
        );
    }
    let logs = v["logs"].as_array().expect("logs");
    assert_eq!(logs.len(), 5);
    assert!(
        logs.iter()
            .map(|l| l["unmatched"].as_u64().unwrap_or(0))
            .sum::<u64>()
            > 0
    );
    // Malformed records are warnings naming file and line; reading goes on.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("malformed.log:"), "{stderr}");
    assert!(v["alerts"]["mirror_config_change"].as_u64().unwrap_or(0) > 0);

    let out = common::mirrorwatch(&["logs", "/nonexistent/switch.log"], LIMIT);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/switch.log"));
}

#[test]
fn logs_json_carries_every_field_and_the_raw_record() {
    let path = fixture("cisco-relay.log");
    let out = common::mirrorwatch(
        &["logs", "--format", "json", "--year", "2024", &path],
        LIMIT,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let events = v["events"].as_array().expect("events");
    assert_eq!(events.len(), 21);
    // Line 10: bob's ERSPAN session 7 on 10.0.0.12, relayed with service
    // sequence numbers and interleaved with alice's session 7 on 10.0.0.11.
    let e = events
        .iter()
        .find(|e| e["line"] == 10)
        .expect("event of line 10");
    assert_eq!(e["platform"], "cisco-ios");
    assert_eq!(e["action"], "modify");
    assert_eq!(e["resource"], "session");
    assert_eq!(e["resource_id"], "7");
    assert_eq!(e["device"], "10.0.0.12");
    assert_eq!(e["actor"], "bob");
    assert_eq!(e["session"], 7);
    assert_eq!(e["erspan_id"], 71);
    assert_eq!(e["destination"], "198.51.100.71");
    assert_eq!(e["destination_ip"], "198.51.100.71");
    assert_eq!(e["sources"], serde_json::json!(["vlan 20"]));
    assert_eq!(e["failed"], false);
    assert_eq!(e["dry_run"], false);
    assert_eq!(e["file"], path.as_str());
    assert_eq!(e["time"], "2024-03-01T09:00:10.000000Z");
    let raw = e["raw"].as_str().expect("raw");
    assert!(
        raw.starts_with("Mar  1 09:00:10 10.0.0.12 000205: "),
        "{raw}"
    );
    // A capture point stopped.
    let stop = events.iter().find(|e| e["action"] == "stop").expect("stop");
    assert_eq!(
        (
            &stop["resource"],
            &stop["resource_id"],
            stop["line"].as_u64()
        ),
        (
            &serde_json::json!("capture"),
            &serde_json::json!("capture-p1"),
            Some(22)
        )
    );
    assert_eq!(v["logs"][0]["unmatched"], 9);
}

#[test]
fn a_filter_alone_explains_no_session() {
    // Only the traffic mirror filter of the VXLAN scenario is logged: the
    // mirror stays unexplained.
    let full: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("aws-vxlan-mirror-cloudtrail.json")).expect("fixture"),
    )
    .expect("JSON");
    let mut filter_only = full.clone();
    let mut filter = full["Records"][1].clone();
    filter["eventName"] = serde_json::json!("CreateTrafficMirrorFilter");
    filter["responseElements"] = serde_json::json!({"CreateTrafficMirrorFilterResponse": {
        "trafficMirrorFilter": {"trafficMirrorFilterId": "tmf-0123456789abcdef0"}}});
    filter_only["Records"] = serde_json::Value::Array(vec![filter]);
    let path = std::env::temp_dir().join(format!("mw-filter-only-{}.json", std::process::id()));
    std::fs::write(&path, filter_only.to_string()).expect("write");
    let (r, alerts) = replay(&[
        "--logs",
        &path.to_string_lossy(),
        &pcap("aws-vxlan-mirror.pcap"),
    ]);
    std::fs::remove_file(&path).ok();
    assert_eq!(r["logs"][0]["recognised"], 1);
    assert_eq!(
        r["sessions"][0]["config_events"].as_array().map(Vec::len),
        Some(0)
    );
    let k = kinds(&alerts);
    assert!(k.contains(&"mirror_without_config".to_owned()), "{k:?}");
    // A filter sends nothing anywhere: no unapproved_mirror_config.
    assert!(!k.contains(&"unapproved_mirror_config".to_owned()), "{k:?}");
}
