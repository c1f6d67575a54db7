//! Sensor mode with real parts: a network namespace and a veth pair,
//! `mirrorwatch live` on one end, `tcpreplay` of scenario captures into the
//! other, then the HTTP API and metrics are scraped and checked. Needs root
//! (CI runs as root), `ip` and `tcpreplay`; skips with a message otherwise.
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Proc, Veth, sh};

fn have(tool: &str) -> bool {
    common::on_path(tool).is_some()
}

fn start_live(iface: &str, addr: &str, alerts: &str) -> Proc {
    start_live_with(iface, addr, &["--alerts", alerts])
}

/// `mirrorwatch live` with the golden configuration, once it is ready.
fn start_live_with(iface: &str, addr: &str, extra: &[&str]) -> Proc {
    let golden = common::project_pcaps().join("golden.toml");
    let mut args: Vec<std::ffi::OsString> = ["-i", iface, "--listen", addr, "--no-state"]
        .iter()
        .chain(extra)
        .map(|a| a.into())
        .collect();
    args.extend(["--config".into(), golden.into_os_string()]);
    let p = common::spawn_live(args);
    assert!(
        common::wait_healthy(addr),
        "mirrorwatch live did not become ready on {addr}"
    );
    p
}

fn sessions(addr: &str) -> Vec<serde_json::Value> {
    common::http_get(addr, "/api/v1/sessions")
        .ok()
        .and_then(|(_, b)| serde_json::from_str::<serde_json::Value>(&b).ok())
        .and_then(|v| v["sessions"].as_array().cloned())
        .unwrap_or_default()
}

#[test]
fn live_capture_sees_what_tcpreplay_sends() {
    if !common::can_capture_live() {
        return;
    }
    let veth = Veth::new("a");
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let alerts = std::env::temp_dir().join(format!("mw-live-alerts-{}.jsonl", std::process::id()));
    std::fs::remove_file(&alerts).ok();
    let mut live = start_live(&veth.host, &addr, &alerts.to_string_lossy());

    let pcaps = common::project_pcaps();
    for f in ["erspan3.pcap", "vxlan.pcap", "tzsp.pcap"] {
        assert!(
            veth.replay(&pcaps.join(f).to_string_lossy(), ""),
            "tcpreplay {f}"
        );
    }
    // Packet counts equal what was sent.
    let want = [
        ("erspan3", "203.0.113.50", 20u64),
        ("vxlan", "10.2.0.2", 11),
        ("vxlan", "10.2.0.1", 9),
        ("vxlan", "198.51.100.7", 12),
        ("tzsp", "203.0.113.99", 14),
    ];
    let got = common::wait_for(Duration::from_secs(10), || {
        let s = sessions(&addr);
        let all = want.iter().all(|(e, dst, n)| {
            s.iter()
                .any(|x| x["encap"] == *e && x["dst"] == *dst && x["packets"].as_u64() == Some(*n))
        });
        all.then_some(s)
    });
    assert!(
        got.is_some(),
        "sessions never matched: {:?}",
        sessions(&addr)
    );
    let s = got.unwrap_or_default();
    let erspan = s
        .iter()
        .find(|x| x["encap"] == "erspan3")
        .cloned()
        .unwrap_or_default();
    assert_eq!(erspan["dst_class"], "external");
    assert_eq!(erspan["verdict"], "mirror");

    let (code, metrics) = common::http_get(&addr, "/metrics").expect("scrape");
    assert_eq!(code, 200);
    let up = format!("mirrorwatch_capture_up{{interface=\"{}\"}} 1", veth.host);
    assert!(metrics.contains(&up), "{up} missing");
    assert!(
        metrics.contains("mirrorwatch_decode_encapsulated_packets_total{encap=\"erspan3\"} 20")
    );
    assert!(metrics.contains(
        "mirrorwatch_detect_alerts_total{kind=\"mirror_to_external\",severity=\"high\"}"
    ));
    for line in metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap_or("");
        assert!(
            mirrorwatch::export::metrics::check_name(name),
            "metric name {name} breaks the rule"
        );
    }

    // promtool, when installed (CI installs it), checks the live scrape.
    if have("promtool") {
        let path = std::env::temp_dir().join(format!("mw-scrape-{}.txt", std::process::id()));
        std::fs::write(&path, &metrics).expect("write scrape");
        let out = Command::new("sh")
            .args([
                "-c",
                &format!("promtool check metrics < {}", path.display()),
            ])
            .output()
            .expect("promtool");
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(&path).ok();
    } else {
        eprintln!("SKIPPED: promtool check metrics (promtool not installed)");
    }

    let (_, api_alerts) = common::http_get(&addr, "/api/v1/alerts").expect("alerts");
    let api: serde_json::Value = serde_json::from_str(&api_alerts).expect("alerts JSON");
    let served = api["alerts"].as_array().map_or(0, Vec::len);
    assert!(served >= 2);

    // SIGTERM: exits 0 within 2 seconds, every alert on disk.
    let t = Instant::now();
    sh(&format!("kill -TERM {}", live.0.id()));
    let status = common::wait_for(Duration::from_secs(5), || live.0.try_wait().ok().flatten());
    let elapsed = t.elapsed();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "exit status after SIGTERM"
    );
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?} to stop");
    let written = std::fs::read_to_string(&alerts).unwrap_or_default();
    let lines: Vec<serde_json::Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert line"))
        .collect();
    assert!(
        lines.len() >= served,
        "{} alerts written, {served} served",
        lines.len()
    );
    assert!(
        lines
            .iter()
            .any(|a| a["kind"] == "mirror_to_external" && a["session"]["dst"] == "203.0.113.50")
    );
    std::fs::remove_file(&alerts).ok();
}

#[test]
fn bad_interface_bpf_and_busy_port_are_one_clear_line() {
    if !common::can_capture_live() {
        return;
    }
    let run = |args: &[&str]| {
        let out = common::mirrorwatch(args, Duration::from_secs(20));
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&[
        "live",
        "-i",
        "mwnosuch0",
        "--listen",
        "127.0.0.1:0",
        "--no-state",
    ]);
    assert_ne!(code, Some(0));
    assert!(err.contains("mwnosuch0: no such interface"), "{err}");

    let (code, err) = run(&[
        "live",
        "--no-state",
        "-i",
        "lo",
        "--bpf",
        "port nonsense",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_ne!(code, Some(0));
    assert!(err.contains("bad BPF expression"), "{err}");

    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let (code, err) = run(&["live", "-i", "lo", "--listen", &addr, "--no-state"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("address already in use"), "{err}");
    assert_eq!(
        err.trim().lines().filter(|l| l.contains("error")).count(),
        1,
        "{err}"
    );
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn config_events_total(addr: &str) -> u64 {
    common::http_get(addr, "/metrics")
        .map(|(_, m)| {
            m.lines()
                .filter(|l| l.starts_with("mirrorwatch_config_events_total{"))
                .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
                .sum::<f64>() as u64
        })
        .unwrap_or(0)
}

#[test]
fn syslog_listener_ingests_config_changes_and_survives_a_flood() {
    if !common::can_capture_live() {
        return;
    }
    use std::io::Write;
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let syslog = format!("127.0.0.1:{}", common::free_port());
    let live = start_live_with(
        "lo",
        &addr,
        &["--bpf", "udp port 9", "--syslog-listen", &syslog],
    );

    // UDP: one datagram a line, as devices send them.
    let fixture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs/cisco-ios.log"),
    )
    .expect("fixture");
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    for line in fixture.lines() {
        udp.send_to(line.as_bytes(), &syslog).expect("send");
        std::thread::sleep(Duration::from_millis(2));
    }
    let got = common::wait_for(Duration::from_secs(10), || {
        let n = config_events_total(&addr);
        (n >= 15).then_some(n)
    });
    assert_eq!(got, Some(15), "events from the cisco fixture over UDP");
    let (_, alerts) = common::http_get(&addr, "/api/v1/alerts").expect("alerts");
    assert!(
        alerts.contains("mirror_config_change") && alerts.contains("udp:127.0.0.1"),
        "{alerts}"
    );

    // TCP: a flood of unrelated lines with one configuration change at the
    // end; memory must not grow with the flood.
    let before = rss_kib(live.0.id());
    let n = 300_000usize;
    let mut tcp = std::net::TcpStream::connect(&syslog).expect("tcp");
    let filler = "Mar  1 18:47:30 10.0.0.9 1: sw9: *Mar  1 18:47:30.412 UTC: %LINK-3-UPDOWN: Interface Gi0/3, changed state to down\n";
    let mut chunk = String::with_capacity(filler.len() * 1000);
    for _ in 0..1000 {
        chunk.push_str(filler);
    }
    let t = std::time::Instant::now();
    for _ in 0..n / 1000 {
        tcp.write_all(chunk.as_bytes()).expect("write");
    }
    tcp.write_all(b"Mar  1 18:50:00 10.0.0.9 2: sw9: *Mar  1 18:50:00.000 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:eve  logged command:monitor session 7 type erspan-source\n")
        .expect("write");
    drop(tcp);
    let done = common::wait_for(Duration::from_secs(60), || {
        (config_events_total(&addr) >= 16).then_some(())
    });
    let secs = t.elapsed().as_secs_f64();
    assert!(done.is_some(), "the change after the flood was not seen");
    let rate = n as f64 / secs;
    eprintln!("syslog over TCP: {n} lines in {secs:.2} s = {rate:.0} lines/s");
    let after = rss_kib(live.0.id());
    assert!(
        after < before + 20 * 1024,
        "RSS grew from {before} to {after} KiB during a flood of unmatched lines"
    );

    // A burst of 3,000 changes (a relay flushing its backlog), framed by
    // RFC 6587 octet counts with no newlines: every one arrives, although
    // the pipeline's queue holds 1,024 (the sender waits for room).
    let burst = 3000u64;
    let mut framed = Vec::new();
    for i in 0..burst {
        let msg = format!(
            "<189>1 2026-03-01T18:51:00Z sw9 - - - - %PARSER-5-CFGLOG_LOGGEDCMD: User:eve  logged command:monitor session {} destination ip address 10.9.{}.{}",
            i % 60 + 1,
            i / 250,
            i % 250
        );
        framed.extend(format!("{} {msg}", msg.len()).into_bytes());
    }
    let mut tcp = std::net::TcpStream::connect(&syslog).expect("tcp");
    tcp.write_all(&framed).expect("write");
    drop(tcp);
    let want = 16 + burst;
    let got = common::wait_for(Duration::from_secs(60), || {
        let n = config_events_total(&addr);
        (n >= want).then_some(n)
    });
    let (_, m) = common::http_get(&addr, "/metrics").expect("metrics");
    assert_eq!(got, Some(want), "octet-counted burst over TCP\n{m}");
    common::assert_none_lost(
        &m,
        "listener=\"main\"",
        &[
            "mirrorwatch_config_syslog_dropped_events_total",
            "mirrorwatch_config_syslog_kernel_dropped_records_total",
        ],
    );
}

/// The README's `live ... --evidence DIR --user nobody`: the evidence
/// directory is handed to the user before the privilege drop, so evidence
/// is written (readable pcaps) after it.
#[test]
fn evidence_is_written_after_dropping_privileges() {
    if !common::can_capture_live() {
        return;
    }
    let veth = Veth::new("u");
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("mw-live-evidence-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    let dir_s = dir.to_string_lossy().into_owned();
    let mut live = start_live_with(
        &veth.host,
        &addr,
        &["--evidence", &dir_s, "--user", "nobody"],
    );
    assert!(
        veth.replay(
            &common::project_pcaps()
                .join("erspan3.pcap")
                .to_string_lossy(),
            ""
        )
    );
    let seen = common::wait_for(Duration::from_secs(10), || {
        sessions(&addr)
            .into_iter()
            .find(|s| s["encap"] == "erspan3" && s["packets"] == 20)
    });
    assert!(seen.is_some(), "{:?}", sessions(&addr));
    sh(&format!("kill -TERM {}", live.0.id()));
    let status = common::wait_for(Duration::from_secs(5), || live.0.try_wait().ok().flatten());
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .expect("evidence dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let n = common::pcap_record_count(&files[0]).unwrap_or(0);
    assert_eq!(n, 20, "evidence records");
    std::fs::remove_dir_all(&dir).ok();
}
