//! The command line as a user meets it: errors that name the file, partial
//! results kept, standard input, several files in one table, help text.
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mirrorwatch-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn scenario(name: &str) -> PathBuf {
    common::project_pcaps().join(name)
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn missing_file_is_an_error_naming_it_and_other_files_still_count() {
    let good = s(&scenario("erspan2.pcap"));
    let out = common::mirrorwatch(
        &["replay", "--format", "json", "/nonexistent/x.pcap", &good],
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/x.pcap") && err.contains("No such file"),
        "{err}"
    );
    let r = json(&out);
    assert!(
        r["packets"].as_u64().unwrap_or(0) > 0,
        "the good file was processed"
    );
    assert_eq!(r["files"][0]["packets"], 0);
}

#[test]
fn not_a_capture_is_an_error_naming_it() {
    let d = tmpdir("notcap");
    let p = d.join("notes.pcap");
    std::fs::write(&p, b"this is a text file, not a capture\n").expect("write");
    let out = common::mirrorwatch(&["replay", &s(&p)], LIMIT);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("notes.pcap") && err.contains("not a pcap or pcapng"),
        "{err}"
    );
}

#[test]
fn truncated_capture_keeps_frames_and_names_the_offset() {
    let src = scenario("erspan2.pcap");
    let bytes = std::fs::read(&src).expect("scenario");
    let whole = common::pcap_record_count(&src).expect("classic pcap");
    // Cut in the middle of the last record's data.
    let cut = bytes.len() - 10;
    let d = tmpdir("trunc");
    let p = d.join("cut.pcap");
    std::fs::write(&p, &bytes[..cut]).expect("write");
    let out = common::mirrorwatch(&["replay", "--format", "json", &s(&p)], LIMIT);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cut.pcap") && err.contains("byte offset"),
        "{err}"
    );
    let r = json(&out);
    assert_eq!(r["packets"].as_u64(), Some(whole - 1));
    assert_eq!(r["sessions"][0]["packets"].as_u64(), Some(whole - 1));
    assert!(r["files"][0]["error"].as_str().is_some());
}

#[test]
fn unsupported_link_type_is_reported_and_counted() {
    // A valid pcap of link type 195 (IEEE 802.15.4).
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&195u32.to_le_bytes());
    for i in 0..3u32 {
        b.extend_from_slice(&i.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&[1, 2, 3, 4]);
    }
    let d = tmpdir("dlt");
    let p = d.join("zigbee.pcap");
    std::fs::write(&p, &b).expect("write");
    let out = common::mirrorwatch(&["replay", "--format", "json", &s(&p)], LIMIT);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("zigbee.pcap") && err.contains("link type 195"),
        "{err}"
    );
    let r = json(&out);
    assert_eq!(r["packets"], 3);
    assert_eq!(r["decode_errors"]["link/unsupported_linktype"], 3);
    assert_eq!(r["files"][0]["linktype"], "dlt-195");
}

#[test]
fn several_files_share_one_session_table() {
    let a = s(&scenario("erspan2.pcap"));
    // A second copy of it (the same file twice is refused).
    let d = tmpdir("shared-table");
    let b = d.join("erspan2-again.pcap");
    std::fs::copy(&a, &b).expect("copy");
    let one = json(&common::mirrorwatch(
        &["replay", "--format", "json", &a],
        LIMIT,
    ));
    let two = json(&common::mirrorwatch(
        &["replay", "--format", "json", &a, &s(&b)],
        LIMIT,
    ));
    assert_eq!(
        one["sessions"].as_array().map(Vec::len),
        two["sessions"].as_array().map(Vec::len)
    );
    let p1 = one["sessions"][0]["packets"].as_u64().expect("packets");
    assert_eq!(two["sessions"][0]["packets"].as_u64(), Some(2 * p1));
    assert_eq!(two["files"].as_array().map(Vec::len), Some(2));
}

#[test]
fn standard_input_is_read_with_a_dash() {
    let p = scenario("vxlan.pcap");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .args(["replay", "--format", "json", "-"])
        .stdin(std::fs::File::open(&p).expect("scenario"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = Vec::new();
    std::io::Read::read_to_end(child.stdout.as_mut().expect("stdout"), &mut stdout).expect("read");
    assert!(child.wait().expect("wait").success());
    let from_stdin: serde_json::Value = serde_json::from_slice(&stdout).expect("json");
    let from_file = json(&common::mirrorwatch(
        &["replay", "--format", "json", &s(&p)],
        LIMIT,
    ));
    assert_eq!(from_stdin["sessions"], from_file["sessions"]);
    assert_eq!(from_stdin["files"][0]["path"], "-");
}

#[test]
fn table_output_lists_sessions_and_totals() {
    let out = common::mirrorwatch(&["replay", &s(&scenario("erspan3.pcap"))], LIMIT);
    assert!(out.status.success());
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.starts_with("ENCAP"), "{t}");
    assert!(t.contains("erspan3") && t.contains("203.0.113.50"), "{t}");
    assert!(
        t.contains("1 file(s)") && t.contains("decode errors:"),
        "{t}"
    );
}

#[test]
fn help_carries_examples() {
    for args in [&["--help"][..], &["replay", "--help"], &["synth", "--help"]] {
        let out = common::mirrorwatch(args, LIMIT);
        assert!(out.status.success());
        let h = String::from_utf8_lossy(&out.stdout);
        assert!(
            h.contains("Examples:") && h.contains("mirrorwatch "),
            "{args:?}: {h}"
        );
    }
}

#[test]
fn bad_config_names_field_and_line() {
    let d = tmpdir("cfg");
    let p = d.join("bad.toml");
    std::fs::write(&p, "sensor = \"s1\"\n\n[decode]\nvxlan_portz = [4789]\n").expect("write");
    let out = common::mirrorwatch(
        &["replay", "--config", &s(&p), &s(&scenario("vxlan.pcap"))],
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("vxlan_portz") && err.contains("line 4"),
        "{err}"
    );
}

#[test]
fn configured_vxlan_port_is_decoded() {
    // The `vxlan` scenario's second session uses 8472; with only 4789
    // configured it disappears, with 8472 back it returns.
    let d = tmpdir("ports");
    let p = d.join("ports.toml");
    std::fs::write(&p, "[decode]\nvxlan_ports = [4789]\n").expect("write");
    let pc = s(&scenario("vxlan.pcap"));
    let narrow = json(&common::mirrorwatch(
        &["replay", "--format", "json", "--config", &s(&p), &pc],
        LIMIT,
    ));
    let default = json(&common::mirrorwatch(
        &["replay", "--format", "json", &pc],
        LIMIT,
    ));
    let count = |r: &serde_json::Value| r["sessions"].as_array().map_or(0, Vec::len);
    assert!(count(&narrow) < count(&default), "{narrow}\n{default}");
}

#[test]
fn config_default_is_valid_and_documented() {
    let out = common::mirrorwatch(&["config", "default"], LIMIT);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"),
    )
    .expect("docs/configuration.md");
    assert!(
        docs.contains(&text),
        "docs/configuration.md does not show `config default` as it is"
    );
    let d = tmpdir("cfgcheck");
    let p = d.join("default.toml");
    std::fs::write(&p, &text).expect("write");
    let out = common::mirrorwatch(&["config", "check", &s(&p)], LIMIT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"));
    std::fs::write(&p, "[alerts]\nspike_factor = 0.5\n").expect("write");
    let out = common::mirrorwatch(&["config", "check", &s(&p)], LIMIT);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("alerts.spike_factor"));
}

/// SIGTERM (and SIGINT) mid-replay: reading stops, what was read is judged
/// and reported with "interrupted": true, every alert line is whole, every
/// evidence pcap is readable, and the exit status is 128 + the signal.
#[test]
fn signal_mid_replay_leaves_whole_outputs_and_a_partial_report() {
    let d = tmpdir("sigterm");
    let mixed = d.join("mixed.pcap");
    common::mixed_capture(&mixed, 200_000);
    let golden = s(&scenario("golden.toml"));
    for (signal, name, status) in [(libc::SIGTERM, "TERM", 143), (libc::SIGINT, "INT", 130)] {
        let alerts = d.join(format!("alerts-{name}.jsonl"));
        let evidence = d.join(format!("evidence-{name}"));
        std::fs::remove_file(&alerts).ok();
        let mut args: Vec<String> = [
            "replay",
            "--config",
            &golden,
            "--format",
            "json",
            "--alerts",
            &s(&alerts),
            "--evidence",
            &s(&evidence),
        ]
        .map(str::to_owned)
        .to_vec();
        // The capture's records again and again on standard input (the
        // same file given twice is refused): far longer than the signal
        // takes. The writer ends when the replay stops reading.
        args.push("-".to_owned());
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        let bytes = std::fs::read(&mixed).expect("read the capture");
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let (header, records) = bytes.split_at(24);
            let mut rounds = 0u32;
            if stdin.write_all(header).is_ok() {
                while rounds < 1000 && stdin.write_all(records).is_ok() {
                    rounds += 1;
                }
            }
            rounds
        });
        std::thread::sleep(Duration::from_millis(1500));
        // SAFETY: kill with a valid pid and signal.
        unsafe { libc::kill(child.id() as i32, signal) };
        let start = std::time::Instant::now();
        let out = child.wait_with_output().expect("wait");
        assert!(start.elapsed() < Duration::from_secs(10), "stopped late");
        assert_eq!(out.status.code(), Some(status), "SIG{name} exit status");
        let rounds = writer.join().expect("writer");
        assert!(rounds < 1000, "the replay read to the end: not interrupted");
        let r = json(&out);
        assert_eq!(r["interrupted"], true, "SIG{name}");
        let packets = r["packets"].as_u64().unwrap_or(0);
        assert!(
            packets > 0 && packets <= u64::from(rounds + 1) * 200_000,
            "{packets} packets in {rounds} rounds written"
        );
        assert!(!r["sessions"].as_array().is_none_or(Vec::is_empty));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("stopped by signal"), "{err}");
        let text = std::fs::read_to_string(&alerts).expect("alerts file");
        assert!(text.ends_with('\n'), "last alert line is whole");
        let lines: Vec<&str> = text.lines().collect();
        assert!(!lines.is_empty());
        for l in &lines {
            serde_json::from_str::<serde_json::Value>(l).expect("a whole alert line");
        }
        let files: Vec<PathBuf> = std::fs::read_dir(&evidence)
            .expect("evidence dir")
            .map(|e| e.expect("entry").path())
            .collect();
        assert!(!files.is_empty(), "evidence written");
        for f in &files {
            let n = common::whole_pcap(f);
            assert!(
                n.is_some_and(|n| n > 0),
                "{} is a whole pcap: {n:?}",
                f.display()
            );
        }
    }
    std::fs::remove_dir_all(&d).ok();
}

/// `tcpdump -w - | mirrorwatch replay -` on a quiet link: frames came,
/// then the writer keeps the pipe open and sends nothing. The frames that
/// came are judged, and their alerts written, while the pipe is still open,
/// whatever `--workers` says (a reader thread had held them until 256 KiB
/// had come). SIGTERM still stops the replay at once: the frames read are
/// reported and the record the pipe cut short is named; a FIFO no writer
/// opens stops as well.
#[test]
fn a_signal_stops_a_replay_whose_pipe_or_fifo_sends_nothing() {
    use std::io::Write;
    let d = tmpdir("quiet-pipe");
    let capture = std::fs::read(scenario("erspan3.pcap")).expect("capture");
    for workers in ["0", "1", "2"] {
        let alerts = d.join(format!("alerts-{workers}.jsonl"));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
            .args([
                "replay",
                "--workers",
                workers,
                "--format",
                "json",
                "--alerts",
            ])
            .arg(&alerts)
            .arg("-")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        // Part of the capture, cut inside a record; the pipe stays open.
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(&capture[..4000]).expect("write");
        stdin.flush().expect("flush");
        let early = common::wait_for(Duration::from_secs(10), || {
            let t = std::fs::read_to_string(&alerts).ok()?;
            (t.lines().count() == 2).then_some(())
        });
        assert!(
            early.is_some(),
            "--workers {workers}: no alert while the pipe was open"
        );
        // SAFETY: kill with a valid pid and signal.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let start = std::time::Instant::now();
        let out = stopped_within(child, Duration::from_secs(3));
        drop(stdin);
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "--workers {workers}: stopped after {:?}",
            start.elapsed()
        );
        assert_eq!(out.status.code(), Some(143), "--workers {workers}");
        let r = json(&out);
        assert_eq!(r["interrupted"], true);
        assert_eq!(r["packets"], 10, "--workers {workers}: {r}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("-: capture cut off after packet 10"), "{err}");
        let text = std::fs::read_to_string(&alerts).expect("alerts");
        assert_eq!(text.lines().count(), 2, "--workers {workers}: {text}");
    }
    let fifo = d.join("nobody-writes");
    assert!(common::sh(&format!("mkfifo {}", fifo.display())));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .arg("replay")
        .arg(&fifo)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = std::time::Instant::now();
    let out = child.wait_with_output().expect("wait");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(out.status.code(), Some(143));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stopped before its file header came"), "{err}");
    std::fs::remove_dir_all(&d).ok();
}

/// The output of `child` once it has exited; killed (and so failing the
/// caller's checks on time and status) if it has not within `limit`.
fn stopped_within(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    let start = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(10));
    }
    if child.try_wait().expect("wait").is_none() {
        let _ = child.kill();
    }
    child.wait_with_output().expect("output")
}

/// An alerts file or evidence directory that cannot be opened is exit
/// status 1 with one line naming it, as `replay --help` says, with or
/// without --listen.
#[test]
fn unwritable_output_is_exit_status_one() {
    let pc = s(&scenario("erspan3.pcap"));
    let port = common::free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    for extra in [&[][..], &["--listen", listen.as_str()][..]] {
        for out in [
            ["--alerts", "/proc/no/such/alerts.jsonl"],
            ["--evidence", "/proc/no/such"],
        ] {
            let mut args = vec!["replay"];
            args.extend_from_slice(extra);
            args.extend_from_slice(&out);
            args.push(&pc);
            let o = common::mirrorwatch(&args, LIMIT);
            assert_eq!(o.status.code(), Some(1), "{args:?}");
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("/proc/no/such"), "{err}");
        }
    }
}

/// A FIFO and process substitution (`<(cat file)`) replay like the file:
/// they are opened once, never sniffed and reopened.
#[test]
fn fifo_and_process_substitution_replay_like_the_file() {
    let pc = s(&scenario("vxlan.pcap"));
    let want = json(&common::mirrorwatch(
        &["replay", "--format", "json", &pc],
        LIMIT,
    ));
    let d = tmpdir("fifo");
    let fifo = d.join("capture.fifo");
    std::fs::remove_file(&fifo).ok();
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|st| st.success());
    assert!(ok, "mkfifo");
    let (src, dst) = (pc.clone(), fifo.clone());
    let writer = std::thread::spawn(move || {
        let data = std::fs::read(&src).expect("read capture");
        std::fs::write(&dst, data).expect("write into the FIFO");
    });
    let got = common::mirrorwatch(&["replay", "--format", "json", &s(&fifo)], LIMIT);
    writer.join().expect("writer");
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    let got = json(&got);
    assert_eq!(got["sessions"], want["sessions"]);
    assert_eq!(got["packets"], want["packets"]);
    let bin = env!("CARGO_BIN_EXE_mirrorwatch");
    let out = std::process::Command::new("bash")
        .args(["-c", &format!("{bin} replay --format json <(cat {pc})")])
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = json(&out);
    assert_eq!(got["sessions"], want["sessions"]);
    std::fs::remove_dir_all(&d).ok();
}

/// `replay --listen` runs the same pipeline as plain replay: the same
/// report, `logs` section included.
#[test]
fn replay_with_listen_reports_what_plain_replay_reports() {
    let pc = s(&scenario("aws-vxlan-mirror.pcap"));
    let logs = s(&Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/logs/aws-vxlan-mirror-cloudtrail.json"));
    let plain = json(&common::mirrorwatch(
        &["replay", "--format", "json", "--logs", &logs, &pc],
        LIMIT,
    ));
    let listen = format!("127.0.0.1:{}", common::free_port());
    let served = json(&common::mirrorwatch(
        &[
            "replay", "--listen", &listen, "--format", "json", "--logs", &logs, &pc,
        ],
        LIMIT,
    ));
    assert_eq!(served["logs"], plain["logs"]);
    assert_eq!(
        served["logs"][0]["recognised"].as_u64().map(|n| n > 0),
        Some(true)
    );
    assert_eq!(served["sessions"], plain["sessions"]);
    assert_eq!(served["alerts"], plain["alerts"]);
}

/// Serving beyond loopback, with no TLS or authentication of its own, is
/// said at start; loopback is not.
#[test]
fn listening_beyond_loopback_warns() {
    let pc = s(&scenario("erspan3.pcap"));
    let wide = format!("0.0.0.0:{}", common::free_port());
    let out = common::mirrorwatch(&["replay", "--listen", &wide, &pc], LIMIT);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("beyond loopback"));
    let local = format!("127.0.0.1:{}", common::free_port());
    let out = common::mirrorwatch(&["replay", "--listen", &local, &pc], LIMIT);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("beyond loopback"));
}

/// A report that cannot be written (standard output on a full disk) is an
/// error and a non-zero exit, for each command that prints one: the
/// reports are buffered, and a buffer dropped unflushed would lose its
/// failed write unseen.
#[test]
fn a_report_to_a_full_disk_is_an_error_not_a_silent_loss() {
    let full = Path::new("/dev/full");
    if !full.exists() {
        eprintln!("skipped: no /dev/full");
        return;
    }
    let pcap = s(&scenario("erspan2.pcap"));
    let log = s(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs/cisco-ios.log"));
    for (what, args) in [
        (
            "replay json",
            vec!["replay", "--format", "json", pcap.as_str()],
        ),
        ("replay table", vec!["replay", pcap.as_str()]),
        (
            "flows json",
            vec!["flows", "--format", "json", pcap.as_str()],
        ),
        (
            "logs table",
            vec!["logs", "--format", "table", log.as_str()],
        ),
        ("logs json", vec!["logs", "--format", "json", log.as_str()]),
        ("config default", vec!["config", "default"]),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(full)
                    .expect("open /dev/full"),
            )
            .output()
            .expect("run mirrorwatch");
        let err = String::from_utf8_lossy(&out.stderr);
        // 1, as --help says of an output that could not be written (not
        // 2, a usage error, nor a panic's 101).
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what}: exit {:?} on a full disk",
            out.status
        );
        assert!(
            err.contains("standard output") && err.contains("No space left"),
            "{what}: stderr does not say which output and why:\n{err}"
        );
    }
}

/// Alerts that cannot be written are exit status 1 for every command that
/// writes them, with the count and the file named, and what was read is
/// still printed; a configuration log or flow input given to `replay` and
/// not readable at all is an input that could not be opened (1), since
/// without it the sessions it would explain are alerted as unexplained;
/// `report` writes alerts in the `--alerts-format` it is given.
#[test]
fn alerts_not_written_and_inputs_not_read_are_exit_status_1() {
    let full = Path::new("/dev/full");
    if !full.exists() {
        eprintln!("skipped: no /dev/full");
        return;
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let log = s(&fixtures.join("logs/cloudtrail.json"));
    let flows = s(&fixtures.join("flows/aws"));
    let pcap = s(&scenario("erspan2.pcap"));
    for (what, args, printed) in [
        (
            "logs",
            vec!["logs", "--alerts", "/dev/full", log.as_str()],
            "mirror configuration events",
        ),
        (
            "flows",
            vec!["flows", "--alerts", "/dev/full", flows.as_str()],
            "session(s)",
        ),
        (
            "replay",
            vec!["replay", "--alerts", "/dev/full", pcap.as_str()],
            "session(s)",
        ),
    ] {
        let out = common::mirrorwatch(&args, LIMIT);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.contains("/dev/full: ") && err.contains("alerts could not be written"),
            "{what}: {err}"
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(printed),
            "{what}: the results are not printed"
        );
    }
    let missing = "/nonexistent/mirrorwatch-input";
    for opt in ["--logs", "--flows"] {
        let out = common::mirrorwatch(&["replay", opt, missing, &pcap], LIMIT);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{opt}: {err}");
        assert!(err.contains(missing), "{opt}: {err}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("session(s)"));
    }
    let d = tmpdir("report-eve");
    let alerts = d.join("alerts.eve.json");
    let out = common::mirrorwatch(
        &[
            "report",
            "--alerts",
            &s(&alerts),
            "--alerts-format",
            "eve",
            "--markdown",
            &s(&d.join("r.md")),
            &pcap,
        ],
        LIMIT,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&alerts).expect("alerts written");
    let first: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("an alert")).expect("json");
    assert_eq!(first["event_type"], "alert", "{first}");
}

/// Runs `cmd` with `input` on its standard input; its standard output.
fn filter(cmd: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut c = std::process::Command::new(cmd[0])
        .args(&cmd[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} (installed by .ci/run): {e}", cmd[0]));
    let mut stdin = c.stdin.take().expect("stdin");
    let data = input.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&data));
    let out = c.wait_with_output().expect("output");
    w.join().expect("writer").expect("write");
    assert!(out.status.success(), "{cmd:?}");
    out.stdout
}

/// Captures are handed over compressed by other tools, in every shape the
/// formats allow: `pzstd` writes a skippable frame and then one frame per
/// chunk, and two compressed files concatenated (`cat a.zst b.zst`,
/// `cat a.gz b.gz`) are one valid stream, and zero bytes may follow the last
/// gzip member. Each reads as the capture itself,
/// frame for frame: the same sessions, packets and bytes as the
/// uncompressed file.
#[test]
fn captures_compressed_by_zstd_pzstd_and_gzip_in_several_frames_or_padded_read_in_full() {
    let src = scenario("volume-spike.pcap");
    let raw = std::fs::read(&src).expect("bundled capture");
    let want = json(&common::mirrorwatch(
        &["replay", "--format", "json", &s(&src)],
        LIMIT,
    ));
    assert!(want["packets"].as_u64().unwrap_or(0) > 100, "{want}");
    // Split at a place that is not a record boundary.
    let (a, b) = raw.split_at(raw.len() / 3 + 7);
    let mut forms: Vec<(&str, Vec<u8>)> = Vec::new();
    forms.push(("zst", filter(&["zstd", "-q", "-c"], &raw)));
    let mut two = filter(&["zstd", "-q", "-c"], a);
    two.extend(filter(&["zstd", "-q", "-c", "-19"], b));
    forms.push(("zst", two));
    // A skippable frame first, then the data frames.
    forms.push(("zst", filter(&["pzstd", "-q", "-c", "-p", "2", "-1"], &raw)));
    let mut gz = filter(&["gzip", "-c"], a);
    gz.extend(filter(&["gzip", "-c", "-9"], b));
    forms.push(("gz", gz.clone()));
    // Zero bytes after the last member (tape blocking): GNU gzip reads
    // the file ("trailing zero bytes ignored"), so do we.
    gz.resize(gz.len() + 10_240, 0);
    assert!(
        filter(&["gzip", "-dc"], &gz) == raw,
        "gzip reads the padded file back to the capture"
    );
    forms.push(("gz", gz));
    let d = tmpdir("compressed-frames");
    for (i, (ext, bytes)) in forms.iter().enumerate() {
        let p = d.join(format!("form-{i}.pcap.{ext}"));
        std::fs::write(&p, bytes).expect("write");
        let out = common::mirrorwatch(&["replay", "--format", "json", &s(&p)], LIMIT);
        assert_eq!(
            out.status.code(),
            Some(0),
            "form {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = json(&out);
        assert_eq!(
            got["files"][0].get("error"),
            None,
            "form {i}: {}",
            got["files"][0]
        );
        for field in ["packets", "bytes", "sessions"] {
            assert_eq!(got[field], want[field], "form {i} ({ext}): {field}");
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// The modified pcap format of Alexey Kuznetzov's patched tcpdump (magic
/// 0xa1b2cd34, 24-byte record headers) is one libpcap reads, so replay
/// reads it too: libpcap counts the same frames and bytes in it as in the
/// standard file, and the report is the standard file's.
#[test]
fn kuznetzov_modified_pcap_reads_as_libpcap_reads_it() {
    let src = scenario("erspan2.pcap");
    let raw = std::fs::read(&src).expect("bundled capture");
    assert_eq!(
        raw[..4],
        [0xd4, 0xc3, 0xb2, 0xa1],
        "a little-endian microsecond pcap"
    );
    let mut modified = 0xa1b2_cd34u32.to_le_bytes().to_vec();
    modified.extend_from_slice(&raw[4..24]);
    let spans = common::pcap_spans(&raw).expect("a classic pcap");
    for &(start, end) in &spans {
        modified.extend_from_slice(&raw[start..start + 16]);
        // interface index 2, protocol 0x0800, packet type 0, padding
        modified.extend_from_slice(&[2, 0, 0, 0, 0x08, 0x00, 0, 0]);
        modified.extend_from_slice(&raw[start + 16..end]);
    }
    assert_eq!(
        spans.last().map(|s| s.1),
        Some(raw.len()),
        "every record taken"
    );
    let d = tmpdir("kuznetzov");
    let p = d.join("modified.pcap");
    std::fs::write(&p, &modified).expect("write");
    let by_libpcap = mirrorwatch::source::plain_read_loop(&s(&p)).expect("libpcap reads it");
    assert_eq!(
        by_libpcap,
        mirrorwatch::source::plain_read_loop(&s(&src)).expect("libpcap reads the original")
    );
    let want = json(&common::mirrorwatch(
        &["replay", "--format", "json", &s(&src)],
        LIMIT,
    ));
    let got = json(&common::mirrorwatch(
        &["replay", "--format", "json", &s(&p)],
        LIMIT,
    ));
    assert_eq!(got["files"][0].get("error"), None, "{}", got["files"][0]);
    assert_eq!(got["packets"].as_u64(), Some(by_libpcap.0));
    for field in ["packets", "bytes", "sessions"] {
        assert_eq!(got[field], want[field], "{field}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// A pcapng block the reader skips as malformed (here a packet of an
/// interface no block described) loses the packet in it: the table says
/// so beside the decode errors, and stderr warns, where only the JSON's
/// `files[].malformed_blocks` told it.
#[test]
fn malformed_pcapng_blocks_are_shown_in_the_table_and_warned_about() {
    use mirrorwatch_pcapfile::pcapng_block as block;
    let src = std::fs::read(scenario("erspan3.pcap")).expect("capture");
    let spans = common::pcap_spans(&src).expect("a whole pcap");
    let mut b = common::pcapng_ethernet_start(&[]);
    for (i, &(start, end)) in spans.iter().take(5).enumerate() {
        let data = &src[start + 16..end];
        // The third packet names interface 7: there is only interface 0.
        let mut epb = (if i == 2 { 7u32 } else { 0 }).to_le_bytes().to_vec();
        epb.extend_from_slice(&[0; 8]);
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(data);
        b.extend(block(6, &epb));
    }
    let d = tmpdir("malformed-block");
    let p = d.join("bad-interface.pcapng");
    std::fs::write(&p, &b).expect("write");
    let out = common::mirrorwatch(&["replay", &s(&p)], LIMIT);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("4 packets"), "{table}");
    assert!(
        table.contains(&format!(
            "blocks skipped: {}: 1 malformed, 0 of unknown type",
            s(&p)
        )),
        "{table}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 malformed pcapng block(s) skipped"), "{err}");
    std::fs::remove_dir_all(&d).ok();
}

/// An output that is one of the inputs is refused before anything is
/// written: `report --html a.pcap b.pcap` (a forgotten file name) used to
/// replace the capture under analysis with the report.
#[test]
fn an_output_that_is_an_input_is_refused() {
    let d = tmpdir("clobber");
    let a = d.join("a.pcap");
    let b = d.join("b.pcap");
    std::fs::copy(scenario("erspan3.pcap"), &a).expect("copy");
    std::fs::copy(scenario("vxlan.pcap"), &b).expect("copy");
    let before = std::fs::read(&a).expect("read");
    // The same file under another name counts too.
    let alias = d.join("alias.pcap");
    std::fs::hard_link(&a, &alias).expect("link");
    // A JSON-lines file that is also an input (a flow log) is refused as
    // the same file, not as a capture.
    let log = d.join("eve.json");
    std::fs::write(&log, "{}\n").expect("write");
    let out = common::mirrorwatch(&["flows", "--alerts", &s(&log), &s(&log)], LIMIT);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is also an input"), "{err}");
    for args in [
        vec!["report", "--html", &s(&a), &s(&b)],
        vec!["report", "--markdown", &s(&alias), &s(&a)],
        vec!["replay", "--alerts", &s(&a), &s(&a)],
        vec!["flows", "--alerts", &s(&a), &s(&a)],
        vec!["live", "-i", "lo", "--alerts", &s(&a)],
    ] {
        let out = common::mirrorwatch(&args, LIMIT);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("refusing to overwrite"), "{args:?}: {err}");
        assert_eq!(std::fs::read(&a).expect("read"), before, "{args:?}");
    }
}

/// An input given twice (under another path, or a hard link to it) would
/// be counted twice: twice the packets and bytes in every session. It is
/// a usage error, named, before anything is read.
#[test]
fn an_input_given_twice_is_refused() {
    let d = tmpdir("twice");
    let a = d.join("a.pcap");
    std::fs::copy(scenario("native-and-copies.pcap"), &a).expect("copy");
    let alias = d.join("alias.pcap");
    std::fs::hard_link(&a, &alias).expect("link");
    let dotted = format!("{}/./a.pcap", s(&d));
    let html = d.join("r.html");
    for (args, says) in [
        (
            vec!["replay", &s(&a), &s(&a)],
            format!("{} is given twice", s(&a)),
        ),
        (
            vec!["replay", &s(&a), &dotted],
            format!("{} and {dotted} are the same file", s(&a)),
        ),
        (
            vec!["report", "--html", &s(&html), &s(&alias), &s(&a)],
            format!("{} and {} are the same file", s(&alias), s(&a)),
        ),
        (
            vec!["replay", "--logs", &s(&a), "--logs", &s(&a), &s(&alias)],
            format!("{} is given twice", s(&a)),
        ),
        (
            vec!["flows", &s(&a), &s(&alias)],
            "are the same file".to_owned(),
        ),
        (
            vec!["live", "-i", "lo", "--logs", &s(&a), "--logs", &s(&alias)],
            "are the same file".to_owned(),
        ),
        (
            vec!["replay", "-", "-"],
            "standard input (-) is given twice".to_owned(),
        ),
    ] {
        let out = common::mirrorwatch(&args, LIMIT);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&says), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing is reported");
    }
    assert!(!html.exists(), "no report was written");
    // Once, it is read as usual: 40 packets.
    let out = common::mirrorwatch(&["replay", "--format", "json", &s(&a)], LIMIT);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["packets"], 40, "{v}");
}

/// A report output that cannot be written does not lose the other one,
/// and a directory or a missing parent is said before the replay.
#[test]
fn one_report_output_failing_keeps_the_other() {
    let d = tmpdir("report-outputs");
    let md = d.join("ok.md");
    let cap = s(&scenario("erspan3.pcap"));
    let out = common::mirrorwatch(
        &["report", "--html", "/dev/full", "--markdown", &s(&md), &cap],
        LIMIT,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("/dev/full: cannot write the report"), "{err}");
    let text = std::fs::read_to_string(&md).expect("the Markdown report was written");
    assert!(text.contains("erspan"), "{text}");
    for (html, says) in [
        (s(&d), "is a directory"),
        (s(&d.join("no/such/dir/r.html")), "is not a directory"),
    ] {
        let t = std::time::Instant::now();
        let out = common::mirrorwatch(&["report", "--html", &html, &cap], LIMIT);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(says), "{err}");
        assert!(t.elapsed() < LIMIT);
    }
}

/// Control characters from a log record (a terminal's clear-screen, an
/// OSC title change) are shown escaped in the `logs` table, not sent to
/// the terminal.
#[test]
fn log_text_cannot_drive_the_terminal() {
    let d = tmpdir("escapes");
    let p = d.join("esc.log");
    std::fs::write(
        &p,
        "Mar  1 18:47:00 10.0.0.1 105: rtr-edge1: *Mar  1 18:47:00.000 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:al\u{1b}[2J\u{1b}]0;pwned\u{7}ice logged command:monitor session 8 source interface Gi0/0/8\n",
    )
    .expect("write");
    let out = common::mirrorwatch(&["logs", &s(&p)], LIMIT);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        !table.contains('\u{1b}') && !table.contains('\u{7}'),
        "{table:?}"
    );
    assert!(table.contains("al\\u{1b}[2J"), "{table}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\u{1b}'), "{err:?}");
}

/// `--alerts -` with `--format json` would interleave alert lines with the
/// JSON document on standard output: refused as a usage error in every
/// subcommand that has both; `report` needs --html or --markdown, and says
/// so naming both.
#[test]
fn alerts_on_stdout_beside_a_json_report_is_a_usage_error() {
    let cap = s(&scenario("erspan1.pcap"));
    let log = s(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs/cisco-ios.log"));
    for args in [
        vec!["replay", "--format", "json", "--alerts", "-", &cap],
        vec!["flows", "--format", "json", "--alerts", "-", &cap],
        vec!["logs", "--format", "json", "--alerts", "-", &log],
    ] {
        let out = common::mirrorwatch(&args, LIMIT);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--alerts FILE"),
            "{args:?}"
        );
    }
    // The table and alert lines together stay allowed.
    let out = common::mirrorwatch(&["replay", "--alerts", "-", &cap], LIMIT);
    assert_eq!(out.status.code(), Some(0));
    let out = common::mirrorwatch(&["report", &cap], LIMIT);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--html") && err.contains("--markdown"),
        "{err}"
    );
}
