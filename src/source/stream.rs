//! Inputs whose reads can wait for ever (standard input, a FIFO, a
//! character device), read so that a stop request still ends them.
//!
//! `tcpdump -w - | mirrorwatch replay -` on a quiet link, or a FIFO no one
//! opens, leaves `read(2)` (or `open(2)`) blocked with no data to come:
//! SIGINT or SIGTERM then could not stop the replay, and the second signal
//! ended the process with no report and the alerts unwritten. A
//! [`Stoppable`] opens and reads the input on a thread of its own and hands
//! the bytes over a bounded channel (at most [`CHUNKS`] reads of
//! [`CHUNK`] bytes in flight); its reader waits in steps of [`POLL`] and,
//! once the stop flag is set, takes the input as ended there. The capture
//! reader then sees an ordinary end (or a record cut short, reported as
//! such), and what was read is judged, flushed and reported.
//!
//! Regular files never block this way and are read directly.
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::Duration;

/// Bytes asked of the input per read.
pub const CHUNK: usize = 64 << 10;
/// Reads in flight between the thread and the reader.
pub const CHUNKS: usize = 8;
/// How long the reader waits before it looks at the stop flag again.
pub const POLL: Duration = Duration::from_millis(50);

/// The reading end: bytes in the order the input gave them.
pub struct Stoppable {
    rx: Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
    stop: Arc<AtomicBool>,
    ended: bool,
}

impl Stoppable {
    /// Starts a thread that calls `open` and then reads what it returns
    /// until its end or an error. The thread is left behind if it is
    /// still blocked when the reader is dropped; it ends at its next read
    /// or at process exit.
    pub fn spawn<F>(name: &str, open: F, stop: Arc<AtomicBool>) -> io::Result<Stoppable>
    where
        F: FnOnce() -> io::Result<Box<dyn Read + Send>> + Send + 'static,
    {
        let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(CHUNKS);
        std::thread::Builder::new()
            .name(format!("input {name}"))
            .spawn(move || {
                let mut input = match open() {
                    Ok(i) => i,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                loop {
                    let mut buf = vec![0u8; CHUNK];
                    match input.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => {
                            buf.truncate(n);
                            if tx.send(Ok(buf)).is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
            })?;
        Ok(Stoppable {
            rx,
            chunk: Vec::new(),
            pos: 0,
            stop,
            ended: false,
        })
    }
}

impl Read for Stoppable {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.recv_timeout(POLL) {
                Ok(Ok(c)) => {
                    self.chunk = c;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.ended = true;
                    return Err(e);
                }
                Err(RecvTimeoutError::Disconnected) => self.ended = true,
                // Nothing came: the input ends here if a stop was asked.
                Err(RecvTimeoutError::Timeout) => {
                    if self.stop.load(Ordering::Relaxed) {
                        self.ended = true;
                    }
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// An input that gives its bytes and then blocks for ever (a quiet
    /// pipe).
    struct ThenBlock(Option<Vec<u8>>);

    impl Read for ThenBlock {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.take() {
                Some(b) => {
                    buf[..b.len()].copy_from_slice(&b);
                    Ok(b.len())
                }
                None => loop {
                    std::thread::park();
                },
            }
        }
    }

    #[test]
    fn bytes_come_in_order_and_a_stop_ends_a_blocked_input() {
        let stop = Arc::new(AtomicBool::new(false));
        let mut s = Stoppable::spawn(
            "test",
            || Ok(Box::new(ThenBlock(Some(b"0123456789".to_vec()))) as Box<dyn Read + Send>),
            stop.clone(),
        )
        .expect("thread");
        let mut got = [0u8; 4];
        s.read_exact(&mut got).expect("first bytes");
        assert_eq!(&got, b"0123");
        let mut rest = [0u8; 6];
        s.read_exact(&mut rest).expect("the rest of the chunk");
        assert_eq!(&rest, b"456789");
        let setter = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            setter.store(true, Ordering::Relaxed);
        });
        let t = Instant::now();
        assert_eq!(s.read(&mut got).expect("an end"), 0);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(s.read(&mut got).expect("still the end"), 0);
    }

    #[test]
    fn an_input_that_ends_or_fails_ends_the_stream_as_it_did() {
        let stop = Arc::new(AtomicBool::new(false));
        let mut s = Stoppable::spawn(
            "ends",
            || Ok(Box::new(&b"abc"[..]) as Box<dyn Read + Send>),
            stop.clone(),
        )
        .expect("thread");
        let mut all = Vec::new();
        s.read_to_end(&mut all).expect("to the end");
        assert_eq!(all, b"abc");
        let mut f = Stoppable::spawn(
            "fails",
            || Err(io::Error::new(io::ErrorKind::NotFound, "no such FIFO")),
            stop,
        )
        .expect("thread");
        let e = f.read(&mut [0u8; 4]).expect_err("the open error");
        assert!(e.to_string().contains("no such FIFO"), "{e}");
    }
}
