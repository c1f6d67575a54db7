//! VXLAN (RFC 7348) and VXLAN-GPE (draft-ietf-nvo3-vxlan-gpe) headers.
//!
//! ```text
//! |R|R|Ver|I|P|B|O|       Reserved                |Next Protocol  |  (GPE)
//! |R|R|R|R|I|R|R|R|            Reserved                           |  (VXLAN)
//! |                VXLAN Network Identifier (VNI) |   Reserved    |
//! ```
use super::{Truncated, be32};

pub mod field {
    use core::ops::Range;
    pub const FLAGS: usize = 0;
    pub const NEXT_PROTOCOL: usize = 3;
    pub const VNI: Range<usize> = 4..8;
    pub const HEADER_LEN: usize = 8;
}

pub const FLAG_I: u8 = 0x08;
pub const FLAG_P: u8 = 0x04;

/// VXLAN-GPE next protocol values.
pub mod next {
    pub const IPV4: u8 = 1;
    pub const IPV6: u8 = 2;
    pub const ETHERNET: u8 = 3;
    pub const NSH: u8 = 4;
    pub const MPLS: u8 = 5;

    /// A next-protocol value the draft assigns (1-5).
    pub const fn known(v: u8) -> bool {
        matches!(v, IPV4 | IPV6 | ETHERNET | NSH | MPLS)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        if buffer.as_ref().len() < field::HEADER_LEN {
            return Err(Truncated);
        }
        Ok(Packet { buffer })
    }
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    /// True when the I flag says the VNI is valid.
    pub fn vni_valid(&self) -> bool {
        self.flags() & FLAG_I != 0
    }
    pub fn vni(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VNI.start) >> 8
    }
    /// GPE: version bits.
    pub fn gpe_version(&self) -> u8 {
        (self.flags() >> 4) & 0x3
    }
    /// GPE: the next-protocol field, when the P flag is set.
    pub fn gpe_next_protocol(&self) -> Option<u8> {
        (self.flags() & FLAG_P != 0).then(|| self.buffer.as_ref()[field::NEXT_PROTOCOL])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// What follows the header, borrowed for as long as the buffer.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::HEADER_LEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vxlan_vni() {
        let b = [0x08, 0, 0, 0, 0x00, 0x13, 0x89, 0x00, 0xab];
        let p = Packet::new_checked(&b[..]).expect("valid");
        assert!(p.vni_valid());
        assert_eq!(p.vni(), 5001);
        assert_eq!(p.payload(), &[0xab]);
        assert!(Packet::new_checked(&b[..7]).is_err());
    }

    #[test]
    fn i_flag_and_reserved_bits() {
        // RFC 7348: reserved bits are ignored on receipt; the I flag must
        // be set for a valid VNI.
        let b = [0xff, 0xff, 0xff, 0xff, 0, 0, 7, 0xff];
        assert!(Packet::new_checked(&b[..]).expect("len").vni_valid());
        let b = [0xf7, 0, 0, 0, 0, 0, 7, 0];
        assert!(!Packet::new_checked(&b[..]).expect("len").vni_valid());
        assert!(next::known(next::NSH) && !next::known(0) && !next::known(6));
    }

    #[test]
    fn gpe_next_protocol() {
        let b = [0x0c, 0, 0, next::NSH, 0, 0, 42, 0];
        let p = Packet::new_checked(&b[..]).expect("valid");
        assert_eq!(p.gpe_next_protocol(), Some(next::NSH));
        assert_eq!(p.vni(), 42);
        let b = [0x08, 0, 0, 3, 0, 0, 1, 0];
        assert_eq!(
            Packet::new_checked(&b[..])
                .expect("valid")
                .gpe_next_protocol(),
            None
        );
    }
}
