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

/// libpcap itself as the expectation: every reference and malformed
/// capture libpcap opens gives, read by mirrorwatch's own reader, as many
/// frames and wire bytes as libpcap's read loop finds (and where libpcap
/// stops at a broken record, mirrorwatch stops at the same frame and says
/// so). Files libpcap cannot open (a pcapng whose interfaces have
/// different link types, say) are counted, not compared.
#[test]
fn our_reader_counts_what_libpcap_counts() {
    let Some(shared) = common::shared_pcaps() else {
        return;
    };
    let mut files = common::captures_in(&shared.join("real"));
    files.extend(common::captures_in(&shared.join("malformed")));
    let (mut compared, mut cut, mut not_opened) = (0, 0, 0);
    for f in &files {
        let path = f.to_string_lossy();
        let (want_packets, want_bytes) = match mirrorwatch::source::plain_read_loop(&path) {
            Ok((n, bytes)) => (n, Some(bytes)),
            Err(mirrorwatch::source::SourceError::Truncated { packets, .. }) => {
                cut += 1;
                (packets, None)
            }
            Err(_) => {
                not_opened += 1;
                continue;
            }
        };
        let out = common::mirrorwatch(
            &["replay", "--format", "json", &path],
            Duration::from_secs(30),
        );
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{path}: bad JSON: {e}"));
        assert_eq!(
            report["packets"].as_u64(),
            Some(want_packets),
            "{path}: frames"
        );
        match want_bytes {
            Some(b) => assert_eq!(report["bytes"].as_u64(), Some(b), "{path}: wire bytes"),
            None => assert!(
                report["files"][0]["error"].is_string(),
                "{path}: libpcap stopped at a broken record, the report must say so: {}",
                report["files"][0]
            ),
        }
        compared += 1;
    }
    eprintln!(
        "{compared} captures compared with libpcap ({cut} cut off), {not_opened} libpcap cannot open"
    );
    assert!(compared > 200, "only {compared} compared");
}
