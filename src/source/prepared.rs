//! Frames decoded on the thread that read them (the replay reader thread,
//! the live capture threads), for the engine thread: a decoding whose one
//! borrowed part, the innermost IP packet, is kept as a range of its frame
//! so that it can travel in a batch beside the frame's bytes (a copy of
//! them, or the read buffer they lie in).
use crate::decode::{Decoded, InnerIp};

use super::Frame;

/// A frame's duplicate fingerprint and payload digest, when a decode
/// worker computed them (`replay --workers N`, N >= 2) with the engine's
/// own function (`detect::engine::FrameHasher`).
pub type Hashes = (Option<u64>, Option<u64>);

/// The innermost IP packet as a range of the frame.
#[derive(Debug, Clone, Copy)]
struct RawInner {
    protocol: u8,
    src_port: u16,
    dst_port: u16,
    start: u32,
    len: u32,
    l4_offset: usize,
    fragment: bool,
}

/// A decoding that owns nothing of its frame.
#[derive(Debug, Clone, Copy)]
pub struct PackedDecoded {
    decoded: Decoded<'static>,
    inner: Option<RawInner>,
    /// The inner packet was not a part of the frame (never, for this
    /// decoder): the engine decodes the frame again.
    redo: bool,
}

impl PackedDecoded {
    /// Packs `d`, a decoding of the frame bytes `data`.
    #[inline]
    pub fn pack(data: &[u8], d: &Decoded<'_>) -> Self {
        let base = data.as_ptr() as usize;
        let inner = d.inner.as_ref().and_then(|ip| {
            let at = (ip.packet.as_ptr() as usize).checked_sub(base)?;
            (at + ip.packet.len() <= data.len()).then_some(RawInner {
                protocol: ip.protocol,
                src_port: ip.src_port,
                dst_port: ip.dst_port,
                start: u32::try_from(at).ok()?,
                len: u32::try_from(ip.packet.len()).ok()?,
                l4_offset: ip.l4_offset,
                fragment: ip.fragment,
            })
        });
        PackedDecoded {
            decoded: Decoded { inner: None, ..*d },
            inner,
            redo: d.inner.is_some() && inner.is_none(),
        }
    }

    /// Where the innermost packet starts in its frame (0 if it has none).
    #[inline]
    pub fn inner_start(&self) -> usize {
        self.inner.map_or(0, |r| r.start as usize)
    }

    /// The decoding again, over `data`, the frame's bytes where they lie
    /// now (a copy, or the read buffer handed over); None: decode the
    /// frame again.
    #[inline]
    pub fn unpack<'a>(&self, data: &'a [u8]) -> Option<Decoded<'a>> {
        if self.redo {
            return None;
        }
        let mut d: Decoded<'a> = self.decoded;
        if let Some(ri) = self.inner {
            let s = ri.start as usize;
            d.inner = Some(InnerIp {
                protocol: ri.protocol,
                src_port: ri.src_port,
                dst_port: ri.dst_port,
                packet: data.get(s..s + ri.len as usize)?,
                l4_offset: ri.l4_offset,
                fragment: ri.fragment,
            });
        }
        Some(d)
    }
}

/// A frame decoded by the thread that read it: the frame, its capture's
/// DLT and its decoding (None: decode it again), and its fingerprints if
/// that thread computed them too.
pub struct Prepared<'a> {
    pub frame: Frame<'a>,
    pub dlt: i32,
    pub decoded: Option<Decoded<'a>>,
    pub hashes: Option<Hashes>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Decoder, LinkType};

    #[test]
    fn a_packed_decoding_unpacks_over_a_copy_of_the_frame() {
        let cfg = crate::config::Config::default();
        let decoder = Decoder::new(&cfg.decode);
        let mut inner_seen = 0;
        for s in mirrorwatch_synth::scenarios() {
            let lt = LinkType::from_dlt(s.linktype as i32);
            for p in s.packets.iter().take(5) {
                let frame = &p.data;
                let d = decoder.decode(lt, frame.len() as u32, frame);
                let copy = frame.clone();
                let back = PackedDecoded::pack(frame, &d)
                    .unpack(&copy)
                    .expect("unpacks");
                assert_eq!(back.tunnel, d.tunnel, "{}", s.name);
                assert_eq!(
                    back.inner
                        .map(|i| (i.packet, i.protocol, i.src_port, i.dst_port, i.l4_offset)),
                    d.inner
                        .map(|i| (i.packet, i.protocol, i.src_port, i.dst_port, i.l4_offset)),
                    "{}",
                    s.name
                );
                // The inner packet is a part of the copy, not of the frame.
                if let Some(i) = back.inner {
                    let at = i.packet.as_ptr() as usize - copy.as_ptr() as usize;
                    assert!(at + i.packet.len() <= copy.len());
                    inner_seen += 1;
                }
            }
        }
        assert!(inner_seen > 50, "{inner_seen}");
        // A decoding whose inner packet lies elsewhere is decoded again.
        let other = vec![0x45u8; 40];
        let d = Decoded {
            inner: Some(InnerIp {
                protocol: 6,
                src_port: 1,
                dst_port: 2,
                packet: &other,
                l4_offset: 20,
                fragment: false,
            }),
            ..Decoded::default()
        };
        assert!(
            PackedDecoded::pack(&[0u8; 60], &d)
                .unpack(&[0u8; 60])
                .is_none()
        );
    }
}
