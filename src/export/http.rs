//! The HTTP API: a small, strict HTTP/1.1 server on tokio.
//!
//! Routes (GET and HEAD only; other methods get 405, unknown paths 404):
//!
//! * `/metrics`: the Prometheus text exposition ([`Metrics`]).
//! * `/healthz`: 200 with a JSON status once the engine published, 503
//!   before that and after the engine stopped.
//! * `/api/v1/sessions`: the published session view.
//! * `/api/v1/alerts[?since=RFC3339]`: the most recent alerts, those raised
//!   at or after `since` (capture time) when given.
//!
//! One request per connection, answered with `Connection: close` and a
//! `Content-Length`. Limits: the request head (request line and headers)
//! at most 8 KiB (431 beyond), no request bodies (413), 10 s to send the
//! head (408), 256 connections at a time (further ones are closed at
//! once). Every answer is counted in `mirrorwatch_http_requests_total`.
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::metrics::{HTTP_ROUTES, Metrics, OTHER};
use super::state::Shared;
use crate::detect::alert::Alert;
use crate::report::SessionReport;

/// Largest request head (request line, headers and the empty line).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Time a client has to send its request head (and to read the answer).
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at a time; further ones are closed at once.
pub const MAX_CONNECTIONS: usize = 256;

const CONTENT_TYPE_METRICS: &str = "text/plain; version=0.0.4; charset=utf-8";
const CONTENT_TYPE_JSON: &str = "application/json";

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
        match TcpListener::bind(a).await {
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

/// Limits of the server (the constants above, shorter in tests).
#[derive(Debug, Clone, Copy)]
struct Limits {
    read_timeout: Duration,
    max_connections: usize,
    /// Time to drain what a client still sends after the answer, so that
    /// closing does not reset the connection before it read the answer.
    linger: Duration,
    /// Time connections in progress get to finish at shutdown.
    shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            read_timeout: READ_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            linger: Duration::from_millis(500),
            shutdown_grace: Duration::from_millis(500),
        }
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
) -> io::Result<()> {
    serve_with(listener, shared, metrics, shutdown, Limits::default()).await
}

async fn serve_with(
    listener: TcpListener,
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
    limits: Limits,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
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
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let (shared, metrics) = (shared.clone(), metrics.clone());
                        connections.spawn(async move {
                            handle(stream, &shared, &metrics, limits).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        debug!(%peer, "HTTP: too many connections, closing this one");
                        drop(stream);
                    }
                },
                Err(e) => {
                    // Out of file descriptors and the like: back off.
                    warn!(error = %e, "HTTP: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
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

/// Why no request head could be read.
enum HeadError {
    /// The client closed (or reset) before sending anything.
    Closed,
    /// The client closed in the middle of the head.
    Incomplete,
    TooLarge,
}

/// Reads up to the empty line ending the head; returns the head without
/// that final CRLF CRLF. Anything after it is left unread.
async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, HeadError> {
    let mut buf = vec![0u8; MAX_HEAD_BYTES];
    let mut len = 0;
    loop {
        let Some(free) = buf.get_mut(len..).filter(|f| !f.is_empty()) else {
            return Err(HeadError::TooLarge);
        };
        let n = match stream.read(free).await {
            Ok(n) => n,
            Err(e) => {
                debug!(error = %e, "HTTP: read failed");
                return Err(if len == 0 {
                    HeadError::Closed
                } else {
                    HeadError::Incomplete
                });
            }
        };
        if n == 0 {
            return Err(if len == 0 {
                HeadError::Closed
            } else {
                HeadError::Incomplete
            });
        }
        let from = len.saturating_sub(3);
        len += n;
        let window = buf.get(from..len).unwrap_or_default();
        if let Some(p) = window.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(from + p);
            return Ok(buf);
        }
    }
}

/// An answer.
struct Response {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    /// Add `Allow: GET, HEAD` (405).
    allow: bool,
}

impl Response {
    fn new(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Response {
            status,
            content_type,
            body,
            allow: false,
        }
    }

    fn json<T: Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(mut body) => {
                body.push(b'\n');
                Response::new(status, CONTENT_TYPE_JSON, body)
            }
            Err(e) => {
                warn!(error = %e, "HTTP: cannot serialise the answer");
                Response::error(500, "cannot serialise the answer")
            }
        }
    }

    fn error(status: u16, message: &str) -> Self {
        let body = serde_json::json!({ "error": message, "status": status });
        let mut body = body.to_string().into_bytes();
        body.push(b'\n');
        Response::new(status, CONTENT_TYPE_JSON, body)
    }

    fn bad_parameter(name: &str, detail: &str) -> Self {
        let body = serde_json::json!({
            "error": format!("invalid query parameter {name:?}: {detail}"),
            "parameter": name,
            "status": 400,
        });
        let mut body = body.to_string().into_bytes();
        body.push(b'\n');
        Response::new(400, CONTENT_TYPE_JSON, body)
    }

    /// The status line, headers and (unless `head_only`) the body.
    fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nDate: {}\r\nServer: mirrorwatch/{}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            reason_phrase(self.status),
            http_date(SystemTime::now()),
            env!("CARGO_PKG_VERSION"),
            self.content_type,
            self.body.len(),
        );
        if self.allow {
            out.push_str("Allow: GET, HEAD\r\n");
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for the `Date` header.
fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let us = t
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_micros()).ok())
        .unwrap_or(0);
    // 1970-01-01 was a Thursday.
    let weekday = usize::try_from(us.div_euclid(86_400_000_000).rem_euclid(7)).unwrap_or(0);
    let s = crate::time::rfc3339_us(us); // YYYY-MM-DDTHH:MM:SS.ffffffZ
    let month = s
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{}, {} {month} {} {} GMT",
        DAYS.get(weekday).copied().unwrap_or("Thu"),
        s.get(8..10).unwrap_or("01"),
        s.get(0..4).unwrap_or("1970"),
        s.get(11..19).unwrap_or("00:00:00"),
    )
}

/// The parts of a request the routes need.
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
}

/// `tchar` of RFC 9110 (token characters).
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Parses and checks a request head (without its final CRLF CRLF). The
/// error is the answer to give.
/// The request head parser, for the fuzz target: whether `head` parses.
#[doc(hidden)]
pub fn fuzz_request_head(head: &[u8]) -> bool {
    match parse_head(head) {
        Ok(r) => {
            // What a parsed request is used for must hold.
            let _ = alerts_since(r.query);
            true
        }
        Err(_) => false,
    }
}

fn parse_head(head: &[u8]) -> Result<Request<'_>, Response> {
    let bad = |m: &str| Response::error(400, m);
    let text = std::str::from_utf8(head).map_err(|_| bad("request head is not valid UTF-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let all_lines_clean = text
        .split("\r\n")
        .all(|l| l.bytes().all(|c| c == b'\t' || !(c.is_ascii_control())));
    if !all_lines_clean {
        return Err(bad(
            "control characters (or a bare CR or LF) in the request head",
        ));
    }
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if !is_token(method) || target.is_empty() {
        return Err(bad("malformed request line"));
    }
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        v if v.len() == 8
            && v.starts_with("HTTP/")
            && v.as_bytes().get(5).is_some_and(u8::is_ascii_digit)
            && v.as_bytes().get(6) == Some(&b'.')
            && v.as_bytes().get(7).is_some_and(u8::is_ascii_digit) =>
        {
            return Err(Response::error(505, "only HTTP/1.0 and HTTP/1.1"));
        }
        _ => return Err(bad("malformed HTTP version")),
    };

    let mut hosts = 0;
    let mut content_length: Option<u64> = None;
    let mut chunked_or_other_coding = false;
    for line in lines {
        if line.starts_with([' ', '\t']) {
            return Err(bad("obsolete header line folding"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("malformed header line"));
        };
        if !is_token(name) {
            return Err(bad("malformed header name"));
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            if value.is_empty() || !value.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad("invalid Content-Length"));
            }
            let n = value
                .parse::<u64>()
                .map_err(|_| bad("invalid Content-Length"))?;
            if content_length.is_some_and(|m| m != n) {
                return Err(bad("conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked_or_other_coding = true;
        }
    }
    if hosts > 1 || (http11 && hosts == 0) {
        return Err(bad("an HTTP/1.1 request needs exactly one Host header"));
    }
    if chunked_or_other_coding || content_length.is_some_and(|n| n > 0) {
        return Err(Response::error(413, "request bodies are not accepted"));
    }

    // origin-form, or absolute-form (which servers must accept).
    let path_and_query = if target.starts_with('/') {
        target
    } else if let Some(rest) = strip_prefix_ignore_case(target, "http://")
        .or_else(|| strip_prefix_ignore_case(target, "https://"))
    {
        rest.find('/').and_then(|i| rest.get(i..)).unwrap_or("/")
    } else {
        return Err(bad("malformed request target"));
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    Ok(Request {
        method,
        path,
        query,
    })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// Decodes `%XX` escapes (`+` stays `+`: it is the sign of a UTC offset).
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses a strict RFC 3339 timestamp (`2026-01-01T00:00:00Z`, optional
/// fraction, `Z` or a `+hh:mm`/`-hh:mm` offset) to microseconds since the
/// Unix epoch; fractions beyond microseconds are truncated.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    const SHAPE: &[u8; 19] = b"dddd-dd-ddTdd:dd:dd";
    let b = s.as_bytes();
    for (i, want) in SHAPE.iter().enumerate() {
        let c = *b.get(i)?;
        let ok = match want {
            b'd' => c.is_ascii_digit(),
            b'T' => c == b'T' || c == b't',
            w => c == *w,
        };
        if !ok {
            return None;
        }
    }
    let mut i = SHAPE.len();
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let zone_ok = match b.get(i..)? {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    };
    if !zone_ok {
        return None;
    }
    // The shape is right; the shared parser checks the ranges (month 13,
    // February 30, hour 24, offset 24:00, ...) and does the arithmetic.
    crate::logs::parse_rfc3339_us(s)
}

/// The `since` parameter of `/api/v1/alerts`, if given; the error is the
/// answer to give.
fn alerts_since(query: Option<&str>) -> Result<Option<i64>, Response> {
    let mut since = None;
    for pair in query.unwrap_or_default().split('&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(k) = percent_decode(k) else {
            return Err(Response::error(400, "malformed query string"));
        };
        if k != "since" {
            return Err(Response::bad_parameter(
                &k,
                "unknown parameter (the only one is \"since\")",
            ));
        }
        if since.is_some() {
            return Err(Response::bad_parameter("since", "given more than once"));
        }
        let parsed = percent_decode(v).and_then(|v| parse_rfc3339(&v));
        let Some(us) = parsed else {
            return Err(Response::bad_parameter(
                "since",
                "expected an RFC 3339 timestamp such as 2026-01-01T00:00:00Z or 2026-01-01T01:00:00.5+01:00",
            ));
        };
        since = Some(us);
    }
    Ok(since)
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    sensor: &'a str,
    version: &'a str,
    uptime_seconds: u64,
    ready: bool,
    /// Outputs failing now (alerts, evidence), with the reason.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    failing_outputs: std::collections::BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
struct Sessions<'a> {
    sensor: &'a str,
    sessions: Vec<SessionReport>,
}

#[derive(Serialize)]
struct Alerts<'a> {
    sensor: &'a str,
    alerts: Vec<Alert>,
}

/// The answer to a parsed request.
fn route(req: &Request<'_>, shared: &Shared, metrics: &Metrics) -> Response {
    let Some(&route) = HTTP_ROUTES.iter().find(|r| **r == req.path) else {
        return Response::error(404, "not found");
    };
    if req.method != "GET" && req.method != "HEAD" {
        let mut r = Response::error(405, "only GET and HEAD");
        r.allow = true;
        return r;
    }
    let sensor = shared.sensor();
    match route {
        "/metrics" => {
            metrics.update(shared);
            Response::new(200, CONTENT_TYPE_METRICS, metrics.encode().into_bytes())
        }
        "/healthz" => {
            let ready = shared.ready.load(Ordering::Acquire);
            let failing = shared.output_health().failing;
            let ok = ready && failing.is_empty();
            let health = Health {
                status: if !ready {
                    "not_ready"
                } else if !failing.is_empty() {
                    "output_failing"
                } else {
                    "ok"
                },
                sensor: &sensor,
                version: shared.version,
                uptime_seconds: shared.started.elapsed().as_secs(),
                ready,
                failing_outputs: failing,
            };
            Response::json(if ok { 200 } else { 503 }, &health)
        }
        "/api/v1/sessions" => Response::json(
            200,
            &Sessions {
                sensor: &sensor,
                sessions: shared.session_list(),
            },
        ),
        "/api/v1/alerts" => match alerts_since(req.query) {
            Ok(since) => {
                let since = since.unwrap_or(i64::MIN);
                let alerts = match shared.alerts.lock() {
                    Ok(r) => r.since(since),
                    Err(poisoned) => poisoned.into_inner().since(since),
                };
                Response::json(
                    200,
                    &Alerts {
                        sensor: &sensor,
                        alerts,
                    },
                )
            }
            Err(r) => r,
        },
        _ => Response::error(404, "not found"),
    }
}

/// Serves one connection: one request, one answer, close.
async fn handle(mut stream: TcpStream, shared: &Shared, metrics: &Metrics, limits: Limits) {
    let head = match tokio::time::timeout(limits.read_timeout, read_head(&mut stream)).await {
        Err(_) => Err(Response::error(408, "request head not received in time")),
        Ok(Err(HeadError::Closed)) => return,
        Ok(Err(HeadError::Incomplete)) => Err(Response::error(400, "incomplete request head")),
        Ok(Err(HeadError::TooLarge)) => Err(Response::error(431, "request head larger than 8 KiB")),
        Ok(Ok(head)) => Ok(head),
    };
    let (path, head_only, response) = match head {
        Err(r) => (OTHER, false, r),
        Ok(head) => match parse_head(&head) {
            Err(r) => (OTHER, false, r),
            Ok(req) => {
                let r = route(&req, shared, metrics);
                let path = HTTP_ROUTES
                    .iter()
                    .find(|p| **p == req.path)
                    .copied()
                    .unwrap_or(OTHER);
                (path, req.method == "HEAD", r)
            }
        },
    };
    metrics.count_request(path, response.status);
    let bytes = response.to_bytes(head_only);
    let written = tokio::time::timeout(limits.read_timeout, async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await
    })
    .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            debug!(error = %e, "HTTP: write failed");
            return;
        }
        Err(_) => {
            debug!("HTTP: write timed out");
            return;
        }
    }
    // Lingering close: read what the client still sends (the rest of an
    // oversized head, a refused body) until it closes, briefly, so that the
    // kernel does not reset the connection under the unread answer.
    let _ = tokio::time::timeout(limits.linger, async {
        let mut sink = [0u8; 4096];
        let mut total = 0usize;
        while total < 1 << 20 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Engine;

    /// A Shared published from the erspan3 scenario, with its alerts.
    fn shared_with_alerts() -> (Arc<Shared>, Vec<Alert>) {
        let cfg = crate::config::Config::default();
        let mut e = Engine::new(&cfg);
        let s = mirrorwatch_synth::scenarios();
        let sc = s.iter().find(|s| s.name == "erspan3").expect("scenario");
        for p in &sc.packets {
            crate::detect::feed_for_tests(&mut e, p.ts_us, &p.data);
        }
        let shared = Shared::new("test-sensor");
        let alerts: Vec<Alert> = e.drain_alerts().collect();
        for a in &alerts {
            shared.record_alert(a);
        }
        let last = sc.packets.last().map_or(0, |p| p.ts_us);
        shared.publish(&e, &[], last + 1_000_000);
        (Arc::new(shared), alerts)
    }

    struct Server {
        addr: SocketAddr,
        shutdown: watch::Sender<bool>,
        task: tokio::task::JoinHandle<io::Result<()>>,
        metrics: Arc<Metrics>,
    }

    async fn start(shared: Arc<Shared>, limits: Limits) -> Server {
        let listener = bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let metrics = Arc::new(Metrics::new(200));
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(serve_with(listener, shared, metrics.clone(), rx, limits));
        Server {
            addr,
            shutdown: tx,
            task,
            metrics,
        }
    }

    struct Answer {
        status: u16,
        head: String,
        body: String,
    }

    impl Answer {
        fn header(&self, name: &str) -> Option<&str> {
            self.head.split("\r\n").skip(1).find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then_some(v.trim())
            })
        }
        fn json(&self) -> serde_json::Value {
            serde_json::from_str(&self.body).expect("JSON body")
        }
    }

    async fn raw(addr: SocketAddr, request: &[u8]) -> Answer {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(request).await.expect("write");
        s.shutdown().await.expect("half-close");
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.expect("read");
        let text = String::from_utf8(out).expect("UTF-8 answer");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status");
        let a = Answer {
            status,
            head: head.to_owned(),
            body: body.to_owned(),
        };
        assert_eq!(a.header("connection"), Some("close"));
        a
    }

    async fn get(addr: SocketAddr, target: &str) -> Answer {
        raw(
            addr,
            format!("GET {target} HTTP/1.1\r\nHost: test\r\nUser-Agent: t\r\n\r\n").as_bytes(),
        )
        .await
    }

    #[tokio::test]
    async fn routes_and_errors() {
        let (shared, alerts) = shared_with_alerts();
        let srv = start(shared.clone(), Limits::default()).await;

        let m = get(srv.addr, "/metrics").await;
        assert_eq!(m.status, 200);
        assert_eq!(m.header("content-type"), Some(CONTENT_TYPE_METRICS));
        assert_eq!(
            m.header("content-length"),
            Some(m.body.len().to_string().as_str())
        );
        for family in [
            "mirrorwatch_build_info",
            "mirrorwatch_process_packets_total 20",
            "mirrorwatch_decode_encapsulated_packets_total{encap=\"erspan3\"} 20",
            "mirrorwatch_session_mirrored_packets_total{",
            "mirrorwatch_detect_alerts_total{kind=\"mirror_session_new\",severity=\"info\"} 1",
        ] {
            assert!(m.body.contains(family), "{family} missing:\n{}", m.body);
        }

        let h = get(srv.addr, "/healthz").await;
        assert_eq!(h.status, 200);
        let j = h.json();
        assert_eq!(j["status"], "ok");
        assert_eq!(j["sensor"], "test-sensor");
        assert_eq!(j["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(j["ready"], true);
        assert!(j["uptime_seconds"].is_u64());

        let s = get(srv.addr, "/api/v1/sessions").await;
        assert_eq!(s.status, 200);
        assert_eq!(s.header("content-type"), Some(CONTENT_TYPE_JSON));
        let j = s.json();
        assert_eq!(j["sensor"], "test-sensor");
        let expected = serde_json::to_value(shared.session_list()).expect("serialise");
        assert_eq!(j["sessions"], expected);
        assert_eq!(j["sessions"][0]["encap"], "erspan3");
        assert_eq!(j["sessions"][0]["id"], 7);

        // Alerts: all, then filtered by capture time.
        let a = get(srv.addr, "/api/v1/alerts").await;
        assert_eq!(a.status, 200);
        let all = a.json();
        assert_eq!(all["sensor"], "test-sensor");
        assert_eq!(
            all["alerts"].as_array().map(Vec::len),
            Some(alerts.len()),
            "{}",
            a.body
        );
        let cut = alerts.iter().map(|a| a.ts_us).max().expect("alerts");
        let want = alerts.iter().filter(|a| a.ts_us >= cut).count();
        let since = crate::time::rfc3339_us(cut);
        let f = get(srv.addr, &format!("/api/v1/alerts?since={since}")).await;
        assert_eq!(f.status, 200, "{}", f.body);
        assert_eq!(f.json()["alerts"].as_array().map(Vec::len), Some(want));
        // The same instant with an offset (percent-encoded or not).
        let plus_one = parse_rfc3339(&since).map(|us| us + 3_600_000_000);
        let local = plus_one.map(crate::time::rfc3339_us).expect("instant");
        let local = local.trim_end_matches('Z');
        for sep in ["+", "%2B"] {
            let f = get(srv.addr, &format!("/api/v1/alerts?since={local}{sep}01:00")).await;
            assert_eq!(f.status, 200, "{}", f.body);
            assert_eq!(f.json()["alerts"].as_array().map(Vec::len), Some(want));
        }
        let later = crate::time::rfc3339_us(cut + 1);
        let f = get(srv.addr, &format!("/api/v1/alerts?since={later}")).await;
        assert_eq!(f.json()["alerts"].as_array().map(Vec::len), Some(0));

        for bad in [
            "/api/v1/alerts?since=yesterday",
            "/api/v1/alerts?since=2026-01-01",
            "/api/v1/alerts?since=2026-01-01T00:00:00",
            "/api/v1/alerts?since=2026-02-30T00:00:00Z",
            "/api/v1/alerts?since=",
        ] {
            let b = get(srv.addr, bad).await;
            assert_eq!(b.status, 400, "{bad}");
            let j = b.json();
            assert_eq!(j["parameter"], "since", "{bad}");
            assert!(
                j["error"].as_str().is_some_and(|e| e.contains("since")),
                "{bad}"
            );
        }
        let b = get(srv.addr, "/api/v1/alerts?sinse=2026-01-01T00:00:00Z").await;
        assert_eq!(b.status, 400);
        assert_eq!(b.json()["parameter"], "sinse");

        // HEAD: the headers of GET, no body.
        let hd = raw(srv.addr, b"HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n").await;
        assert_eq!(hd.status, 200);
        assert!(hd.body.is_empty());
        assert_ne!(hd.header("content-length"), Some("0"));

        let p = raw(
            srv.addr,
            b"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        assert_eq!(p.status, 405);
        assert_eq!(p.header("allow"), Some("GET, HEAD"));
        let d = raw(
            srv.addr,
            b"DELETE /api/v1/sessions HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .await;
        assert_eq!(d.status, 405);

        assert_eq!(get(srv.addr, "/nope").await.status, 404);
        assert_eq!(get(srv.addr, "/metrics/").await.status, 404);
        let body = raw(
            srv.addr,
            b"GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        )
        .await;
        assert_eq!(body.status, 413);

        let mut big = b"GET /metrics HTTP/1.1\r\nHost: t\r\nX-Filler: ".to_vec();
        big.resize(MAX_HEAD_BYTES + 100, b'a');
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(raw(srv.addr, &big).await.status, 431);

        for malformed in [
            &b"GET /metrics\r\nHost: t\r\n\r\n"[..],
            b"GET /metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n",
            b"GET  /metrics HTTP/1.1\r\nHost: t\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nHost : t\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nHost: t\nX: y\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
            b"GET metrics HTTP/1.1\r\nHost: t\r\n\r\n",
            b"\xff\xfe /metrics HTTP/1.1\r\nHost: t\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nHost: t\r\n",
        ] {
            let a = raw(srv.addr, malformed).await;
            assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(malformed));
        }
        assert_eq!(
            raw(srv.addr, b"GET /metrics HTTP/2.0\r\nHost: t\r\n\r\n")
                .await
                .status,
            505
        );
        // HTTP/1.0 without Host, and absolute-form targets, are fine.
        assert_eq!(
            raw(srv.addr, b"GET /healthz HTTP/1.0\r\n\r\n").await.status,
            200
        );
        assert_eq!(
            get(srv.addr, "http://example.com/healthz").await.status,
            200
        );

        // The requests were counted.
        let m = get(srv.addr, "/metrics").await;
        for series in [
            "mirrorwatch_http_requests_total{code=\"200\",path=\"/metrics\"} 1",
            "mirrorwatch_http_requests_total{code=\"404\",path=\"other\"} 2",
            "mirrorwatch_http_requests_total{code=\"405\",path=\"/metrics\"} 1",
            "mirrorwatch_http_requests_total{code=\"431\",path=\"other\"} 1",
            "mirrorwatch_http_requests_total{code=\"400\",path=\"/api/v1/alerts\"} 6",
        ] {
            assert!(m.body.contains(series), "{series} missing:\n{}", m.body);
        }

        srv.shutdown.send(true).expect("send");
        let r = tokio::time::timeout(Duration::from_secs(5), srv.task)
            .await
            .expect("serve returns after shutdown")
            .expect("join");
        assert!(r.is_ok());
        assert!(TcpStream::connect(srv.addr).await.is_err());
        drop(srv.metrics);
    }

    #[tokio::test]
    async fn not_ready_is_503() {
        let srv = start(Arc::new(Shared::new("idle")), Limits::default()).await;
        let h = get(srv.addr, "/healthz").await;
        assert_eq!(h.status, 503);
        assert_eq!(h.json()["status"], "not_ready");
        assert_eq!(h.json()["ready"], false);
        let s = get(srv.addr, "/api/v1/sessions").await;
        assert_eq!(s.json()["sessions"], serde_json::json!([]));
        let m = get(srv.addr, "/metrics").await;
        assert_eq!(m.status, 200);
        assert!(m.body.contains("mirrorwatch_process_packets_total 0"));
        // Dropping the sender stops the server too.
        drop(srv.shutdown);
        tokio::time::timeout(Duration::from_secs(5), srv.task)
            .await
            .expect("serve returns")
            .expect("join")
            .expect("ok");
    }

    #[tokio::test]
    async fn address_in_use_and_invalid_addresses() {
        let l = bind("127.0.0.1:0").await.expect("bind");
        let port = l.local_addr().expect("addr").port();
        let addr = format!("127.0.0.1:{port}");
        match bind(&addr).await {
            Err(e) => assert_eq!(e.to_string(), format!("{addr}: address already in use")),
            Ok(_) => panic!("second bind succeeded"),
        }
        for bad in [
            "nonsense",
            "127.0.0.1",
            "127.0.0.1:99999",
            ":9750",
            "::1:9750",
        ] {
            match bind(bad).await {
                Err(e @ HttpError::InvalidAddress { .. }) => {
                    assert!(
                        e.to_string()
                            .starts_with(&format!("{bad}: invalid listen address"))
                    );
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(bind("[::1]:0").await.is_ok() || bind("localhost:0").await.is_ok());
    }

    #[tokio::test]
    async fn slow_clients_time_out_and_excess_connections_are_closed() {
        let limits = Limits {
            read_timeout: Duration::from_millis(200),
            max_connections: 1,
            ..Limits::default()
        };
        let srv = start(Arc::new(Shared::new("t")), limits).await;
        // A slow client holds the only connection slot.
        let mut slow = TcpStream::connect(srv.addr).await.expect("connect");
        slow.write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .expect("write");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut excess = TcpStream::connect(srv.addr).await.expect("connect");
        let _ = excess
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            .await;
        let mut out = Vec::new();
        let _ = excess.read_to_end(&mut out).await;
        assert!(out.is_empty(), "the excess connection was answered");
        // The slow one gets 408.
        let mut out = Vec::new();
        slow.read_to_end(&mut out).await.expect("read");
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
        // The slot is free again.
        drop(slow);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(get(srv.addr, "/healthz").await.status, 503);
        srv.shutdown.send(true).expect("send");
        tokio::time::timeout(Duration::from_secs(5), srv.task)
            .await
            .expect("serve returns")
            .expect("join")
            .expect("ok");
    }

    #[test]
    fn rfc3339_strict() {
        let base = Some(1_709_287_200_000_000);
        assert_eq!(parse_rfc3339("2024-03-01T10:00:00Z"), base);
        assert_eq!(parse_rfc3339("2024-03-01t10:00:00z"), base);
        assert_eq!(parse_rfc3339("2024-03-01T12:00:00+02:00"), base);
        assert_eq!(parse_rfc3339("2024-03-01T05:00:00-05:00"), base);
        assert_eq!(
            parse_rfc3339("2024-03-01T10:00:00.25Z"),
            Some(1_709_287_200_250_000)
        );
        assert_eq!(
            parse_rfc3339("2024-03-01T10:00:00.123456789Z"),
            Some(1_709_287_200_123_456)
        );
        for bad in [
            "",
            "2024-03-01",
            "2024-03-01T10:00:00",
            "2024-03-01 10:00:00Z",
            "2024-03-01T10:00Z",
            "2024-03-01T10:00:00.Z",
            "2024-03-01T10:00:00+0200",
            "2024-03-01T10:00:00+2:00",
            "2024-03-01T10:00:00Z ",
            " 2024-03-01T10:00:00Z",
            "2024-13-01T10:00:00Z",
            "2024-02-30T10:00:00Z",
            "2024-03-01T24:00:00Z",
            "2024-03-01T10:00:00+24:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn dates_and_decoding() {
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(percent_decode("a%2Bb+c").as_deref(), Some("a+b+c"));
        assert_eq!(percent_decode("%3a").as_deref(), Some(":"));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%+1"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
