//! `replay --workers N` gives exactly what `--workers 0` (one thread)
//! gives, for N = 1 (the reader/decoder on a thread of its own beside the
//! engine) and N = 2 and 3 (a reader and one or two decode workers, whose
//! batches the engine takes in turn): the same JSON report and the same
//! alert lines, byte for byte, on every scenario capture in `pcaps/`,
//! every reference capture in `../shared/pcaps/real/` and
//! `../shared/pcaps/malformed/`, all the scenarios replayed as one run
//! (sessions across files), and a mixed capture of many batches. Too many
//! workers are refused with a clear error.
mod common;

use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// The report and the alert lines of one replay.
fn run(files: &[String], workers: &str, dir: &Path) -> (String, String) {
    let alerts = dir.join(format!("alerts-{workers}.jsonl"));
    let _ = std::fs::remove_file(&alerts);
    let mut args = vec![
        "replay".to_owned(),
        "--format".to_owned(),
        "json".to_owned(),
        "--workers".to_owned(),
        workers.to_owned(),
        "--alerts".to_owned(),
        alerts.display().to_string(),
    ];
    args.extend(files.iter().cloned());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = common::mirrorwatch(&a, LIMIT);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{files:?} --workers {workers}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        std::fs::read_to_string(&alerts).unwrap_or_default(),
    )
}

/// Whether the replays of `files` with every one of `workers` equal the
/// one-thread replay; true when it raised alerts.
fn same_with(files: &[String], dir: &Path, workers: &[&str]) -> bool {
    let one = run(files, "0", dir);
    assert!(one.0.contains("\"sessions\""), "{files:?}: {}", one.0);
    for w in workers {
        let other = run(files, w, dir);
        assert_eq!(
            one.0, other.0,
            "{files:?}: reports differ with --workers {w}"
        );
        assert_eq!(
            one.1, other.1,
            "{files:?}: alert lines differ with --workers {w}"
        );
    }
    !one.1.is_empty()
}

fn same(files: &[String], dir: &Path) -> bool {
    same_with(files, dir, &["1", "2", "3"])
}

/// A mixed capture of 20,000 frames written into `dir`.
fn mixed_capture(dir: &Path) -> std::path::PathBuf {
    let cap = dir.join("mixed.pcap");
    common::mixed_capture(&cap, 20_000);
    cap
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mirrorwatch-workers-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("tmpdir");
    d
}

#[test]
fn any_number_of_workers_equals_one_thread_on_the_scenarios() {
    let dir = tmpdir("scenarios");
    let all: Vec<String> = common::captures_in(&common::project_pcaps())
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert!(all.len() >= 25, "{all:?}");
    let mut alerting = 0;
    for f in &all {
        alerting += usize::from(same(std::slice::from_ref(f), &dir));
    }
    // Most scenarios alert: the alert lines were compared, not two empties.
    assert!(alerting >= 15, "{alerting} of {} alert", all.len());
    // All of them as one replay: sessions and duplicates across files.
    same(&all, &dir);
}

#[test]
fn any_number_of_workers_equals_one_thread_on_the_reference_captures() {
    let Some(shared) = common::shared_pcaps() else {
        return;
    };
    let dir = tmpdir("shared");
    let mut n = 0;
    for sub in ["real", "malformed"] {
        let d = shared.join(sub);
        if !d.is_dir() {
            eprintln!("SKIPPED: {} not found", d.display());
            continue;
        }
        for f in common::captures_in(&d) {
            same(&[f.display().to_string()], &dir);
            n += 1;
        }
    }
    assert!(n > 0, "no reference capture compared");
}

#[test]
fn decode_workers_keep_the_order_over_many_batches() {
    // 20,000 frames (9 MB) are some 36 read buffers of 256 KiB, each handed
    // over as a batch and dealt to the decode workers in turn: a batch
    // taken out of turn would reorder frames and change the duplicate
    // counts, the sessions' first and last times and the alerts.
    let dir = tmpdir("batches");
    let cap = mixed_capture(&dir);
    let files = [cap.display().to_string()];
    assert!(same_with(&files, &dir, &["1", "2", "3", "5"]));
    let (report, _) = run(&files, "3", &dir);
    let r: serde_json::Value = serde_json::from_str(&report).expect("JSON report");
    assert_eq!(r["packets"], 20000, "{}", r["packets"]);
}

#[test]
fn files_with_no_frames_between_others_change_nothing() {
    // The reader hands its read buffers over whole, a file's last one when
    // the file closes: files that give no frame (only a header, not a
    // capture, missing) between two that do must neither lose nor repeat
    // a frame.
    let dir = tmpdir("empty-files");
    let header_only = dir.join("header-only.pcap");
    let pcap = std::fs::read("pcaps/erspan3.pcap").expect("erspan3.pcap");
    std::fs::write(&header_only, pcap.get(..24).expect("a pcap header")).expect("write");
    // A second one last (the same file twice is refused).
    let header_again = dir.join("header-only-again.pcap");
    std::fs::write(&header_again, pcap.get(..24).expect("a pcap header")).expect("write");
    let text = dir.join("notes.txt");
    std::fs::write(&text, "not a capture\n").expect("write");
    let files: Vec<String> = [
        "pcaps/erspan3.pcap".to_owned(),
        header_only.display().to_string(),
        text.display().to_string(),
        dir.join("missing.pcap").display().to_string(),
        "pcaps/gre-teb-external.pcap".to_owned(),
        header_again.display().to_string(),
    ]
    .to_vec();
    assert!(same_with(&files, &dir, &["1", "2"]));
    let (report, _) = run(&files, "1", &dir);
    let r: serde_json::Value = serde_json::from_str(&report).expect("JSON report");
    let per_file: u64 = r["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["packets"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(r["packets"].as_u64(), Some(per_file), "{}", r["files"]);
    assert!(per_file > 0);
}

#[test]
fn too_many_workers_are_refused_with_a_reason() {
    let out = common::mirrorwatch(&["replay", "--workers", "65", "pcaps/erspan3.pcap"], LIMIT);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at most 64 workers"), "{err}");
    let out = common::mirrorwatch(&["replay", "--workers", "two", "pcaps/erspan3.pcap"], LIMIT);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_signal_judges_every_frame_the_reader_read() {
    for workers in ["1", "3"] {
        signal_with(workers);
    }
}

fn signal_with(workers: &str) {
    // Part of a capture through a FIFO whose writer keeps it open: the
    // replay is stopped by SIGINT while it waits for more, with every
    // frame written read by the reader thread.
    let dir = tmpdir(&format!("signal-{workers}"));
    let cap = mixed_capture(&dir);
    let bytes = std::fs::read(&cap).expect("capture");
    let part = bytes.get(..bytes.len() / 3).expect("a third").to_vec();
    let fifo = dir.join("in.fifo");
    let _ = std::fs::remove_file(&fifo);
    let c = std::ffi::CString::new(fifo.to_str().expect("path")).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let f2 = fifo.clone();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .open(&f2)
            .expect("open fifo");
        w.write_all(&part).expect("write");
        w.flush().expect("flush");
        std::thread::sleep(Duration::from_secs(2));
    });
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .args(["replay", "--format", "json", "--workers", workers])
        .arg(&fifo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(700));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(r["interrupted"], true, "--workers {workers}: {r}");
    assert_eq!(out.status.code(), Some(130));
    // The frames read and the frames judged are the same count.
    assert_eq!(r["packets"], r["files"][0]["packets"], "{}", r["files"]);
    assert!(
        r["packets"].as_u64().unwrap_or(0) > 1000,
        "{}",
        r["packets"]
    );
}
