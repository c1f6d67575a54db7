//! Real exporters: Debian's `softflowd` reads the scenario captures in
//! `pcaps/` and exports NetFlow v5, v9, IPFIX and PSAMP (IPFIX with the
//! sampled frames) to a UDP socket of this test, which writes the
//! datagrams into a capture of export traffic; `mirrorwatch flows` reads it
//! and must find the sessions `mirrorwatch replay` finds in the scenario
//! itself: same endpoints and family, and (unsampled) the same packet
//! counts; with PSAMP the exact encapsulation and ERSPAN id / VNI. Skips,
//! saying so, when softflowd is not installed.
mod common;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mirrorwatch_pcapfile::{LINKTYPE_RAW, PcapWriter};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mirrorwatch-flows-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmpdir");
    d
}

/// Receives datagrams on `sock` until `child` has exited and nothing more
/// arrives for 200 ms; kills it past [`LIMIT`].
fn receive(
    sock: &UdpSocket,
    child: &mut std::process::Child,
    pcap: &Path,
) -> (Vec<Vec<u8>>, std::process::ExitStatus) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let mut exited = false;
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => got.push(buf[..n].to_vec()),
            Err(_) if exited => break,
            Err(_) => {}
        }
        exited = exited || matches!(child.try_wait(), Ok(Some(_)));
        if !exited && start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the exporter on {} did not finish", pcap.display());
        }
    }
    (got, child.wait().expect("exporter status"))
}

/// Runs softflowd on `pcap` exporting `version` to a socket of ours and
/// returns the datagrams it sent.
fn export(softflowd: &Path, pcap: &Path, version: &str, dir: &Path) -> Vec<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let port = sock.local_addr().expect("addr").port();
    let mut child = Command::new(softflowd)
        .arg("-d")
        .arg("-r")
        .arg(pcap)
        .args(["-n", &format!("127.0.0.1:{port}"), "-v", version])
        .arg("-p")
        .arg(dir.join(format!("softflowd-{version}.pid")))
        // No control socket: with one, softflowd 1.1.0 reading a file
        // sometimes blocks in accept() on it instead of reading.
        .args(["-c", "none"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn softflowd");
    let mut stderr = child.stderr.take().expect("stderr");
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut v);
        v
    });
    let (got, status) = receive(&sock, &mut child, pcap);
    let err = t_err.join().unwrap_or_default();
    assert!(
        status.success(),
        "softflowd failed on {}: {}",
        pcap.display(),
        String::from_utf8_lossy(&err)
    );
    got
}

/// Runs pmacctd's sFlow probe on `pcap` at 1 in `rate`, exporting to a
/// socket of ours; returns the datagrams.
fn sfprobe(pmacctd: &Path, pcap: &Path, rate: u32, dir: &Path) -> Vec<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let port = sock.local_addr().expect("addr").port();
    let conf = dir.join(format!("pmacctd-{rate}.conf"));
    std::fs::write(
        &conf,
        format!(
            "daemonize: false\npcap_savefile: {}\nplugins: sfprobe\nsfprobe_receiver: 127.0.0.1:{port}\nsampling_rate: {rate}\n",
            pcap.display()
        ),
    )
    .expect("pmacctd config");
    let log = dir.join(format!("pmacctd-{rate}.log"));
    let mut child = Command::new(pmacctd)
        .arg("-f")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("pmacctd log"))
        .spawn()
        .expect("spawn pmacctd");
    let (got, status) = receive(&sock, &mut child, pcap);
    // pmacctd 1.7.7 races at the end of a savefile: when the sfprobe
    // plugin finishes first, the core logs "no more plugins active" and
    // exits 1 after everything was exported. That end is a normal one.
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let plugin_first = text.contains("default_sfprobe/sfprobe ): Shutting down on user request")
        && text.contains("no more plugins active");
    assert!(
        status.success() || plugin_first,
        "pmacctd failed on {} ({status}): {}",
        pcap.display(),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    got
}

/// A raw-IPv4 capture of the datagrams, each from 127.0.0.1 to UDP 2055.
fn write_capture(datagrams: &[Vec<u8>], path: &Path) {
    write_capture_at(datagrams, path, 1_700_000_000_000_000);
}

/// As [`write_capture`], the first datagram received at `base_us`.
fn write_capture_at(datagrams: &[Vec<u8>], path: &Path, base_us: i64) {
    let f = std::fs::File::create(path).expect("create capture");
    let mut w = PcapWriter::new(std::io::BufWriter::new(f), LINKTYPE_RAW).expect("writer");
    for (i, d) in datagrams.iter().enumerate() {
        let udp_len = (8 + d.len()) as u16;
        let total = 20 + udp_len;
        let mut p = vec![0x45, 0];
        p.extend(total.to_be_bytes());
        p.extend([0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        p.extend(40_000u16.to_be_bytes());
        p.extend(2055u16.to_be_bytes());
        p.extend(udp_len.to_be_bytes());
        p.extend([0, 0]);
        p.extend(d);
        w.write_packet(base_us + i as i64, p.len() as u32, &p)
            .expect("write");
    }
    w.flush().expect("flush");
}

fn json(args: &[&str]) -> Value {
    let out = common::mirrorwatch(args, LIMIT);
    assert!(
        out.status.success(),
        "mirrorwatch {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// The family an exact encapsulation falls in when only the IP protocol or
/// UDP port is known.
fn family(encap: &str) -> &str {
    match encap {
        "erspan1" | "erspan2" | "erspan3" | "gre-teb" | "gre" => "gre",
        other => other,
    }
}

/// Packets per (family, source, destination).
fn by_family(report: &Value) -> BTreeMap<(String, String, String), u64> {
    let mut m = BTreeMap::new();
    for s in report["sessions"].as_array().expect("sessions") {
        let k = (
            family(s["encap"].as_str().expect("encap")).to_owned(),
            s["src"].as_str().expect("src").to_owned(),
            s["dst"].as_str().expect("dst").to_owned(),
        );
        *m.entry(k).or_insert(0) += s["packets"].as_u64().expect("packets");
    }
    m
}

/// Packets per exact (encapsulation, source, destination, id).
fn exact(report: &Value) -> BTreeMap<(String, String, String, Option<u64>), u64> {
    let mut m = BTreeMap::new();
    for s in report["sessions"].as_array().expect("sessions") {
        let k = (
            s["encap"].as_str().expect("encap").to_owned(),
            s["src"].as_str().expect("src").to_owned(),
            s["dst"].as_str().expect("dst").to_owned(),
            s["id"].as_u64(),
        );
        *m.entry(k).or_insert(0) += s["packets"].as_u64().expect("packets");
    }
    m
}

const SCENARIOS_V4: [&str; 9] = [
    "erspan1",
    "erspan2",
    "erspan3",
    "gre",
    "gre-teb",
    "vxlan",
    "vxlan-gpe",
    "geneve",
    "tzsp",
];

#[test]
fn softflowd_exports_give_the_packet_sessions() {
    let Some(softflowd) = common::on_path("softflowd") else {
        eprintln!("SKIPPED: softflowd is not installed (apt-get install softflowd)");
        return;
    };
    let dir = tmpdir("softflowd");
    let pcaps = common::project_pcaps();
    let mut checked = 0;
    for name in SCENARIOS_V4.iter().copied().chain(["erspan3-ipv6"]) {
        let scenario = pcaps.join(format!("{name}.pcap"));
        let s = scenario.to_str().expect("path");
        let packets = json(&["replay", "--format", "json", s]);
        let want = by_family(&packets);
        assert!(!want.is_empty(), "{name}: the scenario has sessions");
        let versions: &[&str] = if name.ends_with("ipv6") {
            &["9", "10"]
        } else {
            &["5", "9", "10"]
        };
        for v in versions {
            let datagrams = export(&softflowd, &scenario, v, &dir);
            assert!(
                !datagrams.is_empty(),
                "{name} v{v}: softflowd exported nothing"
            );
            let cap = dir.join(format!("{name}-v{v}.pcap"));
            write_capture(&datagrams, &cap);
            let flows = json(&["flows", "--format", "json", cap.to_str().expect("path")]);
            let input = &flows["inputs"][0];
            assert_eq!(input["errors"], 0, "{name} v{v}: {flows}");
            let fmt = match *v {
                "5" => "netflow-v5",
                "9" => "netflow-v9",
                _ => "ipfix",
            };
            assert_eq!(input["format"], fmt, "{name} v{v}");
            assert!(input["records"].as_u64().unwrap_or(0) > 0, "{name} v{v}");
            assert_eq!(flows["collector"]["pending_dropped"], 0, "{name} v{v}");
            // NetFlow v5 records carry IPv4 addresses only.
            let want: BTreeMap<_, _> = want
                .iter()
                .filter(|(k, _)| *v != "5" || !k.1.contains(':'))
                .map(|(k, n)| (k.clone(), *n))
                .collect();
            assert_eq!(by_family(&flows), want, "{name} v{v}: flow sessions differ");
            for sess in flows["sessions"].as_array().expect("sessions") {
                let seen = if *v == "10" { "ipfix" } else { "netflow" };
                assert_eq!(sess["seen_by"], serde_json::json!([seen]), "{name} v{v}");
                assert_eq!(sess["exporters"], serde_json::json!(["127.0.0.1"]));
                assert_eq!(
                    (&sess["sampling_rate"], &sess["estimated"]),
                    (&1.into(), &false.into())
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 9 * 3 + 2);
}

#[test]
fn softflowd_psamp_frames_give_the_exact_encapsulation_and_id() {
    let Some(softflowd) = common::on_path("softflowd") else {
        eprintln!("SKIPPED: softflowd is not installed (apt-get install softflowd)");
        return;
    };
    let dir = tmpdir("psamp");
    let pcaps = common::project_pcaps();
    for name in SCENARIOS_V4 {
        let scenario = pcaps.join(format!("{name}.pcap"));
        let packets = json(&[
            "replay",
            "--format",
            "json",
            scenario.to_str().expect("path"),
        ]);
        let datagrams = export(&softflowd, &scenario, "psamp", &dir);
        let cap = dir.join(format!("{name}-psamp.pcap"));
        write_capture(&datagrams, &cap);
        let flows = json(&["flows", "--format", "json", cap.to_str().expect("path")]);
        assert_eq!(flows["inputs"][0]["errors"], 0, "{name}: {flows}");
        assert_eq!(
            exact(&flows),
            exact(&packets),
            "{name}: PSAMP sessions differ"
        );
        let want_verdicts: Vec<&Value> = packets["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .filter(|s| s["verdict"] == "mirror")
            .map(|s| &s["encap"])
            .collect();
        for e in want_verdicts {
            if matches!(e.as_str(), Some("erspan1" | "erspan2" | "erspan3" | "tzsp")) {
                assert!(
                    flows["sessions"]
                        .as_array()
                        .expect("sessions")
                        .iter()
                        .any(|s| &s["encap"] == e && s["verdict"] == "mirror"),
                    "{name}: {e} is a mirror in flows too"
                );
            }
        }
    }
}

#[test]
fn pmacct_sflow_headers_give_the_erspan_id_and_vni() {
    let Some(pmacctd) = common::on_path("pmacctd") else {
        eprintln!("SKIPPED: pmacctd is not installed (apt-get install pmacct)");
        return;
    };
    let dir = tmpdir("sflow");
    let pcaps = common::project_pcaps();
    for name in ["erspan1", "erspan2", "erspan3", "vxlan", "geneve", "tzsp"] {
        let scenario = pcaps.join(format!("{name}.pcap"));
        let packets = json(&[
            "replay",
            "--format",
            "json",
            scenario.to_str().expect("path"),
        ]);
        let datagrams = sfprobe(&pmacctd, &scenario, 1, &dir);
        let cap = dir.join(format!("{name}-sflow.pcap"));
        write_capture(&datagrams, &cap);
        let flows = json(&["flows", "--format", "json", cap.to_str().expect("path")]);
        assert_eq!(flows["inputs"][0]["format"], "sflow", "{name}");
        assert_eq!(flows["inputs"][0]["errors"], 0, "{name}: {flows}");
        // Every packet sampled (1 in 1): exact keys and counts.
        assert_eq!(
            exact(&flows),
            exact(&packets),
            "{name}: sFlow sessions differ"
        );
        for s in flows["sessions"].as_array().expect("sessions") {
            assert_eq!(s["seen_by"], serde_json::json!(["sflow"]));
            assert_eq!(
                (&s["sampling_rate"], &s["estimated"]),
                (&1.into(), &false.into())
            );
        }
    }
    // Sampled 1 in 2: the same exact keys, scaled counts marked estimated.
    let scenario = pcaps.join("erspan2.pcap");
    let cap = dir.join("erspan2-sampled.pcap");
    write_capture(&sfprobe(&pmacctd, &scenario, 2, &dir), &cap);
    let flows = json(&["flows", "--format", "json", cap.to_str().expect("path")]);
    let s = &flows["sessions"][0];
    assert_eq!(
        (&s["encap"], &s["id"]),
        (&"erspan2".into(), &100.into()),
        "{flows}"
    );
    assert_eq!(
        (&s["sampling_rate"], &s["estimated"]),
        (&2.into(), &true.into())
    );
    let n = s["packets"].as_u64().unwrap_or(1);
    assert!(n % 2 == 0 && n > 0 && n <= 48, "scaled by 2: {n}");
}

/// A NetFlow v5 datagram of one record: GRE from 10.1.0.2 to 203.0.113.9,
/// 5 packets, 500 bytes.
fn v5_gre_datagram() -> Vec<u8> {
    let mut good = vec![0, 5, 0, 1];
    good.extend(1000u32.to_be_bytes());
    good.extend(1_700_000_000u32.to_be_bytes());
    good.extend([0; 12]);
    good.extend([10, 1, 0, 2, 203, 0, 113, 9]);
    good.extend([0; 8]);
    good.extend(5u32.to_be_bytes());
    good.extend(500u32.to_be_bytes());
    good.extend([0; 12]);
    good.extend([0, 0, 47, 0]);
    good.extend([0; 8]);
    good
}

#[test]
fn malformed_datagrams_are_counted_and_named_and_the_rest_kept() {
    let dir = tmpdir("malformed");
    // A good v5 datagram of one GRE record, a cut one, and an unknown one.
    let good = v5_gre_datagram();
    let cut = good[..40].to_vec();
    let cap = dir.join("exports.pcap");
    write_capture(&[cut, vec![0, 7, 0, 0], good], &cap);
    let out = common::mirrorwatch(
        &["flows", "--format", "json", cap.to_str().expect("p")],
        LIMIT,
    );
    assert!(out.status.success());
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["records"], 1);
    assert_eq!(r["inputs"][0]["errors"], 2);
    assert_eq!(r["inputs"][0]["format"], "netflow-v5");
    let s = &r["sessions"][0];
    assert_eq!(
        (&s["encap"], &s["src"], &s["dst"]),
        (&"gre".into(), &"10.1.0.2".into(), &"203.0.113.9".into())
    );
    assert_eq!(
        (&s["packets"], &s["dst_class"]),
        (&5.into(), &"external".into())
    );
    assert_eq!(
        r["collector"]["errors_by_kind"],
        serde_json::json!({"truncated": 1, "unknown_version": 1})
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("exports.pcap: frame 1 ") && err.contains("truncated"),
        "{err}"
    );
    assert!(
        err.contains("exports.pcap: frame 2 ") && err.contains("unknown_version"),
        "{err}"
    );
    // A missing input is exit status 1.
    let missing = dir.join("missing.pcap");
    let out = common::mirrorwatch(&["flows", missing.to_str().expect("p")], LIMIT);
    assert_eq!(out.status.code(), Some(1));
}

/// A capture of exports is told from a flow log by the capture reader's
/// own reading of its first bytes, in every form `replay` reads: the
/// modified pcap of Kuznetzov's tcpdump (magic 0xa1b2cd34), `pzstd` output
/// (a skippable frame first) and gzip. Each gives the record of the plain
/// capture; none is read as a log.
#[test]
fn captures_of_exports_in_every_form_the_reader_takes_are_read_as_captures() {
    let dir = tmpdir("capture-forms");
    let plain = dir.join("exports.pcap");
    write_capture(&[v5_gre_datagram()], &plain);
    let raw = std::fs::read(&plain).expect("capture");
    let mut modified = 0xa1b2_cd34u32.to_le_bytes().to_vec();
    modified.extend_from_slice(&raw[4..24]);
    for (start, end) in common::pcap_spans(&raw).expect("a classic pcap") {
        modified.extend_from_slice(&raw[start..start + 16]);
        // interface index, protocol, packet type, padding
        modified.extend_from_slice(&[1, 0, 0, 0, 0x08, 0x00, 0, 0]);
        modified.extend_from_slice(&raw[start + 16..end]);
    }
    let compress = |cmd: &[&str]| {
        let out = Command::new(cmd[0])
            .args(&cmd[1..])
            .arg(&plain)
            .output()
            .expect("compressor runs");
        assert!(out.status.success(), "{cmd:?}");
        out.stdout
    };
    let forms = [
        ("plain.pcap", raw.clone()),
        ("modified.pcap", modified),
        (
            "pzstd.pcap.zst",
            compress(&["pzstd", "-q", "-c", "-p", "2", "-1"]),
        ),
        ("gzip.pcap.gz", compress(&["gzip", "-c"])),
    ];
    for (name, bytes) in forms {
        let p = dir.join(name);
        std::fs::write(&p, bytes).expect("write");
        let r = json(&["flows", "--format", "json", p.to_str().expect("p")]);
        assert_eq!(r["records"], 1, "{name}: {r}");
        assert_eq!(r["inputs"][0]["format"], "netflow-v5", "{name}: {r}");
        assert_eq!(r["inputs"][0]["errors"], 0, "{name}: {r}");
        let s = &r["sessions"][0];
        assert_eq!(
            (&s["encap"], &s["dst"], &s["packets"]),
            (&"gre".into(), &"203.0.113.9".into(), &5.into()),
            "{name}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sessions by exact key with their `seen_by`, `exporters` and alerts.
type Key = (String, String, String, Option<u64>);

fn seen(report: &Value) -> BTreeMap<Key, (Value, Value, Value)> {
    report["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| {
            (
                (
                    s["encap"].as_str().expect("encap").to_owned(),
                    s["src"].as_str().expect("src").to_owned(),
                    s["dst"].as_str().expect("dst").to_owned(),
                    s["id"].as_u64(),
                ),
                (
                    s["seen_by"].clone(),
                    s["exporters"].clone(),
                    s["alerts"].clone(),
                ),
            )
        })
        .collect()
}

#[test]
fn a_mirror_in_packets_and_in_netflow_is_one_session_seen_by_both() {
    let Some(softflowd) = common::on_path("softflowd") else {
        eprintln!("SKIPPED: softflowd is not installed (apt-get install softflowd)");
        return;
    };
    let dir = tmpdir("merge");
    let pcaps = common::project_pcaps();
    for name in [
        "erspan2",
        "erspan3",
        "vxlan",
        "gre-teb-external",
        "aws-vxlan-mirror",
    ] {
        let scenario = pcaps.join(format!("{name}.pcap"));
        let s = scenario.to_str().expect("path");
        let packets = json(&["replay", "--format", "json", s]);
        let cap = dir.join(format!("{name}-v9.pcap"));
        write_capture(&export(&softflowd, &scenario, "9", &dir), &cap);
        let c = cap.to_str().expect("path");
        let merged = json(&["replay", "--format", "json", "--flows", c, s]);
        // The same sessions with the same exact counts: the packets'.
        assert_eq!(exact(&merged), exact(&packets), "{name}: {merged}");
        let packet_alerts = seen(&packets);
        for (key, (seen_by, exporters, alerts)) in seen(&merged) {
            assert_eq!(
                seen_by,
                serde_json::json!(["packets", "netflow"]),
                "{name} {key:?}"
            );
            assert_eq!(
                exporters,
                serde_json::json!(["127.0.0.1"]),
                "{name} {key:?}"
            );
            let want = packet_alerts.get(&key).map(|(_, _, a)| a.clone());
            assert_eq!(
                Some(alerts),
                want,
                "{name} {key:?}: the packets' alerts, once"
            );
        }
        // Raised once: the alert counts are the packets' alone.
        assert_eq!(merged["alerts"], packets["alerts"], "{name}");
        assert_eq!(merged["flows"]["inputs"][0]["format"], "netflow-v9");
        assert!(merged["flows"]["records"].as_u64().unwrap_or(0) > 0);
        // The flows alone give the family sessions, seen by NetFlow only.
        let alone = json(&["flows", "--format", "json", c]);
        assert_eq!(by_family(&alone), by_family(&packets), "{name}");
    }
}

#[test]
fn cloudtrail_explains_a_flow_session_as_it_does_a_packet_one() {
    let Some(pmacctd) = common::on_path("pmacctd") else {
        eprintln!("SKIPPED: pmacctd is not installed (apt-get install pmacct)");
        return;
    };
    let dir = tmpdir("cloudtrail");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let log = root.join("tests/fixtures/logs/aws-vxlan-mirror-cloudtrail.json");
    let log = log.to_str().expect("path");
    let scenario = common::project_pcaps().join("aws-vxlan-mirror.pcap");
    let s = scenario.to_str().expect("path");
    let packets = json(&["replay", "--format", "json", "--logs", log, s]);
    let cap = dir.join("aws-vxlan-sflow.pcap");
    // Exported as the packets pass: received at the scenario's time
    // (2026-01-01T00:00:00Z), a few minutes after the CloudTrail events.
    write_capture_at(
        &sfprobe(&pmacctd, &scenario, 1, &dir),
        &cap,
        1_767_225_600_000_000,
    );
    let c = cap.to_str().expect("path");
    let flows = json(&["flows", "--format", "json", "--logs", log, c]);
    let events = |r: &Value| -> Vec<(String, Value)> {
        r["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .filter(|s| s["encap"] == "vxlan")
            .map(|s| {
                let ids: Vec<Value> = s["config_events"]
                    .as_array()
                    .expect("config_events listed when logs are read")
                    .iter()
                    .map(|e| {
                        serde_json::json!([e["action"], e["actor"], e["vni"], e["resource_id"]])
                    })
                    .collect();
                (
                    s["dst"].as_str().expect("dst").to_owned(),
                    Value::Array(ids),
                )
            })
            .collect()
    };
    let want = events(&packets);
    assert!(
        want.iter()
            .any(|(_, e)| e.as_array().is_some_and(|a| !a.is_empty())),
        "the packet session is explained: {packets}"
    );
    assert_eq!(events(&flows), want, "{flows}");
    for r in [&packets, &flows] {
        assert!(
            r["alerts"].get("mirror_without_config").is_none(),
            "explained sessions raise no mirror_without_config: {r}"
        );
    }
    // Without the log, the flow session is unexplained.
    let bare = json(&["flows", "--format", "json", c]);
    assert!(bare["sessions"][0].get("config_events").is_none());
}

#[test]
fn live_flow_listen_receives_exports_into_the_inventory_and_metrics() {
    let Some(softflowd) = common::on_path("softflowd") else {
        eprintln!("SKIPPED: softflowd is not installed (apt-get install softflowd)");
        return;
    };
    let dir = tmpdir("listen");
    let scenario = common::project_pcaps().join("erspan3.pcap");
    let datagrams = export(&softflowd, &scenario, "10", &dir);
    assert!(!datagrams.is_empty());
    let (flow_port, http_port) = (common::free_port(), common::free_port());
    let bin = env!("CARGO_BIN_EXE_mirrorwatch");
    let alerts = dir.join("alerts.jsonl");
    let child = Command::new(bin)
        .args(["live", "--no-state", "--flow-listen"])
        .arg(format!("127.0.0.1:{flow_port}"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{http_port}"))
        .arg("--alerts")
        .arg(&alerts)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the sensor");
    let _sensor = common::Proc(child);
    let addr = format!("127.0.0.1:{http_port}");
    common::wait_for(Duration::from_secs(20), || {
        common::http_get(&addr, "/healthz")
            .ok()
            .filter(|(c, _)| *c == 200)
    })
    .expect("the sensor serves /healthz");
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for d in &datagrams {
        sock.send_to(d, ("127.0.0.1", flow_port)).expect("send");
    }
    let body = common::wait_for(Duration::from_secs(20), || {
        let (_, b) = common::http_get(&addr, "/api/v1/sessions").ok()?;
        let v: Value = serde_json::from_str(&b).ok()?;
        // Judged on the wall-clock tick after its records arrived.
        (v["sessions"][0]["verdict"] == "mirror").then_some(v)
    })
    .expect("a flow session is published and judged a mirror");
    let s = &body["sessions"][0];
    assert_eq!(
        (&s["encap"], &s["src"], &s["dst"]),
        (&"gre".into(), &"10.1.0.3".into(), &"203.0.113.50".into()),
        "{body}"
    );
    assert_eq!(s["seen_by"], serde_json::json!(["ipfix"]));
    assert_eq!(s["verdict"], "mirror");
    let metrics = common::wait_for(Duration::from_secs(10), || {
        let (_, m) = common::http_get(&addr, "/metrics").ok()?;
        m.contains("mirrorwatch_flow_mirror_sessions{dst_class=\"external\"} 1")
            .then_some(m)
    })
    .expect("the flow mirror gauge");
    let records: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("mirrorwatch_flow_received_records_total{"))
        .filter(|l| l.contains("exporter=\"127.0.0.1\"") && l.contains("format=\"ipfix\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(records >= 1.0, "{metrics}");
    assert!(metrics.contains("mirrorwatch_flow_active_templates{exporter=\"127.0.0.1\"}"));
    // Nothing was lost on the way, and the count of kernel drops is there.
    common::assert_none_lost(
        &metrics,
        "collector=\"main\"",
        &[
            "mirrorwatch_flow_queue_dropped_datagrams_total",
            "mirrorwatch_flow_kernel_dropped_datagrams_total",
        ],
    );
    let lines = common::wait_for(Duration::from_secs(10), || {
        let t = std::fs::read_to_string(&alerts).ok()?;
        t.contains("mirror_to_external").then_some(t)
    })
    .expect("the alert is written");
    assert!(lines.contains("(flow records: ipfix)"), "{lines}");
}
