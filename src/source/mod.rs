//! Capture sources. Frames are borrowed from libpcap's buffer; this is the
//! only module that touches the `pcap` crate.
pub mod batch;
pub mod files;
pub mod flow;
pub mod live;
pub mod syslog;

use std::io::Read;
use std::time::Duration;

use crate::decode::LinkType;

/// One captured frame, borrowed from the capture buffer until the next read.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Capture time, microseconds since the Unix epoch.
    pub ts_us: i64,
    pub linktype: LinkType,
    /// Length of the frame on the wire.
    pub orig_len: u32,
    /// The captured bytes (`caplen` of them).
    pub data: &'a [u8],
}

impl<'a> Frame<'a> {
    /// A frame from a libpcap packet.
    fn from_pcap(p: &pcap::Packet<'a>, linktype: LinkType) -> Self {
        // time_t and suseconds_t are i64 on 64-bit Linux, narrower elsewhere.
        #[allow(clippy::useless_conversion)]
        let ts_us = i64::from(p.header.ts.tv_sec) * 1_000_000 + i64::from(p.header.ts.tv_usec);
        Frame {
            ts_us,
            linktype,
            orig_len: p.header.len,
            data: p.data,
        }
    }
}

/// What a frame source has for the pipeline.
pub enum Step<'a> {
    /// A frame and the DLT of the capture it came from (for evidence).
    Frame(Frame<'a>, i32),
    /// Nothing now (waited up to the time asked, or a file ended): the
    /// pipeline does its housekeeping and asks again.
    Idle,
    /// No more frames, ever.
    End,
}

/// Frames in: capture files, or batches from capture threads. The one
/// pipeline driver reads every source through this.
pub trait FrameSource {
    /// The next frame, waiting at most about `wait` for one.
    fn next(&mut self, wait: Duration) -> Step<'_>;
    /// Reading stops early (a signal): release what is open.
    fn stop(&mut self) {}
    /// Which file is being read (index, count, path), for progress lines.
    fn position(&self) -> Option<(usize, usize, &str)> {
        None
    }
}

/// Why a capture could not be opened or read to its end.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: cannot open capture: {reason}")]
    Open { path: String, reason: String },
    #[error(
        "{path}: capture cut off after packet {packets}{at}: {reason}",
        at = offset.map(|o| format!(" (byte offset {o})")).unwrap_or_default()
    )]
    Truncated {
        path: String,
        packets: u64,
        offset: Option<u64>,
        reason: String,
    },
}

/// Container format of a capture file, sniffed from its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Pcap,
    Pcapng,
    /// Standard input or an unreadable prefix: libpcap decides.
    Unknown,
}

/// A pcap or pcapng file (or `-` for standard input), read with libpcap.
pub struct CaptureFile {
    cap: pcap::Capture<pcap::Offline>,
    path: String,
    dlt: i32,
    linktype: LinkType,
    container: Container,
    packets: u64,
    bytes: u64,
    /// Byte offset of the next record (classic pcap only).
    offset: u64,
    done: bool,
    /// Why reading stopped before the end ([`CaptureFile::read`]).
    error: Option<SourceError>,
}

const PCAP_GLOBAL_HEADER: u64 = 24;
const PCAP_RECORD_HEADER: u64 = 16;

fn sniff(path: &str) -> Container {
    if path == "-" {
        return Container::Unknown;
    }
    let mut magic = [0u8; 4];
    match std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)) {
        Ok(()) => match magic {
            [0x0a, 0x0d, 0x0d, 0x0a] => Container::Pcapng,
            [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d] => Container::Pcap,
            _ => Container::Unknown,
        },
        Err(_) => Container::Unknown,
    }
}

impl CaptureFile {
    /// Opens a capture file; `-` reads standard input.
    pub fn open(path: &str) -> Result<Self, SourceError> {
        // A FIFO or `<(cmd)` (a pipe behind /dev/fd) can be opened only
        // once: only regular files are sniffed, the rest goes straight to
        // libpcap.
        let mut regular = false;
        if path != "-" {
            // libpcap's own message for a directory or a missing file is
            // terse; say which it is.
            match std::fs::metadata(path) {
                Err(e) => {
                    return Err(SourceError::Open {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    });
                }
                Ok(m) if m.is_dir() => {
                    return Err(SourceError::Open {
                        path: path.to_owned(),
                        reason: "is a directory".to_owned(),
                    });
                }
                Ok(m) => regular = m.is_file(),
            }
        }
        let container = if regular {
            sniff(path)
        } else {
            Container::Unknown
        };
        let cap = pcap::Capture::from_file(path).map_err(|e| SourceError::Open {
            path: path.to_owned(),
            reason: match e {
                pcap::Error::PcapError(m) if m.contains("unknown file format") => {
                    format!("not a pcap or pcapng capture ({m})")
                }
                other => other.to_string(),
            },
        })?;
        let dlt = cap.get_datalink().0;
        Ok(CaptureFile {
            cap,
            path: path.to_owned(),
            dlt,
            linktype: LinkType::from_dlt(dlt),
            container,
            packets: 0,
            bytes: 0,
            offset: PCAP_GLOBAL_HEADER,
            done: false,
            error: None,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }
    #[inline]
    pub fn dlt(&self) -> i32 {
        self.dlt
    }
    pub fn linktype(&self) -> LinkType {
        self.linktype
    }
    pub fn container(&self) -> Container {
        self.container
    }
    /// Frames read so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }
    /// Wire bytes (`orig_len`) of the frames read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The next frame, or None at the end or when the file is cut off (the
    /// error is kept for [`CaptureFile::take_error`]).
    #[inline]
    pub fn read(&mut self) -> Option<Frame<'_>> {
        if self.done {
            return None;
        }
        match self.cap.next_packet() {
            Ok(p) => {
                self.packets += 1;
                self.bytes += u64::from(p.header.len);
                self.offset += PCAP_RECORD_HEADER + u64::from(p.header.caplen);
                Some(Frame::from_pcap(&p, self.linktype))
            }
            Err(pcap::Error::NoMorePackets) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                self.error = Some(SourceError::Truncated {
                    path: self.path.clone(),
                    packets: self.packets,
                    offset: (self.container == Container::Pcap).then_some(self.offset),
                    reason: e.to_string(),
                });
                None
            }
        }
    }

    /// Whether the file has been read to its end (or its cut).
    #[inline]
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Why the file could not be read to its end, once.
    pub fn take_error(&mut self) -> Option<SourceError> {
        self.error.take()
    }
}

/// Reads every frame of `path` with nothing else done: the ceiling any
/// libpcap-based reader can reach. Returns (frames, wire bytes).
pub fn plain_read_loop(path: &str) -> Result<(u64, u64), SourceError> {
    let mut f = CaptureFile::open(path)?;
    let mut sum = 0u64;
    while let Some(fr) = f.read() {
        sum = sum.wrapping_add(fr.data.len() as u64);
    }
    if let Some(e) = f.take_error() {
        return Err(e);
    }
    std::hint::black_box(sum);
    Ok((f.packets(), f.bytes()))
}
