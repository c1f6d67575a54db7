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

/// Receive buffer asked of the kernel (root may exceed `rmem_max`).
const RECV_BUFFER: libc::c_int = 32 << 20;
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
}

/// Asks for a large receive buffer: exports come in bursts (a router
/// flushing its cache), and a datagram the kernel drops is lost.
fn grow_receive_buffer(sock: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let fd = sock.as_raw_fd();
    let size = RECV_BUFFER;
    let p = (&raw const size).cast::<libc::c_void>();
    let len = core::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: fd is an open socket owned by `sock`; the option value is a
    // c_int that outlives the calls.
    unsafe {
        if libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, p, len) != 0 {
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, p, len);
        }
    }
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
    grow_receive_buffer(&sock);
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| format!("--flow-listen {addr}: {e}"))?;
    let h = std::thread::Builder::new()
        .name(format!("flows-{local}"))
        .spawn(move || receive(sock, tx, stats, stop))
        .map_err(|e| format!("--flow-listen {addr}: cannot start a thread: {e}"))?;
    Ok((h, local))
}

fn receive(sock: UdpSocket, tx: SyncSender<Batch>, stats: Arc<ListenStats>, stop: Arc<AtomicBool>) {
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
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                stats.received.fetch_add(1, Ordering::Relaxed);
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
