//! ERSPAN type II and type III headers (draft-foschiano-erspan).
//!
//! Type I has no header of its own: the mirrored Ethernet frame directly
//! follows a GRE header of protocol 0x88BE without a sequence number.
//!
//! Type II (GRE protocol 0x88BE, sequence number present), 8 bytes:
//! ```text
//! |  Ver  |          VLAN         | COS | En|T|    Session ID     |
//! |      Reserved         |                  Index                |
//! ```
//! Type III (GRE protocol 0x22EB), 12 bytes, then an 8-byte
//! platform-specific subheader when O is set:
//! ```text
//! |  Ver  |          VLAN         | COS |BSO|T|     Session ID    |
//! |                          Timestamp                            |
//! |             SGT               |P|    FT   |   Hw ID   |D|Gra|O|
//! ```
use super::{Truncated, be16, be32};

pub mod field {
    use core::ops::Range;
    pub const VER_VLAN: Range<usize> = 0..2;
    pub const COS_T_SESSION: Range<usize> = 2..4;
    /// Type II: reserved (12 bits) + index (20 bits).
    pub const INDEX: Range<usize> = 4..8;
    /// Type III: hardware timestamp.
    pub const TIMESTAMP: Range<usize> = 4..8;
    pub const SGT: Range<usize> = 8..10;
    pub const P_FT_HWID_D_GRA_O: Range<usize> = 10..12;
    pub const TYPE2_LEN: usize = 8;
    pub const TYPE3_LEN: usize = 12;
    pub const PLATFORM_SUBHEADER_LEN: usize = 8;
}

/// Version nibble values.
pub const VERSION_TYPE2: u8 = 1;
pub const VERSION_TYPE3: u8 = 2;

/// Fields shared by type II and type III (first four bytes).
fn version(b: &[u8]) -> u8 {
    b[0] >> 4
}
fn vlan(b: &[u8]) -> u16 {
    be16(b, field::VER_VLAN.start) & 0x0fff
}
fn cos(b: &[u8]) -> u8 {
    (b[2] >> 5) & 0x7
}
fn truncated(b: &[u8]) -> bool {
    b[2] & 0x04 != 0
}
fn session_id(b: &[u8]) -> u16 {
    be16(b, field::COS_T_SESSION.start) & 0x03ff
}

/// ERSPAN type II header view.
#[derive(Debug, Clone, Copy)]
pub struct Type2<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Type2<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Type2 { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        if buffer.as_ref().len() < field::TYPE2_LEN {
            return Err(Truncated);
        }
        Ok(Type2 { buffer })
    }
    pub fn version(&self) -> u8 {
        version(self.buffer.as_ref())
    }
    pub fn vlan(&self) -> u16 {
        vlan(self.buffer.as_ref())
    }
    pub fn cos(&self) -> u8 {
        cos(self.buffer.as_ref())
    }
    /// Encapsulation type of the original frame (En): 0 untagged, 1 ISL,
    /// 2 802.1Q kept, 3 VLAN tag preserved.
    pub fn encap_type(&self) -> u8 {
        (self.buffer.as_ref()[2] >> 3) & 0x3
    }
    pub fn truncated(&self) -> bool {
        truncated(self.buffer.as_ref())
    }
    pub fn session_id(&self) -> u16 {
        session_id(self.buffer.as_ref())
    }
    pub fn index(&self) -> u32 {
        be32(self.buffer.as_ref(), field::INDEX.start) & 0x000f_ffff
    }
}

/// ERSPAN type III header view.
#[derive(Debug, Clone, Copy)]
pub struct Type3<T: AsRef<[u8]>> {
    buffer: T,
}

/// Frame type (FT) values of type III.
pub const FRAME_TYPE_ETHERNET: u8 = 0;
pub const FRAME_TYPE_IP: u8 = 2;

impl<T: AsRef<[u8]>> Type3<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Type3 { buffer }
    }
    /// Checks the fixed header and, when O is set, the platform subheader.
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        let p = Type3 { buffer };
        let b = p.buffer.as_ref();
        if b.len() < field::TYPE3_LEN || b.len() < p.header_len() {
            return Err(Truncated);
        }
        Ok(p)
    }
    fn flags(&self) -> u16 {
        be16(self.buffer.as_ref(), field::P_FT_HWID_D_GRA_O.start)
    }
    pub fn version(&self) -> u8 {
        version(self.buffer.as_ref())
    }
    pub fn vlan(&self) -> u16 {
        vlan(self.buffer.as_ref())
    }
    pub fn cos(&self) -> u8 {
        cos(self.buffer.as_ref())
    }
    /// Bad/short/oversized frame indication.
    pub fn bso(&self) -> u8 {
        (self.buffer.as_ref()[2] >> 3) & 0x3
    }
    pub fn truncated(&self) -> bool {
        truncated(self.buffer.as_ref())
    }
    pub fn session_id(&self) -> u16 {
        session_id(self.buffer.as_ref())
    }
    pub fn timestamp(&self) -> u32 {
        be32(self.buffer.as_ref(), field::TIMESTAMP.start)
    }
    pub fn sgt(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SGT.start)
    }
    pub fn p_bit(&self) -> bool {
        self.flags() & 0x8000 != 0
    }
    pub fn frame_type(&self) -> u8 {
        ((self.flags() >> 10) & 0x1f) as u8
    }
    pub fn hardware_id(&self) -> u8 {
        ((self.flags() >> 4) & 0x3f) as u8
    }
    /// Direction: false = ingress, true = egress.
    pub fn egress(&self) -> bool {
        self.flags() & 0x0008 != 0
    }
    pub fn granularity(&self) -> u8 {
        ((self.flags() >> 1) & 0x3) as u8
    }
    pub fn has_platform_subheader(&self) -> bool {
        self.flags() & 0x0001 != 0
    }
    pub fn header_len(&self) -> usize {
        field::TYPE3_LEN
            + if self.has_platform_subheader() {
                field::PLATFORM_SUBHEADER_LEN
            } else {
                0
            }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Type2<&'a T> {
    /// What follows the header, borrowed for as long as the buffer.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::TYPE2_LEN..]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Type3<&'a T> {
    /// What follows the header, borrowed for as long as the buffer.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type2_fields() {
        // ver 1, vlan 10, cos 5, en 3, T set, session 666, index 0x12345
        let b = [0x10, 0x0a, 0xbe, 0x9a, 0x00, 0x01, 0x23, 0x45, 0xaa];
        let h = Type2::new_checked(&b[..]).expect("valid");
        assert_eq!(h.version(), VERSION_TYPE2);
        assert_eq!(h.vlan(), 10);
        assert_eq!(h.cos(), 5);
        assert_eq!(h.encap_type(), 3);
        assert!(h.truncated());
        assert_eq!(h.session_id(), 666);
        assert_eq!(h.index(), 0x12345);
        assert_eq!(h.payload(), &[0xaa]);
        assert!(Type2::new_checked(&b[..7]).is_err());
    }

    #[test]
    fn type3_fields_and_subheader() {
        let mut b = vec![
            0x20, 0x05, 0x00, 0x07, // ver 2, vlan 5, session 7
            0, 0, 0, 42, // timestamp
            0x00, 0x10, // sgt
            0x00, 0x09, // FT 0, D egress, O set
        ];
        assert!(Type3::new_checked(&b[..]).is_err(), "subheader missing");
        b.extend_from_slice(&[0; 8]);
        b.push(0xee);
        let h = Type3::new_checked(&b[..]).expect("valid");
        assert_eq!(h.version(), VERSION_TYPE3);
        assert_eq!(h.vlan(), 5);
        assert_eq!(h.session_id(), 7);
        assert_eq!(h.timestamp(), 42);
        assert_eq!(h.sgt(), 0x10);
        assert!(h.egress());
        assert_eq!(h.frame_type(), FRAME_TYPE_ETHERNET);
        assert_eq!(h.header_len(), 20);
        assert_eq!(h.payload(), &[0xee]);
    }

    #[test]
    fn type3_ip_frame_type() {
        let b = [0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
        let h = Type3::new_checked(&b[..]).expect("valid");
        assert_eq!(h.frame_type(), FRAME_TYPE_IP);
        assert!(!h.egress());
        assert!(h.payload().is_empty());
    }
}
