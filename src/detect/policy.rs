//! Configuration-event policy: whether a logged mirror change is covered
//! by the change record (`[[authorized]]`), and the alerts it raises.
//! Pure functions of the event and the configuration.
use super::alert::{Alert, AlertCounts, AlertKind, Facts, Severity};
use super::correlate::ConfigEventRef;
use super::net::Cidr;
use super::session::{DstClass, Verdict};
use crate::config::Authorized;
use crate::logs::{Action, ConfigEvent, ResourceKind};

/// Is an event's destination or session covered by an `[[authorized]]`
/// entry that had not expired at the event's time?
pub fn event_authorized(authorized: &[Authorized], e: &ConfigEvent) -> bool {
    let id = e.vni.or(e.erspan_id).or(e.session);
    authorized.iter().any(|a| {
        // An event of no known time is not known to fall before an expiry.
        if a.expires
            .is_some_and(|d| e.time_us.is_none_or(|t| t >= d.end_us()))
        {
            return false;
        }
        let id_ok = a.id.map(|want| Some(want) == id);
        match e.destination_ip {
            Some(ip) => a.destination.contains(ip) && id_ok.unwrap_or(true),
            None => id_ok == Some(true),
        }
    })
}

/// The alerts a configuration event raises: `mirror_config_change` (high
/// when the destination is external, in another account, or unapproved)
/// and, for an unapproved change that sets something up,
/// `unapproved_mirror_config` (not for filters, which send traffic
/// nowhere by themselves). A failed or dry-run change raises nothing.
pub fn config_event_alerts(
    e: &ConfigEvent,
    r: &ConfigEventRef,
    at: i64,
    internal: &[Cidr],
    authorized: &[Authorized],
    sensor: &str,
) -> Vec<Alert> {
    if e.failed || e.dry_run {
        return Vec::new();
    }
    let external = e
        .destination_ip
        .is_some_and(|ip| !internal.iter().any(|c| c.contains(ip)));
    let approved = event_authorized(authorized, e);
    let target = r
        .destination
        .clone()
        .unwrap_or_else(|| "an unknown destination".to_owned());
    let id = e
        .vni
        .map(|v| format!(" VNI {v}"))
        .or(e.erspan_id.map(|v| format!(" ERSPAN id {v}")))
        .or(e.session.map(|v| format!(" session {v}")))
        .unwrap_or_default();
    let what = match (e.resource, e.resource_id.as_deref()) {
        (Some(k), Some(n)) => format!(" {k} {n}"),
        (Some(k), None) => format!(" {k}"),
        _ => String::new(),
    };
    let who = e.actor.clone().unwrap_or_else(|| "unknown".to_owned());
    let on = e
        .device
        .clone()
        .unwrap_or_else(|| e.platform.as_str().to_owned());
    let mut reasons = Vec::new();
    if external {
        reasons.push("the destination is external".to_owned());
    }
    if e.is_cross_account() {
        reasons.push(format!(
            "the target belongs to another account ({})",
            e.target_account.clone().unwrap_or_default()
        ));
    }
    if !approved {
        reasons.push("no [[authorized]] entry covers it".to_owned());
    }
    let severity = if reasons.is_empty() {
        Severity::Medium
    } else {
        Severity::High
    };
    if e.time_us.is_none() {
        reasons.push("the event has no valid time: stamped when it was read".to_owned());
    }
    let facts = Facts {
        dst_class: if approved {
            DstClass::Authorized
        } else if external {
            DstClass::External
        } else {
            DstClass::Internal
        },
        verdict: Verdict::Mirror,
        evidence: reasons,
        counts: AlertCounts {
            packets: 0,
            bytes: 0,
            duplicates: 0,
        },
        first_seen_us: at,
        last_seen_us: at,
    };
    let mut out = vec![
        Alert::new(
            AlertKind::MirrorConfigChange,
            severity,
            sensor,
            at,
            facts.clone(),
            format!(
                "{} mirror configuration {}{what}{id} to {target} by {who} on {on}",
                e.platform.as_str(),
                e.action.as_str()
            ),
        )
        .with_config_event(r.clone()),
    ];
    let sets_up = !matches!(
        e.action,
        Action::Delete | Action::SessionDown | Action::Stop
    ) && !matches!(
        e.resource,
        Some(ResourceKind::Filter | ResourceKind::FilterRule)
    );
    if !approved && sets_up {
        out.push(
            Alert::new(
                AlertKind::UnapprovedMirrorConfig,
                AlertKind::UnapprovedMirrorConfig.severity(),
                sensor,
                at,
                facts,
                format!(
                    "mirror configuration{id} to {target} by {who} on {on} has no matching [[authorized]] entry (change record)"
                ),
            )
            .with_config_event(r.clone()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Date;
    use crate::logs::Platform;

    fn authorized(expires: Option<Date>) -> Vec<Authorized> {
        vec![Authorized {
            destination: "10.9.0.0/24".parse().expect("cidr"),
            source: None,
            encap: None,
            id: None,
            reference: "CHG-1".to_owned(),
            expires,
        }]
    }

    fn event(time_us: Option<i64>) -> ConfigEvent {
        let mut e = ConfigEvent::new(Platform::CiscoIos, Action::Create, "line", "t:1");
        e.destination_ip = Some("10.9.0.10".parse().expect("ip"));
        e.time_us = time_us;
        e
    }

    #[test]
    fn an_event_of_no_known_time_passes_no_entry_that_expires() {
        let expires = Some(Date {
            year: 2020,
            month: 1,
            day: 31,
        });
        let before = Some(1_577_836_800_000_000); // 2020-01-01
        let after = Some(1_767_225_600_000_000); // 2026-01-01
        assert!(event_authorized(&authorized(expires), &event(before)));
        assert!(!event_authorized(&authorized(expires), &event(after)));
        assert!(!event_authorized(&authorized(expires), &event(None)));
        // An entry that never expires covers it whenever it happened.
        assert!(event_authorized(&authorized(None), &event(None)));
    }

    #[test]
    fn an_event_of_no_known_time_is_stamped_as_given_and_says_so() {
        let e = event(None);
        let r = ConfigEventRef::new(1, &e);
        let at = 1_767_225_600_000_000;
        let internal: Vec<Cidr> = vec!["10.0.0.0/8".parse().expect("cidr")];
        let alerts = config_event_alerts(&e, &r, at, &internal, &authorized(None), "s");
        let change = alerts
            .iter()
            .find(|a| a.kind == AlertKind::MirrorConfigChange)
            .expect("a mirror_config_change");
        assert_eq!(change.ts_us, at);
        // Approved and internal: medium, the missing time noted.
        assert_eq!(change.severity, Severity::Medium);
        assert!(
            change.evidence.iter().any(|x| x.contains("no valid time")),
            "{:?}",
            change.evidence
        );
    }
}
