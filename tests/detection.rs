//! The detection scenarios of pcaps/ and the real captures: destination
//! classes, verdicts, duplicates and alerts, asserted one by one.
mod common;

use std::path::PathBuf;
use std::time::Duration;

use mirrorwatch::config::Config;
use mirrorwatch::detect::alert::AlertKind;
use mirrorwatch::detect::{DstClass, Verdict};
use mirrorwatch::export::alerts::AlertWriter;
use mirrorwatch::pipeline::{Outputs, replay, replay_with};
use mirrorwatch::report::{Report, SessionReport};

fn golden_config() -> Config {
    Config::load(&common::project_pcaps().join("golden.toml")).expect("pcaps/golden.toml")
}

/// Replays a scenario with the golden configuration; returns the report and
/// the alerts as JSON values.
fn run(name: &str) -> (Report, Vec<serde_json::Value>) {
    let path = common::project_pcaps()
        .join(name)
        .to_string_lossy()
        .into_owned();
    let alerts_path =
        std::env::temp_dir().join(format!("mw-det-{}-{name}.jsonl", std::process::id()));
    std::fs::remove_file(&alerts_path).ok();
    let w = AlertWriter::open(&alerts_path.to_string_lossy()).expect("alerts file");
    let r = replay_with(
        &[path],
        &golden_config(),
        Outputs {
            alerts: Some(w),
            ..Outputs::default()
        },
    )
    .expect("replay");
    assert!(r.files.unreadable.is_empty() && r.outcome.output_errors.is_empty());
    let report = r.outcome.report;
    let alerts = std::fs::read_to_string(&alerts_path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert is JSON"))
        .collect();
    std::fs::remove_file(&alerts_path).ok();
    (report, alerts)
}

fn session<'a>(r: &'a Report, dst: &str) -> &'a SessionReport {
    r.sessions
        .iter()
        .find(|s| s.dst == dst)
        .unwrap_or_else(|| panic!("no session to {dst}"))
}

fn kinds(alerts: &[serde_json::Value]) -> Vec<&str> {
    alerts.iter().filter_map(|a| a["kind"].as_str()).collect()
}

fn max_severity(alerts: &[serde_json::Value]) -> &str {
    let rank = |s: &str| {
        ["info", "low", "medium", "high"]
            .iter()
            .position(|x| *x == s)
    };
    alerts
        .iter()
        .filter_map(|a| a["severity"].as_str())
        .max_by_key(|s| rank(s))
        .unwrap_or("none")
}

#[test]
fn erspan_to_authorised_collector_raises_nothing_above_info() {
    let (r, alerts) = run("erspan2.pcap");
    let s = session(&r, "10.9.0.10");
    assert_eq!(
        (s.dst_class, s.verdict),
        (DstClass::Authorized, Verdict::Mirror)
    );
    assert_eq!(kinds(&alerts), ["mirror_session_new"]);
    assert_eq!(max_severity(&alerts), "info");
}

#[test]
fn expired_authorisation_is_flagged() {
    let (r, alerts) = run("erspan1.pcap");
    let s = session(&r, "10.9.0.10");
    assert_eq!(s.dst_class, DstClass::Internal);
    assert!(
        kinds(&alerts).contains(&"authorized_mirror_expired"),
        "{alerts:?}"
    );
    assert!(kinds(&alerts).contains(&"mirror_to_unauthorized_internal"));
}

#[test]
fn mirrors_to_external_hosts_are_high() {
    for (file, dst) in [
        ("erspan3.pcap", "203.0.113.50"),
        ("erspan3-ipv6.pcap", "2001:db8:ff::50"),
        ("aws-vxlan-mirror.pcap", "198.51.100.20"),
        ("gre-teb-external.pcap", "203.0.113.77"),
        ("tzsp.pcap", "203.0.113.99"),
    ] {
        let (r, alerts) = run(file);
        let s = session(&r, dst);
        assert_eq!(
            (s.dst_class, s.verdict),
            (DstClass::External, Verdict::Mirror),
            "{file}"
        );
        assert!(s.alerts.contains(&AlertKind::MirrorToExternal), "{file}");
        let a = alerts
            .iter()
            .find(|a| a["kind"] == "mirror_to_external")
            .unwrap_or_else(|| panic!("{file}: no mirror_to_external"));
        assert_eq!(a["severity"], "high");
        assert_eq!(a["session"]["dst"], dst);
        assert_eq!(a["mitre"]["subtechnique"], "T1020.001");
        assert_eq!(a["mitre"]["tactic"], "TA0010");
        assert_eq!(a["sensor"], "golden");
        assert!(a["message"].as_str().is_some_and(|m| m.contains(dst)));
        // One alert per session and kind, not one per packet.
        assert_eq!(
            kinds(&alerts)
                .iter()
                .filter(|k| **k == "mirror_to_external")
                .count(),
            1
        );
    }
}

#[test]
fn aws_style_vxlan_mirror_is_judged_a_mirror_with_evidence() {
    let (r, _) = run("aws-vxlan-mirror.pcap");
    let s = session(&r, "198.51.100.20");
    let ev = s.evidence.join("\n");
    assert!(
        ev.contains("one_way") && ev.contains("both_directions"),
        "{ev}"
    );
}

#[test]
fn overlay_between_internal_vteps_is_an_overlay_without_alert() {
    let (r, alerts) = run("vxlan.pcap");
    for dst in ["10.2.0.1", "10.2.0.2"] {
        let s = session(&r, dst);
        assert_eq!(s.verdict, Verdict::Overlay, "{dst}: {:?}", s.evidence);
        assert!(s.alerts.is_empty());
    }
    assert!(alerts.iter().all(|a| a["session"]["id"] != 5001));
    let (r, _) = run("overlay-and-mirror-ipv6.pcap");
    assert_eq!(session(&r, "fd00:10::2").verdict, Verdict::Overlay);
    assert_eq!(session(&r, "2001:db8:beef::20").verdict, Verdict::Mirror);
}

#[test]
fn every_erspan_copy_of_native_traffic_is_a_duplicate() {
    let (r, _) = run("native-and-copies.pcap");
    let s = session(&r, "10.40.0.99");
    assert_eq!(s.packets, 20);
    assert_eq!(s.duplicates.packets, 20);
    assert_eq!(s.duplicates.ratio, 1.0);
    assert_eq!(s.duplicates.median_gap_us, Some(200));
    assert_eq!(r.duplicates.paths.native_encapsulated, 20);
}

#[test]
fn tee_copy_is_a_native_duplicate_on_another_next_hop() {
    let (r, alerts) = run("tee-copy.pcap");
    assert!(r.sessions.is_empty());
    assert_eq!(r.duplicates.paths.native_native, 12);
    assert!(alerts.is_empty());
}

#[test]
fn payload_shadowing_to_an_external_host_alerts_once() {
    let (r, alerts) = run("payload-shadow.pcap");
    assert_eq!(kinds(&alerts), ["duplicate_flow_to_external"]);
    let a = &alerts[0];
    assert_eq!(a["severity"], "high");
    assert_eq!(a["flows"][1]["dst"], "203.0.113.60");
    assert_eq!(a["flows"][0]["dst"], "10.60.1.20");
    // Six shared payloads; the small keep-alives to 198.51.100.61 do not pair.
    assert_eq!(r.duplicates.flow_pairs.len(), 1);
    assert_eq!(r.duplicates.flow_pairs[0].matching_payloads, 6);
}

#[test]
fn volume_spike_is_raised() {
    let (_, alerts) = run("volume-spike.pcap");
    let a = alerts
        .iter()
        .find(|a| a["kind"] == "mirror_volume_spike")
        .expect("spike alert");
    assert_eq!(a["severity"], "medium");
    // The burst is second 20 of the capture.
    assert!(
        a["timestamp"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-01-01T00:00:21")),
        "{a}"
    );
}

#[test]
fn malformed_packets_beside_a_real_session() {
    let (r, _) = run("malformed.pcap");
    assert_eq!(session(&r, "10.66.0.10").packets, 10);
    assert!(r.decode_errors.total() >= 13);
}

#[test]
fn ordinary_traffic_raises_nothing() {
    let (r, alerts) = run("ordinary.pcap");
    assert!(r.sessions.is_empty() && alerts.is_empty());
    assert_eq!(r.duplicates.paths, Default::default());
}

#[test]
fn fail_on_and_evidence_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("mw-evidence-{}", std::process::id()));
    let pc = common::project_pcaps().join("erspan3.pcap");
    let golden = common::project_pcaps().join("golden.toml");
    std::fs::create_dir_all(&dir).expect("dir");
    let alerts = dir.join("alerts.jsonl");
    let out = common::mirrorwatch(
        &[
            "replay",
            "--config",
            &golden.to_string_lossy(),
            "--fail-on",
            "high",
            "--alerts",
            &alerts.to_string_lossy(),
            "--evidence",
            &dir.to_string_lossy(),
            "--format",
            "json",
            &pc.to_string_lossy(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(3));
    // Standard output is the JSON report alone.
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert!(report["sessions"].is_array());
    let lines = std::fs::read_to_string(&alerts).expect("alerts");
    let file = lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|a| a["evidence_file"].as_str().map(str::to_owned))
        .expect("an alert names its evidence file");
    let evidence: PathBuf = dir.join(&file);
    let n = common::pcap_record_count(&evidence).expect("evidence is a pcap");
    assert_eq!(n, 20, "every packet of the session, outer headers intact");
    // The evidence replays to the same session.
    let (r, _) = replay(
        &[evidence.to_string_lossy().into_owned()],
        &Config::default(),
    );
    assert_eq!(r.sessions[0].dst, "203.0.113.50");
    // Below the threshold: exit 0.
    let pc2 = common::project_pcaps().join("erspan2.pcap");
    let out = common::mirrorwatch(
        &[
            "replay",
            "--config",
            &golden.to_string_lossy(),
            "--fail-on",
            "medium",
            &pc2.to_string_lossy(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn real_captures_verdicts() {
    let Some(shared) = common::shared_pcaps() else {
        return;
    };
    let real = shared.join("real");
    let cfg = Config::default();
    let one = |f: &str| replay(&[real.join(f).to_string_lossy().into_owned()], &cfg).0;
    for f in ["tcpdump_vxlan.pcap", "zeek_vxlan.pcap"] {
        let r = one(f);
        assert_eq!(r.sessions.len(), 2, "{f}");
        for s in &r.sessions {
            assert_eq!(s.verdict, Verdict::Overlay, "{f}: {:?}", s.evidence);
        }
    }
    let internal = cfg.internal_networks.clone();
    let is_internal = |ip: &str| {
        let ip = ip.parse().expect("ip");
        internal.iter().any(|c| c.contains(ip))
    };
    for p in common::captures_in(&real) {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let r = one(&name);
        for s in &r.sessions {
            if name.contains("erspan") && s.encap.as_str().starts_with("erspan") {
                assert_eq!(s.verdict, Verdict::Mirror, "{name}");
            }
            if s.alerts.contains(&AlertKind::MirrorToExternal) {
                assert!(!is_internal(&s.dst), "{name}: {} is internal", s.dst);
            }
        }
    }
}

#[test]
fn scenario_alerts_to_external_only_for_external_destinations() {
    let internal = Config::default().internal_networks;
    let mut checked = 0;
    for entry in std::fs::read_dir(common::project_pcaps()).expect("pcaps/") {
        let path = entry.expect("entry").path();
        if !path.to_string_lossy().ends_with(".alerts.jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(&path).expect("alerts").lines() {
            let a: serde_json::Value = serde_json::from_str(line).expect("alert JSON");
            if a["kind"] == "mirror_to_external" {
                let dst: std::net::IpAddr = a["session"]["dst"]
                    .as_str()
                    .and_then(|d| d.parse().ok())
                    .expect("session dst");
                assert!(
                    !internal.iter().any(|c| c.contains(dst)),
                    "{}: {dst} is internal",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 6,
        "only {checked} mirror_to_external alerts checked"
    );
}

/// Ordinary DNS, QUIC and NTP whose client ports are tunnel ports (and
/// their replies, whose destination port is a tunnel port), and UDP to
/// tunnel ports without a valid header: no session, no alert. The same
/// capture read by the build before this rule made 18 sessions of it.
#[test]
fn ordinary_udp_on_tunnel_ports_makes_no_session() {
    let (r, alerts) = run("ephemeral-tunnel-ports.pcap");
    assert_eq!(r.packets, 60);
    assert!(
        r.sessions.is_empty(),
        "{:?}",
        r.sessions
            .iter()
            .map(|s| (&s.encap, &s.src, &s.dst))
            .collect::<Vec<_>>()
    );
    assert!(alerts.is_empty(), "{alerts:?}");
}

/// Two packets are enough: a SYN and its SYN-ACK copied one way to an
/// external host is a mirror (both directions of a conversation travel
/// the same way in the tunnel).
#[test]
fn two_packet_external_vxlan_mirror_alerts() {
    let (r, alerts) = run("vxlan-external-2pkt.pcap");
    let s = session(&r, "203.0.113.200");
    assert_eq!((s.packets, s.id), (2, Some(7)));
    assert_eq!(s.verdict, mirrorwatch::detect::Verdict::Mirror);
    let mut k = kinds(&alerts);
    k.sort_unstable();
    assert_eq!(k, ["mirror_session_new", "mirror_to_external"]);
}

/// A session evicted to stay within the table's cap and seen again does
/// not raise its alerts again: seven mirror captures through a table of two
/// sessions, then the same seven again, raise what the first pass raised.
#[test]
fn an_evicted_session_that_returns_does_not_alert_again() {
    let mut cfg = golden_config();
    cfg.inventory.max_sessions = 2;
    let files = common::mirror_captures();
    let (once, _) = replay(&files, &cfg);
    assert!(
        once.sessions_evicted >= 4,
        "{} evicted",
        once.sessions_evicted
    );
    let twice: Vec<String> = files.iter().chain(&files).cloned().collect();
    let (again, _) = replay(&twice, &cfg);
    assert!(again.sessions_evicted > once.sessions_evicted);
    let total = |r: &Report| r.alerts.values().sum::<u64>();
    assert!(total(&once) >= 12, "{:?}", once.alerts);
    assert_eq!(again.alerts, once.alerts, "no alert raised twice");
}

/// The per-kind rate limit: past the burst, alerts are counted and
/// summarised in one `alert_flood` per kind, carrying how many, the worst
/// severity and the top destinations; nothing is lost without a count.
#[test]
fn alert_storm_is_summarised_per_kind() {
    let mut cfg = golden_config();
    cfg.alerts.burst = 2;
    cfg.alerts.rate_per_minute = 1;
    let files = common::mirror_captures();
    let (unlimited, _) = replay(&files, &golden_config());
    let new_sessions = unlimited.alerts["mirror_session_new"];
    assert!(new_sessions >= 7, "{:?}", unlimited.alerts);

    let path = std::env::temp_dir().join(format!("mw-flood-{}.jsonl", std::process::id()));
    std::fs::remove_file(&path).ok();
    let w = AlertWriter::open(&path.to_string_lossy()).expect("alerts file");
    let r = replay_with(
        &files,
        &cfg,
        Outputs {
            alerts: Some(w),
            ..Outputs::default()
        },
    )
    .expect("replay");
    let report = r.outcome.report;
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert JSON"))
        .collect();
    std::fs::remove_file(&path).ok();
    // Two of each kind, then summaries; a refused session that keeps
    // sending is retried against the retry bucket (two more at most).
    let written_new = report.alerts["mirror_session_new"];
    assert!((2..=4).contains(&written_new), "{written_new}");
    assert_eq!(
        report.alerts_suppressed["mirror_session_new"],
        new_sessions - 2
    );
    let floods: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|a| a["kind"] == "alert_flood")
        .collect();
    let of_new = floods
        .iter()
        .find(|a| a["flood"]["kind"] == "mirror_session_new")
        .expect("a summary of mirror_session_new");
    assert_eq!(of_new["flood"]["suppressed"], new_sessions - 2);
    assert_eq!(of_new["flood"]["worst_severity"], "info");
    let to_external = floods
        .iter()
        .find(|a| a["flood"]["kind"] == "mirror_to_external")
        .expect("a summary of mirror_to_external");
    assert_eq!(to_external["severity"], "high");
    assert!(
        !to_external["flood"]["top_destinations"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    // Every alert is written or counted in a summary (a retried one both),
    // and no session has a kind written twice.
    let mut seen = std::collections::HashSet::new();
    for a in lines.iter().filter(|a| a["kind"] != "alert_flood") {
        let key = (a["kind"].to_string(), a["session"].to_string());
        assert!(seen.insert(key), "written twice: {a}");
    }
    let written_or_counted = |kind: &str| {
        lines.iter().filter(|a| a["kind"] == kind).count() as u64
            + floods
                .iter()
                .filter(|a| a["flood"]["kind"] == kind)
                .map(|a| a["flood"]["suppressed"].as_u64().unwrap_or(0))
                .sum::<u64>()
    };
    for (kind, n) in &unlimited.alerts {
        assert!(written_or_counted(kind) >= *n, "{kind}");
    }
}

/// A decoy flood cannot hide a real mirror: 20,000 two-packet ERSPAN
/// sessions to external addresses exhaust the rate limit of every session
/// alert kind, while three mirrors that keep sending throughout still get
/// their `mirror_to_external` alert (retried once their packet count
/// doubled, against the retry bucket decoys never reach). The alert lines
/// stay bounded and the rest is counted in summaries.
#[test]
fn a_decoy_flood_does_not_hide_mirrors_that_keep_sending() {
    let dir = std::env::temp_dir().join(format!("mw-decoy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cap = dir.join("decoys.pcap");
    let real: [[u8; 4]; 3] = [[203, 0, 113, 10], [203, 0, 113, 11], [203, 0, 113, 12]];
    let mut ts = 1_767_225_600_000_000i64;
    let mut frames = Vec::new();
    for i in 0..20_000u32 {
        let dst = [198, 18 + (i >> 16) as u8, (i >> 8) as u8, i as u8];
        for k in 0..2 {
            ts += 10;
            frames.push((ts, common::erspan_frame([10, 1, 0, 1], dst, k)));
        }
        if i % 25 == 0 {
            for (n, d) in real.iter().enumerate() {
                ts += 10;
                frames.push((ts, common::erspan_frame([10, 2, 0, n as u8 + 1], *d, i)));
            }
        }
    }
    common::write_pcap(&cap, frames.into_iter());
    let alerts_path = dir.join("alerts.jsonl");
    std::fs::remove_file(&alerts_path).ok();
    let w = AlertWriter::open(&alerts_path.to_string_lossy()).expect("alerts file");
    let r = replay_with(
        &[cap.to_string_lossy().into_owned()],
        &Config::default(),
        Outputs {
            alerts: Some(w),
            ..Outputs::default()
        },
    )
    .expect("replay");
    let report = r.outcome.report;
    // Decoys were evicted to keep the inventory within its cap; the
    // mirrors that keep sending stay.
    assert!(report.sessions_evicted > 0);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&alerts_path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert JSON"))
        .collect();
    let summaries = lines.iter().filter(|a| a["kind"] == "alert_flood").count();
    assert!(summaries >= 2, "{summaries} summaries");
    assert!(
        lines.len() - summaries <= 1_000,
        "{} alert lines",
        lines.len()
    );
    for d in real {
        let dst = format!("{}.{}.{}.{}", d[0], d[1], d[2], d[3]);
        assert!(
            lines
                .iter()
                .any(|a| a["kind"] == "mirror_to_external" && a["session"]["dst"] == dst),
            "no mirror_to_external for {dst}"
        );
    }
    assert!(report.alerts_suppressed["mirror_to_external"] >= 19_000);
    std::fs::remove_dir_all(&dir).ok();
}
