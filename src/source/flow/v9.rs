//! NetFlow v9 (RFC 3954): a 20-byte header, then flowsets: templates (id
//! 0), options templates (id 1) and data (id 256 and up).
use core::net::IpAddr;

use super::template::{self, DomainKey, SetContext, Template, TemplateKey};
use super::{Collector, FlowError, FlowFormat, FlowRecord, be};

const HEADER: usize = 20;

pub fn decode(
    c: &mut Collector,
    exporter: IpAddr,
    now_us: i64,
    b: &[u8],
    sink: &mut dyn FnMut(&FlowRecord<'_>),
) -> Result<(), FlowError> {
    let (Some(uptime), Some(secs), Some(source_id)) =
        (be::u32(b, 4), be::u32(b, 8), be::u32(b, 16))
    else {
        return Err(FlowError::Truncated);
    };
    let domain = DomainKey {
        exporter,
        domain: source_id,
        ipfix: false,
    };
    let ctx = SetContext {
        format: FlowFormat::NetflowV9,
        export_secs: secs,
        uptime_ms: Some(uptime),
    };
    let mut first_error = None;
    for set in template::sets(b, HEADER, true) {
        let (id, set) = set?;
        match id {
            0 | 1 => {
                if let Err(e) = templates(c, domain, set, id == 1, sink) {
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
            // Reserved flowset ids: skipped.
            _ => {}
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The records of a template (or options template) flowset.
fn templates(
    c: &mut Collector,
    domain: DomainKey,
    set: &[u8],
    options: bool,
    sink: &mut dyn FnMut(&FlowRecord<'_>),
) -> Result<(), FlowError> {
    let mut at = 0;
    while set.len().saturating_sub(at) >= 4 {
        let Some(id) = be::u16(set, at) else {
            return Err(FlowError::Truncated);
        };
        let (count, start, scope_fields) = if options {
            let (Some(scope), Some(opts)) = (be::u16(set, at + 2), be::u16(set, at + 4)) else {
                return Err(FlowError::Truncated);
            };
            if scope % 4 != 0 || opts % 4 != 0 {
                return Err(FlowError::BadTemplate);
            }
            (
                (scope / 4).saturating_add(opts / 4),
                at + 6,
                usize::from(scope / 4),
            )
        } else {
            let Some(n) = be::u16(set, at + 2) else {
                return Err(FlowError::Truncated);
            };
            (n, at + 4, 0)
        };
        if id < 256 {
            return Err(FlowError::BadTemplate);
        }
        let Some((mut fields, next)) = template::parse_fields(set, start, count, false) else {
            return Err(FlowError::BadTemplate);
        };
        for f in fields.iter_mut().take(scope_fields) {
            f.skip = true;
        }
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
mod tests {
    use super::*;
    use crate::source::flow::{CollectorConfig, Direction};
    use core::net::Ipv4Addr;

    fn header(source_id: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&9u16.to_be_bytes());
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&60_000u32.to_be_bytes()); // up 60 s
        b.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&source_id.to_be_bytes());
        b
    }

    fn set(b: &mut Vec<u8>, id: u16, body: &[u8]) {
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        b.extend_from_slice(body);
    }

    fn words(w: &[u16]) -> Vec<u8> {
        w.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    /// Template 300: src, dst (IPv4), protocol, dst port, packets (4),
    /// bytes (4), first and last switched, direction.
    fn template_300() -> Vec<u8> {
        words(&[
            300, 9, 8, 4, 12, 4, 4, 1, 11, 2, 2, 4, 1, 4, 22, 4, 21, 4, 61, 1,
        ])
    }

    fn record_300(dst: [u8; 4], proto: u8, port: u16, pkts: u32) -> Vec<u8> {
        let mut r = vec![10, 1, 0, 2];
        r.extend_from_slice(&dst);
        r.push(proto);
        r.extend_from_slice(&port.to_be_bytes());
        r.extend_from_slice(&pkts.to_be_bytes());
        r.extend_from_slice(&(pkts * 100).to_be_bytes());
        r.extend_from_slice(&50_000u32.to_be_bytes());
        r.extend_from_slice(&59_000u32.to_be_bytes());
        r.push(1);
        r
    }

    fn run(
        c: &mut Collector,
        b: &[u8],
    ) -> (Vec<FlowRecord<'static>>, Result<FlowFormat, FlowError>) {
        let mut v = Vec::new();
        let ex = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let r = c.datagram(ex, 5, b, &mut |r| v.push(FlowRecord { frame: None, ..*r }));
        (v, r)
    }

    #[test]
    fn template_then_data_with_padding() {
        let mut c = Collector::new(CollectorConfig::default());
        let mut b = header(7);
        set(&mut b, 0, &template_300());
        let mut data = record_300([203, 0, 113, 9], 47, 0, 24);
        data.extend(record_300([10, 9, 0, 10], 17, 4789, 3));
        data.extend([0, 0, 0]); // padding
        set(&mut b, 300, &data);
        let (v, r) = run(&mut c, &b);
        assert_eq!(r, Ok(FlowFormat::NetflowV9));
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].dst, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)));
        assert_eq!((v[0].protocol, v[0].packets, v[0].bytes), (47, 24, 2400));
        // Boot at 1_700_000_000 - 60 s; first switched at 50 s of uptime.
        assert_eq!(v[0].start_us, 1_699_999_990_000_000);
        assert_eq!(v[0].end_us, 1_699_999_999_000_000);
        assert_eq!(v[0].direction, Some(Direction::Egress));
        assert_eq!(v[0].domain, 7);
        assert_eq!((v[1].dst_port, v[1].packets), (4789, 3));
        assert_eq!(c.counters.templates_added, 1);
        assert_eq!(c.templates(), 1);
    }

    #[test]
    fn data_before_template_is_held_then_decoded_and_templates_are_per_source_id() {
        let mut c = Collector::new(CollectorConfig::default());
        let mut b = header(7);
        set(&mut b, 300, &record_300([203, 0, 113, 9], 47, 0, 24));
        let (v, r) = run(&mut c, &b);
        assert_eq!((v.len(), r), (0, Ok(FlowFormat::NetflowV9)));
        assert_eq!((c.counters.pending_held, c.pending()), (1, 1));
        // A template of another source id does not release it.
        let mut t = header(8);
        set(&mut t, 0, &template_300());
        assert_eq!(run(&mut c, &t).0.len(), 0);
        assert_eq!(c.pending(), 1);
        let mut t = header(7);
        set(&mut t, 0, &template_300());
        let (v, _) = run(&mut c, &t);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].packets, 24);
        assert_eq!((c.counters.pending_decoded, c.pending()), (1, 0));
    }

    #[test]
    fn sampling_rate_from_options_data() {
        let mut c = Collector::new(CollectorConfig::default());
        let mut b = header(7);
        // Options template 400: scope system (1, 4 bytes); sampling
        // interval (34, 4 bytes).
        set(&mut b, 1, &words(&[400, 4, 4, 1, 4, 34, 4, 0]));
        set(&mut b, 400, &[0, 0, 0, 0, 0, 0, 0, 64]);
        set(&mut b, 0, &template_300());
        set(&mut b, 300, &record_300([203, 0, 113, 9], 47, 0, 24));
        let (v, r) = run(&mut c, &b);
        assert_eq!(r, Ok(FlowFormat::NetflowV9));
        assert_eq!(c.counters.options_records, 1);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].sampling_rate, 64);
        assert_eq!(v[0].packets, 24, "records keep the exported count");
    }

    #[test]
    fn broken_flowsets_are_errors_not_panics() {
        let mut c = Collector::new(CollectorConfig::default());
        let mut b = header(7);
        b.extend_from_slice(&[0, 0, 0, 2]); // length 2 < 4
        assert_eq!(run(&mut c, &b).1, Err(FlowError::BadLength));
        let mut b = header(7);
        b.extend_from_slice(&[1, 44, 0, 200, 0]); // runs past the end
        assert_eq!(run(&mut c, &b).1, Err(FlowError::Truncated));
        let mut b = header(7);
        set(&mut b, 0, &words(&[12, 1, 8, 4])); // template id < 256
        assert_eq!(run(&mut c, &b).1, Err(FlowError::BadTemplate));
        let mut b = header(7);
        set(&mut b, 0, &words(&[300, 3, 8, 4])); // three fields, one given
        assert_eq!(run(&mut c, &b).1, Err(FlowError::BadTemplate));
        assert_eq!(run(&mut c, &b[..12]).1, Err(FlowError::Truncated));
        assert_eq!(c.counters.errors, 5);
    }
}
