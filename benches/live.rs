//! Live capture benchmark: `mirrorwatch live --workers 1` (the capture
//! thread decodes) beside `--workers 3` (two decode workers), alternated,
//! on the mixed capture sent over a veth pair from a network namespace by
//! tcpreplay. For each: the CPU time per packet of every thread kind (the
//! capture thread, the decode workers, the pipeline thread, from
//! `/proc/PID/task/*/schedstat`), the packets received and the kernel and
//! queue drops, at a fixed rate and at tcpreplay's top speed. Medians of
//! `MIRRORWATCH_BENCH_RUNS` (default 5) runs.
//!
//! `sudo cargo bench --bench live` (needs root, iproute2 and tcpreplay;
//! env: MIRRORWATCH_BENCH_PPS, default 300,000; MIRRORWATCH_BENCH_LOOPS,
//! default 10, times the 20,000-frame capture is sent). Under `cargo test`
//! it sends 5,000 frames once with each setting and checks that each
//! sensor counted every one.
#[path = "../tests/common/mod.rs"]
mod common;
mod support;
use support::{env_u64, median};

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::Veth;

/// A counter of `/metrics` summed over its series (interfaces).
fn metric(m: &str, name: &str) -> f64 {
    m.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// CPU seconds per thread kind: the thread name up to its first `-`
/// (`capture`, `decode`, `pipeline`, …), summed.
fn thread_cpu(pid: u32) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let ns = std::fs::read_to_string(t.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0);
        let kind = comm.trim().split('-').next().unwrap_or("").to_owned();
        *m.entry(kind).or_insert(0.0) += ns / 1e9;
    }
    m
}

/// One run: what the sensor counted and what its threads used.
struct Run {
    sent: f64,
    received: f64,
    kernel_dropped: f64,
    queue_dropped: f64,
    cpu: BTreeMap<String, f64>,
}

fn one_run(veth: &Veth, workers: &str, pcap: &Path, rate: &str, loops: u64) -> Run {
    let addr = format!("127.0.0.1:{}", common::free_port());
    let sensor = common::spawn_live([
        "--no-state",
        "--workers",
        workers,
        "-i",
        &veth.host,
        "--listen",
        &addr,
    ]);
    assert!(common::wait_healthy(&addr), "live did not become ready");
    let out = Command::new("ip")
        .args(["netns", "exec", &veth.ns, "tcpreplay", "-K", rate])
        .arg(format!("--loop={loops}"))
        .args(["-i", &veth.peer])
        .arg(pcap)
        .output()
        .expect("run tcpreplay");
    let report = String::from_utf8_lossy(&out.stdout);
    // What the kernel took (a frame longer than the MTU is refused).
    let frames = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Successful packets:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("tcpreplay printed no count: {report}"));
    // Until every frame sent is counted, received or dropped, or 20 s.
    let mut m = String::new();
    let _ = common::wait_for(Duration::from_secs(20), || {
        m = common::http_get(&addr, "/metrics").ok()?.1;
        let seen = metric(&m, "mirrorwatch_capture_received_packets_total")
            + metric(&m, "mirrorwatch_capture_kernel_dropped_packets_total");
        (seen >= frames).then_some(())
    });
    // Batches in flight reach the pipeline within its next tick.
    std::thread::sleep(Duration::from_millis(1500));
    if let Ok((_, body)) = common::http_get(&addr, "/metrics") {
        m = body;
    }
    let cpu = thread_cpu(sensor.0.id());
    Run {
        sent: frames,
        received: metric(&m, "mirrorwatch_capture_received_packets_total"),
        kernel_dropped: metric(&m, "mirrorwatch_capture_kernel_dropped_packets_total"),
        queue_dropped: metric(&m, "mirrorwatch_capture_queue_dropped_packets_total"),
        cpu,
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    if !common::can_capture_live() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mw-bench-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mixed = dir.join("mixed.pcap");
    let packets = if full { 20_000 } else { 5_000 };
    common::mixed_capture(&mixed, packets);
    // Frames the kernel would refuse (shorter than an Ethernet header) out.
    let pcap = common::sendable(&mixed, &dir);
    let sendable = common::pcap_record_count(&pcap).expect("a classic pcap") as f64;
    let veth = Veth::new("bl");
    let settings = ["1", "3"];

    if !full {
        for w in settings {
            let r = one_run(&veth, w, &pcap, "--pps=50000", 1);
            assert!(
                r.sent >= sendable * 0.99,
                "tcpreplay sent {} of {sendable}",
                r.sent
            );
            assert_eq!(
                r.received + r.kernel_dropped,
                r.sent,
                "--workers {w}: every frame sent is counted, received or dropped"
            );
            assert!(r.received > 0.0, "--workers {w}: nothing received");
        }
        eprintln!("live bench smoke run: both settings counted {sendable} frames");
        std::fs::remove_dir_all(&dir).ok();
        return;
    }

    let runs = env_u64("MIRRORWATCH_BENCH_RUNS", 5);
    let pps = env_u64("MIRRORWATCH_BENCH_PPS", 300_000);
    let loops = env_u64("MIRRORWATCH_BENCH_LOOPS", 10);
    let frames = sendable * loops as f64;
    println!("sending {frames} frames a run ({loops} times a capture of {sendable})");
    for (rate, label) in [
        (format!("--pps={pps}"), format!("{pps} packets/s")),
        ("--topspeed".to_owned(), "tcpreplay's top speed".to_owned()),
    ] {
        let mut got: BTreeMap<&str, Vec<Run>> = BTreeMap::new();
        for _ in 0..runs {
            for w in settings {
                got.entry(w)
                    .or_default()
                    .push(one_run(&veth, w, &pcap, &rate, loops));
            }
        }
        println!(
            "\n{frames} frames at {label}, medians of {runs} alternated runs (CPU ns per packet received)"
        );
        println!(
            "{:<12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "--workers", "received", "kdrop %", "qdrop %", "capture", "decode", "pipeline"
        );
        for (w, rs) in &got {
            let per = |k: &str| -> f64 {
                let mut v: Vec<f64> = rs
                    .iter()
                    .map(|r| r.cpu.get(k).copied().unwrap_or(0.0) * 1e9 / r.received.max(1.0))
                    .collect();
                median(&mut v)
            };
            let pct = |f: &dyn Fn(&Run) -> f64| -> f64 {
                let mut v: Vec<f64> = rs.iter().map(|r| f(r) * 100.0 / r.sent).collect();
                median(&mut v)
            };
            let mut rx: Vec<f64> = rs.iter().map(|r| r.received).collect();
            println!(
                "{:<12} {:>10.0} {:>10.3} {:>10.3} {:>10.0} {:>10.0} {:>10.0}",
                w,
                median(&mut rx),
                pct(&|r| r.kernel_dropped),
                pct(&|r| r.queue_dropped),
                per("capture"),
                per("decode"),
                per("pipeline"),
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
