//! The HTTP API, served by hyper (HTTP/1.1, keep-alive) on tokio.
//!
//! Routes (GET and HEAD only; other methods get 405, unknown paths 404):
//!
//! * `/metrics`: the Prometheus text exposition ([`Metrics`]).
//! * `/healthz`: 200 with a JSON status once the engine published, 503
//!   before that, after the engine stopped, and while an output fails.
//! * `/api/v1/sessions[?limit=N&cursor=C]`: the published sessions in
//!   report order, a page at a time.
//! * `/api/v1/alerts[?since=RFC3339&limit=N&cursor=C]`: the most recent
//!   alerts, those raised at or after `since` (capture time) when given.
//!
//! Lists are paginated (`limit` 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when not
//! given; `next_cursor` in the answer when more follow) and streamed: a
//! request holds a reference to the published snapshot, never a copy, and
//! the JSON is produced as the client reads it.
//!
//! Hostile clients are bounded ([`Limits`], from the `[http]`
//! configuration): a request head must arrive within the header timeout
//! (and be at most [`MAX_HEAD_BYTES`]); a connection idle (nothing read or
//! written) for the idle timeout is closed, which also ends clients that
//! stop reading; beyond the per-client or the overall connection limit the
//! least recently active connection is closed to make room, so that a
//! slowloris cannot lock `/healthz` out. Request bodies are refused (413).
//! TLS and basic or bearer authentication come from a web configuration
//! file in the style of Prometheus's exporter-toolkit ([`WebConfig`]).
//! Every answer is counted in `mirrorwatch_http_requests_total`, every
//! connection closed by a limit in `mirrorwatch_http_connection_evictions_total`.
mod api;
mod conn;
mod web;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::metrics::Metrics;
use super::state::Shared;
use crate::config::HttpConfig;

pub use api::{DEFAULT_PAGE, MAX_PAGE, fuzz_query, parse_rfc3339};
pub use web::{WebConfig, WebConfigError};

/// Largest request head (request line, headers and the empty line); a
/// larger one gets 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Why the HTTP server could not listen.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{addr}: invalid listen address: {reason}")]
    InvalidAddress { addr: String, reason: String },
    #[error("{addr}: address already in use")]
    AddrInUse { addr: String },
    #[error("{addr}: cannot listen: {source}")]
    Bind {
        addr: String,
        #[source]
        source: io::Error,
    },
}

/// Opens the listening socket for `addr` (`HOST:PORT`: an IPv4 address,
/// a bracketed IPv6 address or a host name).
pub async fn bind(addr: &str) -> Result<TcpListener, HttpError> {
    let candidates = resolve(addr).await?;
    let mut first_error = None;
    for a in candidates {
        match listen(a) {
            Ok(l) => return Ok(l),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(match first_error {
        Some(e) if e.kind() == io::ErrorKind::AddrInUse => HttpError::AddrInUse {
            addr: addr.to_owned(),
        },
        Some(e) => HttpError::Bind {
            addr: addr.to_owned(),
            source: e,
        },
        None => invalid(addr, "the host name resolves to no address"),
    })
}

/// Connections the kernel queues before they are accepted. tokio's
/// default is 1,024: a thousand clients reconnecting at once (a slowloris
/// whose connections the header timeout closed together) would overflow
/// it, and a probe's SYN would wait a second for its retransmission. The
/// kernel caps it at `net.core.somaxconn`.
const BACKLOG: u32 = 4096;

fn listen(a: SocketAddr) -> io::Result<TcpListener> {
    let socket = if a.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(a)?;
    socket.listen(BACKLOG)
}

fn invalid(addr: &str, reason: &str) -> HttpError {
    HttpError::InvalidAddress {
        addr: addr.to_owned(),
        reason: reason.to_owned(),
    }
}

async fn resolve(addr: &str) -> Result<Vec<SocketAddr>, HttpError> {
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    const EXPECTED: &str = "expected HOST:PORT, such as 127.0.0.1:9750 or [::1]:9750";
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(invalid(addr, EXPECTED));
    };
    if host.is_empty() {
        return Err(invalid(
            addr,
            "no host (use 0.0.0.0:PORT or [::]:PORT for every address)",
        ));
    }
    let Ok(port) = port.parse::<u16>() else {
        return Err(invalid(addr, &format!("invalid port; {EXPECTED}")));
    };
    if host.contains([':', '[', ']', '/', ' ']) {
        return Err(invalid(addr, EXPECTED));
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(it) => Ok(it.collect()),
        Err(e) => Err(invalid(addr, &format!("cannot resolve {host}: {e}"))),
    }
}

/// Limits of the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to send a request head (and to finish a TLS handshake).
    pub header_read_timeout: Duration,
    /// A connection with nothing read or written for this long is closed.
    pub idle_timeout: Duration,
    /// Connections at once; beyond it the least recently active is closed.
    pub max_connections: usize,
    /// Connections of one client address at once (the same rule).
    pub max_connections_per_client: usize,
    /// Time connections in progress get to finish at shutdown.
    pub shutdown_grace: Duration,
}

impl From<&HttpConfig> for Limits {
    fn from(c: &HttpConfig) -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(c.header_read_timeout_s.max(1)),
            idle_timeout: Duration::from_secs(c.idle_timeout_s.max(1)),
            max_connections: c.max_connections.max(1),
            max_connections_per_client: c.max_connections_per_client.max(1),
            shutdown_grace: Duration::from_millis(500),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from(&HttpConfig::default())
    }
}

/// Serves the API on `listener` until `shutdown` turns true (or its sender
/// is dropped), then stops accepting, gives the connections in progress a
/// moment to finish, and returns.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    limits: Limits,
    web: Option<Arc<WebConfig>>,
) -> io::Result<()> {
    let api = Arc::new(api::Api::new(shared, metrics.clone(), web.clone()));
    conn::accept_loop(listener, api, metrics, shutdown, limits, web).await
}

#[cfg(test)]
mod tests;
