//! The server end to end on loopback: raw requests written by hand, so
//! that what goes over the wire is what is checked.
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::*;
use crate::detect::Engine;
use crate::detect::alert::Alert;
use crate::export::metrics::Metrics;

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
    shared.publish(&e, &[], last + 1_000_000, None);
    (Arc::new(shared), alerts)
}

struct Server {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<io::Result<()>>,
}

async fn start(shared: Arc<Shared>, limits: Limits, web: Option<WebConfig>) -> Server {
    let listener = bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let metrics = Arc::new(Metrics::new(200));
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(serve(
        listener,
        shared,
        metrics,
        rx,
        limits,
        web.map(Arc::new),
    ));
    Server {
        addr,
        shutdown: tx,
        task,
    }
}

impl Server {
    async fn stop(self) {
        self.shutdown.send(true).expect("send");
        let r = tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("serve returns after shutdown")
            .expect("join");
        assert!(r.is_ok());
        assert!(TcpStream::connect(self.addr).await.is_err());
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

/// Decodes a chunked body.
fn dechunk(mut b: &str) -> String {
    let mut out = String::new();
    loop {
        let Some((size, rest)) = b.split_once("\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        b = &rest[n + 2..];
    }
}

/// Sends `request` (which should say `Connection: close` or be the last)
/// and reads the answer to the end.
async fn raw(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let text = String::from_utf8(out).expect("UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let mut a = Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    };
    if a.header("transfer-encoding") == Some("chunked") {
        a.body = dechunk(&a.body);
    }
    a
}

async fn get(addr: SocketAddr, target: &str) -> Answer {
    raw(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
}

#[tokio::test]
async fn routes_and_errors() {
    let (shared, alerts) = shared_with_alerts();
    let srv = start(shared.clone(), Limits::default(), None).await;

    let m = get(srv.addr, "/metrics").await;
    assert_eq!(m.status, 200);
    assert_eq!(
        m.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
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
    assert_eq!(s.header("content-type"), Some("application/json"));
    let j = s.json();
    assert_eq!(j["sensor"], "test-sensor");
    let expected = serde_json::to_value(shared.session_list()).expect("serialise");
    assert_eq!(j["sessions"], expected);
    assert_eq!(j["total"], expected.as_array().map_or(0, Vec::len));
    assert!(j.get("next_cursor").is_none());
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

    for (bad, param) in [
        ("/api/v1/alerts?since=yesterday", "since"),
        ("/api/v1/alerts?since=2026-01-01", "since"),
        ("/api/v1/alerts?since=2026-01-01T00:00:00", "since"),
        ("/api/v1/alerts?since=2026-02-30T00:00:00Z", "since"),
        ("/api/v1/alerts?since=", "since"),
        ("/api/v1/alerts?sinse=2026-01-01T00:00:00Z", "sinse"),
        ("/api/v1/alerts?limit=0", "limit"),
        ("/api/v1/sessions?limit=10001", "limit"),
        ("/api/v1/sessions?cursor=nothex", "cursor"),
        ("/api/v1/sessions?since=2026-01-01T00:00:00Z", "since"),
    ] {
        let b = get(srv.addr, bad).await;
        assert_eq!(b.status, 400, "{bad}");
        let j = b.json();
        assert_eq!(j["parameter"], param, "{bad}");
        assert!(
            j["error"].as_str().is_some_and(|e| e.contains(param)),
            "{bad}"
        );
    }

    // HEAD: the headers of GET, no body.
    let hd = raw(
        srv.addr,
        b"HEAD /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(hd.status, 200);
    assert!(hd.body.is_empty());
    assert_ne!(hd.header("content-length"), Some("0"));

    let p = raw(
        srv.addr,
        b"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(p.status, 405);
    assert_eq!(p.header("allow"), Some("GET, HEAD"));
    assert_eq!(get(srv.addr, "/nope").await.status, 404);
    assert_eq!(get(srv.addr, "/metrics/").await.status, 404);
    // Other methods get 405 on any target: an unknown path, the server
    // as a whole, a tunnel.
    for head in [
        &b"POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"[..],
        b"OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        b"CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\nConnection: close\r\n\r\n",
    ] {
        let a = raw(srv.addr, head).await;
        assert_eq!(a.status, 405, "{}", String::from_utf8_lossy(head));
        assert_eq!(a.header("allow"), Some("GET, HEAD"));
    }
    // More than 100 header fields, however short: 431.
    let mut many = b"GET /metrics HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 0..120 {
        many.extend_from_slice(format!("X-{i}: a\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert!(many.len() < MAX_HEAD_BYTES);
    assert_eq!(raw(srv.addr, &many).await.status, 431);
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
        &b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n"[..],
        b"GET /metrics HTTP/1.1\r\nHost: t\r\nHost: u\r\nConnection: close\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost : t\r\n\r\n",
        b"\xff\xfe /metrics HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        let a = raw(srv.addr, malformed).await;
        assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(malformed));
    }
    // HTTP/1.0 without Host, and absolute-form targets, are fine.
    assert_eq!(
        raw(srv.addr, b"GET /healthz HTTP/1.0\r\n\r\n").await.status,
        200
    );
    assert_eq!(
        get(srv.addr, "http://example.com/healthz").await.status,
        200
    );

    // Keep-alive: two requests on one connection.
    let mut c = TcpStream::connect(srv.addr).await.expect("connect");
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    c.read_to_string(&mut out).await.expect("read");
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");

    // The requests were counted.
    let m = get(srv.addr, "/metrics").await;
    for series in [
        "mirrorwatch_http_requests_total{code=\"200\",path=\"/metrics\"} 1",
        "mirrorwatch_http_requests_total{code=\"404\",path=\"other\"} 2",
        "mirrorwatch_http_requests_total{code=\"405\",path=\"/metrics\"} 1",
        "mirrorwatch_http_requests_total{code=\"405\",path=\"other\"} 3",
        "mirrorwatch_http_requests_total{code=\"400\",path=\"/api/v1/alerts\"} 7",
    ] {
        assert!(m.body.contains(series), "{series} missing:\n{}", m.body);
    }
    srv.stop().await;
}

#[tokio::test]
async fn pages_cover_the_list_once() {
    // 300 sessions of the vxlan scenario's kind: publish synthetic reports.
    let (shared, _) = shared_with_alerts();
    let base = shared.session_list().into_iter().next().expect("a session");
    let mut many = Vec::new();
    for i in 0..300u32 {
        let mut r = base.clone();
        r.id = Some(i);
        r.key.id = Some(i);
        r.bytes = u64::from(i % 7) * 1000;
        many.push(r);
    }
    shared.set_sessions(many);
    let srv = start(shared.clone(), Limits::default(), None).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let target = match &cursor {
            None => "/api/v1/sessions?limit=64".to_owned(),
            Some(c) => format!("/api/v1/sessions?limit=64&cursor={c}"),
        };
        let j = get(srv.addr, &target).await.json();
        assert_eq!(j["total"], 300);
        pages += 1;
        for s in j["sessions"].as_array().expect("sessions") {
            seen.push(s["id"].as_u64().expect("id"));
        }
        match j.get("next_cursor").and_then(|c| c.as_str()) {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    let want: Vec<u64> = shared
        .sessions()
        .iter()
        .filter_map(|r| r.id.map(u64::from))
        .collect();
    assert_eq!(seen, want, "the pages, in order, are the list");
    srv.stop().await;
}

#[tokio::test]
async fn not_ready_is_503() {
    let srv = start(Arc::new(Shared::new("idle")), Limits::default(), None).await;
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
async fn slow_and_idle_clients_are_closed_and_never_lock_out_a_new_one() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(1),
        max_connections: 8,
        max_connections_per_client: 4,
        ..Limits::default()
    };
    let srv = start(Arc::new(Shared::new("t")), limits, None).await;
    // More slow clients than the limits allow, each with half a head.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(srv.addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .expect("write");
        slow.push(s);
    }
    // A new client is still answered at once.
    let t = Instant::now();
    assert_eq!(get(srv.addr, "/healthz").await.status, 503);
    assert!(
        t.elapsed() < Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
    // The slow ones are closed: by the limits, or by the header timeout.
    for mut s in slow {
        let mut out = Vec::new();
        let r = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut out)).await;
        assert!(r.is_ok(), "a slow client was kept open");
    }
    let m = get(srv.addr, "/metrics").await;
    let evicted = |m: &Answer, reason: &str| -> f64 {
        let series = format!("mirrorwatch_http_connection_evictions_total{{reason=\"{reason}\"}} ");
        m.body
            .lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(evicted(&m, "client_limit") >= 16.0, "{}", m.body);
    srv.stop().await;

    // A connection that sends nothing is closed by the idle timeout (here
    // shorter than the header timeout).
    let limits = Limits {
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let srv = start(Arc::new(Shared::new("t")), limits, None).await;
    let mut idle = TcpStream::connect(srv.addr).await.expect("connect");
    let t = Instant::now();
    let mut out = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(4), idle.read_to_end(&mut out)).await;
    assert!(r.is_ok(), "an idle connection was kept open");
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    let m = get(srv.addr, "/metrics").await;
    assert!(evicted(&m, "idle") >= 1.0, "{}", m.body);
    srv.stop().await;
}

#[tokio::test]
async fn tls_and_authentication_from_a_web_config() {
    let dir = std::env::temp_dir().join(format!("mw-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    std::fs::write(dir.join("s.crt"), cert.cert.pem()).expect("write");
    std::fs::write(dir.join("s.key"), cert.signing_key.serialize_pem()).expect("write");
    let hash = bcrypt::hash("pw", 4).expect("hash");
    std::fs::write(
        dir.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\nbasic_auth_users:\n  prom: '{hash}'\n"
        ),
    )
    .expect("write");
    let web = WebConfig::load(&dir.join("web.yml")).expect("web config");
    let (shared, _) = shared_with_alerts();
    let srv = start(shared, Limits::default(), Some(web)).await;

    // Plain HTTP on a TLS port gets no answer.
    let mut plain = TcpStream::connect(srv.addr).await.expect("connect");
    let _ = plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), plain.read_to_end(&mut out)).await;
    assert!(!String::from_utf8_lossy(&out).contains("200 OK"));

    // A TLS client trusting the certificate.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let ask = |auth: Option<&'static str>| {
        let connector = connector.clone();
        async move {
            let tcp = TcpStream::connect(srv.addr).await.expect("connect");
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
            let mut tls = connector.connect(name, tcp).await.expect("handshake");
            let auth = auth.map_or_else(String::new, |a| format!("Authorization: {a}\r\n"));
            tls.write_all(
                format!("GET /healthz HTTP/1.1\r\nHost: t\r\n{auth}Connection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .expect("write");
            let mut out = Vec::new();
            let _ = tls.read_to_end(&mut out).await;
            String::from_utf8_lossy(&out).into_owned()
        }
    };
    let none = ask(None).await;
    assert!(none.starts_with("HTTP/1.1 401"), "{none}");
    assert!(
        none.contains("www-authenticate: Basic realm=\"mirrorwatch\""),
        "{none}"
    );
    // prom:pw and prom:nope in base64.
    let ok = ask(Some("Basic cHJvbTpwdw==")).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let wrong = ask(Some("Basic cHJvbTpub3Bl")).await;
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    srv.stop().await;
}
