//! A syslog receiver (UDP and TCP on one address) for device logs: each
//! line goes through the mirror-configuration recognisers and only the
//! events that come out are kept and handed on. Lines are never stored, so
//! a flood of unrelated messages costs time, not memory.
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::logs::{ConfigEvent, SyslogIngest};

/// Counters of the receiver.
#[derive(Debug, Default)]
pub struct SyslogStats {
    pub lines: AtomicU64,
    pub events: AtomicU64,
    /// Events dropped because the engine was behind.
    pub dropped: AtomicU64,
}

/// Longest line kept; longer ones are cut (syslog over UDP is at most 64 KiB).
const MAX_LINE: usize = 16 * 1024;
/// TCP connections served at once.
const MAX_CONNECTIONS: usize = 64;

struct Shared {
    ingest: Mutex<SyslogIngest>,
    tx: SyncSender<ConfigEvent>,
    stats: Arc<SyslogStats>,
}

impl Shared {
    fn line(&self, line: &[u8], origin: &str) {
        let line = String::from_utf8_lossy(&line[..line.len().min(MAX_LINE)]);
        let line = line.trim_end_matches(['\r', '\n', '\0']);
        if line.is_empty() {
            return;
        }
        // RFC 6587 octet counting: "123 <34>1 ..." -> drop the count.
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
        if let Some(e) = ev {
            self.stats.events.fetch_add(1, Ordering::Relaxed);
            if let Err(TrySendError::Full(_)) = self.tx.try_send(e) {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
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
    tcp.set_nonblocking(true)
        .map_err(|e| format!("syslog {addr}: {e}"))?;
    let shared = Arc::new(Shared {
        ingest: Mutex::new(SyslogIngest::new(year)),
        tx,
        stats,
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
                        if let Ok((n, peer)) = udp.recv_from(&mut buf) {
                            let origin = format!("udp:{peer}");
                            for line in buf[..n].split(|&b| b == b'\n') {
                                shared.line(line, &origin);
                            }
                        }
                    }
                })
                .map_err(|e| format!("syslog: {e}"))?,
        );
    }
    let conns = Arc::new(AtomicUsize::new(0));
    handles.push(
        std::thread::Builder::new()
            .name("syslog-tcp".to_owned())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok((sock, peer)) = tcp.accept() else {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    if conns.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                        continue; // dropped: too many senders at once
                    }
                    let _ = sock.set_nonblocking(false);
                    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
                    conns.fetch_add(1, Ordering::Relaxed);
                    let (shared, stop, held) = (shared.clone(), stop.clone(), conns.clone());
                    let spawned = std::thread::Builder::new()
                        .name("syslog-conn".to_owned())
                        .spawn(move || {
                            let origin = format!("tcp:{peer}");
                            let mut r = BufReader::new(sock);
                            let mut line = Vec::with_capacity(1024);
                            while !stop.load(Ordering::Relaxed) {
                                match r
                                    .by_ref()
                                    .take(MAX_LINE as u64 + 1)
                                    .read_until(b'\n', &mut line)
                                {
                                    Ok(0) => break,
                                    Ok(_) => {
                                        if line.ends_with(b"\n") || line.len() > MAX_LINE {
                                            shared.line(&line, &origin);
                                            line.clear();
                                        }
                                    }
                                    Err(e)
                                        if matches!(
                                            e.kind(),
                                            std::io::ErrorKind::WouldBlock
                                                | std::io::ErrorKind::TimedOut
                                        ) => {}
                                    Err(_) => break,
                                }
                            }
                            if !line.is_empty() {
                                shared.line(&line, &origin);
                            }
                            held.fetch_sub(1, Ordering::Relaxed);
                        });
                    if spawned.is_err() {
                        conns.fetch_sub(1, Ordering::Relaxed);
                    }
                }
            })
            .map_err(|e| format!("syslog: {e}"))?,
    );
    Ok(handles)
}
