//! `mirrorwatch report` renders in a real headless browser (Debian
//! `chromium`): for every scenario capture the page loads without console
//! errors, every chart draws its paths (an inline script checks and marks
//! `<body>`), and the summary, the top inner hosts and the containment
//! commands are there with the values of the replay's JSON report. Skips
//! visibly when chromium is not installed.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(120);

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"]
        .iter()
        .find_map(|t| common::on_path(t));
    if found.is_none() {
        eprintln!(
            "SKIPPED: chromium not installed (apt-get install chromium); report not rendered"
        );
    }
    found
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mw-report-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `mirrorwatch replay --format json` of the same inputs: the expected
/// values.
fn replay_json(args: &[&str]) -> serde_json::Value {
    let golden = root().join("pcaps/golden.toml");
    let mut all = vec!["replay", "--format", "json", "--config"];
    let g = golden.to_string_lossy().into_owned();
    all.push(&g);
    all.extend_from_slice(args);
    let out = common::mirrorwatch(&all, LIMIT);
    assert!(
        out.status.code().is_some_and(|c| c == 0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report JSON")
}

/// Runs `mirrorwatch report` on `args`; returns (html, markdown).
fn report(dir: &Path, stem: &str, args: &[&str]) -> (PathBuf, String, String) {
    let html = dir.join(format!("{stem}.html"));
    let mdp = dir.join(format!("{stem}.md"));
    let golden = root().join("pcaps/golden.toml");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mirrorwatch"));
    cmd.env("SOURCE_DATE_EPOCH", "1767225600")
        .arg("report")
        .arg("--config")
        .arg(&golden)
        .arg("--html")
        .arg(&html)
        .arg("--markdown")
        .arg(&mdp)
        .args(args)
        .stdin(Stdio::null());
    let out = cmd.output().expect("run mirrorwatch report");
    assert!(
        out.status.success(),
        "{stem}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h = std::fs::read_to_string(&html).expect("html written");
    let m = std::fs::read_to_string(&mdp).expect("markdown written");
    (html, h, m)
}

/// Loads `page` in headless chromium; returns (dumped DOM, stderr).
fn render(chromium: &Path, page: &Path, profile: &Path) -> (String, String) {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chromium");
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t1 = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut so, &mut s).ok();
        s
    });
    let t2 = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut se, &mut s).ok();
        s
    });
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > LIMIT {
            child.kill().ok();
            child.wait().ok();
            panic!(
                "chromium did not finish within {LIMIT:?} on {}",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (
        t1.join().expect("stdout thread"),
        t2.join().expect("stderr thread"),
    )
}

fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains("Uncaught") || l.contains("ERROR:CONSOLE") || l.contains(":CONSOLE(")
        })
        .filter(|l| !l.contains("favicon"))
        .collect()
}

/// The text between `<article ... id="session-{i}">` and its end.
fn article(dom: &str, i: usize) -> &str {
    let tag = format!("id=\"session-{i}\"");
    let start = dom.find(&tag).unwrap_or_else(|| panic!("no {tag}"));
    let rest = &dom[start..];
    &rest[..rest.find("</article>").expect("article end")]
}

fn needs_action(s: &serde_json::Value) -> bool {
    s["verdict"] == "mirror" && s["dst_class"] != "authorized"
}

/// The escalation decision as the playbook states it, from the JSON.
fn should_escalate(r: &serde_json::Value) -> bool {
    let sessions = r["sessions"].as_array().expect("sessions");
    let alerts = &r["alerts"];
    sessions.iter().any(needs_action)
        || [
            "duplicate_flow_to_external",
            "unapproved_mirror_config",
            "authorized_mirror_expired",
        ]
        .iter()
        .any(|k| alerts[k].as_u64().unwrap_or(0) > 0)
}

/// Checks one rendered report against the replay's JSON.
fn check(stem: &str, dom: &str, stderr: &str, md: &str, r: &serde_json::Value) {
    let errors = console_errors(stderr);
    assert!(errors.is_empty(), "{stem}: console errors: {errors:?}");
    let sessions = r["sessions"].as_array().expect("sessions");
    // The page's own check: every chart drew non-empty paths.
    assert!(
        dom.contains(&format!("data-charts=\"{}\"", sessions.len().min(50))),
        "{stem}: chart count not marked ({} sessions)",
        sessions.len()
    );
    assert!(
        dom.contains("data-report-ok=\"yes\""),
        "{stem}: charts failed the in-page check"
    );
    assert_eq!(
        dom.matches("<svg class=\"chart\"").count(),
        sessions.len().min(50),
        "{stem}"
    );
    // Summary and decision.
    assert!(dom.contains("id=\"summary\""), "{stem}");
    assert!(
        dom.contains("Are there unauthorised mirror configurations?"),
        "{stem}"
    );
    assert!(
        dom.contains("Is traffic duplicated towards external or unknown addresses?"),
        "{stem}"
    );
    assert!(
        dom.contains("Are the changes traceable to users or sources?"),
        "{stem}"
    );
    let escalate = should_escalate(r);
    let decision = if escalate {
        "Escalate to incident response"
    } else {
        "No escalation needed"
    };
    assert!(dom.contains(decision), "{stem}: expected {decision}");
    assert!(
        md.contains(&format!("**Decision: {decision}**")),
        "{stem}: markdown decision"
    );
    assert_eq!(
        dom.contains("class=\"decision escalate\""),
        escalate,
        "{stem}"
    );
    let pkts = format!("{} packets", r["packets"]);
    assert!(dom.contains(&pkts), "{stem}: {pkts}");
    // Sessions: the needing-action ones first, each with its top host.
    let mut order: Vec<&serde_json::Value> = sessions.iter().collect();
    order.sort_by_key(|s| !needs_action(s));
    for (i, s) in order.iter().enumerate().take(50) {
        let a = article(dom, i);
        let dst = s["dst"].as_str().expect("dst");
        assert!(a.contains(dst), "{stem}: session {i} is not {dst}");
        assert!(
            a.contains("<svg class=\"chart\""),
            "{stem}: session {i} has no chart"
        );
        if let Some(top) = s["top_inner_hosts"][0]["addr"].as_str() {
            let hosts = &a[a
                .find("class=\"hosts\"")
                .unwrap_or_else(|| panic!("{stem}: no hosts table in session {i}"))..];
            assert!(
                hosts.contains(&format!("<td>{top}</td>")),
                "{stem}: top host {top} missing"
            );
            let bytes = s["top_inner_hosts"][0]["bytes"].as_u64().expect("bytes");
            assert!(
                hosts.contains(&format!("{bytes}")),
                "{stem}: top host bytes {bytes}"
            );
            assert!(
                md.contains(&format!("| {top} | {bytes} |")),
                "{stem}: markdown top host"
            );
        }
        if let Some(svc) = s["top_inner_services"][0]["service"].as_str() {
            assert!(
                a.contains(&format!("<td>{svc}</td>")),
                "{stem}: top service {svc}"
            );
        }
    }
    // Containment: one block per session needing action, with the
    // platform's command.
    let contain = &dom[dom.find("id=\"containment\"").expect("containment section")..];
    let actions: Vec<&&serde_json::Value> = order.iter().filter(|s| needs_action(s)).collect();
    assert_eq!(
        contain.matches("class=\"contain\"").count(),
        actions.len(),
        "{stem}"
    );
    for s in &actions {
        let encap = s["encap"].as_str().expect("encap");
        let cmd = if encap.starts_with("erspan") || encap.starts_with("gre") {
            "no monitor session"
        } else {
            "aws ec2 delete-traffic-mirror-session --traffic-mirror-session-id"
        };
        assert!(contain.contains(cmd), "{stem}: no `{cmd}` for {encap}");
        let block = format!("daddr {}", s["dst"].as_str().expect("dst"));
        assert!(
            contain.contains(&block),
            "{stem}: no block of the destination"
        );
        assert!(md.contains(cmd), "{stem}: markdown lacks `{cmd}`");
    }
    if actions.is_empty() {
        assert!(
            contain.contains("No unauthorised mirror session to contain."),
            "{stem}"
        );
    }
    // Chain of custody: the capture's SHA-256 and the version.
    assert!(
        dom.contains(&format!("mirrorwatch {}", env!("CARGO_PKG_VERSION"))),
        "{stem}"
    );
    assert!(dom.contains("id=\"inputs\""), "{stem}");
    assert!(md.contains("## Chain of custody"), "{stem}");
}

fn sha256_hex(path: &Path) -> String {
    use std::fmt::Write as _;
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    let s = String::from_utf8_lossy(&out.stdout);
    let h = s.split_whitespace().next().unwrap_or("").to_owned();
    let mut check = String::new();
    for c in h.chars().filter(char::is_ascii_hexdigit) {
        let _ = write!(check, "{c}");
    }
    assert_eq!(check.len(), 64, "sha256sum output: {s}");
    check
}

#[test]
fn every_scenario_report_renders_in_chromium() {
    let Some(chrome) = chromium() else {
        return;
    };
    let dir = tmpdir("all");
    let mut checked = 0;
    for path in common::captures_in(&common::project_pcaps()) {
        let stem = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let p = path.to_string_lossy().into_owned();
        let expected = replay_json(&[&p]);
        let (page, html, md) = report(&dir, &stem, &[&p]);
        for asset in [" src=", "href=", "url(", "<link", "@import"] {
            assert!(!html.contains(asset), "{stem}: external asset ({asset})");
        }
        let profile = dir.join(format!("profile-{stem}"));
        let (dom, stderr) = render(&chrome, &page, &profile);
        assert!(!dom.is_empty(), "{stem}: chromium dumped nothing: {stderr}");
        check(&stem, &dom, &stderr, &md, &expected);
        assert!(
            dom.contains(&sha256_hex(&path)),
            "{stem}: capture hash missing"
        );
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} scenarios rendered");
    std::fs::remove_dir_all(&dir).ok();
}

/// Hand-written expectations (from the scenario definitions in
/// crates/synth): erspan3 copies one TCP conversation 172.16.5.10:52000 ↔
/// 172.16.9.20:80 to external 203.0.113.50.
#[test]
fn erspan3_report_names_whose_traffic_is_copied() {
    let Some(chrome) = chromium() else {
        return;
    };
    let dir = tmpdir("erspan3");
    let p = common::project_pcaps().join("erspan3.pcap");
    let (page, _, md) = report(&dir, "erspan3", &[&p.to_string_lossy()]);
    let (dom, stderr) = render(&chrome, &page, &dir.join("profile"));
    assert!(console_errors(&stderr).is_empty(), "{stderr}");
    assert!(dom.contains("data-report-ok=\"yes\""));
    assert!(dom.contains("Escalate to incident response"));
    assert!(dom.contains(
        "erspan3 10.1.0.3 → 203.0.113.50 id 7 copies traffic to an external destination"
    ));
    let a = article(&dom, 0);
    assert!(
        a.contains("<td>172.16.5.10</td>") && a.contains("<td>172.16.9.20</td>"),
        "{a}"
    );
    assert!(a.contains("<td>tcp/80</td>"));
    // 20 packets of one conversation: every host and the service carry
    // all 20.
    assert!(a.contains("<td class=\"num\">20</td>"));
    assert!(dom.contains("no monitor session &lt;N&gt;"));
    assert!(dom.contains("ERSPAN id 7"));
    assert!(dom.contains("nft add rule inet filter forward ip daddr 203.0.113.50 drop"));
    assert!(md.contains("| 172.16.5.10 |") && md.contains("| tcp/80 |"));
    assert!(md.contains("no change record was provided that could explain erspan3"));
    std::fs::remove_dir_all(&dir).ok();
}

/// With the CloudTrail record that made it, the AWS session's containment
/// is the exact delete command; the caller is named; the authorised
/// erspan2 scenario needs no escalation.
#[test]
fn correlated_event_fills_the_containment_command_and_inputs_are_escaped() {
    let Some(chrome) = chromium() else {
        return;
    };
    let dir = tmpdir("aws");
    let pcap = common::project_pcaps().join("aws-vxlan-mirror.pcap");
    let log = root().join("tests/fixtures/logs/aws-vxlan-mirror-cloudtrail.json");
    let (page, _, md) = report(
        &dir,
        "aws",
        &["--logs", &log.to_string_lossy(), &pcap.to_string_lossy()],
    );
    let (dom, stderr) = render(&chrome, &page, &dir.join("profile"));
    assert!(console_errors(&stderr).is_empty(), "{stderr}");
    assert!(dom.contains("data-report-ok=\"yes\""));
    let cmd = "aws ec2 delete-traffic-mirror-session --traffic-mirror-session-id tms-08a33b1214f3c6b2e --region us-east-1";
    assert!(dom.contains(cmd), "containment command");
    assert!(md.contains(cmd));
    assert!(dom.contains("mallory"));
    assert!(dom.contains(&sha256_hex(&log)), "log hash");

    // A log an adversary wrote: markup in the user name stays text.
    let evil = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\"><script>document.body.setAttribute('data-pwned','2')</script>";
    let text = std::fs::read_to_string(&log).expect("fixture");
    let json_evil = serde_json::to_string(evil).expect("json");
    let forged = text
        .replace("\"mallory\"", &json_evil)
        .replace("user/mallory", &json_evil[1..json_evil.len() - 1]);
    assert_ne!(forged, text);
    let flog = dir.join("forged.json");
    std::fs::write(&flog, forged).expect("write");
    let (page, html, md) = report(
        &dir,
        "forged",
        &["--logs", &flog.to_string_lossy(), &pcap.to_string_lossy()],
    );
    assert!(!html.contains("<img src=x"), "unescaped markup in the page");
    assert!(
        !md.contains("<img src=x"),
        "unescaped markup in the markdown"
    );
    let (dom, stderr) = render(&chrome, &page, &dir.join("profile2"));
    assert!(console_errors(&stderr).is_empty(), "{stderr}");
    // The payload's text is on the page; its attribute must not be on
    // <body>.
    let body = &dom[dom.find("<body").expect("body")..];
    let body_tag = &body[..body.find('>').expect("body tag end")];
    assert!(body_tag.contains("data-report-ok"), "{body_tag}");
    assert!(
        !body_tag.contains("data-pwned"),
        "injected script ran: {body_tag}"
    );
    assert!(
        !dom.contains("<img src=\"x\""),
        "injected element in the DOM"
    );
    assert!(
        dom.contains("&lt;img src=x"),
        "the user name is shown as text"
    );
    assert!(dom.contains("data-report-ok=\"yes\""));

    // The authorised ERSPAN II scenario: nothing to escalate or contain.
    let p = common::project_pcaps().join("erspan2.pcap");
    let (page, _, md) = report(&dir, "erspan2", &[&p.to_string_lossy()]);
    let (dom, _) = render(&chrome, &page, &dir.join("profile3"));
    assert!(dom.contains("No escalation needed"));
    assert!(md.contains("**Decision: No escalation needed**"));
    assert!(dom.contains("No unauthorised mirror session to contain."));
    std::fs::remove_dir_all(&dir).ok();
}

/// Evidence files and the alerts file are hashed in the chain of custody.
#[test]
fn evidence_files_are_hashed() {
    let dir = tmpdir("evidence");
    let ev = dir.join("ev");
    let alerts = dir.join("alerts.jsonl");
    let p = common::project_pcaps().join("gre-teb-external.pcap");
    let (_, html, md) = report(
        &dir,
        "ev",
        &[
            "--evidence",
            &ev.to_string_lossy(),
            "--alerts",
            &alerts.to_string_lossy(),
            &p.to_string_lossy(),
        ],
    );
    let files: Vec<PathBuf> = std::fs::read_dir(&ev)
        .expect("evidence dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert!(!files.is_empty(), "no evidence written");
    for f in &files {
        let h = sha256_hex(f);
        assert!(html.contains(&h), "evidence {} not hashed", f.display());
        assert!(md.contains(&h));
    }
    assert!(
        html.contains(&sha256_hex(&alerts)),
        "alerts file not hashed"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn report_needs_an_output() {
    let p = common::project_pcaps().join("erspan3.pcap");
    let out = common::mirrorwatch(&["report", &p.to_string_lossy()], LIMIT);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--html"));
    let help = common::mirrorwatch(&["report", "--help"], LIMIT);
    let h = String::from_utf8_lossy(&help.stdout);
    assert!(h.contains("Examples:") && h.contains("--markdown"), "{h}");
}

/// `report --flows`: the session the packets and the IPFIX export both
/// show says who saw it, and the flow input is hashed with the others.
#[test]
fn flow_inputs_are_shown_per_session_and_hashed() {
    let dir = tmpdir("flows");
    let ipfix = root().join("tests/fixtures/flows/ipfix/erspan3-softflowd.pcap");
    let cap = root().join("pcaps/erspan3.pcap");
    let (_, h, m) = report(
        &dir,
        "flows",
        &[
            "--flows",
            ipfix.to_str().expect("path"),
            cap.to_str().expect("path"),
        ],
    );
    assert!(
        m.contains("| Seen by | packets, ipfix (exporters 10.1.0.254) |"),
        "{m}"
    );
    assert!(h.contains("<strong>Seen by</strong> packets, ipfix (exporters 10.1.0.254)"));
    // The chain of custody lists the flow input with its SHA-256.
    let bytes = std::fs::read(&ipfix).expect("fixture");
    let row = m
        .lines()
        .find(|l| l.starts_with("| flows |"))
        .unwrap_or_else(|| panic!("no flows row: {m}"));
    assert!(row.contains(&format!("| {} |", bytes.len())), "{row}");
    assert!(row.contains("`") && row.len() > 64, "{row}");
}
