//! Mirror-configuration events from device syslog and cloud audit logs.
//!
//! Traffic mirroring used for exfiltration (MITRE ATT&CK T1020.001) has to
//! be configured somewhere: a `monitor session` on a switch or router, a
//! Junos `port-mirroring`/`analyzer` instance, an AWS Traffic Mirror
//! session, a GCP Packet Mirroring policy or an Azure virtual network TAP.
//! This module turns the logs of those changes into normalised
//! [`ConfigEvent`]s.
//!
//! * [`parse_syslog_line`] parses RFC 3164 / RFC 5424 / Cisco / NX-OS
//!   syslog lines.
//! * [`SyslogIngest`] recognises Cisco IOS/IOS-XE (`%PARSER-5-CFGLOG_LOGGEDCMD`
//!   command logging, `%SYS-5-CONFIG_I`, SPAN/ERSPAN status messages),
//!   NX-OS (accounting log, `%ETH_SPAN-*`), IOS-XR (`monitor-session`),
//!   Embedded Packet Capture (`%BUFCAP-*`), Arista EOS
//!   (`%ACCOUNTING-6-CMD` AAA command accounting) and Junos
//!   (`UI_CMDLINE_READ_LINE`, `UI_CFG_AUDIT_*`, `UI_COMMIT`) lines, keeping bounded per-device context so that a session
//!   configured over several commands yields events carrying everything
//!   known so far. It serves files and live listeners alike.
//! * [`recognise_cloudtrail`], [`recognise_gcp_audit`] and
//!   [`recognise_azure_activity`] recognise single cloud audit records.
//! * [`read_log_file`] / [`LogReader`] read whole files (gzip, zstd, JSON
//!   documents, JSON lines or syslog, detected per file and per line) with
//!   counters and `file:line` warnings.
//!
//! Field conventions in [`ConfigEvent`]:
//! * `resource` / `resource_id`: what changed and its id or name as the
//!   record gives it (`monitor session 1` → `session` `1`; Arista
//!   `monitor session exfil` → `exfil`; Junos `port-mirroring instance m1`
//!   → `m1`, `analyzer a1` → `a1`, the default instance `port-mirroring`;
//!   capture points by name; `tms-`/`tmt-`/`tmf-`/`tmfr-` ids; GCP and
//!   Azure resource names). A filter, a target and a session are told
//!   apart by `resource`.
//! * `session`: monitor session number (numeric names), AWS
//!   `SessionNumber`; `vni` the AWS `VirtualNetworkId`.
//! * `destination`: destination IP, interface, `remote vlan N`, export URL,
//!   AWS target id (`tmt-...`) for sessions, target resource (NLB ARN, ENI,
//!   GWLB endpoint) for targets, GCP collector / NSI resource, Azure
//!   destination IP configuration or TAP id.
//! * `source_ip`: the caller's address (cloud APIs, NX-OS and Arista
//!   accounting); never the ERSPAN/GRE tunnel origin address, which is
//!   parsed (so that it is not mistaken for the destination) but not
//!   reported.
//! * `actor`: CLI user / caller ARN / principal e-mail / Azure caller.
//! * `device`: syslog host (or the sender address for `udp:`/`tcp:`
//!   origins), AWS recipient account, GCP project, Azure subscription
//!   (lower-cased). `time_us`: syslog times without a zone are UTC; RFC
//!   3164 times take the caller's year (no New Year rollover guessing).
//! * `failed`: the cloud API call failed (CloudTrail `errorCode`, GCP status
//!   or severity, Azure status) or NX-OS accounting recorded `FAILURE`.
//!   Such events are kept, not dropped. `dry_run`: AWS `DryRun`
//!   (`Client.DryRunOperation` is not a failure).
//! * `device`: never a Cisco sequence number (`000123:` before the device
//!   time stamp).

mod aws;
mod azure;
mod bounded;
mod device;
mod gcp;
mod ingest;
mod json;
mod reader;
mod syslog;
mod timefmt;

pub use aws::recognise_cloudtrail;
pub use azure::recognise_azure_activity;
pub use gcp::recognise_gcp_audit;
pub use ingest::{Ingested, SyslogIngest};
pub use reader::{LogFormat, LogReadOutcome, LogReader, LogWarning, read_log_file};
pub use syslog::{SyslogFormat, SyslogRecord, parse_syslog_line};
pub use timefmt::parse_rfc3339_us;

use serde::Serialize;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

labelled_enum! {
    /// Where a configuration event was logged.
    pub enum Platform {
        CiscoIos => "cisco-ios",
        CiscoNxos => "cisco-nxos",
        AristaEos => "arista-eos",
        Junos => "junos",
        Aws => "aws",
        Gcp => "gcp",
        Azure => "azure",
    }
}

labelled_enum! {
    /// What happened to the mirror configuration.
    pub enum Action {
        Create => "create",
        Modify => "modify",
        Delete => "delete",
        SessionUp => "session-up",
        SessionDown => "session-down",
        /// A capture (IOS-XE Embedded Packet Capture point) started.
        Start => "start",
        /// A capture stopped.
        Stop => "stop",
    }
}

labelled_enum! {
    /// What kind of mirror resource an event is about.
    pub enum ResourceKind {
        /// A mirror session: Cisco/NX-OS/Arista/IOS-XR `monitor session`,
        /// Junos port-mirroring / analyzer instance, AWS traffic mirror
        /// session (`tms-...`), GCP packet mirroring policy, NSI mirroring
        /// endpoint group association.
        Session => "session",
        /// Where mirrored traffic goes: AWS traffic mirror target
        /// (`tmt-...`), NSI mirroring deployment / endpoint group.
        Target => "target",
        /// AWS traffic mirror filter (`tmf-...`).
        Filter => "filter",
        /// AWS traffic mirror filter rule (`tmfr-...`).
        FilterRule => "filter-rule",
        /// IOS-XE Embedded Packet Capture point, capture buffer.
        Capture => "capture",
        /// Azure virtual network TAP or NIC TAP configuration.
        Tap => "tap",
    }
}

/// A normalised mirror-configuration event.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ConfigEvent {
    /// Microseconds since the Unix epoch (UTC), when the record has a time.
    pub time_us: Option<i64>,
    pub platform: Platform,
    /// Host name / account id / project / subscription.
    pub device: Option<String>,
    /// User / caller ARN / principal e-mail.
    pub actor: Option<String>,
    #[serde(deserialize_with = "action_compat")]
    pub action: Action,
    /// Kind of resource changed, when the record says it.
    #[serde(default)]
    pub resource: Option<ResourceKind>,
    /// Its id or name as the record gives it: `1` (`monitor session 1`),
    /// `exfil`, `port-mirroring instance m1`, `CAP1`, `tms-...`, `tmt-...`,
    /// the GCP packet mirroring or Azure TAP name.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// Monitor session number (numeric session names), or the VXLAN VNI
    /// for AWS sessions (also in `vni`).
    pub session: Option<u32>,
    pub erspan_id: Option<u32>,
    pub vni: Option<u32>,
    /// Destination IP, or target resource (ENI, NLB ARN, GWLB endpoint, ...).
    pub destination: Option<String>,
    pub destination_ip: Option<IpAddr>,
    /// Account/project owning the target, when known (cross-account!).
    pub target_account: Option<String>,
    /// Source interfaces / ENIs / instances.
    pub sources: Vec<String>,
    /// Caller source IP.
    pub source_ip: Option<String>,
    /// Cloud region (AWS `awsRegion`, GCP region of the policy).
    #[serde(default)]
    pub region: Option<String>,
    /// GCP network of a packet mirroring policy.
    #[serde(default)]
    pub network: Option<String>,
    /// The API call / command failed; kept but marked.
    pub failed: bool,
    /// A dry run (AWS `DryRun`, `DryRunOperation`): nothing changed.
    #[serde(default)]
    pub dry_run: bool,
    /// The raw line / record (JSON text).
    pub raw: String,
    /// `file:line` or `udp:ADDR` — where it came from.
    pub origin: String,
}

impl ConfigEvent {
    /// An event with only the mandatory fields set.
    pub fn new(
        platform: Platform,
        action: Action,
        raw: impl Into<String>,
        origin: impl Into<String>,
    ) -> Self {
        Self {
            time_us: None,
            platform,
            device: None,
            actor: None,
            action,
            resource: None,
            resource_id: None,
            session: None,
            erspan_id: None,
            vni: None,
            destination: None,
            destination_ip: None,
            target_account: None,
            sources: Vec::new(),
            source_ip: None,
            region: None,
            network: None,
            failed: false,
            dry_run: false,
            raw: raw.into(),
            origin: origin.into(),
        }
    }

    /// `file` and `line` of a `file:line` origin (`None` for network
    /// origins such as `udp:ADDR:PORT`).
    pub fn file_line(&self) -> Option<(&str, u64)> {
        file_line(&self.origin)
    }

    /// True when the target is known to belong to another account /
    /// project / subscription than the one the change was made in.
    pub fn is_cross_account(&self) -> bool {
        match (&self.target_account, &self.device) {
            (Some(t), Some(d)) => !t.eq_ignore_ascii_case(d),
            _ => false,
        }
    }
}

/// Reads an [`Action`], taking `capture-start` (the name of `start`
/// before it had `stop`) from state saved by earlier versions.
fn action_compat<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Action, D::Error> {
    let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
    match s.as_ref() {
        "capture-start" => Ok(Action::Start),
        other => Action::parse(other)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown Action {other:?}"))),
    }
}

/// Splits a `file:line` origin.
pub(crate) fn file_line(origin: &str) -> Option<(&str, u64)> {
    if ["udp:", "tcp:", "tls:"]
        .iter()
        .any(|p| origin.starts_with(p))
    {
        return None;
    }
    let (file, line) = origin.rsplit_once(':')?;
    Some((file, line.parse().ok()?))
}

/// Errors of [`read_log_file`]; everything after opening the file is a
/// warning in [`LogReadOutcome`] instead.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Recognises one cloud audit record of any supported provider
/// (CloudTrail, including EventBridge envelopes; GCP Cloud Audit Logs;
/// Azure Activity Log). Stateless: no cross-record folding or target
/// attribution, which [`LogReader`] adds for files.
pub fn recognise_cloud_record(
    record: &serde_json::Value,
    raw: &str,
    origin: &str,
) -> Option<ConfigEvent> {
    if aws::is_cloudtrail(record) {
        recognise_cloudtrail(record, raw, origin)
    } else if gcp::is_gcp(record) {
        recognise_gcp_audit(record, raw, origin)
    } else if azure::is_azure(record) {
        recognise_azure_activity(record, raw, origin)
    } else {
        let detail = record.get("detail").filter(|d| aws::is_cloudtrail(d))?;
        recognise_cloudtrail(detail, raw, origin)
    }
}

/// Throughput helper: feeds `lines` through a fresh [`SyslogIngest`]
/// (origin `bench`), returning the number of events and the time taken.
pub fn bench_ingest(lines: &[String]) -> (u64, Duration) {
    let mut ingest = SyslogIngest::new(2024);
    let start = Instant::now();
    let mut events = 0u64;
    for line in lines {
        if ingest.ingest_line(line, "bench").is_some() {
            events += 1;
        }
    }
    (events, start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_are_kebab_case() {
        let mut ev = ConfigEvent::new(Platform::CiscoNxos, Action::Start, "raw", "f:1");
        ev.destination_ip = "203.0.113.9".parse().ok();
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["platform"], "cisco-nxos");
        assert_eq!(v["action"], "start");
        assert_eq!(v["destination_ip"], "203.0.113.9");
        assert_eq!(
            serde_json::to_value(Platform::AristaEos).unwrap(),
            "arista-eos"
        );
        assert_eq!(
            serde_json::to_value(Action::SessionDown).unwrap(),
            "session-down"
        );
        for p in [
            Platform::CiscoIos,
            Platform::CiscoNxos,
            Platform::AristaEos,
            Platform::Junos,
            Platform::Aws,
            Platform::Gcp,
            Platform::Azure,
        ] {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        for a in [
            Action::Create,
            Action::Modify,
            Action::Delete,
            Action::SessionUp,
            Action::SessionDown,
            Action::Start,
            Action::Stop,
        ] {
            assert_eq!(serde_json::to_value(a).unwrap(), a.to_string());
        }
    }

    #[test]
    fn events_saved_by_earlier_versions_still_load() {
        let old = r#"{"time_us":null,"platform":"cisco-ios","device":null,"actor":null,
            "action":"capture-start","session":null,"erspan_id":null,"vni":null,
            "destination":null,"destination_ip":null,"target_account":null,"sources":[],
            "source_ip":null,"failed":false,"raw":"r","origin":"f:1"}"#;
        let ev: ConfigEvent = serde_json::from_str(old).unwrap();
        assert_eq!(
            (ev.action, ev.resource, ev.dry_run),
            (Action::Start, None, false)
        );
        let bad = old.replace("capture-start", "explode");
        assert!(serde_json::from_str::<ConfigEvent>(&bad).is_err());
        let back: ConfigEvent = serde_json::from_str(&serde_json::to_string(&ev).unwrap()).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn cross_account() {
        let mut ev = ConfigEvent::new(Platform::Aws, Action::Create, "", "");
        assert!(!ev.is_cross_account());
        ev.device = Some("111122223333".into());
        ev.target_account = Some("999988887777".into());
        assert!(ev.is_cross_account());
        ev.target_account = Some("111122223333".into());
        assert!(!ev.is_cross_account());
    }

    #[test]
    fn cloud_dispatch() {
        let ct = serde_json::json!({"eventSource": "ec2.amazonaws.com", "eventName": "DeleteTrafficMirrorFilter"});
        let eb =
            serde_json::json!({"detail-type": "AWS API Call via CloudTrail", "detail": ct.clone()});
        let gcp = serde_json::json!({"protoPayload": {"methodName": "v1.compute.packetMirrorings.delete"}});
        let az =
            serde_json::json!({"operationName": "Microsoft.Network/virtualNetworkTaps/delete"});
        let other = serde_json::json!({"x": 1});
        let platforms: Vec<Option<Platform>> = [&ct, &eb, &gcp, &az, &other]
            .iter()
            .map(|v| recognise_cloud_record(v, "raw", "o").map(|e| e.platform))
            .collect();
        assert_eq!(
            platforms,
            vec![
                Some(Platform::Aws),
                Some(Platform::Aws),
                Some(Platform::Gcp),
                Some(Platform::Azure),
                None
            ]
        );
    }

    #[test]
    fn bench_helper_counts_events() {
        let lines = vec![
            "<189>1: r1: *Mar  1 10:00:00.000 UTC: %PARSER-5-CFGLOG_LOGGEDCMD: User:a  logged command:monitor session 1 type erspan-source".to_owned(),
            "<189>2: r1: *Mar  1 10:00:01.000 UTC: %LINK-3-UPDOWN: Interface Gi1, changed state to up".to_owned(),
        ];
        let (events, _) = bench_ingest(&lines);
        assert_eq!(events, 1);
    }
}
