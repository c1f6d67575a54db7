//! Alerts: one JSON line each, tagged with MITRE ATT&CK T1020.001.
use serde::Serialize;

use super::payload::Flow;
use super::session::{DstClass, SessionKey, Verdict};

/// Alert kinds. The discriminant is the bit in a session's alert mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    MirrorSessionNew,
    MirrorToExternal,
    MirrorToUnauthorizedInternal,
    DuplicateFlowToExternal,
    MirrorVolumeSpike,
    AuthorizedMirrorExpired,
    MirrorConfigChange,
    UnapprovedMirrorConfig,
    MirrorWithoutConfig,
}

impl AlertKind {
    pub const ALL: [AlertKind; 9] = [
        AlertKind::MirrorSessionNew,
        AlertKind::MirrorToExternal,
        AlertKind::MirrorToUnauthorizedInternal,
        AlertKind::DuplicateFlowToExternal,
        AlertKind::MirrorVolumeSpike,
        AlertKind::AuthorizedMirrorExpired,
        AlertKind::MirrorConfigChange,
        AlertKind::UnapprovedMirrorConfig,
        AlertKind::MirrorWithoutConfig,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::MirrorSessionNew => "mirror_session_new",
            AlertKind::MirrorToExternal => "mirror_to_external",
            AlertKind::MirrorToUnauthorizedInternal => "mirror_to_unauthorized_internal",
            AlertKind::DuplicateFlowToExternal => "duplicate_flow_to_external",
            AlertKind::MirrorVolumeSpike => "mirror_volume_spike",
            AlertKind::AuthorizedMirrorExpired => "authorized_mirror_expired",
            AlertKind::MirrorConfigChange => "mirror_config_change",
            AlertKind::UnapprovedMirrorConfig => "unapproved_mirror_config",
            AlertKind::MirrorWithoutConfig => "mirror_without_config",
        }
    }

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
            | AlertKind::MirrorWithoutConfig => Severity::Medium,
        }
    }

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
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
    pub mitre: Mitre,
    /// Capture time of the alert, for ordering (not serialised).
    #[serde(skip)]
    pub ts_us: i64,
}
