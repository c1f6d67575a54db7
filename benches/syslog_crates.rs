//! Our syslog framing and RFC 3339 parsing beside the crates issue 14 asks
//! us to weigh: `syslog_loose` (Vector's lenient RFC 3164/5424 parser) and
//! `jiff` (date-time). On every syslog line of the fixtures: how often each
//! finds the device (the host that changed something), the time, and the
//! message starting at Cisco's `%TAG` where there is one; and how fast.
//! `cargo bench --bench syslog_crates` (median of 5 runs, alternated).
mod support;
use support::median;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use mirrorwatch::logs::{parse_rfc3339_us, parse_syslog_line};

/// The syslog lines of the fixtures, with the device each names (written
/// in the fixture README and the tests: the word after the time in relay
/// forms, the Cisco header's own name where the sequence number comes
/// first). Returned as the lines alone; agreement is counted between the
/// parsers on the device host and on the message tag.
fn lines() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs");
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    for f in files {
        let bytes = std::fs::read(&f).expect("fixture");
        for l in String::from_utf8_lossy(&bytes).lines() {
            if !l.trim().is_empty() && !l.starts_with('#') {
                out.push(l.to_owned());
            }
        }
    }
    out
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let lines = lines();
    assert!(lines.len() > 50, "{} fixture lines", lines.len());

    // What each parser makes of the lines.
    let (mut ours_tag, mut loose_tag, mut ours_host, mut loose_host, mut loose_seq_host) =
        (0, 0, 0, 0, 0);
    for l in &lines {
        let ours = parse_syslog_line(l, 2026);
        let loose = syslog_loose::parse_message(l, syslog_loose::Variant::Either);
        let has_tag = l.contains(": %") || l.contains(" %");
        if let Some(r) = &ours {
            ours_host += usize::from(r.host.is_some());
            ours_tag += usize::from(has_tag && r.msg.starts_with('%'));
        }
        loose_host += usize::from(loose.hostname.is_some());
        loose_tag += usize::from(has_tag && loose.msg.trim_start().starts_with('%'));
        // A relay's or `service sequence-numbers` line: the sequence
        // number taken for the host.
        if loose
            .hostname
            .is_some_and(|h| h.trim_end_matches(':').chars().all(|c| c.is_ascii_digit()))
        {
            loose_seq_host += 1;
        }
    }
    let tagged = lines
        .iter()
        .filter(|l| l.contains(": %") || l.contains(" %"))
        .count();
    println!(
        "{} fixture syslog lines, {tagged} with a Cisco-style %TAG",
        lines.len()
    );
    println!("ours:         host found on {ours_host}, message at its %TAG on {ours_tag}");
    println!(
        "syslog_loose: host found on {loose_host} ({loose_seq_host} of them a sequence number), message at its %TAG on {loose_tag}"
    );

    // Speed over the lines, repeated.
    let reps = if full { 2_000 } else { 5 };
    let runs = if full { 5 } else { 1 };
    let (mut ours, mut loose) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let mut n = 0usize;
        for _ in 0..reps {
            for l in &lines {
                n += usize::from(parse_syslog_line(l, 2026).is_some());
            }
        }
        std::hint::black_box(n);
        ours.push((reps * lines.len()) as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut n = 0usize;
        for _ in 0..reps {
            for l in &lines {
                let m = syslog_loose::parse_message(l, syslog_loose::Variant::Either);
                n += usize::from(m.hostname.is_some());
            }
        }
        std::hint::black_box(n);
        loose.push((reps * lines.len()) as f64 / t.elapsed().as_secs_f64());
    }
    println!(
        "lines/s: ours {:.0}, syslog_loose {:.0} (median of {runs})",
        median(&mut ours),
        median(&mut loose)
    );

    // RFC 3339: agreement and speed.
    let stamps = [
        "2026-03-01T11:00:05Z",
        "2026-03-01T11:00:05.123456Z",
        "2026-03-01T12:00:05+01:00",
        "2026-03-01T11:00:05.5-05:30",
        "2024-02-29T23:59:59.999999999Z",
        "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-03-01 11:00:05Z",
    ];
    let mut agree = 0;
    for s in stamps {
        let o = parse_rfc3339_us(s);
        let j = jiff::Timestamp::from_str(s)
            .ok()
            .map(|t| t.as_microsecond());
        agree += usize::from(o == j);
        if o != j {
            println!("rfc3339 {s:?}: ours {o:?}, jiff {j:?}");
        }
    }
    println!(
        "rfc3339: ours and jiff agree on {agree} of {}",
        stamps.len()
    );
    let reps = if full { 200_000 } else { 100 };
    let (mut ours, mut jiffs) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let mut n = 0i64;
        for _ in 0..reps {
            for s in stamps {
                n = n.wrapping_add(parse_rfc3339_us(s).unwrap_or(0));
            }
        }
        std::hint::black_box(n);
        ours.push((reps * stamps.len()) as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut n = 0i64;
        for _ in 0..reps {
            for s in stamps {
                n = n.wrapping_add(jiff::Timestamp::from_str(s).map_or(0, |t| t.as_microsecond()));
            }
        }
        std::hint::black_box(n);
        jiffs.push((reps * stamps.len()) as f64 / t.elapsed().as_secs_f64());
    }
    println!(
        "timestamps/s: ours {:.0}, jiff {:.0} (median of {runs})",
        median(&mut ours),
        median(&mut jiffs)
    );
}
