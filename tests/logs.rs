//! `mirrorwatch::logs` on the fixtures in `tests/fixtures/logs/`: exact
//! events and counters per file, gzip, malformed input, bounded memory and
//! throughput.
//!
//! `cloudtrail.jsonl.gz` is committed as is (gzip, mtime 0); its records are
//! listed in `cloudtrail_jsonl_gz` below.

use mirrorwatch::compress::Compression;
use mirrorwatch::logs::{
    Action, ConfigEvent, LogFormat, LogReadOutcome, LogReader, Platform, SyslogIngest,
    bench_ingest, read_log_file,
};
use std::io::{Read, Write};
use std::path::PathBuf;

const YEAR: i32 = 2024;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/logs")
        .join(name)
}

fn read(name: &str) -> LogReadOutcome {
    let out = read_log_file(&fixture(name), YEAR).unwrap_or_else(|e| panic!("{name}: {e}"));
    check_invariants(name, &out);
    out
}

fn check_invariants(name: &str, out: &LogReadOutcome) {
    assert_eq!(
        out.records,
        out.recognised + out.folded + out.unmatched + out.malformed,
        "{name}: counters do not add up: {out:?}"
    );
    assert_eq!(out.events.len() as u64, out.recognised, "{name}");
    for ev in &out.events {
        serde_json::to_string(ev).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!ev.raw.is_empty(), "{name}: empty raw");
    }
}

fn line_of(origin: &str) -> u64 {
    origin
        .rsplit(':')
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0)
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_owned(), |x| x.to_string())
}

/// One event as a line: everything but time, raw and the file name.
/// `R=kind:id` is the resource; region, network and dry-run only when set.
fn summary(ev: &ConfigEvent) -> String {
    let mut extra = String::new();
    if let Some(r) = &ev.region {
        extra.push_str(&format!(" region={r}"));
    }
    if let Some(n) = &ev.network {
        extra.push_str(&format!(" net={n}"));
    }
    if ev.dry_run {
        extra.push_str(" DRYRUN");
    }
    format!(
        "{} {} {} R={}:{} dev={} actor={} s={} erspan={} vni={} dst={} dip={} tacct={} src=[{}] sip={}{}{extra}",
        line_of(&ev.origin),
        ev.platform,
        ev.action,
        opt(&ev.resource),
        opt(&ev.resource_id),
        opt(&ev.device),
        opt(&ev.actor),
        opt(&ev.session),
        opt(&ev.erspan_id),
        opt(&ev.vni),
        opt(&ev.destination),
        opt(&ev.destination_ip),
        opt(&ev.target_account),
        ev.sources.join(","),
        opt(&ev.source_ip),
        if ev.failed { " FAILED" } else { "" }
    )
}

fn summaries(out: &LogReadOutcome) -> Vec<String> {
    out.events.iter().map(summary).collect()
}

fn assert_events(name: &str, out: &LogReadOutcome, expected: &[&str]) {
    let got = summaries(out);
    if got != expected {
        panic!(
            "{name}: events differ\n--- got\n{}\n--- expected\n{}\n",
            got.join("\n"),
            expected.join("\n")
        );
    }
}

fn fixture_line(name: &str, line: u64) -> String {
    let text = std::fs::read_to_string(fixture(name)).unwrap_or_default();
    text.lines().nth(line as usize - 1).unwrap_or("").to_owned()
}

/// 2024-03-01T00:00:00Z plus hh:mm:ss.
fn mar1(h: i64, m: i64, s: i64) -> Option<i64> {
    Some(1_709_251_200_000_000 + (h * 3600 + m * 60 + s) * 1_000_000)
}

#[test]
fn cisco_ios_syslog() {
    let out = read("cisco-ios.log");
    assert_eq!(out.format, LogFormat::Syslog);
    assert_eq!(out.compression, None);
    assert_eq!((out.lines, out.records), (25, 25));
    assert_eq!(
        (out.recognised, out.unmatched, out.folded, out.malformed),
        (15, 10, 0, 0)
    );
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    const S: &str = "src=[GigabitEthernet0/0/1]";
    let erspan = format!("erspan=100 vni=- dst=203.0.113.9 dip=203.0.113.9 tacct=- {S}");
    let expected = [
        "3 cisco-ios create R=session:1 dev=rtr-edge1 actor=alice s=1 erspan=- vni=- dst=- dip=- tacct=- src=[] sip=-".to_owned(),
        "4 cisco-ios modify R=session:1 dev=rtr-edge1 actor=alice s=1 erspan=- vni=- dst=- dip=- tacct=- src=[] sip=-".to_owned(),
        format!("5 cisco-ios modify R=session:1 dev=rtr-edge1 actor=alice s=1 erspan=- vni=- dst=- dip=- tacct=- {S} sip=-"),
        format!("6 cisco-ios modify R=session:1 dev=rtr-edge1 actor=alice s=1 erspan=- vni=- dst=- dip=- tacct=- {S} sip=-"),
        format!("7 cisco-ios modify R=session:1 dev=rtr-edge1 actor=alice s=1 erspan=100 vni=- dst=- dip=- tacct=- {S} sip=-"),
        format!("8 cisco-ios modify R=session:1 dev=rtr-edge1 actor=alice s=1 {erspan} sip=-"),
        format!("9 cisco-ios modify R=session:1 dev=rtr-edge1 actor=alice s=1 {erspan} sip=-"),
        format!("11 cisco-ios modify R=session:1 dev=rtr-edge1 actor=alice s=1 {erspan} sip=-"),
        format!("14 cisco-ios session-up R=session:1 dev=rtr-edge1 actor=- s=1 {erspan} sip=-"),
        "15 cisco-nxos session-up R=session:3 dev=10.0.0.2 actor=- s=3 erspan=- vni=- dst=- dip=- tacct=- src=[] sip=-".to_owned(),
        "21 cisco-ios start R=capture:CAP1 dev=rtr-edge1 actor=alice s=- erspan=- vni=- dst=- dip=- tacct=- src=[GigabitEthernet0/0/2] sip=-".to_owned(),
        "22 cisco-ios start R=capture:CAP1 dev=rtr-edge1 actor=- s=- erspan=- vni=- dst=- dip=- tacct=- src=[GigabitEthernet0/0/2] sip=-".to_owned(),
        "23 cisco-nxos session-down R=session:3 dev=10.0.0.2 actor=- s=3 erspan=- vni=- dst=- dip=- tacct=- src=[] sip=-".to_owned(),
        format!("24 cisco-ios session-down R=session:1 dev=rtr-edge1 actor=- s=1 {erspan} sip=-"),
        format!("25 cisco-ios delete R=session:1 dev=rtr-edge1 actor=alice s=1 {erspan} sip=-"),
    ];
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_events("cisco-ios.log", &out, &expected);
    // The relay's time stamp (second resolution), UTC.
    assert_eq!(out.events[0].time_us, mar1(18, 46, 11));
    assert_eq!(out.events[9].time_us, mar1(18, 47, 0));
    assert_eq!(out.events[0].raw, fixture_line("cisco-ios.log", 3));
    assert!(out.events[0].origin.ends_with("cisco-ios.log:3"));
}

#[test]
fn nxos_accounting_log() {
    let out = read("nxos-accounting.log");
    assert_eq!(out.format, LogFormat::Syslog);
    assert_eq!((out.lines, out.records), (13, 13));
    assert_eq!(
        (out.recognised, out.unmatched, out.folded, out.malformed),
        (9, 4, 0, 0)
    );
    let e = "erspan=300 vni=- dst=198.51.100.77 dip=198.51.100.77 tacct=-";
    let expected = [
        "2 cisco-nxos modify R=-:- dev=- actor=admin s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=10.1.1.7".to_owned(),
        "3 cisco-nxos create R=session:3 dev=- actor=admin s=3 erspan=- vni=- dst=- dip=- tacct=- src=[] sip=10.1.1.7".to_owned(),
        "4 cisco-nxos modify R=session:3 dev=- actor=admin s=3 erspan=300 vni=- dst=- dip=- tacct=- src=[] sip=10.1.1.7".to_owned(),
        "5 cisco-nxos modify R=session:3 dev=- actor=admin s=3 erspan=300 vni=- dst=- dip=- tacct=- src=[] sip=10.1.1.7".to_owned(),
        format!("6 cisco-nxos modify R=session:3 dev=- actor=admin s=3 {e} src=[] sip=10.1.1.7"),
        format!("7 cisco-nxos modify R=session:3 dev=- actor=admin s=3 {e} src=[ethernet1/10] sip=10.1.1.7"),
        format!("8 cisco-nxos modify R=session:3 dev=- actor=admin s=3 {e} src=[ethernet1/10] sip=10.1.1.7"),
        "11 cisco-nxos modify R=session:4 dev=- actor=admin s=4 erspan=- vni=- dst=203.0.113.200 dip=203.0.113.200 tacct=- src=[] sip=10.1.1.7 FAILED".to_owned(),
        format!("13 cisco-nxos delete R=session:3 dev=- actor=netops s=3 {e} src=[ethernet1/10] sip=-"),
    ];
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_events("nxos-accounting.log", &out, &expected);
    assert_eq!(out.events[0].time_us, mar1(19, 2, 15));
}

#[test]
fn arista_eos_accounting() {
    let out = read("arista.log");
    assert_eq!((out.lines, out.records), (11, 11));
    assert_eq!(
        (out.recognised, out.unmatched, out.folded, out.malformed),
        (4, 5, 2, 0)
    );
    assert_events(
        "arista.log",
        &out,
        &[
            "4 arista-eos create R=session:exfil dev=leaf-03 actor=admin s=- erspan=- vni=- dst=- dip=- tacct=- src=[Ethernet7] sip=192.0.2.44",
            "6 arista-eos modify R=session:exfil dev=leaf-03 actor=admin s=- erspan=- vni=- dst=203.0.113.50 dip=203.0.113.50 tacct=- src=[Ethernet7] sip=192.0.2.44",
            "7 arista-eos create R=session:2 dev=leaf-03 actor=admin s=2 erspan=- vni=- dst=- dip=- tacct=- src=[Ethernet12] sip=192.0.2.44",
            "11 arista-eos delete R=session:exfil dev=leaf-03 actor=netops s=- erspan=- vni=- dst=203.0.113.50 dip=203.0.113.50 tacct=- src=[Ethernet7] sip=192.0.2.60",
        ],
    );
    assert_eq!(out.events[1].time_us, mar1(20, 10, 19));
}

#[test]
fn junos_syslog() {
    let out = read("junos.log");
    assert_eq!((out.lines, out.records), (15, 15));
    assert_eq!(
        (out.recognised, out.unmatched, out.folded, out.malformed),
        (9, 6, 0, 0)
    );
    let m1 = "erspan=- vni=- dst=203.0.113.7 dip=203.0.113.7 tacct=-";
    let expected = [
        "3 junos create R=session:m1 dev=mx-border1 actor=bob s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=-".to_owned(),
        format!("4 junos modify R=session:m1 dev=mx-border1 actor=bob s=- {m1} src=[] sip=-"),
        format!("5 junos modify R=session:m1 dev=mx-border1 actor=bob s=- {m1} src=[filter MIRROR-IN] sip=-"),
        format!("7 junos modify R=session:m1 dev=mx-border1 actor=bob s=- {m1} src=[filter MIRROR-IN] sip=-"),
        "11 junos create R=session:a1 dev=mx-edge2 actor=carol s=- erspan=- vni=- dst=- dip=- tacct=- src=[ge-0/0/4.0] sip=-".to_owned(),
        "12 junos modify R=session:a1 dev=mx-edge2 actor=carol s=- erspan=- vni=- dst=198.51.100.250 dip=198.51.100.250 tacct=- src=[ge-0/0/4.0] sip=-".to_owned(),
        "13 junos modify R=session:a1 dev=mx-edge2 actor=carol s=- erspan=- vni=- dst=198.51.100.250 dip=198.51.100.250 tacct=- src=[ge-0/0/4.0] sip=-".to_owned(),
        format!("14 junos delete R=session:m1 dev=mx-border1 actor=bob s=- {m1} src=[filter MIRROR-IN] sip=-"),
        "15 junos delete R=session:m1 dev=mx-border1 actor=bob s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=-".to_owned(),
    ];
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_events("junos.log", &out, &expected);
    // RFC 5424 line: millisecond UTC time stamp.
    assert_eq!(out.events[4].time_us.map(|t| t % 1_000_000), Some(482_000));
}

const VICTIM_ARN: &str = "arn:aws:iam::111122223333:user/mallory";
const NLB: &str = "arn:aws:elasticloadbalancing:us-east-1:999988887777:loadbalancer/net/collector-nlb/50dc6c495c0c9188";

#[test]
fn cloudtrail_records_document() {
    let name = "cloudtrail.json";
    let out = read(name);
    assert_eq!(out.format, LogFormat::JsonDocument);
    assert_eq!(out.records, 7);
    assert_eq!(
        (out.recognised, out.unmatched, out.folded, out.malformed),
        (5, 2, 0, 0)
    );
    let expected = [
        format!(
            "L aws create R=session:tms-08a33b1214f3c6b2e dev=111122223333 actor={VICTIM_ARN} s=1 erspan=- vni=4242 dst=tmt-0f1e2d3c4b5a69788 dip=- tacct=999988887777 src=[eni-0a1b2c3d4e5f60718] sip=198.51.100.23 region=us-east-1"
        ),
        format!(
            "L aws create R=target:tmt-0f1e2d3c4b5a69788 dev=999988887777 actor=arn:aws:iam::999988887777:user/ops-automation s=- erspan=- vni=- dst={NLB} dip=- tacct=999988887777 src=[] sip=203.0.113.66 region=us-east-1"
        ),
        format!("L aws create R=filter:tmf-04812ff784b25ae67 dev=111122223333 actor={VICTIM_ARN} s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=198.51.100.23 region=us-east-1"),
        format!("L aws create R=filter-rule:tmfr-0ec7a1d5b2f9e8c34 dev=111122223333 actor={VICTIM_ARN} s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=198.51.100.23 region=us-east-1"),
        "L aws delete R=session:tms-08a33b1214f3c6b2e dev=111122223333 actor=arn:aws:iam::111122223333:user/ops-readonly s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=192.0.2.10 FAILED region=us-east-1".to_owned(),
    ];
    // Records of a pretty-printed document start on their own `{` lines.
    let mut prev = 0;
    let got: Vec<String> = out
        .events
        .iter()
        .map(|e| {
            let line = line_of(&e.origin);
            assert!(line > prev, "origins out of order");
            prev = line;
            assert_eq!(fixture_line(name, line).trim(), "{", "{}", e.origin);
            format!("L {}", summary(e).split_once(' ').map_or("", |x| x.1))
        })
        .collect();
    assert_eq!(got, expected);
    let session = &out.events[0];
    assert!(session.is_cross_account());
    assert_eq!(
        session.time_us,
        mirrorwatch::logs::parse_rfc3339_us("2024-03-01T10:05:12Z")
    );
    // The raw text is the record itself, as written.
    let raw: serde_json::Value = serde_json::from_str(&session.raw).unwrap();
    assert_eq!(raw["eventName"], "CreateTrafficMirrorSession");
    assert!(session.raw.starts_with('{') && session.raw.ends_with('}'));
    assert!(out.events[4].failed);
}

#[test]
fn cloudtrail_json_lines_gzip() {
    let out = read("cloudtrail.jsonl.gz");
    assert_eq!(out.compression, Some(Compression::Gzip));
    assert_eq!(out.format, LogFormat::JsonLines);
    assert_eq!((out.lines, out.records), (6, 7));
    assert_eq!(
        (out.recognised, out.unmatched, out.folded, out.malformed),
        (6, 1, 0, 0)
    );
    let expected_without_history = [
        format!("1 aws modify R=session:tms-08a33b1214f3c6b2e dev=111122223333 actor={VICTIM_ARN} s=- erspan=- vni=777 dst=tmt-0f1e2d3c4b5a69788 dip=- tacct=- src=[] sip=198.51.100.23 region=us-east-1"),
        "2 aws delete R=target:tmt-0f1e2d3c4b5a69788 dev=999988887777 actor=arn:aws:iam::999988887777:user/ops-automation s=- erspan=- vni=- dst=tmt-0f1e2d3c4b5a69788 dip=- tacct=- src=[] sip=203.0.113.66 region=us-east-1".to_owned(),
        format!("3 aws modify R=filter:tmf-04812ff784b25ae67 dev=111122223333 actor={VICTIM_ARN} s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=198.51.100.23 region=us-east-1"),
        format!("4 aws create R=session:tms-0ddddeeeeffff0000 dev=111122223333 actor={VICTIM_ARN} s=2 erspan=- vni=13000321 dst=tmt-0aaaabbbbccccdddd dip=- tacct=- src=[eni-0b2c3d4e5f6071829] sip=198.51.100.23 region=us-east-1"),
        format!("6 aws create R=target:tmt-0eeeeffff00001111 dev=111122223333 actor={VICTIM_ARN} s=- erspan=- vni=- dst=eni-0c3d4e5f607182930 dip=- tacct=111122223333 src=[] sip=198.51.100.23 region=us-east-1"),
        format!("6 aws delete R=filter-rule:tmfr-0ec7a1d5b2f9e8c34 dev=111122223333 actor={VICTIM_ARN} s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=198.51.100.23 region=us-east-1"),
    ];
    let expected: Vec<&str> = expected_without_history
        .iter()
        .map(String::as_str)
        .collect();
    assert_events("cloudtrail.jsonl.gz", &out, &expected);
    // The EventBridge envelope is kept whole as the raw record.
    assert!(
        out.events[3]
            .raw
            .contains("\"detail-type\":\"AWS API Call via CloudTrail\"")
    );

    // One reader over both files: the target created (in another account)
    // in cloudtrail.json attributes the later sessions and deletions.
    let mut reader = LogReader::new(YEAR);
    reader.read_file(&fixture("cloudtrail.json")).unwrap();
    let out = reader.read_file(&fixture("cloudtrail.jsonl.gz")).unwrap();
    let tacct: Vec<Option<&str>> = out
        .events
        .iter()
        .map(|e| e.target_account.as_deref())
        .collect();
    assert_eq!(
        tacct,
        vec![
            Some("999988887777"),
            Some("999988887777"),
            None,
            None,
            Some("111122223333"),
            None
        ]
    );
}

#[test]
fn gcp_audit_log() {
    let out = read("gcp-audit.jsonl");
    assert_eq!(out.format, LogFormat::JsonLines);
    assert_eq!((out.lines, out.records), (12, 12));
    assert_eq!(
        (out.recognised, out.unmatched, out.folded, out.malformed),
        (6, 5, 1, 0)
    );
    let vp = "projects/victim-prod";
    let collector = "https://www.googleapis.com/compute/v1/projects/collector-ext-4471/regions/us-central1/forwardingRules/pm-collector-ilb";
    let expected = [
        "1 gcp create R=target:collector-dep dev=collector-ext-4471 actor=mallory@example.com s=- erspan=- vni=- dst=projects/collector-ext-4471/regions/us-central1/forwardingRules/nsi-collector-fr dip=- tacct=collector-ext-4471 src=[] sip=203.0.113.66 region=us-central1-a".to_owned(),
        format!("2 gcp create R=session:prod-vpc-assoc dev=victim-prod actor=mallory@example.com s=- erspan=- vni=- dst=projects/collector-ext-4471/locations/global/mirroringEndpointGroups/collector-eg dip=- tacct=collector-ext-4471 src=[{vp}/global/networks/prod-vpc] sip=198.51.100.23 region=global net={vp}/global/networks/prod-vpc"),
        format!("3 gcp create R=session:pm-db-tier dev=victim-prod actor=mallory@example.com s=- erspan=- vni=- dst={collector} dip=- tacct=collector-ext-4471 src=[https://www.googleapis.com/compute/v1/{vp}/zones/us-central1-a/instances/db-primary-1,https://www.googleapis.com/compute/v1/{vp}/regions/us-central1/subnetworks/payments,tag:pci] sip=198.51.100.23 region=us-central1 net=https://www.googleapis.com/compute/v1/{vp}/global/networks/prod-vpc"),
        format!("5 gcp modify R=session:pm-db-tier dev=victim-prod actor=mallory@example.com s=- erspan=- vni=- dst={collector} dip=- tacct=collector-ext-4471 src=[tag:pci,tag:db] sip=198.51.100.23 region=us-central1"),
        "10 gcp delete R=session:pm-db-tier dev=victim-prod actor=intern@example.com s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=192.0.2.77 FAILED region=us-central1".to_owned(),
        "11 gcp delete R=session:pm-db-tier dev=victim-prod actor=secops@example.com s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=192.0.2.5 region=us-central1".to_owned(),
    ];
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_events("gcp-audit.jsonl", &out, &expected);
    assert_eq!(
        out.events[2].time_us,
        Some(mar1(10, 0, 0).unwrap_or(0) + 123_456)
    );
    assert!(
        out.events
            .iter()
            .skip(1)
            .take(3)
            .all(ConfigEvent::is_cross_account)
    );
}

#[test]
fn azure_activity_log() {
    let out = read("azure-activity.jsonl");
    assert_eq!(out.format, LogFormat::JsonLines);
    assert_eq!((out.lines, out.records), (10, 10));
    assert_eq!(
        (out.recognised, out.unmatched, out.folded, out.malformed),
        (4, 2, 4, 0)
    );
    let s1 = "8f3b2c1d-4e5f-4a6b-9c7d-0e1f2a3b4c5d";
    let s2 = "2d4c6e8f-1a3b-4c5d-8e7f-9a0b1c2d3e4f";
    let dst = format!(
        "/subscriptions/{s2}/resourceGroups/rg-collect/providers/Microsoft.Network/networkInterfaces/collector-nic/ipConfigurations/ipconfig1"
    );
    let tap2 = format!(
        "/subscriptions/{s2}/resourceGroups/rg-collect/providers/Microsoft.Network/virtualNetworkTaps/vtap-collector"
    );
    let nic_upper = format!("/subscriptions/{s1}/resourceGroups/rg-db/providers/Microsoft.Network/networkInterfaces/db-primary-nic").to_uppercase();
    let expected = [
        // Started / Accepted / Succeeded folded into one event (the final
        // record's origin and time, the request body from the first).
        format!(
            "3 azure create R=tap:vtap-exfil dev={s1} actor=mallory@contoso.com s=- erspan=- vni=- dst={dst} dip=- tacct={s2} src=[] sip=198.51.100.23 region=eastus"
        ),
        format!(
            "4 azure create R=tap:TAPCFG-DB dev={s1} actor=mallory@contoso.com s=- erspan=- vni=- dst={tap2} dip=- tacct={s2} src=[{nic_upper}] sip=198.51.100.23"
        ),
        format!(
            "8 azure delete R=tap:vtap-exfil dev={s1} actor=secops@contoso.com s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=192.0.2.5"
        ),
        format!(
            "10 azure delete R=tap:tapcfg-db dev={s1} actor=intern@contoso.com s=- erspan=- vni=- dst=- dip=- tacct=- src=[/subscriptions/{s1}/resourceGroups/rg-db/providers/Microsoft.Network/networkInterfaces/db-primary-nic] sip=192.0.2.77 FAILED"
        ),
    ];
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_events("azure-activity.jsonl", &out, &expected);
    assert_eq!(
        out.events[0].time_us,
        Some(mar1(10, 20, 31).unwrap_or(0) + 250_000)
    );
    assert!(out.events[0].is_cross_account() && out.events[1].is_cross_account());
}

#[test]
fn malformed_input_warns_and_continues() {
    let name = "malformed.log";
    let out = read(name);
    assert_eq!(out.lines, 13);
    assert_eq!(out.records, 13);
    assert_eq!(
        (out.recognised, out.unmatched, out.folded, out.malformed),
        (4, 1, 0, 8)
    );
    let warned: Vec<(u64, &str)> = out
        .warnings
        .iter()
        .map(|w| (line_of(&w.origin), w.reason.split(':').next().unwrap_or("")))
        .collect();
    assert_eq!(
        warned,
        vec![
            (1, "invalid JSON"),
            (3, "binary data or invalid UTF-8"),
            (4, "invalid JSON"),
            (
                5,
                "line of 20084 bytes exceeds the 16384-byte limit; skipped"
            ),
            (6, "not a syslog record"),
            (8, "not a syslog record"),
            (9, "record is not a JSON object"),
            (11, "invalid UTF-8 or control characters; decoded lossily"),
            (12, "mirror configuration event with no valid time"),
            (13, "invalid JSON"),
        ]
    );
    assert!(
        out.warnings
            .iter()
            .all(|w| w.origin.contains("malformed.log:"))
    );
    let lines: Vec<(u64, Platform, Action)> = out
        .events
        .iter()
        .map(|e| (line_of(&e.origin), e.platform, e.action))
        .collect();
    assert_eq!(
        lines,
        vec![
            (2, Platform::CiscoIos, Action::Create),
            (9, Platform::Aws, Action::Delete),
            (11, Platform::CiscoIos, Action::Create),
            (12, Platform::Gcp, Action::Create),
        ]
    );
    assert_eq!(
        out.events[0].destination.as_deref(),
        Some("GigabitEthernet0/0/9")
    );
    assert_eq!(out.events[2].actor.as_deref(), Some("al\u{fffd}"));
    assert_eq!(out.events[3].time_us, None);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A fixture of every log format (and one of malformed records).
const EVERY_FORMAT: &[&str] = &[
    "cisco-ios.log",
    "cisco-relay.log",
    "junos.log",
    "junos-cli.log",
    "nxos-accounting.log",
    "arista.log",
    "aws-mirror.jsonl",
    "cloudtrail.json",
    "gcp-audit.jsonl",
    "azure-activity.jsonl",
    "malformed.log",
];

/// Each fixture changed by `transform` (compressed, or a byte-order mark
/// put before it) reads as the plain file does (the same records, events,
/// counts and warnings), its compression `kind` named.
fn assert_reads_as_plain(
    names: &[&str],
    transform: fn(&[u8]) -> Vec<u8>,
    kind: Option<Compression>,
) {
    for &name in names {
        let plain = std::fs::read(fixture(name)).unwrap();
        let a = LogReader::new(YEAR).read_from(&plain[..], name);
        let b = LogReader::new(YEAR).read_from(&transform(&plain)[..], name);
        assert_eq!((b.compression, a.compression), (kind, None), "{name}");
        assert_eq!(
            LogReadOutcome {
                compression: None,
                ..b
            },
            a,
            "{name}"
        );
        assert!(a.recognised > 0, "{name}");
    }
}

#[test]
fn gzip_is_transparent_for_every_format() {
    assert_reads_as_plain(EVERY_FORMAT, gzip, Some(Compression::Gzip));
    // Two concatenated gzip members read as one stream.
    let one = std::fs::read(fixture("arista.log")).unwrap();
    let mut two = gzip(&one);
    two.extend(gzip(&one));
    let out = LogReader::new(YEAR).read_from(&two[..], "twice");
    assert_eq!(out.lines, 22);
    assert_eq!(out.recognised, 8);
    // Zero bytes after the last member (tape blocking; GNU gzip says
    // "trailing zero bytes ignored") end the file: no warning.
    let mut padded = two.clone();
    padded.extend(std::iter::repeat_n(0u8, 10 << 10));
    let out = LogReader::new(YEAR).read_from(&padded[..], "padded");
    assert_eq!((out.lines, out.recognised), (22, 8));
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    // Other bytes there are named for what they are, after every line.
    let mut junk = two;
    junk.extend_from_slice(b"junk after the members");
    let out = LogReader::new(YEAR).read_from(&junk[..], "junk");
    assert_eq!((out.lines, out.recognised), (22, 8));
    assert!(
        out.warnings
            .iter()
            .any(|w| w.reason.contains("after gzip member 2 are not gzip")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn truncated_and_corrupt_gzip_warn() {
    let data = std::fs::read(fixture("cloudtrail.jsonl.gz")).unwrap();
    for cut in [3, 10, data.len() / 2, data.len() - 4] {
        let out = LogReader::new(YEAR).read_from(&data[..cut], "cut.gz");
        check_invariants("cut.gz", &out);
        assert!(!out.warnings.is_empty(), "cut at {cut}: no warning");
    }
    let mut bad = data.clone();
    for b in bad.iter_mut().skip(20).step_by(7) {
        *b ^= 0x5a;
    }
    let out = LogReader::new(YEAR).read_from(&bad[..], "bad.gz");
    check_invariants("bad.gz", &out);
    assert!(out.warnings.iter().any(|w| w.reason.contains("read error")));
}

/// A UTF-8 byte-order mark (PowerShell's `Out-File`, Notepad) before any
/// log reads as the log without it: the same events, counts and warnings,
/// where it used to make a CloudTrail document 321 malformed syslog lines.
#[test]
fn a_byte_order_mark_is_transparent_for_every_format() {
    fn bom(plain: &[u8]) -> Vec<u8> {
        let mut b = vec![0xef, 0xbb, 0xbf];
        b.extend(plain);
        b
    }
    assert_reads_as_plain(EVERY_FORMAT, bom, None);
    assert_reads_as_plain(EVERY_FORMAT, |p| gzip(&bom(p)), Some(Compression::Gzip));
}

fn zstd(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

/// Logs rotated with `compresscmd zstd` (or handed over as `.zst`) read as
/// the plain file does, in every format; every frame of a stream read
/// (two files concatenated, or a skippable frame first as `pzstd` writes);
/// a stream cut short keeps the lines before the cut and says so.
#[test]
fn zstd_is_transparent_for_every_format() {
    assert_reads_as_plain(EVERY_FORMAT, zstd, Some(Compression::Zstd));
    let one = std::fs::read(fixture("arista.log")).unwrap();
    // A skippable frame (magic 0x184D2A50, 4 bytes of content), then two
    // frames.
    let mut two = vec![0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
    two.extend(zstd(&one));
    two.extend(zstd(&one));
    let out = LogReader::new(YEAR).read_from(&two[..], "twice.zst");
    assert_eq!((out.lines, out.recognised), (22, 8));
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    // Cut inside the second frame: the first frame's 11 lines and their
    // 4 events are kept, and the cut is a warning.
    let cut = &two[..two.len() - 10];
    let out = LogReader::new(YEAR).read_from(cut, "cut.zst");
    check_invariants("cut.zst", &out);
    assert!(out.lines >= 11 && out.recognised >= 4, "{out:?}");
    assert!(
        out.warnings.iter().any(|w| w.reason.contains("read error")),
        "{:?}",
        out.warnings
    );
    // The zstd magic and nothing a frame header can be.
    let out = LogReader::new(YEAR).read_from(&[0x28, 0xb5, 0x2f, 0xfd, 0xff][..], "bogus.zst");
    assert_eq!(out.records, 0);
    assert!(
        out.warnings.iter().any(|w| w.reason.contains("zstd")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn open_errors_are_errors() {
    let err = read_log_file(&fixture("does-not-exist.log"), YEAR).unwrap_err();
    assert!(err.to_string().contains("does-not-exist.log"));
    // A directory opens but is no log: an error, not a read warning.
    let dir = fixture("");
    let err = read_log_file(&dir, YEAR).unwrap_err();
    assert!(err.to_string().contains("a directory"), "{err}");
}

/// Deterministic xorshift for the mutation test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for name in EVERY_FORMAT {
        let data = std::fs::read(fixture(name)).unwrap();
        for round in 0..40 {
            let mut d = data.clone();
            match round % 4 {
                0 => d.truncate((rng.next() as usize) % (d.len() + 1)),
                1 => {
                    for _ in 0..8 {
                        let i = (rng.next() as usize) % d.len();
                        d[i] = rng.next() as u8;
                    }
                }
                2 => {
                    let i = (rng.next() as usize) % d.len();
                    let j = (rng.next() as usize) % d.len();
                    let (a, b) = (i.min(j), i.max(j));
                    d.drain(a..b);
                }
                _ => {
                    let i = (rng.next() as usize) % d.len();
                    let chunk: Vec<u8> = d[i..].iter().take(200).copied().collect();
                    d.splice(i..i, chunk);
                }
            }
            let out = LogReader::new(YEAR).read_from(&d[..], name);
            check_invariants(name, &out);
        }
    }
}

/// A reader producing `n` unmatched syslog lines without holding them.
struct Flood {
    n: u64,
    i: u64,
    pending: Vec<u8>,
}

impl Read for Flood {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            if self.i == self.n {
                return Ok(0);
            }
            self.i += 1;
            self.pending = if self.i % 1000 == 0 {
                format!("garbage line {}\n", self.i).into_bytes()
            } else {
                format!(
                    "Mar  1 10:00:00 host{} sshd[{}]: Accepted publickey for user{} from 192.0.2.1 port 22\n",
                    self.i % 50_000,
                    self.i,
                    self.i
                )
                .into_bytes()
            };
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

#[test]
fn unmatched_floods_stay_bounded() {
    let n = 100_000;
    let out = LogReader::new(YEAR).read_from(
        Flood {
            n,
            i: 0,
            pending: Vec::new(),
        },
        "flood",
    );
    check_invariants("flood", &out);
    assert_eq!(out.lines, n);
    assert_eq!(out.unmatched, n - 100);
    assert_eq!(out.malformed, 100);
    assert_eq!(out.warnings.len(), 100);
    assert_eq!(out.warnings_dropped, 0);
    assert!(out.events.is_empty());

    // Per-device context is bounded, whatever the number of devices.
    let mut ingest = SyslogIngest::with_max_devices(YEAR, 100);
    for i in 0..5_000 {
        let line = format!(
            "<189>1: rtr{i}: *Mar  1 10:00:00.000 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:u  logged command:monitor session 1 type erspan-source"
        );
        assert!(ingest.ingest_line(&line, "udp:192.0.2.1:514").is_some());
    }
    assert!(ingest.devices() <= 100);
    assert_eq!(ingest.evicted_devices(), 4_900);
}

#[test]
fn live_listener_usage() {
    // As a UDP listener would feed it: sender address as origin, no host
    // name in the message, commands spread over datagrams.
    let mut ingest = SyslogIngest::new(YEAR);
    let from = "udp:192.0.2.44:51514";
    let msgs = [
        "<189>201: *Mar  1 18:46:11.123 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:eve  logged command:monitor session 5 type erspan-source",
        "<189>202: *Mar  1 18:46:12.123 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:eve  logged command:destination",
        "<189>203: *Mar  1 18:46:13.123 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:eve  logged command:erspan-id 55",
        "<189>204: *Mar  1 18:46:14.123 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:eve  logged command:ip address 198.51.100.99",
    ];
    let evs: Vec<ConfigEvent> = msgs
        .iter()
        .filter_map(|m| ingest.ingest_line(m, from))
        .collect();
    assert_eq!(evs.len(), 4);
    let last = &evs[3];
    assert_eq!(last.device.as_deref(), Some("192.0.2.44"));
    assert_eq!(last.origin, from);
    assert_eq!((last.session, last.erspan_id), (Some(5), Some(55)));
    assert_eq!(last.destination_ip, "198.51.100.99".parse().ok());
    assert_eq!(last.time_us, Some(mar1(18, 46, 14).unwrap_or(0) + 123_000));
}

/// A syslog corpus: mostly unrelated traffic from many devices and
/// formats, about 5% mirror configuration.
fn corpus(n: usize) -> Vec<String> {
    let mut lines = Vec::with_capacity(n);
    for i in 0..n {
        let d = i % 500;
        let l = match i % 20 {
            0 => format!(
                "Mar  1 18:46:11 10.0.{}.{} {i}: rtr{d}: *Mar  1 18:46:11.123 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:alice  logged command:monitor session {} type erspan-source",
                d / 256,
                d % 256,
                i % 7
            ),
            1..=4 => format!(
                "Mar  1 18:46:12 10.0.0.1 {i}: rtr{d}: *Mar  1 18:46:12.001 UTC: %LINK-3-UPDOWN: Interface GigabitEthernet0/0/{}, changed state to down",
                i % 48
            ),
            5..=8 => format!(
                "<86>Mar  1 18:46:13 host{d} sshd[{i}]: Accepted publickey for deploy from 192.0.2.{} port 51514 ssh2",
                i % 250
            ),
            9..=11 => format!(
                "<189>1 2024-03-01T18:46:14.{:03}Z mx{d} rpd 1234 BGP_PREFIX_THRESH_EXCEEDED - peer 192.0.2.1 prefix limit",
                i % 1000
            ),
            12..=14 => format!(
                "Mar  1 18:46:15 leaf{d} Ebra: %LINEPROTO-5-UPDOWN: Line protocol on Interface Ethernet{}, changed state to up",
                i % 48
            ),
            15..=16 => format!(
                "Mar  1 18:46:16  mx{d} mgd[4102]: UI_CMDLINE_READ_LINE: User 'bob', command 'show interfaces terse '"
            ),
            17 => format!(
                "Mar  1 18:46:17 10.0.0.2 : 2024 Mar  1 18:46:17 UTC: %ETHPORT-5-IF_UP: Interface Ethernet1/{} is up in mode access",
                i % 48
            ),
            _ => format!(
                "Mar  1 18:46:18 host{d} kernel: [{i}.000000] eth0: link up, 1000 Mbps full duplex"
            ),
        };
        lines.push(l);
    }
    lines
}

#[test]
fn throughput() {
    let lines = corpus(200_000);
    let (events, elapsed) = bench_ingest(&lines);
    assert_eq!(events, 10_000);
    let rate = lines.len() as f64 / elapsed.as_secs_f64().max(1e-9);
    println!(
        "SyslogIngest, mixed corpus: {} lines in {elapsed:?} = {rate:.0} lines/s ({events} events)",
        lines.len()
    );

    // Worst case: every line is a configuration command to correlate.
    let busy: Vec<String> = (0..50_000)
        .map(|i| {
            let cmd = match i % 4 {
                0 => format!("monitor session {} type erspan-source", i % 7),
                1 => "destination".to_owned(),
                2 => format!("erspan-id {}", i % 1000),
                _ => format!("ip address 203.0.113.{}", i % 250),
            };
            format!(
                "<189>{i}: rtr{}: *Mar  1 18:46:11.123 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:alice  logged command:{cmd}",
                (i / 4) % 1000
            )
        })
        .collect();
    let (busy_events, busy_elapsed) = bench_ingest(&busy);
    assert_eq!(busy_events, 50_000);
    let busy_rate = busy.len() as f64 / busy_elapsed.as_secs_f64().max(1e-9);
    println!(
        "SyslogIngest, all CFGLOG: {} lines in {busy_elapsed:?} = {busy_rate:.0} lines/s",
        busy.len()
    );

    // Whole-file path (line splitting, counters) on the mixed corpus.
    let text = lines.join("\n");
    let start = std::time::Instant::now();
    let out = LogReader::new(YEAR).read_from(text.as_bytes(), "corpus");
    let file_rate = out.lines as f64 / start.elapsed().as_secs_f64().max(1e-9);
    assert_eq!(out.recognised, 10_000);
    println!("LogReader, mixed corpus: {file_rate:.0} lines/s");

    if !cfg!(debug_assertions) {
        assert!(rate >= 100_000.0, "only {rate:.0} lines/s");
        assert!(busy_rate >= 100_000.0, "only {busy_rate:.0} lines/s");
    }
}

#[test]
fn cisco_relayed_sequence_numbers_and_capture_points() {
    // rsyslog / syslog-ng files of a collector: devices without `logging
    // origin-id` (the relay's host field is the sender address), `service
    // sequence-numbers` (`000101:` before the device time stamp: never a
    // host name), two devices configuring session 7 interleaved, relayed
    // RFC 5424 forms, Embedded Packet Capture `%BUFCAP` messages, IOS-XR
    // headers.
    let name = "cisco-relay.log";
    let out = read(name);
    assert_eq!(out.format, LogFormat::Syslog);
    assert_eq!((out.lines, out.records), (30, 30));
    assert_eq!(
        (out.recognised, out.unmatched, out.folded, out.malformed),
        (21, 9, 0, 0)
    );
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let a = "dev=10.0.0.11 actor=alice";
    let b = "dev=10.0.0.12 actor=bob";
    let a_src = "src=[GigabitEthernet1/0/1]";
    let a_dst = "dst=203.0.113.70 dip=203.0.113.70";
    let b_dst = "dst=198.51.100.71 dip=198.51.100.71";
    let expected = [
        format!("1 cisco-ios create R=session:7 {a} s=7 erspan=- vni=- dst=- dip=- tacct=- src=[] sip=-"),
        format!("2 cisco-ios create R=session:7 {b} s=7 erspan=- vni=- dst=- dip=- tacct=- src=[] sip=-"),
        format!("3 cisco-ios modify R=session:7 {a} s=7 erspan=- vni=- dst=- dip=- tacct=- {a_src} sip=-"),
        format!("4 cisco-ios modify R=session:7 {b} s=7 erspan=- vni=- dst=- dip=- tacct=- src=[vlan 20] sip=-"),
        format!("5 cisco-ios modify R=session:7 {a} s=7 erspan=- vni=- dst=- dip=- tacct=- {a_src} sip=-"),
        format!("6 cisco-ios modify R=session:7 {a} s=7 erspan=70 vni=- dst=- dip=- tacct=- {a_src} sip=-"),
        format!("7 cisco-ios modify R=session:7 {b} s=7 erspan=- vni=- dst=- dip=- tacct=- src=[vlan 20] sip=-"),
        format!("8 cisco-ios modify R=session:7 {a} s=7 erspan=70 vni=- {a_dst} tacct=- {a_src} sip=-"),
        format!("9 cisco-ios modify R=session:7 {b} s=7 erspan=71 vni=- dst=- dip=- tacct=- src=[vlan 20] sip=-"),
        format!("10 cisco-ios modify R=session:7 {b} s=7 erspan=71 vni=- {b_dst} tacct=- src=[vlan 20] sip=-"),
        format!("11 cisco-ios modify R=session:7 {a} s=7 erspan=70 vni=- {a_dst} tacct=- {a_src} sip=-"),
        "15 cisco-ios create R=session:2 dev=sw-core2 actor=carol s=2 erspan=- vni=- dst=- dip=- tacct=- src=[Te1/0/5] sip=-".to_owned(),
        "16 cisco-ios modify R=session:2 dev=sw-core2 actor=carol s=2 erspan=- vni=- dst=Te1/0/48 dip=- tacct=- src=[Te1/0/5] sip=-".to_owned(),
        "17 cisco-ios create R=session:3 dev=10.0.0.13 actor=dave s=3 erspan=- vni=- dst=- dip=- tacct=- src=[GigabitEthernet0/1] sip=-".to_owned(),
        "18 cisco-ios modify R=session:3 dev=10.0.0.13 actor=dave s=3 erspan=- vni=- dst=remote vlan 901 dip=- tacct=- src=[GigabitEthernet0/1] sip=-".to_owned(),
        "19 cisco-ios create R=capture:capture-p1 dev=10.0.0.11 actor=- s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=-".to_owned(),
        "20 cisco-ios start R=capture:capture-p1 dev=10.0.0.11 actor=- s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=-".to_owned(),
        "22 cisco-ios stop R=capture:capture-p1 dev=10.0.0.11 actor=- s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=-".to_owned(),
        "23 cisco-ios start R=capture:tftp dev=csr8 actor=- s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=-".to_owned(),
        format!("29 cisco-ios delete R=session:7 {b} s=7 erspan=71 vni=- {b_dst} tacct=- src=[vlan 20] sip=-"),
        format!("30 cisco-ios session-down R=session:7 dev=10.0.0.11 actor=- s=7 erspan=70 vni=- {a_dst} tacct=- {a_src} sip=-"),
    ];
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_events(name, &out, &expected);
    // Device time stamps are not used when the relay wrote its own.
    assert_eq!(out.events[0].time_us, mar1(9, 0, 1));
    // The RFC 5424 relay's time stamp.
    assert_eq!(out.events[13].time_us, mar1(9, 2, 0));
    assert_eq!(out.events[13].raw, fixture_line(name, 17));
}

#[test]
fn junos_cli_command_lines() {
    // `interactive-commands` logging: `UI_CMDLINE_READ_LINE` lines, RFC
    // 3164 and RFC 5424 with Junos structured data (the command from the
    // message, else from the `command` parameter), relative to the user's
    // `[edit ...]` level; the `UI_CFG_AUDIT_*` record of the same change
    // is folded into the command line's event.
    let name = "junos-cli.log";
    let out = read(name);
    assert_eq!((out.lines, out.records), (21, 21));
    assert_eq!(
        (out.recognised, out.unmatched, out.folded, out.malformed),
        (9, 9, 3, 0)
    );
    let d = "dev=mx-core1 actor=dave";
    let e = "dev=mx-core2 actor=erin";
    let exfil = "dst=203.0.113.33 dip=203.0.113.33";
    let spy = "dst=198.51.100.44 dip=198.51.100.44 tacct=- src=[ge-0/0/7.0]";
    let expected = [
        format!(
            "2 junos create R=session:exfil {d} s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=-"
        ),
        format!(
            "4 junos modify R=session:exfil {d} s=- erspan=- vni=- {exfil} tacct=- src=[] sip=-"
        ),
        format!(
            "7 junos create R=session:spy {d} s=- erspan=- vni=- dst=- dip=- tacct=- src=[ge-0/0/7.0] sip=-"
        ),
        format!("8 junos modify R=session:spy {d} s=- erspan=- vni=- {spy} sip=-"),
        format!("13 junos modify R=session:spy {d} s=- erspan=- vni=- {spy} sip=-"),
        format!(
            "14 junos create R=session:port-mirroring {e} s=- erspan=- vni=- dst=192.0.2.99 dip=192.0.2.99 tacct=- src=[] sip=-"
        ),
        format!(
            "15 junos modify R=session:port-mirroring {e} s=- erspan=- vni=- dst=192.0.2.99 dip=192.0.2.99 tacct=- src=[] sip=-"
        ),
        format!(
            "17 junos delete R=session:exfil {d} s=- erspan=- vni=- {exfil} tacct=- src=[] sip=-"
        ),
        format!("18 junos delete R=session:spy {d} s=- erspan=- vni=- {spy} sip=-"),
    ];
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_events(name, &out, &expected);
    assert_eq!(out.events[5].time_us.map(|t| t % 1_000_000), Some(123_000));
}

#[test]
fn cloudtrail_resources_are_told_apart() {
    // A target, a filter, a filter rule and a session created (the first
    // session attempt a dry run), then changed and deleted; a Describe, a
    // look-alike event source and a truncated last line yield nothing.
    let name = "aws-mirror.jsonl";
    let out = read(name);
    assert_eq!(out.format, LogFormat::JsonLines);
    assert_eq!((out.lines, out.records), (11, 11));
    assert_eq!(
        (out.recognised, out.unmatched, out.folded, out.malformed),
        (8, 2, 0, 1)
    );
    let m = "dev=111122223333 actor=arn:aws:iam::111122223333:user/mallory";
    let s = "dev=111122223333 actor=arn:aws:iam::111122223333:user/secops";
    let r = "region=eu-west-1";
    let expected = [
        format!(
            "1 aws create R=target:tmt-0123456789abcdef0 {m} s=- erspan=- vni=- dst=eni-0f00dfeed0000beef dip=- tacct=111122223333 src=[] sip=198.51.100.23 {r}"
        ),
        format!(
            "2 aws create R=filter:tmf-0aaaaaaaaaaaaaaa1 {m} s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=198.51.100.23 {r}"
        ),
        format!(
            "3 aws create R=filter-rule:tmfr-0bbbbbbbbbbbbbbb2 {m} s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=198.51.100.23 {r}"
        ),
        format!(
            "4 aws create R=session:- {m} s=1 erspan=- vni=- dst=tmt-0123456789abcdef0 dip=- tacct=111122223333 src=[eni-0c0ffee0c0ffee000] sip=198.51.100.23 {r} DRYRUN"
        ),
        format!(
            "5 aws create R=session:tms-0ccccccccccccccc3 {m} s=1 erspan=- vni=5001 dst=tmt-0123456789abcdef0 dip=- tacct=111122223333 src=[eni-0c0ffee0c0ffee000] sip=198.51.100.23 {r}"
        ),
        format!(
            "8 aws modify R=filter-rule:tmfr-0bbbbbbbbbbbbbbb2 {m} s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=198.51.100.23 {r}"
        ),
        format!(
            "9 aws delete R=session:tms-0ccccccccccccccc3 {s} s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=192.0.2.5 {r}"
        ),
        format!(
            "10 aws delete R=filter:tmf-0aaaaaaaaaaaaaaa1 {s} s=- erspan=- vni=- dst=- dip=- tacct=- src=[] sip=192.0.2.5 {r}"
        ),
    ];
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_events(name, &out, &expected);
    // A dry run is not a failure.
    assert!(!out.events[3].failed && out.events[3].dry_run);
    assert_eq!(line_of(&out.warnings[0].origin), 11);
}
