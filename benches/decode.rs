//! Per-encapsulation decode + inventory throughput (packets/s), on the
//! frames of the generated scenario captures.
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mirrorwatch::config::Config;
use mirrorwatch::decode::{Decoder, DecoderConfig, Encap, LinkType};
use mirrorwatch::pipeline::Analyzer;
use mirrorwatch_synth as synth;

fn frames_by_encap() -> Vec<(String, LinkType, Vec<Vec<u8>>)> {
    let decoder = Decoder::new(&DecoderConfig::default());
    let mut groups: Vec<(String, LinkType, Vec<Vec<u8>>)> = Vec::new();
    for s in synth::scenarios() {
        if s.name == "malformed" {
            continue;
        }
        let lt = LinkType::from_dlt(s.linktype as i32);
        for p in &s.packets {
            let d = decoder.decode(lt, p.data.len() as u32, &p.data);
            if d.error.is_some() {
                continue;
            }
            let name = d
                .tunnel
                .map_or("ordinary", |t| Encap::as_str(t.encap))
                .to_owned();
            match groups.iter_mut().find(|g| g.0 == name && g.1 == lt) {
                Some(g) => g.2.push(p.data.clone()),
                None => groups.push((name, lt, vec![p.data.clone()])),
            }
        }
    }
    groups.retain(|g| g.1 == LinkType::Ethernet);
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    groups
}

fn bench(c: &mut Criterion) {
    let groups = frames_by_encap();
    let decoder = Decoder::new(&DecoderConfig::default());
    let mut g = c.benchmark_group("decode");
    for (name, lt, frames) in &groups {
        g.throughput(Throughput::Elements(frames.len() as u64));
        g.bench_function(name.as_str(), |b| {
            b.iter(|| {
                for f in frames {
                    black_box(decoder.decode(*lt, f.len() as u32, black_box(f)));
                }
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("decode+detect");
    for (name, lt, frames) in &groups {
        g.throughput(Throughput::Elements(frames.len() as u64));
        let mut engine = Analyzer::new(&Config::default());
        g.bench_function(name.as_str(), |b| {
            b.iter(|| {
                for (i, f) in frames.iter().enumerate() {
                    engine.process(i as i64, *lt, f.len() as u32, black_box(f));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
