//! Gzip input of any number of members, decoded with `flate2`.
//!
//! A gzip file is members one after another (RFC 1952, section 2.2):
//! `pigz --independent`, `bgzip` and `cat a.gz b.gz` write several. After
//! the last one, tools and tape blocking sometimes leave zero bytes; GNU
//! gzip decompresses such a file and says "trailing zero bytes ignored",
//! and zlib's `gzread` (Wireshark's reader) ignores them too. `flate2`'s
//! `MultiGzDecoder` took them for a broken member header, so the capture
//! was reported as cut off although every frame had been read. [`Members`]
//! reads every member, takes zero bytes after the last as its end, and
//! reports other bytes there as what they are.
use std::io::{self, BufRead, BufReader, Read};

use flate2::bufread::GzDecoder;

/// The magic number that starts a gzip member.
pub const MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Decompressed bytes of every member of `source`, in order.
pub struct Members<R: Read> {
    /// The member being read (None once the input has ended).
    member: Option<GzDecoder<BufReader<R>>>,
    /// Members begun so far, for error messages.
    members: u64,
}

impl<R: Read> Members<R> {
    pub fn new(source: R) -> Self {
        Members {
            member: Some(GzDecoder::new(BufReader::with_capacity(64 << 10, source))),
            members: 1,
        }
    }
}

impl<R: Read> Read for Members<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(member) = self.member.as_mut() else {
                return Ok(0);
            };
            let n = member.read(buf).map_err(|e| {
                io::Error::new(e.kind(), format!("gzip member {}: {e}", self.members))
            })?;
            if n > 0 {
                return Ok(n);
            }
            // This member is done: what follows decides.
            let Some(done) = self.member.take() else {
                return Ok(0);
            };
            let mut rest = done.into_inner();
            match rest.fill_buf()?.first() {
                None => return Ok(0),
                Some(&b) if b == MAGIC[0] => {
                    self.members += 1;
                    self.member = Some(GzDecoder::new(rest));
                }
                Some(_) => return trailing(rest, self.members),
            }
        }
    }
}

/// The end of the input after `members` members: Ok(0) if only zero
/// bytes follow, an error naming what follows otherwise.
fn trailing(mut rest: impl BufRead, members: u64) -> io::Result<usize> {
    let mut at = 0u64;
    loop {
        let chunk = rest.fill_buf()?;
        if chunk.is_empty() {
            return Ok(0);
        }
        if let Some(i) = chunk.iter().position(|&b| b != 0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the bytes after gzip member {members} are not gzip \
                     (0x{:02x}, {} bytes past its end)",
                    chunk[i],
                    at + i as u64
                ),
            ));
        }
        let n = chunk.len();
        at += n as u64;
        rest.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).expect("in memory");
        e.finish().expect("in memory")
    }

    fn decode_all(input: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Members::new(input).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn every_member_is_decoded_in_order() {
        let a: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        let mut input = gz(&a);
        input.extend(gz(b"second"));
        input.extend(gz(b""));
        input.extend(gz(&a));
        let mut want = a.clone();
        want.extend(b"second");
        want.extend(&a);
        assert_eq!(decode_all(&input).expect("decodes"), want);
    }

    #[test]
    fn zero_bytes_after_the_last_member_end_the_input() {
        let a = b"frames".repeat(500);
        for pad in [1, 9, 10, 512, 100_000] {
            let mut input = gz(&a);
            input.resize(input.len() + pad, 0);
            assert_eq!(decode_all(&input).expect("decodes"), a, "{pad} zero bytes");
        }
    }

    #[test]
    fn other_bytes_after_a_member_are_an_error_after_the_data() {
        let a = b"abc".repeat(1000);
        let mut input = gz(&a);
        input.extend_from_slice(&[0, 0, 0]);
        input.extend_from_slice(b"\xd4\xc3\xb2\xa1 a pcap appended");
        let mut m = Members::new(&input[..]);
        let mut out = vec![0u8; a.len()];
        m.read_exact(&mut out)
            .expect("the member's bytes come first");
        assert_eq!(out, a);
        let e = m.read(&mut [0u8; 16]).expect_err("then the error");
        assert_eq!(
            e.to_string(),
            "the bytes after gzip member 1 are not gzip (0xd4, 3 bytes past its end)"
        );
        let mut input = gz(&a);
        input.extend_from_slice(b"junk");
        let e = decode_all(&input).expect_err("junk");
        assert_eq!(
            e.to_string(),
            "the bytes after gzip member 1 are not gzip (0x6a, 0 bytes past its end)"
        );
    }

    #[test]
    fn a_cut_off_or_corrupt_member_is_an_error_naming_it() {
        let a: Vec<u8> = (0..50_000u32).map(|i| (i * 31 % 256) as u8).collect();
        let one = gz(&a);
        let mut two = gz(b"first");
        two.extend(&one[..one.len() / 2]);
        let e = decode_all(&two).expect_err("cut off");
        assert!(e.to_string().starts_with("gzip member 2: "), "{e}");
        let mut bad = one.clone();
        bad[1] = 0x00;
        assert!(decode_all(&bad).is_err());
        assert!(decode_all(&one[..5]).is_err());
    }
}
