//! End-to-end replay benchmark: mirrorwatch's replay (decode + inventory,
//! single-threaded) against a plain libpcap read loop over the same file,
//! run alternately so both see the same machine state. Prints the median
//! packets/s of each and their ratio.
//!
//! `cargo bench --bench replay` (env: MIRRORWATCH_BENCH_PACKETS, default
//! 1,000,000; MIRRORWATCH_BENCH_RUNS, default 5; MIRRORWATCH_BENCH_FILE to
//! use an existing capture).
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use mirrorwatch::config::Config;
use mirrorwatch::pipeline::{Outputs, replay, replay_with};
use mirrorwatch::source::{plain_read_loop, reader_loop};
use mirrorwatch_synth as synth;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What one `mirrorwatch replay --workers W` run on `path` used: its peak
/// resident memory (MB), the high-water mark (`VmHWM`) read from `/proc`
/// every 2 ms until the process exits (the child's `ru_maxrss` would count
/// the benchmark's own memory, copied by the fork before the exec), and
/// the CPU time of each of its threads by name (seconds, from
/// `/proc/PID/task/TID/schedstat`, nanoseconds on the CPU), as last seen
/// before the thread ended.
fn child_run(workers: &str, path: &str) -> (f64, BTreeMap<String, f64>) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .args(["replay", "--format", "json", "--workers", workers, path])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn mirrorwatch");
    let proc_dir = format!("/proc/{}", child.id());
    let mut peak_kb = 0u64;
    let mut cpu: BTreeMap<u64, (String, u64)> = BTreeMap::new();
    while matches!(child.try_wait(), Ok(None)) {
        let hwm = std::fs::read_to_string(format!("{proc_dir}/status"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            })
            .unwrap_or(0);
        peak_kb = peak_kb.max(hwm);
        if let Ok(tasks) = std::fs::read_dir(format!("{proc_dir}/task")) {
            for t in tasks.flatten() {
                let tid: u64 = t.file_name().to_string_lossy().parse().unwrap_or(0);
                let dir = t.path();
                let ns = std::fs::read_to_string(dir.join("schedstat"))
                    .ok()
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok());
                let name = std::fs::read_to_string(dir.join("comm")).ok();
                if let (Some(ns), Some(name)) = (ns, name) {
                    cpu.insert(tid, (name.trim().to_owned(), ns));
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let mut by_name = BTreeMap::new();
    for (name, ns) in cpu.into_values() {
        *by_name.entry(name).or_insert(0.0) += ns as f64 / 1e9;
    }
    (peak_kb as f64 / 1024.0, by_name)
}

fn main() {
    // `cargo bench` passes --bench; under `cargo test --all-targets` it is
    // absent and a small smoke run checks the benchmark still works.
    let full = std::env::args().any(|a| a == "--bench");
    let packets = env_u64(
        "MIRRORWATCH_BENCH_PACKETS",
        if full { 1_000_000 } else { 20_000 },
    );
    let runs = env_u64("MIRRORWATCH_BENCH_RUNS", if full { 5 } else { 1 }).max(1) as usize;
    let path = match std::env::var_os("MIRRORWATCH_BENCH_FILE") {
        Some(p) => PathBuf::from(p),
        None => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
            std::fs::create_dir_all(&dir).expect("create target/bench-data");
            let p = dir.join(format!("mixed-{packets}.pcap"));
            if !p.exists() {
                // Written under another name and renamed, so that an
                // interrupted run leaves no truncated capture behind.
                let tmp = p.with_extension(format!("pcap.{}.tmp", std::process::id()));
                let f = std::fs::File::create(&tmp).expect("create mixed capture");
                synth::write_mixed(std::io::BufWriter::new(f), packets, 1)
                    .expect("write mixed capture");
                std::fs::rename(&tmp, &p).expect("rename mixed capture");
            }
            p
        }
    };
    let path_s = path.to_string_lossy().into_owned();
    let cfg = Config::default();
    // Warm the page cache once.
    let (n, bytes) = plain_read_loop(&path_s).expect("readable capture");
    println!("capture: {path_s}: {n} packets, {bytes} bytes; {runs} runs each");
    let mut inventory_cfg = cfg.clone();
    inventory_cfg.duplicates.enabled = false;
    let (mut plain, mut ours, mut inv, mut full) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let default_workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .max(1);
    // Workers counts measured beside one thread: 1, 2, and the default.
    let mut counts = vec![1usize, 2];
    if !counts.contains(&default_workers) {
        counts.push(default_workers);
    }
    let mut staged: Vec<Vec<f64>> = vec![Vec::new(); counts.len()];
    for _ in 0..runs {
        let t = Instant::now();
        let (k, _) = plain_read_loop(&path_s).expect("readable capture");
        plain.push(k as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let (o, _) = reader_loop(&path_s).expect("readable capture");
        ours.push(o as f64 / t.elapsed().as_secs_f64());
        assert_eq!(o, k);
        for (c, v) in [(&inventory_cfg, &mut inv), (&cfg, &mut full)] {
            let t = Instant::now();
            let (r, _) = replay(std::slice::from_ref(&path_s), c);
            v.push(r.packets as f64 / t.elapsed().as_secs_f64());
            assert_eq!(r.packets, k);
        }
        for (w, v) in counts.iter().zip(staged.iter_mut()) {
            let t = Instant::now();
            let r = replay_with(
                std::slice::from_ref(&path_s),
                &cfg,
                Outputs {
                    workers: *w,
                    ..Outputs::default()
                },
            )
            .expect("replay");
            v.push(r.outcome.report.packets as f64 / t.elapsed().as_secs_f64());
            assert_eq!(r.outcome.report.packets, k);
        }
    }
    let p = median(&mut plain);
    let o = median(&mut ours);
    let i = median(&mut inv);
    let f = median(&mut full);
    println!("plain libpcap read loop:              {p:>12.0} packets/s (median)");
    println!(
        "mirrorwatch's reader alone:           {o:>12.0} packets/s (median), {:.2}x plain",
        o / p
    );
    println!(
        "replay, decode + inventory:           {i:>12.0} packets/s (median), {:.2}x plain",
        i / p
    );
    println!(
        "replay, full detection (duplicates):  {f:>12.0} packets/s (median), {:.2}x plain",
        f / p
    );
    for (w, v) in counts.iter().zip(staged.iter_mut()) {
        let m = median(v);
        let what = match w {
            1 => "reader/decoder thread + engine thread".to_owned(),
            w => format!("reader + {} decode worker(s) + engine thread", w - 1),
        };
        let default = if *w == default_workers {
            ", the default here"
        } else {
            ""
        };
        println!(
            "replay, full detection, --workers {w} ({what}{default}): {m:>12.0} packets/s (median), {:.2}x plain",
            m / p
        );
    }
    // Peak RSS must not grow with the capture: the same traffic mix, 50
    // times smaller.
    let small = path.with_file_name("mixed-20000.pcap");
    if !small.exists() {
        let f = std::fs::File::create(&small).expect("create small capture");
        synth::write_mixed(std::io::BufWriter::new(f), 20_000, 1).expect("write small capture");
    }
    let small = small.to_string_lossy().into_owned();
    for w in ["0", "1", "2"] {
        let ((a, _), (b, threads)) = (child_run(w, &small), child_run(w, &path_s));
        println!(
            "peak RSS, --workers {w}: {a:.1} MB on {} MB, {b:.1} MB on {} MB (+{:.1} MB)",
            std::fs::metadata(&small).map_or(0, |m| m.len() / 1_000_000),
            bytes / 1_000_000,
            b - a
        );
        // CPU per packet of each thread: where the time goes per stage.
        let stages: Vec<String> = threads
            .iter()
            .map(|(name, s)| format!("{name} {:.0} ns", s * 1e9 / n as f64))
            .collect();
        println!(
            "  CPU per packet by thread, --workers {w}: {}",
            stages.join(", ")
        );
    }
    println!(
        "per packet: libpcap read {:.0} ns, our read {:.0} ns, decode + inventory {:.0} ns, duplicate detection {:.0} ns",
        1e9 / p,
        1e9 / o,
        1e9 / i - 1e9 / o,
        1e9 / f - 1e9 / i
    );
}
