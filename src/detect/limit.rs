//! Alert rate limits: a token bucket per alert kind on the stream clock.
//! What a bucket refuses is counted and summarised: one `alert_flood`
//! alert per kind and interval (how many were suppressed, the worst
//! severity among them, the top destinations and sources) instead of a
//! storm of lines.
//!
//! A decoy flood (many short-lived sessions) must not hide a real mirror
//! that keeps sending: a session whose alert was refused is retried when
//! its packet count has doubled, against a second bucket per kind that
//! only such persistent sessions draw from ([`Limiter::admit_retry`]). A
//! decoy of a few packets never retries, so it cannot drain that bucket.
use std::collections::HashMap;

use serde::Serialize;

use super::alert::{Alert, AlertCounts, AlertKind, Facts, Severity};
use crate::config::AlertsConfig;

/// Addresses counted per open flood (the top ones are reported).
const TRACKED: usize = 1024;
/// Addresses listed in a summary.
const TOP: usize = 5;

/// A count of suppressed alerts for one address.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AddressCount {
    pub address: String,
    pub alerts: u64,
}

/// The `flood` object of an `alert_flood` alert.
#[derive(Debug, Clone, Serialize)]
pub struct FloodSummary {
    /// The kind that was suppressed.
    pub kind: AlertKind,
    pub suppressed: u64,
    /// The worst severity among the suppressed alerts.
    pub worst_severity: Severity,
    pub top_destinations: Vec<AddressCount>,
    pub top_sources: Vec<AddressCount>,
    /// The limit: alerts of this kind a minute, and the burst allowed.
    pub rate_per_minute: u64,
    pub burst: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_us: i64,
}

/// Alerts suppressed for one kind since the interval opened.
struct Flood {
    first_us: i64,
    last_us: i64,
    n: u64,
    worst: Severity,
    facts: Facts,
    dsts: HashMap<String, u64>,
    srcs: HashMap<String, u64>,
}

fn bump(m: &mut HashMap<String, u64>, k: Option<&str>) {
    let Some(k) = k else {
        return;
    };
    if let Some(n) = m.get_mut(k) {
        *n += 1;
    } else if m.len() < TRACKED {
        m.insert(k.to_owned(), 1);
    }
}

fn top(m: &HashMap<String, u64>) -> Vec<AddressCount> {
    let mut v: Vec<AddressCount> = m
        .iter()
        .map(|(a, &n)| AddressCount {
            address: a.clone(),
            alerts: n,
        })
        .collect();
    v.sort_by(|a, b| {
        b.alerts
            .cmp(&a.alerts)
            .then_with(|| a.address.cmp(&b.address))
    });
    v.truncate(TOP);
    v
}

/// Takes a token from `bucket` (full at first), refilled at
/// `rate_per_minute` on the stream clock up to `burst`.
fn take(bucket: &mut Option<Bucket>, ts_us: i64, rate_per_minute: u64, burst: u64) -> bool {
    let burst = burst as f64;
    let b = bucket.get_or_insert(Bucket {
        tokens: burst,
        last_us: ts_us,
    });
    let dt = ts_us.saturating_sub(b.last_us).max(0);
    b.tokens = (b.tokens + dt as f64 * rate_per_minute as f64 / 60e6).min(burst);
    b.last_us = b.last_us.max(ts_us);
    if b.tokens >= 1.0 {
        b.tokens -= 1.0;
        true
    } else {
        false
    }
}

/// Per-kind token buckets and the floods they opened.
pub struct Limiter {
    rate_per_minute: u64,
    burst: u64,
    interval_us: i64,
    buckets: [Option<Bucket>; AlertKind::COUNT],
    /// The buckets of retries by persistent sessions.
    retries: [Option<Bucket>; AlertKind::COUNT],
    floods: [Option<Flood>; AlertKind::COUNT],
    /// Alerts suppressed so far, by kind.
    pub suppressed: [u64; AlertKind::COUNT],
}

impl Limiter {
    pub fn new(cfg: &AlertsConfig) -> Self {
        let mut l = Limiter {
            rate_per_minute: 0,
            burst: 0,
            interval_us: 0,
            buckets: [None; AlertKind::COUNT],
            retries: [None; AlertKind::COUNT],
            floods: std::array::from_fn(|_| None),
            suppressed: [0; AlertKind::COUNT],
        };
        l.configure(cfg);
        l
    }

    /// New limits (SIGHUP); open floods and counts are kept.
    pub fn configure(&mut self, cfg: &AlertsConfig) {
        self.rate_per_minute = cfg.rate_per_minute;
        self.burst = cfg.burst.max(1);
        self.interval_us = (cfg.flood_interval_s.max(1) as i64).saturating_mul(1_000_000);
    }

    /// Whether `a` may be written; a refused alert is counted into its
    /// kind's flood. `alert_flood` itself is never limited, nor is anything
    /// when `rate_per_minute` is 0.
    pub fn admit(&mut self, a: &Alert) -> bool {
        if self.rate_per_minute == 0 || a.kind == AlertKind::AlertFlood {
            return true;
        }
        let k = a.kind as usize;
        if take(
            &mut self.buckets[k],
            a.ts_us,
            self.rate_per_minute,
            self.burst,
        ) {
            return true;
        }
        self.suppressed[k] += 1;
        let f = self.floods[k].get_or_insert_with(|| Flood {
            first_us: a.ts_us,
            last_us: a.ts_us,
            n: 0,
            worst: a.severity,
            facts: Facts {
                dst_class: a.dst_class,
                verdict: a.verdict,
                evidence: Vec::new(),
                counts: AlertCounts {
                    packets: 0,
                    bytes: 0,
                    duplicates: 0,
                },
                first_seen_us: a.ts_us,
                last_seen_us: a.ts_us,
            },
            dsts: HashMap::new(),
            srcs: HashMap::new(),
        });
        f.n += 1;
        f.last_us = f.last_us.max(a.ts_us);
        f.worst = f.worst.max(a.severity);
        let (src, dst) = match (&a.session, &a.flows) {
            (Some(s), _) => (Some(s.src.clone()), Some(s.dst.clone())),
            (None, Some([inside, outside])) => {
                (Some(inside.src.to_string()), Some(outside.dst.to_string()))
            }
            _ => (
                None,
                a.config_event.as_ref().and_then(|e| e.destination.clone()),
            ),
        };
        bump(&mut f.dsts, dst.as_deref());
        bump(&mut f.srcs, src.as_deref());
        false
    }

    /// Whether the retry of an alert refused earlier for a session that
    /// kept sending may be written. Drawn from the kind's retry bucket; a
    /// refusal is not counted again (the first one was).
    pub fn admit_retry(&mut self, a: &Alert) -> bool {
        if self.rate_per_minute == 0 {
            return true;
        }
        take(
            &mut self.retries[a.kind as usize],
            a.ts_us,
            self.rate_per_minute,
            self.burst,
        )
    }

    /// The summaries of floods whose interval has ended at `now_us` (or
    /// every open one when `all`).
    pub fn summaries(&mut self, now_us: i64, all: bool, sensor: &str) -> Vec<Alert> {
        let mut out = Vec::new();
        for kind in AlertKind::ALL {
            let k = kind as usize;
            let due = self.floods[k]
                .as_ref()
                .is_some_and(|f| all || now_us.saturating_sub(f.first_us) >= self.interval_us);
            if !due {
                continue;
            }
            let Some(f) = self.floods[k].take() else {
                continue;
            };
            let summary = FloodSummary {
                kind,
                suppressed: f.n,
                worst_severity: f.worst,
                top_destinations: top(&f.dsts),
                top_sources: top(&f.srcs),
                rate_per_minute: self.rate_per_minute,
                burst: self.burst,
            };
            let dests: Vec<String> = summary
                .top_destinations
                .iter()
                .map(|d| format!("{} ({})", d.address, d.alerts))
                .collect();
            let facts = Facts {
                evidence: vec![format!(
                    "rate_limit: more than {} {kind} alerts at once, or more than {} a minute",
                    self.burst, self.rate_per_minute
                )],
                first_seen_us: f.first_us,
                last_seen_us: f.last_us,
                ..f.facts
            };
            let message = format!(
                "{} {kind} alerts suppressed by the rate limit (worst {}); top destinations: {}",
                f.n,
                f.worst,
                if dests.is_empty() {
                    "none".to_owned()
                } else {
                    dests.join(", ")
                }
            );
            let at = if all { now_us.max(f.last_us) } else { now_us };
            out.push(
                Alert::new(AlertKind::AlertFlood, f.worst, sensor, at, facts, message)
                    .with_flood(summary),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Encap;
    use crate::detect::session::{DstClass, SessionKey, Verdict};

    fn alert(kind: AlertKind, dst: u8, ts_us: i64) -> Alert {
        let key = SessionKey {
            encap: Encap::Erspan2,
            src: "10.0.0.1".parse().expect("ip"),
            dst: core::net::IpAddr::from([203, 0, 113, dst]),
            id: Some(1),
        };
        Alert::new(
            kind,
            kind.severity(),
            "s",
            ts_us,
            Facts {
                dst_class: DstClass::External,
                verdict: Verdict::Mirror,
                evidence: Vec::new(),
                counts: AlertCounts {
                    packets: 1,
                    bytes: 1,
                    duplicates: 0,
                },
                first_seen_us: ts_us,
                last_seen_us: ts_us,
            },
            String::new(),
        )
        .with_session(&key)
    }

    fn cfg(rate: u64, burst: u64) -> AlertsConfig {
        AlertsConfig {
            rate_per_minute: rate,
            burst,
            flood_interval_s: 60,
            ..AlertsConfig::default()
        }
    }

    #[test]
    fn burst_then_rate_then_one_summary_per_kind_and_interval() {
        let mut l = Limiter::new(&cfg(60, 10));
        // 1,000 alerts of one kind in one second: the burst passes.
        let admitted = (0..1000)
            .filter(|i| {
                l.admit(&alert(
                    AlertKind::MirrorToExternal,
                    (i % 7) as u8,
                    1_000 * i64::from(*i),
                ))
            })
            .count();
        assert_eq!(admitted, 10);
        assert_eq!(l.suppressed[AlertKind::MirrorToExternal as usize], 990);
        // Another kind has its own bucket.
        assert!(l.admit(&alert(AlertKind::MirrorSessionNew, 1, 1_000_000)));
        // Nothing to summarise before the interval ends.
        assert!(l.summaries(30_000_000, false, "s").is_empty());
        let s = l.summaries(61_000_000, false, "s");
        assert_eq!(s.len(), 1);
        let f = s[0].flood.clone().expect("flood object");
        assert_eq!(
            (f.kind, f.suppressed, f.worst_severity),
            (AlertKind::MirrorToExternal, 990, Severity::High)
        );
        assert_eq!(s[0].severity, Severity::High);
        assert_eq!(f.top_destinations.len(), 5);
        assert!(f.top_destinations[0].alerts >= f.top_destinations[4].alerts);
        assert_eq!(f.top_sources[0].address, "10.0.0.1");
        // A minute later one more per second is allowed again.
        assert!(l.admit(&alert(AlertKind::MirrorToExternal, 1, 62_000_000)));
        // The summary itself is never limited.
        assert!(l.admit(&s[0]));
    }

    #[test]
    fn zero_rate_means_no_limit() {
        let mut l = Limiter::new(&cfg(0, 1));
        assert!((0..10_000).all(|i| l.admit(&alert(AlertKind::MirrorToExternal, 1, i))));
        assert!(l.summaries(i64::MAX, true, "s").is_empty());
    }
}
