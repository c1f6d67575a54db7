//! Our own reader of pcap and pcapng files: large buffered reads, records
//! parsed in place and handed out as slices of the buffer (no copy per
//! frame), for regular files, FIFOs and standard input alike (the format
//! is sniffed from the bytes already read, never by opening twice), and
//! through gzip or zstd when the stream starts with their magic.
//!
//! pcap: both byte orders, microsecond and nanosecond magic. pcapng:
//! several sections, each with its own byte order; every interface's link
//! type, snap length, `if_tsresol` and `if_tsoffset`; enhanced, simple and
//! (obsolete) packet blocks; other blocks skipped and counted; a block
//! whose lengths disagree or that names an unknown interface is skipped and
//! counted as malformed (reading goes on at the next block when its length
//! is sound, and stops with an error when it is not).
//!
//! Timestamps are exact to the nanosecond: a frame's `ts_us` is the
//! engine's clock (microseconds) and `ts_ns` the nanoseconds past it.
//! Resolutions finer than a nanosecond (`if_tsresol` above 9, or above 2^-29
//! s) are truncated to the nanosecond; coarser ones are exact.
use std::io::{self, Read};

use super::Frame;
use crate::compress::{Compression, decompress};
use crate::decode::LinkType;

/// Bytes asked of the input per read, and the size of a buffer handed off
/// to the engine thread as a batch (some 550 frames of the mixed capture).
/// Handed over, 256 KiB buffers ran 1-13 % faster than copying each frame
/// into a batch (`--workers 1`, four sets of alternated runs), 1 MiB ones
/// no faster (docs/performance.md): the engine reads a buffer while it is
/// still in the shared cache.
const READ_CHUNK: usize = 1 << 18;
/// Largest record or block accepted (libpcap's limit for pcap records is
/// 256 KiB of data; pcapng blocks also carry options).
const MAX_BLOCK: usize = 16 << 20;
/// libpcap's largest snapshot length (`MAXIMUM_SNAPLEN`).
const MAX_CAPLEN: u32 = 262_144;

/// The container, sniffed from the first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Pcap,
    Pcapng,
}

/// A timestamp unit: 10^-n or 2^-n seconds (`if_tsresol`), kept as the
/// exponent so that any of the 128 values is exact (10^-20 s and 2^-64 s
/// do not fit a u64 count of units per second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resol {
    Pow10(u8),
    Pow2(u8),
}

#[derive(Debug, Clone, Copy)]
struct Iface {
    dlt: i32,
    linktype: LinkType,
    /// The unit of this interface's timestamps.
    resol: Resol,
    offset_s: i64,
}

/// How a pcap file's records are laid out, from its header.
#[derive(Debug, Clone, Copy)]
struct Pcap {
    be: bool,
    nanos: bool,
    /// Bytes of a record header: 16, or 24 in the modified format of
    /// Alexey Kuznetzov's patched tcpdump (interface index, protocol and
    /// packet type after the standard fields), which libpcap reads.
    hdr: usize,
    iface: Iface,
    lengths: Lengths,
    /// The snapshot length as libpcap takes it (`pcap_adjust_snapshot`):
    /// the header's, or [`MAX_CAPLEN`] when that is 0 or larger; 14 more
    /// for Kuznetzov's Ethernet files. A record captured longer is cut to
    /// it, as libpcap cuts it.
    snap: u32,
}

enum Format {
    Pcap(Pcap),
    Pcapng { be: bool, ifaces: Vec<Iface> },
}

/// The order of a pcap record's two lengths. They were interchanged in
/// version 2.3, to match the BPF header: before it the wire length came
/// first. Some files say 2.3 but keep the old order, and DG/UX tcpdump
/// writes version 543.0 in the old order. As libpcap reads them
/// (`sf-pcap.c`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lengths {
    /// Captured length, then wire length: 2.4, the format of today.
    InOrder,
    /// Wire length first: versions before 2.3, and 543.0.
    Swapped,
    /// 2.3: swapped when the first is the larger.
    MaybeSwapped,
}

impl Lengths {
    /// For a file of version `major.minor`; the error is libpcap's.
    fn of_version(major: u16, minor: u16) -> Result<Lengths, String> {
        match (major, minor) {
            (0..2, _) => Err("archaic pcap savefile format".to_owned()),
            (2, 0..3) | (543, 0) => Ok(Lengths::Swapped),
            (2, 3) => Ok(Lengths::MaybeSwapped),
            (2, 4) => Ok(Lengths::InOrder),
            _ => Err(format!("unsupported pcap savefile version {major}.{minor}")),
        }
    }

    /// The (captured, wire) lengths of a record whose header gives `a`
    /// then `b`.
    #[inline]
    fn order(self, a: u32, b: u32) -> (u32, u32) {
        match self {
            Lengths::InOrder => (a, b),
            Lengths::MaybeSwapped if a <= b => (a, b),
            Lengths::Swapped | Lengths::MaybeSwapped => (b, a),
        }
    }
}

/// A packet found in the buffer.
struct Located {
    ts_us: i64,
    ts_ns: u16,
    linktype: LinkType,
    orig_len: u32,
    start: usize,
    len: usize,
    dlt: i32,
}

/// Why a stream cannot be read on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Not a capture at all (at the start).
    NotACapture(String),
    /// Cut off or broken after some records; `offset` is the byte offset
    /// (in the decompressed stream) of the record that could not be read.
    Broken { offset: u64, reason: String },
}

/// A pcap or pcapng stream being read.
pub struct Reader {
    input: Box<dyn Read + Send>,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    /// Stream offset of `buf[0]`.
    base: u64,
    format: Format,
    container: Container,
    /// pcapng blocks of kinds that carry no frame (statistics, name
    /// resolution, custom, unknown), skipped.
    pub skipped_blocks: u64,
    /// pcapng blocks skipped because they contradict themselves.
    pub malformed_blocks: u64,
    /// First interface's DLT (what a file "is").
    first_dlt: i32,
    /// Hand-off mode ([`Reader::hand_off`]): a full buffer is retired, not
    /// compacted, so that the frames read from it stay where they are.
    hand_off: bool,
    /// The buffer retired by the last read, with the frames read from it.
    retired: Option<Vec<u8>>,
    /// A buffer to read into next, handed back by the other thread.
    spare: Option<Vec<u8>>,
    /// Where the last frame returned starts in the buffer.
    last_start: usize,
}

/// `N` bytes at `at` (zeros past the end: callers check lengths first).
fn bytes_at<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut x = [0u8; N];
    if let Some(s) = b.get(at..at + N) {
        x.copy_from_slice(s);
    }
    x
}

fn u16_at(b: &[u8], at: usize, be: bool) -> u16 {
    let x = bytes_at(b, at);
    if be {
        u16::from_be_bytes(x)
    } else {
        u16::from_le_bytes(x)
    }
}

fn u32_at(b: &[u8], at: usize, be: bool) -> u32 {
    let x = bytes_at(b, at);
    if be {
        u32::from_be_bytes(x)
    } else {
        u32::from_le_bytes(x)
    }
}

fn u64_at(b: &[u8], at: usize, be: bool) -> u64 {
    let x = bytes_at(b, at);
    if be {
        u64::from_be_bytes(x)
    } else {
        u64::from_le_bytes(x)
    }
}

fn iface(dlt: i32, resol: Resol, offset_s: i64) -> Iface {
    Iface {
        dlt,
        linktype: LinkType::from_dlt(dlt),
        resol,
        offset_s,
    }
}

/// Nanoseconds of `ts` units of `resol`, truncated (the timestamp is not
/// negative, so truncating is rounding down).
fn units_to_ns(ts: u64, resol: Resol) -> u128 {
    // ts < 2^64 and the factors below are at most 10^9 < 2^30: products
    // stay under 2^94, far inside u128.
    let ts = u128::from(ts);
    match resol {
        Resol::Pow10(e) if e <= 9 => ts * 10u128.pow(9 - u32::from(e)),
        // 10^39 and more do not fit a u128: every u64 count of such units
        // is below a nanosecond.
        Resol::Pow10(e) => 10u128
            .checked_pow(u32::from(e) - 9)
            .map_or(0, |div| ts / div),
        // e is at most 127, a valid u128 shift.
        Resol::Pow2(e) => (ts * 1_000_000_000).checked_shr(u32::from(e)).unwrap_or(0),
    }
}

/// (microseconds since the epoch, nanoseconds past that microsecond) of a
/// pcapng timestamp on interface `i`, its `if_tsoffset` applied.
#[inline]
fn to_time(ts: u64, i: &Iface) -> (i64, u16) {
    // The usual resolutions without 128-bit division (per frame).
    if i.offset_s == 0
        && let Ok(t) = i64::try_from(ts)
    {
        match i.resol {
            Resol::Pow10(6) => return (t, 0),
            // t % 1000 is below 1000.
            Resol::Pow10(9) => return (t / 1000, u16::try_from(t % 1000).unwrap_or(0)),
            _ => {}
        }
    }
    // Under 2^94 plus at most 2^63 * 10^9 < 2^93 either way: no overflow
    // in i128, whatever the input.
    let ns = i128::try_from(units_to_ns(ts, i.resol)).unwrap_or(i128::MAX)
        + i128::from(i.offset_s) * 1_000_000_000;
    let us = ns.div_euclid(1000);
    match i64::try_from(us) {
        // rem_euclid of 1000 is in 0..1000.
        Ok(us) => (us, u16::try_from(ns.rem_euclid(1000)).unwrap_or(0)),
        // Beyond the engine's clock (some 292,000 years): its end.
        Err(_) if us > 0 => (i64::MAX, 0),
        Err(_) => (i64::MIN, 0),
    }
}

/// A pcap file's magic number as it lies in the file, and what it says.
struct PcapMagic {
    magic: [u8; 4],
    /// Big-endian fields.
    be: bool,
    /// Nanosecond timestamps.
    nanos: bool,
    /// Record header length.
    hdr: usize,
}

/// The pcap magic numbers read: microsecond and nanosecond in both byte
/// orders, and Alexey Kuznetzov's modified format (0xa1b2cd34, 24-byte
/// record headers), which libpcap reads too.
const PCAP_MAGIC: [PcapMagic; 6] = {
    const fn m(magic: [u8; 4], be: bool, nanos: bool, hdr: usize) -> PcapMagic {
        PcapMagic {
            magic,
            be,
            nanos,
            hdr,
        }
    }
    [
        m([0xd4, 0xc3, 0xb2, 0xa1], false, false, 16),
        m([0xa1, 0xb2, 0xc3, 0xd4], true, false, 16),
        m([0x4d, 0x3c, 0xb2, 0xa1], false, true, 16),
        m([0xa1, 0xb2, 0x3c, 0x4d], true, true, 16),
        m([0x34, 0xcd, 0xb2, 0xa1], false, false, 24),
        m([0xa1, 0xb2, 0xcd, 0x34], true, false, 24),
    ]
};

/// The byte-order magic of a pcapng section header block's type, the
/// same in both byte orders.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Whether `head` (the first bytes of an uncompressed input) starts a pcap
/// or pcapng file this reader reads.
pub fn is_capture_magic(head: &[u8]) -> bool {
    head.get(..4)
        .is_some_and(|m| m == PCAPNG_MAGIC || PCAP_MAGIC.iter().any(|p| p.magic == m))
}

/// Whether the capture reader is the one to read an uncompressed input
/// that starts with `head` (at least its first 6 bytes where it has
/// them): a capture, or the output of a compressor [`Reader::new`] names
/// in its error with the command that reads it. gzip and zstd are left to
/// the caller, which reads compressed text too: it looks inside for
/// [`is_capture_magic`].
pub fn is_for_reader(head: &[u8]) -> bool {
    is_capture_magic(head) || compressed_by(head).is_some()
}

/// The compressor whose output starts with `head`, among those not read,
/// and the command that writes its content to standard output (so that
/// the error says what the file is and how to read it).
fn compressed_by(head: &[u8]) -> Option<(&'static str, &'static str)> {
    const KNOWN: [(&[u8], &str, &str); 5] = [
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], "xz", "xz -dc"),
        (b"BZh", "bzip2", "bzip2 -dc"),
        (&[0x04, 0x22, 0x4d, 0x18], "lz4", "lz4 -dc"),
        (b"PK\x03\x04", "zip", "unzip -p"),
        (&[b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c], "7z", "7z x -so"),
    ];
    KNOWN
        .iter()
        .find(|(magic, ..)| head.starts_with(magic))
        .map(|&(_, tool, cat)| (tool, cat))
}

impl Reader {
    /// Starts reading `input`: sniffs compression and the container from
    /// its first bytes.
    pub fn new(input: Box<dyn Read + Send>) -> Result<Reader, ReadError> {
        let mut r = Reader::new_raw(input);
        r.fill(4)
            .map_err(|e| ReadError::NotACapture(e.to_string()))?;
        if let Some(c) = Compression::of(&r.buf[r.pos..r.end]) {
            let dec = c
                .decoder(r.take_input())
                .map_err(|e| ReadError::NotACapture(e.to_string()))?;
            let dec = Box::new(dec);
            r = Reader::new_raw(Box::new(decompress::Threaded::spawn(dec, c.command())));
        }
        r.header()?;
        Ok(r)
    }

    fn new_raw(input: Box<dyn Read + Send>) -> Reader {
        Reader {
            input,
            buf: Vec::with_capacity(READ_CHUNK),
            pos: 0,
            end: 0,
            eof: false,
            base: 0,
            format: Format::Pcap(Pcap {
                be: false,
                nanos: false,
                hdr: 16,
                iface: iface(1, Resol::Pow10(6), 0),
                lengths: Lengths::InOrder,
                snap: MAX_CAPLEN,
            }),
            container: Container::Pcap,
            skipped_blocks: 0,
            malformed_blocks: 0,
            first_dlt: 1,
            hand_off: false,
            retired: None,
            spare: None,
            last_start: 0,
        }
    }

    /// The bytes read so far followed by the rest of the input.
    fn take_input(&mut self) -> Box<dyn Read + Send> {
        let read = self.buf[self.pos..self.end].to_vec();
        let rest = std::mem::replace(&mut self.input, Box::new(io::empty()));
        Box::new(io::Cursor::new(read).chain(rest))
    }

    pub fn container(&self) -> Container {
        self.container
    }

    /// The DLT of the file (of its first interface, for pcapng).
    pub fn dlt(&self) -> i32 {
        self.first_dlt
    }

    /// Zero-copy hand-off to another thread (the replay reader thread's
    /// batches): from now on a buffer that is full is retired with the
    /// frames read from it still in place, for [`Reader::take_retired`],
    /// and reading goes on in a spare buffer ([`Reader::give_spare`]) that
    /// starts with the unread rest. Without it the rest is moved to the
    /// front of the one buffer, over the frames already read.
    pub fn hand_off(&mut self) {
        self.hand_off = true;
    }

    /// The buffer retired since the last call, if one was: every frame
    /// read before the last one returned lies in it, at the offset
    /// [`Reader::last_frame_start`] gave for it.
    pub fn take_retired(&mut self) -> Option<Vec<u8>> {
        self.retired.take()
    }

    /// A buffer to read into when the current one is full (its length is
    /// kept: no zeroing again).
    pub fn give_spare(&mut self, b: Vec<u8>) {
        self.spare = Some(b);
    }

    /// The buffer being read, with the frames read from it since the last
    /// retirement (the file is done with).
    pub fn take_buffer(&mut self) -> Vec<u8> {
        self.pos = 0;
        self.end = 0;
        std::mem::take(&mut self.buf)
    }

    /// Where in its buffer the last frame returned starts.
    #[inline]
    pub fn last_frame_start(&self) -> usize {
        self.last_start
    }

    /// Makes at least `need` bytes available from `pos` (fewer only at the
    /// end of the input); returns how many are.
    fn fill(&mut self, need: usize) -> io::Result<usize> {
        while self.end - self.pos < need && !self.eof {
            if self.pos > 0 && (self.buf.len() - self.end < READ_CHUNK / 4 || self.pos == self.end)
            {
                if self.hand_off {
                    self.retire();
                } else {
                    self.buf.copy_within(self.pos..self.end, 0);
                }
                self.base += self.pos as u64;
                self.end -= self.pos;
                self.pos = 0;
            }
            // Room for a whole read unless what is left will do (a pipe or
            // a decompressor hands out less than asked: growing by a read
            // each time would hold the whole stream), and for the record.
            let room = self.buf.len() - self.end;
            let mut want = (self.pos + need).max(self.buf.len());
            if room < READ_CHUNK / 4 {
                want = want.max(self.end + READ_CHUNK);
            }
            if self.buf.len() < want {
                self.buf.resize(want, 0);
            }
            let n = loop {
                match self.input.read(&mut self.buf[self.end..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                self.eof = true;
            }
            self.end += n;
        }
        Ok(self.end - self.pos)
    }

    /// Hand-off mode: the unread rest goes to the front of a spare buffer,
    /// which becomes the buffer; the full one is retired. A second buffer
    /// retired before the first was taken held no frame handed out (no
    /// frame was returned in between): it is the spare.
    fn retire(&mut self) {
        let rest = self.end - self.pos;
        let mut fresh = self.spare.take().unwrap_or_default();
        if fresh.len() < rest + READ_CHUNK {
            fresh.resize(rest + READ_CHUNK, 0);
        }
        fresh[..rest].copy_from_slice(&self.buf[self.pos..self.end]);
        let old = std::mem::replace(&mut self.buf, fresh);
        if self.retired.is_none() {
            self.retired = Some(old);
        } else {
            self.spare = Some(old);
        }
    }

    fn broken(&self, reason: String) -> ReadError {
        ReadError::Broken {
            offset: self.base + self.pos as u64,
            reason,
        }
    }

    fn header(&mut self) -> Result<(), ReadError> {
        let not = |m: &str| ReadError::NotACapture(m.to_owned());
        let have = self.fill(24).map_err(|e| not(&e.to_string()))?;
        if have < 4 {
            return Err(not(
                "truncated dump file; tried to read 4 file header bytes",
            ));
        }
        let m = &self.buf[self.pos..self.pos + 4];
        let pcap = PCAP_MAGIC.iter().find(|p| p.magic == m);
        if let Some(&PcapMagic { be, nanos, hdr, .. }) = pcap {
            if have < 24 {
                return Err(not(&format!(
                    "truncated dump file; tried to read 24 file header bytes, only got {have}"
                )));
            }
            let h = &self.buf[self.pos..self.pos + 24];
            let lengths =
                Lengths::of_version(u16_at(h, 4, be), u16_at(h, 6, be)).map_err(|e| not(&e))?;
            // LT_LINKTYPE: the low 26 bits; the top ones carry FCS flags.
            let dlt = i32::try_from(u32_at(h, 20, be) & 0x03ff_ffff).unwrap_or(0);
            let resol = Resol::Pow10(if nanos { 9 } else { 6 });
            let snap = match u32_at(h, 16, be) {
                0 => MAX_CAPLEN,
                n => n.min(MAX_CAPLEN),
            };
            let snap = if hdr == 24 && dlt == 1 {
                snap + 14
            } else {
                snap
            };
            self.format = Format::Pcap(Pcap {
                be,
                nanos,
                hdr,
                iface: iface(dlt, resol, 0),
                lengths,
                snap,
            });
            self.first_dlt = dlt;
            self.container = Container::Pcap;
            self.pos += 24;
            return Ok(());
        }
        if m == PCAPNG_MAGIC {
            self.container = Container::Pcapng;
            self.format = Format::Pcapng {
                be: false,
                ifaces: Vec::new(),
            };
            // The first block is the section header: read it now, so
            // that a file that is not pcapng fails at the start.
            return match self.section_header() {
                Ok(()) => Ok(()),
                Err(ReadError::Broken { reason, .. }) => Err(not(&reason)),
                Err(e) => Err(e),
            };
        }
        match compressed_by(&self.buf[self.pos..self.pos + have.min(6)]) {
            Some((tool, cat)) => Err(not(&format!(
                "{tool}-compressed; only gzip and zstd are decompressed: \
                 `{cat} FILE | mirrorwatch replay -` reads it"
            ))),
            None => Err(not("unknown file format")),
        }
    }

    /// Reads a section header block at `pos`.
    fn section_header(&mut self) -> Result<(), ReadError> {
        let have = self.fill(12).map_err(|e| self.broken(e.to_string()))?;
        if have < 12 {
            return Err(self.broken(format!(
                "truncated pcapng dump file; tried to read 12 bytes, only got {have}"
            )));
        }
        let b = &self.buf[self.pos..];
        let be = match b.get(8..12) {
            Some([0x1a, 0x2b, 0x3c, 0x4d]) => true,
            Some([0x4d, 0x3c, 0x2b, 0x1a]) => false,
            _ => return Err(self.broken("unknown pcapng byte-order magic".to_owned())),
        };
        let len = u32_at(b, 4, be) as usize;
        if !(28..=MAX_BLOCK).contains(&len) || len % 4 != 0 {
            return Err(self.broken(format!("section header block has a length of {len}")));
        }
        let have = self.fill(len).map_err(|e| self.broken(e.to_string()))?;
        if have < len {
            return Err(self.broken(format!(
                "truncated pcapng dump file; tried to read {len} bytes, only got {have}"
            )));
        }
        self.format = Format::Pcapng {
            be,
            ifaces: Vec::new(),
        };
        self.pos += len;
        Ok(())
    }

    /// The next frame and its interface's DLT; `Ok(None)` at the end.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<(Frame<'_>, i32)>, ReadError> {
        match &self.format {
            Format::Pcap(p) => {
                let p = *p;
                self.next_pcap(p)
            }
            Format::Pcapng { .. } => self.next_pcapng(),
        }
    }

    #[inline]
    fn next_pcap(&mut self, p: Pcap) -> Result<Option<(Frame<'_>, i32)>, ReadError> {
        let Pcap {
            be,
            nanos,
            hdr,
            iface,
            lengths,
            snap,
        } = p;
        if self.end - self.pos < hdr {
            let have = self.fill(hdr).map_err(|e| self.broken(e.to_string()))?;
            if have == 0 {
                return Ok(None);
            }
            if have < hdr {
                return Err(self.broken(format!(
                    "truncated dump file; tried to read {hdr} header bytes, only got {have}"
                )));
            }
        }
        let h = &self.buf[self.pos..self.pos + 16];
        let (sec, frac) = (u32_at(h, 0, be), u32_at(h, 4, be));
        let (caplen, len) = lengths.order(u32_at(h, 8, be), u32_at(h, 12, be));
        if caplen > MAX_CAPLEN {
            // libpcap's words: the snapshot length when the record exceeds
            // it too, which it does unless a Kuznetzov file added 14.
            let limit = if caplen > snap {
                format!("snaplen of {snap}")
            } else {
                format!("maximum of {MAX_CAPLEN}")
            };
            return Err(self.broken(format!(
                "invalid packet capture length {caplen}, bigger than {limit}"
            )));
        }
        let total = hdr + caplen as usize;
        if self.end - self.pos < total {
            let have = self.fill(total).map_err(|e| self.broken(e.to_string()))?;
            if have < total {
                // libpcap first reads the snapshot length's worth.
                let tried = if have - hdr < snap as usize {
                    caplen.min(snap)
                } else {
                    caplen
                };
                return Err(self.broken(format!(
                    "truncated dump file; tried to read {tried} captured bytes, only got {}",
                    have - hdr
                )));
            }
        }
        // Captured longer than the snapshot length: cut to it.
        let keep = caplen.min(snap) as usize;
        let start = self.pos + hdr;
        self.pos += total;
        self.last_start = start;
        // A fraction of a second is below 10^9 (or 10^6) in a sound file;
        // a larger one is added as it is, as libpcap does.
        let (us_frac, ts_ns) = if nanos {
            (frac / 1000, u16::try_from(frac % 1000).unwrap_or(0))
        } else {
            (frac, 0)
        };
        let ts_us = i64::from(sec) * 1_000_000 + i64::from(us_frac);
        Ok(Some((
            Frame {
                ts_us,
                ts_ns,
                linktype: iface.linktype,
                orig_len: len,
                data: &self.buf[start..start + keep],
            },
            iface.dlt,
        )))
    }

    fn next_pcapng(&mut self) -> Result<Option<(Frame<'_>, i32)>, ReadError> {
        let Some(p) = self.find_pcapng_packet()? else {
            return Ok(None);
        };
        self.last_start = p.start;
        Ok(Some((
            Frame {
                ts_us: p.ts_us,
                ts_ns: p.ts_ns,
                linktype: p.linktype,
                orig_len: p.orig_len,
                data: &self.buf[p.start..p.start + p.len],
            },
            p.dlt,
        )))
    }

    /// Reads blocks up to the next packet; where its bytes are in `buf`.
    fn find_pcapng_packet(&mut self) -> Result<Option<Located>, ReadError> {
        loop {
            let have = self.fill(12).map_err(|e| self.broken(e.to_string()))?;
            if have == 0 {
                return Ok(None);
            }
            if have < 12 {
                return Err(self.broken(format!(
                    "truncated pcapng dump file; tried to read 12 bytes, only got {have}"
                )));
            }
            let Format::Pcapng { be, .. } = &self.format else {
                return Ok(None);
            };
            let be = *be;
            let b = &self.buf[self.pos..];
            if b.get(..4) == Some(&[0x0a, 0x0d, 0x0d, 0x0a]) {
                self.section_header()?;
                continue;
            }
            let kind = u32_at(b, 0, be);
            let len = u32_at(b, 4, be) as usize;
            if !(12..=MAX_BLOCK).contains(&len) || len % 4 != 0 {
                return Err(self.broken(format!(
                    "block in pcapng dump file has a length of {len} (type {kind:#x})"
                )));
            }
            let have = self.fill(len).map_err(|e| self.broken(e.to_string()))?;
            if have < len {
                return Err(self.broken(format!(
                    "truncated pcapng dump file; tried to read {len} bytes, only got {have}"
                )));
            }
            let start = self.pos;
            let block = &self.buf[start..start + len];
            if u32_at(block, len - 4, be) as usize != len {
                self.malformed_blocks += 1;
                self.pos += len;
                continue;
            }
            self.pos += len;
            match kind {
                1 => self.interface(start, len, be),
                6 | 2 | 3 => {
                    if let Some(f) = self.packet(kind, start, len, be) {
                        return Ok(Some(f));
                    }
                }
                _ => self.skipped_blocks += 1,
            }
        }
    }

    /// An interface description block at `buf[start..start + len]`.
    fn interface(&mut self, start: usize, len: usize, be: bool) {
        let b = &self.buf[start..start + len];
        if len < 20 {
            self.malformed_blocks += 1;
            return;
        }
        let dlt = i32::from(u16_at(b, 8, be));
        let (mut resol, mut offset) = (Resol::Pow10(6), 0i64);
        // Options: code, length, value padded to 4, up to the trailer.
        let mut at = 16;
        while at + 4 <= len - 4 {
            let code = u16_at(b, at, be);
            let olen = usize::from(u16_at(b, at + 2, be));
            let value = at + 4;
            if code == 0 || value + olen > len - 4 {
                break;
            }
            match (code, olen) {
                (9, 1) => {
                    let v = b[value];
                    let exp = v & 0x7f;
                    resol = if v & 0x80 == 0 {
                        Resol::Pow10(exp)
                    } else {
                        Resol::Pow2(exp)
                    };
                }
                (14, 8) => offset = u64_at(b, value, be) as i64,
                _ => {}
            }
            at = value + olen.div_ceil(4) * 4;
        }
        if let Format::Pcapng { ifaces, .. } = &mut self.format {
            if ifaces.is_empty() && self.first_dlt == 1 {
                self.first_dlt = dlt;
            }
            ifaces.push(iface(dlt, resol, offset));
        }
    }

    /// A packet block (enhanced 6, obsolete 2, simple 3).
    fn packet(&mut self, kind: u32, start: usize, len: usize, be: bool) -> Option<Located> {
        let Format::Pcapng { ifaces, .. } = &self.format else {
            return None;
        };
        let b = &self.buf[start..start + len];
        let (id, ts, caplen, orig, data_at) = match kind {
            6 if len >= 32 => {
                let ts = (u64::from(u32_at(b, 12, be)) << 32) | u64::from(u32_at(b, 16, be));
                (
                    u32_at(b, 8, be) as usize,
                    ts,
                    u32_at(b, 20, be),
                    u32_at(b, 24, be),
                    28,
                )
            }
            2 if len >= 32 => {
                let ts = (u64::from(u32_at(b, 12, be)) << 32) | u64::from(u32_at(b, 16, be));
                (
                    usize::from(u16_at(b, 8, be)),
                    ts,
                    u32_at(b, 20, be),
                    u32_at(b, 24, be),
                    28,
                )
            }
            3 if len >= 16 => {
                let orig = u32_at(b, 8, be);
                let room = (len - 16) as u32;
                (0, 0, orig.min(room), orig, 12)
            }
            _ => {
                self.malformed_blocks += 1;
                return None;
            }
        };
        let Some(i) = ifaces.get(id).copied() else {
            self.malformed_blocks += 1;
            return None;
        };
        if data_at + caplen as usize > len - 4 {
            self.malformed_blocks += 1;
            return None;
        }
        // A simple packet block has no timestamp.
        let (ts_us, ts_ns) = if kind == 3 { (0, 0) } else { to_time(ts, &i) };
        Some(Located {
            ts_us,
            ts_ns,
            linktype: i.linktype,
            orig_len: orig,
            start: start + data_at,
            len: caplen as usize,
            dlt: i.dlt,
        })
    }
}

/// Reads `data` to its end or an error, for the fuzz target; returns the
/// frames read.
#[doc(hidden)]
pub fn fuzz_read(data: &[u8]) -> u64 {
    let Ok(mut r) = Reader::new(Box::new(io::Cursor::new(data.to_vec()))) else {
        return 0;
    };
    // What a plain read gives, as (time, ns, bytes) digests.
    let mut plain = Vec::new();
    let plain_end = loop {
        match r.next_frame() {
            Ok(Some((f, _))) => {
                assert!(f.data.len() <= MAX_BLOCK);
                assert!(f.ts_ns < 1000);
                plain.push((f.ts_us, f.ts_ns, f.data.to_vec()));
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    // In hand-off mode, read a few bytes at a time (buffers retire often),
    // every frame must be found again in the buffer it was retired with.
    let Ok(mut r) = Reader::new(Box::new(Dribble(io::Cursor::new(data.to_vec())))) else {
        panic!("the same bytes opened once and not twice");
    };
    r.hand_off();
    let mut handed: Vec<(i64, u16, usize, usize)> = Vec::new();
    let mut got = Vec::new();
    let mut take = |buf: &[u8], frames: &mut Vec<(i64, u16, usize, usize)>| {
        for (ts, ns, start, len) in frames.drain(..) {
            let d = buf
                .get(start..start + len)
                .expect("a handed frame in its buffer");
            got.push((ts, ns, d.to_vec()));
        }
    };
    let end = loop {
        let (ts, ns, len) = match r.next_frame() {
            Ok(Some((f, _))) => (f.ts_us, f.ts_ns, f.data.len()),
            Ok(None) => break None,
            Err(e) => break Some(e),
        };
        let start = r.last_frame_start();
        if let Some(old) = r.take_retired() {
            take(&old, &mut handed);
            r.give_spare(old);
        }
        handed.push((ts, ns, start, len));
    };
    // The last read may have retired the buffer of the last frames (the
    // end found on a read into a spare): like the reader thread, take it
    // before the buffer in use.
    if let Some(old) = r.take_retired() {
        take(&old, &mut handed);
    }
    let last = r.take_buffer();
    take(&last, &mut handed);
    assert_eq!(got, plain, "hand-off mode read other frames");
    assert_eq!(end.is_some(), plain_end.is_some());
    plain.len() as u64
}

/// Hands out at most 7 bytes per read (a slow pipe), for [`fuzz_read`].
struct Dribble(io::Cursor<Vec<u8>>);

impl Read for Dribble {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = out.len().min(7);
        self.0.read(&mut out[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (time, DLT, bytes) of each frame read.
    type Frames = Vec<(i64, i32, Vec<u8>)>;

    fn read_all(bytes: Vec<u8>) -> (Frames, Option<ReadError>, Reader) {
        let mut r = Reader::new(Box::new(io::Cursor::new(bytes))).expect("a capture");
        let mut out = Vec::new();
        let err = loop {
            match r.next_frame() {
                Ok(Some((f, dlt))) => out.push((f.ts_us, dlt, f.data.to_vec())),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        (out, err, r)
    }

    fn pcap(be: bool, nanos: bool, dlt: u16, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut out = Vec::new();
        out.extend_from_slice(&w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
        out.extend_from_slice(&w16(2));
        out.extend_from_slice(&w16(4));
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&w32(65535));
        out.extend_from_slice(&w32(u32::from(dlt)));
        for (s, f, d) in records {
            out.extend_from_slice(&w32(*s));
            out.extend_from_slice(&w32(*f));
            out.extend_from_slice(&w32(d.len() as u32));
            out.extend_from_slice(&w32(d.len() as u32 + 4));
            out.extend_from_slice(d);
        }
        out
    }

    #[test]
    fn record_lengths_follow_the_file_version() {
        let of = |a, b| Lengths::of_version(a, b);
        assert_eq!(of(2, 4), Ok(Lengths::InOrder));
        assert_eq!(of(2, 3), Ok(Lengths::MaybeSwapped));
        for (a, b) in [(2, 0), (2, 1), (2, 2), (543, 0)] {
            assert_eq!(of(a, b), Ok(Lengths::Swapped), "{a}.{b}");
        }
        assert_eq!(of(1, 9), Err("archaic pcap savefile format".to_owned()));
        for (a, b) in [(2, 5), (3, 0), (543, 1), (u16::MAX, 0)] {
            assert_eq!(
                of(a, b),
                Err(format!("unsupported pcap savefile version {a}.{b}"))
            );
        }
        assert_eq!(Lengths::InOrder.order(100, 40), (100, 40));
        assert_eq!(Lengths::Swapped.order(40, 100), (100, 40));
        assert_eq!(Lengths::MaybeSwapped.order(40, 100), (40, 100));
        assert_eq!(Lengths::MaybeSwapped.order(100, 40), (40, 100));
        assert_eq!(Lengths::MaybeSwapped.order(60, 60), (60, 60));
        // A 2.2 file read: the data is as long as the second length.
        let mut b = pcap(false, false, 1, &[]);
        b[6] = 2;
        b.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 3, 0, 0, 0]);
        b.extend_from_slice(b"abc");
        let (f, e, _) = read_all(b);
        assert!(e.is_none(), "{e:?}");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].2, b"abc");
    }

    /// A record captured longer than the file's snapshot length is cut
    /// to it (libpcap does), and the next record is found after all of it.
    #[test]
    fn a_record_longer_than_the_snapshot_length_is_cut_to_it() {
        let mut b = pcap(false, false, 1, &[(1, 0, &[7u8; 2000]), (2, 0, b"next")]);
        b[16..20].copy_from_slice(&1000u32.to_le_bytes());
        let (f, e, _) = read_all(b);
        assert!(e.is_none(), "{e:?}");
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].2, vec![7u8; 1000]);
        assert_eq!(f[1].2, b"next");
    }

    #[test]
    fn pcap_both_orders_and_resolutions() {
        for be in [false, true] {
            let (f, e, r) = read_all(pcap(be, false, 1, &[(10, 5, b"abc"), (11, 0, b"de")]));
            assert!(e.is_none(), "{e:?}");
            assert_eq!(r.dlt(), 1);
            assert_eq!(
                f,
                vec![
                    (10_000_005, 1, b"abc".to_vec()),
                    (11_000_000, 1, b"de".to_vec())
                ]
            );
        }
        let (f, _, _) = read_all(pcap(false, true, 101, &[(1, 999_999_999, b"x")]));
        assert_eq!(f, vec![(1_999_999, 101, b"x".to_vec())]);
    }

    /// A stream handed out a little at a time, as a pipe or a decompressor
    /// does.
    struct Trickle(io::Cursor<Vec<u8>>, usize);

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = out.len().min(self.1);
            self.0.read(&mut out[..n])
        }
    }

    /// Records of 1,000 bytes, about `mb` megabytes of them.
    fn many_records(mb: usize) -> (Vec<u8>, usize) {
        let payload = vec![0x5au8; 1000];
        let n = mb * 1000;
        let recs: Vec<(u32, u32, &[u8])> = (0..n as u32).map(|i| (i, 0, &payload[..])).collect();
        (pcap(false, false, 1, &recs), n)
    }

    #[test]
    fn short_reads_do_not_grow_the_buffer_with_the_stream() {
        // 64 KiB per read, as from a pipe: the buffer once grew by every
        // read and held the whole stream (107 MB for a 471 MB capture on
        // standard input).
        let (bytes, n) = many_records(8);
        let mut r = Reader::new(Box::new(Trickle(io::Cursor::new(bytes), 65_536))).expect("pcap");
        let (mut got, mut biggest) = (0, 0);
        while let Ok(Some(_)) = r.next_frame() {
            got += 1;
            biggest = biggest.max(r.buf.len());
        }
        assert_eq!(got, n);
        assert!(biggest <= 2 * READ_CHUNK, "buffer grew to {biggest} bytes");
    }

    #[test]
    fn hand_off_keeps_every_frame_in_the_buffer_it_was_read_into() {
        // The replay reader thread's way: after each frame, a retired
        // buffer carries the frames before it, at the offsets given.
        for trickle in [usize::MAX, 65_536, 1000, 333] {
            let (bytes, n) = many_records(3);
            let mut r =
                Reader::new(Box::new(Trickle(io::Cursor::new(bytes), trickle))).expect("pcap");
            r.hand_off();
            let mut pending: Vec<(usize, usize, u32)> = Vec::new();
            let (mut checked, mut retired) = (0, 0);
            let mut check = |buf: &[u8], frames: &mut Vec<(usize, usize, u32)>| {
                for (start, len, ts) in frames.drain(..) {
                    let d = buf.get(start..start + len).expect("in the buffer");
                    assert_eq!(d, &[0x5au8; 1000][..], "frame {ts}");
                    checked += 1;
                }
            };
            while let Ok(Some((f, _))) = r.next_frame() {
                let (len, ts) = (f.data.len(), (f.ts_us / 1_000_000) as u32);
                let start = r.last_frame_start();
                if let Some(old) = r.take_retired() {
                    retired += 1;
                    check(&old, &mut pending);
                    r.give_spare(old);
                }
                pending.push((start, len, ts));
            }
            if let Some(old) = r.take_retired() {
                check(&old, &mut pending);
            }
            let last = r.take_buffer();
            check(&last, &mut pending);
            assert_eq!(checked, n, "trickle {trickle}");
            assert!(retired >= 2, "trickle {trickle}: {retired} buffers retired");
        }
        // The fuzz target's own check: hand-off mode with 7-byte reads gives
        // the frames a plain read gives.
        let (bytes, n) = many_records(1);
        assert_eq!(fuzz_read(&bytes), n as u64);
        // Found by it: the end of the input, found on a read after the last
        // frame, retires the buffer that holds that frame.
        let one = pcap(false, false, 1, &[(1, 0, &[0x42u8; 66])]);
        assert_eq!(fuzz_read(&one), 1);
    }

    #[test]
    fn cut_records_say_where_and_keep_what_came_before() {
        let mut b = pcap(false, false, 1, &[(1, 0, b"abcd"), (2, 0, b"efgh")]);
        b.truncate(b.len() - 2);
        let (f, e, _) = read_all(b.clone());
        assert_eq!(f.len(), 1);
        assert_eq!(
            e,
            Some(ReadError::Broken {
                offset: 24 + 20,
                reason: "truncated dump file; tried to read 4 captured bytes, only got 2"
                    .to_owned()
            })
        );
        b.truncate(24 + 20 + 5);
        let (_, e, _) = read_all(b);
        assert!(
            matches!(e, Some(ReadError::Broken { reason, .. }) if reason.contains("16 header bytes, only got 5"))
        );
        assert!(matches!(
            Reader::new(Box::new(io::Cursor::new(b"hello world, not a capture".to_vec()))),
            Err(ReadError::NotACapture(m)) if m == "unknown file format"
        ));
        for (head, tool) in [
            (&[0xfd, b'7', b'z', b'X', b'Z', 0, 0, 4][..], "xz"),
            (b"BZh91AY&SY", "bzip2"),
            (&[0x04, 0x22, 0x4d, 0x18, 0x64, 0x40][..], "lz4"),
            (b"PK\x03\x04\x14\x00", "zip"),
        ] {
            let mut data = head.to_vec();
            data.resize(64, 0);
            assert!(
                matches!(
                    Reader::new(Box::new(io::Cursor::new(data))),
                    Err(ReadError::NotACapture(m)) if m.starts_with(&format!("{tool}-compressed;"))
                ),
                "{tool}"
            );
        }
    }

    use mirrorwatch_pcapfile::pcapng_block as block;

    fn shb() -> Vec<u8> {
        let mut body = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&u64::MAX.to_le_bytes());
        block(0x0a0d_0d0a, &body)
    }

    fn idb(dlt: u16, tsresol: Option<u8>) -> Vec<u8> {
        idb_opts(dlt, tsresol, None)
    }

    fn epb(iface: u32, ts: u64, data: &[u8]) -> Vec<u8> {
        let mut body = iface.to_le_bytes().to_vec();
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        block(6, &body)
    }

    #[test]
    fn pcapng_interfaces_of_four_link_types_and_resolutions() {
        let mut b = shb();
        b.extend(idb(1, None)); // Ethernet, microseconds
        b.extend(idb(101, Some(9))); // raw IP, nanoseconds
        b.extend(idb(113, Some(0x80 | 10))); // Linux cooked, 2^-10 s
        b.extend(idb(0, Some(3))); // NULL, milliseconds
        b.extend(block(5, &[0; 8])); // interface statistics: skipped
        b.extend(epb(0, 1_500_000, b"eth"));
        b.extend(epb(1, 2_000_000_001, b"raw"));
        b.extend(epb(2, 1024 * 3 + 512, b"sll"));
        b.extend(epb(3, 4_250, b"null"));
        // Simple packet block: interface 0, no timestamp.
        let mut spb = 4u32.to_le_bytes().to_vec();
        spb.extend_from_slice(b"spb!");
        b.extend(block(3, &spb));
        let (f, e, r) = read_all(b);
        assert!(e.is_none(), "{e:?}");
        assert_eq!(r.container(), Container::Pcapng);
        assert_eq!(r.skipped_blocks, 1);
        assert_eq!(
            f,
            vec![
                (1_500_000, 1, b"eth".to_vec()),
                (2_000_000, 101, b"raw".to_vec()),
                (3_500_000, 113, b"sll".to_vec()),
                (4_250_000, 0, b"null".to_vec()),
                (0, 1, b"spb!".to_vec()),
            ]
        );
    }

    /// (ts_us, ts_ns) of each frame read, and the error that stopped
    /// reading if any.
    fn times(bytes: Vec<u8>) -> (Vec<(i64, u16)>, Option<ReadError>) {
        let mut r = Reader::new(Box::new(io::Cursor::new(bytes))).expect("a capture");
        let mut out = Vec::new();
        loop {
            match r.next_frame() {
                Ok(Some((f, _))) => out.push((f.ts_us, f.ts_ns)),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    /// An interface description block (Ethernet) with `if_tsresol` and
    /// `if_tsoffset` when given.
    fn idb_with(tsresol: Option<u8>, tsoffset: Option<i64>) -> Vec<u8> {
        idb_opts(1, tsresol, tsoffset)
    }

    /// An interface description block of link type `dlt` with
    /// `if_tsresol` and `if_tsoffset` when given.
    fn idb_opts(dlt: u16, tsresol: Option<u8>, tsoffset: Option<i64>) -> Vec<u8> {
        let mut body = dlt.to_le_bytes().to_vec();
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&65535u32.to_le_bytes());
        if let Some(r) = tsresol {
            body.extend_from_slice(&9u16.to_le_bytes());
            body.extend_from_slice(&1u16.to_le_bytes());
            body.extend_from_slice(&[r, 0, 0, 0]);
        }
        if let Some(o) = tsoffset {
            body.extend_from_slice(&14u16.to_le_bytes());
            body.extend_from_slice(&8u16.to_le_bytes());
            body.extend_from_slice(&o.to_le_bytes());
        }
        body.extend_from_slice(&[0; 4]);
        block(1, &body)
    }

    /// 2026-01-01T00:00:00Z, in seconds.
    const T0: u64 = 1_767_225_600;

    #[test]
    fn pcap_nanosecond_fraction_kept_exact() {
        for be in [false, true] {
            let (t, e) = times(pcap(be, true, 1, &[(T0 as u32, 123_456_789, b"x")]));
            assert!(e.is_none(), "{e:?}");
            assert_eq!(t, vec![(1_767_225_600_123_456, 789)]);
            // A microsecond file has no nanoseconds.
            let (t, _) = times(pcap(be, false, 1, &[(T0 as u32, 123_456, b"x")]));
            assert_eq!(t, vec![(1_767_225_600_123_456, 0)]);
        }
    }

    #[test]
    fn pcapng_resolutions_give_the_exact_nanosecond() {
        let mut b = shb();
        b.extend(idb_with(Some(9), None)); // 0: nanoseconds
        b.extend(idb_with(Some(0x80 | 30), None)); // 1: 2^-30 s
        b.extend(idb_with(Some(3), None)); // 2: milliseconds
        b.extend(idb_with(Some(20), None)); // 3: 10^-20 s
        b.extend(idb_with(None, None)); // 4: microseconds
        b.extend(epb(0, T0 * 1_000_000_000 + 123_456_789, b"a"));
        b.extend(epb(1, (T0 << 30) + 123_456_789, b"b"));
        b.extend(epb(2, T0 * 1000 + 123, b"c"));
        b.extend(epb(3, u64::MAX, b"d"));
        b.extend(epb(4, T0 * 1_000_000 + 123_456, b"e"));
        let (t, e) = times(b);
        assert!(e.is_none(), "{e:?}");
        assert_eq!(
            t,
            vec![
                (1_767_225_600_123_456, 789),
                // 123456789 * 10^9 / 2^30 = 114978094.6... ns, truncated.
                (1_767_225_600_114_978, 94),
                (1_767_225_600_123_000, 0),
                // (2^64 - 1) / 10^11 = 184467440.7... ns, truncated.
                (184_467, 440),
                (1_767_225_600_123_456, 0),
            ]
        );
    }

    #[test]
    fn pcapng_tsoffset_is_applied_to_the_exact_time() {
        let mut b = shb();
        b.extend(idb_with(Some(9), Some(1_700_000_000)));
        b.extend(idb_with(None, Some(-100)));
        b.extend(idb_with(Some(0x80 | 30), Some(1)));
        b.extend(epb(0, 67_225_600_123_456_789, b"a"));
        b.extend(epb(1, 50_000_007, b"b"));
        b.extend(epb(2, 1 << 29, b"c"));
        let (t, e) = times(b);
        assert!(e.is_none(), "{e:?}");
        assert_eq!(
            t,
            vec![
                (1_767_225_600_123_456, 789),
                // Before the epoch: the nanoseconds still count forward.
                (-49_999_993, 0),
                (1_500_000, 0),
            ]
        );
    }

    #[test]
    fn absurd_resolutions_offsets_and_timestamps_do_not_panic() {
        let offsets = [None, Some(0), Some(i64::MAX), Some(i64::MIN), Some(-1)];
        let stamps = [0, 1, 999, 1 << 32, i64::MAX as u64, u64::MAX];
        for resol in 0..=255u8 {
            for off in offsets {
                let mut b = shb();
                b.extend(idb_with(Some(resol), off));
                for &ts in &stamps {
                    b.extend(epb(0, ts, b"x"));
                }
                let (t, e) = times(b);
                assert!(e.is_none(), "{resol:#x} {off:?}: {e:?}");
                assert_eq!(t.len(), stamps.len());
                assert!(t.iter().all(|&(_, ns)| ns < 1000), "{resol:#x}: {t:?}");
            }
        }
        // Seconds (10^0 and 2^0) of 2^64 - 1: past the engine's clock, its end.
        for resol in [0, 0x80] {
            let mut b = shb();
            b.extend(idb_with(Some(resol), None));
            b.extend(epb(0, u64::MAX, b"x"));
            assert_eq!(times(b).0, vec![(i64::MAX, 0)]);
        }
        // 10^-127 s and 2^-127 s: every count is below a nanosecond.
        for resol in [0x7f, 0xff] {
            let mut b = shb();
            b.extend(idb_with(Some(resol), None));
            b.extend(epb(0, u64::MAX, b"x"));
            assert_eq!(times(b).0, vec![(0, 0)]);
        }
        let mut b = shb();
        b.extend(idb_with(Some(9), Some(i64::MIN)));
        b.extend(epb(0, 0, b"x"));
        assert_eq!(times(b).0, vec![(i64::MIN, 0)]);
        // A pcap fraction too large for a second is added as it is.
        let (t, _) = times(pcap(false, true, 1, &[(u32::MAX, u32::MAX, b"x")]));
        assert_eq!(t, vec![(i64::from(u32::MAX) * 1_000_000 + 4_294_967, 295)]);
    }

    #[test]
    fn malformed_pcapng_blocks_are_skipped_or_stop_reading() {
        let mut b = shb();
        b.extend(idb(1, None));
        b.extend(epb(0, 1, b"one"));
        // Trailer length disagrees with the header: skipped.
        let mut bad = epb(0, 2, b"two");
        let n = bad.len();
        bad[n - 4] ^= 0x40;
        b.extend(bad);
        // Unknown interface: skipped.
        b.extend(epb(7, 3, b"three"));
        // Captured length past the block: skipped.
        let mut over = epb(0, 4, b"four");
        over[20] = 200;
        b.extend(over);
        b.extend(epb(0, 5, b"five"));
        let (f, e, r) = read_all(b.clone());
        assert!(e.is_none(), "{e:?}");
        assert_eq!(
            f.iter().map(|x| x.2.clone()).collect::<Vec<_>>(),
            [b"one".to_vec(), b"five".to_vec()]
        );
        assert_eq!(r.malformed_blocks, 3);
        // A zero length cannot be skipped over: reading stops, with where.
        let mut z = b;
        z.extend_from_slice(&6u32.to_le_bytes());
        z.extend_from_slice(&0u32.to_le_bytes());
        z.extend_from_slice(&[0; 8]);
        let (f, e, _) = read_all(z);
        assert_eq!(f.len(), 2);
        assert!(
            matches!(e, Some(ReadError::Broken { reason, .. }) if reason.contains("length of 0"))
        );
    }

    #[test]
    fn compressed_streams_read_the_same() {
        use std::io::Write;
        let plain = pcap(false, false, 1, &[(1, 2, b"abc"), (3, 4, b"defg")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let (a, e1, _) = read_all(plain.clone());
        let (b, e2, _) = read_all(gz);
        assert!(e1.is_none() && e2.is_none());
        assert_eq!(a, b);
        let zst = ruzstd::encoding::compress_to_vec(
            io::Cursor::new(plain),
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        let (c, e3, _) = read_all(zst);
        assert!(e3.is_none(), "{e3:?}");
        assert_eq!(a, c);
    }

    #[test]
    fn a_corrupt_zstd_capture_reads_the_same_however_its_input_arrives() {
        // Found by the reader fuzz target with libzstd, which drops the
        // bytes it decoded in the call that meets a broken block, so a
        // large read lost frames a dribbling one kept. fuzz_read asserts
        // that both give the same frames.
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/regressions/reader-zstd-corrupt-block.zst"
        );
        let data = std::fs::read(p).expect("regression input");
        assert!(
            fuzz_read(&data) > 0,
            "frames before the broken block are read"
        );
    }

    #[test]
    fn kuznetzov_modified_pcap_reads_as_libpcap_does() {
        // Alexey Kuznetzov's patched tcpdump: magic 0xa1b2cd34, and 8 more
        // bytes per record header (interface index, protocol, packet
        // type, padding) that are not part of the frame.
        let frames: [(u32, u32, &[u8]); 3] = [
            (1_700_000_000, 5, &[0xaa; 60]),
            (1_700_000_001, 999_999, &[0xbb; 1]),
            (1_700_000_002, 0, &[]),
        ];
        for be in [false, true] {
            let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
            let standard = pcap(be, false, 1, &frames);
            let mut modified = w32(0xa1b2_cd34).to_vec();
            modified.extend_from_slice(&standard[4..24]);
            let mut at = 24;
            for (_, _, d) in &frames {
                modified.extend_from_slice(&standard[at..at + 16]);
                modified.extend_from_slice(&w32(3));
                modified.extend_from_slice(&[0x08, 0x00, 4, 0]);
                modified.extend_from_slice(d);
                at += 16 + d.len();
            }
            let (want, e, _) = read_all(standard);
            assert_eq!(e, None);
            let (got, e, _) = read_all(modified.clone());
            assert_eq!(e, None, "big-endian {be}");
            assert_eq!(got, want, "big-endian {be}");
            assert_eq!(got.len(), 3);
            // Cut inside the longer record header: the error names its size.
            modified.truncate(24 + 16 + 8 + 60 + 20);
            let (got, e, _) = read_all(modified);
            assert_eq!(got.len(), 1);
            assert!(
                matches!(&e, Some(ReadError::Broken { reason, .. }) if reason.contains("24 header bytes, only got 20")),
                "{e:?}"
            );
        }
    }

    #[test]
    fn records_larger_than_a_read_chunk_and_tiny_reads() {
        /// Hands out one byte per read.
        struct Trickle(io::Cursor<Vec<u8>>);
        impl Read for Trickle {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                let n = b.len().min(1);
                self.0.read(&mut b[..n])
            }
        }
        let big = vec![7u8; 200_000];
        let mut bytes = pcap(false, false, 1, &[(1, 0, &big), (2, 0, b"x")]);
        // A snapshot length that takes it whole (65535 would cut it).
        bytes[16..20].copy_from_slice(&262_144u32.to_le_bytes());
        let mut r = Reader::new(Box::new(Trickle(io::Cursor::new(bytes)))).expect("capture");
        let mut lens = Vec::new();
        while let Ok(Some((f, _))) = r.next_frame() {
            lens.push(f.data.len());
        }
        assert_eq!(lens, [200_000, 1]);
    }
}
