//! The analyst's incident report (`mirrorwatch report`): one self-contained
//! HTML page (inline CSS, inline SVG charts, no external asset, print
//! styles) and its Markdown twin, both rendered from one [`Incident`] built
//! from the replay's [`Report`].
//!
//! Everything taken from the inputs (device names, users, resource names
//! from logs an adversary may have written) is escaped for the output it
//! lands in: HTML entities in the page, Markdown escapes in the twin, and
//! shell/CLI quoting (or a placeholder) inside containment commands.
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::decode::Encap;
use crate::detect::correlate::ConfigEventRef;
use crate::detect::{DstClass, Verdict};
use crate::export::table::human_bytes;
use crate::logs::{Action, Platform};
use crate::report::{Report, SessionReport, TimelineReport};

/// Sessions given a detailed section; the rest are listed in one table.
pub const MAX_DETAILED_SESSIONS: usize = 50;

/// A file of the chain of custody.
#[derive(Debug, Clone)]
pub struct Hashed {
    /// `capture`, `log`, `config`, `evidence`, `alerts`.
    pub role: &'static str,
    pub path: String,
    pub bytes: Option<u64>,
    pub sha256: Option<String>,
    /// Why it was not hashed (standard input, not a regular file, error).
    pub note: Option<String>,
}

/// Who saw a session, once flow records were read: `packets, netflow
/// (exporters 192.0.2.1; sampled 1 in 512; counts estimated)`.
fn seen_by_text(s: &SessionReport) -> Option<String> {
    let seen = s.seen_by.as_ref()?;
    let mut t = seen.join(", ");
    let mut extra = Vec::new();
    if let Some(e) = s.exporters.as_ref().filter(|e| !e.is_empty()) {
        extra.push(format!("exporters {}", e.join(", ")));
    }
    if let Some(r) = s.sampling_rate.filter(|r| *r > 1) {
        extra.push(format!("sampled 1 in {r}"));
    }
    if s.estimated == Some(true) {
        extra.push("counts estimated".to_owned());
    }
    if !extra.is_empty() {
        t.push_str(&format!(" ({})", extra.join("; ")));
    }
    Some(t)
}

/// SHA-256 of a file, streamed. Never fails: what went wrong is the note.
pub fn hash_file(role: &'static str, path: &str) -> Hashed {
    let mut h = Hashed {
        role,
        path: path.to_owned(),
        bytes: None,
        sha256: None,
        note: None,
    };
    if path == "-" {
        h.note = Some("standard input: not hashed".to_owned());
        return h;
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            h.note = Some("not a regular file: not hashed".to_owned());
            return h;
        }
        Err(e) => {
            h.note = Some(format!("not hashed: {e}"));
            return h;
        }
    }
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            h.note = Some(format!("not hashed: {e}"));
            return h;
        }
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                h.note = Some(format!("not hashed: {e}"));
                return h;
            }
        }
    }
    h.bytes = Some(total);
    h.sha256 = Some(hex(&hasher.finalize()));
    h
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// What was read and written, with hashes, and who made the report.
#[derive(Debug, Clone, Default)]
pub struct Custody {
    pub version: String,
    /// When the report was made (RFC 3339).
    pub generated: String,
    pub sensor: String,
    /// Captures, logs, configuration.
    pub inputs: Vec<Hashed>,
    /// Evidence captures and the alerts file.
    pub outputs: Vec<Hashed>,
}

/// One of the playbook's analysis questions and what the evidence says.
#[derive(Debug, Clone)]
pub struct Answer {
    pub question: &'static str,
    /// `yes`, `no`, `partly`, `unknown`.
    pub answer: &'static str,
    pub details: Vec<String>,
}

/// A containment step: what to do, and the commands that do it.
#[derive(Debug, Clone)]
pub struct Step {
    pub title: String,
    pub commands: Vec<String>,
    pub note: Option<String>,
}

/// Containment of one session.
#[derive(Debug, Clone)]
pub struct Containment {
    /// Index into [`Incident::sessions`].
    pub session: usize,
    /// Where the steps come from: the correlated event, or the
    /// encapsulation only.
    pub basis: String,
    pub steps: Vec<Step>,
}

/// The report's content, rendered by [`html`] and [`markdown`].
pub struct Incident<'a> {
    pub report: &'a Report,
    /// Whether configuration logs were read.
    pub logs_read: bool,
    /// Sessions in report order: the ones needing action first.
    pub sessions: Vec<&'a SessionReport>,
    pub answers: Vec<Answer>,
    pub escalate: bool,
    pub reasons: Vec<String>,
    pub containment: Vec<Containment>,
    pub custody: Custody,
}

/// A session needs action: a mirror to a destination not authorised.
fn needs_action(s: &SessionReport) -> bool {
    s.verdict == Verdict::Mirror && s.dst_class != DstClass::Authorized
}

/// `erspan3 10.1.0.3 → 203.0.113.50 id 7`.
pub fn label(s: &SessionReport) -> String {
    match s.id {
        Some(id) => format!("{} {} → {} id {id}", s.encap, s.src, s.dst),
        None => format!("{} {} → {}", s.encap, s.src, s.dst),
    }
}

fn class_text(c: DstClass) -> &'static str {
    match c {
        DstClass::Authorized => "authorised",
        DstClass::Internal => "internal, not authorised",
        DstClass::External => "external",
    }
}

fn who(e: &ConfigEventRef) -> String {
    let mut s = e.actor.clone().unwrap_or_else(|| "unknown user".to_owned());
    if let Some(ip) = &e.source_ip {
        let _ = write!(s, " from {ip}");
    }
    if let Some(d) = &e.device {
        let _ = write!(s, " on {d}");
    }
    if let Some(t) = &e.time {
        let _ = write!(s, " at {t}");
    }
    s
}

impl<'a> Incident<'a> {
    pub fn new(report: &'a Report, custody: Custody) -> Self {
        let logs_read = !report.logs.is_empty();
        let mut sessions: Vec<&SessionReport> = report.sessions.iter().collect();
        // Stable: report order within each group.
        sessions.sort_by_key(|s| !needs_action(s));
        let mut inc = Incident {
            report,
            logs_read,
            sessions,
            answers: Vec::new(),
            escalate: false,
            reasons: Vec::new(),
            containment: Vec::new(),
            custody,
        };
        inc.assess();
        inc.containment = inc
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| needs_action(s))
            .map(|(i, s)| contain(i, s))
            .collect();
        inc
    }

    fn alerts(&self, kind: &str) -> u64 {
        self.report.alerts.get(kind).copied().unwrap_or(0)
    }

    fn assess(&mut self) {
        let mirrors: Vec<&SessionReport> = self
            .sessions
            .iter()
            .copied()
            .filter(|s| s.verdict == Verdict::Mirror)
            .collect();
        let unauthorised: Vec<&SessionReport> = mirrors
            .iter()
            .copied()
            .filter(|s| needs_action(s))
            .collect();
        let unapproved_config = self.alerts("unapproved_mirror_config");
        let expired = self.alerts("authorized_mirror_expired");

        // 1. Unauthorised mirror configurations?
        let mut d: Vec<String> = unauthorised
            .iter()
            .map(|s| {
                format!(
                    "{} goes to an {} destination",
                    label(s),
                    class_text(s.dst_class)
                )
            })
            .collect();
        if unapproved_config > 0 {
            d.push(format!(
                "{unapproved_config} configuration change(s) set up a mirror to an unapproved destination"
            ));
        }
        if expired > 0 {
            d.push(format!(
                "{expired} mirror session(s) run on an authorisation that has expired"
            ));
        }
        for s in mirrors
            .iter()
            .filter(|s| s.dst_class == DstClass::Authorized)
        {
            d.push(format!("{} is authorised", label(s)));
        }
        let any = !unauthorised.is_empty() || unapproved_config > 0 || expired > 0;
        if mirrors.is_empty() && unapproved_config == 0 {
            d.push("no mirror session was found in the captures".to_owned());
        }
        self.answers.push(Answer {
            question: "Are there unauthorised mirror configurations?",
            answer: if any { "yes" } else { "no" },
            details: d,
        });

        // 2. Duplication towards external or unknown addresses?
        let mut d = Vec::new();
        let mut yes = false;
        for s in &unauthorised {
            yes = true;
            let kind = if s.dst_class == DstClass::External {
                "external"
            } else {
                "unknown (internal, not approved)"
            };
            d.push(format!(
                "copies go to {kind} {} ({} in {} packets)",
                s.dst,
                human_bytes(s.bytes),
                s.packets
            ));
        }
        for p in &self.report.duplicates.flow_pairs {
            yes = true;
            let [a, b] = &p.flows;
            d.push(format!(
                "payloads of {}:{} → {}:{} also went to {}:{} ({} matching payloads)",
                a.src, a.src_port, a.dst, a.dst_port, b.dst, b.dst_port, p.matching_payloads
            ));
        }
        let dup = &self.report.duplicates.paths;
        if dup.native_encapsulated + dup.session_session + dup.native_native > 0 {
            d.push(format!(
                "duplicate packets seen: {} native/encapsulated, {} session/session, {} native/native",
                dup.native_encapsulated, dup.session_session, dup.native_native
            ));
        }
        if !yes {
            d.push("no copy goes to an external or unapproved address".to_owned());
        }
        self.answers.push(Answer {
            question: "Is traffic duplicated towards external or unknown addresses?",
            answer: if yes { "yes" } else { "no" },
            details: d,
        });

        // 3. Changes traceable to users or sources?
        let mut d = Vec::new();
        let answer = if !self.logs_read {
            d.push("no configuration logs were given (--logs): no change can be traced".to_owned());
            "unknown"
        } else {
            let mut traced = 0;
            for s in &unauthorised {
                let ev = s.config_events.as_deref().unwrap_or(&[]);
                if ev.is_empty() {
                    d.push(format!("{}: no change record explains it", label(s)));
                } else {
                    traced += 1;
                    for e in ev {
                        d.push(format!(
                            "{}: {} {} by {}",
                            label(s),
                            e.platform,
                            e.action,
                            who(e)
                        ));
                    }
                }
            }
            if unauthorised.is_empty() {
                d.push("no unauthorised mirror session to trace".to_owned());
                "no"
            } else if traced == unauthorised.len() {
                "yes"
            } else if traced > 0 {
                "partly"
            } else {
                "no"
            }
        };
        self.answers.push(Answer {
            question: "Are the changes traceable to users or sources?",
            answer,
            details: d,
        });

        // The escalation decision.
        for s in &unauthorised {
            self.reasons.push(format!(
                "{} copies traffic to an {} destination",
                label(s),
                class_text(s.dst_class)
            ));
            let explained = s.config_events.as_ref().is_some_and(|e| !e.is_empty());
            if !explained {
                self.reasons.push(if self.logs_read {
                    format!("no change record explains {}", label(s))
                } else {
                    format!(
                        "no change record was provided that could explain {}",
                        label(s)
                    )
                });
            }
        }
        let flow_pairs = self.alerts("duplicate_flow_to_external");
        if flow_pairs > 0 {
            self.reasons.push(format!(
                "{flow_pairs} flow pair(s) duplicate payloads to an external destination"
            ));
        }
        if unapproved_config > 0 {
            self.reasons.push(format!(
                "{unapproved_config} mirror configuration change(s) to an unapproved destination"
            ));
        }
        if expired > 0 {
            self.reasons.push(format!(
                "{expired} mirror session(s) outlived their authorisation"
            ));
        }
        self.escalate = !self.reasons.is_empty();
        if !self.escalate {
            self.reasons.push(
                "no copy goes to an external or unapproved destination, and every mirror is authorised"
                    .to_owned(),
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Containment

/// A value safe on a shell command line as it is, or single-quoted.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:/@%+=,".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A value safe as a device CLI word (`[A-Za-z0-9_.-]`, at most 64
/// characters), or `None`: device CLIs have no quoting to rely on.
fn cli_word(s: &str) -> Option<&str> {
    (!s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)))
    .then_some(s)
}

/// The event that made the session: the latest create/modify/start that
/// was not a failure or a dry run, else any.
fn making_event(s: &SessionReport) -> Option<&ConfigEventRef> {
    let ev = s.config_events.as_deref()?;
    ev.iter()
        .rev()
        .find(|e| {
            !e.failed
                && !e.dry_run
                && matches!(
                    e.action,
                    Action::Create | Action::Modify | Action::Start | Action::SessionUp
                )
        })
        .or_else(|| ev.last())
}

fn contain(i: usize, s: &SessionReport) -> Containment {
    let mut steps = Vec::new();
    let basis = match making_event(s) {
        Some(e) => {
            steps.extend(platform_steps(e));
            format!("from the {} {} event by {}", e.platform, e.action, who(e))
        }
        None => {
            steps.extend(encap_steps(s));
            format!(
                "no correlated change record: steps for the platforms that make {} sessions (find the session first)",
                s.encap
            )
        }
    };
    let dst = &s.dst;
    steps.push(Step {
        title: format!("Block the destination {dst}"),
        commands: vec![
            format!("nft add rule inet filter forward ip{} daddr {dst} drop", if dst.contains(':') { "6" } else { "" }),
            format!("ip access-list extended MIRRORWATCH-BLOCK\n deny ip any host {dst}"),
        ],
        note: Some("at the perimeter and on the path of the tunnel; in a cloud VPC, a network ACL deny rule for the address".to_owned()),
    });
    steps.push(Step {
        title: "Preserve evidence".to_owned(),
        commands: vec![
            "chmod a-w <captures and evidence files>".to_owned(),
            "sha256sum <captures and evidence files>   # must match Chain of custody".to_owned(),
        ],
        note: Some("keep the captures, the evidence files and the configuration logs read-only; save the device running configuration and the cloud audit trail before changing anything".to_owned()),
    });
    Containment {
        session: i,
        basis,
        steps,
    }
}

fn platform_steps(e: &ConfigEventRef) -> Vec<Step> {
    let on = e
        .device
        .as_deref()
        .map(|d| format!(" on {d}"))
        .unwrap_or_default();
    match e.platform {
        Platform::CiscoIos | Platform::CiscoNxos | Platform::AristaEos => {
            let n = e.session.map(|n| n.to_string()).or_else(|| {
                e.resource_id
                    .as_deref()
                    .and_then(cli_word)
                    .map(str::to_owned)
            });
            let (n, note) = match n {
                Some(n) => (n, None),
                None => (
                    "<N>".to_owned(),
                    Some(
                        "the session number was not in the record: `show monitor session all`"
                            .to_owned(),
                    ),
                ),
            };
            vec![Step {
                title: format!("Remove the monitor session{on}"),
                commands: vec![
                    "configure terminal".to_owned(),
                    format!("no monitor session {n}"),
                    "end".to_owned(),
                    "copy running-config startup-config".to_owned(),
                ],
                note,
            }]
        }
        Platform::Junos => {
            let name = e.resource_id.as_deref().and_then(cli_word);
            let (n, note) = match name {
                Some(n) => (n.to_owned(), None),
                None => (
                    "<NAME>".to_owned(),
                    Some("the instance name was not in the record: `show configuration forwarding-options`".to_owned()),
                ),
            };
            vec![Step {
                title: format!("Delete the port-mirroring instance or analyzer{on}"),
                commands: vec![
                    "configure".to_owned(),
                    format!("delete forwarding-options port-mirroring instance {n}"),
                    format!("delete forwarding-options analyzer {n}"),
                    "commit".to_owned(),
                ],
                note: Some(note.unwrap_or_else(|| {
                    "the first delete for a port-mirroring instance, the second for an analyzer"
                        .to_owned()
                })),
            }]
        }
        Platform::Aws => {
            let id = e
                .resource_id
                .as_deref()
                .filter(|r| r.starts_with("tms-"))
                .map(shell_quote)
                .unwrap_or_else(|| "<tms-ID>".to_owned());
            let region = e
                .region
                .as_deref()
                .map(|r| format!(" --region {}", shell_quote(r)))
                .unwrap_or_default();
            vec![Step {
                title: format!("Delete the Traffic Mirror session{on}"),
                commands: vec![format!(
                    "aws ec2 delete-traffic-mirror-session --traffic-mirror-session-id {id}{region}"
                )],
                note: e
                    .target_account
                    .as_deref()
                    .map(|a| format!("the target is in account {a}: revoke it there too")),
            }]
        }
        Platform::Gcp => {
            let name = e
                .resource_id
                .as_deref()
                .map(shell_quote)
                .unwrap_or_else(|| "<NAME>".to_owned());
            let region = e
                .region
                .as_deref()
                .map(shell_quote)
                .unwrap_or_else(|| "<REGION>".to_owned());
            let project = e
                .device
                .as_deref()
                .map(|p| format!(" --project {}", shell_quote(p)))
                .unwrap_or_default();
            vec![Step {
                title: "Delete the packet mirroring policy".to_owned(),
                commands: vec![format!(
                    "gcloud compute packet-mirrorings delete {name} --region {region}{project}"
                )],
                note: None,
            }]
        }
        Platform::Azure => {
            let name = e
                .resource_id
                .as_deref()
                .map(shell_quote)
                .unwrap_or_else(|| "<TAP-CONFIG>".to_owned());
            // A tap configuration's NIC path: /subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/networkInterfaces/NIC
            let nic_path = e.sources.first().map(String::as_str).unwrap_or("");
            let seg = |after: &str| {
                let lower = nic_path.to_ascii_lowercase();
                let key = format!("/{}/", after.to_ascii_lowercase());
                lower.find(&key).and_then(|i| {
                    nic_path
                        .get(i + key.len()..)
                        .and_then(|rest| rest.split('/').next())
                        .filter(|v| !v.is_empty())
                        .map(shell_quote)
                })
            };
            let rg = seg("resourceGroups").unwrap_or_else(|| "<RESOURCE-GROUP>".to_owned());
            let nic = seg("networkInterfaces").unwrap_or_else(|| "<NIC>".to_owned());
            vec![Step {
                title: "Remove the virtual network TAP configuration".to_owned(),
                commands: vec![format!(
                    "az network nic vtap-config remove --resource-group {rg} --nic-name {nic} --name {name}"
                )],
                note: Some(
                    "`az network nic vtap-config list --resource-group RG --nic-name NIC` finds the configurations of the source NICs".to_owned(),
                ),
            }]
        }
    }
}

/// Without a change record: the platforms that make sessions of this
/// encapsulation, with the command that finds the session.
fn encap_steps(s: &SessionReport) -> Vec<Step> {
    let mut v = Vec::new();
    let id = s.id.map(|i| i.to_string());
    match s.encap {
        Encap::Erspan1 | Encap::Erspan2 | Encap::Erspan3 | Encap::Gre | Encap::GreTeb => {
            v.push(Step {
                title: format!("Cisco / Arista: remove the monitor session on {}", s.src),
                commands: vec![
                    format!("show monitor session all | include {}", s.dst),
                    "configure terminal".to_owned(),
                    "no monitor session <N>".to_owned(),
                    "end".to_owned(),
                ],
                note: id
                    .as_ref()
                    .map(|i| format!("ERSPAN id {i}: `erspan-id {i}` in the session")),
            });
            v.push(Step {
                title: format!("Junos: delete the port-mirroring instance or analyzer on {}", s.src),
                commands: vec![
                    "show configuration forwarding-options | display set | match \"port-mirroring|analyzer\"".to_owned(),
                    "configure".to_owned(),
                    "delete forwarding-options port-mirroring instance <NAME>".to_owned(),
                    "delete forwarding-options analyzer <NAME>".to_owned(),
                    "commit".to_owned(),
                ],
                note: None,
            });
        }
        _ => {
            let vni = id.clone().unwrap_or_else(|| "<VNI>".to_owned());
            v.push(Step {
                title: "AWS: delete the Traffic Mirror session".to_owned(),
                commands: vec![
                    format!("aws ec2 describe-traffic-mirror-sessions --filters Name=virtual-network-id,Values={vni}"),
                    "aws ec2 delete-traffic-mirror-session --traffic-mirror-session-id <tms-ID>".to_owned(),
                ],
                note: None,
            });
            v.push(Step {
                title: "GCP: delete the packet mirroring policy".to_owned(),
                commands: vec![
                    "gcloud compute packet-mirrorings list".to_owned(),
                    "gcloud compute packet-mirrorings delete <NAME> --region <REGION>".to_owned(),
                ],
                note: None,
            });
            v.push(Step {
                title: "Azure: remove the virtual network TAP configuration".to_owned(),
                commands: vec![
                    "az network nic vtap-config list --resource-group <RESOURCE-GROUP> --nic-name <NIC>".to_owned(),
                    "az network nic vtap-config remove --resource-group <RESOURCE-GROUP> --nic-name <NIC> --name <TAP-CONFIG>".to_owned(),
                ],
                note: None,
            });
            v.push(Step {
                title: format!("Linux / switch: remove the tunnel on {}", s.src),
                commands: vec![format!("ip -d link show | grep -B1 {}", s.dst)],
                note: None,
            });
        }
    }
    v
}

// ---------------------------------------------------------------------------
// Timeline chart

/// Chart size.
const W: f64 = 640.0;
const H: f64 = 160.0;
const PAD_L: f64 = 70.0;
const PAD_B: f64 = 28.0;
const PAD_T: f64 = 10.0;
const PAD_R: f64 = 12.0;

/// Rates (bytes/s) of a timeline's buckets.
pub fn rates(t: &TimelineReport) -> Vec<f64> {
    let secs = t.bucket_us.max(1) as f64 / 1e6;
    t.bytes.iter().map(|&b| b as f64 / secs).collect()
}

fn human_rate(r: f64) -> String {
    format!("{}/s", human_bytes(r.round() as u64))
}

fn human_us(us: u64) -> String {
    if us >= 3_600_000_000 {
        format!("{:.1} h", us as f64 / 3.6e9)
    } else if us >= 60_000_000 {
        format!("{:.1} min", us as f64 / 6e7)
    } else if us >= 1_000_000 {
        format!("{:.1} s", us as f64 / 1e6)
    } else {
        format!("{:.1} ms", us as f64 / 1e3)
    }
}

/// The bytes/s step chart of a session as an inline SVG: an area and a
/// line path, axes labelled with the peak rate and the time span.
pub fn timeline_svg(t: &TimelineReport, title: &str) -> String {
    let mut r = rates(t);
    if r.is_empty() {
        // Packets of no bytes: a flat line still shows the span.
        r.push(0.0);
    }
    let n = r.len().max(1);
    let peak = r.iter().copied().fold(0.0_f64, f64::max);
    let top = if peak > 0.0 { peak } else { 1.0 };
    let (x0, x1) = (PAD_L, W - PAD_R);
    let (y0, y1) = (H - PAD_B, PAD_T);
    let xw = (x1 - x0) / n as f64;
    let y = |v: f64| y0 - (v / top) * (y0 - y1);
    let mut line = format!("M{x0:.1} {:.1}", y(r.first().copied().unwrap_or(0.0)));
    for (i, v) in r.iter().enumerate() {
        let _ = write!(
            line,
            " L{:.1} {:.1} L{:.1} {:.1}",
            x0 + i as f64 * xw,
            y(*v),
            x0 + (i + 1) as f64 * xw,
            y(*v)
        );
    }
    let area = format!("{line} L{x1:.1} {y0:.1} L{x0:.1} {y0:.1} Z");
    let span = t.bucket_us.saturating_mul(n as u64);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{t}" data-buckets="{n}" data-peak="{peak:.0}"><title>{t}</title>"#,
        t = esc(title)
    );
    let _ = write!(
        s,
        r##"<path class="grid" d="M{x0} {y1} H{x1} M{x0} {mid:.1} H{x1}" stroke="#ddd" fill="none"/>"##,
        mid = (y0 + y1) / 2.0
    );
    let _ = write!(
        s,
        r##"<path class="area" d="{area}" fill="#f4a3a3" stroke="none"/><path class="line" d="{line}" fill="none" stroke="#b00020" stroke-width="1.5"/>"##
    );
    let _ = write!(
        s,
        r##"<path class="axis" d="M{x0} {y1} V{y0} H{x1}" stroke="#333" fill="none"/>"##
    );
    let _ = write!(
        s,
        r#"<text x="{lx}" y="{ty}" text-anchor="end" font-size="11">{peak}</text><text x="{lx}" y="{y0}" text-anchor="end" font-size="11">0</text>"#,
        lx = x0 - 4.0,
        ty = y1 + 10.0,
        peak = esc(&human_rate(peak))
    );
    let _ = write!(
        s,
        r#"<text x="{x0}" y="{by}" font-size="11">{start}</text><text x="{x1}" y="{by}" text-anchor="end" font-size="11">+{span} ({w} buckets)</text></svg>"#,
        by = H - 8.0,
        start = esc(&t.start),
        span = esc(&human_us(span)),
        w = esc(&human_us(t.bucket_us)),
    );
    s
}

// ---------------------------------------------------------------------------
// Escaping

/// HTML text and attribute escaping.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

/// Markdown text escaping (table cells and paragraphs): HTML-significant
/// characters become entities, Markdown punctuation is backslash-escaped,
/// line breaks become spaces.
pub fn md(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' | '~' | '{' | '}' => {
                o.push('\\');
                o.push(c);
            }
            '\n' | '\r' | '\t' => o.push(' '),
            c if c.is_control() => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

/// A code block's text cannot close its fence: backticks runs are broken.
fn md_code(s: &str) -> String {
    s.replace("```", "`\u{200b}``")
}

// ---------------------------------------------------------------------------
// HTML

const CSS: &str = r#"
:root{--red:#b00020;--amber:#a15c00;--green:#1b6e2a;--ink:#1a1a1a;--mute:#555}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);margin:0 auto;max-width:980px;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:32px}h3{font-size:16px;margin:20px 0 8px}
.meta{color:var(--mute);margin:0 0 16px}
.decision{border-left:6px solid var(--green);background:#eef7ef;padding:12px 16px;margin:12px 0}
.decision.escalate{border-color:var(--red);background:#fdecee}
.decision strong{font-size:17px}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.ans-yes{color:var(--red);font-weight:700}.ans-partly,.ans-unknown{color:var(--amber);font-weight:700}.ans-no{color:var(--green);font-weight:700}
.cls-external{color:var(--red);font-weight:700}.cls-internal{color:var(--amber);font-weight:700}.cls-authorized{color:var(--green)}
.session{border:1px solid #ddd;border-radius:6px;padding:8px 16px 16px;margin:16px 0}
.session.action{border-color:var(--red)}
pre.cmd{background:#1e1e1e;color:#f0f0f0;padding:8px 12px;border-radius:4px;overflow-x:auto;white-space:pre-wrap}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
.hash{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
svg.chart{max-width:100%;height:auto;display:block;margin:8px 0}
.note{color:var(--mute)}
@media print{
 body{max-width:none;padding:0;font-size:11pt}
 .session,.step,table,svg.chart{break-inside:avoid}
 h2{break-after:avoid}
 pre.cmd{background:#fff;color:#000;border:1px solid #999}
 .decision{background:#fff}
 a{color:inherit;text-decoration:none}
}
"#;

/// Sets `data-report-ok` on `<body>` once every chart has drawn paths of
/// non-zero length (the browser test reads it from the dumped DOM).
const CHECK_SCRIPT: &str = "(function(){var c=document.querySelectorAll('svg.chart'),ok=true,n=0;for(var i=0;i<c.length;i++){var p=c[i].querySelectorAll('path.line,path.area');if(p.length<2){ok=false;continue;}for(var j=0;j<p.length;j++){if(!(p[j].getTotalLength()>0)){ok=false;}}var b=c[i].getBBox();if(!(b.width>0&&b.height>0)){ok=false;}n++;}document.body.setAttribute('data-charts',String(n));document.body.setAttribute('data-report-ok',ok&&n===c.length?'yes':'no');})();";

fn ans_class(a: &str) -> &'static str {
    match a {
        "yes" => "ans-yes",
        "no" => "ans-no",
        "partly" => "ans-partly",
        _ => "ans-unknown",
    }
}

/// The page.
pub fn html(inc: &Incident<'_>) -> String {
    use base64::Engine as _;
    let script_hash =
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CHECK_SCRIPT.as_bytes()));
    let mut h = String::with_capacity(32 * 1024);
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'; img-src data:">
<title>mirrorwatch incident report</title>
<style>{CSS}</style></head>
<body>
<header><h1>Traffic mirroring incident report</h1>
<p class="meta">MITRE ATT&amp;CK T1020.001 · sensor {sensor} · generated {gen} · mirrorwatch {ver}</p></header>
"#,
        sensor = esc(&inc.custody.sensor),
        gen = esc(&inc.custody.generated),
        ver = esc(&inc.custody.version),
    );

    // Summary.
    h.push_str("<section id=\"summary\"><h2>Summary</h2>\n");
    let _ = write!(
        h,
        "<div class=\"decision{}\" id=\"decision\"><strong>{}</strong><ul>",
        if inc.escalate { " escalate" } else { "" },
        if inc.escalate {
            "Escalate to incident response"
        } else {
            "No escalation needed"
        }
    );
    for r in &inc.reasons {
        let _ = write!(h, "<li>{}</li>", esc(r));
    }
    h.push_str("</ul></div>\n");
    let r = inc.report;
    let mirrors = r
        .sessions
        .iter()
        .filter(|s| s.verdict == Verdict::Mirror)
        .count();
    let _ = writeln!(
        h,
        "<p>{} packets ({}) read from {} capture file(s); {} session(s), {} of them mirrors; {} alert(s) raised.</p>",
        r.packets,
        esc(&human_bytes(r.bytes)),
        r.files.len(),
        r.sessions.len(),
        mirrors,
        r.alerts.values().sum::<u64>()
    );
    h.push_str(
        "<table id=\"questions\"><tr><th>Question</th><th>Answer</th><th>Evidence</th></tr>\n",
    );
    for a in &inc.answers {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td><ul>",
            esc(a.question),
            ans_class(a.answer),
            a.answer
        );
        for d in &a.details {
            let _ = write!(h, "<li>{}</li>", esc(d));
        }
        h.push_str("</ul></td></tr>\n");
    }
    h.push_str("</table>\n");
    if !r.alerts.is_empty() {
        h.push_str("<table id=\"alerts\"><tr><th>Alert kind</th><th>Raised</th></tr>");
        for (k, n) in &r.alerts {
            let _ = write!(h, "<tr><td>{}</td><td class=\"num\">{n}</td></tr>", esc(k));
        }
        h.push_str("</table>\n");
    }
    h.push_str("</section>\n");

    // Sessions.
    h.push_str("<section id=\"sessions\"><h2>Sessions</h2>\n");
    if inc.sessions.is_empty() {
        h.push_str("<p>No tunnel or mirror session was seen.</p>\n");
    }
    for (i, s) in inc.sessions.iter().enumerate().take(MAX_DETAILED_SESSIONS) {
        session_html(&mut h, i, s);
    }
    if inc.sessions.len() > MAX_DETAILED_SESSIONS {
        let _ = write!(
            h,
            "<h3>{} more sessions</h3><table><tr><th>Session</th><th>Class</th><th>Verdict</th><th>Bytes</th></tr>",
            inc.sessions.len() - MAX_DETAILED_SESSIONS
        );
        for s in inc.sessions.iter().skip(MAX_DETAILED_SESSIONS) {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                esc(&label(s)),
                class_text(s.dst_class),
                s.verdict,
                s.bytes
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("</section>\n");

    // Containment.
    h.push_str("<section id=\"containment\"><h2>Containment</h2>\n");
    if inc.containment.is_empty() {
        h.push_str("<p>No unauthorised mirror session to contain.</p>\n");
    }
    for c in &inc.containment {
        let s = inc.sessions[c.session];
        let _ = write!(
            h,
            "<div class=\"contain\"><h3>{}</h3><p class=\"note\">{}</p><ol>",
            esc(&label(s)),
            esc(&c.basis)
        );
        for st in &c.steps {
            let _ = write!(h, "<li class=\"step\"><strong>{}</strong>", esc(&st.title));
            if !st.commands.is_empty() {
                let _ = write!(
                    h,
                    "<pre class=\"cmd\"><code>{}</code></pre>",
                    esc(&st.commands.join("\n"))
                );
            }
            if let Some(n) = &st.note {
                let _ = write!(h, "<p class=\"note\">{}</p>", esc(n));
            }
            h.push_str("</li>");
        }
        h.push_str("</ol></div>\n");
    }
    h.push_str("</section>\n");

    // Chain of custody.
    h.push_str("<section id=\"custody\"><h2>Chain of custody</h2>\n");
    let _ = writeln!(
        h,
        "<p>Made by mirrorwatch {} at {} (sensor {}).</p>",
        esc(&inc.custody.version),
        esc(&inc.custody.generated),
        esc(&inc.custody.sensor)
    );
    custody_table(&mut h, "Inputs read", "inputs", &inc.custody.inputs);
    custody_table(&mut h, "Evidence written", "evidence", &inc.custody.outputs);
    h.push_str("</section>\n");
    let _ = write!(h, "<script>{CHECK_SCRIPT}</script>\n</body></html>\n");
    h
}

fn custody_table(h: &mut String, title: &str, id: &str, files: &[Hashed]) {
    let _ = write!(h, "<h3>{title}</h3>");
    if files.is_empty() {
        h.push_str("<p>None.</p>\n");
        return;
    }
    let _ = write!(
        h,
        "<table id=\"{id}\"><tr><th>Role</th><th>File</th><th>Bytes</th><th>SHA-256</th></tr>"
    );
    for f in files {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"hash\">{}</td></tr>",
            f.role,
            esc(&f.path),
            f.bytes.map(|b| b.to_string()).unwrap_or_default(),
            esc(f.sha256.as_deref().or(f.note.as_deref()).unwrap_or(""))
        );
    }
    h.push_str("</table>\n");
}

fn session_html(h: &mut String, i: usize, s: &SessionReport) {
    let action = needs_action(s);
    let _ = write!(
        h,
        "<article class=\"session{}\" id=\"session-{i}\"><h3>{}</h3>",
        if action { " action" } else { "" },
        esc(&label(s))
    );
    let _ = write!(
        h,
        "<table class=\"facts\"><tr><th>Encapsulation</th><td>{}</td><th>Id</th><td>{}</td></tr>\
<tr><th>Source</th><td>{}</td><th>Destination</th><td>{}</td></tr>\
<tr><th>Class</th><td class=\"cls-{}\">{}</td><th>Verdict</th><td>{}</td></tr>\
<tr><th>Packets</th><td class=\"num\">{}</td><th>Bytes</th><td class=\"num\">{} ({})</td></tr>\
<tr><th>First seen</th><td>{}</td><th>Last seen</th><td>{}</td></tr>\
<tr><th>Inner VLANs</th><td>{}</td><th>Inner flows</th><td class=\"num\">{}</td></tr>\
<tr><th>Alerts</th><td colspan=\"3\">{}</td></tr></table>",
        s.encap,
        s.id.map(|v| v.to_string())
            .unwrap_or_else(|| "none".to_owned()),
        esc(&s.src),
        esc(&s.dst),
        s.dst_class,
        class_text(s.dst_class),
        s.verdict,
        s.packets,
        s.bytes,
        esc(&human_bytes(s.bytes)),
        esc(&s.first_seen),
        esc(&s.last_seen),
        if s.inner_vlans.is_empty() {
            "none".to_owned()
        } else {
            s.inner_vlans
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        },
        s.inner_flows,
        s.alerts
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(seen) = seen_by_text(s) {
        let _ = write!(h, "<p><strong>Seen by</strong> {}</p>", esc(&seen));
    }
    h.push_str("<p><strong>Evidence for the verdict</strong></p><ul class=\"evidence\">");
    for e in &s.evidence {
        let _ = write!(h, "<li>{}</li>", esc(e));
    }
    h.push_str("</ul>");
    if let Some(t) = &s.traffic.timeline {
        let _ = write!(
            h,
            "<p><strong>Bytes per second</strong></p>{}",
            timeline_svg(t, &format!("bytes per second of {}", label(s)))
        );
    }
    // Configuration events.
    match &s.config_events {
        None => h.push_str("<p class=\"note\">Configuration events: no logs were read.</p>"),
        Some(ev) if ev.is_empty() => h.push_str(
            "<p class=\"events-none\"><strong>Configuration events:</strong> no change record explains this session.</p>",
        ),
        Some(ev) => {
            h.push_str("<p><strong>Configuration events that explain it</strong></p><table class=\"events\"><tr><th>When</th><th>Platform</th><th>Action</th><th>Who</th><th>From</th><th>Device / account</th><th>Resource</th><th>Record</th></tr>");
            for e in ev {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(e.time.as_deref().unwrap_or("")),
                    e.platform,
                    e.action,
                    if e.failed { " (failed)" } else if e.dry_run { " (dry run)" } else { "" },
                    esc(e.actor.as_deref().unwrap_or("unknown")),
                    esc(e.source_ip.as_deref().unwrap_or("")),
                    esc(e.device.as_deref().unwrap_or("")),
                    esc(e.resource_id.as_deref().unwrap_or("")),
                    esc(&e.origin)
                );
            }
            h.push_str("</table>");
        }
    }
    let _ = write!(
        h,
        "<p><strong>Duplicates:</strong> {} packets ({:.2} %){}</p>",
        s.duplicates.packets,
        s.duplicates.ratio * 100.0,
        s.duplicates
            .median_gap_us
            .map(|g| format!(", median {g} µs after the original"))
            .unwrap_or_default()
    );
    let hosts = s
        .traffic
        .top_inner_hosts
        .iter()
        .map(|c| (c.addr.as_str(), c.bytes, c.overestimate_bytes, c.packets));
    top_table(h, "Top inner hosts", "hosts", "Host", hosts, s.inner_bytes);
    let services = s
        .traffic
        .top_inner_services
        .iter()
        .map(|c| (c.service.as_str(), c.bytes, c.overestimate_bytes, c.packets));
    top_table(
        h,
        "Top inner services",
        "services",
        "Service",
        services,
        s.inner_bytes,
    );
    h.push_str("</article>\n");
}

/// The Markdown twin of [`top_table`]: (name, bytes, packets) rows, nothing
/// when there are none.
fn md_top_table<'a>(m: &mut String, what: &str, rows: impl Iterator<Item = (&'a str, u64, u64)>) {
    let mut rows = rows.peekable();
    if rows.peek().is_none() {
        return;
    }
    let _ = writeln!(m, "| {what} | Bytes | Packets |\n| --- | ---: | ---: |");
    for (name, bytes, packets) in rows {
        let _ = writeln!(m, "| {} | {bytes} | {packets} |", md(name));
    }
    m.push('\n');
}

/// A top-N table of a session's inner traffic: (name, bytes, overestimate,
/// packets) rows, with each row's share of the session's inner bytes.
fn top_table<'a>(
    h: &mut String,
    title: &str,
    class: &str,
    what: &str,
    rows: impl ExactSizeIterator<Item = (&'a str, u64, u64, u64)>,
    inner_bytes: u64,
) {
    let _ = write!(h, "<p><strong>{title}</strong></p>");
    if rows.len() == 0 {
        h.push_str("<p class=\"note\">No inner IP traffic.</p>");
        return;
    }
    let ib = inner_bytes.max(1) as f64;
    let _ = write!(
        h,
        "<table class=\"{class}\"><tr><th>{what}</th><th>Bytes</th><th>Share</th><th>Packets</th></tr>"
    );
    for (name, bytes, over, packets) in rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{bytes}{}</td><td class=\"num\">{:.1} %</td><td class=\"num\">{packets}</td></tr>",
            esc(name),
            if over > 0 {
                format!(" (±{over})")
            } else {
                String::new()
            },
            (bytes as f64 / ib * 100.0).min(100.0),
        );
    }
    h.push_str("</table>");
}

// ---------------------------------------------------------------------------
// Markdown

/// The Markdown twin, for tickets.
pub fn markdown(inc: &Incident<'_>) -> String {
    let mut m = String::with_capacity(16 * 1024);
    let c = &inc.custody;
    let _ = writeln!(m, "# Traffic mirroring incident report\n");
    let _ = writeln!(
        m,
        "MITRE ATT&CK T1020.001 · sensor {} · generated {} · mirrorwatch {}\n",
        md(&c.sensor),
        md(&c.generated),
        md(&c.version)
    );
    let _ = writeln!(m, "## Summary\n");
    let _ = writeln!(
        m,
        "**Decision: {}**\n",
        if inc.escalate {
            "Escalate to incident response"
        } else {
            "No escalation needed"
        }
    );
    for r in &inc.reasons {
        let _ = writeln!(m, "- {}", md(r));
    }
    m.push('\n');
    let _ = writeln!(m, "| Question | Answer | Evidence |\n| --- | --- | --- |");
    for a in &inc.answers {
        let _ = writeln!(
            m,
            "| {} | **{}** | {} |",
            md(a.question),
            a.answer,
            a.details
                .iter()
                .map(|d| md(d))
                .collect::<Vec<_>>()
                .join("<br>")
        );
    }
    m.push('\n');
    let _ = writeln!(m, "## Sessions\n");
    if inc.sessions.is_empty() {
        let _ = writeln!(m, "No tunnel or mirror session was seen.\n");
    }
    for s in inc.sessions.iter().take(MAX_DETAILED_SESSIONS) {
        let _ = writeln!(m, "### {}\n", md(&label(s)));
        let _ = writeln!(m, "| Field | Value |\n| --- | --- |");
        let _ = writeln!(m, "| Class | {} |", class_text(s.dst_class));
        let _ = writeln!(m, "| Verdict | {} |", s.verdict);
        let _ = writeln!(
            m,
            "| Packets / bytes | {} / {} ({}) |",
            s.packets,
            s.bytes,
            md(&human_bytes(s.bytes))
        );
        let _ = writeln!(
            m,
            "| First / last seen | {} / {} |",
            md(&s.first_seen),
            md(&s.last_seen)
        );
        if let Some(seen) = seen_by_text(s) {
            let _ = writeln!(m, "| Seen by | {} |", md(&seen));
        }
        if !s.inner_vlans.is_empty() {
            let _ = writeln!(
                m,
                "| Inner VLANs | {} |",
                s.inner_vlans
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let _ = writeln!(
            m,
            "| Alerts | {} |",
            s.alerts
                .iter()
                .map(|a| md(a.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            m,
            "| Duplicates | {} packets ({:.2} %) |\n",
            s.duplicates.packets,
            s.duplicates.ratio * 100.0
        );
        let _ = writeln!(m, "Evidence for the verdict:\n");
        for e in &s.evidence {
            let _ = writeln!(m, "- {}", md(e));
        }
        m.push('\n');
        if let Some(t) = &s.traffic.timeline {
            let r = rates(t);
            let peak = r.iter().copied().fold(0.0_f64, f64::max);
            let _ = writeln!(
                m,
                "Bytes per second from {} in buckets of {}: peak {}; `{}`\n",
                md(&t.start),
                md(&human_us(t.bucket_us)),
                md(&human_rate(peak)),
                sparkline(&r)
            );
        }
        match &s.config_events {
            None => {
                let _ = writeln!(m, "Configuration events: no logs were read.\n");
            }
            Some(ev) if ev.is_empty() => {
                let _ = writeln!(
                    m,
                    "Configuration events: **no change record explains this session.**\n"
                );
            }
            Some(ev) => {
                let _ = writeln!(
                    m,
                    "| When | Platform | Action | Who | From | Device | Resource | Record |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
                );
                for e in ev {
                    let _ = writeln!(
                        m,
                        "| {} | {} | {} | {} | {} | {} | {} | {} |",
                        md(e.time.as_deref().unwrap_or("")),
                        e.platform,
                        e.action,
                        md(e.actor.as_deref().unwrap_or("unknown")),
                        md(e.source_ip.as_deref().unwrap_or("")),
                        md(e.device.as_deref().unwrap_or("")),
                        md(e.resource_id.as_deref().unwrap_or("")),
                        md(&e.origin)
                    );
                }
                m.push('\n');
            }
        }
        let hosts = s.traffic.top_inner_hosts.iter();
        md_top_table(
            &mut m,
            "Top inner host",
            hosts.map(|h| (h.addr.as_str(), h.bytes, h.packets)),
        );
        let services = s.traffic.top_inner_services.iter();
        md_top_table(
            &mut m,
            "Top inner service",
            services.map(|h| (h.service.as_str(), h.bytes, h.packets)),
        );
    }
    if inc.sessions.len() > MAX_DETAILED_SESSIONS {
        let _ = writeln!(
            m,
            "{} more sessions are in the JSON report (`mirrorwatch replay --format json`).\n",
            inc.sessions.len() - MAX_DETAILED_SESSIONS
        );
    }
    let _ = writeln!(m, "## Containment\n");
    if inc.containment.is_empty() {
        let _ = writeln!(m, "No unauthorised mirror session to contain.\n");
    }
    for c in &inc.containment {
        let s = inc.sessions[c.session];
        let _ = writeln!(m, "### {}\n\n{}\n", md(&label(s)), md(&c.basis));
        for (k, st) in c.steps.iter().enumerate() {
            let _ = writeln!(m, "{}. {}", k + 1, md(&st.title));
            if !st.commands.is_empty() {
                let _ = writeln!(
                    m,
                    "\n   ```\n{}\n   ```",
                    st.commands
                        .iter()
                        .flat_map(|c| c.lines())
                        .map(|l| format!("   {}", md_code(l)))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            if let Some(n) = &st.note {
                let _ = writeln!(m, "\n   {}", md(n));
            }
            m.push('\n');
        }
    }
    let _ = writeln!(m, "## Chain of custody\n");
    let _ = writeln!(
        m,
        "Made by mirrorwatch {} at {} (sensor {}).\n",
        md(&c.version),
        md(&c.generated),
        md(&c.sensor)
    );
    for (title, files) in [("Inputs read", &c.inputs), ("Evidence written", &c.outputs)] {
        let _ = writeln!(m, "### {title}\n");
        if files.is_empty() {
            let _ = writeln!(m, "None.\n");
            continue;
        }
        let _ = writeln!(
            m,
            "| Role | File | Bytes | SHA-256 |\n| --- | --- | ---: | --- |"
        );
        for f in files {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} |",
                f.role,
                md(&f.path),
                f.bytes.map(|b| b.to_string()).unwrap_or_default(),
                f.sha256
                    .as_deref()
                    .map(|x| format!("`{x}`"))
                    .unwrap_or_else(|| md(f.note.as_deref().unwrap_or("")))
            );
        }
        m.push('\n');
    }
    m
}

/// A text sparkline of rates (▁ to █).
fn sparkline(r: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let peak = r.iter().copied().fold(0.0_f64, f64::max);
    r.iter()
        .map(|&v| {
            if peak <= 0.0 {
                BARS[0]
            } else {
                BARS[((v / peak) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

/// Files for the chain of custody: every capture, log and the
/// configuration read (hashed before the replay), then the evidence files
/// of the report's sessions found in `evidence_dir` and the alerts file.
pub fn evidence_files(
    report: &Report,
    evidence_dir: Option<&Path>,
    alerts: Option<&str>,
) -> Vec<Hashed> {
    let mut v = Vec::new();
    if let Some(dir) = evidence_dir {
        for s in &report.sessions {
            let p = dir.join(crate::detect::evidence_file_name(&s.key));
            if p.is_file() {
                v.push(hash_file("evidence", &p.to_string_lossy()));
            }
        }
    }
    if let Some(a) = alerts.filter(|a| *a != "-") {
        v.push(hash_file("alerts", a));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            esc(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
        assert_eq!(
            md("a|b *c* <img> [x](y)"),
            r"a\|b \*c\* &lt;img&gt; \[x\](y)"
        );
        assert_eq!(md("line\nbreak"), "line break");
        assert_eq!(
            shell_quote("tms-08a33b1214f3c6b2e"),
            "tms-08a33b1214f3c6b2e"
        );
        assert_eq!(shell_quote("x; rm -rf /"), "'x; rm -rf /'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(cli_word("exfil"), Some("exfil"));
        assert_eq!(cli_word("1\nshutdown"), None);
        assert!(!md_code("```\nrm").contains("```"));
    }

    #[test]
    fn chart_has_a_step_per_bucket() {
        let t = TimelineReport {
            start: "2026-01-01T00:00:00.000000Z".to_owned(),
            start_us: 0,
            bucket_us: 1_000_000,
            bytes: vec![100, 0, 300],
        };
        assert_eq!(rates(&t), vec![100.0, 0.0, 300.0]);
        let svg = timeline_svg(&t, "a <b>");
        assert!(svg.contains("data-buckets=\"3\""));
        assert!(svg.contains("data-peak=\"300\""));
        assert!(svg.contains("a &lt;b&gt;"));
        assert_eq!(svg.matches("<path").count(), 4);
        assert_eq!(sparkline(&rates(&t)), "▃▁█");
        let empty = TimelineReport {
            bytes: Vec::new(),
            ..t
        };
        let svg = timeline_svg(&empty, "none");
        assert!(svg.contains("data-buckets=\"1\""));
        assert!(svg.contains(" L"), "a line is drawn");
    }

    #[test]
    fn hashes_a_file() {
        let p = std::env::temp_dir().join(format!("mw-incident-hash-{}", std::process::id()));
        std::fs::write(&p, b"abc").expect("write");
        let h = hash_file("capture", &p.to_string_lossy());
        assert_eq!(
            h.sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(h.bytes, Some(3));
        std::fs::remove_file(&p).ok();
        assert!(hash_file("capture", "-").sha256.is_none());
        assert!(hash_file("capture", "/nonexistent/x").note.is_some());
    }
}
