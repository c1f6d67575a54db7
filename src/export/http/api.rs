//! The routes: what each request is answered, and the streamed JSON lists.
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use serde::Serialize;
use tokio::sync::Semaphore;
use tracing::warn;

use super::web::WebConfig;
use crate::decode::Encap;
use crate::detect::alert::Alert;
use crate::export::metrics::{HTTP_ROUTES, Metrics, OTHER};
use crate::export::state::Shared;
use crate::report::SessionReport;

const CONTENT_TYPE_METRICS: &str = "text/plain; version=0.0.4; charset=utf-8";
const CONTENT_TYPE_JSON: &str = "application/json";

/// Items of a list page when `limit` is not given.
pub const DEFAULT_PAGE: usize = 1000;
/// Largest `limit`.
pub const MAX_PAGE: usize = 10_000;
/// Items serialised per body chunk (about 12 KB of sessions).
const CHUNK_ITEMS: usize = 16;

/// The body of an answer: whole, or produced chunk by chunk as the client
/// reads.
pub struct ApiBody {
    chunks: Option<Box<dyn Iterator<Item = Bytes> + Send>>,
    whole: Option<Bytes>,
    /// A chunk was just produced: yield to the other connections before
    /// the next one, so that one client's long list never holds a worker
    /// (and `/healthz` waits behind one chunk per busy client at most).
    produced: bool,
}

impl ApiBody {
    fn whole(b: impl Into<Bytes>) -> Self {
        ApiBody {
            chunks: None,
            whole: Some(b.into()),
            produced: false,
        }
    }

    fn streamed(it: impl Iterator<Item = Bytes> + Send + 'static) -> Self {
        ApiBody {
            chunks: Some(Box::new(it)),
            whole: None,
            produced: false,
        }
    }
}

impl Body for ApiBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(b) = self.whole.take() {
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        if std::mem::take(&mut self.produced) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let next = self.chunks.as_mut().and_then(|c| c.next());
        self.produced = next.is_some();
        if next.is_none() {
            self.chunks = None;
        }
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.whole.is_none() && self.chunks.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.whole, &self.chunks) {
            (Some(b), None) => SizeHint::with_exact(b.len() as u64),
            (None, None) => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

/// An answer in the making.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: ApiBody,
    allow: bool,
    close: bool,
    challenge: Option<&'static str>,
}

impl Answer {
    fn new(status: u16, content_type: &'static str, body: ApiBody) -> Self {
        Answer {
            status,
            content_type,
            body,
            allow: false,
            close: false,
            challenge: None,
        }
    }

    fn json<T: Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(mut body) => {
                body.push(b'\n');
                Answer::new(status, CONTENT_TYPE_JSON, ApiBody::whole(body))
            }
            Err(e) => {
                warn!(error = %e, "HTTP: cannot serialise the answer");
                Answer::error(500, "cannot serialise the answer")
            }
        }
    }

    fn error(status: u16, message: &str) -> Self {
        let body = serde_json::json!({ "error": message, "status": status });
        let mut body = body.to_string().into_bytes();
        body.push(b'\n');
        Answer::new(status, CONTENT_TYPE_JSON, ApiBody::whole(body))
    }

    fn bad_parameter(name: &str, detail: &str) -> Self {
        let body = serde_json::json!({
            "error": format!("invalid query parameter {name:?}: {detail}"),
            "parameter": name,
            "status": 400,
        });
        let mut body = body.to_string().into_bytes();
        body.push(b'\n');
        Answer::new(400, CONTENT_TYPE_JSON, ApiBody::whole(body))
    }

    /// The response; for HEAD hyper sends the headers of the same answer
    /// (its length where known) and no body.
    fn into_response(self, web: Option<&WebConfig>) -> Response<ApiBody> {
        let mut r = Response::new(self.body);
        *r.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::SERVER, HeaderValue::from_static(SERVER));
        if self.allow {
            h.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        if self.close {
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(c) = self.challenge {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        if let Some(w) = web {
            for (k, v) in w.headers() {
                h.insert(k.clone(), v.clone());
            }
        }
        r
    }
}

const SERVER: &str = concat!("mirrorwatch/", env!("CARGO_PKG_VERSION"));

/// What the routes read, shared by every connection.
pub struct Api {
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    web: Option<Arc<WebConfig>>,
    /// `/metrics` renders off the async workers, one at a time.
    render: Semaphore,
}

impl Api {
    pub fn new(shared: Arc<Shared>, metrics: Arc<Metrics>, web: Option<Arc<WebConfig>>) -> Self {
        Api {
            shared,
            metrics,
            web,
            render: Semaphore::new(1),
        }
    }

    /// The answer to one request.
    pub async fn answer(&self, req: Request<Incoming>, _peer: SocketAddr) -> Response<ApiBody> {
        let path = req.uri().path();
        let counted = HTTP_ROUTES
            .iter()
            .find(|r| **r == path)
            .copied()
            .unwrap_or(OTHER);
        let a = self.route(&req, counted).await;
        self.metrics.count_request(counted, a.status);
        a.into_response(self.web.as_deref())
    }

    async fn route(&self, req: &Request<Incoming>, route: &'static str) -> Answer {
        let h = req.headers();
        let hosts = h.get_all(header::HOST).iter().count();
        if hosts > 1 || (req.version() == Version::HTTP_11 && hosts == 0) {
            let mut a = Answer::error(400, "an HTTP/1.1 request needs exactly one Host header");
            a.close = true;
            return a;
        }
        let has_body = h.contains_key(header::TRANSFER_ENCODING)
            || h.get(header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0");
        if has_body {
            let mut a = Answer::error(413, "request bodies are not accepted");
            a.close = true;
            return a;
        }
        if let Some(w) = &self.web
            && let Err(challenge) = w.authorize(h.get(header::AUTHORIZATION)).await
        {
            let mut a = Answer::error(401, "authentication required");
            a.challenge = Some(challenge);
            return a;
        }
        // Any other method on any target, `OPTIONS *` and `CONNECT
        // host:port` included: nothing here is served but to GET and HEAD.
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut a = Answer::error(405, "only GET and HEAD");
            a.allow = true;
            return a;
        }
        if route == OTHER {
            return Answer::error(404, "not found");
        }
        let query = req.uri().query();
        match route {
            "/metrics" => self.metrics().await,
            "/healthz" => self.health(),
            "/api/v1/sessions" => match SessionsQuery::parse(query) {
                Ok(q) => self.sessions(q),
                Err(a) => a,
            },
            "/api/v1/alerts" => match AlertsQuery::parse(query) {
                Ok(q) => self.alerts(q),
                Err(a) => a,
            },
            _ => Answer::error(404, "not found"),
        }
    }

    async fn metrics(&self) -> Answer {
        let Ok(_permit) = self.render.acquire().await else {
            return Answer::error(503, "shutting down");
        };
        let (shared, metrics) = (self.shared.clone(), self.metrics.clone());
        let text = tokio::task::spawn_blocking(move || {
            metrics.update(&shared);
            metrics.encode()
        })
        .await;
        match text {
            Ok(t) => Answer::new(200, CONTENT_TYPE_METRICS, ApiBody::whole(t)),
            Err(_) => Answer::error(500, "cannot render the metrics"),
        }
    }

    fn health(&self) -> Answer {
        let shared = &self.shared;
        let ready = shared.ready.load(Ordering::Acquire);
        let failing = shared.output_health().failing;
        let ok = ready && failing.is_empty();
        let sensor = shared.sensor();
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
        Answer::json(if ok { 200 } else { 503 }, &health)
    }

    fn sessions(&self, q: SessionsQuery) -> Answer {
        let all = self.shared.sessions();
        let start = match &q.after {
            None => 0,
            Some(c) => all.partition_point(|r| {
                crate::report::order(session_position(r), c.as_tuple())
                    != std::cmp::Ordering::Greater
            }),
        };
        let end = start.saturating_add(q.limit).min(all.len());
        let next = (end < all.len())
            .then(|| all.get(end.wrapping_sub(1)))
            .flatten()
            .map(Cursor::of);
        let head = ListHead {
            sensor: self.shared.sensor(),
            total: all.len(),
            next_cursor: next.map(|c| c.encode()),
        };
        let items = ArcSlice {
            all,
            range: start..end,
        };
        list_answer(&head, "sessions", items)
    }

    fn alerts(&self, q: AlertsQuery) -> Answer {
        let found = match self.shared.alerts.lock() {
            Ok(r) => r.since_after(q.since.unwrap_or(i64::MIN), q.after.unwrap_or(0)),
            Err(poisoned) => poisoned
                .into_inner()
                .since_after(q.since.unwrap_or(i64::MIN), q.after.unwrap_or(0)),
        };
        let total = found.len();
        let page: Vec<(u64, Arc<Alert>)> = found.into_iter().take(q.limit).collect();
        let next = (page.len() < total)
            .then(|| page.last().map(|(seq, _)| seq.to_string()))
            .flatten();
        let head = ListHead {
            sensor: self.shared.sensor(),
            total,
            next_cursor: next,
        };
        list_answer(&head, "alerts", AlertPage(page))
    }
}

/// Items a streamed list serialises, by index.
trait Items: Send + 'static {
    type Item: Serialize;
    fn len(&self) -> usize;
    fn get(&self, i: usize) -> Option<&Self::Item>;
}

/// A range of the published session snapshot.
struct ArcSlice {
    all: Arc<Vec<SessionReport>>,
    range: std::ops::Range<usize>,
}

impl Items for ArcSlice {
    type Item = SessionReport;
    fn len(&self) -> usize {
        self.range.len()
    }
    fn get(&self, i: usize) -> Option<&SessionReport> {
        self.all
            .get(self.range.start.checked_add(i)?)
            .filter(|_| i < self.range.len())
    }
}

struct AlertPage(Vec<(u64, Arc<Alert>)>);

impl Items for AlertPage {
    type Item = Alert;
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, i: usize) -> Option<&Alert> {
        self.0.get(i).map(|(_, a)| a.as_ref())
    }
}

#[derive(Serialize)]
struct ListHead {
    sensor: String,
    /// Items matching the request, on every page together.
    total: usize,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// `{ ...head, "<name>": [items...] }`, serialised as the client reads.
fn list_answer<I: Items>(head: &ListHead, name: &'static str, items: I) -> Answer {
    let Ok(mut open) = serde_json::to_vec(head) else {
        return Answer::error(500, "cannot serialise the answer");
    };
    // `{"sensor":...}` → `{"sensor":...,"<name>":[`
    open.pop();
    open.extend_from_slice(format!(",\"{name}\":[").as_bytes());
    let n = items.len();
    let chunks = n.div_ceil(CHUNK_ITEMS);
    let body = std::iter::once(Bytes::from(open))
        .chain((0..chunks).map(move |c| {
            let mut out = Vec::with_capacity(CHUNK_ITEMS * 512);
            let from = c * CHUNK_ITEMS;
            for i in from..(from + CHUNK_ITEMS).min(n) {
                if i > 0 {
                    out.push(b',');
                }
                if let Some(item) = items.get(i)
                    && serde_json::to_writer(&mut out, item).is_err()
                {
                    out.extend_from_slice(b"null");
                }
            }
            Bytes::from(out)
        }))
        .chain(std::iter::once(Bytes::from_static(b"]}\n")));
    Answer::new(200, CONTENT_TYPE_JSON, ApiBody::streamed(body))
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

/// What [`crate::report::order`] reads of a session.
fn session_position(r: &SessionReport) -> (u64, Encap, &str, &str, Option<u32>) {
    (r.bytes, r.encap, &r.src, &r.dst, r.id)
}

/// The position of the last session of a page in the report order: the
/// next page starts after it (keyset pagination, so that pages stay
/// consistent while the list changes between requests).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    bytes: u64,
    encap: Encap,
    src: String,
    dst: String,
    id: Option<u32>,
}

impl Cursor {
    fn of(r: &SessionReport) -> Self {
        Cursor {
            bytes: r.bytes,
            encap: r.encap,
            src: r.src.clone(),
            dst: r.dst.clone(),
            id: r.id,
        }
    }

    fn as_tuple(&self) -> (u64, Encap, &str, &str, Option<u32>) {
        (self.bytes, self.encap, &self.src, &self.dst, self.id)
    }

    /// Opaque, URL-safe: hex of `bytes|encap|src|dst|id`.
    fn encode(&self) -> String {
        let id = self.id.map_or_else(|| "-".to_owned(), |i| i.to_string());
        let plain = format!(
            "{}|{}|{}|{}|{id}",
            self.bytes,
            self.encap.as_str(),
            self.src,
            self.dst
        );
        plain.bytes().map(|b| format!("{b:02x}")).collect()
    }

    fn decode(s: &str) -> Option<Cursor> {
        if s.len() % 2 != 0 || s.len() > 1024 {
            return None;
        }
        let raw: Option<Vec<u8>> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
            .collect();
        let text = String::from_utf8(raw?).ok()?;
        let mut it = text.split('|');
        let (Some(bytes), Some(encap), Some(src), Some(dst), Some(id), None) = (
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
        ) else {
            return None;
        };
        Some(Cursor {
            bytes: bytes.parse().ok()?,
            encap: *Encap::ALL.iter().find(|e| e.as_str() == encap)?,
            src: src.to_owned(),
            dst: dst.to_owned(),
            id: if id == "-" {
                None
            } else {
                Some(id.parse().ok()?)
            },
        })
    }
}

/// The query parameters as (name, value) pairs, percent-decoded.
fn params(query: Option<&str>) -> Result<Vec<(String, String)>, Answer> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in query.unwrap_or_default().split('&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (percent_decode(k), percent_decode(v)) else {
            return Err(Answer::error(400, "malformed query string"));
        };
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(Answer::bad_parameter(&k, "given more than once"));
        }
        out.push((k, v));
    }
    Ok(out)
}

fn limit_of(v: &str) -> Result<usize, Answer> {
    match v.parse::<usize>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        _ => Err(Answer::bad_parameter(
            "limit",
            &format!("expected a whole number from 1 to {MAX_PAGE}"),
        )),
    }
}

struct SessionsQuery {
    limit: usize,
    after: Option<Cursor>,
}

impl SessionsQuery {
    fn parse(query: Option<&str>) -> Result<Self, Answer> {
        let mut q = SessionsQuery {
            limit: DEFAULT_PAGE,
            after: None,
        };
        for (k, v) in params(query)? {
            match k.as_str() {
                "limit" => q.limit = limit_of(&v)?,
                "cursor" => {
                    q.after = Some(Cursor::decode(&v).ok_or_else(|| {
                        Answer::bad_parameter("cursor", "not a cursor this API returned")
                    })?);
                }
                _ => {
                    return Err(Answer::bad_parameter(
                        &k,
                        "unknown parameter (known: limit, cursor)",
                    ));
                }
            }
        }
        Ok(q)
    }
}

struct AlertsQuery {
    since: Option<i64>,
    limit: usize,
    after: Option<u64>,
}

impl AlertsQuery {
    fn parse(query: Option<&str>) -> Result<Self, Answer> {
        let mut q = AlertsQuery {
            since: None,
            limit: DEFAULT_PAGE,
            after: None,
        };
        for (k, v) in params(query)? {
            match k.as_str() {
                "since" => {
                    q.since = Some(parse_rfc3339(&v).ok_or_else(|| {
                        Answer::bad_parameter(
                            "since",
                            "expected an RFC 3339 timestamp such as 2026-01-01T00:00:00Z or 2026-01-01T01:00:00.5+01:00",
                        )
                    })?);
                }
                "limit" => q.limit = limit_of(&v)?,
                "cursor" => {
                    q.after = Some(v.parse().map_err(|_| {
                        Answer::bad_parameter("cursor", "not a cursor this API returned")
                    })?);
                }
                _ => {
                    return Err(Answer::bad_parameter(
                        &k,
                        "unknown parameter (known: since, limit, cursor)",
                    ));
                }
            }
        }
        Ok(q)
    }
}

/// The query parsers, for the fuzz target: whether `query` is accepted
/// by the sessions and the alerts routes.
#[doc(hidden)]
pub fn fuzz_query(query: &str) -> (bool, bool) {
    let s = SessionsQuery::parse(Some(query)).is_ok();
    let a = AlertsQuery::parse(Some(query)).is_ok();
    if let Some(c) = query.strip_prefix("cursor=").and_then(Cursor::decode) {
        // A decoded cursor encodes back to itself.
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
    }
    (s, a)
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn decoding_and_cursors() {
        assert_eq!(percent_decode("a%2Bb+c").as_deref(), Some("a+b+c"));
        assert_eq!(percent_decode("%3a").as_deref(), Some(":"));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%+1"), None);
        assert_eq!(percent_decode("%ff"), None);
        let c = Cursor {
            bytes: 1234,
            encap: Encap::Vxlan,
            src: "2001:db8::1".to_owned(),
            dst: "198.51.100.7".to_owned(),
            id: Some(42),
        };
        let e = c.encode();
        assert!(e.bytes().all(|b| b.is_ascii_hexdigit()), "{e}");
        assert_eq!(Cursor::decode(&e), Some(c.clone()));
        let none = Cursor { id: None, ..c };
        assert_eq!(Cursor::decode(&none.encode()), Some(none));
        for bad in ["", "zz", "123", "31327c766f78", "7c7c7c7c"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
        assert_eq!(fuzz_query("limit=5"), (true, true));
        assert_eq!(fuzz_query("limit=0"), (false, false));
        assert_eq!(fuzz_query("limit=10001"), (false, false));
        assert_eq!(fuzz_query("since=2026-01-01T00:00:00Z"), (false, true));
        assert_eq!(fuzz_query("cursor=17"), (false, true));
        assert_eq!(fuzz_query("limit=1&limit=2"), (false, false));
    }
}
