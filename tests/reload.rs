//! SIGHUP re-reads the configuration of a running sensor without losing
//! its state: `replay --listen --hold` on the ERSPAN II scenario, then the
//! collector's authorisation is withdrawn and the session is judged again.
mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn session(addr: &str) -> Option<serde_json::Value> {
    let (_, body) = common::http_get(addr, "/api/v1/sessions").ok()?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["sessions"].as_array()?.first().cloned()
}

#[test]
fn sighup_reloads_the_authorised_list_and_keeps_the_sessions() {
    let dir = std::env::temp_dir().join(format!("mw-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cfg = dir.join("sensor.toml");
    std::fs::write(
        &cfg,
        "sensor = \"s1\"\n[[authorized]]\ndestination = \"10.9.0.10\"\nreference = \"CHG-1\"\n",
    )
    .expect("config");
    let addr = format!("127.0.0.1:{}", common::free_port());
    let pcap = common::project_pcaps().join("erspan2.pcap");
    let log = dir.join("stderr.log");
    let alerts_file = dir.join("alerts.jsonl");
    let child = Command::new(env!("CARGO_BIN_EXE_mirrorwatch"))
        .args(["replay", "--listen", &addr, "--hold", "--config"])
        .arg(&cfg)
        .arg("--alerts")
        .arg(&alerts_file)
        .arg(&pcap)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn");
    let p = Kill(child);
    let before = common::wait_for(Duration::from_secs(15), || {
        session(&addr).filter(|s| s["packets"] == 24)
    })
    .expect("the replayed session is served");
    assert_eq!(before["dst_class"], "authorized");

    // logrotate moves the alerts file away; SIGHUP reopens it by name.
    let rotated = dir.join("alerts.jsonl.1");
    std::fs::rename(&alerts_file, &rotated).expect("rotate");
    // Withdraw the authorisation, rename the sensor, change a setting that
    // needs a restart, and send SIGHUP.
    std::fs::write(&cfg, "sensor = \"s2\"\n[inventory]\nmax_sessions = 5\n").expect("config");
    let ok = Command::new("kill")
        .args(["-HUP", &p.0.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -HUP");
    let after = common::wait_for(Duration::from_secs(10), || {
        session(&addr).filter(|s| s["dst_class"] == "internal")
    })
    .expect("the session is judged again after SIGHUP");
    // State kept: same counters, now with the alert the new rules call for.
    assert_eq!(after["packets"], before["packets"]);
    assert_eq!(after["first_seen"], before["first_seen"]);
    let (_, alerts) = common::http_get(&addr, "/api/v1/alerts").expect("alerts");
    assert!(
        alerts.contains("mirror_to_unauthorized_internal"),
        "{alerts}"
    );
    // The new name everywhere at once: the new alert, /healthz, the API.
    let api: serde_json::Value = serde_json::from_str(&alerts).expect("alerts JSON");
    assert_eq!(api["sensor"], "s2");
    let newest = api["alerts"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|a| a["kind"] == "mirror_to_unauthorized_internal")
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!(newest["sensor"], "s2");
    let (_, health) = common::http_get(&addr, "/healthz").expect("healthz");
    assert!(health.contains("\"sensor\":\"s2\""), "{health}");
    let (_, sessions) = common::http_get(&addr, "/api/v1/sessions").expect("sessions");
    assert!(sessions.contains("\"sensor\":\"s2\""), "{sessions}");
    // The alert raised after SIGHUP went to the new file, whole.
    let fresh = std::fs::read_to_string(&alerts_file).unwrap_or_default();
    assert!(
        fresh.contains("mirror_to_unauthorized_internal"),
        "new file: {fresh}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(fresh.ends_with('\n'));
    let old = std::fs::read_to_string(&rotated).unwrap_or_default();
    assert!(
        !old.contains("mirror_to_unauthorized_internal"),
        "rotated: {old}"
    );
    // The setting that needs a restart is named, not silently ignored.
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        err.contains("inventory.max_sessions") && err.contains("needs a restart"),
        "{err}"
    );

    // A configuration that does not parse is refused; the sensor goes on.
    std::fs::write(&cfg, "sensor = [\n").expect("config");
    let _ = Command::new("kill")
        .args(["-HUP", &p.0.id().to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        session(&addr).map(|s| s["dst_class"].clone()),
        Some(serde_json::json!("internal"))
    );
    std::fs::remove_dir_all(&dir).ok();
}
