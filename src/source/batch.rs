//! Frames copied out of the capture buffer in batches, for a capture
//! thread to hand to the pipeline over a bounded channel.
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use super::{Frame, FrameSource, Step};
use crate::decode::LinkType;

/// Frames per batch.
pub const BATCH_FRAMES: usize = 256;

/// A batch of frames copied out of libpcap's buffer.
pub struct Batch {
    pub dlt: i32,
    arena: Vec<u8>,
    meta: Vec<(i64, LinkType, u32, usize, usize)>,
}

impl Batch {
    pub fn new(dlt: i32) -> Self {
        Batch {
            dlt,
            arena: Vec::with_capacity(BATCH_FRAMES * 512),
            meta: Vec::with_capacity(BATCH_FRAMES),
        }
    }

    pub fn push(&mut self, fr: &Frame<'_>) {
        let start = self.arena.len();
        self.arena.extend_from_slice(fr.data);
        self.meta
            .push((fr.ts_us, fr.linktype, fr.orig_len, start, fr.data.len()));
    }

    pub fn is_full(&self) -> bool {
        self.meta.len() >= BATCH_FRAMES
    }

    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    pub fn len(&self) -> usize {
        self.meta.len()
    }

    fn frame(&self, i: usize) -> Option<Frame<'_>> {
        let &(ts_us, linktype, orig_len, start, len) = self.meta.get(i)?;
        Some(Frame {
            ts_us,
            linktype,
            orig_len,
            data: self.arena.get(start..start + len)?,
        })
    }
}

/// The receiving end: batches from any number of capture threads, read
/// frame by frame. Ends when every sender is gone.
pub struct BatchSource {
    rx: Receiver<Batch>,
    current: Option<Batch>,
    pos: usize,
}

impl BatchSource {
    pub fn new(rx: Receiver<Batch>) -> Self {
        BatchSource {
            rx,
            current: None,
            pos: 0,
        }
    }
}

impl FrameSource for BatchSource {
    #[inline]
    fn next(&mut self, wait: Duration) -> Step<'_> {
        let exhausted = self.current.as_ref().is_none_or(|b| self.pos >= b.len());
        if exhausted {
            match self.rx.recv_timeout(wait) {
                Ok(b) => {
                    self.current = Some(b);
                    self.pos = 0;
                }
                Err(RecvTimeoutError::Timeout) => return Step::Idle,
                Err(RecvTimeoutError::Disconnected) => return Step::End,
            }
        }
        let i = self.pos;
        self.pos += 1;
        match self.current.as_ref() {
            Some(b) => match b.frame(i) {
                Some(fr) => Step::Frame(fr, b.dlt),
                None => Step::Idle,
            },
            None => Step::Idle,
        }
    }
}
