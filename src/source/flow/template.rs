//! Templates of NetFlow v9 and IPFIX, per (exporter, observation domain):
//! a bounded cache (least recently used evicted, counted), per-domain
//! state learned from options data (sampling rate, system init time), data
//! sets held until their template arrives (bounded in count and time), and
//! the decoding of data records through a template (shared by both
//! versions: IPFIX information elements 1-127 are the v9 field types).
use core::net::IpAddr;
use std::collections::{HashMap, VecDeque};

use super::{Direction, FlowCounters, FlowError, FlowFormat, FlowRecord, SampledFrame, be};
use crate::decode::LinkType;

/// A variable-length field (IPFIX, RFC 7011 section 7).
pub const VARLEN: u16 = 65535;

/// Where templates live: one exporter's observation domain, per version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DomainKey {
    pub exporter: IpAddr,
    pub domain: u32,
    pub ipfix: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplateKey {
    pub domain: DomainKey,
    pub id: u16,
}

/// One field of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub id: u16,
    /// Bytes, or [`VARLEN`].
    pub len: u16,
    /// Read for its length only: an enterprise-specific element, or a
    /// NetFlow v9 scope field (whose types are not field types).
    pub skip: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub fields: Box<[Field]>,
    /// An options template (its records describe the exporter, not flows).
    pub options: bool,
    /// Smallest record: fixed lengths plus one byte per variable field.
    pub min_len: usize,
}

impl Template {
    pub fn new(fields: Vec<Field>, options: bool) -> Self {
        let min_len = fields
            .iter()
            .map(|f| {
                if f.len == VARLEN {
                    1
                } else {
                    usize::from(f.len)
                }
            })
            .sum();
        Template {
            fields: fields.into_boxed_slice(),
            options,
            min_len,
        }
    }
}

/// What options data taught about a domain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DomainState {
    pub sampling_rate: Option<u32>,
    /// `systemInitTimeMilliseconds` (IPFIX): the base of sysUpTime fields.
    pub system_init_ms: Option<u64>,
    last_used: u64,
}

/// What a data set needs besides its template: the header's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetContext {
    pub format: FlowFormat,
    /// Export time of the header, seconds since the epoch.
    pub export_secs: u32,
    /// NetFlow v9 header uptime, milliseconds.
    pub uptime_ms: Option<u32>,
}

/// A data set that arrived before its template.
struct Held {
    key: TemplateKey,
    at_us: i64,
    ctx: SetContext,
    data: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
pub struct PendingConfig {
    pub max: usize,
    pub hold_us: i64,
}

pub struct TemplateCache {
    templates: HashMap<TemplateKey, (Template, u64)>,
    domains: HashMap<DomainKey, DomainState>,
    cap: usize,
    clock: u64,
    pending: VecDeque<Held>,
    pending_cfg: PendingConfig,
}

impl TemplateCache {
    pub fn new(cap: usize, pending: PendingConfig) -> Self {
        TemplateCache {
            templates: HashMap::new(),
            domains: HashMap::new(),
            cap: cap.max(1),
            clock: 0,
            pending: VecDeque::new(),
            pending_cfg: pending,
        }
    }

    /// Templates held per exporter address.
    pub fn by_exporter(&self) -> HashMap<IpAddr, usize> {
        let mut m = HashMap::new();
        for k in self.templates.keys() {
            *m.entry(k.domain.exporter).or_insert(0) += 1;
        }
        m
    }

    pub fn len(&self) -> usize {
        self.templates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Adds or replaces a template; returns how many were evicted for it.
    pub fn insert(&mut self, key: TemplateKey, t: Template) -> u64 {
        let now = self.tick();
        let mut evicted = 0;
        if !self.templates.contains_key(&key) && self.templates.len() >= self.cap {
            evicted = evict_oldest(&mut self.templates, |v| v.1);
        }
        self.templates.insert(key, (t, now));
        evicted
    }

    pub fn get(&mut self, key: &TemplateKey) -> Option<&Template> {
        let now = self.tick();
        let e = self.templates.get_mut(key)?;
        e.1 = now;
        Some(&e.0)
    }

    /// Withdraws one template; true if it was there.
    pub fn withdraw(&mut self, key: &TemplateKey) -> bool {
        self.templates.remove(key).is_some()
    }

    /// Withdraws every template (or every options template) of a domain.
    pub fn withdraw_all(&mut self, d: DomainKey, options: bool) -> u64 {
        let before = self.templates.len();
        self.templates
            .retain(|k, (t, _)| !(k.domain == d && t.options == options));
        (before - self.templates.len()) as u64
    }

    pub fn domain(&self, d: &DomainKey) -> DomainState {
        self.domains.get(d).copied().unwrap_or_default()
    }

    pub fn domain_mut(&mut self, d: DomainKey) -> &mut DomainState {
        let now = self.tick();
        if !self.domains.contains_key(&d) && self.domains.len() >= self.cap {
            evict_oldest(&mut self.domains, |s| s.last_used);
        }
        let s = self.domains.entry(d).or_default();
        s.last_used = now;
        s
    }

    /// Holds a data set until its template arrives; returns how many held
    /// sets were dropped to make room or for age.
    pub fn hold(&mut self, key: TemplateKey, now_us: i64, ctx: SetContext, data: &[u8]) -> u64 {
        let mut dropped = self.expire_pending(now_us);
        if self.pending_cfg.max == 0 {
            return dropped + 1;
        }
        while self.pending.len() >= self.pending_cfg.max {
            self.pending.pop_front();
            dropped += 1;
        }
        self.pending.push_back(Held {
            key,
            at_us: now_us,
            ctx,
            data: data.to_vec(),
        });
        dropped
    }

    /// Drops held sets older than the hold time; returns how many.
    pub fn expire_pending(&mut self, now_us: i64) -> u64 {
        // Held in arrival order: the oldest are at the front (called per
        // datagram, so it looks at one entry when nothing is due).
        let hold = self.pending_cfg.hold_us;
        let mut n = 0;
        while self
            .pending
            .front()
            .is_some_and(|h| now_us.saturating_sub(h.at_us) > hold)
        {
            self.pending.pop_front();
            n += 1;
        }
        n
    }

    /// Drops every held set (end of input); returns how many.
    pub fn drop_pending(&mut self) -> u64 {
        let n = self.pending.len() as u64;
        self.pending.clear();
        n
    }

    fn take_pending(&mut self, key: &TemplateKey) -> Vec<Held> {
        if !self.pending.iter().any(|h| h.key == *key) {
            return Vec::new();
        }
        let (mine, rest): (VecDeque<Held>, VecDeque<Held>) =
            self.pending.drain(..).partition(|h| h.key == *key);
        self.pending = rest;
        mine.into()
    }
}

/// Removes the least recently used eighth of a map (at least one).
fn evict_oldest<K: Copy + Eq + core::hash::Hash, V>(
    m: &mut HashMap<K, V>,
    used: impl Fn(&V) -> u64,
) -> u64 {
    let n = (m.len() / 8).max(1);
    let mut ages: Vec<(u64, K)> = m.iter().map(|(k, v)| (used(v), *k)).collect();
    ages.sort_unstable_by_key(|a| a.0);
    for (_, k) in ages.iter().take(n) {
        m.remove(k);
    }
    n.min(ages.len()) as u64
}

/// The sets of a NetFlow v9 or IPFIX message body `b` from `at`, as (set
/// id, set body). With `padding`, fewer than 4 bytes left at the end are
/// padding (v9); without, any byte left must start a set (IPFIX). A set
/// shorter than its own header or longer than the message ends the walk
/// with the error.
pub fn sets(
    b: &[u8],
    mut at: usize,
    padding: bool,
) -> impl Iterator<Item = Result<(u16, &[u8]), FlowError>> {
    std::iter::from_fn(move || {
        let left = b.len().saturating_sub(at);
        if left == 0 || (padding && left < 4) {
            return None;
        }
        let r = match (be::u16(b, at), be::u16(b, at + 2)) {
            (Some(id), Some(len)) if usize::from(len) >= 4 => {
                let len = usize::from(len);
                match b.get(at + 4..at + len) {
                    Some(set) => {
                        at += len;
                        return Some(Ok((id, set)));
                    }
                    None => FlowError::Truncated,
                }
            }
            (Some(_), Some(_)) => FlowError::BadLength,
            _ => FlowError::Truncated,
        };
        at = b.len();
        Some(Err(r))
    })
}

/// Adds a template and decodes the data sets that were waiting for it.
pub fn add_template(
    cache: &mut TemplateCache,
    counters: &mut FlowCounters,
    key: TemplateKey,
    t: Template,
    sink: &mut dyn FnMut(&FlowRecord<'_>),
) {
    counters.templates_added += 1;
    counters.templates_evicted += cache.insert(key, t);
    for h in cache.take_pending(&key) {
        counters.pending_decoded += 1;
        data_set(cache, counters, key, h.ctx, h.at_us, &h.data, sink);
    }
}

/// Decodes the records of one data set, or holds the set when its
/// template is unknown.
pub fn data_set(
    cache: &mut TemplateCache,
    counters: &mut FlowCounters,
    key: TemplateKey,
    ctx: SetContext,
    now_us: i64,
    data: &[u8],
    sink: &mut dyn FnMut(&FlowRecord<'_>),
) {
    let Some(t) = cache.get(&key) else {
        counters.pending_held += 1;
        counters.pending_dropped += cache.hold(key, now_us, ctx, data);
        return;
    };
    if t.min_len == 0 {
        counters.records_skipped += 1;
        return;
    }
    // The template is cloned out of the cache (a few dozen bytes) so that
    // options records can update the domain state while it is read.
    let t = t.clone();
    let state = cache.domain(&key.domain);
    let mut at = 0;
    while data.len().saturating_sub(at) >= t.min_len {
        let Some(used) = record(&t, key, ctx, state, &data[at..], cache, counters, sink) else {
            // A variable-length field runs past the set: the rest is
            // padding or damage; stop here.
            break;
        };
        at += used.max(1);
    }
}

/// Fields a template may have. Exporters send a few dozen (nProbe's
/// largest, a few hundred); the bound keeps a cache of `max_templates`
/// templates within a few tens of MB whatever the exporters send.
pub const MAX_TEMPLATE_FIELDS: u16 = 1024;

/// Reads `count` field specifiers at `at`: (type, length) pairs, with an
/// enterprise number after the type when its top bit is set (IPFIX only).
/// Returns the fields and the offset after them; None for a template of
/// more than [`MAX_TEMPLATE_FIELDS`] fields or one that runs past `b`.
/// Fields of length 0 carry no value and are left out, so that every
/// field of a record takes at least a byte: decoding a data set costs at
/// most its length in field steps (a template of thousands of empty fields
/// and one byte made a 64 KB datagram cost 10^9 steps).
pub fn parse_fields(
    b: &[u8],
    mut at: usize,
    count: u16,
    ipfix: bool,
) -> Option<(Vec<Field>, usize)> {
    if count > MAX_TEMPLATE_FIELDS {
        return None;
    }
    let mut fields = Vec::with_capacity(usize::from(count).min(64));
    for _ in 0..count {
        let id = be::u16(b, at)?;
        let len = be::u16(b, at + 2)?;
        at += 4;
        let enterprise = ipfix && id & 0x8000 != 0;
        if enterprise {
            be::u32(b, at)?;
            at += 4;
        }
        if !ipfix && len == VARLEN {
            return None;
        }
        if len == 0 {
            continue;
        }
        fields.push(Field {
            id: id & 0x7fff,
            len,
            skip: enterprise,
        });
    }
    Some((fields, at))
}

/// Field values of one record that make a flow record.
#[derive(Default)]
struct Values<'a> {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    src_port: u16,
    dst_port: u16,
    protocol: u8,
    octets: Option<u64>,
    packets: Option<u64>,
    direction: Option<Direction>,
    start_us: Option<i64>,
    end_us: Option<i64>,
    start_uptime_ms: Option<u64>,
    end_uptime_ms: Option<u64>,
    observed_us: Option<i64>,
    /// samplingInterval / samplerRandomInterval: one in N.
    sampling_interval: Option<u64>,
    /// samplingPacketInterval and samplingPacketSpace: N selected, then M
    /// skipped.
    packet_interval: Option<u64>,
    packet_space: Option<u64>,
    system_init_ms: Option<u64>,
    frame: Option<(LinkType, &'a [u8])>,
    frame_size: Option<u64>,
    section_octets: Option<u64>,
}

impl Values<'_> {
    /// The sampling rate these fields give (one in N packets), if any.
    fn rate(&self) -> Option<u32> {
        let r = match (self.sampling_interval, self.packet_interval) {
            (Some(n), _) if n > 0 => n,
            (_, Some(n)) if n > 0 => (n.saturating_add(self.packet_space.unwrap_or(0))) / n,
            _ => return None,
        };
        Some(u32::try_from(r).unwrap_or(u32::MAX).max(1))
    }
}

/// Seconds between the NTP epoch (1900) and the Unix epoch.
const NTP_UNIX: i64 = 2_208_988_800;

/// An NTP-format timestamp (`dateTimeMicroseconds`/`Nanoseconds`).
fn ntp_us(s: &[u8]) -> Option<i64> {
    let v = be::uint(s).filter(|_| s.len() == 8)?;
    let secs = (v >> 32) as i64 - NTP_UNIX;
    let frac = ((v & 0xffff_ffff) * 1_000_000) >> 32;
    Some(secs * 1_000_000 + frac as i64)
}

/// Reads one record; returns its length, or None when it does not fit.
#[allow(clippy::too_many_arguments)]
fn record(
    t: &Template,
    key: TemplateKey,
    ctx: SetContext,
    state: DomainState,
    b: &[u8],
    cache: &mut TemplateCache,
    counters: &mut FlowCounters,
    sink: &mut dyn FnMut(&FlowRecord<'_>),
) -> Option<usize> {
    let mut v = Values::default();
    let mut at = 0usize;
    for f in t.fields.iter() {
        let len = if f.len == VARLEN {
            let first = be::u8(b, at)?;
            at += 1;
            if first == 255 {
                let l = be::u16(b, at)?;
                at += 2;
                usize::from(l)
            } else {
                usize::from(first)
            }
        } else {
            usize::from(f.len)
        };
        let s = b.get(at..at.checked_add(len)?)?;
        at += len;
        if f.skip {
            continue;
        }
        field(&mut v, f.id, s);
    }
    if t.options {
        counters.options_records += 1;
        let d = cache.domain_mut(key.domain);
        if let Some(rate) = v.rate() {
            d.sampling_rate = Some(rate);
        }
        if let Some(ms) = v.system_init_ms {
            d.system_init_ms = Some(ms);
        }
        return Some(at);
    }
    let export_us = i64::from(ctx.export_secs) * 1_000_000;
    let uptime_base_us = match ctx.uptime_ms {
        Some(up) => Some(super::v5::boot_us(ctx.export_secs, 0, up)),
        None => state
            .system_init_ms
            .and_then(|ms| i64::try_from(ms).ok())
            .map(|ms| ms.saturating_mul(1000)),
    };
    let from_uptime =
        |ms: Option<u64>| Some(uptime_base_us? + i64::try_from(ms?).ok()?.saturating_mul(1000));
    let start = v
        .start_us
        .or_else(|| from_uptime(v.start_uptime_ms))
        .or(v.observed_us)
        .unwrap_or(export_us);
    let end = v
        .end_us
        .or_else(|| from_uptime(v.end_uptime_ms))
        .or(v.observed_us)
        .unwrap_or(start);
    let mut rec = FlowRecord::empty(ctx.format, key.domain.exporter, key.domain.domain, start);
    rec.end_us = end;
    if let Some(a) = v.src {
        rec.src = a;
    }
    if let Some(a) = v.dst {
        rec.dst = a;
    }
    rec.src_port = v.src_port;
    rec.dst_port = v.dst_port;
    rec.protocol = v.protocol;
    rec.direction = v.direction;
    rec.sampling_rate = v.rate().or(state.sampling_rate).unwrap_or(1).max(1);
    if let Some((linktype, data)) = v.frame {
        // softflowd and others pad sections to a fixed length and say how
        // much of it is real in sectionExportedOctets.
        let real = v
            .section_octets
            .and_then(|n| usize::try_from(n).ok())
            .map_or(data.len(), |n| n.min(data.len()));
        let data = &data[..real];
        let orig = v.frame_size.unwrap_or(data.len() as u64);
        rec.frame = Some(SampledFrame {
            linktype,
            orig_len: u32::try_from(orig).unwrap_or(u32::MAX),
            data,
        });
        rec.packets = v.packets.unwrap_or(1);
        rec.bytes = v.octets.unwrap_or(orig);
    } else {
        rec.packets = v.packets.unwrap_or(0);
        rec.bytes = v.octets.unwrap_or(0);
    }
    sink(&rec);
    Some(at)
}

/// Takes one field's value into `v` (unknown elements and impossible
/// lengths are ignored).
fn field<'a>(v: &mut Values<'a>, id: u16, s: &'a [u8]) {
    let uint = || be::uint(s);
    let ms_us = |x: u64| i64::try_from(x).ok().map(|x| x.saturating_mul(1000));
    match id {
        1 | 85 if v.octets.is_none() || id == 1 => v.octets = uint(),
        2 | 86 if v.packets.is_none() || id == 2 => v.packets = uint(),
        4 => v.protocol = s.first().copied().unwrap_or(0),
        7 if s.len() == 2 => v.src_port = u16::from_be_bytes([s[0], s[1]]),
        11 if s.len() == 2 => v.dst_port = u16::from_be_bytes([s[0], s[1]]),
        8 => v.src = be::ipv4(s).or(v.src),
        12 => v.dst = be::ipv4(s).or(v.dst),
        27 => v.src = be::ipv6(s).or(v.src),
        28 => v.dst = be::ipv6(s).or(v.dst),
        61 => {
            v.direction = match s.first() {
                Some(0) => Some(Direction::Ingress),
                Some(1) => Some(Direction::Egress),
                _ => None,
            }
        }
        22 => v.start_uptime_ms = uint(),
        21 => v.end_uptime_ms = uint(),
        150 => v.start_us = uint().and_then(|x| ms_us(x.saturating_mul(1000))),
        151 => v.end_us = uint().and_then(|x| ms_us(x.saturating_mul(1000))),
        152 => v.start_us = uint().and_then(ms_us),
        153 => v.end_us = uint().and_then(ms_us),
        154 | 156 => v.start_us = ntp_us(s),
        155 | 157 => v.end_us = ntp_us(s),
        322 => v.observed_us = uint().and_then(|x| ms_us(x.saturating_mul(1000))),
        323 => v.observed_us = uint().and_then(ms_us),
        324 | 325 => v.observed_us = ntp_us(s),
        // samplingInterval, samplerRandomInterval (v9 and IPFIX),
        // samplingPacketInterval.
        34 | 50 => v.sampling_interval = uint(),
        305 => v.packet_interval = uint(),
        306 => v.packet_space = uint(),
        160 => v.system_init_ms = uint(),
        315 => v.frame = Some((LinkType::Ethernet, s)),
        313 => v.frame = Some((LinkType::RawIp, s)),
        312 => v.frame_size = uint(),
        410 => v.section_octets = uint(),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn dk(domain: u32) -> DomainKey {
        DomainKey {
            exporter: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            domain,
            ipfix: true,
        }
    }

    fn tk(domain: u32, id: u16) -> TemplateKey {
        TemplateKey {
            domain: dk(domain),
            id,
        }
    }

    fn t(n: u16) -> Template {
        Template::new(
            vec![Field {
                id: 8,
                len: n,
                skip: false,
            }],
            false,
        )
    }

    /// `count` (type, length) specifiers, NetFlow v9 style.
    fn specifiers(fields: &[(u16, u16)]) -> Vec<u8> {
        fields
            .iter()
            .flat_map(|&(id, len)| [id.to_be_bytes(), len.to_be_bytes()].concat())
            .collect()
    }

    #[test]
    fn empty_fields_are_left_out_and_field_lists_are_bounded() {
        // A thousand empty fields and one byte: one field, so a record of
        // one byte costs one step, not a thousand.
        let mut spec = vec![(8, 0); 1000];
        spec.push((4, 1));
        let b = specifiers(&spec);
        let (fields, next) = parse_fields(&b, 0, 1001, false).expect("template");
        assert_eq!(next, b.len());
        assert_eq!(
            fields,
            vec![Field {
                id: 4,
                len: 1,
                skip: false
            }]
        );
        assert_eq!(Template::new(fields, false).min_len, 1);
        // Only empty fields: a template of no fields, whose records are
        // skipped (min_len 0).
        let b = specifiers(&[(8, 0), (12, 0)]);
        let (fields, _) = parse_fields(&b, 0, 2, true).expect("template");
        assert!(fields.is_empty());
        // More fields than any exporter sends: refused.
        let n = MAX_TEMPLATE_FIELDS + 1;
        let b = specifiers(&vec![(8, 4); usize::from(n)]);
        assert_eq!(parse_fields(&b, 0, n, false), None);
        let b = specifiers(&vec![(8, 4); usize::from(MAX_TEMPLATE_FIELDS)]);
        assert!(parse_fields(&b, 0, MAX_TEMPLATE_FIELDS, false).is_some());
    }

    #[test]
    fn cache_is_bounded_and_evicts_least_recently_used() {
        let mut c = TemplateCache::new(
            8,
            PendingConfig {
                max: 2,
                hold_us: 10,
            },
        );
        let mut evicted = 0;
        for i in 0..8 {
            evicted += c.insert(tk(1, 256 + i), t(4));
        }
        assert_eq!((c.len(), evicted), (8, 0));
        // 256 is used again: 257 becomes the oldest.
        assert!(c.get(&tk(1, 256)).is_some());
        evicted += c.insert(tk(2, 256), t(4));
        assert_eq!((c.len(), evicted), (8, 1));
        assert!(c.get(&tk(1, 256)).is_some());
        assert!(c.get(&tk(1, 257)).is_none());
        // Replacing a template evicts nothing.
        assert_eq!(c.insert(tk(2, 256), t(4)), 0);
        assert!(c.withdraw(&tk(2, 256)));
        assert!(!c.withdraw(&tk(2, 256)));
        assert_eq!(c.withdraw_all(dk(1), false), 7);
        assert!(c.is_empty());
    }

    #[test]
    fn pending_is_bounded_in_count_and_age() {
        let ctx = SetContext {
            format: FlowFormat::Ipfix,
            export_secs: 0,
            uptime_ms: None,
        };
        let mut c = TemplateCache::new(
            8,
            PendingConfig {
                max: 2,
                hold_us: 10,
            },
        );
        assert_eq!(c.hold(tk(1, 300), 0, ctx, &[1]), 0);
        assert_eq!(c.hold(tk(1, 301), 1, ctx, &[2]), 0);
        // A third pushes out the oldest.
        assert_eq!(c.hold(tk(1, 302), 2, ctx, &[3]), 1);
        assert_eq!(c.pending_len(), 2);
        // 301 (at 1) is too old at 12 (hold 10); 302 and 303 stay.
        assert_eq!(c.hold(tk(1, 303), 12, ctx, &[4]), 1);
        assert_eq!(c.pending_len(), 2);
        assert_eq!(c.expire_pending(13), 1);
        assert_eq!(c.take_pending(&tk(1, 303)).len(), 1);
        assert_eq!(c.pending_len(), 0);
    }

    #[test]
    fn ntp_time_converts_to_unix_microseconds() {
        // 2026-01-01T00:00:00Z = 1_767_225_600 s; half a second.
        let secs = (1_767_225_600i64 + NTP_UNIX) as u64;
        let v = (secs << 32) | 0x8000_0000;
        assert_eq!(ntp_us(&v.to_be_bytes()), Some(1_767_225_600_500_000));
        assert_eq!(ntp_us(&[0; 4]), None);
    }
}
