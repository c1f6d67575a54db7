//! IPFIX (RFC 7011): a 16-byte message header, then sets: templates (id
//! 2), options templates (id 3) and data (256 and up). A template record
//! with no fields withdraws its template (id 2 or 3: all of that kind in
//! the domain). Enterprise-specific elements are skipped by length;
//! variable-length elements are read; `dataLinkFrameSection` (315) and
//! `ipHeaderPacketSection` (313) become the record's sampled frame.
use core::net::IpAddr;

use super::template::{self, DomainKey, SetContext, Template, TemplateKey};
use super::{Collector, FlowError, FlowFormat, FlowRecord, be};

const HEADER: usize = 16;

pub fn decode(
    c: &mut Collector,
    exporter: IpAddr,
    now_us: i64,
    b: &[u8],
    sink: &mut dyn FnMut(&FlowRecord<'_>),
) -> Result<(), FlowError> {
    let (Some(len), Some(secs), Some(domain)) = (be::u16(b, 2), be::u32(b, 4), be::u32(b, 12))
    else {
        return Err(FlowError::Truncated);
    };
    let len = usize::from(len);
    if len < HEADER {
        return Err(FlowError::BadLength);
    }
    // Bytes after the message (a padded datagram) are not part of it.
    let Some(b) = b.get(..len) else {
        return Err(FlowError::Truncated);
    };
    let domain = DomainKey {
        exporter,
        domain,
        ipfix: true,
    };
    let ctx = SetContext {
        format: FlowFormat::Ipfix,
        export_secs: secs,
        uptime_ms: None,
    };
    let mut first_error = None;
    for set in template::sets(b, HEADER, false) {
        let (id, set) = set?;
        match id {
            2 | 3 => {
                if let Err(e) = templates(c, domain, set, id == 3, sink) {
                    first_error.get_or_insert(e);
                }
            }
            256.. => template::data_set(
                &mut c.templates,
                &mut c.counters,
                TemplateKey { domain, id },
                ctx,
                now_us,
                set,
                sink,
            ),
            _ => {
                first_error.get_or_insert(FlowError::BadSetId);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn templates(
    c: &mut Collector,
    domain: DomainKey,
    set: &[u8],
    options: bool,
    sink: &mut dyn FnMut(&FlowRecord<'_>),
) -> Result<(), FlowError> {
    let mut at = 0;
    // Fewer bytes than a record header left: padding.
    while set.len().saturating_sub(at) >= 4 {
        let (Some(id), Some(count)) = (be::u16(set, at), be::u16(set, at + 2)) else {
            return Err(FlowError::Truncated);
        };
        if count == 0 {
            // Withdrawal: of one template, or (id 2 / 3) all of the kind.
            if id == 2 || id == 3 {
                c.counters.templates_withdrawn += c.templates.withdraw_all(domain, options);
            } else if c.templates.withdraw(&TemplateKey { domain, id }) {
                c.counters.templates_withdrawn += 1;
            }
            at += if options { 6 } else { 4 };
            continue;
        }
        let start = if options {
            let Some(scope) = be::u16(set, at + 4) else {
                return Err(FlowError::Truncated);
            };
            if scope == 0 || scope > count {
                return Err(FlowError::BadTemplate);
            }
            at + 6
        } else {
            at + 4
        };
        if id < 256 {
            return Err(FlowError::BadTemplate);
        }
        let Some((fields, next)) = template::parse_fields(set, start, count, true) else {
            return Err(FlowError::BadTemplate);
        };
        at = next;
        template::add_template(
            &mut c.templates,
            &mut c.counters,
            TemplateKey { domain, id },
            Template::new(fields, options),
            sink,
        );
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::decode::LinkType;
    use crate::source::flow::CollectorConfig;
    use core::net::Ipv4Addr;

    /// An IPFIX message of domain `domain` with these sets (id, body).
    pub fn message(domain: u32, export_secs: u32, sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (id, s) in sets {
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&((s.len() + 4) as u16).to_be_bytes());
            body.extend_from_slice(s);
        }
        let mut b = Vec::new();
        b.extend_from_slice(&10u16.to_be_bytes());
        b.extend_from_slice(&((body.len() + 16) as u16).to_be_bytes());
        b.extend_from_slice(&export_secs.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&domain.to_be_bytes());
        b.extend(body);
        b
    }

    pub fn words(w: &[u16]) -> Vec<u8> {
        w.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    type Got = Vec<(FlowRecord<'static>, Option<(LinkType, Vec<u8>)>)>;

    fn run(c: &mut Collector, b: &[u8]) -> (Got, Result<FlowFormat, FlowError>) {
        let mut v = Vec::new();
        let ex = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let r = c.datagram(ex, 5, b, &mut |r| {
            v.push((
                FlowRecord { frame: None, ..*r },
                r.frame.map(|f| (f.linktype, f.data.to_vec())),
            ))
        });
        (v, r)
    }

    /// Template 256: IPv6 src/dst, protocol, an enterprise element of 2
    /// bytes, a variable-length enterprise element, packets (8), octets (8),
    /// flowStartMilliseconds, flowEndMilliseconds.
    fn template_256() -> Vec<u8> {
        let mut t = words(&[256, 9, 27, 16, 28, 16, 4, 1]);
        t.extend(words(&[0x8000 | 100, 2]));
        t.extend(29305u32.to_be_bytes());
        t.extend(words(&[0x8000 | 101, 0xffff]));
        t.extend(29305u32.to_be_bytes());
        t.extend(words(&[2, 8, 1, 8, 152, 8, 153, 8]));
        t
    }

    fn record_256(var: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend(
            "2001:db8::1"
                .parse::<core::net::Ipv6Addr>()
                .expect("ip")
                .octets(),
        );
        r.extend(
            "2001:db8::99"
                .parse::<core::net::Ipv6Addr>()
                .expect("ip")
                .octets(),
        );
        r.push(47);
        r.extend([0xaa, 0xbb]);
        if var.len() < 255 {
            r.push(var.len() as u8);
        } else {
            r.push(255);
            r.extend((var.len() as u16).to_be_bytes());
        }
        r.extend(var);
        r.extend(12u64.to_be_bytes());
        r.extend(3456u64.to_be_bytes());
        r.extend(1_700_000_000_250u64.to_be_bytes());
        r.extend(1_700_000_001_000u64.to_be_bytes());
        r
    }

    #[test]
    fn ipv6_records_with_enterprise_and_variable_fields() {
        let mut c = Collector::new(CollectorConfig::default());
        let mut data = record_256(b"abc");
        data.extend(record_256(&[7; 300]));
        let m = message(1, 1_700_000_002, &[(2, template_256()), (256, data)]);
        let (v, r) = run(&mut c, &m);
        assert_eq!(r, Ok(FlowFormat::Ipfix));
        assert_eq!(v.len(), 2);
        for (rec, frame) in &v {
            assert_eq!(rec.src, "2001:db8::1".parse::<IpAddr>().expect("ip"));
            assert_eq!(rec.dst, "2001:db8::99".parse::<IpAddr>().expect("ip"));
            assert_eq!((rec.protocol, rec.packets, rec.bytes), (47, 12, 3456));
            assert_eq!(rec.start_us, 1_700_000_000_250_000);
            assert_eq!(rec.end_us, 1_700_000_001_000_000);
            assert_eq!(rec.domain, 1);
            assert_eq!(rec.sampling_rate, 1);
            assert!(frame.is_none());
        }
    }

    #[test]
    fn withdrawal_then_data_waits_and_expires() {
        let mut c = Collector::new(CollectorConfig {
            pending_us: 1_000,
            ..CollectorConfig::default()
        });
        let m = message(1, 0, &[(2, template_256())]);
        assert_eq!(run(&mut c, &m).1, Ok(FlowFormat::Ipfix));
        assert_eq!(c.templates(), 1);
        let m = message(1, 0, &[(2, words(&[256, 0]))]);
        assert_eq!(run(&mut c, &m).1, Ok(FlowFormat::Ipfix));
        assert_eq!((c.templates(), c.counters.templates_withdrawn), (0, 1));
        let m = message(1, 0, &[(256, record_256(b""))]);
        assert_eq!(run(&mut c, &m).0.len(), 0);
        assert_eq!(c.pending(), 1);
        c.expire(10_000);
        assert_eq!((c.pending(), c.counters.pending_dropped), (0, 1));
        // All-templates withdrawal (id 2) of one domain only.
        for d in [1, 2] {
            assert!(
                run(&mut c, &message(d, 0, &[(2, template_256())]))
                    .1
                    .is_ok()
            );
        }
        assert!(
            run(&mut c, &message(1, 0, &[(2, words(&[2, 0]))]))
                .1
                .is_ok()
        );
        assert_eq!(c.templates(), 1);
        assert_eq!(c.counters.templates_withdrawn, 2);
    }

    #[test]
    fn packet_sections_and_options_sampling_and_system_init_time() {
        let mut c = Collector::new(CollectorConfig::default());
        // Options template 257: scope meteringProcessId (143), then
        // systemInitTimeMilliseconds (160), samplingPacketInterval (305),
        // samplingPacketSpace (306).
        let ot = words(&[257, 4, 1, 143, 4, 160, 8, 305, 4, 306, 4]);
        let mut od = vec![0, 0, 0, 1];
        od.extend(1_700_000_000_000u64.to_be_bytes());
        od.extend(1u32.to_be_bytes());
        od.extend(99u32.to_be_bytes());
        // Template 258: flowStartSysUpTime (22), dataLinkFrameSection (315,
        // fixed 20, padded), sectionExportedOctets (410), and 259 with an
        // ipHeaderPacketSection (313, variable).
        let t = words(&[258, 3, 22, 4, 315, 20, 410, 2]);
        let t2 = words(&[259, 1, 313, 0xffff]);
        let mut d = 5_000u32.to_be_bytes().to_vec();
        d.extend([0xee; 14]);
        d.extend([0; 6]);
        d.extend(14u16.to_be_bytes());
        let d2 = vec![4, 0x45, 0, 0, 20];
        let m = message(
            9,
            0,
            &[(3, ot), (257, od), (2, t), (2, t2), (258, d), (259, d2)],
        );
        let (v, r) = run(&mut c, &m);
        assert_eq!(r, Ok(FlowFormat::Ipfix));
        assert_eq!(c.counters.options_records, 1);
        assert_eq!(v.len(), 2);
        let (rec, frame) = &v[0];
        assert_eq!(frame, &Some((LinkType::Ethernet, vec![0xee; 14])));
        assert_eq!((rec.packets, rec.bytes), (1, 14));
        assert_eq!(rec.sampling_rate, 100, "(1 + 99) / 1");
        assert_eq!(rec.start_us, 1_700_000_005_000_000);
        let (rec, frame) = &v[1];
        assert_eq!(frame, &Some((LinkType::RawIp, vec![0x45, 0, 0, 20])));
        assert_eq!(rec.sampling_rate, 100);
        let mut fr = None;
        let m = message(9, 0, &[(259, vec![2, 0x60, 0])]);
        // The template is per exporter: another exporter's data is held.
        c.datagram(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, &m, &mut |r| {
            fr = Some(r.frame.map(|f| f.linktype))
        })
        .expect("held");
        assert_eq!((fr, c.pending()), (None, 1));
        let (v, r) = run(&mut c, &m);
        assert_eq!(r, Ok(FlowFormat::Ipfix));
        assert_eq!(v[0].1, Some((LinkType::RawIp, vec![0x60, 0])));
        assert_eq!(v[0].0.domain, 9);
    }

    #[test]
    fn malformed_messages_are_counted_errors() {
        let mut c = Collector::new(CollectorConfig::default());
        let mut m = message(1, 0, &[(2, template_256())]);
        m[3] = 8; // length below the header
        assert_eq!(run(&mut c, &m).1, Err(FlowError::BadLength));
        let mut m = message(1, 0, &[(2, template_256())]);
        m[3] = m[3].wrapping_add(40); // longer than the datagram
        assert_eq!(run(&mut c, &m).1, Err(FlowError::Truncated));
        let m = message(1, 0, &[(5, vec![0; 4])]);
        assert_eq!(run(&mut c, &m).1, Err(FlowError::BadSetId));
        let m = message(1, 0, &[(3, words(&[300, 2, 3, 1, 4, 2, 4]))]);
        assert_eq!(
            run(&mut c, &m).1,
            Err(FlowError::BadTemplate),
            "scope > count"
        );
        let m = message(1, 0, &[(2, words(&[300, 2, 1, 4]))]);
        assert_eq!(
            run(&mut c, &m).1,
            Err(FlowError::BadTemplate),
            "fields missing"
        );
        // A record whose variable length runs past the set ends the set.
        let m = message(
            1,
            0,
            &[(2, words(&[300, 1, 313, 0xffff])), (300, vec![9, 1])],
        );
        assert_eq!(run(&mut c, &m), (Vec::new(), Ok(FlowFormat::Ipfix)));
        assert_eq!(c.counters.errors, 5);
    }
}
