//! Link-layer headers of capture files that are not Ethernet: Linux cooked
//! capture v1 and v2, and BSD NULL/LOOP.
use super::{Truncated, be16};

/// Linux cooked capture v1 (`LINKTYPE_LINUX_SLL`, 113), 16 bytes.
pub mod sll {
    pub const ARPHRD: core::ops::Range<usize> = 2..4;
    pub const PROTOCOL: core::ops::Range<usize> = 14..16;
    pub const HEADER_LEN: usize = 16;
}

/// Linux cooked capture v2 (`LINKTYPE_LINUX_SLL2`, 276), 20 bytes.
pub mod sll2 {
    pub const PROTOCOL: core::ops::Range<usize> = 0..2;
    pub const ARPHRD: core::ops::Range<usize> = 8..10;
    pub const HEADER_LEN: usize = 20;
}

/// `ARPHRD_IPGRE`: the protocol field holds a GRE protocol type and the
/// payload starts with the GRE payload (Linux `gre` devices).
pub const ARPHRD_IPGRE: u16 = 778;

/// A cooked header reduced to what decoding needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cooked {
    pub arphrd: u16,
    pub protocol: u16,
    pub header_len: usize,
}

pub fn sll(b: &[u8]) -> Result<Cooked, Truncated> {
    if b.len() < sll::HEADER_LEN {
        return Err(Truncated);
    }
    Ok(Cooked {
        arphrd: be16(b, sll::ARPHRD.start),
        protocol: be16(b, sll::PROTOCOL.start),
        header_len: sll::HEADER_LEN,
    })
}

pub fn sll2(b: &[u8]) -> Result<Cooked, Truncated> {
    if b.len() < sll2::HEADER_LEN {
        return Err(Truncated);
    }
    Ok(Cooked {
        arphrd: be16(b, sll2::ARPHRD.start),
        protocol: be16(b, sll2::PROTOCOL.start),
        header_len: sll2::HEADER_LEN,
    })
}

/// What a BSD NULL/LOOP header says the payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullFamily {
    Ipv4,
    Ipv6,
    Other,
}

pub const NULL_HEADER_LEN: usize = 4;

/// Address family of a NULL (host byte order, either endianness accepted)
/// or LOOP (network byte order) header. IPv6 is 10 on Linux and 24, 28 or
/// 30 on the BSDs and macOS.
pub fn null_family(b: &[u8]) -> Result<NullFamily, Truncated> {
    if b.len() < NULL_HEADER_LEN {
        return Err(Truncated);
    }
    let raw = [b[0], b[1], b[2], b[3]];
    let classify = |v: u32| match v {
        2 => Some(NullFamily::Ipv4),
        10 | 24 | 28 | 30 => Some(NullFamily::Ipv6),
        _ => None,
    };
    Ok(classify(u32::from_le_bytes(raw))
        .or_else(|| classify(u32::from_be_bytes(raw)))
        .unwrap_or(NullFamily::Other))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooked_headers() {
        let mut v1 = [0u8; 17];
        v1[3] = 1;
        v1[14] = 0x08;
        let c = sll(&v1).expect("valid");
        assert_eq!((c.arphrd, c.protocol, c.header_len), (1, 0x0800, 16));
        assert!(sll(&v1[..15]).is_err());

        let mut v2 = [0u8; 20];
        v2[0] = 0x86;
        v2[1] = 0xdd;
        v2[9] = 1;
        let c = sll2(&v2).expect("valid");
        assert_eq!((c.arphrd, c.protocol, c.header_len), (1, 0x86dd, 20));
        assert!(sll2(&v2[..19]).is_err());
    }

    #[test]
    fn null_families() {
        assert_eq!(null_family(&[2, 0, 0, 0]), Ok(NullFamily::Ipv4));
        assert_eq!(null_family(&[0, 0, 0, 2]), Ok(NullFamily::Ipv4));
        assert_eq!(null_family(&[30, 0, 0, 0]), Ok(NullFamily::Ipv6));
        assert_eq!(null_family(&[0, 0, 0, 24]), Ok(NullFamily::Ipv6));
        assert_eq!(null_family(&[7, 0, 0, 0]), Ok(NullFamily::Other));
        assert!(null_family(&[2, 0]).is_err());
    }
}
