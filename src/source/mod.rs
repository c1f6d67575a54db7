//! Capture sources. Files are read by our own zero-copy reader
//! ([`reader`]); live capture (and the benchmarks' baseline) by libpcap:
//! this is the only module that touches the `pcap` crate.
pub mod batch;
pub mod files;
pub mod flow;
pub mod live;
pub mod prepared;
pub mod reader;
pub mod stream;
pub mod syslog;
pub mod udp;

use std::io::Read;
use std::time::Duration;

use crate::decode::LinkType;

/// One captured frame, borrowed from the capture buffer until the next read.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Capture time, microseconds since the Unix epoch (the engine's
    /// clock).
    pub ts_us: i64,
    /// Nanoseconds past `ts_us`'s microsecond (0..=999): with it a
    /// nanosecond capture's time stays exact (evidence files keep it);
    /// 0 for sources of microsecond resolution.
    pub ts_ns: u16,
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
            // libpcap live captures are opened at microsecond precision.
            ts_ns: 0,
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
    /// An export datagram received by a flow listener.
    Datagram(Datagram<'a>),
    /// A frame the thread that read it decoded already.
    Prepared(prepared::Prepared<'a>),
    /// Nothing now (waited up to the time asked, or a file ended): the
    /// pipeline does its housekeeping and asks again.
    Idle,
    /// No more frames, ever.
    End,
}

/// A UDP datagram of flow export traffic and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// Receive time, microseconds since the Unix epoch.
    pub ts_us: i64,
    /// The sender (the exporter for NetFlow v9 and IPFIX templates).
    pub exporter: core::net::IpAddr,
    pub payload: &'a [u8],
}

/// Frames in: capture files, or batches from capture threads. The one
/// pipeline driver reads every source through this.
pub trait FrameSource {
    /// The next frame, waiting at most about `wait` for one.
    fn next(&mut self, wait: Duration) -> Step<'_>;
    /// Reading stops early (a signal): release what is open.
    fn stop(&mut self) {}
    /// After [`FrameSource::stop`], frames already read are still handed
    /// out until [`Step::End`] (a reader thread's batches in flight), so
    /// that every frame read is also judged.
    fn drains_after_stop(&self) -> bool {
        false
    }
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
}

/// A pcap or pcapng file (or `-` for standard input; plain, gzip or
/// zstd), read with our own zero-copy reader ([`reader::Reader`]): frames
/// are slices of its buffer until the next read.
pub struct CaptureFile {
    reader: reader::Reader,
    path: String,
    dlt: i32,
    linktype: LinkType,
    container: Container,
    packets: u64,
    bytes: u64,
    done: bool,
    /// Why reading stopped before the end ([`CaptureFile::read`]).
    error: Option<SourceError>,
}

impl CaptureFile {
    /// Opens a capture file; `-` reads standard input. The file is opened
    /// once and its format sniffed from the bytes read, so FIFOs and
    /// `<(cmd)` read like files.
    pub fn open(path: &str) -> Result<Self, SourceError> {
        Self::open_stoppable(path, None)
    }

    /// [`CaptureFile::open`], and with `stop`, an input that can block for
    /// ever (standard input that is not a file, a FIFO, a device) is read
    /// on a thread of its own and ends when `stop` is set
    /// ([`stream::Stoppable`]).
    pub fn open_stoppable(
        path: &str,
        stop: Option<&std::sync::Arc<std::sync::atomic::AtomicBool>>,
    ) -> Result<Self, SourceError> {
        let open_err = |reason: String| SourceError::Open {
            path: path.to_owned(),
            reason,
        };
        let input: Box<dyn Read + Send> = if path == "-" {
            match stop {
                Some(stop) if !stdin_is_a_file() => Box::new(
                    stream::Stoppable::spawn(
                        "-",
                        || Ok(Box::new(std::io::stdin()) as Box<dyn Read + Send>),
                        stop.clone(),
                    )
                    .map_err(|e| open_err(e.to_string()))?,
                ),
                _ => Box::new(std::io::stdin()),
            }
        } else {
            let meta = match std::fs::metadata(path) {
                Err(e) => return Err(open_err(e.to_string())),
                Ok(m) if m.is_dir() => return Err(open_err("is a directory".to_owned())),
                Ok(m) => m,
            };
            match stop {
                // A FIFO's open waits for a writer: on the thread too.
                Some(stop) if !meta.is_file() => {
                    let p = path.to_owned();
                    Box::new(
                        stream::Stoppable::spawn(
                            path,
                            move || Ok(Box::new(std::fs::File::open(p)?) as Box<dyn Read + Send>),
                            stop.clone(),
                        )
                        .map_err(|e| open_err(e.to_string()))?,
                    )
                }
                _ => Box::new(std::fs::File::open(path).map_err(|e| open_err(e.to_string()))?),
            }
        };
        let stopped = || stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed));
        let reader = reader::Reader::new(input).map_err(|e| match e {
            _ if stopped() => open_err("stopped before its file header came".to_owned()),
            reader::ReadError::NotACapture(m) => {
                open_err(format!("not a pcap or pcapng capture ({m})"))
            }
            reader::ReadError::Broken { reason, .. } => open_err(reason),
        })?;
        let dlt = reader.dlt();
        let container = match reader.container() {
            reader::Container::Pcap => Container::Pcap,
            reader::Container::Pcapng => Container::Pcapng,
        };
        Ok(CaptureFile {
            reader,
            path: path.to_owned(),
            dlt,
            linktype: LinkType::from_dlt(dlt),
            container,
            packets: 0,
            bytes: 0,
            done: false,
            error: None,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }
    /// The DLT of the file (its first interface's, for pcapng; frames
    /// carry their own, see [`CaptureFile::next_frame`]).
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
    /// pcapng blocks skipped: of kinds that carry no frame, and
    /// malformed ones (lengths that disagree, an unknown interface).
    pub fn skipped_blocks(&self) -> (u64, u64) {
        (self.reader.skipped_blocks, self.reader.malformed_blocks)
    }

    /// The next frame, or None at the end or when the file is cut off (the
    /// error is kept for [`CaptureFile::take_error`]).
    #[inline]
    pub fn read(&mut self) -> Option<Frame<'_>> {
        self.next_frame().map(|(f, _)| f)
    }

    /// The next frame and the DLT of its interface.
    #[inline]
    pub fn next_frame(&mut self) -> Option<(Frame<'_>, i32)> {
        if self.done {
            return None;
        }
        match self.reader.next_frame() {
            Ok(Some((f, dlt))) => {
                self.packets += 1;
                self.bytes += u64::from(f.orig_len);
                Some((f, dlt))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                let (offset, reason) = match e {
                    reader::ReadError::Broken { offset, reason } => (Some(offset), reason),
                    reader::ReadError::NotACapture(m) => (None, m),
                };
                self.error = Some(SourceError::Truncated {
                    path: self.path.clone(),
                    packets: self.packets,
                    offset,
                    reason,
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

/// Whether standard input is a regular file (`< capture.pcap`), whose
/// reads never wait for a writer.
fn stdin_is_a_file() -> bool {
    use std::os::fd::AsFd;
    std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata())
        .is_ok_and(|m| m.is_file())
}

/// Reads every frame of `path` with our reader and nothing else done.
/// Returns (frames, wire bytes).
pub fn reader_loop(path: &str) -> Result<(u64, u64), SourceError> {
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

/// Reads every frame of `path` with libpcap and nothing else done: the
/// baseline of the benchmarks (what any libpcap-based reader, Suricata's,
/// Zeek's or Arkime's, can reach at most). Returns (frames, wire bytes).
pub fn plain_read_loop(path: &str) -> Result<(u64, u64), SourceError> {
    let mut cap = pcap::Capture::from_file(path).map_err(|e| SourceError::Open {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let (mut n, mut bytes, mut sum) = (0u64, 0u64, 0u64);
    loop {
        match cap.next_packet() {
            Ok(p) => {
                n += 1;
                bytes += u64::from(p.header.len);
                sum = sum.wrapping_add(p.data.len() as u64);
            }
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => {
                return Err(SourceError::Truncated {
                    path: path.to_owned(),
                    packets: n,
                    offset: None,
                    reason: e.to_string(),
                });
            }
        }
    }
    std::hint::black_box(sum);
    Ok((n, bytes))
}
