//! Nanosecond captures keep their exact time: a mirror scenario rewritten
//! as a nanosecond pcap and as a pcapng with `if_tsresol` 9, with
//! sub-microsecond digits in every timestamp, replayed with `--evidence`
//! (one thread and the reader thread): the evidence files are nanosecond
//! pcaps whose records carry the input frames' times to the nanosecond;
//! a microsecond evidence file already there is appended to in its own
//! resolution.
mod common;

use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// One record: (seconds, nanoseconds, original length, bytes).
type Record = (u32, u32, u32, Vec<u8>);

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// The records of a little-endian classic pcap, fractions in nanoseconds
/// (microsecond files scaled); None when the file is not one.
fn read_pcap(path: &Path) -> Option<Vec<Record>> {
    let b = std::fs::read(path).ok()?;
    let scale = match b.get(..4)? {
        [0xd4, 0xc3, 0xb2, 0xa1] => 1000,
        [0x4d, 0x3c, 0xb2, 0xa1] => 1,
        _ => return None,
    };
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= b.len() {
        let caplen = le32(&b, off + 8) as usize;
        let data = b.get(off + 16..off + 16 + caplen)?.to_vec();
        out.push((
            le32(&b, off),
            le32(&b, off + 4) * scale,
            le32(&b, off + 12),
            data,
        ));
        off += 16 + caplen;
    }
    (off == b.len()).then_some(out)
}

/// `records` as a nanosecond pcap (little-endian, Ethernet).
fn write_nanosecond_pcap(records: &[Record], path: &Path) {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&262_144u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    for (s, ns, orig, d) in records {
        for v in [*s, *ns, d.len() as u32, *orig] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(d);
    }
    std::fs::write(path, b).expect("write nanosecond pcap");
}

use mirrorwatch_pcapfile::pcapng_block as block;

/// `records` as a pcapng whose one (Ethernet) interface has `if_tsresol`
/// 9: timestamps in nanoseconds.
fn write_nanosecond_pcapng(records: &[Record], path: &Path) {
    // if_tsresol (code 9, length 1) = 9, then end of options.
    let mut b = common::pcapng_ethernet_start(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
    for (s, ns, orig, d) in records {
        let ts = u64::from(*s) * 1_000_000_000 + u64::from(*ns);
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&(d.len() as u32).to_le_bytes());
        epb.extend_from_slice(&orig.to_le_bytes());
        epb.extend_from_slice(d);
        b.extend(block(6, &epb));
    }
    std::fs::write(path, b).expect("write pcapng");
}

#[test]
fn evidence_keeps_the_exact_nanosecond_of_the_input() {
    let d = std::env::temp_dir().join(format!("mw-timestamps-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    let src = common::project_pcaps().join("erspan1.pcap");
    // The scenario's times with sub-microsecond digits, different per
    // frame and never a multiple of 1000 ns.
    let input: Vec<Record> = read_pcap(&src)
        .expect("erspan1.pcap is a whole little-endian pcap")
        .into_iter()
        .enumerate()
        .map(|(i, (s, ns, orig, data))| (s, ns + 1 + (i as u32 * 137) % 999, orig, data))
        .collect();
    assert!(input.len() >= 10, "{} frames", input.len());
    let pcap = d.join("nanos.pcap");
    let pcapng = d.join("nanos.pcapng");
    write_nanosecond_pcap(&input, &pcap);
    write_nanosecond_pcapng(&input, &pcapng);
    let golden = common::project_pcaps().join("golden.toml");
    for (capture, workers) in [
        (&pcap, "0"),
        (&pcap, "1"),
        (&pcap, "3"),
        (&pcapng, "0"),
        (&pcapng, "1"),
        (&pcapng, "3"),
    ] {
        let ctx = format!("{} --workers {workers}", capture.display());
        let ev = d.join(format!("evidence-{workers}"));
        let _ = std::fs::remove_dir_all(&ev);
        let out = common::mirrorwatch(
            &[
                "replay",
                "--format",
                "json",
                "--workers",
                workers,
                "--config",
                &golden.to_string_lossy(),
                "--evidence",
                &ev.to_string_lossy(),
                &capture.to_string_lossy(),
            ],
            LIMIT,
        );
        assert!(
            out.status.success(),
            "{ctx}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let files = common::files_in(&ev);
        assert!(!files.is_empty(), "{ctx}: no evidence written");
        let mut written = 0;
        for f in &files {
            let head = std::fs::read(f).expect("evidence file");
            assert_eq!(
                head.get(..4),
                Some(&[0x4d, 0x3c, 0xb2, 0xa1][..]),
                "{ctx}: {} is not a nanosecond pcap",
                f.display()
            );
            assert_eq!(common::whole_pcap(f).map(|n| n > 0), Some(true), "{ctx}");
            let records = read_pcap(f).expect("a whole pcap");
            // In input order, each the input frame with its exact time.
            let mut rest = input.iter();
            for r in &records {
                assert!(
                    rest.any(|i| i == r),
                    "{ctx}: {} has a frame at {}.{:09} not in the input at that time",
                    f.display(),
                    r.0,
                    r.1
                );
            }
            written += records.len();
        }
        // erspan1 alerts on its whole session: every frame is evidence.
        assert_eq!(written, input.len(), "{ctx}");
    }
    // A microsecond evidence file left by an earlier version is appended
    // to in its own resolution (the nanoseconds dropped), never mixed.
    let name = common::files_in(&d.join("evidence-0"))[0]
        .file_name()
        .map(|n| n.to_owned())
        .expect("a file name");
    let old = d.join("evidence-old");
    std::fs::create_dir_all(&old).expect("dir");
    let mut head = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    head.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0]);
    std::fs::write(old.join(&name), &head).expect("old evidence file");
    let out = common::mirrorwatch(
        &[
            "replay",
            "--config",
            &golden.to_string_lossy(),
            "--evidence",
            &old.to_string_lossy(),
            &pcap.to_string_lossy(),
        ],
        LIMIT,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let appended = read_pcap(&old.join(&name)).expect("still a whole pcap");
    let want: Vec<Record> = input
        .iter()
        .map(|(s, ns, o, data)| (*s, ns / 1000 * 1000, *o, data.clone()))
        .collect();
    assert_eq!(appended, want, "appended at microsecond resolution");
    // tcpdump (not installed everywhere) reads them with the same times.
    if let Some(tcpdump) = common::on_path("tcpdump") {
        let f = &common::files_in(&d.join("evidence-0"))[0];
        let out = std::process::Command::new(tcpdump)
            .args(["-r", &f.to_string_lossy(), "-nn", "--nano", "-tt"])
            .output()
            .expect("run tcpdump");
        let text = String::from_utf8_lossy(&out.stdout);
        let times: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let want: Vec<String> = input
            .iter()
            .map(|(s, ns, _, _)| format!("{s}.{ns:09}"))
            .collect();
        assert_eq!(times, want, "tcpdump --nano -tt");
    }
    std::fs::remove_dir_all(&d).ok();
}
