//! A decompressor on a thread of its own, so that decompressing a capture
//! overlaps with parsing and decoding it.
//!
//! A compressed capture is bounded by its decompression: on one thread,
//! the mixed benchmark capture as gzip took 0.67 s where the same file
//! uncompressed took 0.18 s (`--workers 1`). The decompressor here runs
//! ahead by at most [`IN_FLIGHT`] chunks of [`CHUNK`] bytes, handed over
//! through a bounded channel and given back for reuse, so memory stays
//! bounded whatever the input. Errors reach the reader where they
//! occurred in the stream, after every byte before them. The thread ends
//! at the end of the input, at an error, or when the reader is dropped
//! (it is not joined, so a decompressor blocked on a pipe never holds up
//! the end of a replay).
use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Bytes per chunk handed over.
const CHUNK: usize = 256 << 10;
/// Chunks decompressed ahead of the reader at most.
const IN_FLIGHT: usize = 4;

/// The reading end: the decompressed bytes in order.
pub struct Threaded {
    rx: Receiver<io::Result<(Vec<u8>, usize)>>,
    back: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    len: usize,
    done: bool,
}

impl Threaded {
    /// Starts `dec` on a thread named `name`; if no thread can be started,
    /// the error is the first read's.
    pub fn spawn(dec: Box<dyn Read + Send>, name: &str) -> Threaded {
        let (tx, rx) = sync_channel(IN_FLIGHT);
        let (back, spare) = sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
        let started = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || run(dec, &tx, &spare));
        let mut t = Threaded {
            rx,
            back,
            cur: Vec::new(),
            pos: 0,
            len: 0,
            done: false,
        };
        if let Err(e) = started {
            // The closure (and its sender) is gone: the channel reports
            // the end, so the error must be kept here.
            let (tx, rx) = sync_channel(1);
            let _ = tx.send(Err(io::Error::new(
                e.kind(),
                format!("cannot start the decompressor thread: {e}"),
            )));
            t.rx = rx;
        }
        t
    }
}

/// The decompressor thread: fills chunks and sends them until the input
/// ends, an error (sent too), or the reader is gone.
fn run(
    mut dec: Box<dyn Read + Send>,
    tx: &SyncSender<io::Result<(Vec<u8>, usize)>>,
    spare: &Receiver<Vec<u8>>,
) {
    loop {
        let mut buf = spare.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        let (n, failed) = fill(&mut dec, &mut buf);
        if n > 0 && tx.send(Ok((buf, n))).is_err() {
            return;
        }
        if let Some(e) = failed {
            let _ = tx.send(Err(e));
            return;
        }
        if n < CHUNK {
            // The end of the input: dropping the sender says so.
            return;
        }
    }
}

/// Reads until `buf` is full or the input ends: how many bytes it got,
/// and the error that stopped it, if one did (the bytes before it count).
pub fn fill(r: &mut impl Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (got, Some(e)),
        }
    }
    (got, None)
}

impl Read for Threaded {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.pos == self.len {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok((buf, n))) => {
                    let old = std::mem::replace(&mut self.cur, buf);
                    if old.capacity() > 0 {
                        let _ = self.back.try_send(old);
                    }
                    (self.pos, self.len) = (0, n);
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => self.done = true,
            }
        }
        let k = out.len().min(self.len - self.pos);
        out[..k].copy_from_slice(&self.cur[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out `data` a few bytes at a time, then fails with `fail`.
    struct Source {
        data: io::Cursor<Vec<u8>>,
        fail: Option<io::ErrorKind>,
    }

    impl Read for Source {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = out.len().min(1000);
            match self.data.read(&mut out[..n])? {
                0 => match self.fail.take() {
                    Some(k) => Err(io::Error::new(k, "broken member")),
                    None => Ok(0),
                },
                n => Ok(n),
            }
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn every_byte_arrives_in_order_across_many_chunks() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 123] {
            let want = data(len);
            let src = Source {
                data: io::Cursor::new(want.clone()),
                fail: None,
            };
            let mut got = Vec::new();
            Threaded::spawn(Box::new(src), "test")
                .read_to_end(&mut got)
                .expect("reads");
            assert_eq!(got.len(), want.len());
            assert!(got == want, "length {len}");
        }
    }

    #[test]
    fn an_error_comes_after_every_byte_before_it() {
        let want = data(3 * CHUNK + 77);
        let src = Source {
            data: io::Cursor::new(want.clone()),
            fail: Some(io::ErrorKind::InvalidData),
        };
        let mut t = Threaded::spawn(Box::new(src), "test");
        let mut got = vec![0u8; want.len()];
        t.read_exact(&mut got).expect("the bytes first");
        assert!(got == want);
        let e = t.read(&mut [0u8; 10]).expect_err("then the error");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(e.to_string(), "broken member");
        assert_eq!(t.read(&mut [0u8; 10]).expect("then the end"), 0);
    }

    #[test]
    fn a_reader_that_stops_early_ends_the_thread() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        /// An endless input that says when the thread dropped it.
        struct Endless(Arc<AtomicBool>);
        impl Read for Endless {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                out.fill(7);
                Ok(out.len())
            }
        }
        impl Drop for Endless {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let gone = Arc::new(AtomicBool::new(false));
        let mut t = Threaded::spawn(Box::new(Endless(gone.clone())), "test");
        let mut some = [0u8; 100];
        t.read_exact(&mut some).expect("reads");
        assert!(some.iter().all(|&b| b == 7));
        drop(t);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !gone.load(Ordering::SeqCst) && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(
            gone.load(Ordering::SeqCst),
            "the thread ran on after the reader went"
        );
    }
}
