use mirrorwatch::config::Config;
use mirrorwatch::detect::Engine;
use mirrorwatch::source::CaptureFile;
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let mut f = CaptureFile::open(&path).unwrap();
    let mut frames = Vec::new();
    while let Some(fr) = f.next_frame().unwrap() {
        frames.push((fr.ts_us, fr.linktype, fr.orig_len, fr.data.to_vec()));
        if frames.len() == 400_000 {
            break;
        }
    }
    for round in 0..3 {
        for dup in [false, true] {
            let mut cfg = Config::default();
            cfg.duplicates.enabled = dup;
            let mut e = Engine::new(&cfg);
            let mut buf = vec![0u8; 65536];
            let t = Instant::now();
            for (ts, lt, len, d) in &frames {
                let b = &mut buf[..d.len()];
                b.copy_from_slice(d);
                std::hint::black_box(e.process(*ts, *lt, *len, b));
            }
            e.finish();
            let ns = t.elapsed().as_nanos() as f64 / frames.len() as f64;
            println!("round {round} dup={dup}: {ns:.1} ns/pkt");
        }
    }
}
