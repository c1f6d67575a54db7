//! sFlow v5 (sflow.org, sFlow version 5): flow samples (format 1) and
//! expanded flow samples (format 3) of enterprise 0; counter samples and
//! other enterprises are skipped by length. One record per flow sample: a
//! raw packet header (flow record 1) becomes the sampled frame, sampled
//! IPv4/IPv6 records (3, 4) give addresses and ports. Counts are one
//! packet of `frame_length` bytes, with the sample's sampling rate.
use core::net::IpAddr;

use super::{Direction, FlowError, FlowFormat, FlowRecord, SampledFrame, be};
use crate::decode::LinkType;

/// Samples or records in one datagram beyond this are damage.
const MAX_ITEMS: u32 = 1024;

pub fn decode(
    now_us: i64,
    b: &[u8],
    sink: &mut dyn FnMut(&FlowRecord<'_>),
) -> Result<(), FlowError> {
    let Some(addr_type) = be::u32(b, 4) else {
        return Err(FlowError::Truncated);
    };
    let (agent, mut at) = match addr_type {
        1 => (b.get(8..12).and_then(be::ipv4), 12),
        2 => (b.get(8..24).and_then(be::ipv6), 24),
        _ => return Err(FlowError::BadAddress),
    };
    let Some(agent) = agent else {
        return Err(FlowError::Truncated);
    };
    // sub-agent id, sequence, uptime, sample count.
    let Some(samples) = be::u32(b, at + 12) else {
        return Err(FlowError::Truncated);
    };
    at += 16;
    if samples > MAX_ITEMS {
        return Err(FlowError::BadLength);
    }
    for _ in 0..samples {
        let (Some(format), Some(len)) = (be::u32(b, at), be::u32(b, at + 4)) else {
            return Err(FlowError::Truncated);
        };
        let len = usize::try_from(len).map_err(|_| FlowError::BadLength)?;
        let Some(s) = b.get(at + 8..(at + 8).checked_add(len).ok_or(FlowError::BadLength)?) else {
            return Err(FlowError::Truncated);
        };
        at += 8 + len;
        match format {
            1 => flow_sample(agent, now_us, s, false, sink)?,
            3 => flow_sample(agent, now_us, s, true, sink)?,
            _ => {}
        }
    }
    Ok(())
}

fn flow_sample(
    agent: IpAddr,
    now_us: i64,
    s: &[u8],
    expanded: bool,
    sink: &mut dyn FnMut(&FlowRecord<'_>),
) -> Result<(), FlowError> {
    let t = FlowError::Truncated;
    // Compact: seq, source id (type << 24 | index), rate, pool, drops,
    // input, output (top two bits: format), record count. Expanded: seq,
    // source type, source index, rate, pool, drops, input format and value,
    // output format and value, record count.
    let (domain, rate, input, output, mut at) = if expanded {
        (
            be::u32(s, 8).ok_or(t)?,
            be::u32(s, 12).ok_or(t)?,
            be::u32(s, 28).ok_or(t)?,
            be::u32(s, 36).ok_or(t)?,
            40,
        )
    } else {
        (
            be::u32(s, 4).ok_or(t)? & 0x00ff_ffff,
            be::u32(s, 8).ok_or(t)?,
            be::u32(s, 20).ok_or(t)? & 0x3fff_ffff,
            be::u32(s, 24).ok_or(t)? & 0x3fff_ffff,
            28,
        )
    };
    let records = be::u32(s, at).ok_or(t)?;
    at += 4;
    if records > MAX_ITEMS {
        return Err(FlowError::BadLength);
    }
    let mut rec = FlowRecord::empty(FlowFormat::Sflow, agent, domain, now_us);
    rec.sampling_rate = rate.max(1);
    rec.packets = 1;
    // The sample was taken on the data source's input (ingress) or output.
    rec.direction = match (input == domain, output == domain) {
        (true, false) => Some(Direction::Ingress),
        (false, true) => Some(Direction::Egress),
        _ => None,
    };
    let mut useful = false;
    for _ in 0..records {
        let (Some(format), Some(len)) = (be::u32(s, at), be::u32(s, at + 4)) else {
            return Err(t);
        };
        let len = usize::try_from(len).map_err(|_| FlowError::BadLength)?;
        let Some(r) = s.get(at + 8..(at + 8).checked_add(len).ok_or(FlowError::BadLength)?) else {
            return Err(t);
        };
        at += 8 + len;
        match format {
            // Raw packet header: protocol, frame length, stripped, header
            // length, header bytes.
            1 => {
                let proto = be::u32(r, 0).ok_or(t)?;
                let frame_len = be::u32(r, 4).ok_or(t)?;
                let hlen =
                    usize::try_from(be::u32(r, 12).ok_or(t)?).map_err(|_| FlowError::BadLength)?;
                let data = r.get(16..16usize.checked_add(hlen).ok_or(t)?).ok_or(t)?;
                let linktype = match proto {
                    1 => Some(LinkType::Ethernet),
                    11 | 12 => Some(LinkType::RawIp),
                    _ => None,
                };
                rec.bytes = u64::from(frame_len);
                if let Some(linktype) = linktype {
                    rec.frame = Some(SampledFrame {
                        linktype,
                        orig_len: frame_len,
                        data,
                    });
                }
                useful = true;
            }
            // Sampled IPv4 / IPv6: length, protocol, src, dst, ports.
            3 | 4 => {
                let n = if format == 3 { 4 } else { 16 };
                let ip = |o: usize| {
                    let a = r.get(o..o + n)?;
                    if n == 4 { be::ipv4(a) } else { be::ipv6(a) }
                };
                let (Some(src), Some(dst)) = (ip(8), ip(8 + n)) else {
                    return Err(t);
                };
                let ports = 8 + 2 * n;
                rec.bytes = u64::from(be::u32(r, 0).ok_or(t)?);
                rec.protocol = be::u32(r, 4).ok_or(t)? as u8;
                rec.src = src;
                rec.dst = dst;
                rec.src_port = be::u32(r, ports).ok_or(t)? as u16;
                rec.dst_port = be::u32(r, ports + 4).ok_or(t)? as u16;
                useful = true;
            }
            _ => {}
        }
    }
    if useful {
        sink(&rec);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn xdr(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    /// A raw packet header record of an Ethernet frame (padded to 4).
    pub fn raw_header(frame: &[u8], frame_len: u32) -> Vec<u8> {
        let mut r = xdr(&[1, frame_len, 4, frame.len() as u32]);
        r.extend(frame);
        while r.len() % 4 != 0 {
            r.push(0);
        }
        let mut out = xdr(&[1, r.len() as u32]);
        out.extend(r);
        out
    }

    /// An sFlow v5 datagram from agent 192.0.2.7 with these samples
    /// (format, body).
    pub fn datagram(samples: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut b = xdr(&[5, 1]);
        b.extend([192, 0, 2, 7]);
        b.extend(xdr(&[0, 1, 1000, samples.len() as u32]));
        for (f, s) in samples {
            b.extend(xdr(&[*f, s.len() as u32]));
            b.extend(s);
        }
        b
    }

    /// A compact flow sample of source index 3 at 1-in-`rate`, input 3.
    pub fn flow_sample(rate: u32, records: &[Vec<u8>]) -> Vec<u8> {
        let mut s = xdr(&[1, 3, rate, 1000, 0, 3, 9, records.len() as u32]);
        for r in records {
            s.extend(r);
        }
        s
    }

    type Got = Vec<(FlowRecord<'static>, Option<Vec<u8>>)>;

    fn run(b: &[u8]) -> (Got, Result<(), FlowError>) {
        let mut v = Vec::new();
        let r = decode(42, b, &mut |r| {
            v.push((
                FlowRecord { frame: None, ..*r },
                r.frame.map(|f| f.data.to_vec()),
            ))
        });
        (v, r)
    }

    #[test]
    fn flow_sample_with_raw_header_and_expanded_with_sampled_ipv4() {
        let frame = [0xab; 18];
        let ipv4 = {
            let mut r = xdr(&[3, 32, 1500, 17]);
            r.extend([10, 1, 0, 2, 203, 0, 113, 9]);
            r.extend(xdr(&[40000, 4789, 0, 0]));
            r
        };
        let mut expanded = xdr(&[2, 0, 77, 512, 5000, 0, 0, 1, 0, 77, 1]);
        expanded.extend(ipv4);
        let counters = xdr(&[1, 2, 3]);
        let b = datagram(&[
            (1, flow_sample(256, &[raw_header(&frame, 1514)])),
            (2, counters),
            (3, expanded),
        ]);
        let (v, r) = run(&b);
        assert_eq!(r, Ok(()));
        assert_eq!(v.len(), 2);
        let (a, f) = &v[0];
        assert_eq!(a.exporter, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
        assert_eq!(
            (a.domain, a.sampling_rate, a.packets, a.bytes),
            (3, 256, 1, 1514)
        );
        assert_eq!(a.direction, Some(Direction::Ingress));
        assert_eq!(f.as_deref(), Some(&frame[..]));
        assert_eq!(a.start_us, 42);
        let (e, f) = &v[1];
        assert!(f.is_none());
        assert_eq!((e.domain, e.sampling_rate, e.bytes), (77, 512, 1500));
        assert_eq!(e.dst, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)));
        assert_eq!((e.src_port, e.dst_port, e.protocol), (40000, 4789, 17));
        assert_eq!(e.direction, Some(Direction::Egress));
    }

    #[test]
    fn damaged_datagrams_are_errors() {
        let b = datagram(&[(1, flow_sample(256, &[raw_header(&[1; 8], 60)]))]);
        for cut in [6, 20, 30, b.len() - 3] {
            assert_eq!(run(&b[..cut]).1, Err(FlowError::Truncated), "cut at {cut}");
        }
        let mut bad = b.clone();
        bad[7] = 3;
        assert_eq!(run(&bad).1, Err(FlowError::BadAddress));
        let mut bad = b.clone();
        bad[27] = 0xff;
        bad[26] = 0xff; // sample count 65535
        assert_eq!(run(&bad).1, Err(FlowError::BadLength));
        // A header length larger than its record.
        let mut r = xdr(&[1, 60, 0, 200]);
        r.extend([0; 8]);
        let mut rec = xdr(&[1, r.len() as u32]);
        rec.extend(r);
        let b = datagram(&[(1, flow_sample(1, &[rec]))]);
        assert_eq!(run(&b).1, Err(FlowError::Truncated));
    }
}
