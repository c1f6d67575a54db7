//! The reader and decoders of a file replay on threads of their own
//! (`replay --workers N`, N >= 1; 1 is the default with two cores).
//!
//! - With 1, a reader thread reads the capture files and decodes every
//!   frame.
//! - With N >= 2, the reader only reads, and deals its batches in turn to
//!   N - 1 decode workers, which decode them and compute the duplicate
//!   fingerprints with the engine's own [`FrameHasher`].
//!
//! Either way the engine thread takes the batches in the order they were
//! read ([`BatchSource::in_turn`]). So it sees the same frames in the same
//! order, with the same decoding and fingerprints, as when it does
//! everything itself, and the results are identical (`tests/workers.rs`).
//!
//! A batch is the reader's own read buffer, with the frames where they
//! were read ([`FileSource::hand_off`]), and it goes back to the reader for
//! reuse. That was measured 8.5 % faster than copying each frame into a
//! batch (docs/performance.md).
//!
//! Where the split lies was measured too. With the fingerprints also
//! computed by the reader of `--workers 1`, the replay took 0.226 s
//! against 0.198 s with them on the engine thread (medians of 11
//! alternated runs), so they stay on the engine.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::Config;
use crate::decode::{Decoded, Decoder};
use crate::detect::engine::FrameHasher;
use crate::source::batch::{Batch, BatchSource, Handed};
use crate::source::files::FileSource;
use crate::source::prepared::PackedDecoded;
use crate::source::{FrameSource, Step};

/// Batches (each a read buffer of 256 KiB, some 550 frames of the mixed
/// capture) in flight between two threads.
const IN_FLIGHT: usize = 4;

/// Most threads `--workers` takes by default: a reader and 3 decode
/// workers. One engine thread needs about 155 ns a packet where a reader
/// needs 121 and a decode worker 91 (docs/performance.md), so more would
/// only wait for it.
const DEFAULT_MAX_WORKERS: usize = 4;

/// The default of `--workers`: a thread per core beyond the engine's, at
/// least 1 (on one core the reader thread still overlaps the disk) and at
/// most [`DEFAULT_MAX_WORKERS`].
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .clamp(1, DEFAULT_MAX_WORKERS)
}

/// The engine thread's end: decoded frames from the reader thread.
pub struct StagedSource {
    batches: BatchSource,
    stop: Arc<AtomicBool>,
    /// The file the reader is in, for progress lines.
    file: Arc<AtomicUsize>,
    paths: Vec<String>,
    /// The reader thread: it returns its file source.
    reader: Option<JoinHandle<FileSource>>,
    decoders: Vec<JoinHandle<()>>,
}

/// The reader thread: frames read (and, with `decoder`, decoded) into
/// batches that are the reader's own buffers, handed over whole with no
/// copy per frame ([`FileSource::hand_off`]): a batch goes to `send` when
/// its buffer is retired, full or at the end of its file. Stops when
/// `send` refuses (the other end is gone).
fn read(
    mut src: FileSource,
    decoder: Option<Decoder>,
    mut send: impl FnMut(Batch) -> bool,
    pool: Receiver<Batch>,
    stop: Arc<AtomicBool>,
    file: Arc<AtomicUsize>,
) -> FileSource {
    src.hand_off();
    let mut batch = Batch::for_buffer();
    // Sends the batch, whose frames lie in `buf`, and starts the next one
    // (a batch the engine is done with, whose buffer is read into again).
    let mut flush = |src: &mut FileSource, batch: &mut Batch, buf: Vec<u8>| -> bool {
        if batch.is_empty() {
            src.give_spare(buf);
            return true;
        }
        let mut next = match pool.try_recv() {
            Ok(mut b) => {
                src.give_spare(b.take_arena());
                b.clear(0);
                b
            }
            Err(_) => Batch::for_buffer(),
        };
        std::mem::swap(batch, &mut next);
        next.set_arena(buf);
        send(next)
    };
    let mut n = 0u32;
    loop {
        n = n.wrapping_add(1);
        if n % 1024 == 0 {
            if stop.load(Ordering::Relaxed) {
                src.stop();
                break;
            }
            if let Some((i, _, _)) = src.position() {
                file.store(i, Ordering::Relaxed);
            }
        }
        let h = match src.next(Duration::from_millis(100)) {
            Step::Frame(fr, dlt) => Some(Handed {
                ts_us: fr.ts_us,
                ts_ns: fr.ts_ns,
                linktype: fr.linktype,
                orig_len: fr.orig_len,
                start: 0,
                len: fr.data.len(),
                dlt,
                packed: decoder.as_ref().map(|decoder| {
                    let mut d = Decoded::default();
                    decoder.decode_into(fr.linktype, fr.orig_len, fr.data, &mut d);
                    PackedDecoded::pack(fr.data, &d)
                }),
            }),
            // A file ended (or was cut off): the next one opens on the next
            // call.
            Step::Idle => None,
            // A file source yields frames only.
            Step::Datagram(_) | Step::Prepared(_) => None,
            Step::End => break,
        };
        // The frames so far lie in a buffer no longer read into: they go.
        if let Some(buf) = src.take_retired()
            && !flush(&mut src, &mut batch, buf)
        {
            break;
        }
        if let Some(mut h) = h {
            h.start = src.last_frame_start();
            batch.push_handed(h);
        }
    }
    src.close_current();
    if let Some(buf) = src.take_retired() {
        let _ = flush(&mut src, &mut batch, buf);
    }
    src
}

/// A decode worker (`replay --workers N` and `live --workers N`, N >= 2):
/// decodes each batch `next` gives and computes its fingerprints, and
/// hands it to the engine thread over `tx`, which takes the batches back
/// in their order (dealt in turn by the replay reader, numbered by each
/// live capture thread). Ends when `next` gives none or the engine thread
/// is gone.
pub fn decode_batches(
    decoder: Decoder,
    hasher: FrameHasher,
    mut next: impl FnMut() -> Option<Batch>,
    tx: SyncSender<Batch>,
) {
    while let Some(mut b) = next() {
        b.decode_each(&decoder, |d| hasher.hashes(d));
        if tx.send(b).is_err() {
            break;
        }
    }
}

impl StagedSource {
    /// Starts the reader thread on `paths`, with `workers` threads beside
    /// the engine: 1, the reader decodes too; N >= 2, the reader reads and
    /// N - 1 decode workers decode and fingerprint.
    pub fn start(paths: Vec<String>, cfg: &Config, workers: usize) -> std::io::Result<Self> {
        let decoders = workers.saturating_sub(1);
        let (back, pool) = std::sync::mpsc::sync_channel::<Batch>(IN_FLIGHT * (decoders + 1));
        let stop = Arc::new(AtomicBool::new(false));
        let file = Arc::new(AtomicUsize::new(0));
        let mut src = FileSource::new(paths.clone(), None);
        // A stop (a signal) ends a pipe or FIFO that gives nothing more.
        src.stop_on(stop.clone());
        let (st, f) = (stop.clone(), file.clone());
        let mut decode_threads = Vec::new();
        let (reader, batches) = if decoders == 0 {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(IN_FLIGHT);
            let decoder = Decoder::new(&cfg.decode);
            let send = move |b| tx.send(b).is_ok();
            let reader = std::thread::Builder::new()
                .name("reader".to_owned())
                .spawn(move || read(src, Some(decoder), send, pool, st, f))?;
            (reader, BatchSource::in_turn(vec![rx], Some(back)))
        } else {
            let (mut ins, mut outs) = (Vec::new(), Vec::new());
            for i in 0..decoders {
                // Few batches wait for a worker, more for the engine: a
                // worker that is ahead keeps going while the engine is busy.
                let (in_tx, in_rx) = std::sync::mpsc::sync_channel::<Batch>(2);
                let (out_tx, out_rx) = std::sync::mpsc::sync_channel::<Batch>(IN_FLIGHT / 2);
                let (decoder, hasher) = (Decoder::new(&cfg.decode), FrameHasher::new(cfg));
                let h = std::thread::Builder::new()
                    .name(format!("decode-{i}"))
                    .spawn(move || decode_batches(decoder, hasher, || in_rx.recv().ok(), out_tx))?;
                decode_threads.push(h);
                ins.push(in_tx);
                outs.push(out_rx);
            }
            // Batch k goes to worker k mod N, and the engine takes them in
            // that order: it sees the frames in the order read.
            let mut k = 0usize;
            let send = move |b| {
                let ok = ins.get(k % ins.len()).is_some_and(|tx| tx.send(b).is_ok());
                k = k.wrapping_add(1);
                ok
            };
            let reader = std::thread::Builder::new()
                .name("reader".to_owned())
                .spawn(move || read(src, None, send, pool, st, f))?;
            (reader, BatchSource::in_turn(outs, Some(back)))
        };
        Ok(StagedSource {
            batches,
            stop,
            file,
            paths,
            reader: Some(reader),
            decoders: decode_threads,
        })
    }

    /// Waits for the reader thread (and the decode workers); its file
    /// reports and problems. The pipeline normally read to [`Step::End`]
    /// (after a stop too), so they have finished; batches still in flight
    /// are discarded.
    pub fn finish(mut self) -> FileSource {
        self.stop.store(true, Ordering::Relaxed);
        let (reader, decoders) = (self.reader.take(), std::mem::take(&mut self.decoders));
        // A thread blocked on a full channel is released by taking.
        while !(reader.as_ref().is_none_or(JoinHandle::is_finished)
            && decoders.iter().all(JoinHandle::is_finished))
        {
            if matches!(self.batches.next(Duration::from_millis(10)), Step::End) {
                break;
            }
        }
        for d in decoders {
            let _ = d.join();
        }
        reader
            .and_then(|r| r.join().ok())
            .unwrap_or_else(|| FileSource::new(Vec::new(), None))
    }
}

impl FrameSource for StagedSource {
    #[inline]
    fn next(&mut self, wait: Duration) -> Step<'_> {
        self.batches.next(wait)
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn drains_after_stop(&self) -> bool {
        true
    }

    fn position(&self) -> Option<(usize, usize, &str)> {
        let i = self.file.load(Ordering::Relaxed);
        Some((
            i,
            self.paths.len(),
            self.paths.get(i).map_or("", String::as_str),
        ))
    }
}

impl Drop for StagedSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
