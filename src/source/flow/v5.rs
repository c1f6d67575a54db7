//! NetFlow v5: a 24-byte header and up to 30 fixed 48-byte IPv4 records.
use core::net::IpAddr;

use super::{FlowError, FlowFormat, FlowRecord, be};

const HEADER: usize = 24;
const RECORD: usize = 48;
/// The most records a v5 datagram may carry.
const MAX_COUNT: u16 = 30;

/// Boot time of the exporter in microseconds since the epoch, from a
/// header's export time and uptime (shared with NetFlow v9).
pub(crate) fn boot_us(unix_secs: u32, unix_nsecs: u32, uptime_ms: u32) -> i64 {
    i64::from(unix_secs) * 1_000_000 + i64::from(unix_nsecs / 1000) - i64::from(uptime_ms) * 1000
}

pub fn decode(
    exporter: IpAddr,
    b: &[u8],
    sink: &mut dyn FnMut(&FlowRecord<'_>),
) -> Result<(), FlowError> {
    let (Some(count), Some(uptime), Some(secs), Some(nsecs)) =
        (be::u16(b, 2), be::u32(b, 4), be::u32(b, 8), be::u32(b, 12))
    else {
        return Err(FlowError::Truncated);
    };
    let (Some(engine_type), Some(engine_id), Some(sampling)) =
        (be::u8(b, 20), be::u8(b, 21), be::u16(b, 22))
    else {
        return Err(FlowError::Truncated);
    };
    if count == 0 || count > MAX_COUNT {
        return Err(FlowError::BadLength);
    }
    // Top two bits: sampling mode; the other 14: the interval.
    let rate = match sampling & 0x3fff {
        0 => 1,
        n => u32::from(n),
    };
    let boot = boot_us(secs, nsecs, uptime);
    let domain = u32::from(engine_type) << 8 | u32::from(engine_id);
    for i in 0..usize::from(count) {
        let at = HEADER + i * RECORD;
        let Some(r) = b.get(at..at + RECORD) else {
            return Err(FlowError::Truncated);
        };
        let (Some(src), Some(dst)) = (be::ipv4(&r[0..4]), be::ipv4(&r[4..8])) else {
            return Err(FlowError::Truncated);
        };
        let u32_at = |o: usize| be::u32(r, o).unwrap_or(0);
        let u16_at = |o: usize| be::u16(r, o).unwrap_or(0);
        let mut rec = FlowRecord::empty(FlowFormat::NetflowV5, exporter, domain, boot);
        rec.src = src;
        rec.dst = dst;
        rec.packets = u64::from(u32_at(16));
        rec.bytes = u64::from(u32_at(20));
        rec.start_us = boot + i64::from(u32_at(24)) * 1000;
        rec.end_us = boot + i64::from(u32_at(28)) * 1000;
        rec.src_port = u16_at(32);
        rec.dst_port = u16_at(34);
        rec.protocol = r[38];
        rec.sampling_rate = rate;
        sink(&rec);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    /// A v5 datagram: header then one 48-byte record per entry of
    /// (src, dst, packets, bytes, first_ms, last_ms, sport, dport, proto).
    #[allow(clippy::type_complexity)]
    pub fn datagram(
        sampling: u16,
        recs: &[([u8; 4], [u8; 4], u32, u32, u32, u32, u16, u16, u8)],
    ) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&5u16.to_be_bytes());
        b.extend_from_slice(&(recs.len() as u16).to_be_bytes());
        b.extend_from_slice(&10_000u32.to_be_bytes()); // uptime 10 s
        b.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&7u32.to_be_bytes()); // sequence
        b.extend_from_slice(&[1, 2]); // engine type, id
        b.extend_from_slice(&sampling.to_be_bytes());
        for &(s, d, p, o, f, l, sp, dp, pr) in recs {
            b.extend_from_slice(&s);
            b.extend_from_slice(&d);
            b.extend_from_slice(&[0; 4]); // next hop
            b.extend_from_slice(&[0, 1, 0, 2]); // input, output
            b.extend_from_slice(&p.to_be_bytes());
            b.extend_from_slice(&o.to_be_bytes());
            b.extend_from_slice(&f.to_be_bytes());
            b.extend_from_slice(&l.to_be_bytes());
            b.extend_from_slice(&sp.to_be_bytes());
            b.extend_from_slice(&dp.to_be_bytes());
            b.extend_from_slice(&[0, 0x10, pr, 0]);
            b.extend_from_slice(&[0; 8]); // AS, masks, pad
        }
        b
    }

    fn all(b: &[u8]) -> (Vec<FlowRecord<'static>>, Result<(), FlowError>) {
        let mut v = Vec::new();
        let ex = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let r = decode(ex, b, &mut |r| {
            v.push(FlowRecord { frame: None, ..*r });
        });
        (v, r)
    }

    #[test]
    fn decodes_records_with_times_and_sampling() {
        let b = datagram(
            0x4000 | 100,
            &[
                (
                    [10, 1, 0, 2],
                    [203, 0, 113, 9],
                    24,
                    9715,
                    9_000,
                    9_500,
                    0,
                    0,
                    47,
                ),
                (
                    [10, 1, 0, 3],
                    [10, 9, 0, 10],
                    3,
                    300,
                    1_000,
                    2_000,
                    5555,
                    4789,
                    17,
                ),
            ],
        );
        let (v, r) = all(&b);
        assert_eq!(r, Ok(()));
        assert_eq!(v.len(), 2);
        let a = &v[0];
        assert_eq!(a.src, IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2)));
        assert_eq!(a.dst, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)));
        assert_eq!((a.packets, a.bytes, a.protocol), (24, 9715, 47));
        // Boot at 1_700_000_000 s - 10 s; first switched 9 s after boot.
        assert_eq!(a.start_us, 1_699_999_999_000_000);
        assert_eq!(a.end_us, 1_699_999_999_500_000);
        assert_eq!(a.sampling_rate, 100);
        assert_eq!(a.domain, 0x0102);
        assert_eq!(a.format, FlowFormat::NetflowV5);
        assert_eq!(
            (v[1].src_port, v[1].dst_port, v[1].protocol),
            (5555, 4789, 17)
        );
    }

    #[test]
    fn short_and_bad_counts_are_errors_and_earlier_records_kept() {
        let rec = ([10, 1, 0, 2], [10, 9, 0, 10], 1, 100, 0, 0, 1, 2, 6);
        let mut b = datagram(0, &[rec, rec]);
        b.truncate(24 + 48 + 20);
        let (v, r) = all(&b);
        assert_eq!(r, Err(FlowError::Truncated));
        assert_eq!(v.len(), 1, "the whole first record is kept");
        assert_eq!(v[0].sampling_rate, 1);
        let mut b = datagram(0, &[rec]);
        b[3] = 31;
        assert_eq!(all(&b).1, Err(FlowError::BadLength));
        b[3] = 0;
        assert_eq!(all(&b).1, Err(FlowError::BadLength));
        assert_eq!(all(&b[..10]).1, Err(FlowError::Truncated));
    }
}
