//! Capture files read in order as one stream of frames, optionally paced
//! at the capture's own rate.
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{CaptureFile, Frame, FrameSource, SourceError, Step};
use crate::decode::LinkType;

/// One input file as read: what the report lists.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    pub packets: u64,
    pub bytes: u64,
    pub linktype: String,
    /// pcapng blocks that carry no frame (statistics, name resolution,
    /// custom, unknown kinds), skipped.
    #[serde(skip_serializing_if = "is_zero")]
    pub skipped_blocks: u64,
    /// pcapng blocks skipped because they contradict themselves (lengths
    /// that disagree, an unknown interface, data past the block).
    #[serde(skip_serializing_if = "is_zero")]
    pub malformed_blocks: u64,
    /// Why the file could not be read to its end, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What went wrong with the inputs besides the frames read.
#[derive(Debug, Default)]
pub struct FileProblems {
    /// Files that could not be opened (nothing read from them).
    pub unreadable: Vec<SourceError>,
    /// Files cut off mid-record (frames before the cut are kept).
    pub truncated: Vec<SourceError>,
    /// Files whose link type is not decoded (frames counted only).
    pub unsupported: Vec<(String, i32)>,
}

/// A frame held back by pacing (copied out of libpcap's buffer).
struct Held {
    ts_us: i64,
    ts_ns: u16,
    linktype: LinkType,
    orig_len: u32,
    data: Vec<u8>,
    dlt: i32,
}

/// Capture files, one after the other.
pub struct FileSource {
    paths: Vec<String>,
    next: usize,
    current: Option<CaptureFile>,
    /// None: as fast as possible; Some(f): capture time / f.
    pace: Option<f64>,
    pace_start: Option<(Instant, i64)>,
    held: Option<Held>,
    /// The held frame was handed out: drop it on the next call.
    held_out: bool,
    /// The buffer of the last held frame, reused.
    spare: Vec<u8>,
    /// Zero-copy hand-off of the files' buffers ([`FileSource::hand_off`]).
    hand_off: bool,
    /// Buffers of closed files, oldest first, for
    /// [`FileSource::take_retired`].
    retired: Vec<Vec<u8>>,
    /// Buffers to read into, for the next file opened.
    spares: Vec<Vec<u8>>,
    pub reports: Vec<FileReport>,
    pub problems: FileProblems,
    /// Ends inputs that can block for ever ([`FileSource::stop_on`]).
    stop: Option<Arc<AtomicBool>>,
}

impl FileSource {
    pub fn new(paths: Vec<String>, pace: Option<f64>) -> Self {
        FileSource {
            paths,
            next: 0,
            current: None,
            pace,
            pace_start: None,
            held: None,
            held_out: false,
            spare: Vec::new(),
            hand_off: false,
            retired: Vec::new(),
            spares: Vec::new(),
            reports: Vec::new(),
            problems: FileProblems::default(),
            stop: None,
        }
    }

    /// Standard input, FIFOs and devices are read so that setting `stop`
    /// ends them, even while no byte comes ([`super::stream`]).
    pub fn stop_on(&mut self, stop: Arc<AtomicBool>) {
        self.stop = Some(stop);
    }

    /// Frames and wire bytes read so far, over all files (closed ones and
    /// the current one).
    pub fn totals(&self) -> (u64, u64) {
        let closed = self
            .reports
            .iter()
            .fold((0, 0), |(p, b), r| (p + r.packets, b + r.bytes));
        let cur = self
            .current
            .as_ref()
            .map_or((0, 0), |f| (f.packets(), f.bytes()));
        (closed.0 + cur.0, closed.1 + cur.1)
    }

    /// Zero-copy hand-off of the frames to another thread (the replay
    /// reader thread's batches; unpaced only): the files' read buffers are
    /// retired when full or when their file closes, with the frames read
    /// from them in place ([`FileSource::take_retired`],
    /// [`FileSource::last_frame_start`]), instead of being reused.
    pub fn hand_off(&mut self) {
        self.hand_off = self.pace.is_none();
        if self.hand_off
            && let Some(f) = self.current.as_mut()
        {
            f.reader.hand_off();
        }
    }

    /// The buffer that holds the frames read since the last call, if it is
    /// no longer read into (full, or its file closed); call it after every
    /// [`FileSource::next`]. Every frame returned before the last one lies
    /// in it. Buffers retired after it held no frame: they become spares.
    #[inline]
    pub fn take_retired(&mut self) -> Option<Vec<u8>> {
        let from_reader = self.current.as_mut().and_then(|f| f.reader.take_retired());
        if self.retired.is_empty() {
            return from_reader;
        }
        let mut all = std::mem::take(&mut self.retired)
            .into_iter()
            .chain(from_reader);
        let first = all.next();
        for b in all {
            self.give_spare(b);
        }
        first
    }

    /// A buffer to read into next (one the other thread is done with).
    pub fn give_spare(&mut self, b: Vec<u8>) {
        match self.current.as_mut() {
            Some(f) => f.reader.give_spare(b),
            None if self.spares.len() < 2 => self.spares.push(b),
            None => {}
        }
    }

    /// Where the last frame returned starts in its buffer.
    #[inline]
    pub fn last_frame_start(&self) -> usize {
        self.current
            .as_ref()
            .map_or(0, |f| f.reader.last_frame_start())
    }

    /// Closes the current file into the reports (at its end, on an error,
    /// or when reading stops early).
    pub fn close_current(&mut self) {
        if let Some(mut f) = self.current.take() {
            if self.hand_off {
                // A buffer retired by the last read comes first: it holds
                // the frames read before the one in use.
                self.retired.extend(f.reader.take_retired());
                self.retired.push(f.reader.take_buffer());
            }
            let error = f.take_error();
            let (skipped_blocks, malformed_blocks) = f.skipped_blocks();
            self.reports.push(FileReport {
                path: f.path().to_owned(),
                packets: f.packets(),
                bytes: f.bytes(),
                skipped_blocks,
                malformed_blocks,
                linktype: match f.linktype() {
                    LinkType::Unsupported(d) => format!("dlt-{d}"),
                    other => other.name().to_owned(),
                },
                error: error.as_ref().map(ToString::to_string),
            });
            if let Some(e) = error {
                self.problems.truncated.push(e);
            }
        }
    }

    /// Makes `current` a file with frames left to read, closing finished
    /// ones and opening the next; false when none is left. Called once per
    /// file boundary, not per frame ([`FileSource::next`] checks first).
    #[cold]
    #[inline(never)]
    fn ready(&mut self) -> bool {
        loop {
            match &self.current {
                Some(f) if !f.is_done() => return true,
                Some(_) => self.close_current(),
                None => {
                    let Some(path) = self.paths.get(self.next).cloned() else {
                        return false;
                    };
                    self.next += 1;
                    match CaptureFile::open_stoppable(&path, self.stop.as_ref()) {
                        Ok(mut f) => {
                            if let LinkType::Unsupported(dlt) = f.linktype() {
                                self.problems.unsupported.push((path, dlt));
                            }
                            if self.hand_off {
                                f.reader.hand_off();
                                if let Some(b) = self.spares.pop() {
                                    f.reader.give_spare(b);
                                }
                            }
                            self.current = Some(f);
                        }
                        Err(e) => {
                            self.reports.push(FileReport {
                                path,
                                packets: 0,
                                bytes: 0,
                                skipped_blocks: 0,
                                malformed_blocks: 0,
                                linktype: "none".to_owned(),
                                error: Some(e.to_string()),
                            });
                            self.problems.unreadable.push(e);
                        }
                    }
                }
            }
        }
    }

    /// The paced path: frames are copied out and handed over when due.
    #[inline(never)]
    fn next_paced(&mut self, factor: f64, wait: Duration) -> Step<'_> {
        if self.held_out {
            // Its buffer serves the next frame: no allocation per frame.
            if let Some(h) = self.held.take() {
                self.spare = h.data;
            }
            self.held_out = false;
        }
        if self.held.is_none() {
            if !self.ready() {
                return Step::End;
            }
            let Some(f) = self.current.as_mut() else {
                return Step::End;
            };
            match f.next_frame() {
                Some((fr, dlt)) => {
                    let mut data = std::mem::take(&mut self.spare);
                    data.clear();
                    data.extend_from_slice(fr.data);
                    self.held = Some(Held {
                        ts_us: fr.ts_us,
                        ts_ns: fr.ts_ns,
                        linktype: fr.linktype,
                        orig_len: fr.orig_len,
                        data,
                        dlt,
                    })
                }
                None => return Step::Idle,
            }
        }
        let Some(ts_us) = self.held.as_ref().map(|h| h.ts_us) else {
            return Step::Idle;
        };
        let (start, t0) = *self.pace_start.get_or_insert((Instant::now(), ts_us));
        let due = Duration::from_secs_f64(((ts_us - t0).max(0) as f64 / 1e6) / factor);
        let left = due.saturating_sub(start.elapsed());
        if !left.is_zero() {
            std::thread::sleep(left.min(wait));
            return Step::Idle;
        }
        self.held_out = true;
        let Some(h) = self.held.as_ref() else {
            return Step::Idle;
        };
        Step::Frame(
            Frame {
                ts_us: h.ts_us,
                ts_ns: h.ts_ns,
                linktype: h.linktype,
                orig_len: h.orig_len,
                data: &h.data,
            },
            h.dlt,
        )
    }
}

impl FrameSource for FileSource {
    #[inline]
    fn next(&mut self, wait: Duration) -> Step<'_> {
        if let Some(factor) = self.pace {
            return self.next_paced(factor, wait);
        }
        let reading = matches!(&self.current, Some(f) if !f.is_done());
        if !reading && !self.ready() {
            return Step::End;
        }
        let Some(f) = self.current.as_mut() else {
            return Step::End;
        };
        match f.next_frame() {
            Some((fr, dlt)) => Step::Frame(fr, dlt),
            // At its end or cut off: closed on the next call.
            None => Step::Idle,
        }
    }

    fn stop(&mut self) {
        self.held = None;
        self.close_current();
    }

    fn position(&self) -> Option<(usize, usize, &str)> {
        let i = self.next.saturating_sub(1);
        Some((
            i,
            self.paths.len(),
            self.paths.get(i).map_or("", String::as_str),
        ))
    }
}
