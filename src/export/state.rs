//! The state a running sensor shares with its HTTP side: a published view
//! of the sessions (a `DashMap`, read by handlers while the engine thread
//! updates it), counters, and the most recent alerts. The engine thread
//! publishes about once a second; handlers never touch the engine.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use dashmap::DashMap;

use crate::decode::{Encap, ErrorCounts};
use crate::detect::alert::{Alert, AlertKind, Severity};
use crate::detect::{DupCounts, Engine, SessionKey};
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
    pub output_errors: [u64; 2],
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
    /// Wall clock minus the capture time of the last processed frame.
    pub lag_seconds: f64,
}

/// The outputs whose failures are counted and reported by `/healthz`.
pub const OUTPUTS: [&str; 2] = ["alerts", "evidence"];

/// Health of the outputs: failed writes so far, and the outputs failing
/// now with the reason.
#[derive(Debug, Clone, Default)]
pub struct OutputHealth {
    pub errors: [u64; 2],
    pub failing: std::collections::BTreeMap<&'static str, String>,
}

/// The most recent alerts, bounded.
#[derive(Debug)]
pub struct AlertRing {
    cap: usize,
    items: VecDeque<Alert>,
    /// Alerts dropped from the ring because it was full.
    pub dropped: u64,
}

impl AlertRing {
    pub fn new(cap: usize) -> Self {
        AlertRing {
            cap: cap.max(1),
            items: VecDeque::new(),
            dropped: 0,
        }
    }

    pub fn push(&mut self, a: Alert) {
        if self.items.len() == self.cap {
            self.items.pop_front();
            self.dropped += 1;
        }
        self.items.push_back(a);
    }

    /// Alerts raised at or after `since_us` (capture time), oldest first.
    pub fn since(&self, since_us: i64) -> Vec<Alert> {
        self.items
            .iter()
            .filter(|a| a.ts_us >= since_us)
            .cloned()
            .collect()
    }
}

/// Everything the HTTP side reads.
pub struct Shared {
    /// Changed by SIGHUP: read with [`Shared::sensor`].
    sensor: RwLock<String>,
    pub version: &'static str,
    pub started: Instant,
    pub sessions: DashMap<SessionKey, SessionReport>,
    pub counters: RwLock<Counters>,
    pub alerts: Mutex<AlertRing>,
    /// False until the first publication, and after the engine stopped.
    pub ready: AtomicBool,
    /// Published by the pipeline about every 100 ms.
    pub outputs: Mutex<OutputHealth>,
}

/// Alerts kept for `/api/v1/alerts`.
pub const ALERT_RING: usize = 10_000;

impl Shared {
    pub fn new(sensor: &str) -> Self {
        Shared {
            sensor: RwLock::new(sensor.to_owned()),
            version: env!("CARGO_PKG_VERSION"),
            started: Instant::now(),
            sessions: DashMap::new(),
            counters: RwLock::new(Counters::default()),
            alerts: Mutex::new(AlertRing::new(ALERT_RING)),
            ready: AtomicBool::new(false),
            outputs: Mutex::new(OutputHealth::default()),
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
    pub fn publish(&self, engine: &Engine, interfaces: &[InterfaceStats], now_us: i64) {
        // Sessions: upsert the live ones, drop the evicted ones.
        let mut live = std::collections::HashSet::with_capacity(engine.sessions.len());
        for (k, s) in engine.sessions.iter() {
            live.insert(*k);
            self.sessions
                .insert(*k, SessionReport::new(k, s, engine.watching_logs()));
        }
        self.sessions.retain(|k, _| live.contains(k));
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

    /// Sessions in report order (bytes, largest first).
    pub fn session_list(&self) -> Vec<SessionReport> {
        let mut v: Vec<SessionReport> = self.sessions.iter().map(|e| e.value().clone()).collect();
        v.sort_by(crate::report::session_order);
        v
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
        shared.publish(&e, &[], first_ts + 1_000_000);
        assert_eq!(shared.sessions.len(), 3);
        assert_eq!(shared.session_list().len(), 3);
        let c = shared.counters.read().expect("lock");
        assert_eq!(c.processed_packets, 32);
        assert_eq!(c.encapsulated[Encap::Vxlan as usize].0, 32);
        assert!(c.lag_seconds > 0.9);
    }
}
