//! Zstandard input, decoded by libzstd (the `zstd` crate).
//!
//! A Zstandard stream is frames one after another (RFC 8878, section 3):
//! `pzstd` writes a skippable frame and then one frame per chunk of input,
//! the seekable format adds a skippable frame holding its seek table, and
//! two compressed files concatenated are one valid stream. libzstd's
//! streaming decoder reads every frame and skips the skippable ones
//! (`ruzstd`'s, used before, stopped after the first frame, so all but
//! the first were lost). It decodes the mixed benchmark capture in about
//! half of ruzstd's time (docs/performance.md). Its errors are prefixed
//! with `zstd:`; the tests below hold the crate to the shapes of stream
//! that matter.
use std::io::{self, Read};

/// The magic number of a Zstandard frame, as it lies in the file.
pub const FRAME_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Whether `magic` (the first four bytes of a frame) starts a skippable
/// frame (magic numbers 0x184D2A50 to 0x184D2A5F, little-endian).
pub fn is_skippable(magic: [u8; 4]) -> bool {
    u32::from_le_bytes(magic) & 0xffff_fff0 == 0x184d_2a50
}

/// Decompressed bytes of every frame of `source`, in order.
pub struct Frames<R: Read> {
    dec: ::zstd::stream::read::Decoder<'static, io::BufReader<R>>,
}

impl<R: Read> Frames<R> {
    pub fn new(source: R) -> io::Result<Self> {
        let dec = ::zstd::stream::read::Decoder::new(source)
            .map_err(|e| io::Error::new(e.kind(), format!("zstd: {e}")))?;
        Ok(Frames { dec })
    }
}

impl<R: Read> Read for Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.dec
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), format!("zstd: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn z(data: &[u8]) -> Vec<u8> {
        ::zstd::encode_all(data, 1).expect("in memory")
    }

    fn skippable(kind: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![0x50 | (kind & 0xf), 0x2a, 0x4d, 0x18];
        v.extend_from_slice(&u32::try_from(content.len()).expect("small").to_le_bytes());
        v.extend_from_slice(content);
        v
    }

    fn decode_all(input: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Frames::new(input)?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn every_frame_is_decoded_in_order_and_skippable_frames_are_skipped() {
        let a: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let b: Vec<u8> = (0..1_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let mut input = skippable(3, b"metadata first");
        input.extend(z(&a));
        input.extend(skippable(0xe, &[0xaa; 300]));
        input.extend(z(&b));
        input.extend(z(b""));
        input.extend(z(&a));
        let mut want = a.clone();
        want.extend(&b);
        want.extend(&a);
        assert_eq!(decode_all(&input).expect("decodes"), want);
    }

    #[test]
    fn a_single_frame_decodes_as_before() {
        let a = b"one frame only".repeat(100);
        assert_eq!(decode_all(&z(&a)).expect("decodes"), a);
    }

    #[test]
    fn bytes_after_a_frame_that_begin_no_frame_are_an_error_after_the_data() {
        let a = b"abc".repeat(1000);
        let mut input = z(&a);
        input.extend_from_slice(b"garbage!");
        let mut f = Frames::new(&input[..]).expect("first frame");
        let mut out = vec![0u8; a.len()];
        f.read_exact(&mut out)
            .expect("the frame's bytes come first");
        assert_eq!(out, a);
        let e = f.read(&mut [0u8; 16]).expect_err("then the error");
        assert!(e.to_string().starts_with("zstd: "), "{e}");
    }

    #[test]
    fn a_cut_off_frame_or_skippable_frame_is_an_error_not_a_hang() {
        let a: Vec<u8> = (0..50_000u32).map(|i| (i * 13 % 256) as u8).collect();
        let full = z(&a);
        for cut_at in [5, full.len() / 2, full.len() - 1] {
            assert!(decode_all(&full[..cut_at]).is_err(), "cut at {cut_at}");
        }
        let mut s = z(b"x");
        s.extend(&skippable(0, &[1; 100])[..50]);
        assert!(decode_all(&s).is_err());
        assert!(decode_all(b"").is_err(), "no frame at all");
    }

    #[test]
    fn skippable_magic_numbers_are_the_sixteen_of_the_rfc() {
        for k in 0..16u32 {
            assert!(is_skippable((0x184d_2a50 + k).to_le_bytes()));
        }
        assert!(!is_skippable(0x184d_2a60u32.to_le_bytes()));
        assert!(!is_skippable(FRAME_MAGIC));
    }
}
