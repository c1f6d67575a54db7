//! The state a running sensor shares with its HTTP side: a published view
//! of the sessions (an immutable snapshot in report order, swapped whole),
//! counters, and the most recent alerts. The engine thread publishes about
//! once a second; handlers never touch the engine, and a request holds a
//! reference to the snapshot it reads, never a copy.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use crate::decode::{Encap, ErrorCounts};
use crate::detect::alert::{Alert, AlertKind, Severity};
use crate::detect::{DupCounts, Engine};
use crate::logs::{Action, Platform};
use crate::report::SessionReport;

/// Capture statistics of one interface (or `replay` for a replayed file).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InterfaceStats {
    pub name: String,
    pub up: bool,
    pub received_packets: u64,
    pub received_bytes: u64,
    /// Dropped by the kernel (libpcap `ps_drop`).
    pub kernel_dropped: u64,
    /// Dropped by the interface or driver (libpcap `ps_ifdrop`).
    pub interface_dropped: u64,
    /// Dropped by the capture thread because the queue to the pipeline
    /// was full.
    pub queue_dropped: u64,
    /// Judged after a later batch of this interface (`live --workers N`,
    /// a decode worker stalled behind 64 batches).
    pub reordered_packets: u64,
}

/// Counters published by the engine thread.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub interfaces: Vec<InterfaceStats>,
    pub processed_packets: u64,
    pub decode_errors: ErrorCounts,
    /// Packets and bytes per encapsulation, indexed by `Encap as usize`.
    pub encapsulated: [(u64, u64); Encap::ALL.len()],
    pub duplicates: DupCounts,
    /// Alerts raised, indexed by `AlertKind as usize`, then `Severity as
    /// usize`.
    pub alerts: [[u64; Severity::ALL.len()]; AlertKind::ALL.len()],
    /// Alerts the rate limit suppressed, by kind.
    pub alerts_suppressed: [u64; AlertKind::ALL.len()],
    /// Failed writes, by output ([`OUTPUTS`]).
    pub output_errors: [u64; OUTPUTS.len()],
    /// Configuration events by `Platform as usize`, then `Action as usize`.
    pub config_events: [[u64; Action::ALL.len()]; Platform::ALL.len()],
    /// While logs are watched: mirror sessions with and without a
    /// configuration event that explains them.
    pub sessions_correlated: usize,
    pub sessions_uncorrelated: usize,
    pub sessions: usize,
    pub flow_pairs: usize,
    pub session_evictions: u64,
    pub duplicate_window_evictions: u64,
    pub payload_window_evictions: u64,
    pub flow_pair_evictions: u64,
    /// Flow sessions held and evicted ([`crate::detect::flow_sessions`]).
    pub flow_sessions: usize,
    pub flow_session_evictions: u64,
    /// Pairs with a volume baseline held and evicted.
    pub flow_volume_pairs: usize,
    pub flow_volume_evictions: u64,
    /// Mirror sessions seen in flow records, by destination class.
    pub flow_mirror_sessions: [usize; 3],
    /// What flow sources sent (published once any record was read).
    pub flows: Option<crate::source::flow::intake::FlowSummary>,
    /// What the syslog receiver counted, when one listens.
    pub syslog: Option<crate::source::syslog::SyslogCounts>,
    /// Wall clock minus the capture time of the last processed frame.
    pub lag_seconds: f64,
}

/// The outputs whose failures are counted and reported by `/healthz`.
pub const OUTPUTS: [&str; 3] = ["alerts", "evidence", "alerts_syslog"];

/// Health of the outputs: failed writes so far, and the outputs failing
/// now with the reason.
#[derive(Debug, Clone, Default)]
pub struct OutputHealth {
    /// By output ([`OUTPUTS`]); for `alerts_syslog`, the alerts that could
    /// not be sent.
    pub errors: [u64; OUTPUTS.len()],
    pub failing: std::collections::BTreeMap<&'static str, String>,
}

/// The most recent alerts, bounded. Each has a sequence number (1, 2, ...
/// in the order recorded) that API cursors refer to.
#[derive(Debug)]
pub struct AlertRing {
    cap: usize,
    items: VecDeque<(u64, Arc<Alert>)>,
    next_seq: u64,
    /// Alerts dropped from the ring because it was full.
    pub dropped: u64,
}

impl AlertRing {
    pub fn new(cap: usize) -> Self {
        AlertRing {
            cap: cap.max(1),
            items: VecDeque::new(),
            next_seq: 1,
            dropped: 0,
        }
    }

    pub fn push(&mut self, a: Alert) {
        if self.items.len() == self.cap {
            self.items.pop_front();
            self.dropped += 1;
        }
        self.items.push_back((self.next_seq, Arc::new(a)));
        self.next_seq += 1;
    }

    /// Alerts raised at or after `since_us` (capture time), oldest first.
    pub fn since(&self, since_us: i64) -> Vec<Alert> {
        self.since_after(since_us, 0)
            .into_iter()
            .map(|(_, a)| Alert::clone(&a))
            .collect()
    }

    /// Alerts raised at or after `since_us` with a sequence number above
    /// `after_seq`, oldest first, shared rather than copied.
    pub fn since_after(&self, since_us: i64, after_seq: u64) -> Vec<(u64, Arc<Alert>)> {
        // Sequence numbers grow along the ring: skip to the first one
        // above `after_seq` by binary search.
        let start = self.items.partition_point(|(seq, _)| *seq <= after_seq);
        self.items
            .range(start..)
            .filter(|(_, a)| a.ts_us >= since_us)
            .map(|(seq, a)| (*seq, a.clone()))
            .collect()
    }
}

/// Everything the HTTP side reads.
pub struct Shared {
    /// Changed by SIGHUP: read with [`Shared::sensor`].
    sensor: RwLock<String>,
    pub version: &'static str,
    pub started: Instant,
    /// Published sessions in report order ([`Shared::sessions`]).
    sessions: RwLock<Arc<Vec<SessionReport>>>,
    pub counters: RwLock<Counters>,
    pub alerts: Mutex<AlertRing>,
    /// False until the first publication, and after the engine stopped.
    pub ready: AtomicBool,
    /// Published by the pipeline about every 100 ms.
    pub outputs: Mutex<OutputHealth>,
    /// The syslog receiver's counts (`--syslog-listen`), published with
    /// the counters.
    syslog: Mutex<Option<crate::source::syslog::SyslogCounts>>,
}

/// Alerts kept for `/api/v1/alerts`.
pub const ALERT_RING: usize = 10_000;

impl Shared {
    pub fn new(sensor: &str) -> Self {
        Shared {
            sensor: RwLock::new(sensor.to_owned()),
            version: env!("CARGO_PKG_VERSION"),
            started: Instant::now(),
            sessions: RwLock::new(Arc::new(Vec::new())),
            counters: RwLock::new(Counters::default()),
            alerts: Mutex::new(AlertRing::new(ALERT_RING)),
            ready: AtomicBool::new(false),
            outputs: Mutex::new(OutputHealth::default()),
            syslog: Mutex::new(None),
        }
    }

    /// What the syslog receiver counted, for the next publication.
    pub fn set_syslog(&self, c: crate::source::syslog::SyslogCounts) {
        if let Ok(mut s) = self.syslog.lock() {
            *s = Some(c);
        }
    }

    /// The sensor's name (alerts, `/healthz`, the API and metrics say the
    /// same one).
    pub fn sensor(&self) -> String {
        self.sensor.read().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn set_outputs(&self, h: OutputHealth) {
        if let Ok(mut o) = self.outputs.lock() {
            *o = h;
        }
    }

    pub fn output_health(&self) -> OutputHealth {
        self.outputs.lock().map(|o| o.clone()).unwrap_or_default()
    }

    pub fn set_sensor(&self, name: &str) {
        if let Ok(mut s) = self.sensor.write() {
            name.clone_into(&mut s);
        }
    }

    /// Copies the engine's state into the shared view. Called by the engine
    /// thread about once a second and at the end.
    pub fn publish(
        &self,
        engine: &Engine,
        interfaces: &[InterfaceStats],
        now_us: i64,
        flows: Option<crate::source::flow::intake::FlowSummary>,
    ) {
        // Already in report order: stored as it is.
        let sessions = crate::report::sessions_of(engine);
        let mut flow_mirror_sessions = [0usize; 3];
        for s in &sessions {
            let by_flow = s
                .seen_by
                .as_ref()
                .is_some_and(|v| v.iter().any(|l| *l != "packets"));
            if by_flow && s.verdict == crate::detect::Verdict::Mirror {
                flow_mirror_sessions[s.dst_class as usize] += 1;
            }
        }
        self.store_sessions(sessions);
        let (payload_evictions, pair_evictions) = engine.payload_evictions();
        let (mut correlated, mut uncorrelated) = (0, 0);
        if engine.watching_logs() {
            for (_, s) in engine.sessions.iter() {
                if s.verdict == crate::detect::Verdict::Mirror {
                    if s.config_events.is_empty() {
                        uncorrelated += 1;
                    } else {
                        correlated += 1;
                    }
                }
            }
        }
        let c = Counters {
            interfaces: interfaces.to_vec(),
            processed_packets: engine.packets,
            decode_errors: engine.errors.clone(),
            encapsulated: engine.encap_counts,
            duplicates: engine.dup_counts,
            alerts: engine.alert_counts,
            alerts_suppressed: engine.suppressed_alerts(),
            output_errors: self.output_health().errors,
            config_events: engine.config_event_counts,
            sessions_correlated: correlated,
            sessions_uncorrelated: uncorrelated,
            sessions: engine.sessions.len(),
            flow_pairs: engine.flow_pairs().count(),
            session_evictions: engine.sessions.evicted(),
            duplicate_window_evictions: engine.dup_evictions(),
            payload_window_evictions: payload_evictions,
            flow_pair_evictions: pair_evictions,
            flow_sessions: engine.flows.len(),
            flow_session_evictions: engine.flows.evicted,
            flow_volume_pairs: engine.volume.len(),
            flow_volume_evictions: engine.volume.evicted,
            flow_mirror_sessions,
            flows,
            syslog: self.syslog.lock().ok().and_then(|s| *s),
            lag_seconds: if engine.packets == 0 {
                0.0
            } else {
                ((now_us - engine.last_ts_us()) as f64 / 1e6).max(0.0)
            },
        };
        if let Ok(mut w) = self.counters.write() {
            *w = c;
        }
        self.ready.store(true, Ordering::Release);
    }

    /// Records alerts for `/api/v1/alerts`.
    pub fn record_alert(&self, a: &Alert) {
        if let Ok(mut r) = self.alerts.lock() {
            r.push(a.clone());
        }
    }

    /// The published sessions in report order (bytes, largest first): a
    /// shared snapshot, replaced whole at the next publication.
    pub fn sessions(&self) -> Arc<Vec<SessionReport>> {
        match self.sessions.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the published sessions (sorted here into report order).
    pub fn set_sessions(&self, mut v: Vec<SessionReport>) {
        v.sort_by(crate::report::session_order);
        self.store_sessions(v);
    }

    /// Replaces the published sessions with `v`, already in report order.
    fn store_sessions(&self, v: Vec<SessionReport>) {
        let v = Arc::new(v);
        match self.sessions.write() {
            Ok(mut s) => *s = v,
            Err(poisoned) => *poisoned.into_inner() = v,
        }
    }

    /// A copy of the published sessions, in report order.
    pub fn session_list(&self) -> Vec<SessionReport> {
        self.sessions().as_ref().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine that processed a scenario; and the scenario's first time.
    fn engine_after(name: &str) -> (Engine, i64) {
        let mut e = Engine::new(&crate::config::Config::default());
        let s = mirrorwatch_synth::scenarios();
        let sc = s.iter().find(|s| s.name == name).expect("scenario");
        for p in &sc.packets {
            crate::detect::feed_for_tests(&mut e, p.ts_us, &p.data);
        }
        (e, sc.packets[0].ts_us)
    }

    #[test]
    fn ring_is_bounded_and_filters_by_time() {
        let mut r = AlertRing::new(2);
        // Real alerts, from the erspan3 scenario.
        let (mut e, _) = engine_after("erspan3");
        let alerts: Vec<Alert> = e.drain_alerts().collect();
        assert!(alerts.len() >= 2);
        for a in alerts.iter().cloned() {
            r.push(a);
        }
        r.push(alerts[0].clone());
        assert_eq!(r.since(i64::MIN).len(), 2);
        assert_eq!(r.dropped, alerts.len() as u64 - 1);
        assert!(r.since(i64::MAX).is_empty());
    }

    #[test]
    fn publish_mirrors_the_engine() {
        let (e, first_ts) = engine_after("vxlan");
        let shared = Shared::new("t");
        shared.publish(&e, &[], first_ts + 1_000_000, None);
        assert_eq!(shared.sessions().len(), 3);
        assert_eq!(shared.session_list().len(), 3);
        let c = shared.counters.read().expect("lock");
        assert_eq!(c.processed_packets, 32);
        assert_eq!(c.encapsulated[Encap::Vxlan as usize].0, 32);
        assert!(c.lag_seconds > 0.9);
    }
}
