//! Configuration-change evidence: mirror configuration events from device
//! syslog and cloud audit logs, kept in a bounded list and linked to the
//! mirror sessions they explain (same destination, and the same ERSPAN
//! session id or VNI where both are known, within a time window).
//!
//! * Only sessions, targets and captures explain traffic: a filter (or
//!   filter rule) alone says nothing about where traffic goes; a failed or
//!   dry-run change, a deletion or a stop explains nothing.
//! * A target created with an address explains sessions to that address.
//! * A deletion or stop ends what it names (same device, resource kind and
//!   id or name): the earlier events about it no longer explain sessions
//!   that begin after it.
use std::collections::VecDeque;

use serde::Serialize;

use crate::decode::Encap;
use crate::logs::{Action, ConfigEvent, Platform, ResourceKind};

use super::SessionKey;

/// A configuration event as it appears in sessions, alerts and `logs
/// --format json` (the raw record only in the latter: it may be long).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConfigEventRef {
    /// Sequence number of the event in this run.
    pub seq: u64,
    pub time: Option<String>,
    pub platform: Platform,
    pub action: Action,
    /// `session`, `target`, `filter`, `filter-rule`, `capture`, `tap`.
    pub resource: Option<ResourceKind>,
    /// Its id or name (`1`, `exfil`, `tms-...`, GCP / Azure name).
    pub resource_id: Option<String>,
    pub device: Option<String>,
    pub actor: Option<String>,
    pub source_ip: Option<String>,
    pub session: Option<u32>,
    pub erspan_id: Option<u32>,
    pub vni: Option<u32>,
    pub destination: Option<String>,
    pub destination_ip: Option<String>,
    pub sources: Vec<String>,
    pub target_account: Option<String>,
    pub region: Option<String>,
    pub network: Option<String>,
    pub failed: bool,
    pub dry_run: bool,
    pub origin: String,
    /// File and line of a `file:line` origin.
    pub file: Option<String>,
    pub line: Option<u64>,
    /// The record as read (`logs --format json` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

impl ConfigEventRef {
    pub fn new(seq: u64, e: &ConfigEvent) -> Self {
        ConfigEventRef {
            seq,
            time: e.time_us.map(crate::time::rfc3339_us),
            platform: e.platform,
            action: e.action,
            resource: e.resource,
            resource_id: e.resource_id.clone(),
            device: e.device.clone(),
            actor: e.actor.clone(),
            source_ip: e.source_ip.clone(),
            session: e.session,
            erspan_id: e.erspan_id,
            vni: e.vni,
            destination: e
                .destination
                .clone()
                .or_else(|| e.destination_ip.map(|i| i.to_string())),
            destination_ip: e.destination_ip.map(|i| i.to_string()),
            sources: e.sources.clone(),
            target_account: e.target_account.clone(),
            region: e.region.clone(),
            network: e.network.clone(),
            failed: e.failed,
            dry_run: e.dry_run,
            origin: e.origin.clone(),
            file: e.file_line().map(|(f, _)| f.to_owned()),
            line: e.file_line().map(|(_, l)| l),
            raw: None,
        }
    }

    /// With the raw record.
    pub fn with_raw(mut self, e: &ConfigEvent) -> Self {
        self.raw = Some(e.raw.clone());
        self
    }
}

/// What a deletion or stop names: device, resource kind and id.
fn names(e: &ConfigEvent) -> Option<(Option<&str>, ResourceKind, &str)> {
    Some((e.device.as_deref(), e.resource?, e.resource_id.as_deref()?))
}

/// Does `e` end what it names (deletion, stop)?
fn ends(e: &ConfigEvent) -> bool {
    !e.failed && !e.dry_run && matches!(e.action, Action::Delete | Action::Stop)
}

/// Events remembered for correlation.
pub const MAX_EVENTS: usize = 10_000;

pub struct Correlator {
    /// Each event, and when what it is about was ended (deleted, stopped).
    events: VecDeque<(ConfigEventRef, ConfigEvent, Option<i64>)>,
    window_us: i64,
    next_seq: u64,
    /// Events dropped from the list because it was full.
    pub evicted: u64,
}

/// The id a configuration event gives the session on the wire.
fn wire_id(e: &ConfigEvent, encap: Encap) -> Option<u32> {
    match encap {
        Encap::Erspan1 | Encap::Erspan2 | Encap::Erspan3 => e.erspan_id,
        Encap::Vxlan | Encap::VxlanGpe | Encap::Geneve => e.vni,
        Encap::GreTeb | Encap::Gre | Encap::Tzsp => None,
    }
}

/// Does `e` explain a session with key `k` seen from `first_us` to
/// `last_us`?
pub fn explains(
    e: &ConfigEvent,
    k: &SessionKey,
    first_us: i64,
    last_us: i64,
    window_us: i64,
) -> bool {
    if e.failed
        || e.dry_run
        || matches!(
            e.action,
            Action::Delete | Action::SessionDown | Action::Stop
        )
        || matches!(
            e.resource,
            Some(ResourceKind::Filter | ResourceKind::FilterRule)
        )
    {
        return false;
    }
    if let Some(t) = e.time_us
        && (t > last_us + window_us || t < first_us - window_us)
    {
        return false;
    }
    let id = match (wire_id(e, k.encap), k.id) {
        (Some(a), Some(b)) if a != b => return false,
        (Some(_), Some(_)) => true,
        _ => false,
    };
    let dst = match e.destination_ip {
        Some(ip) if ip != k.dst => return false,
        Some(_) => true,
        None => false,
    };
    id || dst
}

impl Correlator {
    pub fn new(window_us: i64) -> Self {
        Correlator {
            events: VecDeque::new(),
            window_us,
            next_seq: 1,
            evicted: 0,
        }
    }

    pub fn window_us(&self) -> i64 {
        self.window_us
    }

    /// Remembers an event; returns its reference. A deletion or stop
    /// ends the earlier events about what it names.
    pub fn add(&mut self, e: ConfigEvent) -> ConfigEventRef {
        let r = ConfigEventRef::new(self.next_seq, &e);
        self.next_seq += 1;
        if ends(&e) {
            if let Some(named) = names(&e) {
                let at = e.time_us.unwrap_or(i64::MIN);
                for (_, old, ended) in self.events.iter_mut() {
                    if ended.is_none()
                        && names(old) == Some(named)
                        && old.time_us.is_none_or(|t| t <= at)
                    {
                        *ended = Some(at);
                    }
                }
            }
        }
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
            self.evicted += 1;
        }
        self.events.push_back((r.clone(), e, None));
        r
    }

    /// Events that explain a session: not ended before it began.
    pub fn matching(&self, k: &SessionKey, first_us: i64, last_us: i64) -> Vec<ConfigEventRef> {
        self.events
            .iter()
            .filter(|(_, _, ended)| ended.is_none_or(|t| first_us <= t))
            .filter(|(_, e, _)| explains(e, k, first_us, last_us, self.window_us))
            .map(|(r, _, _)| r.clone())
            .take(8)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// The events remembered, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &ConfigEvent> {
        self.events.iter().map(|(_, e, _)| e)
    }

    pub fn refs(&self) -> impl Iterator<Item = &ConfigEventRef> {
        self.events.iter().map(|(r, _, _)| r)
    }

    /// References with their raw records (`logs --format json`).
    pub fn records(&self) -> impl Iterator<Item = ConfigEventRef> + '_ {
        self.events.iter().map(|(r, e, _)| r.clone().with_raw(e))
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Tunnel;

    fn key(encap: Encap, dst: &str, id: Option<u32>) -> SessionKey {
        Tunnel {
            encap,
            src: "10.0.0.1".parse().expect("ip"),
            dst: dst.parse().expect("ip"),
            id,
        }
    }

    fn event(vni: Option<u32>, erspan: Option<u32>, dst: Option<&str>, t: i64) -> ConfigEvent {
        let mut e = ConfigEvent::new(Platform::Aws, Action::Create, "{}", "t:1");
        e.vni = vni;
        e.erspan_id = erspan;
        e.destination_ip = dst.map(|d| d.parse().expect("ip"));
        e.time_us = Some(t);
        e
    }

    #[test]
    fn id_or_destination_must_agree() {
        let w = 3_600_000_000;
        let k = key(Encap::Vxlan, "198.51.100.20", Some(4242));
        assert!(explains(&event(Some(4242), None, None, 0), &k, 10, 20, w));
        assert!(!explains(&event(Some(4243), None, None, 0), &k, 10, 20, w));
        assert!(explains(
            &event(None, None, Some("198.51.100.20"), 0),
            &k,
            10,
            20,
            w
        ));
        assert!(!explains(
            &event(Some(4242), None, Some("198.51.100.21"), 0),
            &k,
            10,
            20,
            w
        ));
        // Nothing known in common: no link.
        assert!(!explains(&event(None, None, None, 0), &k, 10, 20, w));
        // ERSPAN ids are compared for ERSPAN sessions, not VNIs.
        let e = key(Encap::Erspan2, "203.0.113.9", Some(100));
        assert!(explains(&event(None, Some(100), None, 0), &e, 10, 20, w));
        assert!(!explains(&event(Some(100), None, None, 0), &e, 10, 20, w));
        // Outside the window.
        assert!(!explains(
            &event(Some(4242), None, None, -2 * w),
            &k,
            10,
            20,
            w
        ));
    }

    #[test]
    fn failed_and_deletions_explain_nothing() {
        let k = key(Encap::Vxlan, "198.51.100.20", Some(4242));
        let mut e = event(Some(4242), None, None, 0);
        e.failed = true;
        assert!(!explains(&e, &k, 10, 20, i64::MAX / 4));
        let mut e = event(Some(4242), None, None, 0);
        e.action = Action::Delete;
        assert!(!explains(&e, &k, 10, 20, i64::MAX / 4));
    }

    fn named(
        action: Action,
        kind: ResourceKind,
        id: &str,
        dst: Option<&str>,
        t: i64,
    ) -> ConfigEvent {
        let mut e = event(None, None, dst, t);
        e.platform = Platform::CiscoIos;
        e.device = Some("rtr1".into());
        e.action = action;
        e.resource = Some(kind);
        e.resource_id = Some(id.into());
        e
    }

    #[test]
    fn filters_and_dry_runs_explain_nothing() {
        let k = key(Encap::Vxlan, "198.51.100.20", Some(4242));
        let w = i64::MAX / 4;
        for kind in [ResourceKind::Filter, ResourceKind::FilterRule] {
            let mut e = event(Some(4242), None, Some("198.51.100.20"), 0);
            e.resource = Some(kind);
            assert!(!explains(&e, &k, 10, 20, w), "{kind}");
        }
        let mut e = event(Some(4242), None, None, 0);
        e.dry_run = true;
        assert!(!explains(&e, &k, 10, 20, w));
        let mut e = event(Some(4242), None, None, 0);
        e.action = Action::Stop;
        assert!(!explains(&e, &k, 10, 20, w));
    }

    #[test]
    fn a_target_with_an_address_explains_sessions_to_it() {
        let k = key(Encap::GreTeb, "203.0.113.9", None);
        let w = 3_600_000_000;
        let t = named(
            Action::Create,
            ResourceKind::Target,
            "tgt",
            Some("203.0.113.9"),
            0,
        );
        assert!(explains(&t, &k, 10, 20, w));
        let other = named(
            Action::Create,
            ResourceKind::Target,
            "tgt",
            Some("203.0.113.10"),
            0,
        );
        assert!(!explains(&other, &k, 10, 20, w));
    }

    #[test]
    fn a_deletion_ends_what_it_names() {
        let w = 3_600_000_000;
        let k = key(Encap::Erspan2, "203.0.113.9", Some(100));
        let mut c = Correlator::new(w);
        let mut create = named(
            Action::Create,
            ResourceKind::Session,
            "1",
            Some("203.0.113.9"),
            1_000,
        );
        create.erspan_id = Some(100);
        c.add(create.clone());
        // Another device's session 1 is not ended by this deletion.
        let mut elsewhere = create.clone();
        elsewhere.device = Some("rtr2".into());
        c.add(elsewhere);
        // A failed deletion ends nothing.
        let mut failed = named(Action::Delete, ResourceKind::Session, "1", None, 1_500);
        failed.failed = true;
        c.add(failed);
        assert_eq!(c.matching(&k, 2_000, 3_000).len(), 2);
        c.add(named(
            Action::Delete,
            ResourceKind::Session,
            "1",
            None,
            5_000,
        ));
        // Sessions that began before the deletion are still explained ...
        assert_eq!(c.matching(&k, 4_000, 9_000).len(), 2);
        // ... those after it only by the other device's session.
        let after = c.matching(&k, 6_000, 9_000);
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].device.as_deref(), Some("rtr2"));
        // A stopped capture likewise.
        let mut c = Correlator::new(w);
        c.add(named(
            Action::Start,
            ResourceKind::Capture,
            "CAP1",
            Some("203.0.113.9"),
            0,
        ));
        c.add(named(
            Action::Stop,
            ResourceKind::Capture,
            "CAP1",
            None,
            100,
        ));
        assert!(
            c.matching(&key(Encap::GreTeb, "203.0.113.9", None), 200, 300)
                .is_empty()
        );
        assert_eq!(
            c.matching(&key(Encap::GreTeb, "203.0.113.9", None), 50, 300)
                .len(),
            1
        );
    }

    #[test]
    fn records_carry_raw_and_file_line() {
        let mut c = Correlator::new(1);
        let mut e = named(Action::Create, ResourceKind::Session, "exfil", None, 0);
        e.origin = "logs/arista.log:4".into();
        e.raw = "line four".into();
        let r = c.add(e);
        assert_eq!(r.raw, None);
        assert_eq!(
            (r.file.as_deref(), r.line),
            (Some("logs/arista.log"), Some(4))
        );
        let full: Vec<ConfigEventRef> = c.records().collect();
        assert_eq!(full[0].raw.as_deref(), Some("line four"));
        assert_eq!(full[0].resource_id.as_deref(), Some("exfil"));
        let v = serde_json::to_value(&full[0]).expect("json");
        assert_eq!(v["resource"], "session");
        assert_eq!(v["line"], 4);
        // Sessions and alerts do not carry the raw record.
        assert!(serde_json::to_value(&r).expect("json").get("raw").is_none());
    }

    #[test]
    fn bounded() {
        let mut c = Correlator::new(1);
        for i in 0..(MAX_EVENTS + 5) {
            c.add(event(Some(i as u32), None, None, 0));
        }
        assert_eq!(c.len(), MAX_EVENTS);
        assert_eq!(c.evicted, 5);
    }
}
