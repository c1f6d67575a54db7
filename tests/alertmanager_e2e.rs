//! End to end, as far as the pager: sensors replaying captures
//! (`mirrorwatch replay --listen --hold`), a real Prometheus evaluating
//! grafana/alerts/prometheus-rules.yml, a real Alertmanager routing with
//! grafana/alerts/alertmanager.yml, and a webhook receiver inside the test
//! standing in for the pager and the ticket queue.
//!
//! - `erspan3` (pcaps/erspan3.pcap, an ERSPAN III session to an external
//!   host) must page: MirrorToExternal reaches `/paging` with the labels
//!   that name the session (sensor `instance`, `encap`, `src`, `dst`, `id`)
//!   and the runbook annotation; its NewMirrorSession warning is inhibited
//!   by the page (the example's inhibit rule) and never reaches `/tickets`;
//! - `internal` (pcaps/gre.pcap, GRE mirrors to unauthorised internal
//!   hosts) must open tickets: UnauthorizedInternalMirror reaches
//!   `/tickets`, and nothing of it pages;
//! - `ordinary` (pcaps/ordinary.pcap, no mirroring) must reach neither.
//!
//! The example file is used as written except for the receiver address
//! (127.0.0.1:5001 becomes the test's) and its waits (seconds instead of
//! minutes). Skips (printing `SKIPPED: ...`) when prometheus or
//! prometheus-alertmanager is not installed (Debian packages `prometheus`
//! and `prometheus-alertmanager`). Everything listens on 127.0.0.1; every
//! child is killed when the test ends.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use serde_json::Value;

/// How long everything gets to come up and the first notifications to
/// arrive.
const LIMIT: Duration = Duration::from_secs(60);

struct Guard {
    dir: PathBuf,
    children: Vec<(String, Child)>,
}

impl Guard {
    fn new() -> Guard {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("mirrorwatch-am-e2e-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        Guard {
            dir,
            children: Vec::new(),
        }
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    fn spawn(&mut self, name: &str, cmd: &mut Command) {
        let log = std::fs::File::create(self.log(name)).expect("log file");
        let err = log.try_clone().expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.children.push((name.to_string(), child));
    }

    fn check_alive(&mut self) {
        for (name, child) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited early with {status}");
            }
        }
    }

    fn wait_for<T>(&mut self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            self.check_alive();
            assert!(
                start.elapsed() < LIMIT,
                "timed out after {LIMIT:?} waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            for (name, _) in &self.children {
                let text = std::fs::read_to_string(self.log(name)).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                eprintln!("--- last lines of {name}'s output ---");
                for l in &lines[lines.len().saturating_sub(30)..] {
                    eprintln!("{l}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What the webhook receiver got: (path, body).
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// Reads one HTTP/1.1 request (Content-Length body), answers 200.
fn serve_one(mut s: TcpStream, got: &Received) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, len) = loop {
        let Ok(n) = s.read(&mut chunk) else { return };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..p]).to_string();
            let len = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (p + 4, len);
        }
    };
    while buf.len() < head_end + len {
        let Ok(n) = s.read(&mut chunk) else { return };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let body = &buf[head_end..buf.len().min(head_end + len)];
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        got.lock().expect("receiver lock").push((path, v));
    }
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

fn webhook_receiver() -> (String, Received) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind webhook receiver");
    let addr = l.local_addr().expect("receiver address").to_string();
    let got: Received = Arc::default();
    let g = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            serve_one(s, &g);
        }
    });
    (addr, got)
}

/// Every alert the receiver got at `path`, with the notification's status.
fn alerts_at(got: &Received, path: &str) -> Vec<Value> {
    got.lock()
        .expect("receiver lock")
        .iter()
        .filter(|(p, _)| p == path)
        .flat_map(|(_, v)| v["alerts"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn find(got: &Received, path: &str, alertname: &str, instance: &str) -> Option<Value> {
    alerts_at(got, path).into_iter().find(|a| {
        a["labels"]["alertname"] == alertname
            && a["labels"]["instance"] == instance
            && a["status"] == "firing"
    })
}

fn installed(name: &str) -> Option<PathBuf> {
    common::on_path(name).or_else(|| {
        let p = PathBuf::from("/usr/bin").join(name);
        p.is_file().then_some(p)
    })
}

/// The example routing with the test's receiver and short waits; each
/// replaced text must be there (the test would otherwise wait minutes, or
/// post to nobody).
fn routing_for_test(example: &str, receiver: &str) -> String {
    let mut text = example.to_string();
    for (from, to) in [
        ("127.0.0.1:5001", receiver),
        ("group_wait: 30s", "group_wait: 1s"),
        ("group_wait: 10s", "group_wait: 1s"),
        ("group_interval: 5m", "group_interval: 1s"),
    ] {
        assert!(
            text.contains(from),
            "grafana/alerts/alertmanager.yml lacks {from:?}"
        );
        text = text.replace(from, to);
    }
    text
}

#[test]
fn external_mirror_pages_ordinary_traffic_does_not() {
    let (Some(prometheus), Some(alertmanager)) = (
        installed("prometheus"),
        installed("prometheus-alertmanager"),
    ) else {
        eprintln!(
            "SKIPPED: prometheus or prometheus-alertmanager not installed \
             (Debian packages prometheus, prometheus-alertmanager)"
        );
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_mirrorwatch"));
    let mut guard = Guard::new();
    let (receiver, got) = webhook_receiver();

    let scenarios = [
        ("erspan3", "pcaps/erspan3.pcap"),
        ("internal", "pcaps/gre.pcap"),
        ("ordinary", "pcaps/ordinary.pcap"),
    ];
    let mut sensors = Vec::new();
    for (name, pcap) in scenarios {
        let addr = format!("127.0.0.1:{}", common::free_port());
        guard.spawn(
            name,
            Command::new(&bin).current_dir(&root).args([
                "replay",
                "--listen",
                &addr,
                "--hold",
                "--config",
                "pcaps/golden.toml",
                pcap,
            ]),
        );
        sensors.push((name, addr));
    }
    let instance = |n: &str| -> String {
        sensors
            .iter()
            .find(|(s, _)| *s == n)
            .map(|(_, a)| a.clone())
            .expect("scenario")
    };

    // Alertmanager, with the example routing.
    let example = std::fs::read_to_string(root.join("grafana/alerts/alertmanager.yml"))
        .expect("grafana/alerts/alertmanager.yml");
    let am_config = guard.dir.join("alertmanager.yml");
    std::fs::write(&am_config, routing_for_test(&example, &receiver)).expect("write config");
    let am = format!("127.0.0.1:{}", common::free_port());
    guard.spawn(
        "alertmanager",
        Command::new(&alertmanager).args([
            format!("--config.file={}", am_config.display()),
            format!("--storage.path={}", guard.dir.join("am-data").display()),
            format!("--web.listen-address={am}"),
            "--cluster.listen-address=".to_string(),
            "--log.level=warn".to_string(),
        ]),
    );

    // Prometheus, alerting to it.
    let rules = root.join("grafana/alerts/prometheus-rules.yml");
    let targets: Vec<String> = sensors.iter().map(|(_, a)| format!("'{a}'")).collect();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - '{}'\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n\
         scrape_configs:\n  - job_name: mirrorwatch\n    static_configs:\n      - targets: [{}]\n",
        rules.display(),
        targets.join(", ")
    );
    let prom_config = guard.dir.join("prometheus.yml");
    std::fs::write(&prom_config, config).expect("write prometheus.yml");
    let prom = format!("127.0.0.1:{}", common::free_port());
    guard.spawn(
        "prometheus",
        Command::new(&prometheus).args([
            format!("--config.file={}", prom_config.display()),
            format!("--storage.tsdb.path={}", guard.dir.join("tsdb").display()),
            format!("--web.listen-address={prom}"),
            "--rules.alert.resend-delay=1s".to_string(),
            "--log.level=warn".to_string(),
        ]),
    );
    guard.wait_for("Alertmanager ready", || {
        common::http_get(&am, "/-/ready")
            .ok()
            .filter(|(c, _)| *c == 200)
    });
    guard.wait_for("Prometheus ready", || {
        common::http_get(&prom, "/-/ready")
            .ok()
            .filter(|(c, _)| *c == 200)
    });
    // Prometheus found the Alertmanager.
    guard.wait_for("Prometheus sees the Alertmanager", || {
        let (_, body) = common::http_get(&prom, "/api/v1/alertmanagers").ok()?;
        body.contains(&am).then_some(())
    });

    // The external mirror pages, naming its session, with the runbook.
    let erspan3 = instance("erspan3");
    let page = guard.wait_for("MirrorToExternal paged for erspan3", || {
        find(&got, "/paging", "MirrorToExternal", &erspan3)
    });
    let l = &page["labels"];
    assert_eq!(l["instance"], erspan3.as_str(), "{page}");
    assert_eq!(l["job"], "mirrorwatch", "{page}");
    assert_eq!(l["encap"], "erspan3", "{page}");
    assert_eq!(l["src"], "10.1.0.3", "{page}");
    assert_eq!(l["dst"], "203.0.113.50", "{page}");
    assert_eq!(l["id"], "7", "{page}");
    assert_eq!(l["severity"], "critical", "{page}");
    assert_eq!(l["mitre_technique"], "T1020.001", "{page}");
    let runbook = page["annotations"]["runbook"].as_str().unwrap_or("");
    assert!(
        runbook.contains("T1020.001") && runbook.contains("Contain"),
        "runbook annotation missing or wrong: {page}"
    );
    let summary = page["annotations"]["summary"].as_str().unwrap_or("");
    assert!(summary.contains("203.0.113.50"), "summary: {page}");
    // The notification came from the paging receiver.
    let receivers: Vec<String> = got
        .lock()
        .expect("receiver lock")
        .iter()
        .filter(|(p, _)| p == "/paging")
        .filter_map(|(_, v)| v["receiver"].as_str().map(str::to_owned))
        .collect();
    assert!(receivers.iter().all(|r| r == "paging"), "{receivers:?}");

    // The internal mirror opens a ticket.
    let internal = instance("internal");
    let ticket = guard.wait_for("UnauthorizedInternalMirror ticket for internal", || {
        find(&got, "/tickets", "UnauthorizedInternalMirror", &internal)
    });
    assert_eq!(ticket["labels"]["severity"], "warning", "{ticket}");
    assert_eq!(ticket["labels"]["encap"], "gre", "{ticket}");
    assert!(
        ticket["annotations"]["runbook"]
            .as_str()
            .is_some_and(|r| r.contains("T1020.001")),
        "{ticket}"
    );

    // Give the others time to arrive (several group waits), then: ordinary
    // traffic reached nobody, the internal mirror paged nobody, and the
    // page inhibited the external session's new-session ticket.
    std::thread::sleep(Duration::from_secs(5));
    guard.check_alive();
    let ordinary = instance("ordinary");
    for path in ["/paging", "/tickets"] {
        let hits: Vec<Value> = alerts_at(&got, path)
            .into_iter()
            .filter(|a| a["labels"]["instance"] == ordinary.as_str())
            .collect();
        assert!(hits.is_empty(), "ordinary traffic reached {path}: {hits:?}");
    }
    let paged_internal: Vec<Value> = alerts_at(&got, "/paging")
        .into_iter()
        .filter(|a| a["labels"]["instance"] == internal.as_str())
        .collect();
    assert!(
        paged_internal.is_empty(),
        "an internal mirror paged: {paged_internal:?}"
    );
    let inhibited: Vec<Value> = alerts_at(&got, "/tickets")
        .into_iter()
        .filter(|a| {
            a["labels"]["instance"] == erspan3.as_str()
                && a["labels"]["alertname"] == "NewMirrorSession"
        })
        .collect();
    assert!(
        inhibited.is_empty(),
        "NewMirrorSession for a paged session was not inhibited: {inhibited:?}"
    );
    // Alertmanager holds the inhibited alert (so it was sent, and muted).
    let (_, body) = common::http_get(
        &am,
        "/api/v2/alerts?inhibited=true&active=false&silenced=false",
    )
    .expect("Alertmanager API");
    let held: Value = serde_json::from_str(&body).expect("alerts JSON");
    assert!(
        held.as_array().into_iter().flatten().any(|a| {
            a["labels"]["alertname"] == "NewMirrorSession"
                && a["labels"]["instance"] == erspan3.as_str()
                && a["status"]["inhibitedBy"]
                    .as_array()
                    .is_some_and(|v| !v.is_empty())
        }),
        "Alertmanager holds no inhibited NewMirrorSession for erspan3: {body}"
    );
    drop(guard);
}
