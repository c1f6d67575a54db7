//! GRE version 0 header (RFC 2784, key and sequence number from RFC 2890).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |C|R|K|S|s|Recur|  Flags  | Ver |         Protocol Type         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Checksum (optional)      |       Reserved1 (Optional)    |
//! |                         Key (optional)                        |
//! |                 Sequence Number (Optional)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
use super::{Truncated, be16, be32};

/// Byte ranges of the fixed part.
pub mod field {
    use core::ops::Range;
    pub const FLAGS_VER: Range<usize> = 0..2;
    pub const PROTOCOL: Range<usize> = 2..4;
    pub const FIXED_LEN: usize = 4;
}

pub const FLAG_CHECKSUM: u16 = 0x8000;
pub const FLAG_ROUTING: u16 = 0x4000;
pub const FLAG_KEY: u16 = 0x2000;
pub const FLAG_SEQUENCE: u16 = 0x1000;
pub const VERSION_MASK: u16 = 0x0007;

/// Well-known GRE protocol types.
pub mod proto {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86DD;
    pub const ERSPAN_I_II: u16 = 0x88BE;
    pub const ERSPAN_III: u16 = 0x22EB;
    pub const TEB: u16 = 0x6558;
    pub const MPLS_UC: u16 = 0x8847;
    pub const MPLS_MC: u16 = 0x8848;
}

/// A read-only view of a GRE header.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps `buffer` after checking it holds the fixed header and every
    /// optional field the flags announce.
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), Truncated> {
        let len = self.buffer.as_ref().len();
        if len < field::FIXED_LEN || len < self.header_len() {
            Err(Truncated)
        } else {
            Ok(())
        }
    }

    pub fn flags_version(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLAGS_VER.start)
    }
    pub fn version(&self) -> u8 {
        (self.flags_version() & VERSION_MASK) as u8
    }
    pub fn has_checksum(&self) -> bool {
        self.flags_version() & FLAG_CHECKSUM != 0
    }
    pub fn has_routing(&self) -> bool {
        self.flags_version() & FLAG_ROUTING != 0
    }
    pub fn has_key(&self) -> bool {
        self.flags_version() & FLAG_KEY != 0
    }
    pub fn has_sequence(&self) -> bool {
        self.flags_version() & FLAG_SEQUENCE != 0
    }
    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PROTOCOL.start)
    }

    /// Length of the header with its optional fields (routing not included:
    /// RFC 2784 senders never set R, and we refuse it).
    pub fn header_len(&self) -> usize {
        let f = self.flags_version();
        field::FIXED_LEN
            + if f & (FLAG_CHECKSUM | FLAG_ROUTING) != 0 {
                4
            } else {
                0
            }
            + if f & FLAG_KEY != 0 { 4 } else { 0 }
            + if f & FLAG_SEQUENCE != 0 { 4 } else { 0 }
    }

    fn key_offset(&self) -> usize {
        field::FIXED_LEN
            + if self.flags_version() & (FLAG_CHECKSUM | FLAG_ROUTING) != 0 {
                4
            } else {
                0
            }
    }

    pub fn key(&self) -> Option<u32> {
        self.has_key()
            .then(|| be32(self.buffer.as_ref(), self.key_offset()))
    }

    pub fn sequence(&self) -> Option<u32> {
        self.has_sequence().then(|| {
            let off = self.key_offset() + if self.has_key() { 4 } else { 0 };
            be32(self.buffer.as_ref(), off)
        })
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// What follows the header, borrowed for as long as the buffer.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_header() {
        let b = [0x00, 0x00, 0x08, 0x00, 0x45];
        let p = Packet::new_checked(&b[..]).expect("valid");
        assert_eq!(p.protocol(), proto::IPV4);
        assert_eq!(p.header_len(), 4);
        assert_eq!(p.key(), None);
        assert_eq!(p.sequence(), None);
        assert_eq!(p.payload(), &[0x45]);
    }

    #[test]
    fn checksum_key_sequence() {
        let b = [
            0xb0, 0x00, 0x88, 0xbe, 0xaa, 0xbb, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 9, 0xff,
        ];
        let p = Packet::new_checked(&b[..]).expect("valid");
        assert!(p.has_checksum() && p.has_key() && p.has_sequence());
        assert_eq!(p.key(), Some(0x1234));
        assert_eq!(p.sequence(), Some(9));
        assert_eq!(p.payload(), &[0xff]);
    }

    #[test]
    fn truncated_options() {
        // K and S announced but only the key is present.
        let b = [0x30, 0x00, 0x65, 0x58, 0, 0, 0, 1];
        assert!(Packet::new_checked(&b[..]).is_err());
        assert!(Packet::new_checked(&b[..3]).is_err());
    }

    #[test]
    fn version_bits() {
        let b = [0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 1, 0, 0, 0, 2];
        let p = Packet::new_checked(&b[..]).expect("valid");
        assert_eq!(p.version(), 1);
    }
}
