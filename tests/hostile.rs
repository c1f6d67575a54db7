//! Hostile load, as an adversary who can also send decoys would apply it:
//! a slowloris and clients that never read against the HTTP server, a
//! decoy flood of a million sessions against live capture, and a burst of
//! export datagrams that a stalled flow listener cannot hold.
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Proc, Veth};

/// The two tests measure latency and drops: they run one at a time, so
/// that neither measures the other's load.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Raises this process's open-file limit to its hard limit.
fn raise_nofile() -> u64 {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a valid struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
        l.rlim_cur = l.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
    }
    l.rlim_cur
}

/// Resident memory of a process, in bytes.
fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// One `/healthz` request on a fresh connection: status and time to the
/// whole answer.
fn probe(addr: &str) -> (u16, Duration) {
    let t = Instant::now();
    let code = common::http_get(addr, "/healthz").map_or(0, |(c, _)| c);
    (code, t.elapsed())
}

fn spawn_sensor(args: &[&str], log: &Path) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("spawn mirrorwatch");
    Proc(child)
}

/// `/healthz` answers within 100 ms throughout a 1,000-connection
/// slowloris and 250 clients that ask for `/api/v1/sessions` (10,000
/// sessions) and never read, all held at once; the sensor's memory grows
/// by less than 64 MB.
#[test]
fn healthz_stays_fast_under_slowloris_and_non_reading_clients() {
    let _alone = alone();
    let nofile = raise_nofile();
    if nofile < 1_500 {
        eprintln!("SKIPPED: the open-file limit ({nofile}) cannot hold 1,250 connections");
        return;
    }
    let dir = std::env::temp_dir().join(format!("mw-hostile-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cap = dir.join("sessions.pcap");
    common::erspan_flood(&cap, 10_000, 2);
    // Limits high enough that every hostile connection is held at once:
    // what is measured is the server under that load, not the eviction.
    let cfg = dir.join("cfg.toml");
    std::fs::write(
        &cfg,
        "[inventory]\nmax_sessions = 20000\n[http]\nmax_connections = 4096\nmax_connections_per_client = 4096\n",
    )
    .expect("cfg");
    let addr = format!("127.0.0.1:{}", common::free_port());
    let sensor = spawn_sensor(
        &[
            "replay",
            "--listen",
            &addr,
            "--hold",
            "--config",
            &cfg.to_string_lossy(),
            &cap.to_string_lossy(),
        ],
        &dir.join("stderr.log"),
    );
    let pid = sensor.0.id();
    let total = common::wait_for(Duration::from_secs(30), || {
        let (_, b) = common::http_get(&addr, "/api/v1/sessions?limit=1").ok()?;
        let v: serde_json::Value = serde_json::from_str(&b).ok()?;
        (v["total"] == 10_000).then_some(())
    });
    assert!(total.is_some(), "the 10,000 sessions were never served");
    // Warm up what a normal client costs, then measure from there.
    for _ in 0..3 {
        let _ = common::http_get(&addr, "/api/v1/sessions?limit=10000");
        let _ = common::http_get(&addr, "/metrics");
    }
    let rss_before = rss(pid);

    let stop = Arc::new(AtomicBool::new(false));
    // The slowloris: 1,000 connections, each sending its head a byte a
    // second; reconnecting when the server closes one.
    let loris = {
        let (addr, stop) = (addr.clone(), stop.clone());
        std::thread::spawn(move || {
            let open = |a: &str| {
                let mut s = TcpStream::connect(a).ok()?;
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").ok()?;
                Some(s)
            };
            let mut conns: Vec<Option<TcpStream>> = (0..1000).map(|_| open(&addr)).collect();
            let mut reconnects = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for c in conns.iter_mut() {
                    let alive = c.as_mut().is_some_and(|s| s.write_all(b"X").is_ok());
                    if !alive {
                        *c = open(&addr);
                        reconnects += 1;
                    }
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            (conns.iter().filter(|c| c.is_some()).count(), reconnects)
        })
    };
    // 250 clients that ask for the largest page and never read.
    let mut readers_that_never_read = Vec::new();
    for _ in 0..250 {
        let mut s = TcpStream::connect(&addr).expect("connect");
        s.write_all(b"GET /api/v1/sessions?limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        readers_that_never_read.push(s);
    }

    // Probe /healthz every 100 ms for 15 s; track memory.
    let end = Instant::now() + Duration::from_secs(15);
    let (mut worst, mut probes, mut failures, mut rss_peak) = (Duration::ZERO, 0, 0, rss_before);
    while Instant::now() < end {
        let (code, took) = probe(&addr);
        probes += 1;
        if code != 200 {
            failures += 1;
        }
        worst = worst.max(took);
        rss_peak = rss_peak.max(rss(pid));
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let (loris_open, reconnects) = loris.join().expect("slowloris thread");
    // The non-reading clients were still connected (nothing was read).
    let mut unread = 0;
    for s in &mut readers_that_never_read {
        s.set_nonblocking(true).expect("nonblocking");
        let mut b = [0u8; 1];
        if s.read(&mut b).is_ok_and(|n| n == 1) {
            unread += 1;
        }
    }
    eprintln!(
        "healthz: {probes} probes, worst {worst:?}, {failures} failed; RSS {} -> peak {} MB; slowloris {loris_open} open, {reconnects} reconnects; {unread} non-reading clients with an answer pending",
        rss_before >> 20,
        rss_peak >> 20
    );
    assert!(probes >= 100, "{probes} probes");
    assert_eq!(failures, 0, "/healthz failed {failures} of {probes} times");
    assert!(
        worst < Duration::from_millis(100),
        "/healthz took {worst:?} at worst"
    );
    assert!(loris_open >= 900, "{loris_open} slowloris connections held");
    assert!(
        unread >= 200,
        "{unread} non-reading clients still connected"
    );
    assert!(
        rss_peak.saturating_sub(rss_before) < 64 << 20,
        "RSS grew by {} MB",
        (rss_peak - rss_before) >> 20
    );
    drop(sensor);
    std::fs::remove_dir_all(&dir).ok();
}

/// The counters of one interface read from `/metrics`.
fn capture_counts(addr: &str, iface: &str) -> (f64, f64, f64) {
    let (_, m) = common::http_get(addr, "/metrics").unwrap_or_default();
    let get = |name: &str| {
        let series = format!("{name}{{interface=\"{iface}\"}} ");
        m.lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        get("mirrorwatch_capture_received_packets_total"),
        get("mirrorwatch_capture_kernel_dropped_packets_total"),
        get("mirrorwatch_capture_queue_dropped_packets_total"),
    )
}

/// Sends `pcap` at `pps` from the namespace and waits until the sensor
/// counted `frames` more frames received or dropped; returns (received,
/// kernel dropped, queue dropped) of that burst.
fn burst(veth: &Veth, addr: &str, pcap: &Path, pps: u32, frames: f64) -> (f64, f64, f64) {
    let (r0, k0, q0) = capture_counts(addr, &veth.host);
    assert!(
        veth.replay(&pcap.to_string_lossy(), &format!("--pps={pps}")),
        "tcpreplay {}",
        pcap.display()
    );
    let _ = common::wait_for(Duration::from_secs(20), || {
        let (r, k, _) = capture_counts(addr, &veth.host);
        (r - r0 + k - k0 >= frames).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let (r1, k1, q1) = capture_counts(addr, &veth.host);
    (r1 - r0, k1 - k0, q1 - q0)
}

/// A decoy flood of 1,000,000 distinct ERSPAN sessions (two packets each)
/// at 100,000 packets/s over veth: the kernel drops no more than for
/// 100,000 packets/s of a single session on the same run, the alert lines
/// stay bounded (1,000 plus summaries) and the three real external mirrors
/// sent during the flood are all alerted.
#[test]
fn a_decoy_flood_neither_blinds_capture_nor_hides_real_mirrors() {
    let _alone = alone();
    if !common::can_capture_live() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mw-hostile-flood-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // The baseline: one session, 200,000 packets.
    let single = dir.join("single.pcap");
    let t0 = 1_767_225_600_000_000i64;
    common::write_pcap(
        &single,
        (0..200_000u32).map(|k| {
            (
                t0 + i64::from(k) * 10,
                common::erspan_frame([10, 1, 0, 1], [10, 9, 0, 10], k),
            )
        }),
    );
    // The flood: 1,000,000 decoys to external addresses, two packets
    // each, and three real mirrors sending throughout.
    let flood = dir.join("flood.pcap");
    let real: [[u8; 4]; 3] = [[203, 0, 113, 10], [203, 0, 113, 11], [203, 0, 113, 12]];
    let frames = (0..1_000_000u32).flat_map(move |i| {
        let dst = [198, 18 + (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let mut v = vec![
            common::erspan_frame([10, 1, 0, 1], dst, 0),
            common::erspan_frame([10, 1, 0, 1], dst, 1),
        ];
        if i % 500 == 0 {
            for (n, d) in real.iter().enumerate() {
                v.push(common::erspan_frame([10, 2, 0, n as u8 + 1], *d, i));
            }
        }
        v.into_iter()
    });
    common::write_pcap(
        &flood,
        frames.enumerate().map(|(n, f)| (t0 + n as i64 * 10, f)),
    );
    let flood_frames = 2_000_000.0 + 3.0 * 2_000.0;

    let veth = Veth::new("f");
    let addr = format!("127.0.0.1:{}", common::free_port());
    let alerts = dir.join("alerts.jsonl");
    let sensor = spawn_sensor(
        &[
            "live",
            "-i",
            &veth.host,
            "--listen",
            &addr,
            "--no-state",
            "--alerts",
            &alerts.to_string_lossy(),
        ],
        &dir.join("stderr.log"),
    );
    assert!(
        common::wait_healthy(&addr),
        "mirrorwatch live did not become ready"
    );

    let (base_rx, base_kdrop, base_qdrop) = burst(&veth, &addr, &single, 100_000, 200_000.0);
    let (rx, kdrop, qdrop) = burst(&veth, &addr, &flood, 100_000, flood_frames);
    let ratio = |rx: f64, drop: f64| {
        if rx + drop > 0.0 {
            drop / (rx + drop)
        } else {
            0.0
        }
    };
    let base_ratio = ratio(base_rx, base_kdrop);
    let flood_ratio = ratio(rx, kdrop);
    eprintln!(
        "single session: {base_rx} received, {base_kdrop} kernel drops ({:.3} %), {base_qdrop} queue drops; flood: {rx} received, {kdrop} kernel drops ({:.3} %), {qdrop} queue drops",
        base_ratio * 100.0,
        flood_ratio * 100.0
    );
    assert!(
        rx + kdrop >= flood_frames * 0.99,
        "the flood was not sent: {rx} received, {kdrop} dropped"
    );
    // No higher than the single session's ratio (a tenth of a percent of
    // slack for scheduling noise between the two bursts).
    assert!(
        flood_ratio <= base_ratio + 0.001,
        "kernel drops {:.3} % in the flood against {:.3} % for one session",
        flood_ratio * 100.0,
        base_ratio * 100.0
    );

    // Stop the sensor (SIGTERM: judge and flush) and read the alerts.
    let ok = Command::new("kill")
        .args(["-TERM", &sensor.0.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok);
    let mut sensor = sensor;
    let _ = common::wait_for(Duration::from_secs(20), || {
        sensor.0.try_wait().ok().flatten()
    });
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&alerts)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert JSON"))
        .collect();
    let summaries = lines.iter().filter(|a| a["kind"] == "alert_flood").count();
    let others = lines.len() - summaries;
    eprintln!("alerts: {others} lines and {summaries} summaries");
    assert!(others <= 1_000, "{others} alert lines");
    assert!(summaries >= 1, "no alert_flood summary");
    for d in real {
        let dst = format!("{}.{}.{}.{}", d[0], d[1], d[2], d[3]);
        assert!(
            lines
                .iter()
                .any(|a| a["kind"] == "mirror_to_external" && a["session"]["dst"] == dst),
            "the real mirror to {dst} was not alerted"
        );
    }
    drop(veth);
    std::fs::remove_dir_all(&dir).ok();
}

/// Sums the samples of `name` in a Prometheus text exposition.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A sensor too slow to read its `--flow-listen` socket (stopped here, as
/// a flood would stall it) loses datagrams in the kernel. They are counted
/// with the next datagram, and with those it read they make up all that
/// was sent: none is lost silently.
#[test]
fn flow_datagrams_the_kernel_drops_are_counted() {
    let _one = alone();
    let (flow, http) = (common::free_port(), common::free_port());
    let addr = format!("127.0.0.1:{http}");
    let sensor = common::spawn_live([
        "--no-state".to_owned(),
        "--flow-listen".to_owned(),
        format!("127.0.0.1:{flow}"),
        "--listen".to_owned(),
        addr.clone(),
    ]);
    assert!(common::wait_healthy(&addr), "the sensor serves /healthz");
    let pid = libc::pid_t::try_from(sensor.0.id()).expect("pid");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    // An IPFIX header cut short: read, counted as `truncated`.
    let mut datagram = vec![0x00, 0x0a];
    datagram.resize(1400, 0);
    // 60,000 of 1,400 bytes are 84 MB: beyond the 32 MiB receive buffer
    // (64 MiB as the kernel counts it).
    let sent = 60_000u32;
    // SAFETY: signals to our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    for _ in 0..sent {
        sock.send_to(&datagram, ("127.0.0.1", flow)).expect("send");
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    // Once the buffer is read, one more carries the kernel's count.
    let read = |m: &str| metric_sum(m, "mirrorwatch_flow_received_datagrams_total");
    let drained = common::wait_for(Duration::from_secs(30), || {
        let (_, m) = common::http_get(&addr, "/metrics").ok()?;
        let n = read(&m);
        std::thread::sleep(Duration::from_millis(300));
        let (_, again) = common::http_get(&addr, "/metrics").ok()?;
        (n > 0.0 && read(&again) == n).then_some(n)
    })
    .expect("the sensor reads what its buffer held");
    sock.send_to(&datagram, ("127.0.0.1", flow)).expect("send");
    let want = f64::from(sent + 1);
    let (got, kernel) = common::wait_for(Duration::from_secs(20), || {
        let (_, m) = common::http_get(&addr, "/metrics").ok()?;
        let kernel = metric_sum(&m, "mirrorwatch_flow_kernel_dropped_datagrams_total");
        let queue = metric_sum(&m, "mirrorwatch_flow_queue_dropped_datagrams_total");
        let got = read(&m) + queue;
        (got + kernel >= want).then_some((got, kernel))
    })
    .expect("received and dropped add up to what was sent");
    assert!(kernel > 0.0, "the kernel dropped some");
    assert!(got >= drained, "{got} {drained}");
    assert_eq!(
        got + kernel,
        want,
        "received {got}, kernel dropped {kernel}"
    );
}
