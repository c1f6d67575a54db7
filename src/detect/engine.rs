//! The per-packet engine: the session inventory, duplicate and payload
//! lookups, and when to judge a session and raise its alerts. Verdicts
//! ([`super::verdict`]), volume spikes ([`super::volume`]), alert building
//! ([`super::alert`]) and configuration-event policy ([`super::policy`])
//! are decided elsewhere; nothing here allocates per packet on the common
//! path.
use core::net::IpAddr;

use serde::Serialize;

use super::alert::{self, Alert, AlertCounts, AlertKind, Facts, Severity};
use super::correlate;
use super::dup::{DupWindow, PathId};
use super::fingerprint::Fingerprinter;
use super::flow_sessions::{FlowSessions, seen_by_labels};
use super::net::Cidr;
use super::payload::{self, Flow, PayloadTracker};
use super::session::{DstClass, SessionKey, SessionTable, SlotRef, Verdict};
use super::topk::{Host, Service};
use super::{limit, policy, verdict, volume};
use crate::config::{Authorized, Config};
use crate::decode::{Decoded, Encap, ErrorCounts};
use crate::logs::{Action, ConfigEvent, Platform};
use crate::source::Frame;
use crate::source::prepared::Hashes;

/// Default cap of the session table.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;

/// Duplicate packets by the pair of paths they travelled.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct DupCounts {
    /// A native packet and an encapsulated copy of it (or the reverse).
    pub native_encapsulated: u64,
    /// The same inner packet in two sessions.
    pub session_session: u64,
    /// The same native packet on two layer-2 paths (TEE, tc mirred).
    pub native_native: u64,
}

/// Duplicate and payload lookups in flight (prefetched, not yet done).
/// Measured again with the reader on its own thread (`--workers 1`):
/// without the queue (lookups done at once, no prefetch) replay ran at
/// 4.32 million packets/s against 5.39 with it, and 3.32 against 4.49 on
/// one thread (medians of 5, mixed capture; docs/performance.md), so it
/// stays; every tick flushes it, so a lookup waits at most a second of
/// stream time.
const PIPELINE: usize = 16;

/// A duplicate-window lookup queued behind its prefetch: fingerprint,
/// time, packed path.
type DeferredDup = (u64, i64, u64);
/// A payload-table lookup queued behind its prefetch.
type DeferredPayload = (u64, i64, Flow);

/// A fixed ring of [`PIPELINE`] queued lookups: pushing into a full ring
/// hands back the oldest.
struct LookupQueue<T: Copy> {
    buf: [Option<T>; PIPELINE],
    /// Where the next entry goes: the oldest one when the ring is full.
    head: usize,
}

impl<T: Copy> LookupQueue<T> {
    fn new() -> Self {
        LookupQueue {
            buf: [None; PIPELINE],
            head: 0,
        }
    }

    /// Queues `v`; returns the oldest entry when the ring was full.
    #[inline(always)]
    fn push(&mut self, v: T) -> Option<T> {
        let old = self.buf[self.head].replace(v);
        self.head = (self.head + 1) % PIPELINE;
        old
    }

    /// Takes the oldest entry.
    fn pop(&mut self) -> Option<T> {
        (0..PIPELINE).find_map(|k| self.buf[(self.head + k) % PIPELINE].take())
    }
}

/// What the caller should do with the frame just processed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Processed {
    /// The session the frame belongs to.
    pub session: Option<SlotRef>,
    /// The session is alerting: keep this frame as evidence.
    pub evidence: bool,
}

/// Packets a session whose alert the rate limit refused needs before the
/// alert is retried: a decoy of a few packets never gets there.
pub const RETRY_MIN_PACKETS: u64 = 16;

/// Decodes frames, keeps the inventory and raises alerts: the per-packet
/// hot path.
pub struct Engine {
    sensor: String,
    internal: Vec<Cidr>,
    authorized: Vec<Authorized>,
    alerts_cfg: crate::config::AlertsConfig,
    min_matches: u64,
    evidence_enabled: bool,
    /// Fingerprints and payload digests, unless a decode worker computed
    /// them ([`Engine::observe_hashed`]).
    hasher: FrameHasher,
    pub sessions: SessionTable,
    dups: DupWindow,
    payloads: PayloadTracker,
    pub errors: ErrorCounts,
    pub packets: u64,
    pub bytes: u64,
    /// Frames that carried a session-making encapsulation.
    pub encapsulated: u64,
    pub dup_counts: DupCounts,
    /// Packets and wire bytes per encapsulation (`Encap as usize`).
    pub encap_counts: [(u64, u64); Encap::ALL.len()],
    /// Alerts raised and not yet taken by [`Engine::drain_alerts`].
    pending: Vec<Alert>,
    /// Alerts raised so far, by kind and severity.
    pub alert_counts: [[u64; Severity::ALL.len()]; AlertKind::ALL.len()],
    /// Configuration-change evidence, when log sources are watched.
    correlator: Option<correlate::Correlator>,
    /// `correlation.window_s`, in microseconds.
    correlation_window_us: i64,
    /// Duplicate-table lookups waiting for their prefetched cache line.
    deferred_dups: LookupQueue<DeferredDup>,
    deferred_payloads: LookupQueue<DeferredPayload>,
    /// Configuration events by platform and action.
    pub config_event_counts: [[u64; Action::ALL.len()]; Platform::ALL.len()],
    last_ts_us: i64,
    /// Per-kind alert rate limits.
    limiter: limit::Limiter,
    /// Sessions found in flow records ([`Engine::flow_record`]).
    pub flows: FlowSessions,
    /// Flow records taken; sessions are reported `seen_by` once any was.
    pub flow_records: u64,
    /// Latest end time of a flow record taken.
    flow_last_us: i64,
    /// Per-pair volume baselines of flow records (`flow_volume_shift`).
    pub volume: super::flow_volume::PairTable,
    /// When the pairs' intervals were last closed on a tick.
    volume_closed_us: i64,
    volume_interval_us: i64,
}

impl Engine {
    pub fn new(cfg: &Config) -> Self {
        let d = &cfg.duplicates;
        Engine {
            sensor: cfg.sensor.clone(),
            internal: cfg.internal_networks.clone(),
            authorized: cfg.authorized.clone(),
            alerts_cfg: cfg.alerts.clone(),
            min_matches: d.min_matching_payloads.max(1),
            evidence_enabled: false,
            hasher: FrameHasher::new(cfg),
            sessions: SessionTable::new(cfg.inventory.max_sessions),
            dups: DupWindow::new(d.table_entries, (d.window_ms as i64).saturating_mul(1000)),
            payloads: PayloadTracker::new(
                d.payload_table_entries,
                (d.payload_window_ms as i64).saturating_mul(1000),
                d.max_flow_pairs,
            ),
            errors: ErrorCounts::default(),
            packets: 0,
            bytes: 0,
            encapsulated: 0,
            dup_counts: DupCounts::default(),
            encap_counts: [(0, 0); Encap::ALL.len()],
            pending: Vec::new(),
            alert_counts: [[0; Severity::ALL.len()]; AlertKind::ALL.len()],
            correlator: None,
            correlation_window_us: (cfg.correlation.window_s as i64).saturating_mul(1_000_000),
            deferred_dups: LookupQueue::new(),
            deferred_payloads: LookupQueue::new(),
            config_event_counts: [[0; Action::ALL.len()]; Platform::ALL.len()],
            last_ts_us: 0,
            limiter: limit::Limiter::new(&cfg.alerts),
            flows: FlowSessions::new(cfg),
            flow_records: 0,
            flow_last_us: i64::MIN,
            volume: super::flow_volume::PairTable::new(cfg.flows.volume(cfg.alerts.spike_factor)),
            volume_closed_us: i64::MIN,
            volume_interval_us: i64::from(cfg.flows.volume_interval_s.max(1)) * 1_000_000,
        }
    }

    /// Applies a new configuration's authorised list, internal networks,
    /// thresholds and sensor name, and re-judges every session against
    /// them. Decoder ports and table sizes need a restart.
    pub fn reload(&mut self, cfg: &Config) {
        self.sensor = cfg.sensor.clone();
        self.internal = cfg.internal_networks.clone();
        self.authorized = cfg.authorized.clone();
        self.alerts_cfg = cfg.alerts.clone();
        self.limiter.configure(&cfg.alerts);
        self.volume
            .configure(cfg.flows.volume(cfg.alerts.spike_factor));
        self.volume_interval_us = i64::from(cfg.flows.volume_interval_s.max(1)) * 1_000_000;
        self.min_matches = cfg.duplicates.min_matching_payloads.max(1);
        let ts = self.last_ts_us;
        for r in self.sessions.refs() {
            self.evaluate(r, ts);
        }
        self.flows.mark_all_dirty();
        self.judge_flows(self.now_for_flows(ts));
    }

    /// Watches configuration-change logs: sessions are linked to the events
    /// that explain them, and a mirror to an unapproved destination that
    /// nothing explains raises `mirror_without_config`.
    pub fn watch_logs(&mut self) {
        if self.correlator.is_none() {
            self.correlator = Some(correlate::Correlator::new(self.correlation_window_us));
        }
    }

    /// Takes a mirror configuration event from a log source: counts it,
    /// raises what [`policy::config_event_alerts`] calls for, and links it
    /// to the sessions it explains.
    pub fn config_event(&mut self, e: ConfigEvent) {
        self.watch_logs();
        self.config_event_counts[e.platform as usize][e.action as usize] += 1;
        // An event with no valid time is stamped with the capture's time
        // when packets came first, else with the time it was read (never
        // 1970); it passes no `[[authorized]]` entry that expires.
        let at = e
            .time_us
            .or((self.last_ts_us > 0).then_some(self.last_ts_us))
            .unwrap_or_else(crate::time::now_us);
        let Some(c) = self.correlator.as_mut() else {
            return;
        };
        let window = c.window_us();
        let r = c.add(e.clone());
        // Link to the sessions it explains.
        for s in self.sessions.refs() {
            if let Some((k, st)) = self.sessions.get_mut(s)
                && st.config_events.len() < 8
                && correlate::explains(&e, k, st.first_seen_us, st.last_seen_us, window)
            {
                st.config_events.push(r.clone());
            }
        }
        for (k, st) in self.flows.iter_mut() {
            if st.config_events.len() < 8
                && correlate::explains(&e, k, st.first_us, st.last_us, window)
            {
                st.config_events.push(r.clone());
            }
        }
        let alerts =
            policy::config_event_alerts(&e, &r, at, &self.internal, &self.authorized, &self.sensor);
        for a in alerts {
            self.push(a);
        }
    }

    /// The configuration events remembered, oldest first.
    pub fn config_events(&self) -> Vec<correlate::ConfigEventRef> {
        self.correlator
            .as_ref()
            .map(|c| c.records().collect())
            .unwrap_or_default()
    }

    /// Whether log sources are watched.
    pub fn watching_logs(&self) -> bool {
        self.correlator.is_some()
    }

    /// Marks alerting sessions' frames as evidence (`--evidence DIR`).
    pub fn enable_evidence(&mut self, on: bool) {
        self.evidence_enabled = on;
    }

    /// Capture time of the last frame processed.
    pub fn last_ts_us(&self) -> i64 {
        self.last_ts_us
    }

    /// Duplicate-window entries displaced inside their window.
    pub fn dup_evictions(&self) -> u64 {
        self.dups.evicted()
    }

    pub fn payload_evictions(&self) -> (u64, u64) {
        (self.payloads.evicted_payloads, self.payloads.evicted_pairs)
    }

    /// Flow pairs that carried the same payloads.
    pub fn flow_pairs(&self) -> impl Iterator<Item = &payload::FlowPair> {
        self.payloads.pairs()
    }

    /// Whether alerts are waiting for [`Engine::drain_alerts`].
    #[inline]
    pub fn has_alerts(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Alerts raised since the last call, in order.
    pub fn drain_alerts(&mut self) -> std::vec::Drain<'_, Alert> {
        self.pending.drain(..)
    }

    /// Takes one frame the pipeline has decoded into `d`.
    #[inline]
    pub fn observe(&mut self, f: &Frame<'_>, d: &Decoded<'_>) -> Processed {
        let h = self.hasher.hashes(d);
        self.observe_hashed(f, d, h)
    }

    /// [`Engine::observe`] with the frame's fingerprint and digest
    /// computed already, by a decode worker's [`FrameHasher`] made from the
    /// same configuration.
    #[inline]
    pub fn observe_hashed(&mut self, f: &Frame<'_>, d: &Decoded<'_>, h: Hashes) -> Processed {
        self.count(f, d);
        self.account(f, d, h.0, h.1)
    }

    #[inline(always)]
    fn count(&mut self, f: &Frame<'_>, d: &Decoded<'_>) {
        self.packets += 1;
        self.bytes += u64::from(f.orig_len);
        if let Some(e) = d.error {
            self.errors.add(e);
        }
    }

    /// Second stage: sessions, duplicates, verdicts, alerts.
    #[inline(always)]
    fn account(
        &mut self,
        f: &Frame<'_>,
        d: &Decoded<'_>,
        fp: Option<u64>,
        digest: Option<u64>,
    ) -> Processed {
        self.last_ts_us = f.ts_us;
        match d.tunnel {
            Some(t) => {
                self.encapsulated += 1;
                let c = &mut self.encap_counts[t.encap as usize];
                c.0 += 1;
                c.1 += u64::from(f.orig_len);
                self.encapsulated_frame(f.ts_us, f.orig_len, t, d, fp)
            }
            None => {
                self.native_frame(f.ts_us, d, fp, digest);
                Processed::default()
            }
        }
    }

    fn encapsulated_frame(
        &mut self,
        ts_us: i64,
        orig_len: u32,
        key: SessionKey,
        d: &Decoded<'_>,
        fingerprint: Option<u64>,
    ) -> Processed {
        let (r, created) = self.sessions.upsert(key, ts_us);
        let mut spike = false;
        let mut due = false;
        if let Some((_, s)) = self.sessions.get_mut(r) {
            s.packets += 1;
            s.bytes += u64::from(orig_len);
            s.inner_bytes += u64::from(d.inner_bytes);
            s.first_seen_us = s.first_seen_us.min(ts_us);
            s.last_seen_us = s.last_seen_us.max(ts_us);
            for v in d.inner_vlans {
                if v != 0 {
                    s.vlans.insert(v);
                }
            }
            match d.egress {
                Some(true) => s.egress += 1,
                Some(false) => s.ingress += 1,
                None => {}
            }
            s.truncated += u64::from(d.truncated);
            s.nested.union(d.nested);
            if let Some(ip) = &d.inner {
                let (isrc, idst) = ip.addrs();
                let h = self
                    .hasher
                    .fp
                    .flow_pair(isrc, idst, ip.src_port, ip.dst_port, ip.protocol);
                if s.flows_fwd.contains(h.rev) {
                    s.both_directions += 1;
                }
                s.flows_fwd.insert(h.fwd);
                s.flows_rev.insert(h.rev);
                s.flows.insert(h.canonical);
                if isrc == key.src || isrc == key.dst || idst == key.src || idst == key.dst {
                    s.inner_related += 1;
                }
                let w = u64::from(d.inner_bytes);
                s.inner.hosts.add(Host::of(isrc), w);
                s.inner.hosts.add(Host::of(idst), w);
                s.inner
                    .services
                    .add(Service::of(ip.protocol, ip.src_port, ip.dst_port), w);
            }
            s.inner.timeline.add(ts_us, u64::from(orig_len));
            match volume::account_volume(&mut s.volume, ts_us, orig_len, &self.alerts_cfg) {
                Some(true) => spike = true,
                // A normal second re-arms the spike alert.
                Some(false) => s.alerted &= !AlertKind::MirrorVolumeSpike.bit(),
                None => {}
            }
            due = created || s.packets >= s.next_eval_at;
        }
        if let Some(f) = fingerprint {
            let path = PathId::Session {
                slot: r.slot,
                generation: r.generation,
            };
            self.queue_dup((f, ts_us, path.pack()));
        }
        if due {
            self.evaluate(r, ts_us);
        }
        if spike {
            self.spike(r, ts_us);
        }
        let evidence = self.sessions.get(r).is_some_and(|(_, s)| s.evidence_on);
        Processed {
            session: Some(r),
            evidence,
        }
    }

    fn native_frame(
        &mut self,
        ts_us: i64,
        d: &Decoded<'_>,
        fingerprint: Option<u64>,
        digest: Option<u64>,
    ) {
        let Some(ip) = &d.inner else {
            return;
        };
        if let Some(f) = fingerprint {
            let l2 = (d.l2 as u64) ^ ((d.l2 >> 64) as u64).rotate_left(17);
            self.queue_dup((f, ts_us, PathId::Native { l2 }.pack()));
        }
        let Some(digest) = digest else {
            return;
        };
        let (src, dst) = ip.addrs();
        let flow = Flow {
            src,
            dst,
            src_port: ip.src_port,
            dst_port: ip.dst_port,
            protocol: ip.protocol,
        };
        self.queue_payload((digest, ts_us, flow));
    }

    /// Queues a duplicate-window lookup; the oldest queued one is done now.
    /// Its cache line was prefetched when it was queued, [`PIPELINE`]
    /// lookups ago, so the random access to the large table overlaps with
    /// the work on the frames in between instead of stalling.
    #[inline]
    fn queue_dup(&mut self, d: DeferredDup) {
        self.dups.prefetch(d.0);
        if let Some((f, ts, path)) = self.deferred_dups.push(d) {
            self.apply_dup(f, ts, path);
        }
    }

    /// The same for the payload table.
    #[inline]
    fn queue_payload(&mut self, d: DeferredPayload) {
        self.payloads.prefetch(d.0);
        if let Some((h, ts, flow)) = self.deferred_payloads.push(d) {
            self.apply_payload(h, ts, flow);
        }
    }

    /// Performs all queued lookups (end of input, or before a report).
    pub fn flush_deferred(&mut self) {
        while let Some((f, ts, path)) = self.deferred_dups.pop() {
            self.apply_dup(f, ts, path);
        }
        while let Some((h, ts, flow)) = self.deferred_payloads.pop() {
            self.apply_payload(h, ts, flow);
        }
    }

    /// `path` is packed ([`PathId::pack`]).
    fn apply_dup(&mut self, f: u64, ts_us: i64, path: u64) {
        let Some(rep) = self.dups.observe_packed(f, ts_us, path) else {
            return;
        };
        let path = PathId::unpack(path);
        // The copy is the later packet when it travelled in a session;
        // when the later one is native, the earlier session carried it.
        let session = match (path, rep.first_path) {
            (PathId::Session { slot, generation }, first) => {
                match first {
                    PathId::Native { .. } => self.dup_counts.native_encapsulated += 1,
                    PathId::Session { .. } => self.dup_counts.session_session += 1,
                }
                Some(SlotRef { slot, generation })
            }
            (PathId::Native { .. }, PathId::Native { .. }) => {
                self.dup_counts.native_native += 1;
                None
            }
            (PathId::Native { .. }, PathId::Session { slot, generation }) => {
                self.dup_counts.native_encapsulated += 1;
                Some(SlotRef { slot, generation })
            }
        };
        if let Some(r) = session
            && let Some((_, s)) = self.sessions.get_mut(r)
        {
            s.dup_packets += 1;
            s.dup_gaps.add(rep.gap_us);
        }
    }

    fn apply_payload(&mut self, digest: u64, ts_us: i64, flow: Flow) {
        let min_matches = self.min_matches;
        let Some(pair) = self.payloads.observe(digest, ts_us, flow) else {
            return;
        };
        if pair.reported || pair.matches < min_matches {
            return;
        }
        let (a, b) = (pair.a, pair.b);
        let internal = &self.internal;
        let external = |ip: IpAddr| !internal.iter().any(|c| c.contains(ip));
        if !(external(a.dst) || external(b.dst)) {
            return;
        }
        pair.reported = true;
        let (matches, first, last) = (pair.matches, pair.first_seen_us, pair.last_seen_us);
        let outside = if external(b.dst) { b } else { a };
        let inside = if outside == b { a } else { b };
        let facts = Facts {
            dst_class: DstClass::External,
            verdict: Verdict::Mirror,
            evidence: vec![format!(
                "same_payloads: {matches} payloads of at least {} bytes carried by both flows",
                self.hasher.min_payload
            )],
            counts: AlertCounts {
                packets: matches,
                bytes: 0,
                duplicates: matches,
            },
            first_seen_us: first,
            last_seen_us: last,
        };
        let message = format!(
            "payloads of {}:{} -> {}:{} are duplicated to external {}:{} ({matches} matching payloads)",
            inside.src, inside.src_port, inside.dst, inside.dst_port, outside.dst, outside.dst_port
        );
        let kind = AlertKind::DuplicateFlowToExternal;
        let alert = Alert::new(kind, kind.severity(), &self.sensor, ts_us, facts, message)
            .with_flows([inside, outside]);
        self.push(alert);
    }

    /// Raises an alert through the rate limit: a refused one is counted
    /// and summarised later ([`limit::Limiter`]).
    fn push(&mut self, a: Alert) {
        if !self.limiter.admit(&a) {
            return;
        }
        self.alert_counts[a.kind as usize][a.severity as usize] += 1;
        self.pending.push(a);
    }

    /// The `alert_flood` summaries due at `now_us` (all of them at the end).
    fn flood_summaries(&mut self, now_us: i64, all: bool) {
        for a in self.limiter.summaries(now_us, all, &self.sensor) {
            self.push(a);
        }
    }

    /// Alerts suppressed by the rate limit so far, by kind.
    pub fn suppressed_alerts(&self) -> [u64; AlertKind::COUNT] {
        self.limiter.suppressed
    }

    /// Re-judges a session: class, verdict, evidence, alerts.
    fn evaluate(&mut self, r: SlotRef, ts_us: i64) {
        let Some((key, _)) = self.sessions.get(r) else {
            return;
        };
        let key = *key;
        let reverse = SessionKey {
            src: key.dst,
            dst: key.src,
            ..key
        };
        let rev = self
            .sessions
            .find(&reverse)
            .map(|s| (s.packets, s.flows_fwd.clone()));
        let (class, expired) = verdict::classify(&self.authorized, &self.internal, &key, ts_us);
        let min_packets = self.alerts_cfg.verdict_min_packets;
        let Some((_, s)) = self.sessions.get_mut(r) else {
            return;
        };
        let (mut verdict, mut evidence) = verdict::judge(&key, s, rev.as_ref(), min_packets);
        if s.restored {
            if verdict == Verdict::Undetermined && s.verdict != Verdict::Undetermined {
                // Evicted and back with fresh counters: the verdict its
                // alerts were raised for stands until the evidence decides.
                verdict = s.verdict;
                evidence.push(format!(
                    "restored: judged {} before it was evicted",
                    s.verdict
                ));
            } else {
                s.restored = false;
            }
        }
        if class != s.dst_class || verdict != s.verdict {
            s.alerted = 0;
            s.suppressed = 0;
        }
        s.dst_class = class;
        s.verdict = verdict;
        s.evidence = evidence;
        s.authorization_expired = expired;
        s.next_eval_at = (s.packets * 2).max(min_packets);
        s.judged_packets = s.packets;
        s.judged_dups = s.dup_packets;
        if let Some(c) = &self.correlator
            && let Some((key, s)) = self.sessions.get_mut(r)
            && s.config_events.is_empty()
        {
            s.config_events = c.matching(key, s.first_seen_us, s.last_seen_us);
        }
        if verdict == Verdict::Mirror {
            self.raise(r, AlertKind::MirrorSessionNew, ts_us);
            let unexplained = self.correlator.is_some()
                && class != DstClass::Authorized
                && self
                    .sessions
                    .get(r)
                    .is_some_and(|(_, s)| s.config_events.is_empty());
            if unexplained {
                self.raise(r, AlertKind::MirrorWithoutConfig, ts_us);
            }
            match class {
                DstClass::External => self.raise(r, AlertKind::MirrorToExternal, ts_us),
                DstClass::Internal => self.raise(r, AlertKind::MirrorToUnauthorizedInternal, ts_us),
                DstClass::Authorized => {}
            }
            if expired {
                self.raise(r, AlertKind::AuthorizedMirrorExpired, ts_us);
            }
        }
    }

    fn spike(&mut self, r: SlotRef, ts_us: i64) {
        if self
            .sessions
            .get(r)
            .is_some_and(|(_, s)| s.verdict == Verdict::Mirror)
        {
            self.raise(r, AlertKind::MirrorVolumeSpike, ts_us);
        }
    }

    /// Raises `kind` for a session unless it was raised since the
    /// session's class or verdict last changed. Through the rate limit: a
    /// refused alert is retried once the session's packet count doubled
    /// and reached [`RETRY_MIN_PACKETS`] (a session that keeps sending),
    /// against the retry bucket.
    fn raise(&mut self, r: SlotRef, kind: AlertKind, ts_us: i64) {
        let evidence_enabled = self.evidence_enabled;
        let Some((key, s)) = self.sessions.get_mut(r) else {
            return;
        };
        if s.alerted & kind.bit() != 0 {
            return;
        }
        // Raised already for the same session seen in flow records.
        if self
            .flows
            .same_as_packet(key)
            .iter()
            .flatten()
            .any(|f| f.alerted & kind.bit() != 0)
        {
            s.alerted |= kind.bit();
            s.alerted_ever |= kind.bit();
            return;
        }
        let retry = s.suppressed & kind.bit() != 0;
        if retry && s.packets < s.retry_at_packets {
            return;
        }
        let what = alert::session_words(key);
        let message =
            alert::session_message(kind, &what, s.volume.last_spike_bytes, s.volume.baseline);
        let facts = Facts {
            dst_class: s.dst_class,
            verdict: s.verdict,
            evidence: s.evidence.clone(),
            counts: AlertCounts {
                packets: s.packets,
                bytes: s.bytes,
                duplicates: s.dup_packets,
            },
            first_seen_us: s.first_seen_us,
            last_seen_us: s.last_seen_us,
        };
        // Evidence is kept for an alerting session whether or not the rate
        // limit lets its alert line through (the caps bound it).
        s.evidence_on |= evidence_enabled && kind.severity() >= Severity::Medium;
        let evidence_on = s.evidence_on;
        let a = Alert::new(kind, kind.severity(), &self.sensor, ts_us, facts, message)
            .with_session(key)
            .with_evidence_file(evidence_on.then(|| evidence_file_name(key)));
        let admitted = if retry {
            self.limiter.admit_retry(&a)
        } else {
            self.limiter.admit(&a)
        };
        if !admitted {
            s.suppressed |= kind.bit();
            s.retry_at_packets = s.packets.saturating_mul(2).max(RETRY_MIN_PACKETS);
            return;
        }
        s.suppressed &= !kind.bit();
        s.alerted |= kind.bit();
        s.alerted_ever |= kind.bit();
        self.alert_counts[a.kind as usize][a.severity as usize] += 1;
        self.pending.push(a);
    }

    /// A tick of the stream clock (`now_us`: capture time in a replay,
    /// wall-clock time live), at most a second apart and also when no
    /// packet arrives: queued lookups are done, per-second volumes whose
    /// second ended more than a second ago are closed (spikes raised), and
    /// every session with packets or duplicates since it was last judged
    /// is judged. A session of one packet is judged on the next tick.
    pub fn tick(&mut self, now_us: i64) {
        self.flush_deferred();
        let now_sec = now_us.div_euclid(1_000_000);
        for r in self.sessions.refs() {
            let Some((_, s)) = self.sessions.get_mut(r) else {
                continue;
            };
            let spike = volume::close_elapsed(&mut s.volume, now_sec, &self.alerts_cfg);
            let due = s.packets != s.judged_packets || s.dup_packets != s.judged_dups;
            if spike == Some(false) {
                s.alerted &= !AlertKind::MirrorVolumeSpike.bit();
            }
            if due {
                self.evaluate(r, now_us);
            }
            if spike == Some(true) {
                self.spike(r, now_us);
            }
        }
        self.judge_flows(now_us);
        // Pairs whose interval ended with no record after it: closed once
        // an interval (O(pairs), so not on every tick).
        if now_us.saturating_sub(self.volume_closed_us) >= self.volume_interval_us {
            if self.volume_closed_us != i64::MIN {
                for (k, shift) in self.volume.close_all(now_us) {
                    self.volume_shift(k, shift, now_us);
                }
            }
            self.volume_closed_us = now_us;
        }
        self.flood_summaries(now_us, false);
    }

    /// What survives a restart: every session's counters, class, verdict,
    /// alerted kinds and volume baseline, and the configuration events
    /// remembered.
    pub fn snapshot(&self) -> super::saved::Snapshot {
        super::saved::Snapshot {
            sessions: self
                .sessions
                .iter()
                .map(|(k, s)| super::saved::SavedSession {
                    key: *k,
                    packets: s.packets,
                    bytes: s.bytes,
                    inner_bytes: s.inner_bytes,
                    first_seen_us: s.first_seen_us,
                    last_seen_us: s.last_seen_us,
                    dst_class: s.dst_class,
                    verdict: s.verdict,
                    alerted: s.alerted,
                    alerted_ever: s.alerted_ever,
                    dup_packets: s.dup_packets,
                    baseline: s.volume.baseline,
                    seconds: s.volume.seconds,
                })
                .collect(),
            events: self
                .correlator
                .as_ref()
                .map(|c| c.events().cloned().collect())
                .unwrap_or_default(),
            flow_sessions: self.flows.saved(),
        }
    }

    /// Takes back what [`Engine::snapshot`] saved before a restart: the
    /// sessions with their counters and alerted kinds (nothing alerts again
    /// for what it already raised), and the configuration events (which
    /// explain their sessions again; they raise nothing, they did before).
    pub fn restore(&mut self, snap: super::saved::Snapshot) {
        if !snap.flow_sessions.is_empty() {
            // Flow records were read before the restart: reported as such.
            self.flow_records = self.flow_records.max(1);
            for s in &snap.flow_sessions {
                self.last_ts_us = self.last_ts_us.max(s.last_seen_us);
            }
            self.flows.restore(snap.flow_sessions);
        }
        for x in snap.sessions {
            let (r, _) = self.sessions.upsert(x.key, x.first_seen_us);
            if let Some((_, s)) = self.sessions.get_mut(r) {
                s.packets = x.packets;
                s.bytes = x.bytes;
                s.inner_bytes = x.inner_bytes;
                s.first_seen_us = x.first_seen_us;
                s.last_seen_us = x.last_seen_us;
                s.dst_class = x.dst_class;
                s.verdict = x.verdict;
                s.alerted = x.alerted;
                s.alerted_ever = x.alerted_ever;
                s.dup_packets = x.dup_packets;
                s.volume.baseline = x.baseline;
                s.volume.seconds = x.seconds;
                s.volume.second = x.last_seen_us.div_euclid(1_000_000);
                s.volume.second_start_us = s.volume.second * 1_000_000;
                s.judged_packets = x.packets;
                s.judged_dups = x.dup_packets;
                s.next_eval_at = x.packets.saturating_add(1);
                s.restored = true;
            }
            self.last_ts_us = self.last_ts_us.max(x.last_seen_us);
        }
        if !snap.events.is_empty() {
            self.watch_logs();
        }
        if let Some(c) = self.correlator.as_mut() {
            for e in snap.events {
                c.add(e);
            }
            for r in self.sessions.refs() {
                if let Some((k, s)) = self.sessions.get_mut(r) {
                    s.config_events = c.matching(k, s.first_seen_us, s.last_seen_us);
                }
            }
            for (k, s) in self.flows.iter_mut() {
                s.config_events = c.matching(k, s.first_us, s.last_us);
            }
        }
    }

    /// End of input: closes open volume buckets and judges every session
    /// once more.
    pub fn finish(&mut self) {
        self.flush_deferred();
        let ts = self.last_ts_us;
        for r in self.sessions.refs() {
            let spike = self
                .sessions
                .get_mut(r)
                .is_some_and(|(_, s)| volume::close_second(&mut s.volume, &self.alerts_cfg));
            self.evaluate(r, ts);
            if spike {
                self.spike(r, ts);
            }
        }
        let now = self.now_for_flows(ts);
        self.judge_flows(now);
        for (k, shift) in self.volume.close_all(i64::MAX) {
            self.volume_shift(k, shift, now);
        }
        self.flood_summaries(ts, true);
    }

    /// Takes one flow record (NetFlow, IPFIX, sFlow, a flow log line):
    /// counted into its flow session, judged on the next tick.
    pub fn flow_record(&mut self, r: &crate::source::flow::FlowRecord<'_>) {
        self.flow_records += 1;
        self.flow_last_us = self.flow_last_us.max(r.end_us);
        self.flows.record(r);
        if r.src.is_unspecified() || r.dst.is_unspecified() {
            return;
        }
        let rate = u64::from(r.sampling_rate.max(1));
        let key = super::flow_volume::PairKey {
            src: r.src,
            dst: r.dst,
            protocol: r.protocol,
        };
        if let Some(shift) =
            self.volume
                .record(key, r.start_us, r.end_us, r.bytes.saturating_mul(rate))
        {
            self.volume_shift(key, shift, r.end_us);
        }
        // Logs that count both directions in one record: the reverse pair.
        if r.rev_bytes > 0 || r.rev_packets > 0 {
            let back = key.reverse();
            if let Some(shift) = self.volume.record(back, r.start_us, r.end_us, r.rev_bytes) {
                self.volume_shift(back, shift, r.end_us);
            }
        }
    }

    /// Raises `flow_volume_shift` for a pair: a new one-way pair only when
    /// its destination is external; medium, high when the destination is
    /// external and the pair is a tunnel (GRE or a tunnel UDP port — the
    /// protocol alone: the port is not in the pair key, so UDP counts as
    /// a tunnel only when a flow session exists between the two).
    fn volume_shift(
        &mut self,
        k: super::flow_volume::PairKey,
        shift: super::flow_volume::Shift,
        ts_us: i64,
    ) {
        use super::flow_volume::Shift;
        let tunnel = match k.protocol {
            47 => Some(Encap::Gre),
            17 => self
                .flows
                .iter()
                .find(|(fk, _)| fk.src == k.src && fk.dst == k.dst && fk.encap != Encap::Gre)
                .map(|(fk, _)| super::flow_sessions::family(fk.encap)),
            _ => None,
        };
        let class = verdict::classify_pair(
            &self.authorized,
            &self.internal,
            k.src,
            k.dst,
            tunnel,
            ts_us,
        );
        let (rate, detail) = match shift {
            Shift::NewOneWay { bytes_per_s } => {
                if class != DstClass::External {
                    return;
                }
                (
                    bytes_per_s,
                    format!(
                        "new_one_way: a new flow at {bytes_per_s:.0} bytes/s with no flow from {} to {}",
                        k.dst, k.src
                    ),
                )
            }
            Shift::Jump {
                bytes_per_s,
                baseline_bytes_per_s,
            } => (
                bytes_per_s,
                format!(
                    "rate_jump: {bytes_per_s:.0} bytes/s, {:.1}x the baseline of {baseline_bytes_per_s:.0} bytes/s",
                    bytes_per_s / baseline_bytes_per_s.max(1.0)
                ),
            ),
        };
        let severity = if class == DstClass::External && tunnel.is_some() {
            Severity::High
        } else {
            Severity::Medium
        };
        let session = tunnel.map(|encap| SessionKey {
            encap,
            src: k.src,
            dst: k.dst,
            id: None,
        });
        let verdict = session
            .as_ref()
            .and_then(|s| self.flows.get(s))
            .map_or(Verdict::Undetermined, |s| s.verdict);
        let proto = match tunnel {
            Some(e) => format!("protocol {}, {e}", k.protocol),
            None => format!("protocol {}", k.protocol),
        };
        let what = match shift {
            Shift::NewOneWay { .. } => format!(
                "new one-way flow of {rate:.0} bytes/s from {} to {} ({proto}) in flow records",
                k.src, k.dst
            ),
            Shift::Jump { .. } => format!(
                "flow volume from {} to {} ({proto}) jumped to {rate:.0} bytes/s in flow records",
                k.src, k.dst
            ),
        };
        let facts = Facts {
            dst_class: class,
            verdict,
            evidence: vec![detail],
            counts: AlertCounts {
                packets: 0,
                bytes: 0,
                duplicates: 0,
            },
            first_seen_us: ts_us,
            last_seen_us: ts_us,
        };
        let mut a = Alert::new(
            AlertKind::FlowVolumeShift,
            severity,
            &self.sensor,
            ts_us,
            facts,
            what,
        );
        if let Some(s) = &session {
            a = a.with_session(s);
        }
        self.push(a);
    }

    /// The time flow sessions are judged at when no stream clock says it:
    /// the later of the last frame and the last flow record.
    fn now_for_flows(&self, ts: i64) -> i64 {
        ts.max(self.flow_last_us)
    }

    /// Judges the flow sessions changed since the last round and raises
    /// their alerts — unless a packet session is the same session
    /// ([`super::flow_sessions::family_key`]): its judgement, from the
    /// packets themselves, stands for both.
    fn judge_flows(&mut self, now_us: i64) {
        if self.flows.dirty == 0 {
            return;
        }
        let families: std::collections::HashSet<SessionKey> = self
            .sessions
            .iter()
            .map(|(k, _)| super::flow_sessions::family_key(k))
            .collect();
        let min_packets = self.alerts_cfg.verdict_min_packets;
        for k in self.flows.dirty_keys() {
            let merged =
                self.sessions.find(&k).is_some() || (k.id.is_none() && families.contains(&k));
            let Some(s) = self.flows.get(&k) else {
                continue;
            };
            let (verdict, evidence) = self.flows.judge(&k, s, min_packets);
            let at = now_us.max(s.last_us);
            let (class, expired) = verdict::classify(&self.authorized, &self.internal, &k, at);
            let Some(s) = self.flows.get_mut(&k) else {
                continue;
            };
            if class != s.dst_class || verdict != s.verdict {
                s.alerted = 0;
            }
            s.dirty = false;
            s.dst_class = class;
            s.verdict = verdict;
            s.evidence = evidence;
            s.authorization_expired = expired;
            s.merged = merged;
            if let Some(c) = &self.correlator
                && s.config_events.is_empty()
            {
                s.config_events = c.matching(&k, s.first_us, s.last_us);
            }
            if merged || verdict != Verdict::Mirror {
                continue;
            }
            let unexplained = self.correlator.is_some()
                && class != DstClass::Authorized
                && s.config_events.is_empty();
            self.raise_flow(&k, AlertKind::MirrorSessionNew, now_us);
            if unexplained {
                self.raise_flow(&k, AlertKind::MirrorWithoutConfig, now_us);
            }
            match class {
                DstClass::External => self.raise_flow(&k, AlertKind::MirrorToExternal, now_us),
                DstClass::Internal => {
                    self.raise_flow(&k, AlertKind::MirrorToUnauthorizedInternal, now_us)
                }
                DstClass::Authorized => {}
            }
            if expired {
                self.raise_flow(&k, AlertKind::AuthorizedMirrorExpired, now_us);
            }
        }
        self.flows.dirty = 0;
    }

    /// Raises `kind` for a flow session, once until its class or verdict
    /// changes, through the rate limit (a refused alert is retried when the
    /// session is judged again, against the retry bucket).
    fn raise_flow(&mut self, k: &SessionKey, kind: AlertKind, ts_us: i64) {
        let Some(s) = self.flows.get_mut(k) else {
            return;
        };
        if s.alerted & kind.bit() != 0 {
            return;
        }
        let what = format!(
            "{} (flow records: {})",
            alert::session_words(k),
            seen_by_labels(s.seen_by).join(", ")
        );
        let facts = Facts {
            dst_class: s.dst_class,
            verdict: s.verdict,
            evidence: s.evidence.clone(),
            counts: AlertCounts {
                packets: s.packets,
                bytes: s.bytes,
                duplicates: 0,
            },
            first_seen_us: s.first_us,
            last_seen_us: s.last_us,
        };
        let message = alert::session_message(kind, &what, 0, 0.0);
        let a =
            Alert::new(kind, kind.severity(), &self.sensor, ts_us, facts, message).with_session(k);
        let retry = s.suppressed & kind.bit() != 0;
        let admitted = if retry {
            self.limiter.admit_retry(&a)
        } else {
            self.limiter.admit(&a)
        };
        if !admitted {
            s.suppressed |= kind.bit();
            return;
        }
        s.suppressed &= !kind.bit();
        s.alerted |= kind.bit();
        s.alerted_ever |= kind.bit();
        self.alert_counts[a.kind as usize][a.severity as usize] += 1;
        self.pending.push(a);
    }
}

/// The packet fingerprint and (native packets of at least
/// `duplicates.min_payload_bytes`) the payload digest of a decoded frame,
/// when duplicates are looked for: a pure function of the frame and the
/// configuration, so the engine and the decode workers of
/// `replay --workers N` (N >= 2) compute the same values.
pub struct FrameHasher {
    fp: Fingerprinter,
    duplicates_enabled: bool,
    min_payload: usize,
}

impl FrameHasher {
    pub fn new(cfg: &Config) -> Self {
        FrameHasher {
            fp: Fingerprinter::new(fingerprint_key()),
            duplicates_enabled: cfg.duplicates.enabled,
            min_payload: cfg.duplicates.min_payload_bytes.max(1),
        }
    }

    #[inline(always)]
    pub fn hashes(&self, d: &Decoded<'_>) -> Hashes {
        match d.inner.as_ref().filter(|_| self.duplicates_enabled) {
            Some(ip) => {
                // Payload digests are kept for native packets only.
                let min_payload = if d.tunnel.is_none() {
                    self.min_payload
                } else {
                    usize::MAX
                };
                self.fp.packet_and_payload(ip, min_payload)
            }
            None => (None, None),
        }
    }
}

/// File name of a session's evidence capture.
pub fn evidence_file_name(k: &SessionKey) -> String {
    let id = k.id.map_or_else(|| "none".to_owned(), |i| i.to_string());
    format!("{}_{}_{}_{}.pcap", k.encap, k.src, k.dst, id).replace(':', "-")
}

/// Feeds an Ethernet frame to an engine through a default decoder (unit
/// tests of the modules that read an engine's state).
#[cfg(test)]
pub(crate) fn feed_for_tests(engine: &mut Engine, ts_us: i64, data: &[u8]) -> Processed {
    let decoder = crate::decode::Decoder::new(&crate::decode::DecoderConfig::default());
    let mut d = Decoded::default();
    decoder.decode_into(
        crate::decode::LinkType::Ethernet,
        data.len() as u32,
        data,
        &mut d,
    );
    engine.observe(
        &Frame {
            ts_us,
            ts_ns: 0,
            linktype: crate::decode::LinkType::Ethernet,
            orig_len: data.len() as u32,
            data,
        },
        &d,
    )
}

#[cfg(test)]
pub(crate) fn fingerprint_key_for_tests() -> [u64; 4] {
    fingerprint_key()
}

/// The fingerprint key: fixed so that replays are reproducible; change it
/// with `MIRRORWATCH_FINGERPRINT_KEY` (four numbers) to resist crafted
/// collisions. Read once per process; a value that is not four numbers is
/// warned about (once) and the fixed key is used.
fn fingerprint_key() -> [u64; 4] {
    static KEY: std::sync::OnceLock<[u64; 4]> = std::sync::OnceLock::new();
    *KEY.get_or_init(|| {
        let value = std::env::var("MIRRORWATCH_FINGERPRINT_KEY").ok();
        let (key, bad) = parse_fingerprint_key(value.as_deref());
        if bad {
            tracing::warn!(
                "MIRRORWATCH_FINGERPRINT_KEY is not four comma-separated 64-bit numbers; \
                 the fixed fingerprint key is used"
            );
        }
        key
    })
}

/// The key a `MIRRORWATCH_FINGERPRINT_KEY` value gives, and whether the
/// value was set but unusable (then the fixed key).
fn parse_fingerprint_key(value: Option<&str>) -> ([u64; 4], bool) {
    const FIXED: [u64; 4] = [
        0x6d69_7272_6f72_7761,
        0x7463_6820_7631_2e30,
        0x5431_3032_302e_3030,
        0x3120_6475_706c_6963,
    ];
    let Some(v) = value else {
        return (FIXED, false);
    };
    let n: Result<Vec<u64>, _> = v.split(',').map(|x| x.trim().parse::<u64>()).collect();
    match n.ok().and_then(|n| <[u64; 4]>::try_from(n).ok()) {
        Some(k) => (k, false),
        None => (FIXED, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_key_that_is_not_four_numbers_is_said_to_be_unusable() {
        let (fixed, bad) = parse_fingerprint_key(None);
        assert!(!bad);
        assert_eq!(
            parse_fingerprint_key(Some("1, 2,3,4")),
            ([1, 2, 3, 4], false)
        );
        for v in [
            "",
            "1,2,3",
            "1,2,3,4,5",
            "1,2,x,4",
            "1,2,3,-4",
            "1,2,3,18446744073709551616",
        ] {
            assert_eq!(parse_fingerprint_key(Some(v)), (fixed, true), "{v:?}");
        }
    }

    #[test]
    fn pipeline_is_first_in_first_out_and_holds_pipeline_entries() {
        let mut p = LookupQueue::<u32>::new();
        for i in 0..PIPELINE as u32 {
            assert_eq!(p.push(i), None, "{i}");
        }
        for i in 0..100u32 {
            assert_eq!(p.push(PIPELINE as u32 + i), Some(i));
        }
        let rest: Vec<u32> = std::iter::from_fn(|| p.pop()).collect();
        let want: Vec<u32> = (100..100 + PIPELINE as u32).collect();
        assert_eq!(rest, want);
        assert_eq!(p.pop(), None);
        assert_eq!(p.push(7), None);
        assert_eq!(p.pop(), Some(7));
    }
}
