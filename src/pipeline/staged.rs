//! The reader/decoder stage of a file replay on its own thread
//! (`replay --workers 1`, the default with two cores or more): it reads the
//! capture files and decodes every frame, and hands batches of frames with
//! their decoding to the engine thread over a bounded channel. Where the
//! split lies was measured: with the duplicate fingerprints computed in
//! the reader too, the reader was the busier thread (55 % of the CPU time)
//! and the pair ran at 1.03x the single thread; with them on the engine
//! side the two are balanced (47/53 %) and the pair runs at 1.53x. The engine sees the same frames in the
//! same order with the same decoding as when it decodes them itself, so
//! the results are identical (`tests/workers.rs`); only the work is on two
//! cores. Batches go back to the reader for reuse: no allocation per
//! batch.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::Config;
use crate::decode::{Decoded, Decoder, LinkType};
use crate::source::files::FileSource;
use crate::source::prepared::{PackedDecoded, Prepared};
use crate::source::{Frame, FrameSource, Step};

/// Frames per batch.
const BATCH: usize = 1024;
/// Batches in flight (and in the reuse pool).
const IN_FLIGHT: usize = 8;

/// What the reader stage found in one frame.
#[derive(Debug, Clone, Copy)]
struct Meta {
    ts_us: i64,
    linktype: LinkType,
    orig_len: u32,
    dlt: i32,
    /// The frame's bytes in the arena.
    start: usize,
    len: usize,
    decoded: PackedDecoded,
}

/// Frames with their decoding.
pub struct PreparedBatch {
    arena: Vec<u8>,
    metas: Vec<Meta>,
}

impl PreparedBatch {
    fn new() -> Self {
        PreparedBatch {
            arena: Vec::with_capacity(BATCH * 512),
            metas: Vec::with_capacity(BATCH),
        }
    }

    fn clear(&mut self) {
        self.arena.clear();
        self.metas.clear();
    }

    /// Adds a frame with what the reader found in it.
    fn push(&mut self, fr: &Frame<'_>, dlt: i32, d: &Decoded<'_>) {
        let start = self.arena.len();
        self.arena.extend_from_slice(fr.data);
        self.metas.push(Meta {
            ts_us: fr.ts_us,
            linktype: fr.linktype,
            orig_len: fr.orig_len,
            dlt,
            start,
            len: fr.data.len(),
            decoded: PackedDecoded::pack(fr.data, d),
        });
    }

    fn len(&self) -> usize {
        self.metas.len()
    }
}

/// Where the reader is, for progress lines.
#[derive(Debug, Default)]
struct Position {
    file: AtomicUsize,
}

/// The engine thread's end: prepared frames from the reader thread.
pub struct StagedSource {
    rx: Receiver<PreparedBatch>,
    back: SyncSender<PreparedBatch>,
    current: Option<PreparedBatch>,
    pos: usize,
    stop: Arc<AtomicBool>,
    position: Arc<Position>,
    paths: Vec<String>,
    reader: Option<JoinHandle<FileSource>>,
}

impl StagedSource {
    /// Starts the reader thread on `paths`.
    pub fn start(paths: Vec<String>, cfg: &Config) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<PreparedBatch>(IN_FLIGHT);
        let (back, pool) = std::sync::mpsc::sync_channel::<PreparedBatch>(IN_FLIGHT + 2);
        let stop = Arc::new(AtomicBool::new(false));
        let position = Arc::new(Position::default());
        let decoder = Decoder::new(&cfg.decode);
        let (st, pos, list) = (stop.clone(), position.clone(), paths.clone());
        let reader = std::thread::Builder::new()
            .name("reader".to_owned())
            .spawn(move || {
                let mut src = FileSource::new(list, None);
                let mut batch = PreparedBatch::new();
                let mut n = 0u32;
                loop {
                    n = n.wrapping_add(1);
                    if n % 1024 == 0 {
                        if st.load(Ordering::Relaxed) {
                            src.stop();
                            break;
                        }
                        if let Some((i, _, _)) = src.position() {
                            pos.file.store(i, Ordering::Relaxed);
                        }
                    }
                    match src.next(Duration::from_millis(100)) {
                        Step::Frame(fr, dlt) => {
                            let mut d = Decoded::default();
                            decoder.decode_into(fr.linktype, fr.orig_len, fr.data, &mut d);
                            batch.push(&fr, dlt, &d);
                            if batch.len() >= BATCH {
                                // A batch the engine is done with, if any
                                // came back; else a new one (at most
                                // IN_FLIGHT + 2 exist).
                                let next = pool.try_recv().unwrap_or_else(|_| PreparedBatch::new());
                                let full = std::mem::replace(&mut batch, next);
                                if tx.send(full).is_err() {
                                    break;
                                }
                                batch.clear();
                            }
                        }
                        // A file ended (or was cut off): the next one opens
                        // on the next call.
                        Step::Idle => {}
                        // A file source yields frames only.
                        Step::Datagram(_) | Step::Prepared(_) => {}
                        Step::End => break,
                    }
                }
                if batch.len() > 0 {
                    let _ = tx.send(batch);
                }
                src.close_current();
                src
            })?;
        Ok(StagedSource {
            rx,
            back,
            current: None,
            pos: 0,
            stop,
            position,
            paths,
            reader: Some(reader),
        })
    }

    /// Waits for the reader thread; its file reports and problems.
    pub fn finish(mut self) -> FileSource {
        self.stop.store(true, Ordering::Relaxed);
        // Unblock a reader waiting to send.
        while self.rx.try_recv().is_ok() {}
        self.reader
            .take()
            .and_then(|h| {
                // Drain while it finishes: it may be blocked on a full
                // channel.
                loop {
                    if h.is_finished() {
                        return h.join().ok();
                    }
                    match self.rx.recv_timeout(Duration::from_millis(10)) {
                        Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return h.join().ok(),
                    }
                }
            })
            .unwrap_or_else(|| FileSource::new(Vec::new(), None))
    }

    /// The next prepared frame, waiting at most `wait` for a batch.
    #[inline]
    pub fn next_prepared(&mut self, wait: Duration) -> Result<Prepared<'_>, bool> {
        let exhausted = self.current.as_ref().is_none_or(|b| self.pos >= b.len());
        if exhausted {
            if let Some(b) = self.current.take() {
                let _ = self.back.try_send(b);
            }
            match self.rx.recv_timeout(wait) {
                Ok(b) => {
                    self.current = Some(b);
                    self.pos = 0;
                }
                Err(RecvTimeoutError::Timeout) => return Err(false),
                Err(RecvTimeoutError::Disconnected) => return Err(true),
            }
        }
        let i = self.pos;
        self.pos += 1;
        let Some(b) = self.current.as_ref() else {
            return Err(false);
        };
        let Some(m) = b.metas.get(i) else {
            return Err(false);
        };
        let Some(data) = b.arena.get(m.start..m.start + m.len) else {
            return Err(false);
        };
        let decoded = m.decoded.unpack(data);
        Ok(Prepared {
            frame: Frame {
                ts_us: m.ts_us,
                linktype: m.linktype,
                orig_len: m.orig_len,
                data,
            },
            dlt: m.dlt,
            decoded,
        })
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn position(&self) -> Option<(usize, usize, &str)> {
        let i = self.position.file.load(Ordering::Relaxed);
        Some((
            i,
            self.paths.len(),
            self.paths.get(i).map_or("", String::as_str),
        ))
    }
}

impl FrameSource for StagedSource {
    #[inline]
    fn next(&mut self, wait: Duration) -> Step<'_> {
        match self.next_prepared(wait) {
            Ok(p) => Step::Prepared(p),
            Err(true) => Step::End,
            Err(false) => Step::Idle,
        }
    }

    fn stop(&mut self) {
        StagedSource::stop(self);
    }

    fn drains_after_stop(&self) -> bool {
        true
    }

    fn position(&self) -> Option<(usize, usize, &str)> {
        StagedSource::position(self)
    }
}

impl Drop for StagedSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
