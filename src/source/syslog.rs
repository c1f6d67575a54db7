//! A syslog receiver (UDP and TCP on one address) for device logs: each
//! message goes through the mirror-configuration recognisers and only the
//! events that come out are kept and handed on. Messages are never stored,
//! so a flood of unrelated ones costs time, not memory.
//!
//! TCP streams are framed as RFC 6587 says senders frame them: octet
//! counting (`LEN SP MSG`, rsyslog's and syslog-ng's `syslog()` framing)
//! when a frame starts with a count, a space and `<`, newline-terminated
//! otherwise. Each connection buffers at most one message of [`MAX_LINE`]
//! bytes (longer ones are cut, and counted). When [`MAX_CONNECTIONS`] are
//! open, a new sender closes the one that has been quiet longest, so idle
//! connections cannot lock senders out. Events from a TCP sender wait for
//! room in the pipeline's queue (the sender is slowed, nothing is lost);
//! from UDP, which cannot be slowed, they are dropped when it is full, and
//! counted.
use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::logs::{ConfigEvent, SyslogIngest};

/// Counters of the receiver.
#[derive(Debug, Default)]
pub struct SyslogStats {
    pub lines: AtomicU64,
    pub events: AtomicU64,
    /// Events from UDP dropped because the pipeline's queue was full.
    pub dropped: AtomicU64,
    /// UDP datagrams the kernel dropped before the socket read them.
    pub kernel_dropped: AtomicU64,
    /// Messages longer than [`MAX_LINE`], cut there.
    pub cut: AtomicU64,
    /// Quiet TCP connections closed to make room for a new sender.
    pub evicted: AtomicU64,
}

/// What [`SyslogStats`] counted, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SyslogCounts {
    pub messages: u64,
    pub events: u64,
    pub dropped_events: u64,
    pub kernel_dropped_records: u64,
    pub cut_messages: u64,
    pub evicted_connections: u64,
}

impl SyslogCounts {
    /// The counts the metrics export: messages, dropped events, kernel
    /// drops, cut messages, evicted connections.
    pub fn exported(&self) -> [u64; 5] {
        [
            self.messages,
            self.dropped_events,
            self.kernel_dropped_records,
            self.cut_messages,
            self.evicted_connections,
        ]
    }
}

impl SyslogStats {
    pub fn counts(&self) -> SyslogCounts {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SyslogCounts {
            messages: n(&self.lines),
            events: n(&self.events),
            dropped_events: n(&self.dropped),
            kernel_dropped_records: n(&self.kernel_dropped),
            cut_messages: n(&self.cut),
            evicted_connections: n(&self.evicted),
        }
    }
}

/// Longest message kept; longer ones are cut (syslog over UDP is at most
/// 64 KiB).
pub const MAX_LINE: usize = 16 * 1024;
/// TCP connections served at once.
pub const MAX_CONNECTIONS: usize = 64;

struct Shared {
    ingest: Mutex<SyslogIngest>,
    tx: SyncSender<ConfigEvent>,
    stats: Arc<SyslogStats>,
    stop: Arc<AtomicBool>,
}

impl Shared {
    /// One message; `wait`: a TCP sender, which waits for room in the
    /// queue rather than lose the event.
    fn message(&self, line: &[u8], origin: &str, wait: bool) {
        let line = String::from_utf8_lossy(&line[..line.len().min(MAX_LINE)]);
        let line = line.trim_end_matches(['\r', '\n', '\0']);
        if line.is_empty() {
            return;
        }
        // RFC 6587 octet counting inside a datagram or a newline-framed
        // line: "123 <34>1 ..." -> drop the count.
        let line = match line.split_once(' ') {
            Some((n, rest))
                if !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && rest.starts_with('<') =>
            {
                rest
            }
            _ => line,
        };
        self.stats.lines.fetch_add(1, Ordering::Relaxed);
        let ev = match self.ingest.lock() {
            Ok(mut g) => g.ingest_line(line, origin),
            Err(_) => None,
        };
        let Some(mut e) = ev else {
            return;
        };
        self.stats.events.fetch_add(1, Ordering::Relaxed);
        loop {
            match self.tx.try_send(e) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) => {
                    if !wait || self.stop.load(Ordering::Relaxed) {
                        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    e = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames: line ends and NULs are skipped.
    Start,
    /// Digits at the start of a frame: a count, or the start of a line.
    Count(usize),
    /// A count and a space: octet counting if `<` follows.
    CountSpace(usize),
    /// Inside an octet-counted frame with this many bytes to go.
    Octets(usize),
    /// Inside a newline-terminated frame.
    Line,
}

/// RFC 6587 framing of one TCP stream: bytes in, whole messages out.
#[derive(Debug)]
pub struct Framer {
    state: State,
    buf: Vec<u8>,
    cut: bool,
}

impl Default for Framer {
    fn default() -> Self {
        Framer {
            state: State::Start,
            buf: Vec::with_capacity(1024),
            cut: false,
        }
    }
}

/// Digits of a frame length: RFC 6587 messages are far below 10^9 bytes.
const MAX_COUNT_DIGITS: usize = 9;

impl Framer {
    /// Takes the next bytes of the stream; calls `out(message, cut)` for
    /// each message they complete (`cut`: longer than [`MAX_LINE`], cut
    /// there).
    pub fn push(&mut self, data: &[u8], out: &mut dyn FnMut(&[u8], bool)) {
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            match self.state {
                State::Start => {
                    i += 1;
                    if matches!(b, b'\n' | b'\r' | 0) {
                        continue;
                    }
                    self.keep(&[b]);
                    self.state = if b.is_ascii_digit() {
                        State::Count(usize::from(b - b'0'))
                    } else {
                        State::Line
                    };
                }
                State::Count(n) => {
                    if b.is_ascii_digit() && self.buf.len() < MAX_COUNT_DIGITS {
                        i += 1;
                        self.keep(&[b]);
                        self.state = State::Count(n * 10 + usize::from(b - b'0'));
                    } else if b == b' ' && n > 0 {
                        i += 1;
                        self.keep(&[b]);
                        self.state = State::CountSpace(n);
                    } else {
                        self.state = State::Line;
                    }
                }
                State::CountSpace(n) => {
                    if b == b'<' {
                        self.buf.clear();
                        self.state = State::Octets(n);
                    } else {
                        self.state = State::Line;
                    }
                }
                State::Octets(left) => {
                    let take = left.min(data.len() - i);
                    self.keep(&data[i..i + take]);
                    i += take;
                    if take == left {
                        self.emit(out);
                    } else {
                        self.state = State::Octets(left - take);
                    }
                }
                State::Line => match data[i..].iter().position(|&c| c == b'\n') {
                    Some(p) => {
                        self.keep(&data[i..i + p]);
                        i += p + 1;
                        self.emit(out);
                    }
                    None => {
                        self.keep(&data[i..]);
                        i = data.len();
                    }
                },
            }
        }
    }

    /// The end of the stream: a message not yet ended is handed on as it is.
    pub fn finish(&mut self, out: &mut dyn FnMut(&[u8], bool)) {
        if !self.buf.is_empty() {
            self.emit(out);
        }
    }

    fn keep(&mut self, b: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.buf.len());
        if b.len() > room {
            self.cut = true;
        }
        self.buf.extend_from_slice(&b[..b.len().min(room)]);
    }

    fn emit(&mut self, out: &mut dyn FnMut(&[u8], bool)) {
        out(&self.buf, self.cut);
        self.buf.clear();
        self.cut = false;
        self.state = State::Start;
    }
}

/// The TCP connections open: each with the time it last sent something.
#[derive(Default)]
struct Open {
    next_id: u64,
    conns: Vec<(u64, TcpStream, Arc<AtomicU64>)>,
}

impl Open {
    /// Registers a connection (`handle` closes it, `active` is when it
    /// last sent); when [`MAX_CONNECTIONS`] are open the quietest is closed
    /// first, and counted in `evicted`. Returns its id.
    fn admit(&mut self, handle: TcpStream, active: Arc<AtomicU64>, evicted: &AtomicU64) -> u64 {
        if self.conns.len() >= MAX_CONNECTIONS
            && let Some(q) =
                (0..self.conns.len()).min_by_key(|&i| self.conns[i].2.load(Ordering::Relaxed))
        {
            let (_, s, _) = self.conns.swap_remove(q);
            let _ = s.shutdown(Shutdown::Both);
            evicted.fetch_add(1, Ordering::Relaxed);
        }
        self.next_id += 1;
        self.conns.push((self.next_id, handle, active));
        self.next_id
    }

    fn leave(open: &Mutex<Open>, id: u64) {
        if let Ok(mut o) = open.lock() {
            o.conns.retain(|c| c.0 != id);
        }
    }
}

/// Listens on `addr` (UDP and TCP) until `stop`. Errors binding are
/// returned at once and name the address.
pub fn listen(
    addr: &str,
    year: i32,
    tx: SyncSender<ConfigEvent>,
    stats: Arc<SyslogStats>,
    stop: Arc<AtomicBool>,
) -> Result<Vec<JoinHandle<()>>, String> {
    let udp = UdpSocket::bind(addr).map_err(|e| format!("syslog {addr} (udp): {e}"))?;
    let tcp = TcpListener::bind(addr).map_err(|e| format!("syslog {addr} (tcp): {e}"))?;
    udp.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| format!("syslog {addr}: {e}"))?;
    let mut udp = crate::source::udp::Receiver::new(udp);
    tcp.set_nonblocking(true)
        .map_err(|e| format!("syslog {addr}: {e}"))?;
    let shared = Arc::new(Shared {
        ingest: Mutex::new(SyslogIngest::new(year)),
        tx,
        stats,
        stop: stop.clone(),
    });
    let mut handles = Vec::new();
    {
        let (shared, stop) = (shared.clone(), stop.clone());
        handles.push(
            std::thread::Builder::new()
                .name("syslog-udp".to_owned())
                .spawn(move || {
                    let mut buf = vec![0u8; 65_536];
                    while !stop.load(Ordering::Relaxed) {
                        if let Ok((n, peer, kernel_dropped)) = udp.recv(&mut buf) {
                            if kernel_dropped > 0 {
                                shared
                                    .stats
                                    .kernel_dropped
                                    .fetch_add(kernel_dropped, Ordering::Relaxed);
                            }
                            let origin = format!("udp:{peer}");
                            for line in buf[..n].split(|&b| b == b'\n') {
                                shared.message(line, &origin, false);
                            }
                        }
                    }
                })
                .map_err(|e| format!("syslog: {e}"))?,
        );
    }
    let open = Arc::new(Mutex::new(Open::default()));
    let started = Instant::now();
    handles.push(
        std::thread::Builder::new()
            .name("syslog-tcp".to_owned())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok((sock, peer)) = tcp.accept() else {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    let _ = sock.set_nonblocking(false);
                    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
                    let Ok(handle) = sock.try_clone() else {
                        continue;
                    };
                    let now = move || started.elapsed().as_millis() as u64;
                    let active = Arc::new(AtomicU64::new(now()));
                    let Ok(id) = open
                        .lock()
                        .map(|mut o| o.admit(handle, active.clone(), &shared.stats.evicted))
                    else {
                        continue;
                    };
                    let (shared, stop, held) = (shared.clone(), stop.clone(), open.clone());
                    let spawned = std::thread::Builder::new()
                        .name("syslog-conn".to_owned())
                        .spawn(move || {
                            serve(sock, &format!("tcp:{peer}"), &shared, &stop, &|| {
                                active.store(now(), Ordering::Relaxed);
                            });
                            Open::leave(&held, id);
                        });
                    if spawned.is_err() {
                        Open::leave(&open, id);
                    }
                }
            })
            .map_err(|e| format!("syslog: {e}"))?,
    );
    Ok(handles)
}

/// Reads one TCP connection until it ends, is closed or `stop`.
fn serve(mut sock: TcpStream, origin: &str, shared: &Shared, stop: &AtomicBool, active: &dyn Fn()) {
    let mut framer = Framer::default();
    let mut chunk = [0u8; 8192];
    let mut out = |m: &[u8], cut: bool| {
        if cut {
            shared.stats.cut.fetch_add(1, Ordering::Relaxed);
        }
        shared.message(m, origin, true);
    };
    while !stop.load(Ordering::Relaxed) {
        match sock.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                active();
                framer.push(&chunk[..n], &mut out);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
    framer.finish(&mut out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(chunks: &[&[u8]]) -> Vec<(String, bool)> {
        let mut f = Framer::default();
        let mut got = Vec::new();
        let mut out =
            |m: &[u8], cut: bool| got.push((String::from_utf8_lossy(m).into_owned(), cut));
        for c in chunks {
            f.push(c, &mut out);
        }
        f.finish(&mut out);
        got
    }

    fn plain(v: &[(String, bool)]) -> Vec<&str> {
        v.iter().map(|(m, _)| m.as_str()).collect()
    }

    #[test]
    fn octet_counted_frames_split_without_newlines() {
        let a = "<189>1 2026-03-01T10:00:00Z r1 - - - - one";
        let b = "<189>1 2026-03-01T10:00:01Z r1 - - - - two\nstill two";
        let stream = format!("{} {a}{} {b}", a.len(), b.len());
        assert_eq!(plain(&frames(&[stream.as_bytes()])), vec![a, b]);
        // The same bytes a byte at a time.
        let bytes: Vec<&[u8]> = stream.as_bytes().chunks(1).collect();
        assert_eq!(plain(&frames(&bytes)), vec![a, b]);
    }

    #[test]
    fn newline_frames_and_lines_that_start_with_digits() {
        let got = frames(&[
            b"<13>Mar  1 a\r\n\n000123: *Mar  1 b\n2026-03-01T10:00:00Z c\n12 x\n7",
            b"7 <1>d\n",
        ]);
        assert_eq!(
            plain(&got),
            vec![
                "<13>Mar  1 a\r",
                "000123: *Mar  1 b",
                "2026-03-01T10:00:00Z c",
                "12 x",
                // A count split over two reads: an octet-counted frame
                // the stream ends inside.
                "<1>d\n"
            ]
        );
    }

    #[test]
    fn long_messages_are_cut_and_memory_stays_bounded() {
        let mut f = Framer::default();
        let mut got = Vec::new();
        let mut out = |m: &[u8], cut: bool| got.push((m.len(), cut));
        // A line that never ends, in drips.
        for _ in 0..1000 {
            f.push(&[b'a'; 1000], &mut out);
            assert!(f.buf.capacity() <= 2 * MAX_LINE, "{}", f.buf.capacity());
        }
        f.push(b"\n", &mut out);
        // An octet count far beyond the limit: cut, and the frame after it
        // still found.
        let n = 3 * MAX_LINE;
        let mut s = format!("{n} <1>").into_bytes();
        s.extend(std::iter::repeat_n(b'b', n - 3));
        s.extend_from_slice(b"4 <1>z");
        f.push(&s, &mut out);
        f.finish(&mut out);
        assert_eq!(got, vec![(MAX_LINE, true), (MAX_LINE, true), (4, false)]);
    }

    /// 64 idle connections do not lock a sender out: the 65th closes the
    /// quietest and its change arrives; a burst past the queue's size over
    /// TCP waits instead of being dropped.
    #[test]
    fn idle_connections_cannot_lock_senders_out() {
        use std::io::Write;
        // A port free for both UDP and TCP.
        let addr = (0..50)
            .find_map(|_| {
                let t = TcpListener::bind("127.0.0.1:0").ok()?;
                let a = t.local_addr().ok()?;
                drop(t);
                UdpSocket::bind(a).ok().map(|_| a.to_string())
            })
            .expect("a free port");
        let (tx, rx) = std::sync::mpsc::sync_channel(16);
        let stats = Arc::new(SyslogStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let handles = listen(&addr, 2026, tx, stats.clone(), stop.clone()).expect("listen");
        let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS)
            .map(|_| TcpStream::connect(&addr).expect("connect"))
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let mut late = TcpStream::connect(&addr).expect("connect");
        let line = |i: usize| {
            format!(
                "<189>Mar  1 18:46:11 10.0.0.1 103: rtr-edge1: *Mar  1 18:46:11.123 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:alice  logged command:monitor session {} destination interface Gi0/0/9\n",
                i % 60 + 1
            )
        };
        // More than the queue holds: the sender waits while we drain.
        let burst = 40;
        let all: String = (0..burst).map(line).collect();
        late.write_all(all.as_bytes()).expect("write");
        drop(late);
        let mut got = 0;
        while got < burst {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(_) => got += 1,
                Err(_) => break,
            }
        }
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.join().expect("join");
        }
        drop(idle);
        assert_eq!(got, burst);
        let c = stats.counts();
        assert!(c.evicted_connections >= 1, "{c:?}");
        assert_eq!(c.dropped_events, 0, "{c:?}");
    }

    #[test]
    fn a_count_that_is_too_long_is_a_line() {
        let got = frames(&[b"1234567890123 <1>x\n"]);
        assert_eq!(plain(&got), vec!["1234567890123 <1>x"]);
    }
}
