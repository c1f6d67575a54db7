//! The reader/decoder stage of a file replay on its own thread
//! (`replay --workers 1`, the default with two cores or more): it reads the
//! capture files and decodes every frame, and hands the frames with their
//! decoding to the engine thread in the batches live capture threads send
//! ([`Batch::push_decoded`], read by [`BatchSource`]) over a bounded
//! channel. Where the split lies was measured: with the duplicate
//! fingerprints computed in the reader too, the reader was the busier
//! thread (55 % of the CPU time) and the pair ran at 1.03x the single
//! thread; with them on the engine side the two are balanced (47/53 %) and
//! the pair runs at 1.53x. The engine sees the same frames in the same
//! order with the same decoding as when it decodes them itself, so the
//! results are identical (`tests/workers.rs`); only the work is on two
//! cores. Read batches go back to the reader for reuse.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::Config;
use crate::decode::{Decoded, Decoder};
use crate::detect::engine::FrameHasher;
use crate::source::batch::{Batch, BatchSource};
use crate::source::files::FileSource;
use crate::source::{FrameSource, Step};

/// Frames per batch: four times a capture thread's, measured (fewer
/// hand-overs between the threads).
const BATCH: usize = 1024;
/// Batches in flight.
const IN_FLIGHT: usize = 8;

/// The engine thread's end: decoded frames from the reader thread.
pub struct StagedSource {
    batches: BatchSource,
    stop: Arc<AtomicBool>,
    /// The file the reader is in, for progress lines.
    file: Arc<AtomicUsize>,
    paths: Vec<String>,
    /// The reader first (it returns its file source), then the decode
    /// workers.
    threads: Vec<JoinHandle<Option<FileSource>>>,
}

/// The reader thread: frames read (and, with `decoder`, decoded) into
/// batches, each handed to `send` when full or when the capture's link
/// type changes (a batch has one). Stops when `send` refuses (the other
/// end is gone).
fn read(
    mut src: FileSource,
    decoder: Option<Decoder>,
    mut send: impl FnMut(Batch) -> bool,
    pool: Receiver<Batch>,
    stop: Arc<AtomicBool>,
    file: Arc<AtomicUsize>,
) -> FileSource {
    // A batch the engine has read, emptied, or a new one.
    let fresh = |dlt: i32| match pool.try_recv() {
        Ok(mut b) => {
            b.clear(dlt);
            b
        }
        Err(_) => Batch::with_frames(dlt, BATCH),
    };
    let mut batch = Batch::with_frames(0, BATCH);
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
        match src.next(Duration::from_millis(100)) {
            Step::Frame(fr, dlt) => {
                if dlt != batch.dlt && !batch.is_empty() {
                    let full = std::mem::replace(&mut batch, fresh(dlt));
                    if !send(full) {
                        break;
                    }
                }
                batch.dlt = dlt;
                match &decoder {
                    Some(decoder) => {
                        let mut d = Decoded::default();
                        decoder.decode_into(fr.linktype, fr.orig_len, fr.data, &mut d);
                        batch.push_decoded(&fr, &d);
                    }
                    None => batch.push(&fr),
                }
                if batch.is_full() {
                    let full = std::mem::replace(&mut batch, fresh(dlt));
                    if !send(full) {
                        break;
                    }
                }
            }
            // A file ended (or was cut off): the next one opens on the next
            // call.
            Step::Idle => {}
            // A file source yields frames only.
            Step::Datagram(_) | Step::Prepared(_) => {}
            Step::End => break,
        }
    }
    if !batch.is_empty() {
        let _ = send(batch);
    }
    src.close_current();
    src
}

/// A decode worker (`--workers N`, N >= 2): decodes the batches the reader
/// deals it and computes their fingerprints, for the engine thread, which
/// takes the workers' batches in the order they were dealt.
fn decode(decoder: Decoder, hasher: FrameHasher, rx: Receiver<Batch>, tx: SyncSender<Batch>) {
    while let Ok(mut b) = rx.recv() {
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
        let src = FileSource::new(paths.clone(), None);
        let (st, f) = (stop.clone(), file.clone());
        let mut threads = Vec::new();
        let batches = if decoders == 0 {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(IN_FLIGHT);
            let decoder = Decoder::new(&cfg.decode);
            let send = move |b| tx.send(b).is_ok();
            let reader = std::thread::Builder::new()
                .name("reader".to_owned())
                .spawn(move || Some(read(src, Some(decoder), send, pool, st, f)))?;
            threads.push(reader);
            BatchSource::recycling(rx, back)
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
                    .spawn(move || {
                        decode(decoder, hasher, in_rx, out_tx);
                        None
                    })?;
                threads.push(h);
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
                .spawn(move || Some(read(src, None, send, pool, st, f)))?;
            threads.insert(0, reader);
            BatchSource::in_turn(outs, Some(back))
        };
        Ok(StagedSource {
            batches,
            stop,
            file,
            paths,
            threads,
        })
    }

    /// Waits for the reader thread (and the decode workers); its file
    /// reports and problems. The pipeline normally read to [`Step::End`]
    /// (after a stop too), so they have finished; batches still in flight
    /// are discarded.
    pub fn finish(mut self) -> FileSource {
        self.stop.store(true, Ordering::Relaxed);
        let threads = std::mem::take(&mut self.threads);
        // A thread blocked on a full channel is released by taking.
        while !threads.iter().all(JoinHandle::is_finished) {
            if matches!(self.batches.next(Duration::from_millis(10)), Step::End) {
                break;
            }
        }
        let mut threads = threads.into_iter();
        let Some(reader) = threads.next() else {
            return FileSource::new(Vec::new(), None);
        };
        let files = reader
            .join()
            .ok()
            .and_then(|r| r)
            .unwrap_or_else(|| FileSource::new(Vec::new(), None));
        for t in threads {
            let _ = t.join();
        }
        files
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
