//! Conformance against real captures from other projects' test suites:
//! every mirror-encapsulation session that Wireshark's dissectors find in
//! `../shared/pcaps/real/` must be found with the same packet count.
mod common;

use std::collections::BTreeSet;

use mirrorwatch::config::Config;
use mirrorwatch::pipeline::replay;

/// Encapsulations compared with `expected.json`.
const COMPARED: &[&str] = &[
    "erspan1", "erspan2", "erspan3", "vxlan", "geneve", "gre-teb", "tzsp", "gre",
];

/// Where mirrorwatch and tshark disagree and mirrorwatch is right:
/// (file, reason). Empty: no disagreement today.
const EXCEPTIONS: &[(&str, &str)] = &[];

type Row = (String, String, String, Option<u64>, u64);

#[test]
fn sessions_match_wireshark() {
    let Some(shared) = common::shared_pcaps() else {
        return;
    };
    let real = shared.join("real");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(real.join("expected.json")).expect("expected.json"),
    )
    .expect("expected.json is JSON");
    let expected = expected.as_object().expect("object of files");
    assert!(
        expected.len() >= 30,
        "expected.json lists {} files",
        expected.len()
    );

    let mut failures = Vec::new();
    let mut compared_sessions = 0;
    for (file, exp) in expected {
        if EXCEPTIONS.iter().any(|(f, _)| f == file) {
            continue;
        }
        let path = real.join(file).to_string_lossy().into_owned();
        let (report, problems) = replay(std::slice::from_ref(&path), &Config::default());
        assert!(
            problems.unreadable.is_empty(),
            "{file}: {:?}",
            problems.unreadable
        );
        assert_eq!(
            Some(report.packets),
            exp["packets"].as_u64(),
            "{file}: frame count"
        );
        let want: BTreeSet<Row> = exp["sessions"]
            .as_array()
            .expect("sessions array")
            .iter()
            .filter(|s| COMPARED.contains(&s["encap"].as_str().unwrap_or("")))
            .map(|s| {
                (
                    s["encap"].as_str().unwrap_or("").to_owned(),
                    s["src"].as_str().unwrap_or("").to_owned(),
                    s["dst"].as_str().unwrap_or("").to_owned(),
                    s["id"].as_u64(),
                    s["packets"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        let got: BTreeSet<Row> = report
            .sessions
            .iter()
            .filter(|s| COMPARED.contains(&s.encap.as_str()))
            .map(|s| {
                (
                    s.encap.as_str().to_owned(),
                    s.src.clone(),
                    s.dst.clone(),
                    s.id.map(u64::from),
                    s.packets,
                )
            })
            .collect();
        compared_sessions += want.len();
        if want != got {
            failures.push(format!(
                "{file}:\n  missing: {:?}\n  extra:   {:?}",
                want.difference(&got).collect::<Vec<_>>(),
                got.difference(&want).collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        compared_sessions >= 25,
        "only {compared_sessions} sessions compared"
    );
    assert!(
        failures.is_empty(),
        "disagreements:\n{}",
        failures.join("\n")
    );
}
