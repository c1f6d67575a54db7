//! Alerts as RFC 5424 syslog messages to a collector (`--alerts-syslog
//! udp://HOST:PORT` or `tcp://HOST:PORT`).
//!
//! The pipeline never waits for the collector: messages go into a bounded
//! queue that a thread of their own sends. Over TCP (octet-counting
//! framing, RFC 6587) a connection that cannot be made or breaks is made
//! again with exponential backoff (from [`SyslogOptions::backoff`] to
//! [`SyslogOptions::max_backoff`]); the message in hand is sent again on
//! the new connection. Over UDP each message is one datagram, sent once.
//! What could not be sent is counted, never silent: `dropped` (the queue
//! was full), `failed` (a UDP send failed, or the run ended while the
//! collector was unreachable).
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::detect::alert::{Alert, Severity};
use crate::export::formats::signature_id;

/// Private enterprise number of the structured data: 32473 is the one
/// RFC 5612 reserves for documentation and examples.
pub const SD_ID: &str = "mirrorwatch@32473";

/// Facility local0.
const FACILITY: u8 = 16;

#[derive(Debug, thiserror::Error)]
pub enum SyslogError {
    #[error("`{0}`: expected udp://HOST:PORT or tcp://HOST:PORT")]
    BadTarget(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Where the messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogTarget {
    pub transport: Transport,
    /// `HOST:PORT`.
    pub addr: String,
}

impl SyslogTarget {
    pub fn parse(s: &str) -> Result<SyslogTarget, SyslogError> {
        let bad = || SyslogError::BadTarget(s.to_owned());
        let (transport, rest) = if let Some(r) = s.strip_prefix("udp://") {
            (Transport::Udp, r)
        } else if let Some(r) = s.strip_prefix("tcp://") {
            (Transport::Tcp, r)
        } else {
            return Err(bad());
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(bad());
        }
        Ok(SyslogTarget {
            transport,
            addr: rest.to_owned(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct SyslogOptions {
    /// Messages waiting for the collector, at most.
    pub queue: usize,
    /// First wait before reconnecting.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// How long the end of a run waits for the queue to be sent.
    pub linger: Duration,
}

impl Default for SyslogOptions {
    fn default() -> Self {
        SyslogOptions {
            queue: 10_000,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            linger: Duration::from_secs(2),
        }
    }
}

/// What happened to the messages.
#[derive(Debug, Default)]
pub struct SyslogStats {
    pub sent: AtomicU64,
    /// Not queued: the queue was full.
    pub dropped: AtomicU64,
    /// Queued but not sent (UDP send error, or the run ended first).
    pub failed: AtomicU64,
    /// Connections made (TCP), the first one included.
    pub connects: AtomicU64,
}

impl SyslogStats {
    /// Messages that could not be sent.
    pub fn unsent(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }
}

/// Sends alert messages to a collector from a thread of its own.
pub struct SyslogSender {
    tx: Option<SyncSender<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<SyslogStats>,
    closing: Arc<AtomicBool>,
    target: SyslogTarget,
}

/// The RFC 5424 severity of an alert.
fn syslog_severity(s: Severity) -> u8 {
    match s {
        Severity::High => 2,   // critical
        Severity::Medium => 4, // warning
        Severity::Low => 5,    // notice
        Severity::Info => 6,   // informational
    }
}

/// PRINTUSASCII without spaces, at most `max` characters, `-` when empty.
fn header_field(s: &str, max: usize) -> String {
    let f: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if f.is_empty() { "-".to_owned() } else { f }
}

fn sd_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// One RFC 5424 message: header, structured data naming the alert, and
/// the alert line (`line`, in the `--alerts-format` chosen) as MSG.
pub fn message(a: &Alert, line: &[u8]) -> Vec<u8> {
    let pri = FACILITY * 8 + syslog_severity(a.severity);
    let mut sd = format!(
        "[{SD_ID} kind=\"{}\" severity=\"{}\" signature_id=\"{}\"",
        a.kind.as_str(),
        a.severity.as_str(),
        signature_id(a.kind)
    );
    if let Some(s) = &a.session {
        sd.push_str(&format!(
            " encap=\"{}\" src=\"{}\" dst=\"{}\"",
            sd_escape(s.encap),
            sd_escape(&s.src),
            sd_escape(&s.dst)
        ));
        if let Some(id) = s.id {
            sd.push_str(&format!(" id=\"{id}\""));
        }
    }
    sd.push(']');
    let mut m = format!(
        "<{pri}>1 {} {} mirrorwatch {} {} {sd} ",
        header_field(&a.timestamp, 64),
        header_field(&a.sensor, 255),
        std::process::id(),
        header_field(a.kind.as_str(), 32),
    )
    .into_bytes();
    // MSG in UTF-8, marked by the BOM as RFC 5424 says.
    m.extend_from_slice(b"\xEF\xBB\xBF");
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    m.extend_from_slice(body);
    m
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
}

fn connect(t: &SyslogTarget) -> std::io::Result<Conn> {
    let addr = t
        .addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    match t.transport {
        Transport::Udp => {
            let bind = if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let s = UdpSocket::bind(bind)?;
            s.connect(addr)?;
            Ok(Conn::Udp(s))
        }
        Transport::Tcp => {
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
            s.set_write_timeout(Some(Duration::from_secs(5)))?;
            let _ = s.set_nodelay(true);
            Ok(Conn::Tcp(s))
        }
    }
}

fn send(c: &mut Conn, m: &[u8]) -> std::io::Result<()> {
    match c {
        Conn::Udp(s) => s.send(m).map(|_| ()),
        Conn::Tcp(s) => {
            // Octet counting (RFC 6587 3.4.1).
            let mut framed = format!("{} ", m.len()).into_bytes();
            framed.extend_from_slice(m);
            s.write_all(&framed)
        }
    }
}

fn run(
    t: SyslogTarget,
    rx: Receiver<Vec<u8>>,
    stats: Arc<SyslogStats>,
    closing: Arc<AtomicBool>,
    o: SyslogOptions,
) {
    let mut conn: Option<Conn> = None;
    let mut backoff = o.backoff;
    let mut retry_at = Instant::now();
    let mut held: Option<Vec<u8>> = None;
    // Set once the run ends: the time the remaining queue must be sent by.
    let mut deadline: Option<Instant> = None;
    loop {
        if deadline.is_none() && closing.load(Ordering::Acquire) {
            deadline = Some(Instant::now() + o.linger);
        }
        if held.is_none() {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(m) => held = Some(m),
                Err(RecvTimeoutError::Timeout) => continue,
                // Closed and empty: everything was sent.
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // Out of time: what is left was not sent.
            let left = u64::from(held.take().is_some()) + rx.try_iter().count() as u64;
            stats.failed.fetch_add(left, Ordering::Relaxed);
            return;
        }
        if conn.is_none() {
            let now = Instant::now();
            if now < retry_at {
                std::thread::sleep((retry_at - now).min(Duration::from_millis(100)));
                continue;
            }
            match connect(&t) {
                Ok(c) => {
                    conn = Some(c);
                    stats.connects.fetch_add(1, Ordering::Relaxed);
                    backoff = o.backoff;
                }
                Err(_) => {
                    retry_at = Instant::now() + backoff;
                    backoff = (backoff * 2).min(o.max_backoff);
                    continue;
                }
            }
        }
        let (Some(c), Some(m)) = (conn.as_mut(), held.as_ref()) else {
            continue;
        };
        match send(c, m) {
            Ok(()) => {
                stats.sent.fetch_add(1, Ordering::Relaxed);
                held = None;
            }
            Err(_) => match c {
                // A datagram is sent once.
                Conn::Udp(_) => {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    held = None;
                }
                // Reconnect and send it again.
                Conn::Tcp(_) => {
                    conn = None;
                    retry_at = Instant::now() + backoff;
                    backoff = (backoff * 2).min(o.max_backoff);
                }
            },
        }
    }
}

impl SyslogSender {
    pub fn start(target: SyslogTarget, o: SyslogOptions) -> Result<SyslogSender, SyslogError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(o.queue.max(1));
        let stats = Arc::new(SyslogStats::default());
        let closing = Arc::new(AtomicBool::new(false));
        let (s, c) = (stats.clone(), closing.clone());
        let t = target.clone();
        let thread = std::thread::Builder::new()
            .name("alerts-syslog".into())
            .spawn(move || run(t, rx, s, c, o))
            .map_err(|e| SyslogError::Io(target.addr.clone(), e))?;
        Ok(SyslogSender {
            tx: Some(tx),
            thread: Some(thread),
            stats,
            closing,
            target,
        })
    }

    /// Queues the message of one alert (its line in the chosen format).
    pub fn send(&self, a: &Alert, line: &[u8]) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(message(a, line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn stats(&self) -> Arc<SyslogStats> {
        self.stats.clone()
    }

    pub fn target(&self) -> &SyslogTarget {
        &self.target
    }
}

impl Drop for SyslogSender {
    /// Sends what is queued, for at most the linger time.
    fn drop(&mut self) {
        self.tx = None;
        self.closing.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let unsent = self.stats.unsent();
        if unsent > 0 {
            tracing::warn!(
                target_addr = %self.target.addr,
                unsent,
                sent = self.stats.sent.load(Ordering::Relaxed),
                "alerts that could not be sent to the syslog collector"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::alert::{AlertCounts, AlertKind, Facts};
    use crate::detect::session::{DstClass, Verdict};
    use std::io::Read;
    use std::net::TcpListener;

    fn alert(sensor: &str) -> Alert {
        let facts = Facts {
            dst_class: DstClass::External,
            verdict: Verdict::Mirror,
            evidence: vec!["x".into()],
            counts: AlertCounts {
                packets: 1,
                bytes: 2,
                duplicates: 0,
            },
            first_seen_us: 0,
            last_seen_us: 0,
        };
        Alert::new(
            AlertKind::MirrorToExternal,
            Severity::High,
            sensor,
            1_767_225_600_000_000,
            facts,
            "m".into(),
        )
    }

    /// Octet-counted frames from a TCP stream, until `n` or EOF.
    fn frames(s: &mut TcpStream, n: usize) -> Vec<Vec<u8>> {
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        while out.len() < n {
            // Complete frames in buf.
            while let Some(sp) = buf.iter().position(|&b| b == b' ') {
                let Some(len) = std::str::from_utf8(&buf[..sp])
                    .ok()
                    .and_then(|t| t.parse::<usize>().ok())
                else {
                    return out;
                };
                if buf.len() < sp + 1 + len {
                    break;
                }
                out.push(buf[sp + 1..sp + 1 + len].to_vec());
                buf.drain(..sp + 1 + len);
            }
            if out.len() >= n {
                break;
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        }
        out
    }

    #[test]
    fn targets_parse() {
        let t = SyslogTarget::parse("udp://127.0.0.1:514").expect("udp");
        assert_eq!(t.transport, Transport::Udp);
        assert_eq!(t.addr, "127.0.0.1:514");
        let t = SyslogTarget::parse("tcp://[::1]:6514").expect("tcp");
        assert_eq!(t.transport, Transport::Tcp);
        assert_eq!(t.addr, "[::1]:6514");
        for bad in [
            "127.0.0.1:514",
            "udp://host",
            "tcp://:514",
            "udp://h:0",
            "http://h:1",
        ] {
            assert!(SyslogTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn message_is_rfc5424() {
        let a = alert("dc1 tap");
        let m = message(&a, b"{\"k\":1}\n");
        let text = String::from_utf8(m).expect("utf-8");
        // local0 (16) * 8 + critical (2) = 130.
        let want = format!(
            "<130>1 2026-01-01T00:00:00.000000Z dc1tap mirrorwatch {} mirror_to_external \
             [mirrorwatch@32473 kind=\"mirror_to_external\" severity=\"high\" signature_id=\"1020002\"] \
             \u{feff}{{\"k\":1}}",
            std::process::id()
        );
        assert_eq!(text, want);
        assert_eq!(sd_escape(r#"a"b]c\"#), r#"a\"b\]c\\"#);
    }

    #[test]
    fn udp_delivers_each_alert_as_a_datagram() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        rx.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let addr = rx.local_addr().expect("addr");
        let t = SyslogTarget::parse(&format!("udp://{addr}")).expect("target");
        let s = SyslogSender::start(t, SyslogOptions::default()).expect("start");
        s.send(&alert("a"), b"one\n");
        s.send(&alert("a"), b"two\n");
        let mut got = Vec::new();
        let mut b = [0u8; 2048];
        for _ in 0..2 {
            let n = rx.recv(&mut b).expect("datagram");
            got.push(String::from_utf8_lossy(&b[..n]).to_string());
        }
        assert!(
            got[0].starts_with("<130>1 ") && got[0].ends_with("\u{feff}one"),
            "{got:?}"
        );
        assert!(got[1].ends_with("\u{feff}two"), "{got:?}");
        let stats = s.stats();
        drop(s);
        assert_eq!(stats.sent.load(Ordering::Relaxed), 2);
        assert_eq!(stats.unsent(), 0);
    }

    /// The collector is down when the alerts come: they wait, the sender
    /// retries with backoff and delivers them, in order, once it is up;
    /// when it goes away and comes back, the sender reconnects.
    #[test]
    fn tcp_reconnects_with_backoff_and_delivers_in_order() {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let t = SyslogTarget::parse(&format!("tcp://127.0.0.1:{port}")).expect("target");
        let o = SyslogOptions {
            backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            ..SyslogOptions::default()
        };
        let s = SyslogSender::start(t, o).expect("start");
        for i in 0..3 {
            s.send(&alert("a"), format!("m{i}\n").as_bytes());
        }
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(s.stats().sent.load(Ordering::Relaxed), 0);
        let l = TcpListener::bind(("127.0.0.1", port)).expect("listen");
        let (mut c, _) = l.accept().expect("the sender connects");
        let got = frames(&mut c, 3);
        let tails: Vec<String> = got
            .iter()
            .map(|f| {
                String::from_utf8_lossy(f)
                    .rsplit('\u{feff}')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(tails, ["m0", "m1", "m2"]);
        // The collector restarts: the next alert arrives on a new connection.
        drop(c);
        std::thread::sleep(Duration::from_millis(100));
        for i in 3..6 {
            s.send(&alert("a"), format!("m{i}\n").as_bytes());
            std::thread::sleep(Duration::from_millis(50));
        }
        let (mut c2, _) = l.accept().expect("the sender reconnects");
        let got = frames(&mut c2, 1);
        assert!(!got.is_empty(), "nothing on the new connection");
        let stats = s.stats();
        assert!(stats.connects.load(Ordering::Relaxed) >= 2);
        drop(s);
        // m3 may have gone into the closed socket's buffer before the
        // break was noticed (TCP cannot tell); the rest arrived or counted.
        let sent = stats.sent.load(Ordering::Relaxed);
        assert!(sent >= 5, "sent {sent}");
    }

    /// A collector that never comes: the queue fills, what does not fit is
    /// dropped and counted, and the end of the run counts the rest as not
    /// sent after the linger time.
    #[test]
    fn unreachable_collector_counts_what_was_not_sent() {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let t = SyslogTarget::parse(&format!("tcp://127.0.0.1:{port}")).expect("target");
        let o = SyslogOptions {
            queue: 4,
            backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(50),
            linger: Duration::from_millis(200),
        };
        let s = SyslogSender::start(t, o).expect("start");
        for _ in 0..10 {
            s.send(&alert("a"), b"x\n");
        }
        let stats = s.stats();
        let start = Instant::now();
        drop(s);
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "drop waited too long"
        );
        assert_eq!(stats.sent.load(Ordering::Relaxed), 0);
        assert_eq!(stats.unsent(), 10);
        assert!(stats.dropped.load(Ordering::Relaxed) >= 5);
    }
}
