//! Wire formats that etherparse does not cover, in the style of smoltcp's
//! `wire` module: a view over a byte buffer, `new_checked` verifying every
//! length the accessors will rely on, byte-range constants in `field`, and
//! tests beside each format.
pub mod erspan;
pub mod geneve;
pub mod gre;
pub mod link;
pub mod mpls;
pub mod tzsp;
pub mod vxlan;

/// The buffer is shorter than the header it should hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

/// Big-endian u16 at `off`. Callers have checked the length.
#[inline]
pub(crate) fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

/// Big-endian u32 at `off`. Callers have checked the length.
#[inline]
pub(crate) fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
