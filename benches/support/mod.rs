//! What the benchmarks share: their settings from the environment, the
//! median they report, and the mixed capture they run on.
//!
//! Each benchmark is its own crate and uses only some of them.
#![allow(dead_code)]

/// `name` from the environment as a number, else `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median of `v` (sorted in place; NaN when empty).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `target/bench-data`, where the benchmarks keep the captures they make.
pub fn bench_data() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).expect("create target/bench-data");
    dir
}

/// The mixed capture of `packets` frames (`synth::write_mixed`) in
/// [`bench_data`], made once. It is written under another name and
/// renamed, so that an interrupted run leaves no truncated capture behind.
pub fn mixed_capture(packets: u64) -> std::path::PathBuf {
    let p = bench_data().join(format!("mixed-{packets}.pcap"));
    if !p.exists() {
        let tmp = p.with_extension(format!("pcap.{}.tmp", std::process::id()));
        let f = std::fs::File::create(&tmp).expect("create mixed capture");
        mirrorwatch_synth::write_mixed(std::io::BufWriter::new(f), packets, 1)
            .expect("write mixed capture");
        std::fs::rename(&tmp, &p).expect("rename mixed capture");
    }
    p
}
