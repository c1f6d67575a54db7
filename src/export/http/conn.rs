//! Connections: admission under the limits, activity tracking, and one
//! hyper HTTP/1.1 connection per accepted socket.
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::api::Api;
use super::web::WebConfig;
use super::{Limits, MAX_HEAD_BYTES};
use crate::export::metrics::Metrics;

/// Why a connection was closed by the server rather than the client (the
/// `reason` label of `mirrorwatch_http_connection_evictions_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// To admit a connection beyond `max_connections_per_client`.
    ClientLimit,
    /// To admit a connection beyond `max_connections`.
    TotalLimit,
    /// Nothing read or written for `idle_timeout`.
    Idle,
}

impl Eviction {
    pub fn as_str(self) -> &'static str {
        match self {
            Eviction::ClientLimit => "client_limit",
            Eviction::TotalLimit => "total_limit",
            Eviction::Idle => "idle",
        }
    }
}

/// One open connection, as the admission side sees it.
struct Entry {
    peer: IpAddr,
    /// Milliseconds since the registry's epoch of the last byte read or
    /// written.
    active: Arc<AtomicU64>,
    close: Arc<Notify>,
}

/// The open connections, by id, and their count per client address.
struct Registry {
    epoch: Instant,
    next_id: AtomicU64,
    open: DashMap<u64, Entry>,
    per_client: DashMap<IpAddr, usize>,
}

impl Registry {
    fn new() -> Self {
        Registry {
            epoch: Instant::now(),
            next_id: AtomicU64::new(1),
            open: DashMap::new(),
            per_client: DashMap::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The least recently active connection (of `peer` only, if given).
    fn least_active(&self, peer: Option<IpAddr>) -> Option<u64> {
        self.open
            .iter()
            .filter(|e| peer.is_none_or(|p| e.value().peer == p))
            .min_by_key(|e| e.value().active.load(Ordering::Relaxed))
            .map(|e| *e.key())
    }

    /// Forgets connection `id`; true if it was open.
    fn remove(&self, id: u64) -> Option<Entry> {
        let (_, e) = self.open.remove(&id)?;
        let emptied = match self.per_client.get_mut(&e.peer) {
            Some(mut n) => {
                *n = n.saturating_sub(1);
                *n == 0
            }
            None => false,
        };
        if emptied {
            self.per_client.remove_if(&e.peer, |_, n| *n == 0);
        }
        Some(e)
    }

    fn evict(&self, id: u64, why: Eviction, metrics: &Metrics) {
        if let Some(e) = self.remove(id) {
            debug!(peer = %e.peer, reason = why.as_str(), "HTTP: closing a connection");
            metrics.count_http_eviction(why.as_str());
            e.close.notify_one();
        }
    }

    /// Makes room under the limits (closing the least recently active
    /// connections) and registers a connection from `peer`.
    fn admit(&self, peer: IpAddr, limits: &Limits, metrics: &Metrics) -> Admitted {
        while self
            .per_client
            .get(&peer)
            .is_some_and(|n| *n >= limits.max_connections_per_client)
        {
            match self.least_active(Some(peer)) {
                Some(id) => self.evict(id, Eviction::ClientLimit, metrics),
                None => break,
            }
        }
        while self.open.len() >= limits.max_connections {
            match self.least_active(None) {
                Some(id) => self.evict(id, Eviction::TotalLimit, metrics),
                None => break,
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let active = Arc::new(AtomicU64::new(self.now_ms()));
        let close = Arc::new(Notify::new());
        self.open.insert(
            id,
            Entry {
                peer,
                active: active.clone(),
                close: close.clone(),
            },
        );
        *self.per_client.entry(peer).or_insert(0) += 1;
        Admitted { id, active, close }
    }
}

struct Admitted {
    id: u64,
    active: Arc<AtomicU64>,
    close: Arc<Notify>,
}

/// Accepts until shutdown; each connection runs in its own task.
pub async fn accept_loop(
    listener: TcpListener,
    api: Arc<Api>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
    limits: Limits,
    web: Option<Arc<WebConfig>>,
) -> io::Result<()> {
    let registry = Arc::new(Registry::new());
    let mut connections = JoinSet::new();
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        tokio::select! {
            biased;
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let admitted = registry.admit(peer.ip(), &limits, &metrics);
                    let ctx = Conn {
                        api: api.clone(),
                        metrics: metrics.clone(),
                        registry: registry.clone(),
                        web: web.clone(),
                        limits,
                        peer,
                        shutdown: shutdown.clone(),
                    };
                    connections.spawn(ctx.run(stream, admitted));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off.
                    warn!(error = %e, "HTTP: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Finished connections are reaped only when nothing waits to
            // be accepted: a burst of closes never delays an accept.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.shutdown().await;
    Ok(())
}

/// What a connection task needs.
struct Conn {
    api: Arc<Api>,
    metrics: Arc<Metrics>,
    registry: Arc<Registry>,
    web: Option<Arc<WebConfig>>,
    limits: Limits,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
}

impl Conn {
    async fn run(self, stream: TcpStream, a: Admitted) {
        let epoch = self.registry.epoch;
        let io = Tracked {
            inner: stream,
            active: a.active.clone(),
            epoch,
        };
        let tls = self.web.as_ref().and_then(|w| w.tls_acceptor());
        match tls {
            None => self.serve(io, &a).await,
            Some(acceptor) => {
                let hs = tokio::select! {
                    hs = tokio::time::timeout(self.limits.header_read_timeout, acceptor.accept(io)) => hs,
                    _ = a.close.notified() => return,
                };
                match hs {
                    Ok(Ok(tls)) => self.serve(tls, &a).await,
                    Ok(Err(e)) => {
                        debug!(peer = %self.peer, error = %e, "HTTP: TLS handshake failed")
                    }
                    Err(_) => debug!(peer = %self.peer, "HTTP: TLS handshake timed out"),
                }
            }
        }
        self.registry.remove(a.id);
    }

    async fn serve<I>(&self, io: I, a: &Admitted)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let api = self.api.clone();
        let peer = self.peer;
        let service = service_fn(move |req| {
            let api = api.clone();
            async move { Ok::<_, std::convert::Infallible>(api.answer(req, peer).await) }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .max_buf_size(MAX_HEAD_BYTES)
            .serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let mut shutdown = self.shutdown.clone();
        let mut draining = false;
        let mut check = tokio::time::interval(Duration::from_millis(500));
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let idle_ms = u64::try_from(self.limits.idle_timeout.as_millis()).unwrap_or(u64::MAX);
        loop {
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        debug!(peer = %peer, error = %e, "HTTP: connection ended");
                    }
                    return;
                }
                _ = a.close.notified() => return,
                changed = shutdown.changed(), if !draining => {
                    let _ = changed;
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = check.tick() => {
                    let last = a.active.load(Ordering::Relaxed);
                    if self.registry.now_ms().saturating_sub(last) >= idle_ms {
                        self.registry.evict(a.id, Eviction::Idle, &self.metrics);
                        return;
                    }
                }
            }
        }
    }
}

/// A socket that records when it last moved a byte.
struct Tracked {
    inner: TcpStream,
    active: Arc<AtomicU64>,
    epoch: Instant,
}

impl Tracked {
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.active.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_closes_the_least_active_of_the_client_then_of_all() {
        let r = Registry::new();
        let m = Metrics::new(1);
        let limits = Limits {
            max_connections: 3,
            max_connections_per_client: 2,
            ..Limits::default()
        };
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let first = r.admit(a, &limits, &m);
        let second = r.admit(a, &limits, &m);
        first.active.store(5, Ordering::Relaxed);
        second.active.store(1, Ordering::Relaxed);
        // A third from `a`: its least recently active (`second`) goes.
        let third = r.admit(a, &limits, &m);
        assert!(r.open.contains_key(&first.id));
        assert!(!r.open.contains_key(&second.id));
        assert_eq!(r.per_client.get(&a).map(|n| *n), Some(2));
        // One from `b` fills the server; the next from `b` closes the least
        // active of all (`first`, at 5 ms, against `third` admitted later).
        third.active.store(9, Ordering::Relaxed);
        let b1 = r.admit(b, &limits, &m);
        b1.active.store(7, Ordering::Relaxed);
        let _b2 = r.admit(b, &limits, &m);
        assert!(!r.open.contains_key(&first.id));
        assert!(r.open.contains_key(&third.id) && r.open.contains_key(&b1.id));
        assert_eq!(r.open.len(), 3);
        // Closing the last connection of a client forgets the client.
        r.remove(third.id);
        assert!(r.per_client.get(&a).is_none());
        let text = m.encode();
        assert!(
            text.contains("mirrorwatch_http_connection_evictions_total{reason=\"client_limit\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("mirrorwatch_http_connection_evictions_total{reason=\"total_limit\"} 1"),
            "{text}"
        );
    }
}
