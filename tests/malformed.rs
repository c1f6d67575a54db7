//! Robustness: every capture in `../shared/pcaps/malformed/` (made to crash
//! packet dissectors) is read to its end, exit 0, no panic, errors counted.
mod common;

use std::time::Duration;

#[test]
fn malformed_captures_replay_cleanly() {
    let Some(shared) = common::shared_pcaps() else {
        return;
    };
    let files = common::captures_in(&shared.join("malformed"));
    assert!(files.len() > 100, "only {} malformed captures", files.len());
    let mut decode_errors = 0u64;
    for f in &files {
        let path = f.to_string_lossy();
        let out = common::mirrorwatch(
            &["replay", "--format", "json", &path],
            Duration::from_secs(30),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{path}: exit {:?}\n{stderr}",
            out.status.code()
        );
        assert!(!stderr.contains("panicked"), "{path}: {stderr}");
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{path}: bad JSON: {e}"));
        if let Some(n) = common::pcap_record_count(f) {
            assert_eq!(
                report["packets"].as_u64(),
                Some(n),
                "{path}: read to the end"
            );
        } else {
            assert!(
                report["packets"].as_u64().unwrap_or(0) > 0,
                "{path}: no frames read"
            );
        }
        decode_errors += report["decode_errors"]
            .as_object()
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum::<u64>())
            .unwrap_or(0);
    }
    assert!(
        decode_errors > 0,
        "no decode error counted across {} files",
        files.len()
    );
}
