//! TZSP (TaZmen Sniffer Protocol), as streamed by MikroTik "packet sniffer".
//!
//! ```text
//! | Version (1) | Type | Encapsulation (16) | Tagged fields ... | END (1) | frame |
//! ```
//! Tags are `type, length, value` except PADDING (0) and END (1), which are
//! one byte each.
use super::{Truncated, be16};

pub mod field {
    pub const VERSION: usize = 0;
    pub const TYPE: usize = 1;
    pub const ENCAPSULATION: core::ops::Range<usize> = 2..4;
    pub const FIXED_LEN: usize = 4;
}

pub const TAG_PADDING: u8 = 0;
pub const TAG_END: u8 = 1;
pub const ENCAP_ETHERNET: u16 = 1;
/// Packet types that carry a captured frame.
pub const TYPE_RECEIVED: u8 = 0;
pub const TYPE_TRANSMIT: u8 = 1;

/// Packet types the protocol defines: received and transmitted frames,
/// configuration, keepalive, port opener (2 is reserved).
pub const fn known_type(t: u8) -> bool {
    matches!(t, 0 | 1 | 3 | 4 | 5)
}

/// Encapsulations the protocol defines: Ethernet, Token Ring, SLIP, PPP,
/// FDDI, raw, 802.11, 802.11 with Prism or AVS headers. Only Ethernet is
/// unwrapped.
pub const fn known_encapsulation(e: u16) -> bool {
    matches!(e, 1 | 2 | 3 | 4 | 5 | 7 | 18 | 119 | 127)
}

/// Why a TZSP header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    Truncated,
    /// The tag list ran off the end of the packet without an END tag.
    Unterminated,
}

impl From<Truncated> for Error {
    fn from(_: Truncated) -> Self {
        Error::Truncated
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    header_len: usize,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the fixed header and walks the tagged fields to their END tag.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < field::FIXED_LEN {
            return Err(Error::Truncated);
        }
        let mut off = field::FIXED_LEN;
        loop {
            match b.get(off) {
                None => return Err(Error::Unterminated),
                Some(&TAG_END) => {
                    off += 1;
                    break;
                }
                Some(&TAG_PADDING) => off += 1,
                Some(_) => {
                    let len = *b.get(off + 1).ok_or(Error::Unterminated)?;
                    off += 2 + usize::from(len);
                }
            }
        }
        if off > b.len() {
            return Err(Error::Unterminated);
        }
        Ok(Packet {
            buffer,
            header_len: off,
        })
    }
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }
    pub fn packet_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    pub fn encapsulation(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ENCAPSULATION.start)
    }
    pub fn header_len(&self) -> usize {
        self.header_len
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// What follows the header, borrowed for as long as the buffer.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.header_len..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_skipped() {
        let b = [1, 0, 0, 1, 0, 10, 1, 6, TAG_END, 0xaa];
        let p = Packet::new_checked(&b[..]).expect("valid");
        assert_eq!(p.version(), 1);
        assert_eq!(p.packet_type(), TYPE_RECEIVED);
        assert_eq!(p.encapsulation(), ENCAP_ETHERNET);
        assert_eq!(p.header_len(), 9);
        assert_eq!(p.payload(), &[0xaa]);
    }

    #[test]
    fn known_types_and_encapsulations() {
        assert!(known_type(TYPE_RECEIVED) && known_type(4) && !known_type(2) && !known_type(9));
        assert!(known_encapsulation(ENCAP_ETHERNET) && known_encapsulation(18));
        assert!(!known_encapsulation(0) && !known_encapsulation(0x1234));
    }

    #[test]
    fn unterminated_tags() {
        assert_eq!(
            Packet::new_checked(&[1u8, 0, 0, 1, 10, 200][..]).err(),
            Some(Error::Unterminated)
        );
        assert_eq!(
            Packet::new_checked(&[1u8, 0, 0, 1, 0, 0][..]).err(),
            Some(Error::Unterminated)
        );
        assert_eq!(
            Packet::new_checked(&[1u8, 0][..]).err(),
            Some(Error::Truncated)
        );
    }
}
