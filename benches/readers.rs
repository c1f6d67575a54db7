//! Our capture reader beside the two crates that read pcap and pcapng:
//! `pcap-parser` (rusticata; its streaming reader over a `File`, 256 KiB
//! buffer like ours, `refill` on `Incomplete`: `create_reader` and
//! `consume` as its documentation shows, and the typed readers with
//! `consume_noshift`, the fastest way found) and `pcap-file`
//! (`PcapReader` / `PcapNgReader` over a `BufReader<File>`; it reads
//! through a buffer of its own, 8 MB), with the plain libpcap loop as the
//! baseline.
//!
//! Speed: on the mixed benchmark capture (the one `benches/replay.rs`
//! uses) and on a pcapng copy of it, every reader counts the frames, sums
//! their wire lengths and their captured lengths (the work of
//! `mirrorwatch::source::reader_loop`); runs alternated, median packets/s.
//!
//! Fixtures: every capture of `$MIRRORWATCH_SHARED_PCAPS/real/` (frame
//! counts from Wireshark, `expected.json`) and `malformed/`, and the
//! project's own (`pcaps/`, `tests/fixtures/`; for these and `malformed/`
//! libpcap's count is the reference, there being no Wireshark count):
//! files read to the reference count, short or failed reads, panics
//! (each call inside `catch_unwind`); gzip and zstd copies of one capture;
//! link type and time of every pcapng frame, on a capture of four
//! interfaces with four timestamp resolutions built here.
//!
//! `cargo bench --bench readers` (env: MIRRORWATCH_BENCH_FILE, else a
//! generated capture of MIRRORWATCH_BENCH_PACKETS packets, default
//! 1,000,000; MIRRORWATCH_BENCH_RUNS, default 5; MIRRORWATCH_SHARED_PCAPS
//! for the reference captures). Without `--bench` (under `cargo test`) a
//! quick run on a 20,000-packet capture checks that every reader reads
//! what ours reads, and the fixture checks on our reader.
mod support;
use support::{bench_data, env_u64, median};

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use mirrorwatch::source::{CaptureFile, SourceError, plain_read_loop, reader_loop};
use mirrorwatch_pcapfile::PcapngWriter;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block as FileBlock, PcapNgReader};
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{
    Block as NgBlock, LegacyPcapReader, PcapBlockOwned, PcapError as ParserError, PcapNGReader,
};

/// pcap-parser's buffer: the size of our reader's reads.
const BUF: usize = 1 << 18;
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// A pcap-parser error without the input slice it may carry.
fn parser_err(e: &ParserError<&[u8]>) -> String {
    match e {
        ParserError::NomError(_, kind) | ParserError::OwnedNomError(_, kind) => {
            format!("parse error ({kind:?})")
        }
        other => format!("{other:?}"),
    }
}

// ---------------------------------------------------------------------
// The timed loops: (frames, wire bytes), the captured lengths summed and
// kept from the optimiser, as in `reader_loop`.

type Loop = fn(&str) -> Result<(u64, u64), String>;

fn libpcap_loop(path: &str) -> Result<(u64, u64), String> {
    plain_read_loop(path).map_err(|e| e.to_string())
}

fn ours_loop(path: &str) -> Result<(u64, u64), String> {
    reader_loop(path).map_err(|e| e.to_string())
}

fn parser_loop(path: &str) -> Result<(u64, u64), String> {
    parser_read(File::open(path).map_err(|e| e.to_string())?)
}

/// pcap-parser's `create_reader`: either format, behind a `Box<dyn _>`.
fn parser_read(input: impl Read + Send) -> Result<(u64, u64), String> {
    let mut r = pcap_parser::create_reader(BUF, input).map_err(|e| parser_err(&e))?;
    parser_drain::<_, false>(&mut *r)
}

/// pcap-parser's typed readers (`LegacyPcapReader`, `PcapNGReader`), the
/// format picked by the caller from the magic: no dynamic dispatch; and
/// `consume_noshift`, the buffer compacted by `refill` only (`consume`
/// moves what is left to the front whenever half the buffer is read).
fn parser_typed_loop(path: &str) -> Result<(u64, u64), String> {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| e.to_string())?;
    let file = File::open(path).map_err(|e| e.to_string())?;
    if magic == PCAPNG_MAGIC {
        let mut r = PcapNGReader::new(BUF, file).map_err(|e| parser_err(&e))?;
        parser_drain::<_, true>(&mut r)
    } else {
        let mut r = LegacyPcapReader::new(BUF, file).map_err(|e| parser_err(&e))?;
        parser_drain::<_, true>(&mut r)
    }
}

/// Reads to the end the documented way: `consume` each block (or
/// `consume_noshift`), `refill` on `Incomplete`.
fn parser_drain<R: PcapReaderIterator + ?Sized, const NOSHIFT: bool>(
    r: &mut R,
) -> Result<(u64, u64), String> {
    let (mut n, mut bytes, mut sum) = (0u64, 0u64, 0u64);
    loop {
        match r.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::Legacy(b) => {
                        n += 1;
                        bytes += u64::from(b.origlen);
                        sum = sum.wrapping_add(b.data.len() as u64);
                    }
                    PcapBlockOwned::NG(NgBlock::EnhancedPacket(b)) => {
                        n += 1;
                        bytes += u64::from(b.origlen);
                        sum = sum.wrapping_add(b.packet_data().len() as u64);
                    }
                    PcapBlockOwned::NG(NgBlock::SimplePacket(b)) => {
                        n += 1;
                        bytes += u64::from(b.origlen);
                        sum = sum.wrapping_add(b.packet_data().len() as u64);
                    }
                    _ => {}
                }
                if NOSHIFT {
                    r.consume_noshift(offset);
                } else {
                    r.consume(offset);
                }
            }
            Err(ParserError::Eof) => break,
            Err(ParserError::Incomplete(_)) => r.refill().map_err(|e| parser_err(&e))?,
            Err(e) => return Err(parser_err(&e)),
        }
    }
    std::hint::black_box(sum);
    Ok((n, bytes))
}

fn pcapfile_loop(path: &str) -> Result<(u64, u64), String> {
    pcapfile_read(File::open(path).map_err(|e| e.to_string())?)
}

fn pcapfile_read(input: impl Read) -> Result<(u64, u64), String> {
    let mut input = BufReader::new(input);
    let ng = input
        .fill_buf()
        .map_err(|e| e.to_string())?
        .starts_with(&PCAPNG_MAGIC);
    let (mut n, mut bytes, mut sum) = (0u64, 0u64, 0u64);
    if ng {
        let mut r = PcapNgReader::new(input).map_err(|e| e.to_string())?;
        while let Some(b) = r.next_block() {
            let (orig, len) = match b.map_err(|e| e.to_string())? {
                FileBlock::EnhancedPacket(p) => (p.original_len, p.data.len()),
                FileBlock::SimplePacket(p) => (p.original_len, p.data.len()),
                FileBlock::Packet(p) => (p.original_len, p.data.len()),
                _ => continue,
            };
            n += 1;
            bytes += u64::from(orig);
            sum = sum.wrapping_add(len as u64);
        }
    } else {
        let mut r = PcapReader::new(input).map_err(|e| e.to_string())?;
        while let Some(p) = r.next_packet() {
            let p = p.map_err(|e| e.to_string())?;
            n += 1;
            bytes += u64::from(p.orig_len);
            sum = sum.wrapping_add(p.data.len() as u64);
        }
    }
    std::hint::black_box(sum);
    Ok((n, bytes))
}

// ---------------------------------------------------------------------
// The same readers, keeping what each says of every frame, for the
// comparisons.

/// What one reader made of one file.
#[derive(Debug, Default, Clone)]
struct Seen {
    frames: u64,
    wire: u64,
    captured: u64,
    /// Per frame: its link type and time (ns since the epoch) as the
    /// reader gives them, `None` where it gives none.
    meta: Vec<(Option<u32>, Option<i128>)>,
    /// Why reading stopped before the end.
    error: Option<String>,
}

impl Seen {
    fn frame(&mut self, lt: Option<u32>, ts: Option<i128>, orig: u32, data: &[u8]) {
        self.frame_len(lt, ts, orig, data.len());
    }
    fn frame_len(&mut self, lt: Option<u32>, ts: Option<i128>, orig: u32, caplen: usize) {
        self.frames += 1;
        self.wire += u64::from(orig);
        self.captured += caplen as u64;
        self.meta.push((lt, ts));
    }
    fn failed(mut self, e: String) -> Seen {
        self.error = Some(e);
        self
    }
}

/// A reader that keeps what it saw.
type Detail = fn(&Path) -> Seen;

/// An error of ours or libpcap's without the path it starts with.
fn without_path(e: &SourceError, path: &Path) -> String {
    let m = e.to_string();
    let prefix = format!("{}: ", path.display());
    m.strip_prefix(&prefix).map_or(m.clone(), str::to_owned)
}

fn ours_detail(path: &Path) -> Seen {
    let mut s = Seen::default();
    let mut f = match CaptureFile::open(&path.to_string_lossy()) {
        Ok(f) => f,
        Err(e) => return s.failed(without_path(&e, path)),
    };
    while let Some((fr, dlt)) = f.next_frame() {
        let ts = i128::from(fr.ts_us) * 1000 + i128::from(fr.ts_ns);
        s.frame(u32::try_from(dlt).ok(), Some(ts), fr.orig_len, fr.data);
    }
    if let Some(e) = f.take_error() {
        s.error = Some(without_path(&e, path));
    }
    s
}

/// libpcap: counts only (the frames read before an error included).
fn libpcap_detail(path: &Path) -> Seen {
    let mut s = Seen::default();
    match plain_read_loop(&path.to_string_lossy()) {
        Ok((n, wire)) => {
            s.frames = n;
            s.wire = wire;
        }
        Err(e) => {
            if let SourceError::Truncated { packets, .. } = &e {
                s.frames = *packets;
            }
            s.error = Some(without_path(&e, path));
        }
    }
    s
}

/// pcap-parser as its documentation shows: the caller keeps the current
/// section's interfaces (link type, resolution, offset) to give a pcapng
/// frame its link type and time.
fn parser_detail(path: &Path) -> Seen {
    let mut s = Seen::default();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return s.failed(e.to_string()),
    };
    let mut r = match pcap_parser::create_reader(BUF, file) {
        Ok(r) => r,
        Err(e) => return s.failed(parser_err(&e)),
    };
    // Legacy pcap: link type and nanosecond flag from the header.
    let mut legacy: Option<(u32, bool)> = None;
    // pcapng: (link type, units per second, offset s) per interface.
    let mut ifaces: Vec<(u32, Option<u64>, i64)> = Vec::new();
    let mut stalled = 0;
    loop {
        match r.next() {
            Ok((offset, block)) => {
                stalled = 0;
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy = Some((h.network.0 as u32, h.is_nanosecond_precision()));
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let (lt, nanos) = legacy.unzip();
                        let frac = if nanos == Some(true) { 1 } else { 1000 };
                        let ts =
                            i128::from(b.ts_sec) * 1_000_000_000 + i128::from(b.ts_usec) * frac;
                        s.frame(lt, Some(ts), b.origlen, b.data);
                    }
                    PcapBlockOwned::NG(NgBlock::SectionHeader(_)) => ifaces.clear(),
                    PcapBlockOwned::NG(NgBlock::InterfaceDescription(idb)) => {
                        ifaces.push((idb.linktype.0 as u32, idb.ts_resolution(), idb.ts_offset()));
                    }
                    PcapBlockOwned::NG(NgBlock::EnhancedPacket(b)) => {
                        let i = ifaces.get(b.if_id as usize);
                        let ts = i.and_then(|&(_, res, off)| {
                            let res = res.filter(|&r| r > 0)?;
                            let (sec, frac) = b.decode_ts(off as u64, res);
                            Some(
                                i128::from(sec) * 1_000_000_000
                                    + i128::from(frac) * 1_000_000_000 / i128::from(res),
                            )
                        });
                        s.frame(i.map(|i| i.0), ts, b.origlen, b.packet_data());
                    }
                    PcapBlockOwned::NG(NgBlock::SimplePacket(b)) => {
                        s.frame(
                            ifaces.first().map(|i| i.0),
                            None,
                            b.origlen,
                            b.packet_data(),
                        );
                    }
                    _ => {}
                }
                if offset == 0 {
                    return s.failed("no progress (a block of length 0)".to_owned());
                }
                r.consume(offset);
            }
            Err(ParserError::Eof) => break,
            Err(ParserError::Incomplete(_)) => {
                stalled += 1;
                if stalled > 2 {
                    return s.failed("no progress after refill".to_owned());
                }
                if let Err(e) = r.refill() {
                    return s.failed(parser_err(&e));
                }
            }
            Err(e) => return s.failed(parser_err(&e)),
        }
    }
    s
}

/// pcap-file as its documentation shows: the format picked by the caller
/// from the magic; link type and time as the crate gives them (the
/// interfaces the crate keeps, `PcapNgReader::interfaces`, for a pcapng
/// frame's link type).
fn pcapfile_detail(path: &Path) -> Seen {
    let mut s = Seen::default();
    let mut input = match File::open(path) {
        Ok(f) => BufReader::new(f),
        Err(e) => return s.failed(e.to_string()),
    };
    let ng = match input.fill_buf() {
        Ok(b) => b.starts_with(&PCAPNG_MAGIC),
        Err(e) => return s.failed(e.to_string()),
    };
    if ng {
        let mut r = match PcapNgReader::new(input) {
            Ok(r) => r,
            Err(e) => return s.failed(e.to_string()),
        };
        loop {
            let b = match r.next_block() {
                None => break,
                Some(Err(e)) => return s.failed(e.to_string()),
                Some(Ok(b)) => b,
            };
            // The block borrows the reader mutably: its interface (and so
            // its link type) can be looked up only once the block is gone,
            // or from a copy (`into_owned`). Only lengths are kept here.
            let (iface, ts, orig, caplen) = match &b {
                FileBlock::EnhancedPacket(p) => (
                    Some(p.interface_id),
                    Some(p.timestamp.as_nanos() as i128),
                    p.original_len,
                    p.data.len(),
                ),
                FileBlock::SimplePacket(p) => (Some(0), None, p.original_len, p.data.len()),
                FileBlock::Packet(p) => (
                    Some(u32::from(p.interface_id)),
                    None,
                    p.original_len,
                    p.data.len(),
                ),
                _ => continue,
            };
            drop(b);
            let lt = iface
                .and_then(|i| r.interfaces().get(i as usize))
                .map(|i| u32::from(i.linktype));
            s.frame_len(lt, ts, orig, caplen);
        }
    } else {
        let mut r = match PcapReader::new(input) {
            Ok(r) => r,
            Err(e) => return s.failed(e.to_string()),
        };
        let lt = u32::from(r.header().datalink);
        while let Some(p) = r.next_packet() {
            match p {
                Ok(p) => s.frame(
                    Some(lt),
                    Some(p.timestamp.as_nanos() as i128),
                    p.orig_len,
                    &p.data,
                ),
                Err(e) => return s.failed(e.to_string()),
            }
        }
    }
    s
}

thread_local! {
    /// Inside [`guarded`]: a panic is caught and counted, not printed.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Panics inside [`guarded`] are not printed; others are, as usual.
fn quiet_panics_in_guarded() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !QUIET.with(|q| q.get()) {
            hook(info);
        }
    }));
}

/// A reader's result, or its panic's message.
fn guarded(read: Detail, path: &Path) -> Result<Seen, String> {
    QUIET.with(|q| q.set(true));
    let r = catch_unwind(AssertUnwindSafe(|| read(path)));
    QUIET.with(|q| q.set(false));
    r.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned())
    })
}

const CRATES: [(&str, Detail); 2] = [
    ("pcap-parser 0.17", parser_detail),
    ("pcap-file 2.0", pcapfile_detail),
];

// ---------------------------------------------------------------------
// Captures.

/// The mixed capture, as `benches/replay.rs` gets it: the env's file in
/// full mode, else generated into target/bench-data.
fn mixed_capture(full: bool) -> PathBuf {
    if full && let Some(p) = std::env::var_os("MIRRORWATCH_BENCH_FILE") {
        return PathBuf::from(p);
    }
    support::mixed_capture(if full {
        env_u64("MIRRORWATCH_BENCH_PACKETS", 1_000_000)
    } else {
        20_000
    })
}

/// A pcapng copy of `pcap` (one interface, microseconds, as
/// `mirrorwatch_pcapfile::PcapngWriter` writes), in target/bench-data,
/// made again when older than the capture.
fn pcapng_copy(pcap: &Path) -> PathBuf {
    let stem = pcap
        .file_stem()
        .map_or("capture".into(), |s| s.to_string_lossy());
    let out = bench_data().join(format!("{stem}.pcapng"));
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if out.exists() && mtime(&out) >= mtime(pcap) {
        return out;
    }
    let mut f = CaptureFile::open(&pcap.to_string_lossy()).expect("readable capture");
    let tmp = out.with_extension(format!("pcapng.{}.tmp", std::process::id()));
    let w = BufWriter::with_capacity(1 << 20, File::create(&tmp).expect("create pcapng copy"));
    let dlt = u32::try_from(f.dlt()).expect("link type");
    let mut w = PcapngWriter::new(w, dlt).expect("pcapng header");
    while let Some(fr) = f.read() {
        assert_eq!(fr.ts_ns, 0, "the copy keeps microseconds only");
        w.write_packet(fr.ts_us, fr.orig_len, fr.data)
            .expect("write pcapng copy");
    }
    assert!(
        f.take_error().is_none(),
        "{} read to its end",
        pcap.display()
    );
    w.flush().expect("flush pcapng copy");
    drop(w);
    std::fs::rename(&tmp, &out).expect("rename pcapng copy");
    out
}

use mirrorwatch_pcapfile::pcapng_block as block;

/// One section, four interfaces of four link types and timestamp
/// resolutions, one enhanced packet block on each and a simple packet
/// block; with each frame's true (link type, time in ns).
fn four_interfaces() -> (Vec<u8>, Vec<(u32, Option<i128>)>) {
    // 2026-01-01T00:00:00Z.
    const T0: u64 = 1_767_225_600;
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    let mut out = block(0x0a0d_0d0a, &shb);
    // (link type, if_tsresol, timestamp in its units, true ns past T0).
    let ifaces: [(u16, Option<u8>, u64, i128); 4] = [
        (1, None, T0 * 1_000_000 + 123_456, 123_456_000),
        (101, Some(9), T0 * 1_000_000_000 + 123_456_789, 123_456_789),
        (113, Some(0x80 | 10), T0 * 1024 + 512, 500_000_000),
        (0, Some(3), T0 * 1000 + 250, 250_000_000),
    ];
    for (lt, resol, _, _) in ifaces {
        let mut body = lt.to_le_bytes().to_vec();
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&65535u32.to_le_bytes());
        if let Some(r) = resol {
            body.extend_from_slice(&9u16.to_le_bytes());
            body.extend_from_slice(&1u16.to_le_bytes());
            body.extend_from_slice(&[r, 0, 0, 0]);
        }
        body.extend_from_slice(&[0; 4]);
        out.extend(block(1, &body));
    }
    let mut truth = Vec::new();
    for (i, (lt, _, ts, ns)) in ifaces.into_iter().enumerate() {
        let data = format!("frame on interface {i}");
        let mut body = (i as u32).to_le_bytes().to_vec();
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data.as_bytes());
        out.extend(block(6, &body));
        truth.push((u32::from(lt), Some(i128::from(T0) * 1_000_000_000 + ns)));
    }
    // A simple packet block: interface 0, no time.
    let mut spb = 8u32.to_le_bytes().to_vec();
    spb.extend_from_slice(b"simple!!");
    out.extend(block(3, &spb));
    truth.push((1, None));
    (out, truth)
}

// ---------------------------------------------------------------------
// Speed.

fn row(name: &str, rate: f64, base: f64, runs: usize) {
    println!(
        "| {name:<32} | {:>12.2} M | {:>16.2} | {:>9.0} | {runs:>4} |",
        rate / 1e6,
        rate / base,
        1e9 / rate
    );
}

/// Alternated runs of every reader on `path`; prints the table. Every
/// run of every reader must read what the libpcap loop read.
fn speed(title: &str, path: &Path, runs: usize) {
    let p = path.to_string_lossy().into_owned();
    let readers: [(&str, Loop); 5] = [
        ("plain libpcap loop", libpcap_loop),
        ("mirrorwatch's reader", ours_loop),
        ("pcap-parser 0.17, create_reader", parser_loop),
        ("pcap-parser 0.17, typed, noshift", parser_typed_loop),
        ("pcap-file 2.0", pcapfile_loop),
    ];
    // Warm the page cache.
    let want = libpcap_loop(&p).expect("libpcap reads the capture");
    let mut rates: Vec<Vec<f64>> = readers.iter().map(|_| Vec::new()).collect();
    for run in 0..runs {
        // Each run starts with another reader, so that none always follows
        // the same one.
        for k in 0..readers.len() {
            let i = (run + k) % readers.len();
            let (name, read) = readers[i];
            let t = Instant::now();
            let got = read(&p).unwrap_or_else(|e| panic!("{name} on {p}: {e}"));
            let s = t.elapsed().as_secs_f64();
            assert_eq!(got, want, "{name}: (frames, wire bytes) on {p}");
            rates[i].push(got.0 as f64 / s);
        }
    }
    println!("\n{title}: {p}, {} frames, {} wire bytes", want.0, want.1);
    println!(
        "| {:<32} | {:>14} | {:>16} | {:>9} | {:>4} |",
        "reader", "median pkt/s", "ratio to libpcap", "ns/packet", "runs"
    );
    println!(
        "|{:-<34}|{:->16}|{:->18}|{:->11}|{:->6}|",
        "", "", "", "", ""
    );
    let base = median(&mut rates[0].clone());
    for ((name, _), r) in readers.iter().zip(rates.iter_mut()) {
        row(name, median(r), base, runs);
    }
}

/// Every crate reads the frames, wire bytes and captured bytes our reader
/// reads on `path`, without an error.
fn same_as_ours(path: &Path) {
    let ours = guarded(ours_detail, path).expect("our reader does not panic");
    assert!(
        ours.error.is_none(),
        "ours on {}: {:?}",
        path.display(),
        ours.error
    );
    assert!(ours.frames > 0, "{} has frames", path.display());
    for (name, read) in CRATES {
        let s = guarded(read, path).unwrap_or_else(|m| panic!("{name} panicked: {m}"));
        assert!(
            s.error.is_none(),
            "{name} on {}: {:?}",
            path.display(),
            s.error
        );
        assert_eq!(
            (s.frames, s.wire, s.captured),
            (ours.frames, ours.wire, ours.captured),
            "{name} on {}: (frames, wire bytes, captured bytes)",
            path.display()
        );
    }
    println!(
        "{}: every reader reads {} frames, {} wire bytes, {} captured bytes",
        path.display(),
        ours.frames,
        ours.wire,
        ours.captured
    );
}

// ---------------------------------------------------------------------
// Fixtures.

#[derive(Default)]
struct Tally {
    files: usize,
    exact: usize,
    fewer: usize,
    more: usize,
    errors: usize,
    panics: usize,
    /// Why a file was not read exactly (digits as `N`), and how often.
    why: std::collections::BTreeMap<String, usize>,
}

impl Tally {
    fn add(&mut self, r: &Result<Seen, String>, reference: u64) -> bool {
        self.files += 1;
        let why = match r {
            Err(m) => {
                self.panics += 1;
                Some(format!("panic: {m}"))
            }
            Ok(s) => {
                self.errors += usize::from(s.error.is_some());
                match s.frames.cmp(&reference) {
                    std::cmp::Ordering::Less => self.fewer += 1,
                    std::cmp::Ordering::Greater => self.more += 1,
                    std::cmp::Ordering::Equal if s.error.is_none() => self.exact += 1,
                    std::cmp::Ordering::Equal => {}
                }
                match (&s.error, s.frames.cmp(&reference)) {
                    (Some(e), _) => Some(e.clone()),
                    (None, std::cmp::Ordering::Equal) => None,
                    (None, std::cmp::Ordering::Less) => Some("fewer frames, no error".to_owned()),
                    (None, std::cmp::Ordering::Greater) => Some("more frames".to_owned()),
                }
            }
        };
        let Some(why) = why else {
            return true;
        };
        let mut key = String::new();
        for c in why.chars().take(90) {
            if !c.is_ascii_digit() {
                key.push(c);
            } else if !key.ends_with('N') {
                key.push('N');
            }
        }
        *self.why.entry(key).or_default() += 1;
        false
    }
}

fn short(r: &Result<Seen, String>) -> String {
    let cut = |m: &str| m.chars().take(70).collect::<String>();
    match r {
        Err(m) => format!("PANIC: {}", cut(m)),
        Ok(s) => match &s.error {
            None => s.frames.to_string(),
            Some(e) => format!("{} then error: {}", s.frames, cut(e)),
        },
    }
}

fn captures(dir: &Path, recurse: bool, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if recurse {
                captures(&p, true, out);
            }
        } else if p.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
            out.push(p);
        }
    }
}

/// One set of files against its reference counts: a table row per reader
/// and a line per file where a reader differs. Returns our reader's
/// results.
fn compare_set(
    title: &str,
    files: &[(PathBuf, u64)],
    reference: &str,
) -> Vec<Result<Seen, String>> {
    let readers: [(&str, Detail); 4] = [
        ("libpcap", libpcap_detail),
        ("mirrorwatch", ours_detail),
        CRATES[0],
        CRATES[1],
    ];
    let mut tallies: Vec<Tally> = readers.iter().map(|_| Tally::default()).collect();
    let mut diffs = Vec::new();
    let mut ours = Vec::new();
    for (path, want) in files {
        let results: Vec<Result<Seen, String>> =
            readers.iter().map(|(_, r)| guarded(*r, path)).collect();
        let mut all_right = true;
        for (t, r) in tallies.iter_mut().zip(&results) {
            all_right &= t.add(r, *want);
        }
        if !all_right {
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let cols: Vec<String> = readers
                .iter()
                .zip(&results)
                .map(|((n, _), r)| format!("{n}: {}", short(r)))
                .collect();
            diffs.push(format!("  {name} (reference {want}): {}", cols.join("; ")));
        }
        ours.push(results.into_iter().nth(1).expect("our result"));
    }
    println!("\n{title}: {} files, reference: {reference}", files.len());
    println!(
        "| {:<18} | {:>11} | {:>11} | {:>5} | {:>14} | {:>6} |",
        "reader", "exact count", "fewer", "more", "error reported", "panics"
    );
    println!(
        "|{:-<20}|{:->13}|{:->13}|{:->7}|{:->16}|{:->8}|",
        "", "", "", "", "", ""
    );
    for ((name, _), t) in readers.iter().zip(&tallies) {
        println!(
            "| {name:<18} | {:>11} | {:>11} | {:>5} | {:>14} | {:>6} |",
            t.exact, t.fewer, t.more, t.errors, t.panics
        );
    }
    for ((name, _), t) in readers.iter().zip(&tallies) {
        for (why, n) in &t.why {
            println!("  {name}, {n} file(s): {why}");
        }
    }
    const SHOWN: usize = 12;
    if !diffs.is_empty() {
        println!("files where a reader is not exact:");
        for d in diffs.iter().take(SHOWN) {
            println!("{d}");
        }
        if diffs.len() > SHOWN {
            println!("  ... and {} more", diffs.len() - SHOWN);
        }
    }
    ours
}

/// Per-frame link type and time of every crate against ours, on pcapng
/// files: (frames compared, link types equal, times equal).
fn pcapng_meta(files: &[PathBuf]) {
    println!(
        "\npcapng frames, link type and time against ours ({} files):",
        files.len()
    );
    for (name, read) in CRATES {
        let (mut frames, mut lt, mut ts) = (0, 0, 0);
        let mut unlike = Vec::new();
        for f in files {
            let (Ok(o), Ok(c)) = (guarded(ours_detail, f), guarded(read, f)) else {
                continue;
            };
            for (i, (a, b)) in o.meta.iter().zip(&c.meta).enumerate() {
                frames += 1;
                lt += usize::from(a.0 == b.0);
                ts += usize::from(a.1 == b.1);
                if a != b && unlike.len() < 4 {
                    let name = f
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                    unlike.push(format!(
                        "    {name} frame {}: ours {a:?}, {b:?} (link type, ns)",
                        i + 1
                    ));
                }
            }
        }
        println!(
            "  {name}: {frames} frames read by both, link type equal on {lt}, time equal on {ts}"
        );
        for u in unlike {
            println!("{u}");
        }
    }
}

/// The four-interface capture: link types and times against the truth.
fn four_interface_check(tmp: &Path) {
    let (bytes, truth) = four_interfaces();
    let path = tmp.join("four-interfaces.pcapng");
    std::fs::write(&path, bytes).expect("write four-interface pcapng");
    let timed = truth.iter().filter(|t| t.1.is_some()).count();
    println!(
        "\npcapng, one section, four interfaces (Ethernet µs, raw IP ns, Linux cooked 2^-10 s, NULL ms), {} frames ({timed} timed):",
        truth.len()
    );
    let readers: [(&str, Detail, &str); 3] = [
        ("mirrorwatch", ours_detail, "the reader"),
        (
            CRATES[0].0,
            CRATES[0].1,
            "the caller (this bench keeps the IDB list)",
        ),
        (CRATES[1].0, CRATES[1].1, "the crate (interfaces())"),
    ];
    println!(
        "| {:<18} | {:>15} | {:>19} | interfaces tracked by",
        "reader", "link type right", "time right (exact)"
    );
    println!("|{:-<20}|{:->17}|{:->21}|{:-<24}", "", "", "", "");
    for (name, read, who) in readers {
        let s = guarded(read, &path);
        let (lt, ts, note) = match &s {
            Err(m) => (0, 0, format!("PANIC {m}")),
            Ok(s) => {
                let lt = s
                    .meta
                    .iter()
                    .zip(&truth)
                    .filter(|(m, t)| m.0 == Some(t.0))
                    .count();
                let ts = s
                    .meta
                    .iter()
                    .zip(&truth)
                    .filter(|(m, t)| t.1.is_some() && m.1 == t.1)
                    .count();
                (lt, ts, s.error.clone().unwrap_or_default())
            }
        };
        println!(
            "| {name:<18} | {:>15} | {:>19} | {who} {note}",
            format!("{lt} of {}", truth.len()),
            format!("{ts} of {timed}")
        );
        if name == "mirrorwatch" {
            let s = s.expect("our reader does not panic");
            assert!(s.error.is_none(), "{:?}", s.error);
            assert_eq!(s.frames as usize, truth.len());
            assert_eq!(
                (lt, ts),
                (truth.len(), timed),
                "our link types and times: {:?}",
                s.meta
            );
        } else if let Ok(s) = &s {
            // Where a crate's time is wrong, by how much.
            for (m, t) in s.meta.iter().zip(&truth) {
                if let Some(want) = t.1
                    && m.1 != Some(want)
                {
                    let got = m.1.map_or("none".to_owned(), |g| format!("{g} ns"));
                    println!("    {name}, link type {}: time {got}, true {want} ns", t.0);
                }
            }
        }
    }
}

/// A classic pcap cut to a snap length of 96 bytes (`tcpdump -s 96`):
/// every frame longer on the wire than in the file. Ours must read all.
fn snaplen_check(tmp: &Path) {
    const FRAMES: u32 = 3;
    const SNAP: u32 = 96;
    const WIRE: u32 = 1514;
    let mut b = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&SNAP.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    for i in 0..FRAMES {
        b.extend_from_slice(&(1_767_225_600 + i).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&SNAP.to_le_bytes());
        b.extend_from_slice(&WIRE.to_le_bytes());
        b.extend(std::iter::repeat_n(0xab, SNAP as usize));
    }
    let path = tmp.join("snaplen-96.pcap");
    std::fs::write(&path, b).expect("write snaplen capture");
    let cols: Vec<String> = [
        ("libpcap", libpcap_detail as Detail),
        ("mirrorwatch", ours_detail),
    ]
    .into_iter()
    .chain(CRATES)
    .map(|(n, r)| format!("{n}: {}", short(&guarded(r, &path))))
    .collect();
    println!(
        "
pcap with a snap length of {SNAP} ({FRAMES} frames of {WIRE} bytes on the wire): {}",
        cols.join("; ")
    );
    let o = guarded(ours_detail, &path).expect("our reader does not panic");
    assert!(o.error.is_none(), "{:?}", o.error);
    assert_eq!(
        (o.frames, o.wire, o.captured),
        (
            u64::from(FRAMES),
            u64::from(FRAMES * WIRE),
            u64::from(FRAMES * SNAP)
        )
    );
}

/// gzip and zstd copies of `plain`: what each reader does with them. Ours
/// must read them as the plain file.
fn compressed_check(plain: &Path, tmp: &Path) {
    let bytes = std::fs::read(plain).expect("read capture");
    let gz = tmp.join("capture.pcap.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&bytes).expect("gzip");
    std::fs::write(&gz, e.finish().expect("gzip")).expect("write .gz");
    let zst = tmp.join("capture.pcap.zst");
    let z =
        ruzstd::encoding::compress_to_vec(&bytes[..], ruzstd::encoding::CompressionLevel::Fastest);
    std::fs::write(&zst, z).expect("write .zst");
    let want = guarded(ours_detail, plain).expect("our reader does not panic");
    assert!(want.error.is_none() && want.frames > 0);
    println!(
        "\ncompressed copies of {} ({} frames):",
        plain.display(),
        want.frames
    );
    for f in [&gz, &zst] {
        let ext = f
            .extension()
            .map_or_else(String::new, |e| e.to_string_lossy().into_owned());
        let cols: Vec<String> = [
            ("libpcap", libpcap_detail as Detail),
            ("mirrorwatch", ours_detail),
        ]
        .into_iter()
        .chain(CRATES)
        .map(|(n, r)| format!("{n}: {}", short(&guarded(r, f))))
        .collect();
        println!("  .{ext}: {}", cols.join("; "));
        if ext == "gz" {
            let open = || flate2::read::GzDecoder::new(File::open(f).expect("open .gz"));
            println!(
                "  .gz inside a flate2::read::GzDecoder the caller wraps around the file: pcap-parser 0.17: {:?}; pcap-file 2.0: {:?} (frames, wire bytes)",
                parser_read(open()),
                pcapfile_read(open())
            );
        }
        let o = guarded(ours_detail, f).expect("our reader does not panic");
        assert!(o.error.is_none(), "ours on .{ext}: {:?}", o.error);
        assert_eq!(
            (o.frames, o.wire, o.captured, &o.meta),
            (want.frames, want.wire, want.captured, &want.meta),
            "ours on .{ext}"
        );
    }
}

fn fixtures(tmp: &Path) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));

    let mut project = Vec::new();
    captures(&root.join("pcaps"), false, &mut project);
    captures(&root.join("tests/fixtures"), true, &mut project);
    let mut pcapngs: Vec<PathBuf> = project
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pcapng"))
        .cloned()
        .collect();
    let with_libpcap = |files: Vec<PathBuf>| -> Vec<(PathBuf, u64)> {
        files
            .into_iter()
            .map(|p| {
                let n = libpcap_detail(&p).frames;
                (p, n)
            })
            .collect()
    };
    let first_project = project
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "pcap"))
        .cloned();
    let ours = compare_set(
        "project captures (pcaps/, tests/fixtures/)",
        &with_libpcap(project),
        "libpcap's frame count",
    );
    for r in &ours {
        let s = r.as_ref().expect("our reader does not panic");
        assert!(
            s.error.is_none(),
            "ours on a project capture: {:?}",
            s.error
        );
    }

    match std::env::var_os("MIRRORWATCH_SHARED_PCAPS").map(PathBuf::from) {
        Some(shared) if shared.join("real/expected.json").is_file() => {
            let text = std::fs::read_to_string(shared.join("real/expected.json"))
                .expect("read expected.json");
            let expected: serde_json::Value =
                serde_json::from_str(&text).expect("parse expected.json");
            let mut real = Vec::new();
            captures(&shared.join("real"), false, &mut real);
            let real: Vec<(PathBuf, u64)> = real
                .into_iter()
                .map(|p| {
                    let name = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let n = expected[&name]["packets"]
                        .as_u64()
                        .unwrap_or_else(|| panic!("expected.json has no count for {name}"));
                    (p, n)
                })
                .collect();
            assert!(
                !real.is_empty(),
                "captures in {}",
                shared.join("real").display()
            );
            pcapngs.extend(
                real.iter()
                    .map(|r| r.0.clone())
                    .filter(|p| p.extension().is_some_and(|e| e == "pcapng")),
            );
            let ours = compare_set("real/", &real, "Wireshark's frame count (expected.json)");
            for ((p, want), r) in real.iter().zip(&ours) {
                let s = r.as_ref().expect("our reader does not panic");
                assert!(
                    s.frames == *want && s.error.is_none(),
                    "ours on {}: {} frames, {:?}; Wireshark {want}",
                    p.display(),
                    s.frames,
                    s.error
                );
            }
            let mut bad = Vec::new();
            captures(&shared.join("malformed"), false, &mut bad);
            pcapngs.extend(
                bad.iter()
                    .filter(|p| p.extension().is_some_and(|e| e == "pcapng"))
                    .cloned(),
            );
            let bad = with_libpcap(bad);
            let ours = compare_set("malformed/", &bad, "libpcap's frame count");
            for ((p, want), r) in bad.iter().zip(&ours) {
                let s = r
                    .as_ref()
                    .unwrap_or_else(|m| panic!("ours panicked on {}: {m}", p.display()));
                assert_eq!(
                    s.frames,
                    *want,
                    "ours on {}: {} frames, libpcap {want}",
                    p.display(),
                    s.frames
                );
            }
        }
        _ => println!(
            "\nskipping fixture comparison of the reference captures: MIRRORWATCH_SHARED_PCAPS unset or without real/expected.json"
        ),
    }
    pcapng_meta(&pcapngs);
    four_interface_check(tmp);
    snaplen_check(tmp);
    if let Some(p) = first_project {
        compressed_check(&p, tmp);
    }
}

fn main() {
    // `cargo bench` passes --bench; under `cargo test --all-targets` it is
    // absent and a small smoke run checks the benchmark still works.
    let full = std::env::args().any(|a| a == "--bench");
    quiet_panics_in_guarded();
    let runs = if full {
        env_u64("MIRRORWATCH_BENCH_RUNS", 5).max(1) as usize
    } else {
        1
    };
    let tmp = std::env::temp_dir().join(format!("mirrorwatch-readers-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("create temp dir");

    let pcap = mixed_capture(full);
    let pcapng = pcapng_copy(&pcap);
    same_as_ours(&pcap);
    same_as_ours(&pcapng);
    speed("pcap, the mixed capture", &pcap, runs);
    speed("pcapng copy of it", &pcapng, runs);

    fixtures(&tmp);
    let _ = std::fs::remove_dir_all(&tmp);
}
