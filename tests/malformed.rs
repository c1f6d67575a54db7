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

/// Old pcap versions, read as libpcap reads them (libpcap's `sf-pcap.c` is
/// the expectation, and libpcap itself the check): before 2.3, and in
/// DG/UX tcpdump's 543.0, the wire length comes first in a record header;
/// 2.3 files come both ways, so there the lengths are swapped when the
/// first is the larger; 2.4 is today's order. Versions before 2 and after
/// 2.4 are refused with libpcap's words.
#[test]
fn old_pcap_versions_read_as_libpcap_reads_them() {
    let dir = std::env::temp_dir().join(format!("mirrorwatch-versions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // (first, second) length field of each record, in file order.
    let records: [(u32, u32); 3] = [(60, 60), (100, 40), (40, 100)];
    for (major, minor) in [(2u16, 0u16), (2, 2), (2, 3), (2, 4), (543, 0)] {
        // The captured length libpcap takes: written by hand from its rules.
        let captured = |a: u32, b: u32| match (major, minor) {
            (2, 4) => a,
            (2, 3) => a.min(b),
            _ => b,
        };
        for be in [false, true] {
            let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
            let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
            let mut b = w32(0xa1b2_c3d4).to_vec();
            b.extend_from_slice(&w16(major));
            b.extend_from_slice(&w16(minor));
            b.extend_from_slice(&[0; 8]);
            b.extend_from_slice(&w32(65535));
            b.extend_from_slice(&w32(1));
            for (i, &(x, y)) in records.iter().enumerate() {
                b.extend_from_slice(&w32(1_700_000_000 + i as u32));
                b.extend_from_slice(&w32(0));
                b.extend_from_slice(&w32(x));
                b.extend_from_slice(&w32(y));
                b.extend(std::iter::repeat_n(0u8, captured(x, y) as usize));
            }
            let p = dir.join(format!("v{major}.{minor}-{be}.pcap"));
            std::fs::write(&p, &b).expect("write");
            let path = p.to_string_lossy();
            let (packets, bytes) = mirrorwatch::source::plain_read_loop(&path)
                .unwrap_or_else(|e| panic!("{path}: libpcap: {e}"));
            assert_eq!(packets, 3, "{path}");
            let out = common::mirrorwatch(
                &["replay", "--format", "json", &path],
                Duration::from_secs(30),
            );
            let report: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{path}: bad JSON: {e}"));
            assert_eq!(
                report["files"][0]["error"],
                serde_json::Value::Null,
                "{path}"
            );
            assert_eq!(report["packets"].as_u64(), Some(packets), "{path}");
            assert_eq!(report["bytes"].as_u64(), Some(bytes), "{path}: wire bytes");
        }
    }
    for (major, minor, says) in [
        (1u16, 0u16, "archaic pcap savefile format".to_owned()),
        (2, 5, "unsupported pcap savefile version 2.5".to_owned()),
        (3, 0, "unsupported pcap savefile version 3.0".to_owned()),
    ] {
        let mut b = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
        b.extend_from_slice(&major.to_le_bytes());
        b.extend_from_slice(&minor.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&65535u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        let p = dir.join(format!("v{major}.{minor}.pcap"));
        std::fs::write(&p, &b).expect("write");
        let path = p.to_string_lossy();
        let libpcap = mirrorwatch::source::plain_read_loop(&path).expect_err("libpcap refuses it");
        assert!(libpcap.to_string().contains(&says), "libpcap: {libpcap}");
        let out = common::mirrorwatch(&["replay", &path], Duration::from_secs(30));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{path}: {err}");
        assert!(err.contains(&says), "{path}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Records longer than the snapshot length, or than libpcap takes at all,
/// and one cut off inside its data: mirrorwatch stops where libpcap stops
/// and says what libpcap says (libpcap, through the `pcap` crate, is the
/// expectation); a record longer than the snapshot length but within the
/// maximum is read, cut to the snapshot length, as libpcap cuts it.
#[test]
fn overlong_records_are_cut_and_refused_in_libpcaps_words() {
    let dir = std::env::temp_dir().join(format!("mirrorwatch-overlong-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // (magic, header snaplen, record caplen, data bytes present)
    let cases: [(u32, u32, u32, Option<usize>); 7] = [
        (0xa1b2_c3d4, 65_535, 300_000, None),
        (0xa1b2_c3d4, 0, 300_000, None),
        (0xa1b2_c3d4, 1000, 2000, None),
        (0xa1b2_c3d4, 1000, 2000, Some(500)),
        (0xa1b2_c3d4, 1000, 2000, Some(1500)),
        (0xa1b2_cd34, 262_144, 262_150, None),
        (0xa1b2_cd34, 262_144, 262_160, None),
    ];
    for (i, (magic, snap, caplen, have)) in cases.into_iter().enumerate() {
        let mut b = magic.to_le_bytes().to_vec();
        b.extend_from_slice(&[2, 0, 4, 0]);
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&snap.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        for v in [1_700_000_000u32, 0, caplen, caplen] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        if magic == 0xa1b2_cd34 {
            b.extend_from_slice(&[0; 8]);
        }
        b.extend(std::iter::repeat_n(0u8, have.unwrap_or(caplen as usize)));
        let p = dir.join(format!("case{i}.pcap"));
        std::fs::write(&p, &b).expect("write");
        let path = p.to_string_lossy();
        let mut cap = pcap::Capture::from_file(&p).expect("libpcap opens it");
        let libpcap = match cap.next_packet() {
            Ok(pk) => Ok(pk.header.caplen),
            // The crate's Display puts "libpcap error: " before libpcap's
            // own message.
            Err(e) => Err(e
                .to_string()
                .trim_start_matches("libpcap error: ")
                .to_owned()),
        };
        let out = common::mirrorwatch(
            &["replay", "--format", "json", &path],
            Duration::from_secs(30),
        );
        let r: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{path}: bad JSON: {e}"));
        match libpcap {
            Ok(n) => {
                assert_eq!(n, snap, "{path}: libpcap cuts to the snapshot length");
                assert_eq!(r["packets"], 1, "{path}");
                assert_eq!(r["files"][0]["error"], serde_json::Value::Null, "{path}");
            }
            Err(reason) => {
                assert_eq!(r["packets"], 0, "{path}");
                let ours = r["files"][0]["error"].as_str().unwrap_or("");
                assert!(
                    ours.ends_with(&reason),
                    "{path}: ours {ours:?}, libpcap {reason:?}"
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
