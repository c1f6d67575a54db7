//! Mirror sessions from flow records, in the engine beside the packet
//! sessions. A record whose destination signature is a mirror
//! encapsulation — IP protocol 47, or UDP to a configured VXLAN,
//! VXLAN-GPE, Geneve, TZSP or GRE-in-UDP port — is part of a session keyed
//! like packet sessions. Where the record carries a sampled frame (sFlow
//! raw header, IPFIX packet sections), the frame goes through
//! mirrorwatch's own decoder, so the encapsulation and ERSPAN id / VNI are
//! exact; otherwise the key is the *family* (`gre` for protocol 47, else by
//! destination port) with no id. Counts of sampled records are scaled by
//! the sampling rate and marked `estimated`.
//!
//! Verdicts ([`FlowSessions::judge`]) use what flows can show: ERSPAN and
//! TZSP exist only to carry copies; a reverse session (same family, ends
//! swapped) makes an overlay; GRE from a flow exporter's own address (a
//! router or switch) with no reverse traffic, or a one-way session of at
//! least `alerts.verdict_min_packets` packets, is a mirror.
//!
//! A flow session and a packet session are the same session when their
//! keys are equal, or when the flow key names only the family
//! ([`family_key`]) of the packet key: the engine then reports one
//! session, `seen_by` both, and raises its alerts once.
use core::net::IpAddr;
use std::collections::{HashMap, HashSet};

use super::correlate::ConfigEventRef;
use super::{DstClass, SessionKey, Verdict};
use crate::config::Config;
use crate::decode::{Decoder, Encap, EncapSet, Tunnel};
use crate::source::flow::{Direction, FlowFormat, FlowRecord};

/// Exporters remembered per session.
const MAX_EXPORTERS: usize = 8;
/// Exporter addresses remembered over all (for "GRE from a device").
const MAX_KNOWN_EXPORTERS: usize = 4096;

/// The family a flow record without a sampled header can name for a
/// session of this encapsulation: every GRE kind is IP protocol 47, the
/// UDP encapsulations are told by port.
pub const fn family(e: Encap) -> Encap {
    match e {
        Encap::Erspan1 | Encap::Erspan2 | Encap::Erspan3 | Encap::GreTeb | Encap::Gre => Encap::Gre,
        other => other,
    }
}

/// The key a flow record without a sampled header gives the session of
/// packet key `k`.
pub fn family_key(k: &SessionKey) -> SessionKey {
    SessionKey {
        encap: family(k.encap),
        id: None,
        ..*k
    }
}

/// What is known about one flow-derived session, and how it was judged.
#[derive(Debug, Clone, Default)]
pub struct FlowSession {
    pub packets: u64,
    pub bytes: u64,
    pub first_us: i64,
    pub last_us: i64,
    /// Bits of [`FlowFormat`] (as `seen_by` labels).
    pub seen_by: u16,
    pub exporters: Vec<IpAddr>,
    pub sampling_rate: u32,
    pub estimated: bool,
    pub nested: EncapSet,
    pub vlans: Vec<u16>,
    pub ingress: u64,
    pub egress: u64,
    pub truncated: u64,
    /// Changed since it was last judged.
    pub dirty: bool,
    pub dst_class: DstClass,
    pub verdict: Verdict,
    pub evidence: Vec<String>,
    pub authorization_expired: bool,
    /// Alert kinds raised since the class or verdict last changed, and
    /// ever (bits of `AlertKind`).
    pub alerted: u16,
    pub alerted_ever: u16,
    /// Kinds the rate limit refused (retried against the retry bucket).
    pub suppressed: u16,
    /// A packet session is the same session: its judgement and alerts
    /// stand for both.
    pub merged: bool,
    pub config_events: Vec<ConfigEventRef>,
}

/// The flow-derived sessions, bounded like the packet inventory (least
/// recently seen evicted, counted).
pub struct FlowSessions {
    decoder: Decoder,
    udp_roles: HashMap<u16, Encap>,
    sessions: HashMap<SessionKey, FlowSession>,
    cap: usize,
    pub evicted: u64,
    exporters: HashSet<IpAddr>,
    /// Records that were part of a session.
    pub session_records: u64,
    /// Records whose sampled frame decoded as ordinary traffic (no session
    /// even when the record's ports looked like one).
    pub sampled_ordinary: u64,
    /// Sessions changed since the last judgement round.
    pub dirty: usize,
}

impl FlowSessions {
    pub fn new(cfg: &Config) -> Self {
        let d = &cfg.decode;
        let mut udp_roles = HashMap::new();
        for (ports, e) in [
            (&d.vxlan_ports, Encap::Vxlan),
            (&d.vxlan_gpe_ports, Encap::VxlanGpe),
            (&d.geneve_ports, Encap::Geneve),
            (&d.tzsp_ports, Encap::Tzsp),
            (&d.gre_udp_ports, Encap::Gre),
        ] {
            for p in ports {
                udp_roles.insert(*p, e);
            }
        }
        FlowSessions {
            decoder: Decoder::new(d),
            udp_roles,
            sessions: HashMap::new(),
            cap: cfg.inventory.max_sessions.max(1),
            evicted: 0,
            exporters: HashSet::new(),
            session_records: 0,
            sampled_ordinary: 0,
            dirty: 0,
        }
    }

    /// Sessions held now.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&SessionKey, &FlowSession)> {
        self.sessions.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&SessionKey, &mut FlowSession)> {
        self.sessions.iter_mut()
    }

    pub fn get(&self, k: &SessionKey) -> Option<&FlowSession> {
        self.sessions.get(k)
    }

    pub fn get_mut(&mut self, k: &SessionKey) -> Option<&mut FlowSession> {
        self.sessions.get_mut(k)
    }

    /// The keys of the sessions changed since they were last judged.
    pub fn dirty_keys(&self) -> Vec<SessionKey> {
        self.sessions
            .iter()
            .filter(|(_, s)| s.dirty)
            .map(|(k, _)| *k)
            .collect()
    }

    /// What survives a restart.
    pub fn saved(&self) -> Vec<super::saved::SavedFlowSession> {
        self.sessions
            .iter()
            .map(|(k, s)| super::saved::SavedFlowSession {
                key: *k,
                packets: s.packets,
                bytes: s.bytes,
                first_seen_us: s.first_us,
                last_seen_us: s.last_us,
                seen_by: s.seen_by,
                exporters: s.exporters.clone(),
                sampling_rate: s.sampling_rate,
                estimated: s.estimated,
                dst_class: s.dst_class,
                verdict: s.verdict,
                alerted: s.alerted,
                alerted_ever: s.alerted_ever,
            })
            .collect()
    }

    /// Takes back saved sessions: counted on from where they were, judged
    /// as they were, nothing raised again that was raised.
    pub fn restore(&mut self, saved: Vec<super::saved::SavedFlowSession>) {
        for x in saved {
            if self.sessions.len() >= self.cap {
                break;
            }
            for e in &x.exporters {
                if self.exporters.len() < MAX_KNOWN_EXPORTERS {
                    self.exporters.insert(*e);
                }
            }
            self.sessions.insert(
                x.key,
                FlowSession {
                    packets: x.packets,
                    bytes: x.bytes,
                    first_us: x.first_seen_us,
                    last_us: x.last_seen_us,
                    seen_by: x.seen_by,
                    exporters: x.exporters,
                    sampling_rate: x.sampling_rate,
                    estimated: x.estimated,
                    dst_class: x.dst_class,
                    verdict: x.verdict,
                    alerted: x.alerted,
                    alerted_ever: x.alerted_ever,
                    ..FlowSession::default()
                },
            );
        }
    }

    /// Marks every session for judging again (a configuration reload).
    pub fn mark_all_dirty(&mut self) {
        for s in self.sessions.values_mut() {
            s.dirty = true;
        }
        self.dirty = self.sessions.len();
    }

    /// The flow sessions that are the packet session `k`: the one of the
    /// same key, and the one of its family key.
    pub fn same_as_packet(&self, k: &SessionKey) -> [Option<&FlowSession>; 2] {
        let fk = family_key(k);
        [
            self.sessions.get(k),
            (fk != *k).then(|| self.sessions.get(&fk)).flatten(),
        ]
    }

    /// The family of a record from its fields alone (or the tunnel the
    /// record names, for logs that say it).
    pub fn family_of(&self, r: &FlowRecord<'_>) -> Option<Encap> {
        if r.tunnel.is_some() {
            return r.tunnel;
        }
        match r.protocol {
            47 => Some(Encap::Gre),
            17 => self.udp_roles.get(&r.dst_port).copied(),
            _ => None,
        }
    }

    /// Takes one record; returns the key of the session it counted for,
    /// if any. A record from a log file has no sampled frame and no
    /// exporter address: like an unsampled NetFlow record, its fields
    /// alone decide, and where it also counts the reverse direction
    /// (`rev_packets`) that is taken as a record the other way.
    pub fn record(&mut self, r: &FlowRecord<'_>) -> Option<SessionKey> {
        let known = !r.exporter.is_unspecified();
        if known && self.exporters.len() < MAX_KNOWN_EXPORTERS {
            self.exporters.insert(r.exporter);
        }
        let mut nested = EncapSet::default();
        let mut vlans = [0u16; 2];
        let (mut ingress, mut egress, mut truncated) = (0u64, 0u64, 0u64);
        let mut key = None;
        if let Some(f) = r.frame {
            let d = self.decoder.decode(f.linktype, f.orig_len, f.data);
            match (d.tunnel, d.inner) {
                (Some(t), _) => {
                    key = Some(t);
                    nested = d.nested;
                    vlans = d.inner_vlans;
                    match d.egress {
                        Some(true) => egress = 1,
                        Some(false) => ingress = 1,
                        None => {}
                    }
                    truncated = u64::from(d.truncated);
                }
                (None, Some(_)) => {
                    self.sampled_ordinary += 1;
                    return None;
                }
                // Too damaged to say: the record's own fields decide.
                (None, None) => {}
            }
        }
        let key = match key {
            Some(k) => k,
            None => {
                let encap = self.family_of(r)?;
                if r.src.is_unspecified() || r.dst.is_unspecified() {
                    return None;
                }
                Tunnel {
                    encap,
                    src: r.src,
                    dst: r.dst,
                    id: None,
                }
            }
        };
        let rate = u64::from(r.sampling_rate.max(1));
        let scale = |n: u64| n.saturating_mul(rate);
        if !self.sessions.contains_key(&key) && self.sessions.len() >= self.cap {
            self.evict();
        }
        self.session_records += 1;
        let s = self.sessions.entry(key).or_insert_with(|| FlowSession {
            first_us: r.start_us,
            last_us: r.end_us,
            ..FlowSession::default()
        });
        if !s.dirty {
            s.dirty = true;
            self.dirty += 1;
        }
        s.packets = s.packets.saturating_add(scale(r.packets));
        s.bytes = s.bytes.saturating_add(scale(r.bytes));
        s.first_us = s.first_us.min(r.start_us);
        s.last_us = s.last_us.max(r.end_us);
        s.seen_by |= 1 << (r.format as u16);
        if known && s.exporters.len() < MAX_EXPORTERS && !s.exporters.contains(&r.exporter) {
            s.exporters.push(r.exporter);
        }
        s.sampling_rate = s.sampling_rate.max(r.sampling_rate.max(1));
        s.estimated |= rate > 1;
        s.nested.union(nested);
        for v in vlans.into_iter().filter(|v| *v != 0) {
            if !s.vlans.contains(&v) && s.vlans.len() < 64 {
                s.vlans.push(v);
            }
        }
        // A sampled ERSPAN III header says the direction; else the record.
        let (ing, eg) = match (ingress + egress, r.direction) {
            (0, Some(Direction::Ingress)) => (1, 0),
            (0, Some(Direction::Egress)) => (0, 1),
            _ => (ingress, egress),
        };
        // A sampled frame stands for at least one packet; a log record for
        // what it counts.
        let n = if r.frame.is_some() {
            r.packets.max(1)
        } else {
            r.packets
        };
        s.ingress += scale(ing * n);
        s.egress += scale(eg * n);
        s.truncated += scale(truncated);
        if r.frame.is_none() && (r.rev_packets > 0 || r.rev_bytes > 0) {
            // The same connection's other direction: reverse traffic of the
            // same family between the same ends.
            let back = FlowRecord {
                src: r.dst,
                dst: r.src,
                src_port: r.dst_port,
                dst_port: r.src_port,
                packets: r.rev_packets,
                bytes: r.rev_bytes,
                rev_packets: 0,
                rev_bytes: 0,
                direction: None,
                tunnel: Some(key.encap),
                ..*r
            };
            self.record(&back);
        }
        // The reverse session's verdict may change with this one.
        let reverse = SessionKey {
            src: key.dst,
            dst: key.src,
            ..key
        };
        if let Some(rs) = self.sessions.get_mut(&reverse)
            && !rs.dirty
        {
            rs.dirty = true;
            self.dirty += 1;
        }
        Some(key)
    }

    /// Drops the least recently seen eighth (at least one): a selection,
    /// not a sort, so that a full table costs O(n) per eighth.
    fn evict(&mut self) {
        let n = (self.sessions.len() / 8).max(1);
        let mut by_age: Vec<(i64, SessionKey)> =
            self.sessions.iter().map(|(k, s)| (s.last_us, *k)).collect();
        if n < by_age.len() {
            by_age.select_nth_unstable_by_key(n, |(t, _)| *t);
        }
        for (_, k) in by_age.into_iter().take(n) {
            if self.sessions.remove(&k).is_some_and(|s| s.dirty) {
                self.dirty = self.dirty.saturating_sub(1);
            }
            self.evicted += 1;
        }
    }

    /// The verdict of one session and the evidence for it: a pure function
    /// of what the flow records show.
    pub fn judge(
        &self,
        k: &SessionKey,
        s: &FlowSession,
        min_packets: u64,
    ) -> (Verdict, Vec<String>) {
        let mut ev = Vec::new();
        if matches!(
            k.encap,
            Encap::Erspan1 | Encap::Erspan2 | Encap::Erspan3 | Encap::Tzsp
        ) {
            ev.push(format!(
                "mirror_encapsulation: {} exists only to carry copies of traffic",
                k.encap
            ));
            return (Verdict::Mirror, ev);
        }
        let reverse = SessionKey {
            src: k.dst,
            dst: k.src,
            ..*k
        };
        if let Some(r) = self.sessions.get(&reverse) {
            ev.push(format!(
                "reverse_traffic: {} packets from {} to {} in flow records",
                r.packets, k.dst, k.src
            ));
            return (Verdict::Overlay, ev);
        }
        ev.push(format!(
            "one_way: no flow from {} to {} with the same encapsulation",
            k.dst, k.src
        ));
        let from_device =
            matches!(k.encap, Encap::Gre | Encap::GreTeb) && self.exporters.contains(&k.src);
        if from_device {
            ev.push(format!(
                "from_network_device: {} exports flows (a router or switch) and sends this GRE",
                k.src
            ));
        }
        let verdict = if from_device || s.packets >= min_packets {
            Verdict::Mirror
        } else {
            ev.push(format!(
                "too_few_packets: {} of {} needed",
                s.packets, min_packets
            ));
            Verdict::Undetermined
        };
        (verdict, ev)
    }
}

/// The distinct `seen_by` labels of a format bit set, in a fixed order.
pub fn seen_by_labels(bits: u16) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    for f in FlowFormat::ALL {
        if bits & (1 << (f as u8)) != 0 && !v.contains(&f.seen_by()) {
            v.push(f.seen_by());
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::flow::SampledFrame;
    use core::net::Ipv4Addr;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn rec(
        format: FlowFormat,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        dport: u16,
        packets: u64,
    ) -> FlowRecord<'static> {
        let mut r = FlowRecord::empty(format, v4(192, 0, 2, 1), 0, 1_000_000);
        r.src = src;
        r.dst = dst;
        r.protocol = proto;
        r.dst_port = dport;
        r.packets = packets;
        r.bytes = packets * 100;
        r
    }

    /// An Ethernet/IPv4/GRE/ERSPAN II frame of session 100 from 10.1.0.2
    /// to 203.0.113.9, with a 14-byte inner Ethernet header.
    pub(crate) fn erspan2_frame() -> Vec<u8> {
        let mut f = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
        let total: u16 = 20 + 8 + 8 + 14;
        f.extend([
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0,
            0,
            64,
            47,
            0,
            0,
        ]);
        f.extend([10, 1, 0, 2, 203, 0, 113, 9]);
        // GRE with sequence number, protocol ERSPAN type II (0x88be).
        f.extend([0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1]);
        // ERSPAN II: version 1, VLAN 0; COS/En/T, session id 100; index.
        f.extend([0x10, 0x00, 0x00, 100, 0, 0, 0, 0]);
        f.extend([0xff; 12]);
        f.extend([0x08, 0x00]);
        f
    }

    fn verdict_of(fs: &FlowSessions, k: &SessionKey) -> (Verdict, Vec<String>) {
        let s = fs.get(k).expect("session");
        fs.judge(k, s, 5)
    }

    fn key(encap: Encap, src: IpAddr, dst: IpAddr) -> SessionKey {
        SessionKey {
            encap,
            src,
            dst,
            id: None,
        }
    }

    #[test]
    fn families_from_fields_and_verdicts() {
        let cfg = Config::default();
        let mut fs = FlowSessions::new(&cfg);
        let sw = v4(192, 0, 2, 1); // the exporter itself
        let out = v4(203, 0, 113, 9);
        // GRE from the exporter to an outside address: one record, mirror.
        fs.record(&rec(FlowFormat::NetflowV5, sw, out, 47, 0, 2));
        // VXLAN both ways: overlay.
        let (a, b) = (v4(10, 0, 0, 1), v4(10, 0, 0, 2));
        fs.record(&rec(FlowFormat::NetflowV9, a, b, 17, 4789, 10));
        fs.record(&rec(FlowFormat::NetflowV9, b, a, 17, 4789, 10));
        // Geneve one way, three packets: too few.
        fs.record(&rec(FlowFormat::Ipfix, a, v4(10, 0, 0, 3), 17, 6081, 3));
        // Geneve one way, sampled 1:100 -> estimated, mirror.
        let mut r = rec(FlowFormat::Ipfix, a, v4(198, 51, 100, 7), 17, 6081, 3);
        r.sampling_rate = 100;
        fs.record(&r);
        // Ordinary traffic and a port that is not a tunnel: nothing.
        assert_eq!(fs.record(&rec(FlowFormat::Ipfix, a, b, 6, 4789, 50)), None);
        assert_eq!(fs.record(&rec(FlowFormat::Ipfix, a, b, 17, 53, 50)), None);
        assert_eq!(fs.len(), 5);
        assert_eq!(fs.session_records, 5);
        let (v, ev) = verdict_of(&fs, &key(Encap::Gre, sw, out));
        assert_eq!(v, Verdict::Mirror);
        assert!(ev.iter().any(|e| e.starts_with("from_network_device")));
        assert_eq!(
            verdict_of(&fs, &key(Encap::Vxlan, a, b)).0,
            Verdict::Overlay
        );
        assert_eq!(
            verdict_of(&fs, &key(Encap::Geneve, a, v4(10, 0, 0, 3))).0,
            Verdict::Undetermined
        );
        let k = key(Encap::Geneve, a, v4(198, 51, 100, 7));
        let est = fs.get(&k).expect("sampled");
        assert_eq!((est.packets, est.bytes), (300, 30_000));
        assert_eq!((est.estimated, est.sampling_rate), (true, 100));
        assert_eq!(verdict_of(&fs, &k).0, Verdict::Mirror);
        assert_eq!(seen_by_labels(est.seen_by), ["ipfix"]);
        assert_eq!(fs.dirty_keys().len(), 5);
    }

    #[test]
    fn sampled_frames_give_the_exact_encapsulation_and_id() {
        let cfg = Config::default();
        let mut fs = FlowSessions::new(&cfg);
        let frame = erspan2_frame();
        let mut r = FlowRecord::empty(FlowFormat::Sflow, v4(192, 0, 2, 7), 3, 5_000_000);
        r.packets = 1;
        r.bytes = frame.len() as u64;
        r.sampling_rate = 512;
        r.frame = Some(SampledFrame {
            linktype: crate::decode::LinkType::Ethernet,
            orig_len: frame.len() as u32,
            data: &frame,
        });
        let k = fs.record(&r).expect("a session");
        fs.record(&r);
        // The same record whose frame is ordinary TCP makes no session.
        let mut tcp = erspan2_frame();
        tcp[23] = 6;
        let mut o = r;
        o.frame = Some(SampledFrame {
            data: &tcp,
            ..r.frame.expect("frame")
        });
        assert_eq!(fs.record(&o), None);
        assert_eq!(fs.sampled_ordinary, 1);
        assert_eq!((k.encap, k.id), (Encap::Erspan2, Some(100)));
        assert_eq!((k.src, k.dst), (v4(10, 1, 0, 2), v4(203, 0, 113, 9)));
        let s = fs.get(&k).expect("session");
        assert_eq!((s.packets, s.estimated), (1024, true));
        assert_eq!(seen_by_labels(s.seen_by), ["sflow"]);
        assert_eq!(verdict_of(&fs, &k).0, Verdict::Mirror);
        // The packet session of the same key, and of another GRE kind
        // between the same ends (through the family key), are this one.
        assert!(fs.same_as_packet(&k)[0].is_some());
        let netflow = fs.record(&rec(FlowFormat::NetflowV9, k.src, k.dst, 47, 0, 3));
        assert_eq!(netflow, Some(family_key(&k)));
        let p3 = SessionKey {
            encap: Encap::Erspan3,
            id: Some(9),
            ..k
        };
        let same = fs.same_as_packet(&p3);
        assert!(same[0].is_none() && same[1].is_some());
    }

    #[test]
    fn the_inventory_is_bounded_and_evictions_counted() {
        let mut cfg = Config::default();
        cfg.inventory.max_sessions = 16;
        let mut fs = FlowSessions::new(&cfg);
        for i in 0..200u32 {
            let mut r = rec(
                FlowFormat::NetflowV5,
                v4(10, 0, (i >> 8) as u8, i as u8),
                v4(203, 0, 113, 9),
                47,
                0,
                1,
            );
            r.end_us = i64::from(i);
            fs.record(&r);
            assert!(fs.len() <= 16);
            assert!(fs.dirty <= fs.len());
        }
        assert!(fs.evicted >= 184, "{}", fs.evicted);
        let newest = key(Encap::Gre, v4(10, 0, 0, 199), v4(203, 0, 113, 9));
        assert!(fs.get(&newest).is_some(), "the newest stays");
    }
}
