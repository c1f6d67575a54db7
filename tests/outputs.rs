//! Outputs that fail loudly and lose nothing they can keep: the alerts file
//! on a full 64 KiB tmpfs. `/healthz` turns 503 naming the output, the
//! failure is counted, no line is torn, and once space is freed every
//! alert is on disk. Needs root (a tmpfs mount; CI runs as root); skips
//! with a message otherwise.
mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

struct Cleanup {
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn health(addr: &str) -> Option<(u16, serde_json::Value)> {
    let (code, body) = common::http_get(addr, "/healthz").ok()?;
    Some((code, serde_json::from_str(&body).ok()?))
}

/// A tmpfs of `size` (mount's `-o size=`) at a fresh directory, unmounted
/// and removed when the guard drops; None (with a SKIPPED line) when not
/// root.
fn tmpfs(name: &str, size: &str) -> Option<Cleanup> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: the {name} test needs root (tmpfs mount)");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("mw-tmpfs-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mount point");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(mounted, "mount a {size} tmpfs");
    Some(Cleanup { dir, child: None })
}

#[test]
fn full_disk_alerts_are_held_reported_and_written_when_space_returns() {
    let Some(mut guard) = tmpfs("full-disk", "64k") else {
        return;
    };
    let dir = guard.dir.clone();
    // Fill it.
    let filler = dir.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).expect("filler");
        let block = [0u8; 4096];
        while f.write_all(&block).is_ok() {}
    }
    let alerts = dir.join("alerts.jsonl");
    // What the captures raise, counted by a replay without the full disk.
    let pcaps = common::project_pcaps();
    let mut files = common::mirror_captures();
    files.push(
        pcaps
            .join("native-and-copies.pcap")
            .to_string_lossy()
            .into_owned(),
    );
    let golden = pcaps.join("golden.toml").to_string_lossy().into_owned();
    let mut args = vec!["replay", "--config", &golden, "--format", "json"];
    args.extend(files.iter().map(String::as_str));
    let reference: serde_json::Value =
        serde_json::from_slice(&common::mirrorwatch(&args, Duration::from_secs(60)).stdout)
            .expect("JSON");
    let want: u64 = reference["alerts"]
        .as_object()
        .map(|m| m.values().filter_map(serde_json::Value::as_u64).sum())
        .unwrap_or(0);
    assert!(want >= 10, "{want} alerts");

    let addr = format!("127.0.0.1:{}", common::free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .args([
            "replay", "--listen", &addr, "--hold", "--config", &golden, "--alerts",
        ])
        .arg(&alerts)
        .args(&files)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    guard.child = Some(child);
    // 503 naming the output within 2 s.
    let failing = common::wait_for(Duration::from_secs(2), || {
        health(&addr).filter(|(code, h)| *code == 503 && h["failing_outputs"]["alerts"].is_string())
    });
    assert!(failing.is_some(), "healthz: {:?}", health(&addr));
    let (_, metrics) = common::http_get(&addr, "/metrics").expect("metrics");
    let errors: f64 = metrics
        .lines()
        .find(|l| l.starts_with("mirrorwatch_output_errors_total{output=\"alerts\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(errors >= 1.0, "output errors counted: {errors}");
    // No torn line while full.
    let partial = std::fs::read_to_string(&alerts).unwrap_or_default();
    assert!(
        partial.is_empty() || partial.ends_with('\n'),
        "torn: {partial:?}"
    );

    // Space returns: every alert is written, healthz is 200 again.
    std::fs::remove_file(&filler).expect("free space");
    let recovered = common::wait_for(Duration::from_secs(3), || {
        health(&addr).filter(|(code, _)| *code == 200)
    });
    assert!(
        recovered.is_some(),
        "healthz after freeing space: {:?}",
        health(&addr)
    );
    let text = std::fs::read_to_string(&alerts).expect("alerts file");
    assert!(text.ends_with('\n'));
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a whole alert line"))
        .collect();
    assert_eq!(lines.len() as u64, want, "every alert on disk");
}

/// Evidence on a full disk: every file that failed is named (or counted)
/// at the end with the frames not written, not only the first error.
#[test]
fn full_disk_evidence_names_every_failed_file() {
    let Some(guard) = tmpfs("full-disk-evidence", "60k") else {
        return;
    };
    let dir = guard.dir.clone();
    let ev = dir.join("ev");
    let mut args = vec![
        "replay".to_owned(),
        "--evidence".to_owned(),
        ev.to_string_lossy().into_owned(),
    ];
    args.extend(
        common::captures_in(&common::project_pcaps())
            .iter()
            .map(|p| p.to_string_lossy().into_owned()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = common::mirrorwatch(&args, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let summary = err
        .lines()
        .find(|l| l.contains("files failed and may be empty or cut short"))
        .unwrap_or_else(|| panic!("no summary of the failed files: {err}"));
    let n: usize = summary
        .split("evidence: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(n > 1, "{summary}");
    assert!(summary.contains("frames not written"), "{summary}");
    // The inventory is still printed.
    assert!(String::from_utf8_lossy(&out.stdout).contains("mirror"));
}
