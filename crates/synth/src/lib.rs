//! Synthetic captures: named scenarios with known mirror sessions, and a
//! large deterministic mixed capture for benchmarks.
//!
//! Everything here is deterministic: no clocks, no OS randomness. Timestamps
//! start at 2026-01-01T00:00:00Z ([`START_TS_US`]) and advance by a fixed
//! step per packet. Addresses are private (10/8, 172.16/12, 192.168/16) or
//! documentation ranges (198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32);
//! packets are only ever written to files.

pub mod build;
mod detection;
mod malformed;
mod mixed;
pub mod rng;
mod scenarios;
mod session;
mod traffic;

use std::io::{self, BufWriter, Write};
use std::net::IpAddr;

use mirrorwatch_pcapfile::{PcapWriter, PcapngWriter};

pub use mixed::write_mixed;
pub use scenarios::{scenarios, scenarios_with_expected};

/// 2026-01-01T00:00:00Z in microseconds since the Unix epoch.
pub const START_TS_US: i64 = 1_767_225_600_000_000;
/// Timestamp step between packets of a scenario (1 ms).
pub const SCENARIO_STEP_US: i64 = 1_000;
/// Timestamp step between packets of the mixed capture (100 us).
pub const MIXED_STEP_US: i64 = 100;

/// File format of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    Pcap,
    Pcapng,
}

/// One packet of a scenario; its original length is `data.len()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthPacket {
    pub ts_us: i64,
    pub data: Vec<u8>,
}

/// A named synthetic capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    /// pcap `LINKTYPE_*` value.
    pub linktype: u32,
    pub format: CaptureFormat,
    pub packets: Vec<SynthPacket>,
}

impl Scenario {
    /// `name` plus `.pcap` or `.pcapng`.
    pub fn file_name(&self) -> String {
        let ext = match self.format {
            CaptureFormat::Pcap => "pcap",
            CaptureFormat::Pcapng => "pcapng",
        };
        format!("{}.{ext}", self.name)
    }
}

/// A mirror session a scenario contains, counted while generating it.
///
/// `encap` is one of `erspan1`, `erspan2`, `erspan3`, `vxlan`, `vxlan-gpe`,
/// `geneve`, `gre-teb`, `gre`, `tzsp`. `id` is the ERSPAN session id, the
/// VXLAN/GPE/Geneve VNI, or the GRE key (NVGRE: the full key VSID<<8 |
/// FlowID); `None` for keyless GRE, ERSPAN I and TZSP. For nested sessions
/// both the outer and the inner session are listed, the inner one with the
/// addresses of its own outer IP header. Packets of the `malformed`
/// scenario's broken samples are not counted anywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedSession {
    pub encap: &'static str,
    pub outer_src: IpAddr,
    pub outer_dst: IpAddr,
    pub id: Option<u32>,
    pub packets: u64,
}

/// Totals of [`write_mixed`]: packets written and the sum of their captured
/// lengths (file headers not included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MixedSummary {
    pub packets: u64,
    pub bytes: u64,
}

/// Writes a scenario with its link type in its format.
pub fn write_scenario<W: Write>(w: W, s: &Scenario) -> io::Result<()> {
    let w = BufWriter::new(w);
    match s.format {
        CaptureFormat::Pcap => {
            let mut pw = PcapWriter::new(w, s.linktype)?;
            for p in &s.packets {
                pw.write_packet(p.ts_us, orig_len(&p.data), &p.data)?;
            }
            pw.flush()
        }
        CaptureFormat::Pcapng => {
            let mut pw = PcapngWriter::new(w, s.linktype)?;
            for p in &s.packets {
                pw.write_packet(p.ts_us, orig_len(&p.data), &p.data)?;
            }
            pw.flush()
        }
    }
}

/// The writers reject packets longer than the snapshot length anyway.
fn orig_len(data: &[u8]) -> u32 {
    u32::try_from(data.len()).unwrap_or(u32::MAX)
}

/// Two reusable buffers for building packets from the inside out: `cur`
/// holds the packet so far and [`Stack::wrap`] puts a header around it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stack {
    pub(crate) cur: Vec<u8>,
    tmp: Vec<u8>,
}

impl Stack {
    /// Replaces `cur` with whatever `f` appends to an empty buffer given the
    /// current contents as payload (for `*_into` builders).
    pub(crate) fn wrap(&mut self, f: impl FnOnce(&mut Vec<u8>, &[u8])) {
        self.tmp.clear();
        f(&mut self.tmp, &self.cur);
        std::mem::swap(&mut self.cur, &mut self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn scenario<'a>(all: &'a [Scenario], name: &str) -> &'a Scenario {
        match all.iter().find(|s| s.name == name) {
            Some(s) => s,
            None => panic!("missing scenario {name}"),
        }
    }

    #[test]
    fn scenarios_are_deterministic() {
        assert_eq!(scenarios(), scenarios());
        assert_eq!(scenarios_with_expected(), scenarios_with_expected());
    }

    #[test]
    fn scenario_names_unique_and_written() -> io::Result<()> {
        let all = scenarios();
        let names: HashSet<_> = all.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), all.len());
        for s in &all {
            assert!(!s.packets.is_empty(), "{}", s.name);
            assert!(!s.description.is_empty(), "{}", s.name);
            let mut out = Vec::new();
            write_scenario(&mut out, s)?;
            match s.format {
                CaptureFormat::Pcap => {
                    assert_eq!(&out[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
                    let total: usize = s.packets.iter().map(|p| 16 + p.data.len()).sum();
                    assert_eq!(out.len(), 24 + total);
                }
                CaptureFormat::Pcapng => assert_eq!(&out[..4], &[0x0a, 0x0d, 0x0d, 0x0a]),
            }
            if detection::OWN_TIMING.contains(&s.name) {
                assert_eq!(s.packets[0].ts_us, START_TS_US, "{}", s.name);
                assert!(
                    s.packets.windows(2).all(|w| w[0].ts_us < w[1].ts_us),
                    "{}",
                    s.name
                );
            } else {
                for (i, p) in s.packets.iter().enumerate() {
                    assert_eq!(p.ts_us, START_TS_US + i as i64 * SCENARIO_STEP_US);
                }
            }
        }
        assert_eq!(scenario(&all, "pcapng").file_name(), "pcapng.pcapng");
        assert_eq!(scenario(&all, "erspan1").file_name(), "erspan1.pcap");
        Ok(())
    }

    #[test]
    fn expected_sessions_cover_tunnel_packets() {
        for (s, expected) in scenarios_with_expected() {
            match s.name {
                // No tunnels: native traffic, unencapsulated copies, shadowing.
                "ordinary" | "tee-copy" | "payload-shadow" | "ephemeral-tunnel-ports" => {
                    assert!(expected.is_empty())
                }
                _ => assert!(!expected.is_empty(), "{}", s.name),
            }
            for e in &expected {
                assert!(
                    e.packets > 0 && e.packets <= s.packets.len() as u64,
                    "{}: {e:?}",
                    s.name
                );
            }
        }
    }

    #[test]
    fn erspan3_flags_are_countable() {
        let all = scenarios();
        let s = scenario(&all, "erspan3");
        assert_eq!(s.packets.len(), 20);
        let (mut egress, mut platform, mut truncated) = (0, 0, 0);
        for p in &s.packets {
            // Ethernet 14 + IPv4 20 + GRE with sequence 8.
            let e = &p.data[42..];
            assert_eq!(&p.data[36..38], &[0x22, 0xeb]);
            assert_eq!(e[0] >> 4, 2);
            assert_eq!(u16::from_be_bytes([e[2], e[3]]) & 0x3ff, 7);
            egress += usize::from(e[11] & 0x08 != 0);
            platform += usize::from(e[11] & 0x01 != 0);
            truncated += usize::from(e[2] & 0x04 != 0);
        }
        assert_eq!(egress, 8);
        assert_eq!(platform, 5);
        assert_eq!(truncated, 2);
    }

    #[test]
    fn packet_sizes_stay_within_ethernet_mtu() {
        for s in scenarios() {
            if s.name == "malformed" {
                continue;
            }
            for p in &s.packets {
                assert!(p.data.len() <= 1514, "{}: {}", s.name, p.data.len());
            }
        }
    }

    #[test]
    fn mixed_is_deterministic() -> io::Result<()> {
        let mut a = Vec::new();
        let mut b = Vec::new();
        let mut c = Vec::new();
        let sa = write_mixed(&mut a, 3000, 7)?;
        let sb = write_mixed(&mut b, 3000, 7)?;
        write_mixed(&mut c, 3000, 8)?;
        assert_eq!(a, b);
        assert_eq!(sa, sb);
        assert_ne!(a, c);
        assert_eq!(sa.packets, 3000);
        assert_eq!(a.len() as u64, 24 + 16 * 3000 + sa.bytes);
        Ok(())
    }

    #[test]
    fn mixed_size_mix() -> io::Result<()> {
        let mut out = Vec::new();
        let n = 5000;
        write_mixed(&mut out, n, 1)?;
        let mut off = 24;
        let (mut small, mut large, mut over) = (0, 0, 0);
        while off + 16 <= out.len() {
            let caplen =
                u32::from_le_bytes([out[off + 8], out[off + 9], out[off + 10], out[off + 11]])
                    as usize;
            small += usize::from(caplen <= 128);
            large += usize::from(caplen >= 1400);
            over += usize::from(caplen > 1514);
            off += 16 + caplen;
        }
        assert_eq!(off, out.len());
        assert_eq!(over, 0);
        assert!(small > 500, "small {small}");
        assert!(large > 500, "large {large}");
        Ok(())
    }

    #[test]
    fn stack_wraps_inside_out() {
        let mut st = Stack::default();
        st.cur.extend_from_slice(b"payload");
        st.wrap(|o, p| {
            o.extend_from_slice(b"hdr:");
            o.extend_from_slice(p);
        });
        assert_eq!(st.cur, b"hdr:payload");
    }
}
