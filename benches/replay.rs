//! End-to-end replay benchmark: a plain libpcap read loop and our reader
//! alone (in-process), and the real `mirrorwatch replay` binary as a user
//! runs it (start-up and report included): one thread without and with
//! duplicate detection, `--workers 1`, `--workers 2` and the default, all
//! alternated so that each sees the same machine state. Prints the median
//! packets/s of each, its ratio to the libpcap loop, the CPU time per
//! packet of each thread (the stages), and the peak RSS of `--workers 0`,
//! `1` and `2` on a 50 times smaller capture and on this one.
//!
//! `cargo bench --bench replay` (env: MIRRORWATCH_BENCH_PACKETS, default
//! 1,000,000; MIRRORWATCH_BENCH_RUNS, default 5; MIRRORWATCH_BENCH_FILE to
//! use an existing capture).
mod support;
use support::{env_u64, median};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use mirrorwatch::source::{plain_read_loop, reader_loop};

/// What one `mirrorwatch replay --workers W` run on `path` used: its peak
/// resident memory (MB), the high-water mark (`VmHWM`) read from `/proc`
/// every 2 ms until the process exits (the child's `ru_maxrss` would count
/// the benchmark's own memory, copied by the fork before the exec), and
/// the CPU time of each of its threads by name (seconds, from
/// `/proc/PID/task/TID/schedstat`, nanoseconds on the CPU), as last seen
/// before the thread ended.
fn child_run(workers: &str, config: Option<&str>, path: &str) -> Run {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorwatch"));
    cmd.args(["replay", "--format", "json", "--workers", workers]);
    if let Some(c) = config {
        cmd.args(["--config", c]);
    }
    let t = Instant::now();
    let mut child = cmd
        .arg(path)
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
    let wall_s = t.elapsed().as_secs_f64();
    assert!(
        matches!(child.wait().map(|s| s.code()), Ok(Some(0 | 1))),
        "mirrorwatch replay --workers {workers} {path} failed"
    );
    let mut by_name = BTreeMap::new();
    for (name, ns) in cpu.into_values() {
        *by_name.entry(name).or_insert(0.0) += ns as f64 / 1e9;
    }
    Run {
        wall_s,
        peak_mb: peak_kb as f64 / 1024.0,
        cpu_s: by_name,
    }
}

/// One child replay: its wall time (start-up and report included, as a
/// user sees it), peak RSS and CPU time by thread.
struct Run {
    wall_s: f64,
    peak_mb: f64,
    cpu_s: BTreeMap<String, f64>,
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
        None => support::mixed_capture(packets),
    };
    let path_s = path.to_string_lossy().into_owned();
    // Warm the page cache once.
    let (n, bytes) = plain_read_loop(&path_s).expect("readable capture");
    println!("capture: {path_s}: {n} packets, {bytes} bytes; {runs} runs each");
    // Decode + inventory: duplicate detection off.
    let inventory =
        std::env::temp_dir().join(format!("mirrorwatch-bench-{}.toml", std::process::id()));
    std::fs::write(&inventory, "[duplicates]\nenabled = false\n").expect("write config");
    let inventory = inventory.to_string_lossy().into_owned();
    let default_workers = mirrorwatch::pipeline::staged::default_workers();
    // The replays measured: (label, --workers, config). Each is the real
    // binary as a user runs it, start-up and JSON report included.
    let mut rows: Vec<(String, String, Option<&str>)> = vec![
        (
            "replay, decode + inventory, one thread (--workers 0)".to_owned(),
            "0".to_owned(),
            Some(inventory.as_str()),
        ),
        (
            "replay, full detection, one thread (--workers 0)".to_owned(),
            "0".to_owned(),
            None,
        ),
    ];
    let mut counts = vec![1usize, 2];
    if !counts.contains(&default_workers) {
        counts.push(default_workers);
    }
    for w in &counts {
        let what = match w {
            1 => "reader/decoder thread + engine thread".to_owned(),
            w => format!("reader + {} decode worker(s) + engine", w - 1),
        };
        let default = if *w == default_workers {
            ", the default here"
        } else {
            ""
        };
        rows.push((
            format!("replay, full detection, --workers {w} ({what}{default})"),
            w.to_string(),
            None,
        ));
    }
    // Start-up and report alone: a capture of one frame, with the default
    // workers. The libpcap loop and our reader run in-process and pay
    // none of it.
    let one = support::mixed_capture(1).to_string_lossy().into_owned();
    let default_arg = default_workers.to_string();
    let mut fixed = Vec::new();
    let (mut plain, mut ours) = (Vec::new(), Vec::new());
    let mut measured: Vec<Vec<Run>> = rows.iter().map(|_| Vec::new()).collect();
    for _ in 0..runs {
        let t = Instant::now();
        let (k, _) = plain_read_loop(&path_s).expect("readable capture");
        plain.push(k as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let (o, _) = reader_loop(&path_s).expect("readable capture");
        ours.push(o as f64 / t.elapsed().as_secs_f64());
        assert_eq!(o, k);
        for ((_, w, c), m) in rows.iter().zip(measured.iter_mut()) {
            m.push(child_run(w, *c, &path_s));
        }
        fixed.push(child_run(&default_arg, None, &one).wall_s);
    }
    let p = median(&mut plain);
    let o = median(&mut ours);
    println!("plain libpcap read loop (in-process):  {p:>12.0} packets/s (median)");
    println!(
        "mirrorwatch's reader alone (in-process): {o:>10.0} packets/s (median), {:.2}x plain",
        o / p
    );
    // The default's rate (full detection), for the start-up line below.
    let mut default_rate = None;
    for ((label, w, c), m) in rows.iter().zip(measured.iter()) {
        let mut rates: Vec<f64> = m.iter().map(|r| n as f64 / r.wall_s).collect();
        let rate = median(&mut rates);
        if *w == default_arg && c.is_none() {
            default_rate = Some(rate);
        }
        println!(
            "{label}: {rate:>12.0} packets/s (median), {:.2}x plain",
            rate / p
        );
        // CPU per packet of each thread (medians): where the time goes.
        let names: Vec<&String> = m
            .first()
            .map(|r| r.cpu_s.keys().collect())
            .unwrap_or_default();
        let stages: Vec<String> = names
            .iter()
            .map(|name| {
                let mut v: Vec<f64> = m
                    .iter()
                    .filter_map(|r| r.cpu_s.get(*name).copied())
                    .collect();
                format!("{name} {:.0} ns", median(&mut v) * 1e9 / n as f64)
            })
            .collect();
        println!("  CPU per packet by thread: {}", stages.join(", "));
    }
    let fixed_s = median(&mut fixed);
    if let Some(full_rate) = default_rate {
        let wall = n as f64 / full_rate;
        let rate = n as f64 / (wall - fixed_s).max(1e-9);
        println!(
            "start-up and report alone (a 1-frame capture, --workers {default_arg}): {:.1} ms (median), {:.1} % of its full run; without it {rate:.0} packets/s, {:.2}x plain",
            fixed_s * 1e3,
            100.0 * fixed_s / wall,
            rate / p
        );
    }
    // Peak RSS must not grow with the capture: the same traffic mix, 50
    // times smaller.
    let small = support::mixed_capture(20_000)
        .to_string_lossy()
        .into_owned();
    for w in ["0", "1", "2"] {
        let a = child_run(w, None, &small).peak_mb;
        let b = child_run(w, None, &path_s).peak_mb;
        println!(
            "peak RSS, --workers {w}: {a:.1} MB on {} MB, {b:.1} MB on {} MB (+{:.1} MB)",
            std::fs::metadata(&small).map_or(0, |m| m.len() / 1_000_000),
            bytes / 1_000_000,
            b - a
        );
    }
    let _ = std::fs::remove_file(&inventory);
    println!(
        "per packet: libpcap read {:.0} ns, our read {:.0} ns",
        1e9 / p,
        1e9 / o
    );
}
