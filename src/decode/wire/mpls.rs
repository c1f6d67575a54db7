//! MPLS label stack entries (RFC 3032).
//!
//! ```text
//! |                Label                  | TC  |S|       TTL     |
//! ```
use super::{Truncated, be32};

pub const ENTRY_LEN: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry(u32);

impl Entry {
    pub fn new_checked(b: &[u8]) -> Result<Self, Truncated> {
        if b.len() < ENTRY_LEN {
            return Err(Truncated);
        }
        Ok(Entry(be32(b, 0)))
    }
    pub fn label(self) -> u32 {
        self.0 >> 12
    }
    pub fn traffic_class(self) -> u8 {
        ((self.0 >> 9) & 0x7) as u8
    }
    pub fn bottom_of_stack(self) -> bool {
        self.0 & 0x100 != 0
    }
    pub fn ttl(self) -> u8 {
        (self.0 & 0xff) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_fields() {
        let e = Entry::new_checked(&[0x00, 0x01, 0x05, 0x40]).expect("valid");
        assert_eq!(e.label(), 16);
        assert_eq!(e.traffic_class(), 2);
        assert!(e.bottom_of_stack());
        assert_eq!(e.ttl(), 64);
        assert!(Entry::new_checked(&[0, 1, 2]).is_err());
    }
}
