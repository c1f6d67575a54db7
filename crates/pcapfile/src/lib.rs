//! Capture file writers (std only): classic libpcap and a minimal pcapng.
//!
//! Both writers produce little-endian files with microsecond timestamps
//! (the pcap writer also nanosecond ones, [`PcapWriter::new_nanos`]) and
//! write straight through to the wrapped writer; wrap files in a
//! [`std::io::BufWriter`] for throughput.

use std::io::{self, Write};

/// `LINKTYPE_NULL`: BSD loopback, 4-byte address family in host byte order.
pub const LINKTYPE_NULL: u32 = 0;
/// `LINKTYPE_ETHERNET`: Ethernet II / 802.3.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// `LINKTYPE_RAW`: raw IPv4 or IPv6, no link header.
pub const LINKTYPE_RAW: u32 = 101;
/// `LINKTYPE_LINUX_SLL`: Linux cooked capture v1 (16-byte header).
pub const LINKTYPE_LINUX_SLL: u32 = 113;
/// `LINKTYPE_LINUX_SLL2`: Linux cooked capture v2 (20-byte header).
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

/// Snapshot length written into file and interface headers; packets longer
/// than this are rejected.
pub const SNAPLEN: u32 = 262_144;

/// Classic pcap magic for microsecond timestamps.
pub const PCAP_MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Classic pcap magic for nanosecond timestamps (libpcap 1.5 and later,
/// tcpdump, Wireshark).
pub const PCAP_MAGIC_NANOS: u32 = 0xa1b2_3c4d;

const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_IDB: u32 = 0x0000_0001;
const PCAPNG_EPB: u32 = 0x0000_0006;
const PCAPNG_BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Captured length of `data`, checked against [`SNAPLEN`].
fn caplen_of(data: &[u8]) -> io::Result<u32> {
    u32::try_from(data.len())
        .ok()
        .filter(|&n| n <= SNAPLEN)
        .ok_or_else(|| invalid("packet longer than the snapshot length"))
}

/// Writer for classic libpcap files (little-endian, microsecond or
/// nanosecond resolution, version 2.4).
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    inner: W,
    linktype: u32,
    /// Record fractions are nanoseconds (else microseconds).
    nanos: bool,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the 24-byte global header (microsecond resolution) and
    /// returns the writer.
    pub fn new(inner: W, linktype: u32) -> io::Result<Self> {
        Self::with_header(inner, linktype, false)
    }

    /// Like [`PcapWriter::new`], with nanosecond resolution.
    pub fn new_nanos(inner: W, linktype: u32) -> io::Result<Self> {
        Self::with_header(inner, linktype, true)
    }

    fn with_header(mut inner: W, linktype: u32, nanos: bool) -> io::Result<Self> {
        let magic = if nanos {
            PCAP_MAGIC_NANOS
        } else {
            PCAP_MAGIC_MICROS
        };
        let mut hdr = [0u8; 24];
        hdr[0..4].copy_from_slice(&magic.to_le_bytes());
        hdr[4..6].copy_from_slice(&2u16.to_le_bytes());
        hdr[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone (8..12) and sigfigs (12..16) stay zero.
        hdr[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        hdr[20..24].copy_from_slice(&linktype.to_le_bytes());
        inner.write_all(&hdr)?;
        Ok(Self {
            inner,
            linktype,
            nanos,
        })
    }

    /// Appends records to a file that already has its global header (a
    /// writer reopened in append mode), of microsecond resolution.
    pub fn appending(inner: W, linktype: u32) -> Self {
        Self {
            inner,
            linktype,
            nanos: false,
        }
    }

    /// Like [`PcapWriter::appending`], to a file of nanosecond resolution.
    pub fn appending_nanos(inner: W, linktype: u32) -> Self {
        Self {
            inner,
            linktype,
            nanos: true,
        }
    }

    /// Whether record fractions are nanoseconds.
    pub fn is_nanos(&self) -> bool {
        self.nanos
    }

    /// The link type given to [`PcapWriter::new`].
    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    /// Writes one record. `ts_us` is microseconds since the Unix epoch and
    /// must lie within the unsigned 32-bit seconds range of classic pcap.
    /// The captured length is `data.len()`; `orig_len` is raised to it if
    /// smaller.
    pub fn write_packet(&mut self, ts_us: i64, orig_len: u32, data: &[u8]) -> io::Result<()> {
        self.write_packet_ns(ts_us, 0, orig_len, data)
    }

    /// [`PcapWriter::write_packet`] at `ts_ns` nanoseconds past `ts_us`
    /// (0..=999, larger is taken as 999): kept in a nanosecond file,
    /// dropped in a microsecond one.
    pub fn write_packet_ns(
        &mut self,
        ts_us: i64,
        ts_ns: u16,
        orig_len: u32,
        data: &[u8],
    ) -> io::Result<()> {
        let caplen = caplen_of(data)?;
        let secs = u32::try_from(ts_us.div_euclid(1_000_000))
            .map_err(|_| invalid("timestamp outside the classic pcap range"))?;
        // rem_euclid of a positive modulus is always in 0..1_000_000.
        let micros = u32::try_from(ts_us.rem_euclid(1_000_000)).unwrap_or(0);
        // At most 999,999,999: a fraction of a second either way.
        let frac = if self.nanos {
            micros * 1000 + u32::from(ts_ns.min(999))
        } else {
            micros
        };
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&secs.to_le_bytes());
        rec[4..8].copy_from_slice(&frac.to_le_bytes());
        rec[8..12].copy_from_slice(&caplen.to_le_bytes());
        rec[12..16].copy_from_slice(&orig_len.max(caplen).to_le_bytes());
        self.inner.write_all(&rec)?;
        self.inner.write_all(data)
    }

    /// Flushes the wrapped writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// Borrows the wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Returns the wrapped writer (not flushed).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// Writer for minimal pcapng files: one Section Header Block, one Interface
/// Description Block (microsecond resolution by default, so no `if_tsresol`
/// option) and Enhanced Packet Blocks on interface 0.
#[derive(Debug)]
pub struct PcapngWriter<W: Write> {
    inner: W,
    linktype: u32,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the section header and interface description blocks.
    /// `linktype` must fit in 16 bits.
    pub fn new(mut inner: W, linktype: u32) -> io::Result<Self> {
        let lt =
            u16::try_from(linktype).map_err(|_| invalid("pcapng link type must fit in 16 bits"))?;

        let mut shb = [0u8; 28];
        shb[0..4].copy_from_slice(&PCAPNG_SHB.to_le_bytes());
        shb[4..8].copy_from_slice(&28u32.to_le_bytes());
        shb[8..12].copy_from_slice(&PCAPNG_BYTE_ORDER_MAGIC.to_le_bytes());
        shb[12..14].copy_from_slice(&1u16.to_le_bytes());
        shb[14..16].copy_from_slice(&0u16.to_le_bytes());
        shb[16..24].copy_from_slice(&(-1i64).to_le_bytes());
        shb[24..28].copy_from_slice(&28u32.to_le_bytes());
        inner.write_all(&shb)?;

        let mut idb = [0u8; 20];
        idb[0..4].copy_from_slice(&PCAPNG_IDB.to_le_bytes());
        idb[4..8].copy_from_slice(&20u32.to_le_bytes());
        idb[8..10].copy_from_slice(&lt.to_le_bytes());
        // reserved (10..12) stays zero.
        idb[12..16].copy_from_slice(&SNAPLEN.to_le_bytes());
        idb[16..20].copy_from_slice(&20u32.to_le_bytes());
        inner.write_all(&idb)?;

        Ok(Self { inner, linktype })
    }

    /// The link type given to [`PcapngWriter::new`].
    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    /// Writes one Enhanced Packet Block. `ts_us` is microseconds since the
    /// Unix epoch and must not be negative. The captured length is
    /// `data.len()`; `orig_len` is raised to it if smaller.
    pub fn write_packet(&mut self, ts_us: i64, orig_len: u32, data: &[u8]) -> io::Result<()> {
        let caplen = caplen_of(data)?;
        let ts = u64::try_from(ts_us).map_err(|_| invalid("negative timestamp"))?;
        let pad = (4 - data.len() % 4) % 4;
        // caplen <= SNAPLEN, so this cannot overflow.
        let total = 32 + caplen + pad as u32;
        let mut hdr = [0u8; 28];
        hdr[0..4].copy_from_slice(&PCAPNG_EPB.to_le_bytes());
        hdr[4..8].copy_from_slice(&total.to_le_bytes());
        // interface id (8..12) is 0.
        hdr[12..16].copy_from_slice(&((ts >> 32) as u32).to_le_bytes());
        hdr[16..20].copy_from_slice(&(ts as u32).to_le_bytes());
        hdr[20..24].copy_from_slice(&caplen.to_le_bytes());
        hdr[24..28].copy_from_slice(&orig_len.max(caplen).to_le_bytes());
        self.inner.write_all(&hdr)?;
        self.inner.write_all(data)?;
        self.inner.write_all(&[0u8; 3][..pad])?;
        self.inner.write_all(&total.to_le_bytes())
    }

    /// Flushes the wrapped writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// Borrows the wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Returns the wrapped writer (not flushed).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// One little-endian pcapng block of any `kind`: `body` padded to 32 bits
/// between the two length fields. For test captures whose blocks the
/// writers above do not make (several interfaces, options, unknown or
/// malformed blocks).
pub fn pcapng_block(kind: u32, body: &[u8]) -> Vec<u8> {
    let len = (12 + body.len().div_ceil(4) * 4) as u32;
    let mut out = kind.to_le_bytes().to_vec();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out.resize(len as usize - 4, 0);
    out.extend_from_slice(&len.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_padded_between_its_two_lengths() {
        let b = pcapng_block(6, &[1, 2, 3, 4, 5]);
        assert_eq!(b.len(), 20);
        assert_eq!(le32(&b, 0), 6);
        assert_eq!(le32(&b, 4), 20);
        assert_eq!(&b[8..16], &[1, 2, 3, 4, 5, 0, 0, 0]);
        assert_eq!(le32(&b, 16), 20);
        assert_eq!(pcapng_block(1, &[]).len(), 12);
    }

    fn le32(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    #[test]
    fn pcap_global_header_bytes() -> io::Result<()> {
        let w = PcapWriter::new(Vec::new(), LINKTYPE_ETHERNET)?;
        let out = w.into_inner();
        assert_eq!(
            out,
            [
                0xd4, 0xc3, 0xb2, 0xa1, // magic
                0x02, 0x00, 0x04, 0x00, // version 2.4
                0, 0, 0, 0, // thiszone
                0, 0, 0, 0, // sigfigs
                0x00, 0x00, 0x04, 0x00, // snaplen 262144
                0x01, 0x00, 0x00, 0x00, // linktype 1
            ]
        );
        Ok(())
    }

    #[test]
    fn pcap_record_header_and_timestamp_split() -> io::Result<()> {
        let mut w = PcapWriter::new(Vec::new(), LINKTYPE_RAW)?;
        w.write_packet(1_767_225_600_123_456, 100, &[1, 2, 3])?;
        w.flush()?;
        let out = w.into_inner();
        assert_eq!(out.len(), 24 + 16 + 3);
        assert_eq!(le32(&out, 20), LINKTYPE_RAW);
        assert_eq!(le32(&out, 24), 1_767_225_600);
        assert_eq!(le32(&out, 28), 123_456);
        assert_eq!(le32(&out, 32), 3);
        assert_eq!(le32(&out, 36), 100);
        assert_eq!(&out[40..], &[1, 2, 3]);
        Ok(())
    }

    #[test]
    fn pcap_nanosecond_header_and_fraction() -> io::Result<()> {
        let mut w = PcapWriter::new_nanos(Vec::new(), LINKTYPE_ETHERNET)?;
        assert!(w.is_nanos());
        w.write_packet_ns(1_767_225_600_123_456, 789, 3, &[1, 2, 3])?;
        w.write_packet(1_767_225_601_000_001, 3, &[4, 5, 6])?;
        // Out of range: the largest fraction, never a second more.
        w.write_packet_ns(1_767_225_602_999_999, 5000, 3, &[7, 8, 9])?;
        let out = w.into_inner();
        assert_eq!(&out[0..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(le32(&out, 24), 1_767_225_600);
        assert_eq!(le32(&out, 28), 123_456_789);
        assert_eq!(le32(&out, 43 + 4), 1_000);
        assert_eq!(le32(&out, 62), 1_767_225_602);
        assert_eq!(le32(&out, 62 + 4), 999_999_999);
        // A microsecond file drops the nanoseconds.
        let mut w = PcapWriter::appending(Vec::new(), LINKTYPE_ETHERNET);
        assert!(!w.is_nanos());
        w.write_packet_ns(1_767_225_600_123_456, 789, 1, &[1])?;
        assert_eq!(le32(&w.into_inner(), 4), 123_456);
        let mut w = PcapWriter::appending_nanos(Vec::new(), LINKTYPE_ETHERNET);
        w.write_packet_ns(5_000_001, 2, 1, &[1])?;
        assert_eq!(le32(&w.into_inner(), 4), 1_002);
        Ok(())
    }

    #[test]
    fn pcap_orig_len_raised_to_caplen() -> io::Result<()> {
        let mut w = PcapWriter::new(Vec::new(), LINKTYPE_ETHERNET)?;
        w.write_packet(0, 0, &[9; 10])?;
        let out = w.into_inner();
        assert_eq!(le32(&out, 24 + 8), 10);
        assert_eq!(le32(&out, 24 + 12), 10);
        Ok(())
    }

    #[test]
    fn pcap_rejects_bad_input() -> io::Result<()> {
        let mut w = PcapWriter::new(Vec::new(), LINKTYPE_ETHERNET)?;
        assert!(w.write_packet(-1, 0, &[]).is_err());
        assert!(w.write_packet(1 << 60, 0, &[]).is_err());
        let big = vec![0u8; SNAPLEN as usize + 1];
        assert!(w.write_packet(0, 0, &big).is_err());
        // Nothing but the global header was written.
        assert_eq!(w.get_ref().len(), 24);
        Ok(())
    }

    #[test]
    fn pcapng_blocks() -> io::Result<()> {
        let mut w = PcapngWriter::new(Vec::new(), LINKTYPE_LINUX_SLL2)?;
        w.write_packet(0x0000_0001_0000_0005, 9, &[0xaa; 5])?;
        w.write_packet(7, 4, &[0xbb; 4])?;
        let out = w.into_inner();
        // SHB
        assert_eq!(le32(&out, 0), 0x0a0d_0d0a);
        assert_eq!(le32(&out, 4), 28);
        assert_eq!(le32(&out, 8), 0x1a2b_3c4d);
        assert_eq!(&out[12..16], &[1, 0, 0, 0]);
        assert_eq!(&out[16..24], &[0xff; 8]);
        assert_eq!(le32(&out, 24), 28);
        // IDB
        assert_eq!(le32(&out, 28), 1);
        assert_eq!(le32(&out, 32), 20);
        assert_eq!(&out[36..40], &[0x14, 0x01, 0, 0]);
        assert_eq!(le32(&out, 40), SNAPLEN);
        assert_eq!(le32(&out, 44), 20);
        // EPB 1: 5 data bytes padded to 8.
        let e = 48;
        assert_eq!(le32(&out, e), 6);
        assert_eq!(le32(&out, e + 4), 40);
        assert_eq!(le32(&out, e + 8), 0);
        assert_eq!(le32(&out, e + 12), 1);
        assert_eq!(le32(&out, e + 16), 5);
        assert_eq!(le32(&out, e + 20), 5);
        assert_eq!(le32(&out, e + 24), 9);
        assert_eq!(&out[e + 28..e + 33], &[0xaa; 5]);
        assert_eq!(&out[e + 33..e + 36], &[0; 3]);
        assert_eq!(le32(&out, e + 36), 40);
        // EPB 2: 4 data bytes, no padding.
        let e = 88;
        assert_eq!(le32(&out, e + 4), 36);
        assert_eq!(le32(&out, e + 16), 7);
        assert_eq!(le32(&out, e + 32), 36);
        assert_eq!(out.len(), 88 + 36);
        Ok(())
    }

    #[test]
    fn pcapng_rejects_bad_input() {
        assert!(PcapngWriter::new(Vec::new(), 0x1_0000).is_err());
        if let Ok(mut w) = PcapngWriter::new(Vec::new(), LINKTYPE_ETHERNET) {
            assert!(w.write_packet(-5, 0, &[]).is_err());
            assert_eq!(w.get_ref().len(), 48);
        } else {
            panic!("valid link type rejected");
        }
    }
}
