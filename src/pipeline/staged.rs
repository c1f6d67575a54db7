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
    reader: Option<JoinHandle<FileSource>>,
}

/// The reader thread: frames read and decoded into batches, a batch sent
/// when full or when the capture's link type changes (a batch has one).
fn read(
    mut src: FileSource,
    decoder: Decoder,
    (tx, pool): (SyncSender<Batch>, Receiver<Batch>),
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
                    if tx.send(full).is_err() {
                        break;
                    }
                }
                batch.dlt = dlt;
                let mut d = Decoded::default();
                decoder.decode_into(fr.linktype, fr.orig_len, fr.data, &mut d);
                batch.push_decoded(&fr, &d);
                if batch.is_full() {
                    let full = std::mem::replace(&mut batch, fresh(dlt));
                    if tx.send(full).is_err() {
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
        let _ = tx.send(batch);
    }
    src.close_current();
    src
}

impl StagedSource {
    /// Starts the reader thread on `paths`.
    pub fn start(paths: Vec<String>, cfg: &Config) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(IN_FLIGHT);
        let (back, pool) = std::sync::mpsc::sync_channel::<Batch>(IN_FLIGHT);
        let stop = Arc::new(AtomicBool::new(false));
        let file = Arc::new(AtomicUsize::new(0));
        let (decoder, src) = (
            Decoder::new(&cfg.decode),
            FileSource::new(paths.clone(), None),
        );
        let (st, f) = (stop.clone(), file.clone());
        let reader = std::thread::Builder::new()
            .name("reader".to_owned())
            .spawn(move || read(src, decoder, (tx, pool), st, f))?;
        Ok(StagedSource {
            batches: BatchSource::recycling(rx, back),
            stop,
            file,
            paths,
            reader: Some(reader),
        })
    }

    /// Waits for the reader thread; its file reports and problems. The
    /// pipeline normally read to [`Step::End`] (after a stop too), so the
    /// reader has finished; batches still in flight are discarded.
    pub fn finish(mut self) -> FileSource {
        self.stop.store(true, Ordering::Relaxed);
        let Some(h) = self.reader.take() else {
            return FileSource::new(Vec::new(), None);
        };
        // A reader blocked on a full channel is released by taking.
        while !h.is_finished() {
            if matches!(self.batches.next(Duration::from_millis(10)), Step::End) {
                break;
            }
        }
        h.join()
            .unwrap_or_else(|_| FileSource::new(Vec::new(), None))
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
