//! Zstandard input of any number of frames, decoded with `ruzstd`.
//!
//! A Zstandard stream is frames one after another (RFC 8878, section 3):
//! `pzstd` writes one per chunk of input, the seekable format adds a
//! skippable frame holding its seek table, and two compressed files
//! concatenated are one valid stream. `ruzstd`'s `StreamingDecoder` reads
//! one frame and then reports the end of input, so a capture compressed
//! that way lost every frame but the first (its record cut in two was
//! reported as a truncated capture). [`Frames`] decodes each frame in
//! turn, skips skippable frames (their content is metadata, never capture
//! bytes), checks each frame's content checksum where it has one, and
//! reports bytes after a frame that begin no frame as an error.
use std::io::{self, Read};

use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

/// The magic number of a Zstandard frame, as it lies in the file.
pub const FRAME_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Whether `magic` (the first four bytes of a frame) starts a skippable
/// frame (magic numbers 0x184D2A50 to 0x184D2A5F, little-endian).
pub fn is_skippable(magic: [u8; 4]) -> bool {
    u32::from_le_bytes(magic) & 0xffff_fff0 == 0x184d_2a50
}

/// Decompressed bytes of every frame of `source`, in order.
pub struct Frames<R: Read> {
    source: R,
    decoder: FrameDecoder,
    /// A frame is being decoded (its header was read).
    in_frame: bool,
    /// Frames begun so far, for error messages.
    frames: u64,
    /// An error found after bytes not yet handed out: it comes once they
    /// have been.
    failed: Option<io::Error>,
}

impl<R: Read> Frames<R> {
    /// Reads the first frame's header (skipping skippable frames before
    /// it); an input that is not Zstandard is an error.
    pub fn new(source: R) -> io::Result<Self> {
        let mut f = Frames {
            source,
            decoder: FrameDecoder::new(),
            in_frame: false,
            frames: 0,
            failed: None,
        };
        if !f.next_frame()? {
            return Err(invalid("zstd: no frame in the input".to_owned()));
        }
        Ok(f)
    }

    /// Starts the next data frame: false at the end of the input.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            let mut magic = [0u8; 4];
            let got = read_full(&mut self.source, &mut magic)?;
            if got == 0 {
                return Ok(false);
            }
            if got < 4 {
                return Err(invalid(format!(
                    "zstd: {got} bytes after frame {} that begin no frame",
                    self.frames
                )));
            }
            self.frames += 1;
            if is_skippable(magic) {
                let mut len = [0u8; 4];
                if read_full(&mut self.source, &mut len)? < 4 {
                    return Err(cut(self.frames));
                }
                let want = u64::from(u32::from_le_bytes(len));
                let skipped = io::copy(&mut (&mut self.source).take(want), &mut io::sink())?;
                if skipped < want {
                    return Err(cut(self.frames));
                }
                continue;
            }
            if magic != FRAME_MAGIC {
                return Err(invalid(format!(
                    "zstd: the bytes after frame {} begin no frame (magic {:02x}{:02x}{:02x}{:02x})",
                    self.frames - 1,
                    magic[0],
                    magic[1],
                    magic[2],
                    magic[3]
                )));
            }
            // The decoder reads the magic number itself: it is given back
            // in front of the rest of the input.
            let mut src = (&magic[..]).chain(&mut self.source);
            self.decoder
                .reset(&mut src)
                .map_err(|e| invalid(format!("zstd: frame {}: {e}", self.frames)))?;
            self.in_frame = true;
            return Ok(true);
        }
    }
}

impl<R: Read> Read for Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                let d = &mut self.decoder;
                while self.failed.is_none() && d.can_collect() < buf.len() && !d.is_finished() {
                    let more = buf.len() - d.can_collect();
                    if let Err(e) =
                        d.decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBytes(more))
                    {
                        let e = invalid(format!("zstd: frame {}: {e}", self.frames));
                        if d.can_collect() == 0 {
                            return Err(e);
                        }
                        // The blocks decoded before the broken one go
                        // first; the error comes on the next read.
                        self.failed = Some(e);
                        break;
                    }
                }
                let n = d.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                if let Some(e) = self.failed.take() {
                    return Err(e);
                }
                // Finished and collected: the content checksum, where the
                // frame has one, is checked (as `zstd -d` does: a flipped
                // bit in a block is often still a valid block), then on to
                // the next frame.
                self.in_frame = false;
                if let (Some(want), Some(got)) =
                    (d.get_checksum_from_data(), d.get_calculated_checksum())
                {
                    if want != got {
                        return Err(invalid(format!(
                            "zstd: frame {}: content checksum {got:08x} where the frame says \
                             {want:08x} (its data is corrupt)",
                            self.frames
                        )));
                    }
                }
            }
            if !self.next_frame()? {
                return Ok(0);
            }
        }
    }
}

/// Reads until `buf` is full or the input ends; how many bytes it got.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    match super::decompress::fill(r, buf) {
        (_, Some(e)) => Err(e),
        (got, None) => Ok(got),
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn cut(frame: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("zstd: input cut off in skippable frame {frame}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruzstd::encoding::{CompressionLevel, compress_to_vec};

    fn z(data: &[u8]) -> Vec<u8> {
        compress_to_vec(data, CompressionLevel::Fastest)
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
        assert!(e.to_string().contains("begin no frame"), "{e}");
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
    fn a_frame_whose_content_checksum_disagrees_is_an_error_after_its_data() {
        let a: Vec<u8> = (0..20_000u32).map(|i| (i * 31 % 256) as u8).collect();
        let good = z(&a);
        assert_eq!(decode_all(&good).expect("decodes"), a);
        // The checksum is the frame's last 4 bytes (RFC 8878, 3.1.1):
        // changed, every block still decodes, so only it can tell.
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x40;
        let mut f = Frames::new(&bad[..]).expect("first frame");
        let mut out = vec![0u8; a.len()];
        f.read_exact(&mut out).expect("the data comes first");
        assert_eq!(out, a);
        let e = f.read(&mut [0u8; 16]).expect_err("then the mismatch");
        assert!(e.to_string().contains("content checksum"), "{e}");
        assert!(decode_all(&bad).is_err());
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
