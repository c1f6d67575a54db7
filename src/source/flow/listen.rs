//! `--flow-listen`: UDP sockets receiving NetFlow, IPFIX and sFlow export
//! datagrams. One thread per address copies datagrams into batches for the
//! pipeline, over the same bounded channel as the capture threads; it
//! never waits for the pipeline: a batch the full queue cannot take is
//! dropped and its datagrams counted.
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::source::batch::{BATCH_FRAMES, Batch};
use crate::source::udp::Receiver;

/// A partly filled batch is sent after this long.
const BATCH_AGE: Duration = Duration::from_millis(20);
/// A batch is sent once it holds this many bytes, so that the pipeline's
/// queue of 64 batches holds at most about 16 MiB of datagrams (256 full
/// 64 KB datagrams a batch let a stalled pipeline's queue reach 1 GB).
const BATCH_BYTES: usize = 256 << 10;

/// What the listeners did, shared with the pipeline for the metrics.
#[derive(Debug, Default)]
pub struct ListenStats {
    pub received: AtomicU64,
    /// Datagrams dropped because the pipeline's queue was full.
    pub dropped: AtomicU64,
    /// Datagrams the kernel dropped because the socket's receive buffer
    /// was full (learned with the next datagram, [`Receiver`]).
    pub kernel_dropped: AtomicU64,
}

use crate::time::now_us;

/// Binds `addr` and starts its receiving thread. The error names the
/// address.
pub fn listen(
    addr: &str,
    tx: SyncSender<Batch>,
    stats: Arc<ListenStats>,
    stop: Arc<AtomicBool>,
) -> Result<(JoinHandle<()>, std::net::SocketAddr), String> {
    let sock =
        UdpSocket::bind(addr).map_err(|e| format!("--flow-listen {addr}: cannot bind: {e}"))?;
    let local = sock
        .local_addr()
        .map_err(|e| format!("--flow-listen {addr}: {e}"))?;
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| format!("--flow-listen {addr}: {e}"))?;
    let h = std::thread::Builder::new()
        .name(format!("flows-{local}"))
        .spawn(move || receive(Receiver::new(sock), tx, stats, stop))
        .map_err(|e| format!("--flow-listen {addr}: cannot start a thread: {e}"))?;
    Ok((h, local))
}

fn receive(
    mut sock: Receiver,
    tx: SyncSender<Batch>,
    stats: Arc<ListenStats>,
    stop: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 65_536];
    let mut batch = Batch::datagrams();
    let mut since = Instant::now();
    // Sends the batch; false once the pipeline is gone.
    let flush = |batch: &mut Batch, since: &mut Instant| -> bool {
        *since = Instant::now();
        if batch.is_empty() {
            return true;
        }
        let b = std::mem::replace(batch, Batch::datagrams());
        let n = b.len() as u64;
        match tx.try_send(b) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                stats.dropped.fetch_add(n, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    };
    while !stop.load(Ordering::Relaxed) {
        match sock.recv(&mut buf) {
            Ok((n, from, kernel_dropped)) => {
                stats.received.fetch_add(1, Ordering::Relaxed);
                if kernel_dropped > 0 {
                    stats
                        .kernel_dropped
                        .fetch_add(kernel_dropped, Ordering::Relaxed);
                }
                if let Some(p) = buf.get(..n) {
                    batch.push_datagram(now_us(), from.ip(), p);
                }
                if (batch.len() >= BATCH_FRAMES
                    || batch.bytes() >= BATCH_BYTES
                    || since.elapsed() >= BATCH_AGE)
                    && !flush(&mut batch, &mut since)
                {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if !flush(&mut batch, &mut since) {
                    return;
                }
            }
            // ICMP errors surfacing on the socket, interrupted calls.
            Err(_) => {}
        }
    }
    flush(&mut batch, &mut since);
}
