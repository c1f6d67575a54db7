//! Alerts: one JSON line each, tagged with MITRE ATT&CK T1020.001.
use serde::Serialize;

use super::payload::Flow;
use super::session::{DstClass, SessionKey, Verdict};

labelled_enum! {
    /// Alert kinds. The discriminant is the bit in a session's alert mask.
    pub enum AlertKind {
        MirrorSessionNew => "mirror_session_new",
        MirrorToExternal => "mirror_to_external",
        MirrorToUnauthorizedInternal => "mirror_to_unauthorized_internal",
        DuplicateFlowToExternal => "duplicate_flow_to_external",
        MirrorVolumeSpike => "mirror_volume_spike",
        AuthorizedMirrorExpired => "authorized_mirror_expired",
        MirrorConfigChange => "mirror_config_change",
        UnapprovedMirrorConfig => "unapproved_mirror_config",
        MirrorWithoutConfig => "mirror_without_config",
        AlertFlood => "alert_flood",
        /// A flow pair's volume shifted: a new one-way high-volume flow to
        /// an external address, or a jump past `spike_factor` × baseline.
        FlowVolumeShift => "flow_volume_shift",
    }
}

impl AlertKind {
    /// The usual severity; `mirror_config_change` is raised as high when
    /// the destination is external, in another account, or unapproved.
    pub fn severity(self) -> Severity {
        match self {
            AlertKind::MirrorSessionNew => Severity::Info,
            AlertKind::MirrorToExternal | AlertKind::DuplicateFlowToExternal => Severity::High,
            AlertKind::MirrorToUnauthorizedInternal
            | AlertKind::MirrorVolumeSpike
            | AlertKind::AuthorizedMirrorExpired
            | AlertKind::MirrorConfigChange
            | AlertKind::UnapprovedMirrorConfig
            | AlertKind::MirrorWithoutConfig
            | AlertKind::AlertFlood
            | AlertKind::FlowVolumeShift => Severity::Medium,
        }
    }

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

labelled_enum! {
    /// How urgent an alert is, lowest first.
    pub enum Severity {
        Info => "info",
        Low => "low",
        Medium => "medium",
        High => "high",
    }
}

/// The MITRE ATT&CK tag every alert carries.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Mitre {
    pub tactic: &'static str,
    pub technique: &'static str,
    pub subtechnique: &'static str,
}

pub const MITRE: Mitre = Mitre {
    tactic: "TA0010",
    technique: "T1020",
    subtechnique: "T1020.001",
};

/// A session key as it appears in alerts and reports.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SessionRef {
    pub encap: &'static str,
    pub src: String,
    pub dst: String,
    pub id: Option<u32>,
}

impl From<&SessionKey> for SessionRef {
    fn from(k: &SessionKey) -> Self {
        SessionRef {
            encap: k.encap.as_str(),
            src: k.src.to_string(),
            dst: k.dst.to_string(),
            id: k.id,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertCounts {
    pub packets: u64,
    pub bytes: u64,
    pub duplicates: u64,
}

/// One alert.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub timestamp: String,
    pub kind: AlertKind,
    pub severity: Severity,
    pub sensor: String,
    /// The session, for session alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionRef>,
    /// The flow pair, for `duplicate_flow_to_external`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flows: Option<[Flow; 2]>,
    pub dst_class: DstClass,
    pub verdict: Verdict,
    pub evidence: Vec<String>,
    pub counts: AlertCounts,
    pub first_seen: String,
    pub last_seen: String,
    pub message: String,
    /// The configuration event, for configuration alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_event: Option<super::correlate::ConfigEventRef>,
    /// Evidence capture written for this session, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_file: Option<String>,
    /// What a rate limit suppressed, for `alert_flood`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood: Option<super::limit::FloodSummary>,
    pub mitre: Mitre,
    /// Capture time of the alert, for ordering (not serialised).
    #[serde(skip)]
    pub ts_us: i64,
}

/// What every alert says about what it is about: its class, verdict,
/// evidence, counts and time span.
#[derive(Debug, Clone)]
pub struct Facts {
    pub dst_class: DstClass,
    pub verdict: Verdict,
    pub evidence: Vec<String>,
    pub counts: AlertCounts,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
}

impl Alert {
    /// The one place an alert is built; what it is about (a session, a
    /// flow pair, a configuration event) is added with the setters.
    pub fn new(
        kind: AlertKind,
        severity: Severity,
        sensor: &str,
        ts_us: i64,
        facts: Facts,
        message: String,
    ) -> Alert {
        use crate::time::rfc3339_us;
        Alert {
            timestamp: rfc3339_us(ts_us),
            kind,
            severity,
            sensor: sensor.to_owned(),
            session: None,
            flows: None,
            dst_class: facts.dst_class,
            verdict: facts.verdict,
            evidence: facts.evidence,
            counts: facts.counts,
            first_seen: rfc3339_us(facts.first_seen_us),
            last_seen: rfc3339_us(facts.last_seen_us),
            message,
            config_event: None,
            evidence_file: None,
            flood: None,
            mitre: MITRE,
            ts_us,
        }
    }

    pub fn with_flood(mut self, f: super::limit::FloodSummary) -> Alert {
        self.flood = Some(f);
        self
    }

    pub fn with_session(mut self, k: &SessionKey) -> Alert {
        self.session = Some(SessionRef::from(k));
        self
    }

    pub fn with_flows(mut self, flows: [Flow; 2]) -> Alert {
        self.flows = Some(flows);
        self
    }

    pub fn with_config_event(mut self, r: super::correlate::ConfigEventRef) -> Alert {
        self.config_event = Some(r);
        self
    }

    pub fn with_evidence_file(mut self, f: Option<String>) -> Alert {
        self.evidence_file = f;
        self
    }
}

/// A session in words: `erspan2 session id 100 from 10.1.0.2 to 10.9.0.10`.
pub fn session_words(k: &super::SessionKey) -> String {
    let id = k.id.map_or_else(String::new, |i| format!(" id {i}"));
    format!("{} session{id} from {} to {}", k.encap, k.src, k.dst)
}

/// The message of a session alert (`what`: the session in words).
pub fn session_message(kind: AlertKind, what: &str, spike_bytes: u64, baseline: f64) -> String {
    match kind {
        AlertKind::MirrorSessionNew => format!("new mirror session: {what}"),
        AlertKind::MirrorToExternal => {
            format!("traffic is mirrored to an external destination: {what}")
        }
        AlertKind::MirrorToUnauthorizedInternal => {
            format!("traffic is mirrored to an internal destination that is not authorised: {what}")
        }
        AlertKind::MirrorVolumeSpike => format!(
            "mirrored volume jumped to {spike_bytes} bytes/s, {:.0}x its baseline: {what}",
            spike_bytes as f64 / baseline.max(1.0)
        ),
        AlertKind::AuthorizedMirrorExpired => {
            format!("the authorisation of this mirror has expired: {what}")
        }
        AlertKind::MirrorWithoutConfig => format!(
            "no configuration change explains this mirror to an unapproved destination: {what}"
        ),
        AlertKind::DuplicateFlowToExternal
        | AlertKind::MirrorConfigChange
        | AlertKind::UnapprovedMirrorConfig
        | AlertKind::AlertFlood
        | AlertKind::FlowVolumeShift => what.to_owned(),
    }
}
