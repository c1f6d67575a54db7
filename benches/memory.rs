//! Memory stays bounded: ten million packets, each of a distinct flow (half
//! native, half mirrored in ERSPAN II sessions, with a growing number of
//! sessions too), through the engine with the default configuration. Prints
//! the peak resident set size and the evictions that kept the tables
//! within their caps.
//!
//! `cargo bench --bench memory` (MIRRORWATCH_BENCH_PACKETS to change the
//! count; under `cargo test --all-targets` a small run checks it works).
use mirrorwatch::config::Config;
use mirrorwatch::decode::LinkType;
use mirrorwatch::pipeline::Analyzer;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn csum(h: &[u8]) -> u16 {
    let mut s = 0u32;
    for c in h.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn ipv4(src: u32, dst: u32, proto: u8, id: u16, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let total = (20 + payload.len()) as u16;
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x40, 0, 64, proto, 0, 0]);
    out.extend_from_slice(&src.to_be_bytes());
    out.extend_from_slice(&dst.to_be_bytes());
    let c = csum(&out[start..start + 20]);
    out[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Ethernet + IPv4 + UDP with a distinct 5-tuple per `i`.
fn inner_frame(i: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let mut udp = Vec::with_capacity(72);
    udp.extend_from_slice(&((i & 0xffff) as u16).to_be_bytes());
    udp.extend_from_slice(&(((i >> 16) & 0xffff) as u16 | 1024).to_be_bytes());
    udp.extend_from_slice(&72u16.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&i.to_be_bytes());
    udp.resize(72, 0x5a);
    let src = 0x0a00_0000 | (i as u32 & 0x00ff_ffff);
    let dst = 0xc633_6400 | ((i >> 24) as u32 & 0xff);
    ipv4(src, dst, 17, i as u16, &udp, out);
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n: u64 = std::env::var("MIRRORWATCH_BENCH_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 10_000_000 } else { 50_000 });
    let mut engine = Analyzer::new(&Config::default());
    let before = peak_rss_kib();
    let mut frame = Vec::with_capacity(256);
    let mut inner = Vec::with_capacity(160);
    for i in 0..n {
        frame.clear();
        let ts = 1_767_225_600_000_000 + i as i64 * 10;
        if i % 2 == 0 {
            inner_frame(i, &mut frame);
        } else {
            // ERSPAN II copy; a new session every 1000 packets.
            inner.clear();
            inner_frame(i, &mut inner);
            let session = (i / 1000) as u32;
            let mut gre = vec![0x10, 0, 0x88, 0xbe];
            gre.extend_from_slice(&(i as u32).to_be_bytes());
            gre.extend_from_slice(&[0x10, 0, 0, (session & 0x3ff) as u8]);
            gre[10] |= ((session >> 8) & 0x3) as u8;
            gre.extend_from_slice(&[0, 0, 0, 0]);
            gre.extend_from_slice(&inner);
            frame.extend_from_slice(&[2, 0, 0, 0, 0, 4, 2, 0, 0, 0, 0, 3, 0x08, 0x00]);
            ipv4(
                0x0a01_0000 | (session >> 10),
                0x0a09_000a,
                47,
                i as u16,
                &gre,
                &mut frame,
            );
        }
        engine.process(ts, LinkType::Ethernet, frame.len() as u32, &frame);
        engine.engine.drain_alerts();
    }
    engine.engine.finish();
    let peak = peak_rss_kib();
    let (payload_ev, pair_ev) = engine.engine.payload_evictions();
    println!("packets: {n} (each a distinct flow)");
    println!(
        "sessions: {} live, {} evicted",
        engine.engine.sessions.len(),
        engine.engine.sessions.evicted()
    );
    println!(
        "evictions: duplicate window {}, payload window {payload_ev}, flow pairs {pair_ev}",
        engine.engine.dup_evictions()
    );
    println!(
        "peak RSS: {} MiB (before the run: {} MiB)",
        peak / 1024,
        before / 1024
    );
    assert!(engine.engine.sessions.len() <= Config::default().inventory.max_sessions);
    assert!(peak < 512 * 1024, "peak RSS {peak} KiB is over 512 MiB");
}
