//! End to end: `mirrorwatch replay --listen ... --hold` serves the metrics
//! of replayed captures, a real Prometheus scrapes them and evaluates
//! grafana/alerts/prometheus-rules.yml, and every PromQL expression of the
//! dashboard and of both rule files is run through Prometheus's HTTP API.
//!
//! Five sensors (one scrape job, told apart by `instance`):
//! - `erspan3`: pcaps/erspan3.pcap, an ERSPAN III session to an external
//!   host: MirrorToExternal must fire for it, naming the session;
//! - `ordinary`: pcaps/ordinary.pcap, no mirroring: MirrorToExternal must
//!   not fire for it;
//! - `coverage`: captures with decode errors, duplicates and the other
//!   alert kinds, so that every panel has a scenario that fills it;
//! - `config-cloud`: pcaps/aws-vxlan-mirror.pcap with the CloudTrail log
//!   that created its traffic-mirror session (`--logs`): configuration
//!   events, mirror_config_change (high: cross-account, unapproved) and
//!   unapproved_mirror_config, and a session the log explains (correlated):
//!   MirrorWithoutConfig must not fire for it;
//! - `config-unexplained`: pcaps/tzsp.pcap with the syslog of another
//!   device (tests/fixtures/logs/cisco-ios.log): the TZSP mirror is
//!   unexplained (uncorrelated, mirror_without_config): MirrorWithoutConfig
//!   must fire for it.
//!
//! Skips (printing `SKIPPED: ...`) when `prometheus` or `promtool` is not
//! installed (Debian package `prometheus`) or when `mirrorwatch replay`
//! has no `--listen`. `MIRRORWATCH_E2E_BIN` replaces the mirrorwatch binary
//! (e.g. a release build). Everything listens on 127.0.0.1 only; every
//! child process is killed when the test ends, passes or fails.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use serde_json::Value;

/// How long Prometheus and the sensors get to come up, scrape and alert.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);
/// How long a panel query may take to return its first series.
const PANEL_LIMIT: Duration = Duration::from_secs(30);

const JOB: &str = "mirrorwatch";

/// name, configuration-change logs (`--logs`), capture files (relative to
/// the crate root)
type Scenario = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

const SCENARIOS: &[Scenario] = &[
    ("erspan3", &[], &["pcaps/erspan3.pcap"]),
    ("ordinary", &[], &["pcaps/ordinary.pcap"]),
    (
        "coverage",
        &[],
        &[
            "pcaps/malformed.pcap",
            "pcaps/native-and-copies.pcap",
            "pcaps/tee-copy.pcap",
            "pcaps/payload-shadow.pcap",
            "pcaps/volume-spike.pcap",
            "pcaps/erspan1.pcap",
            "pcaps/erspan2.pcap",
        ],
    ),
    (
        "config-cloud",
        &["tests/fixtures/logs/aws-vxlan-mirror-cloudtrail.json"],
        &["pcaps/aws-vxlan-mirror.pcap"],
    ),
    (
        "config-unexplained",
        &["tests/fixtures/logs/cisco-ios.log"],
        &["pcaps/tzsp.pcap"],
    ),
    // The ERSPAN session and softflowd's IPFIX export of it, as a capture
    // of export traffic replayed beside it: one session, seen by both.
    (
        "flows",
        &[],
        &[
            "pcaps/erspan3.pcap",
            "tests/fixtures/flows/ipfix/erspan3-softflowd.pcap",
        ],
    ),
];

/// The scenario each dashboard panel is meant for, by title; panels not
/// listed are sensor-health panels, checked on the `ordinary` sensor.
const PANEL_SCENARIOS: &[(&str, &str)] = &[
    ("External mirror sessions", "erspan3"),
    ("Active sessions by class and verdict", "erspan3"),
    ("Mirror sessions by bytes", "erspan3"),
    ("Mirrored bytes/s by encapsulation", "erspan3"),
    ("Mirrored bytes/s by destination", "erspan3"),
    ("Mirrored bytes/s by destination class", "erspan3"),
    ("Encapsulated traffic decoded, by encapsulation", "erspan3"),
    ("Alerts raised by kind and severity", "erspan3"),
    ("Alerts since sensor start", "erspan3"),
    ("Unauthorised internal mirror sessions", "coverage"),
    ("Authorised mirror sessions", "coverage"),
    ("Overlay and undetermined sessions", "coverage"),
    ("Decode errors/s", "coverage"),
    ("Duplicate packets/s by path", "coverage"),
    ("Duplicate packets by path since sensor start", "coverage"),
    (
        "Configuration events/s by platform and action",
        "config-cloud",
    ),
    ("Configuration events since sensor start", "config-cloud"),
    (
        "Correlated and uncorrelated mirror sessions",
        "config-cloud",
    ),
    (
        "Configuration alerts by kind and severity",
        "config-unexplained",
    ),
    (
        "Configuration alerts since sensor start",
        "config-unexplained",
    ),
    (
        "Flow-detected mirror sessions by destination class",
        "flows",
    ),
    ("Flow volume shift alerts by severity", "flows"),
    ("Flow records/s by exporter and format", "flows"),
    ("Export datagrams/s by exporter and format", "flows"),
    ("Sampling interval by exporter", "flows"),
    ("Templates held by exporter", "flows"),
    ("Template-missed, pending and dropped sets", "flows"),
    ("Flow decode errors/s by kind", "flows"),
    ("Flow datagrams dropped/s (sensor's queue, kernel)", "flows"),
];

/// A value a panel must show: (panel title, scenario, labels of a series,
/// its least value).
type PanelValue = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    f64,
);

/// Values the configuration and flow panels must show.
const PANEL_VALUES: &[PanelValue] = &[
    (
        "Flow-detected mirror sessions by destination class",
        "flows",
        &[("dst_class", "external")],
        1.0,
    ),
    (
        "Templates held by exporter",
        "flows",
        &[("exporter", "10.1.0.254")],
        1.0,
    ),
    (
        "Sampling interval by exporter",
        "flows",
        &[("exporter", "10.1.0.254"), ("format", "ipfix")],
        1.0,
    ),
    (
        "Configuration events since sensor start",
        "config-cloud",
        &[("platform", "aws"), ("action", "create")],
        1.0,
    ),
    (
        "Configuration events since sensor start",
        "config-unexplained",
        &[("platform", "cisco-ios"), ("action", "create")],
        1.0,
    ),
    (
        "Correlated and uncorrelated mirror sessions",
        "config-cloud",
        &[("state", "correlated")],
        1.0,
    ),
    (
        "Correlated and uncorrelated mirror sessions",
        "config-unexplained",
        &[("state", "uncorrelated")],
        1.0,
    ),
    (
        "Configuration alerts since sensor start",
        "config-cloud",
        &[("kind", "mirror_config_change"), ("severity", "high")],
        1.0,
    ),
    (
        "Configuration alerts since sensor start",
        "config-cloud",
        &[("kind", "unapproved_mirror_config")],
        1.0,
    ),
    (
        "Configuration alerts since sensor start",
        "config-unexplained",
        &[("kind", "mirror_without_config")],
        1.0,
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn mirrorwatch_bin() -> PathBuf {
    std::env::var_os("MIRRORWATCH_E2E_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_mirrorwatch")))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

// ---------------------------------------------------------------------
// Child processes and their temporary directory, cleaned up on drop.

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
            std::env::temp_dir().join(format!("mirrorwatch-e2e-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        Guard {
            dir,
            children: Vec::new(),
        }
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// Starts `cmd` with stdout and stderr in `<dir>/<name>.log`.
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

    /// Panics if a child has exited.
    fn check_alive(&mut self) {
        for (name, child) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited early with {status}");
            }
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
                let tail = &lines[lines.len().saturating_sub(30)..];
                eprintln!("--- last lines of {name}'s output ---");
                for l in tail {
                    eprintln!("{l}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------
// HTTP GET over std's TcpStream.

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn dechunk(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        rest = &rest[eol + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
    out
}

/// GET `path` from `addr`: status code and body.
fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("read from {addr}: {e}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no HTTP header from {addr}"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line from {addr}: {head}"))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &raw[split + 4..];
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Ok((status, String::from_utf8_lossy(&body).to_string()))
}

/// Runs an instant query; the `data.result` array, or the error.
fn query(prom: SocketAddr, q: &str) -> Result<Vec<Value>, String> {
    let (code, body) = http_get(prom, &format!("/api/v1/query?query={}", percent_encode(q)))?;
    let v: Value =
        serde_json::from_str(&body).map_err(|e| format!("HTTP {code}, not JSON ({e}): {body}"))?;
    if v["status"] != "success" {
        return Err(format!("HTTP {code}: {body}"));
    }
    Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
}

fn wait_for<T>(
    what: &str,
    limit: Duration,
    guard: &mut Guard,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        guard.check_alive();
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

// ---------------------------------------------------------------------
// The expressions to evaluate.

/// The PromQL of a query variable (`label_values(selector, label)` gives
/// its selector).
fn variable_expr(q: &str) -> Option<String> {
    let q = q.trim();
    match q
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
    {
        Some(inner) => inner.rfind(',').map(|c| inner[..c].trim().to_string()),
        None => Some(q.to_string()),
    }
}

/// Grafana's variables replaced by concrete values.
fn concrete(expr: &str, instances: &str) -> String {
    expr.replace("${job}", JOB)
        .replace("$job", JOB)
        .replace("${instance}", instances)
        .replace("$instance", instances)
        .replace("$__rate_interval", "30s")
        .replace("$__interval", "5s")
        .replace("$__range", "5m")
}

/// `expr:` values of a rule file, block scalars included (simple line
/// scanning; the files are written in that form).
fn rule_exprs(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        let Some(rest) = t.strip_prefix("expr:") else {
            continue;
        };
        let rest = rest.trim();
        if rest.starts_with('|') || rest.starts_with('>') {
            let base = l.len() - t.len();
            let body: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|x| x.trim().is_empty() || x.len() - x.trim_start().len() > base)
                .map(|x| x.trim())
                .collect();
            out.push(body.join("\n"));
        } else {
            out.push(rest.trim_matches(|c| c == '"' || c == '\'').to_string());
        }
    }
    out
}

fn instance_of(v: &Value) -> &str {
    v["metric"]["instance"].as_str().unwrap_or("")
}

#[test]
fn replayed_captures_feed_dashboard_and_alerts() {
    let prometheus = common::on_path("prometheus").or_else(|| {
        let p = PathBuf::from("/usr/bin/prometheus");
        p.is_file().then_some(p)
    });
    let (Some(prometheus), Some(_promtool)) = (prometheus, common::on_path("promtool")) else {
        eprintln!("SKIPPED: prometheus or promtool not installed (Debian package prometheus)");
        return;
    };
    let bin = mirrorwatch_bin();
    let help = Command::new(&bin)
        .args(["replay", "--help"])
        .output()
        .expect("mirrorwatch runs");
    if !String::from_utf8_lossy(&help.stdout).contains("--listen") {
        eprintln!("SKIPPED: replay --listen not available");
        return;
    }

    let root = root();
    let mut guard = Guard::new();

    // The sensors.
    let mut sensors = Vec::new(); // (scenario, instance)
    for (name, logs, files) in SCENARIOS {
        let addr = format!("127.0.0.1:{}", free_port());
        guard.spawn(
            name,
            Command::new(&bin)
                .current_dir(&root)
                .args([
                    "replay",
                    "--listen",
                    &addr,
                    "--hold",
                    "--config",
                    "pcaps/golden.toml",
                ])
                .args(logs.iter().flat_map(|l| ["--logs", *l]))
                .args(*files),
        );
        sensors.push((*name, addr));
    }
    let instance = |scenario: &str| -> String {
        sensors
            .iter()
            .find(|(n, _)| *n == scenario)
            .map(|(_, a)| a.clone())
            .expect("scenario")
    };

    // Prometheus.
    let rules = root.join("grafana/alerts/prometheus-rules.yml");
    let targets: Vec<String> = sensors.iter().map(|(_, a)| format!("'{a}'")).collect();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - '{}'\n\
         scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: [{}]\n",
        rules.display(),
        targets.join(", ")
    );
    let config_path = guard.dir.join("prometheus.yml");
    std::fs::write(&config_path, config).expect("write prometheus.yml");
    let prom: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let tsdb = guard.dir.join("tsdb");
    guard.spawn(
        "prometheus",
        Command::new(&prometheus).args([
            format!("--config.file={}", config_path.display()),
            format!("--storage.tsdb.path={}", tsdb.display()),
            format!("--web.listen-address={prom}"),
            "--log.level=warn".to_string(),
        ]),
    );

    // Every sensor serves /metrics; Prometheus is ready and scrapes them all.
    for (name, addr) in &sensors {
        let addr: SocketAddr = addr.parse().unwrap();
        let body = wait_for(
            &format!("{name}'s /metrics"),
            STARTUP_LIMIT,
            &mut guard,
            || {
                http_get(addr, "/metrics")
                    .ok()
                    .filter(|(c, _)| *c == 200)
                    .map(|(_, b)| b)
            },
        );
        assert!(
            body.contains("mirrorwatch_build_info"),
            "{name}'s /metrics lacks mirrorwatch_build_info"
        );
    }
    wait_for("Prometheus ready", STARTUP_LIMIT, &mut guard, || {
        http_get(prom, "/-/ready").ok().filter(|(c, _)| *c == 200)
    });
    wait_for("every target up", STARTUP_LIMIT, &mut guard, || {
        let (_, body) = http_get(prom, "/api/v1/targets").ok()?;
        let v: Value = serde_json::from_str(&body).ok()?;
        let active = v["data"]["activeTargets"].as_array()?;
        let up = active.iter().filter(|t| t["health"] == "up").count();
        (active.len() == sensors.len() && up == sensors.len()).then_some(())
    });

    // MirrorToExternal fires for the ERSPAN III capture, naming the session...
    let firing = r#"ALERTS{alertname="MirrorToExternal", alertstate="firing"}"#;
    let erspan3 = instance("erspan3");
    let alert = wait_for(
        "MirrorToExternal firing for erspan3",
        STARTUP_LIMIT,
        &mut guard,
        || {
            query(prom, firing)
                .ok()?
                .into_iter()
                .find(|s| instance_of(s) == erspan3)
        },
    );
    let m = &alert["metric"];
    assert_eq!(m["encap"], "erspan3", "{alert}");
    assert_eq!(m["src"], "10.1.0.3", "{alert}");
    assert_eq!(m["dst"], "203.0.113.50", "{alert}");
    assert_eq!(m["id"], "7", "{alert}");
    assert_eq!(m["severity"], "critical", "{alert}");
    // ... and not for ordinary traffic (nor for the coverage captures, whose
    // mirror sessions all go to internal hosts).
    std::thread::sleep(Duration::from_secs(3));
    let all = query(prom, firing).expect("ALERTS query");
    for scenario in ["ordinary", "coverage"] {
        let inst = instance(scenario);
        assert!(
            !all.iter().any(|s| instance_of(s) == inst),
            "MirrorToExternal fires for {scenario}: {all:?}"
        );
    }

    // FlowMirrorToExternal fires for the sensor whose external mirror was
    // also seen in IPFIX, and not for the one that saw packets only.
    let flow_firing = r#"ALERTS{alertname="FlowMirrorToExternal", alertstate="firing"}"#;
    let flows = instance("flows");
    wait_for(
        "FlowMirrorToExternal firing for flows",
        STARTUP_LIMIT,
        &mut guard,
        || {
            query(prom, flow_firing)
                .ok()?
                .into_iter()
                .find(|s| instance_of(s) == flows)
        },
    );
    let all = query(prom, flow_firing).expect("ALERTS query");
    assert!(
        !all.iter().any(|s| instance_of(s) == erspan3),
        "FlowMirrorToExternal fires for packets alone: {all:?}"
    );

    // The configuration-change rules: the CloudTrail log of the AWS mirror
    // raises UnapprovedMirrorConfig and MirrorConfigChangeHighRisk...
    let cloud = instance("config-cloud");
    for rule in ["UnapprovedMirrorConfig", "MirrorConfigChangeHighRisk"] {
        let q = format!(r#"ALERTS{{alertname="{rule}", alertstate="firing"}}"#);
        let alert = wait_for(
            &format!("{rule} firing for config-cloud"),
            STARTUP_LIMIT,
            &mut guard,
            || {
                query(prom, &q)
                    .ok()?
                    .into_iter()
                    .find(|s| instance_of(s) == cloud)
            },
        );
        assert_eq!(alert["metric"]["severity"], "critical", "{alert}");
        assert_eq!(alert["metric"]["mitre_technique"], "T1020.001", "{alert}");
    }
    // ... MirrorWithoutConfig fires for the TZSP mirror no log explains ...
    let unexplained = instance("config-unexplained");
    let q = r#"ALERTS{alertname="MirrorWithoutConfig", alertstate="firing"}"#;
    let alert = wait_for(
        "MirrorWithoutConfig firing for config-unexplained",
        STARTUP_LIMIT,
        &mut guard,
        || {
            query(prom, q)
                .ok()?
                .into_iter()
                .find(|s| instance_of(s) == unexplained)
        },
    );
    assert_eq!(alert["metric"]["severity"], "critical", "{alert}");
    assert_eq!(alert["metric"]["state"], "uncorrelated", "{alert}");
    // ... and neither for the explained AWS mirror nor for sensors that
    // watch no logs (in any state, pending included).
    let all = query(prom, r#"ALERTS{alertname="MirrorWithoutConfig"}"#).expect("ALERTS query");
    for (scenario, inst) in &sensors {
        if *scenario != "config-unexplained" {
            assert!(
                !all.iter().any(|s| instance_of(s) == inst),
                "MirrorWithoutConfig fires for {scenario}: {all:?}"
            );
        }
    }

    // Every expression of the dashboard and of both rule files evaluates.
    let every_instance: Vec<String> = sensors.iter().map(|(_, a)| a.clone()).collect();
    let every_instance = every_instance.join("|");
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("grafana/dashboards/mirrorwatch.json"))
            .expect("dashboard"),
    )
    .expect("dashboard JSON");
    let mut exprs: Vec<(String, String)> = Vec::new(); // (origin, PromQL)
    for v in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let q = match &v["query"] {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("query")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            _ => continue,
        };
        if v["type"] == "query" {
            if let Some(e) = variable_expr(&q) {
                exprs.push((format!("variable {}", v["name"]), e));
            }
        }
    }
    let panels = common::all_panels(&dashboard);
    for p in &panels {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                exprs.push((format!("panel {}", p["title"]), e.to_string()));
            }
        }
    }
    for file in [
        "grafana/alerts/prometheus-rules.yml",
        "grafana/provisioning/alerting/mirrorwatch-rules.yml",
    ] {
        let text = std::fs::read_to_string(root.join(file)).expect("rule file");
        let found = rule_exprs(&text);
        assert!(!found.is_empty(), "{file}: no expr found");
        exprs.extend(found.into_iter().map(|e| (file.to_string(), e)));
    }
    let mut failures = Vec::new();
    for (origin, e) in &exprs {
        let q = concrete(e, &every_instance);
        if let Err(err) = query(prom, &q) {
            failures.push(format!("{origin}: {q}\n  -> {err}"));
        }
    }
    assert!(
        failures.is_empty(),
        "queries failed:\n{}",
        failures.join("\n")
    );

    // Every panel shows data for the scenario it is meant for (rates need a
    // few scrapes: retry until PANEL_LIMIT).
    let mut pending: Vec<(String, &str, Vec<String>)> = Vec::new();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or("").to_string();
        let scenario = PANEL_SCENARIOS
            .iter()
            .find(|(t, _)| *t == title)
            .map(|(_, s)| *s)
            .unwrap_or("ordinary");
        let inst = instance(scenario);
        let queries: Vec<String> = p["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["expr"].as_str())
            .map(|e| concrete(e, &inst))
            .collect();
        if !queries.is_empty() {
            pending.push((title, scenario, queries));
        }
    }
    let start = Instant::now();
    loop {
        pending.retain(|(_, _, queries)| {
            !queries
                .iter()
                .any(|q| query(prom, q).is_ok_and(|r| !r.is_empty()))
        });
        if pending.is_empty() || start.elapsed() > PANEL_LIMIT {
            break;
        }
        guard.check_alive();
        std::thread::sleep(Duration::from_secs(1));
    }
    let empty: Vec<String> = pending
        .iter()
        .map(|(title, scenario, queries)| format!("{title} (scenario {scenario}): {queries:?}"))
        .collect();
    assert!(
        empty.is_empty(),
        "panels without data for their scenario:\n{}",
        empty.join("\n")
    );

    // The configuration panels show the events, the correlation and the
    // configuration alerts of their scenario.
    let mut wrong = Vec::new();
    for (title, scenario, labels, least) in PANEL_VALUES {
        let panel = panels
            .iter()
            .find(|p| p["title"] == *title)
            .unwrap_or_else(|| panic!("no panel {title:?}"));
        let inst = instance(scenario);
        let queries: Vec<String> = panel["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["expr"].as_str())
            .map(|e| concrete(e, &inst))
            .collect();
        let found = queries
            .iter()
            .flat_map(|q| query(prom, q).unwrap_or_default())
            .find(|s| labels.iter().all(|(k, v)| s["metric"][*k] == *v));
        let value = found
            .as_ref()
            .and_then(|s| s["value"][1].as_str())
            .and_then(|v| v.parse::<f64>().ok());
        if !value.is_some_and(|v| v >= *least) {
            wrong.push(format!(
                "{title} (scenario {scenario}): {labels:?} >= {least}, got {found:?} from {queries:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "configuration panels with wrong values:\n{}",
        wrong.join("\n")
    );
    drop(guard);
}
