//! Evidence you can hand over: thousands of alerting sessions under a low
//! open-file limit keep writing evidence within the caps (a bounded pool of
//! open files), every file is a whole pcap, and a second run appends to the
//! files instead of truncating them.
mod common;

use std::path::{Path, PathBuf};

fn checksum(h: &[u8]) -> u16 {
    let mut s: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0];
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x00, 0x1b, 0x21, 1, 2, 3, 0x52, 0x54, 0, 4, 5, 6];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// `sessions` ERSPAN type I sessions (GRE 0x88BE, no sequence number) from
/// 10.1.0.1 to distinct external collectors, `per` packets each.
fn erspan_flood(path: &Path, sessions: u32, per: u32) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let mut t = 1_767_225_600u32;
    let mut us = 0u32;
    for i in 0..sessions {
        let dst = [100, 64 + (i >> 16) as u8, (i >> 8) as u8, i as u8];
        for k in 0..per {
            let udp = [0x30, 0x39, 0x00, 0x35, 0, 12, 0, 0, b'q', b'r', k as u8, 0];
            let inner = ethernet(0x0800, &ipv4([192, 168, 0, 1], [192, 168, 0, 2], 17, &udp));
            let mut gre = vec![0, 0, 0x88, 0xbe];
            gre.extend_from_slice(&inner);
            let frame = ethernet(0x0800, &ipv4([10, 1, 0, 1], dst, 47, &gre));
            us += 10;
            if us >= 1_000_000 {
                us = 0;
                t += 1;
            }
            out.extend_from_slice(&t.to_le_bytes());
            out.extend_from_slice(&us.to_le_bytes());
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&frame);
        }
    }
    std::fs::write(path, out).expect("write flood capture");
}

fn evidence_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn five_thousand_alerting_sessions_under_256_open_files() {
    if common::on_path("prlimit").is_none() {
        eprintln!("SKIPPED: prlimit (util-linux) is not installed");
        return;
    }
    let d = std::env::temp_dir().join(format!("mw-evidence-pool-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("dir");
    let cap = d.join("flood.pcap");
    erspan_flood(&cap, 5_000, 2);
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
    let files = evidence_files(&ev);
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
