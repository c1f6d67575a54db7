//! Evidence you can hand over: thousands of alerting sessions under a low
//! open-file limit keep writing evidence within the caps (a bounded pool of
//! open files), every file is a whole pcap, and a second run appends to the
//! files instead of truncating them.
mod common;

#[test]
fn five_thousand_alerting_sessions_under_256_open_files() {
    if common::on_path("prlimit").is_none() {
        eprintln!("SKIPPED: prlimit (util-linux) is not installed");
        return;
    }
    let d = std::env::temp_dir().join(format!("mw-evidence-pool-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("dir");
    let cap = d.join("flood.pcap");
    common::erspan_flood(&cap, 5_000, 2);
    let ev = d.join("evidence");
    let cfg = d.join("cfg.toml");
    // Total cap below what the flood would write: the rest is counted.
    std::fs::write(
        &cfg,
        "[evidence]\nmax_total_bytes = 800000\nmax_open_files = 64\n",
    )
    .expect("cfg");
    let run = || {
        let bin = env!("CARGO_BIN_EXE_mirrorwatch");
        std::process::Command::new("prlimit")
            .args([
                "--nofile=256",
                bin,
                "replay",
                "--format",
                "json",
                "--config",
            ])
            .arg(&cfg)
            .arg("--evidence")
            .arg(&ev)
            .arg(&cap)
            .output()
            .expect("run under prlimit")
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(r["sessions"].as_array().map_or(0, Vec::len), 5_000);
    let files = common::files_in(&ev);
    // Each frame is 80 bytes: 800,000 bytes hold 10,000 frames, 5,000
    // sessions of 2. Files are written until the total cap.
    assert!(files.len() >= 4_000, "{} evidence files", files.len());
    let mut records = 0;
    let mut bytes = 0;
    for f in &files {
        let n =
            common::whole_pcap(f).unwrap_or_else(|| panic!("{} is not a whole pcap", f.display()));
        assert!((1..=2).contains(&n), "{}: {n} records", f.display());
        records += n;
        bytes += std::fs::metadata(f).map(|m| m.len()).unwrap_or(0) - 24 - 16 * n;
    }
    assert!(bytes <= 800_000, "{bytes} bytes past the total cap");
    assert!(records >= 9_000, "{records} records");

    // A second run appends to the same files (never truncates them).
    let before: Vec<u64> = files
        .iter()
        .map(|f| common::whole_pcap(f).unwrap_or(0))
        .collect();
    std::fs::write(&cfg, "[evidence]\nmax_open_files = 64\n").expect("cfg");
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (f, n) in files.iter().zip(before) {
        let after = common::whole_pcap(f).unwrap_or(0);
        assert_eq!(after, n + 2, "{} appended to", f.display());
    }
    std::fs::remove_dir_all(&d).ok();
}
