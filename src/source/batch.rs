//! Frames copied out of the capture buffer in batches, for a capture
//! thread to hand to the pipeline over a bounded channel.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use core::net::IpAddr;

use super::prepared::{Hashes, PackedDecoded, Prepared};
use super::{Datagram, Frame, FrameSource, Step};
use crate::decode::{Decoded, Decoder, LinkType};

/// Frames per batch.
pub const BATCH_FRAMES: usize = 256;

/// How many frames ahead the engine's end asks for a frame's bytes
/// ([`Batch::prefetch`]). Measured with `--workers 1` on the mixed
/// capture, medians of 11 to 21 alternated runs: on the Intel host 5 to
/// 9 % less wall time than without (0.188 against 0.199 s, 0.169 against
/// 0.186 s), 4 and 16 ahead no better than 8, and on a later, faster
/// Intel host 6 % (0.158 against 0.169 s, 15 runs); on the AMD host no
/// difference either way (docs/performance.md).
const PREFETCH_AHEAD: usize = 8;

/// Asks for the first `lines` cache lines of `bytes` (no effect on what
/// is computed; a prefetch never faults).
#[inline(always)]
fn prefetch_lines(bytes: &[u8], lines: usize) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64).take(lines) {
        // SAFETY: a prefetch is a hint: it reads nothing into the program
        // and never faults, and `line` is in bounds anyway.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, lines);
}

/// A batch of frames copied out of libpcap's buffer, or of export
/// datagrams received by a flow listener.
pub struct Batch {
    pub dlt: i32,
    arena: Vec<u8>,
    meta: Vec<(i64, u16, LinkType, u32, usize, usize)>,
    /// Datagrams: the sender of each (empty for frames).
    senders: Vec<IpAddr>,
    /// Frames decoded by the capture thread: the decoding of each (empty
    /// when the pipeline decodes them).
    decoded: Vec<PackedDecoded>,
    /// The fingerprints of each decoded frame, when the thread that decoded
    /// it computed them too (empty otherwise).
    hashes: Vec<Hashes>,
    /// The DLT of each frame, when they may differ (a batch that is a
    /// reader's buffer, [`Batch::push_handed`]); empty: `dlt` for all.
    dlts: Vec<i32>,
    /// Its place in its capture thread's stream (stream, number), when
    /// decode workers may hand batches over out of order (`live
    /// --workers N`, N >= 2): the receiving [`BatchSource`] puts them back
    /// in order.
    pub seq: Option<(u32, u64)>,
}

impl Batch {
    pub fn new(dlt: i32) -> Self {
        Batch {
            dlt,
            arena: Vec::with_capacity(BATCH_FRAMES * 512),
            meta: Vec::with_capacity(BATCH_FRAMES),
            ..Batch::for_buffer()
        }
    }

    /// A batch whose bytes will be a reader's buffer ([`Batch::push_handed`],
    /// [`Batch::set_arena`]): no arena of its own.
    pub fn for_buffer() -> Self {
        Batch {
            dlt: 0,
            arena: Vec::new(),
            meta: Vec::new(),
            senders: Vec::new(),
            decoded: Vec::new(),
            hashes: Vec::new(),
            dlts: Vec::new(),
            seq: None,
        }
    }

    /// Adds a frame that lies in the reader's buffer at `h.start`, not
    /// copied (zero-copy hand-off): that buffer becomes this batch's bytes
    /// ([`Batch::set_arena`]) before the batch is sent.
    #[inline]
    pub fn push_handed(&mut self, h: Handed) {
        self.meta
            .push((h.ts_us, h.ts_ns, h.linktype, h.orig_len, h.start, h.len));
        self.dlts.push(h.dlt);
        if let Some(p) = h.packed {
            self.decoded.push(p);
        }
    }

    /// The bytes of the frames added with [`Batch::push_handed`]: the
    /// buffer they were read into.
    pub fn set_arena(&mut self, buf: Vec<u8>) {
        self.arena = buf;
    }

    /// The batch's bytes, for the reader to read into again (their length
    /// kept, so that they need no zeroing).
    pub fn take_arena(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.arena)
    }

    /// Adds a frame with its decoding (capture threads that decode).
    #[inline]
    pub fn push_decoded(&mut self, fr: &Frame<'_>, d: &Decoded<'_>) {
        if self.decoded.capacity() == 0 {
            self.decoded.reserve(BATCH_FRAMES);
        }
        self.decoded.push(PackedDecoded::pack(fr.data, d));
        self.push(fr);
    }

    /// Decodes every frame of a batch filled by [`Batch::push`], and
    /// computes each one's fingerprints with `hash` (a decode worker of
    /// `replay --workers N`).
    pub fn decode_each(&mut self, decoder: &Decoder, mut hash: impl FnMut(&Decoded<'_>) -> Hashes) {
        self.decoded.clear();
        self.hashes.clear();
        self.decoded.reserve(self.meta.len());
        self.hashes.reserve(self.meta.len());
        for &(_, _, linktype, orig_len, start, len) in &self.meta {
            let data = self.arena.get(start..start + len).unwrap_or_default();
            // decode_into fills in what it finds: it starts from nothing.
            let mut d = Decoded::default();
            decoder.decode_into(linktype, orig_len, data, &mut d);
            self.hashes.push(hash(&d));
            self.decoded.push(PackedDecoded::pack(data, &d));
        }
    }

    /// A batch of export datagrams.
    pub fn datagrams() -> Self {
        Batch {
            dlt: -1,
            arena: Vec::with_capacity(BATCH_FRAMES * 1500),
            meta: Vec::with_capacity(BATCH_FRAMES),
            senders: Vec::with_capacity(BATCH_FRAMES),
            ..Batch::for_buffer()
        }
    }

    /// Adds a datagram to a batch made by [`Batch::datagrams`].
    pub fn push_datagram(&mut self, ts_us: i64, sender: IpAddr, payload: &[u8]) {
        let start = self.arena.len();
        self.arena.extend_from_slice(payload);
        self.meta.push((
            ts_us,
            0,
            LinkType::RawIp,
            payload.len() as u32,
            start,
            payload.len(),
        ));
        self.senders.push(sender);
    }

    pub fn push(&mut self, fr: &Frame<'_>) {
        let start = self.arena.len();
        self.arena.extend_from_slice(fr.data);
        self.meta.push((
            fr.ts_us,
            fr.ts_ns,
            fr.linktype,
            fr.orig_len,
            start,
            fr.data.len(),
        ));
    }

    pub fn is_full(&self) -> bool {
        self.meta.len() >= BATCH_FRAMES
    }

    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// Bytes of frame or datagram data held.
    pub fn bytes(&self) -> usize {
        self.arena.len()
    }

    pub fn len(&self) -> usize {
        self.meta.len()
    }

    /// Empties the batch for reuse, keeping its memory.
    pub fn clear(&mut self, dlt: i32) {
        self.dlt = dlt;
        self.arena.clear();
        self.meta.clear();
        self.senders.clear();
        self.decoded.clear();
        self.hashes.clear();
        self.dlts.clear();
        self.seq = None;
    }

    /// Asks the processor for the first two cache lines of frame `i`'s
    /// innermost packet (its headers and the payload prefix the
    /// fingerprints read), so that they are on their way from the reader's
    /// core while the engine works on the frames before it.
    #[inline(always)]
    fn prefetch(&self, i: usize) {
        let Some(&(_, _, _, _, start, len)) = self.meta.get(i) else {
            return;
        };
        let at = self.decoded.get(i).map_or(0, PackedDecoded::inner_start);
        if let Some(bytes) = self.arena.get(start + at.min(len)..start + len) {
            prefetch_lines(bytes, 2);
        }
    }

    fn frame(&self, i: usize) -> Option<Frame<'_>> {
        let &(ts_us, ts_ns, linktype, orig_len, start, len) = self.meta.get(i)?;
        Some(Frame {
            ts_us,
            ts_ns,
            linktype,
            orig_len,
            data: self.arena.get(start..start + len)?,
        })
    }
}

/// A frame read into a reader's buffer, for [`Batch::push_handed`].
#[derive(Debug, Clone, Copy)]
pub struct Handed {
    pub ts_us: i64,
    pub ts_ns: u16,
    pub linktype: LinkType,
    pub orig_len: u32,
    /// Where it starts in the buffer, and its captured length.
    pub start: usize,
    pub len: usize,
    pub dlt: i32,
    /// Its decoding, if the reader decoded it.
    pub packed: Option<PackedDecoded>,
}

/// Why [`BatchSource`] has no batch to read from.
enum NoBatch {
    Idle,
    End,
}

/// Numbered batches held back at most, waiting for an earlier one a
/// decode worker has not handed over yet; beyond that the earliest held
/// goes on, and the missing one is taken out of order when it comes
/// ([`BatchSource::late`]).
const MAX_HELD: usize = 64;

/// The receiving end: batches from any number of capture threads, read
/// frame by frame. Ends when every sender is gone. With several receivers
/// (the decode workers of a replay), batches are taken from each in turn,
/// which is the order the reader dealt them out in. Batches numbered by
/// their stream ([`Batch::seq`], the decode workers of `live --workers`)
/// are taken in the order of their numbers, per stream.
pub struct BatchSource {
    rx: Vec<Receiver<Batch>>,
    /// The receiver the next batch comes from.
    turn: usize,
    current: Option<Batch>,
    pos: usize,
    /// Where read batches go back to their sender for reuse, if anywhere.
    back: Option<SyncSender<Batch>>,
    /// The number of the batch due next, per stream.
    due: Vec<u64>,
    /// Numbered batches that came before one due earlier.
    held: Vec<Batch>,
    late: u64,
    /// Frames of late batches, per stream, for the sensor's metrics.
    late_frames: Option<Arc<[AtomicU64]>>,
}

impl BatchSource {
    pub fn new(rx: Receiver<Batch>) -> Self {
        BatchSource::in_turn(vec![rx], None)
    }

    /// Batches from each of `rx` in turn (one from the first, one from the
    /// second, …): the source ends when the receiver whose turn it is has
    /// no more. Read batches go back over `back`, if given.
    pub fn in_turn(rx: Vec<Receiver<Batch>>, back: Option<SyncSender<Batch>>) -> Self {
        BatchSource {
            rx,
            turn: 0,
            current: None,
            pos: 0,
            back,
            due: Vec::new(),
            held: Vec::new(),
            late: 0,
            late_frames: None,
        }
    }

    /// Counts the frames of each stream's late batches in `counts` (one
    /// per stream; `mirrorwatch_capture_reordered_packets_total`).
    pub fn counting_late(mut self, counts: Arc<[AtomicU64]>) -> Self {
        self.late_frames = Some(counts);
        self
    }

    /// Numbered batches taken after a later one of their stream, because
    /// more than [`MAX_HELD`] waited for them (0 unless a decode worker
    /// stalled that long).
    pub fn late(&self) -> u64 {
        self.late
    }

    /// A held batch that is due now: the one due in its stream, or, with
    /// too many held (or `all`, at the end), the lowest-numbered of the
    /// lowest stream (the batches before it are given up on).
    fn due_held(&mut self, all: bool) -> Option<Batch> {
        let ready = self
            .held
            .iter()
            .position(|b| b.seq.is_some_and(|(s, n)| self.due(s) == n));
        let i = match ready {
            Some(i) => i,
            None if all || self.held.len() > MAX_HELD => {
                let (i, _) = self
                    .held
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, b)| b.seq.map_or((0, 0), |(s, n)| (s, n)))?;
                i
            }
            None => return None,
        };
        let b = self.held.swap_remove(i);
        self.taken(&b);
        Some(b)
    }

    /// The number of the batch due next in stream `s`.
    fn due(&self, s: u32) -> u64 {
        self.due.get(s as usize).copied().unwrap_or(0)
    }

    /// Notes that `b` is taken: the next of its stream is due.
    fn taken(&mut self, b: &Batch) {
        if let Some((s, n)) = b.seq {
            let s = s as usize;
            if self.due.len() <= s {
                self.due.resize(s + 1, 0);
            }
            self.due[s] = self.due[s].max(n + 1);
        }
    }

    /// The next batch, or why there is none: a timeout, or the senders
    /// are gone and nothing is held.
    fn next_batch(&mut self, wait: Duration) -> Result<Batch, NoBatch> {
        if let Some(b) = self.due_held(false) {
            return Ok(b);
        }
        let deadline = std::time::Instant::now() + wait;
        loop {
            let Some(rx) = self.rx.get(self.turn) else {
                return Err(NoBatch::End);
            };
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(b) => {
                    self.turn = (self.turn + 1) % self.rx.len();
                    let Some((s, n)) = b.seq else {
                        return Ok(b);
                    };
                    let due = self.due(s);
                    if n < due {
                        // Waited for too long: taken out of order.
                        self.late += 1;
                        if let Some(c) = self.late_frames.as_ref().and_then(|c| c.get(s as usize)) {
                            c.fetch_add(b.len() as u64, Ordering::Relaxed);
                        }
                        return Ok(b);
                    }
                    if n == due {
                        self.taken(&b);
                        return Ok(b);
                    }
                    self.held.push(b);
                    if let Some(b) = self.due_held(false) {
                        return Ok(b);
                    }
                }
                Err(RecvTimeoutError::Timeout) => return Err(NoBatch::Idle),
                Err(RecvTimeoutError::Disconnected) => {
                    return self.due_held(true).ok_or(NoBatch::End);
                }
            }
        }
    }
}

impl FrameSource for BatchSource {
    #[inline]
    fn next(&mut self, wait: Duration) -> Step<'_> {
        let exhausted = self.current.as_ref().is_none_or(|b| self.pos >= b.len());
        if exhausted {
            if let (Some(back), Some(b)) = (&self.back, self.current.take()) {
                let _ = back.try_send(b);
            }
            match self.next_batch(wait) {
                Ok(b) => {
                    self.current = Some(b);
                    self.pos = 0;
                }
                Err(NoBatch::Idle) => return Step::Idle,
                Err(NoBatch::End) => return Step::End,
            }
        }
        let i = self.pos;
        self.pos += 1;
        match self.current.as_ref() {
            Some(b) => {
                b.prefetch(i + PREFETCH_AHEAD);
                match (b.frame(i), b.senders.get(i), b.decoded.get(i)) {
                    (Some(fr), Some(sender), _) => Step::Datagram(Datagram {
                        ts_us: fr.ts_us,
                        exporter: *sender,
                        payload: fr.data,
                    }),
                    (Some(fr), None, Some(d)) => Step::Prepared(Prepared {
                        decoded: d.unpack(fr.data),
                        frame: fr,
                        dlt: b.dlts.get(i).copied().unwrap_or(b.dlt),
                        hashes: b.hashes.get(i).copied(),
                    }),
                    (Some(fr), None, None) => {
                        Step::Frame(fr, b.dlts.get(i).copied().unwrap_or(b.dlt))
                    }
                    (None, _, _) => Step::Idle,
                }
            }
            None => Step::Idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch of one frame whose single byte is `tag`, numbered `seq`.
    fn numbered(seq: Option<(u32, u64)>, tag: u8) -> Batch {
        let mut b = Batch::new(1);
        b.push(&Frame {
            ts_us: 0,
            ts_ns: 0,
            linktype: LinkType::Ethernet,
            orig_len: 1,
            data: &[tag],
        });
        b.seq = seq;
        b
    }

    /// The tags of every frame `src` yields until it ends.
    fn drain(src: &mut BatchSource) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            match src.next(Duration::from_millis(5)) {
                Step::Frame(f, _) => out.push(f.data[0]),
                Step::End => return out,
                Step::Idle => {}
                _ => panic!("only frames were sent"),
            }
        }
    }

    #[test]
    fn numbered_batches_are_put_back_in_order_per_stream() {
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        // Stream 0: 2, 0, 1; stream 1: 1, 0; an unnumbered batch between.
        for (seq, tag) in [
            (Some((0, 2)), 2),
            (Some((1, 1)), 11),
            (None, 99),
            (Some((0, 0)), 0),
            (Some((1, 0)), 10),
            (Some((0, 1)), 1),
        ] {
            tx.send(numbered(seq, tag)).expect("send");
        }
        drop(tx);
        let mut src = BatchSource::new(rx);
        let got = drain(&mut src);
        // Unnumbered batches go at once; each stream in its own order.
        assert_eq!(got, vec![99, 0, 10, 11, 1, 2]);
        assert_eq!(src.late(), 0);
    }

    #[test]
    fn a_batch_that_never_comes_holds_back_a_bounded_number() {
        let (tx, rx) = std::sync::mpsc::sync_channel(256);
        // Batch 0 comes only after MAX_HELD + 5 later ones.
        for n in 1..=(MAX_HELD as u64 + 5) {
            tx.send(numbered(Some((0, n)), n as u8)).expect("send");
        }
        tx.send(numbered(Some((0, 0)), 0)).expect("send");
        drop(tx);
        let counts: Arc<[AtomicU64]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let mut src = BatchSource::new(rx).counting_late(counts.clone());
        let mut got = Vec::new();
        // Before the last batch is received, some of the held ones have
        // gone on: no more than MAX_HELD wait.
        for _ in 0..5 {
            match src.next(Duration::from_millis(5)) {
                Step::Frame(f, _) => got.push(f.data[0]),
                _ => panic!("expected a frame: 5 batches have gone on"),
            }
        }
        assert_eq!(got, vec![1, 2, 3, 4, 5]);
        got.extend(drain(&mut src));
        // Every frame is delivered once; the missing one, late, at the end.
        let mut want: Vec<u8> = (1..=(MAX_HELD as u8 + 5)).collect();
        want.push(0);
        assert_eq!(got, want);
        assert_eq!(src.late(), 1);
        // The late batch's one frame, counted for its stream.
        assert_eq!(counts[0].load(Ordering::Relaxed), 1);
        assert_eq!(counts[1].load(Ordering::Relaxed), 0);
    }

    #[test]
    fn held_batches_are_delivered_in_order_when_the_senders_go() {
        let (tx, rx) = std::sync::mpsc::sync_channel(16);
        for n in [3u64, 5, 4] {
            tx.send(numbered(Some((0, n)), n as u8)).expect("send");
        }
        drop(tx);
        let mut src = BatchSource::new(rx);
        assert_eq!(drain(&mut src), vec![3, 4, 5]);
    }
}
