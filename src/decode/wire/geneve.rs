//! Geneve header (RFC 8926).
//!
//! ```text
//! |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
//! |        Virtual Network Identifier (VNI)       |    Reserved   |
//! |                    Variable-Length Options                    |
//! ```
use super::{Truncated, be16, be32};

pub mod field {
    use core::ops::Range;
    pub const VER_OPTLEN: usize = 0;
    pub const FLAGS: usize = 1;
    pub const PROTOCOL: Range<usize> = 2..4;
    pub const VNI: Range<usize> = 4..8;
    pub const FIXED_LEN: usize = 8;
}

#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }
    /// Checks the fixed header and that the options fit in the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        let p = Packet { buffer };
        let len = p.buffer.as_ref().len();
        if len < field::FIXED_LEN || len < p.header_len() {
            return Err(Truncated);
        }
        Ok(p)
    }
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPTLEN] >> 6
    }
    /// Length of the options in bytes.
    pub fn options_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_OPTLEN] & 0x3f) * 4
    }
    pub fn oam(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & 0x80 != 0
    }
    pub fn critical(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & 0x40 != 0
    }
    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PROTOCOL.start)
    }
    pub fn vni(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VNI.start) >> 8
    }
    pub fn header_len(&self) -> usize {
        field::FIXED_LEN + self.options_len()
    }
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::FIXED_LEN..self.header_len()]
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
    fn options_skipped_by_length() {
        let b = [
            0x02, 0x00, 0x65, 0x58, 0x00, 0x00, 0x4d, 0x00, // 2 words of options
            0x01, 0x02, 0x03, 0x01, 0xaa, 0xbb, 0xcc, 0xdd, // one TLV
            0xfe,
        ];
        let p = Packet::new_checked(&b[..]).expect("valid");
        assert_eq!(p.version(), 0);
        assert_eq!(p.options_len(), 8);
        assert_eq!(p.protocol(), 0x6558);
        assert_eq!(p.vni(), 77);
        assert_eq!(p.payload(), &[0xfe]);
        assert_eq!(p.options().len(), 8);
    }

    #[test]
    fn options_longer_than_packet() {
        let b = [0x3f, 0x00, 0x65, 0x58, 0, 0, 1, 0, 0, 0];
        assert!(Packet::new_checked(&b[..]).is_err());
        assert!(Packet::new_checked(&b[..4]).is_err());
    }
}
