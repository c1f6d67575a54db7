//! Live equals replay: every Ethernet scenario capture in `pcaps/` is sent
//! over a veth pair in a network namespace with tcpreplay (at its own
//! pace) to `mirrorwatch live`, and what the sensor serves once idle is
//! compared with `mirrorwatch replay` of the same file: the same sessions,
//! packet counts, verdicts, duplicate counts and alert kinds. Two sensors
//! capture each replay side by side: `--workers 1` (the capture thread
//! decodes) and `--workers 3` (two decode workers). Needs root,
//! iproute2 and tcpreplay (CI has them); skips with a message otherwise.
//!
//! The captures of other link types (Linux cooked, raw IP, BSD NULL) are
//! left out: on an Ethernet veth their frames would arrive as Ethernet.
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Proc, Veth};

/// What is compared of a session.
type Row = (u64, String, u64, Vec<String>);

fn rows(sessions: &serde_json::Value) -> BTreeMap<String, Row> {
    let mut m = BTreeMap::new();
    for s in sessions.as_array().into_iter().flatten() {
        let key = format!("{} {} -> {} id {}", s["encap"], s["src"], s["dst"], s["id"]);
        let mut alerts: Vec<String> = s["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        alerts.sort();
        m.insert(
            key,
            (
                s["packets"].as_u64().unwrap_or(0),
                s["verdict"].as_str().unwrap_or("").to_owned(),
                s["duplicates"]["packets"].as_u64().unwrap_or(0),
                alerts,
            ),
        );
    }
    m
}

/// Alert kinds in an alerts file, each once.
fn kinds(path: &Path) -> Vec<String> {
    let mut k: Vec<String> = std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|a| a["kind"].as_str().map(str::to_owned))
        .collect();
    k.sort();
    k.dedup();
    k
}

/// The first `n` records of a classic pcap.
fn pcap_prefix(src: &Path, n: usize, out: &Path) {
    let b = std::fs::read(src).expect("read capture");
    let spans = common::pcap_spans(&b).expect("a classic pcap");
    let end = n.checked_sub(1).map_or(24, |i| spans[i].1);
    std::fs::write(out, &b[..end]).expect("write prefix");
}

/// The sessions `mirrorwatch replay` finds in `pcap`, alerts to `alerts`
/// if given.
fn replay_rows(config: &Path, pcap: &Path, alerts: Option<&Path>) -> BTreeMap<String, Row> {
    let (config, pcap) = (config.to_string_lossy(), pcap.to_string_lossy());
    let mut args = vec!["replay", "--config", &config, "--format", "json"];
    let alerts = alerts.map(|a| a.to_string_lossy());
    if let Some(a) = &alerts {
        args.extend(["--alerts", a]);
    }
    args.push(&pcap);
    let out = common::mirrorwatch(&args, Duration::from_secs(60));
    let replayed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("replay JSON");
    rows(&replayed["sessions"])
}

/// `mirrorwatch live --workers W` on `iface`, serving on `addr`, alerts to
/// `alerts` if given.
fn spawn_live(w: &str, iface: &str, addr: &str, config: &Path, alerts: Option<&Path>) -> Proc {
    let mut args: Vec<&std::ffi::OsStr> = ["--no-state", "--workers", w, "-i", iface]
        .into_iter()
        .chain(["--listen", addr, "--config"])
        .map(std::ffi::OsStr::new)
        .collect();
    args.push(config.as_os_str());
    if let Some(a) = alerts {
        args.extend([std::ffi::OsStr::new("--alerts"), a.as_os_str()]);
    }
    common::spawn_live(args)
}

#[test]
fn live_judges_every_scenario_as_replay_does() {
    if !common::can_capture_live() {
        return;
    }
    let pcaps = common::project_pcaps();
    let golden = pcaps.join("golden.toml");
    let tmp = std::env::temp_dir().join(format!("mw-liveeq-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let prefix = tmp.join("native-and-copies-6.pcap");
    pcap_prefix(&pcaps.join("native-and-copies.pcap"), 6, &prefix);
    let mut files: Vec<PathBuf> = common::captures_in(&pcaps)
        .into_iter()
        .filter(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            !n.starts_with("linktype-")
        })
        .map(|p| common::sendable(&p, &tmp))
        .collect();
    files.push(prefix.clone());
    assert!(files.len() >= 24, "{} scenario captures", files.len());
    let veth = Veth::new("eq");
    let mut failures = Vec::new();
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let replay_alerts = tmp.join(format!("{name}.replay.jsonl"));
        std::fs::remove_file(&replay_alerts).ok();
        let want = replay_rows(&golden, f, Some(&replay_alerts));

        // Two sensors on the same interface see the same frames: one whose
        // capture thread decodes (--workers 1), one with decode workers
        // (--workers 3, the frames reaching the engine in capture order).
        let sensors: Vec<(String, String, PathBuf, Proc)> = ["1", "3"]
            .iter()
            .map(|w| {
                let addr = format!("127.0.0.1:{}", common::free_port());
                let alerts = tmp.join(format!("{name}.live-{w}.jsonl"));
                std::fs::remove_file(&alerts).ok();
                let child = spawn_live(w, &veth.host, &addr, &golden, Some(&alerts));
                (w.to_string(), addr, alerts, child)
            })
            .collect();
        for (w, addr, _, _) in &sensors {
            assert!(
                common::wait_healthy(addr),
                "{name}: live --workers {w} did not become ready"
            );
        }
        // Frames the kernel refuses are filtered out above (sendable).
        veth.replay(&f.to_string_lossy(), "");
        let want_kinds = kinds(&replay_alerts);
        for (w, addr, live_alerts, mut live) in sensors {
            // Nothing more arrives: the sensor's ticks (at most a second
            // apart) must bring it to replay's judgement without another
            // packet: the same sessions, and the same alert kinds served (a
            // capture with no session must not pass before its frames are
            // processed).
            let got = common::wait_for(Duration::from_secs(6), || {
                let (_, body) = common::http_get(&addr, "/api/v1/sessions").ok()?;
                let v: serde_json::Value = serde_json::from_str(&body).ok()?;
                let got = rows(&v["sessions"]);
                let (_, body) = common::http_get(&addr, "/api/v1/alerts").ok()?;
                let a: serde_json::Value = serde_json::from_str(&body).ok()?;
                let mut served: Vec<String> = a["alerts"]
                    .as_array()?
                    .iter()
                    .filter_map(|x| x["kind"].as_str().map(str::to_owned))
                    .collect();
                served.sort();
                served.dedup();
                (got == want && served == want_kinds).then_some(got)
            });
            let (_, body) = common::http_get(&addr, "/api/v1/sessions").unwrap_or_default();
            let last = serde_json::from_str::<serde_json::Value>(&body)
                .map(|v| rows(&v["sessions"]))
                .unwrap_or_default();
            common::sh(&format!("kill -TERM {}", live.0.id()));
            let exited =
                common::wait_for(Duration::from_secs(5), || live.0.try_wait().ok().flatten());
            assert!(
                exited.is_some(),
                "{name}: live --workers {w} did not stop on SIGTERM"
            );
            drop(live);
            if got.is_none() {
                failures.push(format!(
                    "{name}, --workers {w}: sessions differ\n  replay: {want:?}\n  live:   {last:?}"
                ));
                continue;
            }
            let (rk, lk) = (&want_kinds, kinds(&live_alerts));
            if *rk != lk {
                failures.push(format!(
                    "{name}, --workers {w}: alert kinds differ: replay {rk:?}, live {lk:?}"
                ));
            }
        }
    }
    std::fs::remove_dir_all(&tmp).ok();
    assert!(
        failures.is_empty(),
        "live and replay disagree:\n{}",
        failures.join("\n")
    );
}

/// An original and its ERSPAN copy, `n` times, at 50,000 frames/s (each
/// pair in consecutive frames, so a pair is often split between two
/// batches that different decode workers decode): `live --workers 3`
/// counts every frame and every duplicate as replay does, and so does
/// `--workers 1`. A batch lost, judged twice or out of order in a way that
/// changes duplicate matching would show in the counts.
#[test]
fn live_with_decode_workers_counts_a_fast_stream_as_replay_does() {
    if !common::can_capture_live() {
        return;
    }
    let tmp = std::env::temp_dir().join(format!("mw-liveeq-fast-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let pcap = tmp.join("pairs.pcap");
    let t0 = 1_767_225_600_000_000i64;
    let n = 40_000u32;
    let frames = (0..n).flat_map(|k| {
        let udp = [
            0x30,
            0x39,
            0x00,
            0x35,
            0,
            40,
            0,
            0,
            b'p',
            b'a',
            b'i',
            b'r',
            k as u8,
            (k >> 8) as u8,
            (k >> 16) as u8,
            7,
        ];
        let mut udp = udp.to_vec();
        udp.resize(32, 0x5a);
        let native = common::ethernet(
            0x0800,
            &common::ipv4([192, 168, 0, 1], [192, 168, 0, 2], 17, &udp),
        );
        let mut gre = vec![0, 0, 0x88, 0xbe];
        gre.extend_from_slice(&native);
        let copy = common::ethernet(
            0x0800,
            &common::ipv4([10, 1, 0, 1], [203, 0, 113, 9], 47, &gre),
        );
        [native, copy].into_iter()
    });
    common::write_pcap(
        &pcap,
        frames.enumerate().map(|(i, f)| (t0 + 20 * i as i64, f)),
    );
    let golden = common::project_pcaps().join("golden.toml");
    let want = replay_rows(&golden, &pcap, None);
    // The copy session, with every copy matched to its original.
    let copies = want
        .values()
        .find(|r| r.0 == u64::from(n))
        .expect("the ERSPAN session");
    // Each copy follows its original by 20 us: all are matched.
    assert_eq!(copies.2, u64::from(n), "replay: {want:?}");

    let veth = Veth::new("fq");
    let sensors: Vec<(&str, String, Proc)> = ["1", "3"]
        .into_iter()
        .map(|w| {
            let addr = format!("127.0.0.1:{}", common::free_port());
            let child = spawn_live(w, &veth.host, &addr, &golden, None);
            (w, addr, child)
        })
        .collect();
    for (w, addr, _) in &sensors {
        assert!(
            common::wait_healthy(addr),
            "live --workers {w} did not become ready"
        );
    }
    assert!(
        veth.replay(&pcap.to_string_lossy(), "--pps=50000"),
        "tcpreplay"
    );
    for (w, addr, _) in &sensors {
        let got = common::wait_for(Duration::from_secs(10), || {
            let (_, body) = common::http_get(addr, "/api/v1/sessions").ok()?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let got = rows(&v["sessions"]);
            (got == want).then_some(())
        });
        let (_, m) = common::http_get(addr, "/metrics").unwrap_or_default();
        let drops: Vec<&str> = m
            .lines()
            .filter(|l| l.contains("dropped_packets_total{") && !l.ends_with(" 0"))
            .collect();
        let (_, body) = common::http_get(addr, "/api/v1/sessions").unwrap_or_default();
        assert!(
            got.is_some(),
            "live --workers {w} differs from replay (drops: {drops:?})\n  replay: {want:?}\n  live:   {body}"
        );
        // Frames judged out of capture order are counted per interface
        // (0 unless a decode worker stalled for 64 batches).
        let reordered = format!(
            "mirrorwatch_capture_reordered_packets_total{{interface=\"{}\"}} ",
            veth.host
        );
        assert!(
            m.lines().any(|l| l.starts_with(&reordered)),
            "live --workers {w}: no {reordered}series in\n{m}"
        );
    }
    drop(sensors);
    drop(veth);
    std::fs::remove_dir_all(&tmp).ok();
}
