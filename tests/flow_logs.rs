//! Cloud flow logs and IDS logs (`tests/fixtures/flows/`, written from the
//! providers' documentation; see its README) through `mirrorwatch flows`:
//! each fixture's mirror sessions with hand-written endpoints, family,
//! packets, bytes and `seen_by`; nothing from the ordinary flows in the
//! same files; malformed lines counted, warned about with file and line,
//! and what was read around them kept.
mod common;

use std::time::Duration;

use mirrorwatch::config::Config;
use mirrorwatch::detect::{DstClass, Verdict};
use mirrorwatch::flows::{FlowsReport, InputFormat, run_inputs};
use mirrorwatch::report::SessionReport;
use mirrorwatch::source::flow::FlowFormat;
use serde_json::Value;

fn fixture(p: &str) -> String {
    format!("{}/tests/fixtures/flows/{p}", env!("CARGO_MANIFEST_DIR"))
}

fn read(paths: &[&str], force: Option<InputFormat>) -> FlowsReport {
    let paths: Vec<String> = paths.iter().map(|p| fixture(p)).collect();
    run_inputs(&paths, &Config::default(), force)
}

/// An expected session: family, source, destination, packets, bytes.
type Want = (&'static str, &'static str, &'static str, u64, u64);

/// The report's sessions are exactly `want` (no session from the
/// ordinary flows), each seen by `seen_by` only.
fn assert_sessions(r: &FlowsReport, want: &[Want], seen_by: &str) {
    let mut got: Vec<(String, String, String, u64, u64)> = r
        .sessions
        .iter()
        .map(|s| {
            (
                s.encap.to_string(),
                s.src.clone(),
                s.dst.clone(),
                s.packets,
                s.bytes,
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String, String, u64, u64)> = want
        .iter()
        .map(|(e, s, d, p, b)| (e.to_string(), s.to_string(), d.to_string(), *p, *b))
        .collect();
    want.sort();
    assert_eq!(got, want);
    for s in &r.sessions {
        assert_eq!(
            s.seen_by.as_deref(),
            Some(&[seen_by][..]),
            "{} {}",
            s.src,
            s.dst
        );
        assert_eq!(
            s.exporters.as_deref(),
            Some(&[][..]),
            "logs name no exporter"
        );
        assert_eq!((s.estimated, s.sampling_rate), (Some(false), Some(1)));
    }
}

fn find<'r>(r: &'r FlowsReport, src: &str, dst: &str) -> &'r SessionReport {
    r.sessions
        .iter()
        .find(|s| s.src == src && s.dst == dst)
        .unwrap_or_else(|| panic!("no session {src} -> {dst}"))
}

/// (records, skipped, errors) of the one input, and its warnings.
fn counts(r: &FlowsReport) -> ((u64, u64, u64), &[String]) {
    assert_eq!(r.inputs.len(), 1, "{:?}", r.inputs);
    let i = &r.inputs[0];
    assert!(i.error.is_none(), "{:?}", i.error);
    ((i.records, i.skipped, i.errors), &i.warnings)
}

fn assert_warned(warnings: &[String], file: &str, line: u64, text: &str) {
    let at = format!("{}:{line}: ", fixture(file));
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with(&at) && w.contains(text)),
        "no warning at {at} containing {text:?} in {warnings:#?}"
    );
}

#[test]
fn aws_default_format() {
    let r = read(&["aws/default.log"], None);
    assert_sessions(
        &r,
        &[("gre", "10.0.1.15", "198.51.100.20", 200, 260_000)],
        "aws-vpc",
    );
    let s = find(&r, "10.0.1.15", "198.51.100.20");
    assert_eq!(
        (s.verdict, s.dst_class),
        (Verdict::Mirror, DstClass::External)
    );
    assert_eq!(s.first_seen, "2026-01-01T10:00:00.000000Z");
    assert_eq!(s.last_seen, "2026-01-01T10:02:00.000000Z");
    // SSH, two GRE windows, HTTPS; REJECT, NODATA, SKIPDATA; two bad lines.
    let (c, w) = counts(&r);
    assert_eq!(c, (4, 3, 2));
    assert_eq!(r.inputs[0].format, "aws-vpc");
    assert_eq!(r.inputs[0].lines, 10);
    assert_warned(w, "aws/default.log", 7, "packets \"many\" is not a number");
    assert_warned(w, "aws/default.log", 9, "4 fields where the format has 14");
}

#[test]
fn aws_custom_v5_gzip_uses_packet_addresses() {
    let r = read(&["aws/custom-v5.log.gz"], None);
    // The NAT gateway's interface (10.0.0.200) records the instance's
    // packets: pkt-srcaddr names the instance.
    assert_sessions(
        &r,
        &[("vxlan", "10.0.2.30", "203.0.113.45", 500, 700_000)],
        "aws-vpc",
    );
    let s = find(&r, "10.0.2.30", "203.0.113.45");
    assert_eq!(
        (s.verdict, s.egress_packets, s.ingress_packets),
        (Verdict::Mirror, 500, 0)
    );
    let (c, w) = counts(&r);
    assert_eq!(c, (4, 1, 1));
    assert_warned(
        w,
        "aws/custom-v5.log.gz",
        6,
        "15 fields where the format has 29",
    );
}

/// A gzip flow log of two members followed by zero bytes (tape blocking,
/// which GNU gzip ignores) reads as the one-member file does: the same
/// sessions and counts, and no error for the padding.
#[test]
fn gzip_flow_logs_of_two_members_padded_with_zeros_read_in_full() {
    let dir = std::env::temp_dir().join(format!("mirrorwatch-gzpad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let plain = {
        use std::io::Read;
        let gz = std::fs::read(fixture("aws/custom-v5.log.gz")).expect("fixture");
        let mut s = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut s)
            .expect("gunzip");
        s
    };
    // Split after the header line and the first record.
    let cut = plain
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .map(|(i, _)| i + 1)
        .expect("two lines");
    let mut two = Vec::new();
    for part in [&plain[..cut], &plain[cut..]] {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(part).expect("gzip");
        two.extend(enc.finish().expect("gzip"));
    }
    two.extend(std::iter::repeat_n(0u8, 10 << 10));
    let path = dir.join("custom-v5.log.gz");
    std::fs::write(&path, &two).expect("write");
    let r = run_inputs(&[path.display().to_string()], &Config::default(), None);
    let want = read(&["aws/custom-v5.log.gz"], None);
    assert_eq!(counts(&r).0, counts(&want).0);
    assert_eq!(r.inputs[0].lines, want.inputs[0].lines);
    assert_eq!(r.sessions.len(), want.sessions.len());
    assert_eq!(
        counts(&r).1.len(),
        counts(&want).1.len(),
        "{:?}",
        counts(&r).1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A zstd flow log (`compresscmd zstd`, or pzstd's skippable frame and
/// one frame per chunk) reads as the gzip one does, and is not mistaken
/// for a zstd capture.
#[test]
fn zstd_flow_logs_of_several_frames_read_as_the_gzip_one() {
    use std::io::Read;
    let dir = std::env::temp_dir().join(format!("mirrorwatch-zstlog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let gz = std::fs::read(fixture("aws/custom-v5.log.gz")).expect("fixture");
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut plain)
        .expect("gunzip");
    let half = plain.len() / 2;
    let mut zst = vec![0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0];
    for part in [&plain[..half], &plain[half..]] {
        zst.extend(ruzstd::encoding::compress_to_vec(
            part,
            ruzstd::encoding::CompressionLevel::Fastest,
        ));
    }
    let path = dir.join("custom-v5.log.zst");
    std::fs::write(&path, &zst).expect("write");
    let r = run_inputs(&[path.display().to_string()], &Config::default(), None);
    let want = read(&["aws/custom-v5.log.gz"], None);
    assert!(r.inputs[0].error.is_none(), "{:?}", r.inputs[0].error);
    assert_eq!(r.inputs[0].format, want.inputs[0].format);
    assert_eq!(counts(&r).0, counts(&want).0);
    assert_eq!(r.inputs[0].lines, want.inputs[0].lines);
    assert!(!want.sessions.is_empty());
    assert_eq!(r.sessions.len(), want.sessions.len());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Flow logs saved by Windows tools start with a UTF-8 byte-order mark:
/// each reads as the file without it (the same format, records, errors and
/// sessions), where the mark used to make the first record, or the whole
/// Azure document, unreadable.
#[test]
fn flow_logs_with_a_byte_order_mark_read_as_without_it() {
    let dir = std::env::temp_dir().join(format!("mirrorwatch-bom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for name in [
        "azure/vnet-PT1H.json",
        "azure/nsg-PT1H.json",
        "gcp/vpc_flows.jsonl",
        "aws/custom-v5.log.gz",
    ] {
        let mut text = std::fs::read(fixture(name)).expect("fixture");
        if name.ends_with(".gz") {
            use std::io::Read;
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&text[..])
                .read_to_end(&mut plain)
                .expect("gunzip");
            text = plain;
        }
        let mut bom = vec![0xef, 0xbb, 0xbf];
        bom.extend(&text);
        let path = dir.join(name.replace('/', "-").trim_end_matches(".gz"));
        std::fs::write(&path, &bom).expect("write");
        let r = run_inputs(&[path.display().to_string()], &Config::default(), None);
        let want = read(&[name], None);
        assert_eq!(r.inputs[0].format, want.inputs[0].format, "{name}");
        assert_eq!(counts(&r).0, counts(&want).0, "{name}");
        assert!(!want.sessions.is_empty(), "{name}");
        assert_eq!(r.sessions.len(), want.sessions.len(), "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gcp_logging_lines_and_exported_array() {
    let r = read(&["gcp/vpc_flows.jsonl"], None);
    assert_sessions(
        &r,
        &[("gre", "10.128.0.7", "198.51.100.30", 500, 750_000)],
        "gcp-vpc",
    );
    assert_eq!(
        find(&r, "10.128.0.7", "198.51.100.30").verdict,
        Verdict::Mirror
    );
    // Two GRE and one HTTPS flow; the DEST report of a VM-to-VM flow and a
    // firewall rule log skipped; a bad address and a cut line.
    let (c, w) = counts(&r);
    assert_eq!(c, (3, 2, 2));
    assert_warned(
        w,
        "gcp/vpc_flows.jsonl",
        6,
        "\"10.128.0.300\" is not an IP address",
    );
    assert_warned(w, "gcp/vpc_flows.jsonl", 7, "invalid JSON");

    let r = read(&["gcp/export.json"], None);
    assert_sessions(
        &r,
        &[("geneve", "10.128.0.9", "203.0.113.60", 40, 52_000)],
        "gcp-vpc",
    );
    let (c, _) = counts(&r);
    assert_eq!(c, (2, 0, 0));
}

#[test]
fn azure_vnet_and_nsg_flow_logs() {
    let r = read(&["azure/vnet-PT1H.json"], None);
    assert_sessions(
        &r,
        &[
            ("vxlan", "10.1.0.4", "198.51.100.77", 1500, 2_100_000),
            ("gre", "10.1.0.5", "203.0.113.99", 60, 78_000),
        ],
        "azure-vnet",
    );
    let v = find(&r, "10.1.0.4", "198.51.100.77");
    assert_eq!((v.verdict, v.egress_packets), (Verdict::Mirror, 1500));
    // Six tuples read, one denied, one with a bad address.
    let (c, w) = counts(&r);
    assert_eq!(c, (6, 1, 1));
    assert_warned(
        w,
        "azure/vnet-PT1H.json",
        26,
        "record 0 flow 0 group 0 tuple 6: destination address \"not-an-address\"",
    );

    let r = read(&["azure/nsg-PT1H.json"], None);
    assert_sessions(
        &r,
        &[("vxlan", "10.5.16.4", "198.51.100.88", 250, 350_000)],
        "azure-vnet",
    );
    let (c, w) = counts(&r);
    assert_eq!(c, (4, 2, 1));
    assert_warned(
        w,
        "azure/nsg-PT1H.json",
        1,
        "rule 1 flow 0 tuple 4: state \"X\"",
    );
}

#[test]
fn zeek_conn_and_tunnel_logs() {
    let r = read(&["zeek/conn.log"], None);
    assert_sessions(
        &r,
        &[
            ("vxlan", "10.2.0.8", "203.0.113.120", 900, 1_200_000),
            // Both directions of one conn.log record: an overlay.
            ("vxlan", "10.2.0.20", "10.2.0.21", 50, 60_000),
            ("vxlan", "10.2.0.21", "10.2.0.20", 45, 55_000),
        ],
        "zeek",
    );
    assert_eq!(
        find(&r, "10.2.0.8", "203.0.113.120").verdict,
        Verdict::Mirror
    );
    let o = find(&r, "10.2.0.20", "10.2.0.21");
    assert_eq!(
        (o.verdict, o.dst_class),
        (Verdict::Overlay, DstClass::Internal)
    );
    assert!(o.alerts.is_empty());
    let (c, w) = counts(&r);
    assert_eq!(c, (4, 0, 2));
    assert_warned(w, "zeek/conn.log", 13, "9 fields where #fields names 21");
    assert_warned(w, "zeek/conn.log", 14, "ts \"yesterday\" is not a time");

    let r = read(&["zeek/tunnel.log"], None);
    // GRE discovered and closed; Teredo and AYIYA are not mirrors. A
    // tunnel.log line has no counts: the session stays undetermined.
    assert_sessions(&r, &[("gre", "10.2.0.9", "198.51.100.140", 0, 0)], "zeek");
    let g = find(&r, "10.2.0.9", "198.51.100.140");
    assert_eq!(g.verdict, Verdict::Undetermined);
    assert_eq!(g.first_seen, "2026-01-01T10:00:00.000000Z");
    assert_eq!(g.last_seen, "2026-01-01T10:05:00.000000Z");
    let (c, w) = counts(&r);
    assert_eq!(c, (4, 0, 1));
    assert_warned(w, "zeek/tunnel.log", 13, "tunnel_type \"PPP\"");

    let r = read(&["zeek/conn.json"], None);
    assert_sessions(
        &r,
        &[
            ("geneve", "10.2.0.30", "198.51.100.150", 70, 90_000),
            ("vxlan", "10.2.0.8", "203.0.113.120", 0, 0),
        ],
        "zeek",
    );
    let (c, w) = counts(&r);
    assert_eq!(c, (3, 0, 1));
    assert_warned(w, "zeek/conn.json", 4, "orig_pkts \"-5\" is not a number");

    // conn.log and the JSON tunnel.log line of the same VXLAN: one session.
    let r = read(&["zeek/conn.log", "zeek/conn.json"], None);
    let v = find(&r, "10.2.0.8", "203.0.113.120");
    assert_eq!(v.packets, 900);
    assert_eq!(
        r.sessions
            .iter()
            .filter(|s| s.dst == "203.0.113.120")
            .count(),
        1
    );
}

#[test]
fn suricata_flow_and_netflow_events() {
    let r = read(&["suricata/eve.json"], None);
    assert_sessions(
        &r,
        &[
            ("gre", "10.3.0.5", "198.51.100.200", 400, 520_000),
            // A flow seen inside a VXLAN tunnel: the tunnel's ends.
            ("vxlan", "10.3.0.6", "203.0.113.210", 50, 28_000),
            ("geneve", "10.3.0.7", "198.51.100.220", 64, 80_000),
        ],
        "suricata",
    );
    for s in &r.sessions {
        assert_eq!(
            (s.verdict, s.dst_class),
            (Verdict::Mirror, DstClass::External)
        );
    }
    // Alert and DNS events skipped; a bad count and a cut line.
    let (c, w) = counts(&r);
    assert_eq!(c, (5, 2, 2));
    assert_warned(w, "suricata/eve.json", 8, "not a count");
    assert_warned(w, "suricata/eve.json", 9, "invalid JSON");
}

#[test]
fn directories_are_walked_and_formats_told_apart() {
    let r = read(&["aws", "gcp", "azure", "zeek", "suricata"], None);
    assert_eq!(r.inputs.len(), 10);
    let formats: Vec<&str> = r.inputs.iter().map(|i| i.format.as_str()).collect();
    assert_eq!(
        formats,
        [
            "aws-vpc",
            "aws-vpc",
            "gcp-vpc",
            "gcp-vpc",
            "azure-vnet",
            "azure-vnet",
            "zeek",
            "zeek",
            "zeek",
            "suricata"
        ]
    );
    // Every fixture's sessions, the Zeek VXLAN once.
    assert_eq!(r.sessions.len(), 1 + 1 + 1 + 1 + 2 + 1 + 3 + 1 + 1 + 3);
    assert_eq!(r.records, r.inputs.iter().map(|i| i.records).sum::<u64>());
    for f in [FlowFormat::AwsVpc, FlowFormat::Zeek, FlowFormat::Suricata] {
        assert!(
            r.sessions
                .iter()
                .any(|s| s.seen_by.as_deref() == Some(&[f.seen_by()][..]))
        );
    }
}

#[test]
fn a_forced_format_reads_only_that_format() {
    // Suricata forced on Zeek JSON: every record is the wrong kind.
    let r = read(
        &["zeek/conn.json"],
        Some(InputFormat::Log(FlowFormat::Suricata)),
    );
    assert!(r.sessions.is_empty());
    let (c, w) = counts(&r);
    assert_eq!(c, (0, 0, 4));
    assert_warned(w, "zeek/conn.json", 1, "a zeek record, not suricata");
    // Forcing the right one changes nothing.
    let r = read(
        &["zeek/conn.json"],
        Some(InputFormat::Log(FlowFormat::Zeek)),
    );
    assert_eq!(counts(&r).0, (3, 0, 1));
}

#[test]
fn cli_reads_logs_reports_inputs_and_warns_with_file_and_line() {
    let eve = fixture("suricata/eve.json");
    let aws = fixture("aws/default.log");
    let out = common::mirrorwatch(
        &["flows", "--format", "json", &eve, &aws],
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let inputs = v["inputs"].as_array().expect("inputs");
    let row = |i: usize| {
        (
            inputs[i]["path"].as_str().unwrap_or("").to_owned(),
            inputs[i]["format"].as_str().unwrap_or("").to_owned(),
            inputs[i]["records"].as_u64(),
            inputs[i]["errors"].as_u64(),
        )
    };
    assert_eq!(
        row(0),
        (eve.clone(), "suricata".to_owned(), Some(5), Some(2))
    );
    assert_eq!(
        row(1),
        (aws.clone(), "aws-vpc".to_owned(), Some(4), Some(2))
    );
    assert_eq!(v["records"].as_u64(), Some(9));
    assert_eq!(v["sessions"].as_array().map(Vec::len), Some(4));
    assert_eq!(v["alerts"]["mirror_to_external"].as_u64(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("warning: {aws}:7: aws-vpc record: packets")),
        "{err}"
    );
    assert!(
        err.contains(&format!("warning: {eve}:9: invalid JSON")),
        "{err}"
    );

    let out = common::mirrorwatch(
        &[
            "flows",
            "--input-format",
            "aws-vpc",
            "--format",
            "json",
            &eve,
        ],
        Duration::from_secs(60),
    );
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["sessions"].as_array().map(Vec::len), Some(0));
    assert_eq!(v["inputs"][0]["errors"].as_u64(), Some(9));

    let out = common::mirrorwatch(
        &["flows", "--input-format", "netflow", &eve],
        Duration::from_secs(60),
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown kind is a usage error"
    );
}

/// Every prefix of every fixture (a file cut while being written or
/// copied): no panic, never more records than the whole file, and the
/// records before the cut all read.
#[test]
fn cut_files_keep_what_was_read_before_the_cut() {
    use mirrorwatch::source::flow::capture::FlowInput;
    use mirrorwatch::source::flow::flowlog::read_log_from;
    for name in [
        "aws/default.log",
        "gcp/vpc_flows.jsonl",
        "gcp/export.json",
        "azure/vnet-PT1H.json",
        "azure/nsg-PT1H.json",
        "zeek/conn.log",
        "zeek/tunnel.log",
        "zeek/conn.json",
        "suricata/eve.json",
    ] {
        let whole = std::fs::read(fixture(name)).expect("fixture");
        let read = |b: &[u8]| {
            let mut input = FlowInput::new(name);
            read_log_from(b, name, None, &mut |_| {}, &mut input);
            input
        };
        let full = read(&whole);
        let mut last = 0;
        for cut in 0..=whole.len() {
            let i = read(&whole[..cut]);
            assert!(i.records <= full.records, "{name} cut at {cut}");
            // Line-oriented files: a cut never loses a complete line.
            if !name.ends_with("PT1H.json") && !name.ends_with("export.json") {
                assert!(
                    i.records + 1 >= last,
                    "{name} cut at {cut}: {} after {last}",
                    i.records
                );
            }
            last = i.records;
        }
        assert_eq!(last, full.records);
    }
}

#[test]
fn binary_files_are_one_error_not_a_warning_per_line() {
    let dir = std::env::temp_dir().join(format!("mirrorwatch-flowlogs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bin = dir.join("random.bin");
    std::fs::write(&bin, [0x7fu8, 0, 1, 2, b'\n', 0, 0, 9]).expect("write");
    let r = run_inputs(&[bin.display().to_string()], &Config::default(), None);
    let i = &r.inputs[0];
    assert_eq!((i.records, i.errors), (0, 0));
    assert!(
        i.error
            .as_deref()
            .is_some_and(|e| e.contains("binary data")),
        "{:?}",
        i.error
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `flow_volume_shift` from AWS VPC Flow Logs in the default format,
/// written here: every expectation below is worked out by hand from the
/// thresholds of the default configuration (60 s intervals, 3 intervals of
/// baseline, spike factor 5, 1 MB/s for a new one-way pair, 100 kB/s noise
/// floor).
#[test]
fn flow_volume_shifts_from_aws_flow_logs() {
    let dir = std::env::temp_dir().join(format!("mirrorwatch-volume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmpdir");
    let log = dir.join("vpc.log");
    let alerts = dir.join("alerts.jsonl");
    let _ = std::fs::remove_file(&alerts);
    let t0 = 1_767_225_600; // 2026-01-01T00:00:00Z
    let line = |src: &str, dst: &str, dport: u16, proto: u8, bytes: u64, start: u64| {
        format!(
            "2 123456789010 eni-0a1b2c3d {src} {dst} 40000 {dport} {proto} 100 {bytes} {start} {} ACCEPT OK\n",
            start + 60
        )
    };
    let mut text = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n",
    );
    for m in 0..6u64 {
        let t = t0 + m * 60;
        // A: 10.0.0.7 -> 10.0.0.8 TCP at 10 kB/s for five minutes, then
        // 1.2 MB/s (120x): a jump, internal, not a tunnel: medium.
        let a = if m < 5 { 600_000 } else { 72_000_000 };
        text.push_str(&line("10.0.0.7", "10.0.0.8", 443, 6, a, t));
        // B: the same jump to 3x only: under the spike factor, nothing.
        let b = if m < 5 { 6_000_000 } else { 18_000_000 };
        text.push_str(&line("10.0.0.9", "10.0.0.10", 443, 6, b, t));
        // C: an upload to an outside host at 2 MB/s whose replies come in
        // the next line: not one-way, nothing.
        text.push_str(&line("10.0.0.11", "198.51.100.5", 443, 6, 120_000_000, t));
        text.push_str(&line("198.51.100.5", "10.0.0.11", 40000, 6, 2_000_000, t));
    }
    // D: GRE from 10.0.0.5 to an outside address at 1.5 MB/s, one way:
    // a new one-way tunnel to an external destination: high.
    text.push_str(&line("10.0.0.5", "203.0.113.77", 0, 47, 90_000_000, t0));
    // E: the same to an internal address: not external, nothing.
    text.push_str(&line("10.0.0.5", "10.9.9.9", 0, 47, 90_000_000, t0));
    std::fs::write(&log, text).expect("write log");
    let out = common::mirrorwatch(
        &[
            "flows",
            "--format",
            "json",
            "--alerts",
            alerts.to_str().expect("path"),
            log.to_str().expect("path"),
        ],
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = std::fs::read_to_string(&alerts).expect("alerts");
    let shifts: Vec<Value> = lines
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|a| a["kind"] == "flow_volume_shift")
        .collect();
    let got: Vec<(String, String)> = shifts
        .iter()
        .map(|a| {
            (
                a["message"].as_str().unwrap_or_default().to_owned(),
                a["severity"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(shifts.len(), 2, "{got:#?}");
    let jump = shifts
        .iter()
        .find(|a| {
            a["message"]
                .as_str()
                .is_some_and(|m| m.contains("from 10.0.0.7 to 10.0.0.8"))
        })
        .unwrap_or_else(|| panic!("the jump of A: {got:#?}"));
    assert_eq!(jump["severity"], "medium");
    assert_eq!(jump["dst_class"], "internal");
    assert!(
        jump["message"]
            .as_str()
            .is_some_and(|m| m.contains("jumped to 1200000 bytes/s")),
        "{jump}"
    );
    assert!(
        jump["evidence"][0]
            .as_str()
            .is_some_and(|e| e.starts_with("rate_jump:")),
        "{jump}"
    );
    let new = shifts
        .iter()
        .find(|a| {
            a["message"]
                .as_str()
                .is_some_and(|m| m.contains("from 10.0.0.5 to 203.0.113.77"))
        })
        .unwrap_or_else(|| panic!("the new tunnel D: {got:#?}"));
    assert_eq!(new["severity"], "high");
    assert_eq!(new["dst_class"], "external");
    assert_eq!(new["session"]["encap"], "gre");
    assert!(
        new["message"]
            .as_str()
            .is_some_and(|m| m.contains("new one-way flow of 1500000 bytes/s")),
        "{new}"
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["alerts"]["flow_volume_shift"], 2);
}
