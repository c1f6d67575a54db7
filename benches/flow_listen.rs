//! `--flow-listen` benchmark: the real sensor (`mirrorwatch live
//! --flow-listen`, no capture interface) receives IPFIX over loopback from
//! this process, which sends records of `MIRRORWATCH_BENCH_PAIRS` distinct
//! (source, destination) pairs (default 1,000,000; one record in 1,000 is
//! GRE to an outside address, so flow sessions are made too) at a paced
//! rate. Each round reads the sensor's own counters from `/metrics`
//! (records received, queue and kernel drops, table sizes and evictions)
//! and its peak resident memory from `/proc`. Rounds: the target rate
//! (`MIRRORWATCH_BENCH_RATE` records/s, default 600,000) for
//! `MIRRORWATCH_BENCH_SECONDS` (default 5), then unpaced, to find what one
//! pipeline core takes; the medians of `MIRRORWATCH_BENCH_RUNS` (default 3).
//!
//! `cargo bench --bench flow_listen`. Under `cargo test --all-targets` a
//! smoke run (20,000 records at 20,000/s) checks that every record sent is
//! counted.
mod support;
use support::{env_u64, median};

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Records per datagram: 30 × 45 bytes + headers, within a 1,500-byte MTU.
const PER_DATAGRAM: usize = 30;
const TEMPLATE_ID: u16 = 256;
/// (information element, length): src/dst IPv4, ports, protocol, packets,
/// octets, flowStart/EndMilliseconds.
const FIELDS: [(u16, u16); 9] = [
    (8, 4),
    (12, 4),
    (7, 2),
    (11, 2),
    (4, 1),
    (2, 8),
    (1, 8),
    (152, 8),
    (153, 8),
];
const RECORD_LEN: usize = 45;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An IPFIX message: header, then the template set (when asked) and one
/// data set of the records `first..first + n` of the pair space.
fn message(seq: u32, template: bool, first: u64, n: usize, pairs: u64, out: &mut Vec<u8>) {
    out.clear();
    out.extend([0, 10, 0, 0]);
    out.extend(((now_ms() / 1000) as u32).to_be_bytes());
    out.extend(seq.to_be_bytes());
    out.extend(1u32.to_be_bytes());
    if template {
        let len = 4 + 4 + FIELDS.len() * 4;
        out.extend(2u16.to_be_bytes());
        out.extend((len as u16).to_be_bytes());
        out.extend(TEMPLATE_ID.to_be_bytes());
        out.extend((FIELDS.len() as u16).to_be_bytes());
        for (id, l) in FIELDS {
            out.extend(id.to_be_bytes());
            out.extend(l.to_be_bytes());
        }
    }
    out.extend(TEMPLATE_ID.to_be_bytes());
    out.extend(((4 + n * RECORD_LEN) as u16).to_be_bytes());
    let t = now_ms();
    for i in 0..n as u64 {
        let k = (first + i) % pairs;
        // Sources 10.x.y.z, destinations 198.18.0.0/15 (benchmarking
        // space): distinct pairs for k < 2^24.
        out.extend([10, (k >> 16) as u8, (k >> 8) as u8, k as u8]);
        let gre = k % 1000 == 7;
        if gre {
            out.extend([203, 0, 113, (k % 200) as u8]);
        } else {
            out.extend([198, 18 + ((k >> 16) & 1) as u8, (k >> 8) as u8, k as u8]);
        }
        out.extend(40_000u16.to_be_bytes());
        out.extend(if gre { 0u16 } else { 443u16 }.to_be_bytes());
        out.push(if gre { 47 } else { 6 });
        out.extend(10u64.to_be_bytes());
        out.extend(12_000u64.to_be_bytes());
        out.extend((t - 1000).to_be_bytes());
        out.extend(t.to_be_bytes());
    }
    let len = out.len() as u16;
    out[2..4].copy_from_slice(&len.to_be_bytes());
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut b = String::new();
    s.read_to_string(&mut b).ok()?;
    Some(b)
}

/// Sum of a metric family's samples whose line contains `filter`.
fn metric(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Kernel UDP receive-buffer drops so far (/proc/net/snmp `RcvbufErrors`).
fn udp_rcvbuf_errors() -> u64 {
    let t = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut lines = t.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(h), Some(v)) = (lines.next(), lines.next()) else {
        return 0;
    };
    h.split_whitespace()
        .zip(v.split_whitespace())
        .find(|(k, _)| *k == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn peak_rss_mb(pid: u32) -> f64 {
    let t = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    t.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Sensor {
    child: Child,
    http: String,
    flow_port: u16,
}

impl Drop for Sensor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(max_pairs: u64) -> Sensor {
    let (flow_port, http_port) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("mirrorwatch-bench-flows-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmpdir");
    let cfg = dir.join("bench.toml");
    std::fs::write(&cfg, format!("[flows]\nmax_pairs = {max_pairs}\n")).expect("config");
    let child = Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .args(["live", "--no-state", "--config"])
        .arg(&cfg)
        .arg("--flow-listen")
        .arg(format!("127.0.0.1:{flow_port}"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{http_port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the sensor");
    let http = format!("127.0.0.1:{http_port}");
    let start = Instant::now();
    while http_get(&http, "/healthz").is_none_or(|b| !b.contains("\"ready\":true")) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "sensor not ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Sensor {
        child,
        http,
        flow_port,
    }
}

struct Round {
    sent: u64,
    received: u64,
    send_rate: f64,
    /// Records the sensor counted per second, first to last.
    take_rate: f64,
    kernel_dropped: u64,
    queue_dropped: u64,
    rss_mb: f64,
    pairs: f64,
    pair_evictions: f64,
    flow_sessions: f64,
}

/// Sends `records` records at `rate` per second (0: as fast as possible)
/// to a fresh sensor and reads what it counted.
fn round(records: u64, rate: u64, pairs: u64, max_pairs: u64) -> Round {
    let s = start(max_pairs);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.connect(("127.0.0.1", s.flow_port)).expect("connect");
    let kernel0 = udp_rcvbuf_errors();
    let mut buf = Vec::with_capacity(2048);
    let datagrams = records.div_ceil(PER_DATAGRAM as u64);
    let t0 = Instant::now();
    let mut sent = 0u64;
    for d in 0..datagrams {
        let n = (records - sent).min(PER_DATAGRAM as u64) as usize;
        // The template in every 64th message (as exporters resend it).
        message(d as u32, d % 64 == 0, sent, n, pairs, &mut buf);
        if sock.send(&buf).is_ok() {
            sent += n as u64;
        }
        if rate > 0 {
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            while t0.elapsed() < due {
                std::hint::spin_loop();
            }
        }
    }
    let send_secs = t0.elapsed().as_secs_f64();
    // Until the count stops moving.
    let mut received = 0.0;
    let mut last_change = Instant::now();
    let mut text = String::new();
    let mut done_at = t0.elapsed();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        text = http_get(&s.http, "/metrics").unwrap_or(text);
        let r = metric(&text, "mirrorwatch_flow_received_records_total", "");
        if r > received {
            received = r;
            last_change = Instant::now();
            done_at = t0.elapsed();
        }
        if r >= sent as f64 || last_change.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    Round {
        sent,
        received: received as u64,
        send_rate: sent as f64 / send_secs,
        // Publication is once a second: the last count is up to a second
        // late, so this is a lower bound.
        take_rate: received / done_at.as_secs_f64().max(send_secs),
        kernel_dropped: udp_rcvbuf_errors().saturating_sub(kernel0),
        queue_dropped: metric(&text, "mirrorwatch_flow_queue_dropped_datagrams_total", "") as u64,
        rss_mb: peak_rss_mb(s.child.id()),
        pairs: metric(
            &text,
            "mirrorwatch_table_entries",
            "table=\"flow_volume_pairs\"",
        ),
        pair_evictions: metric(
            &text,
            "mirrorwatch_table_evictions_total",
            "table=\"flow_volume_pairs\"",
        ),
        flow_sessions: metric(
            &text,
            "mirrorwatch_table_entries",
            "table=\"flow_sessions\"",
        ),
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let pairs = env_u64(
        "MIRRORWATCH_BENCH_PAIRS",
        if full { 1_000_000 } else { 5_000 },
    );
    let rate = env_u64(
        "MIRRORWATCH_BENCH_RATE",
        if full { 600_000 } else { 20_000 },
    );
    let secs = env_u64("MIRRORWATCH_BENCH_SECONDS", if full { 5 } else { 1 });
    let runs = env_u64("MIRRORWATCH_BENCH_RUNS", if full { 3 } else { 1 }).max(1) as usize;
    let max_pairs = env_u64("MIRRORWATCH_BENCH_MAX_PAIRS", 100_000);
    let records = rate * secs;
    println!(
        "flow_listen: {records} IPFIX records per round over {pairs} distinct pairs, flows.max_pairs {max_pairs}, {runs} runs"
    );
    for (label, r) in [("paced", rate), ("unpaced", 0)] {
        if !full && r == 0 {
            continue;
        }
        let mut take = Vec::new();
        let mut send = Vec::new();
        let mut rss = Vec::new();
        for i in 0..runs {
            let x = round(records, r, pairs, max_pairs);
            println!(
                "  {label} run {}: sent {} at {:.0}/s, counted {} ({:.0}/s), lost {} (kernel {}, queue {} datagrams), peak RSS {:.1} MB, pairs {:.0} (evicted {:.0}), flow sessions {:.0}",
                i + 1,
                x.sent,
                x.send_rate,
                x.received,
                x.take_rate,
                x.sent - x.received.min(x.sent),
                x.kernel_dropped,
                x.queue_dropped,
                x.rss_mb,
                x.pairs,
                x.pair_evictions,
                x.flow_sessions
            );
            if r > 0 && !full {
                assert_eq!(x.received, x.sent, "every record sent is counted");
            }
            if x.pairs > 0.0 {
                assert!(
                    x.pairs <= max_pairs as f64,
                    "the pair table stays within its cap"
                );
            }
            take.push(x.take_rate);
            send.push(x.send_rate);
            rss.push(x.rss_mb);
        }
        println!(
            "{label}: median sent {:.0} records/s, counted {:.0} records/s, peak RSS {:.1} MB",
            median(&mut send),
            median(&mut take),
            median(&mut rss)
        );
    }
}
