//! Decompression of inputs as other tools hand them over: gzip of any
//! number of members ([`gzip`]), zstd of any number of frames ([`zstd`]),
//! and a thread that runs a decompressor ahead of its reader
//! ([`decompress`]).
//!
//! A leaf: plain `std::io::Read` adapters that know nothing of captures or
//! logs, used by the capture reader and the flow-log reader
//! (`crate::source`) and by the configuration-log reader (`crate::logs`)
//! alike, so that each tells and reads a compressed file the same way
//! ([`Compression`]).
use std::io::{self, BufRead, Read};

use serde::Serialize;

pub mod decompress;
pub mod gzip;
pub mod zstd;

/// A compression the readers decompress, told by an input's first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    /// The compression of an input that starts with `head` (its first 4
    /// bytes where it has them): a gzip member, a zstd frame, or a zstd
    /// skippable frame (`pzstd` writes one first).
    pub fn of(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&gzip::MAGIC) {
            return Some(Compression::Gzip);
        }
        let magic: [u8; 4] = head.get(..4)?.try_into().ok()?;
        (magic == zstd::FRAME_MAGIC || zstd::is_skippable(magic)).then_some(Compression::Zstd)
    }

    /// The decompressed bytes of `input`. For zstd the first frame's
    /// header is read here, so an input that only starts like zstd is an
    /// error now rather than at the first read.
    pub fn decoder<R: Read>(self, input: R) -> io::Result<Decoder<R>> {
        Ok(match self {
            Compression::Gzip => Decoder::Gzip(Box::new(gzip::Members::new(input))),
            Compression::Zstd => Decoder::Zstd(Box::new(zstd::Frames::new(input)?)),
        })
    }

    /// The command that decompresses it (names the decompressing thread).
    pub fn command(self) -> &'static str {
        match self {
            Compression::Gzip => "gunzip",
            Compression::Zstd => "unzstd",
        }
    }
}

/// The decompressed bytes of an input ([`Compression::decoder`]).
pub enum Decoder<R: Read> {
    // Boxed: each decoder's state is hundreds of bytes or more, and the
    // enum is moved about while the input is opened.
    Gzip(Box<gzip::Members<R>>),
    Zstd(Box<zstd::Frames<R>>),
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
        }
    }
}

/// The compression of `input`, told by its first bytes (read into its
/// buffer, not consumed).
pub fn sniff(input: &mut impl BufRead) -> io::Result<Option<Compression>> {
    loop {
        match input.fill_buf() {
            Ok(b) => return Ok(Compression::of(b)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The UTF-8 byte-order mark that Windows tools (PowerShell's
/// `Out-File`, Notepad, some Azure exports) put before text.
pub const UTF8_BOM: [u8; 3] = [0xef, 0xbb, 0xbf];

/// Skips a UTF-8 byte-order mark at the start of `text` (decompressed
/// already): whether there was one. A log reader that kept it would take
/// the first line for something else (a JSON document for syslog, a
/// header for no header) and lose the whole file. A read error is
/// returned: a decompressor may not give it again.
pub fn skip_utf8_bom(text: &mut impl BufRead) -> io::Result<bool> {
    loop {
        match text.fill_buf() {
            Ok(b) => {
                let bom = b.starts_with(&UTF8_BOM);
                if bom {
                    text.consume(UTF8_BOM.len());
                }
                return Ok(bom);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressions_are_told_by_their_magic() {
        assert_eq!(
            Compression::of(&[0x1f, 0x8b, 8, 0]),
            Some(Compression::Gzip)
        );
        assert_eq!(Compression::of(&zstd::FRAME_MAGIC), Some(Compression::Zstd));
        // pzstd's skippable frame first, and the last of the 16 such magics
        assert_eq!(
            Compression::of(&[0x50, 0x2a, 0x4d, 0x18]),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::of(&[0x5f, 0x2a, 0x4d, 0x18]),
            Some(Compression::Zstd)
        );
        assert_eq!(Compression::of(&[0x60, 0x2a, 0x4d, 0x18]), None);
        assert_eq!(Compression::of(&[0x28, 0xb5, 0x2f]), None);
        assert_eq!(Compression::of(b"{\"Records\""), None);
        assert_eq!(Compression::of(&[]), None);
    }

    #[test]
    fn a_byte_order_mark_is_skipped_once_and_only_at_the_start() {
        let mut r = io::Cursor::new(b"\xef\xbb\xbf{\"a\":1}\n".to_vec());
        assert!(skip_utf8_bom(&mut r).expect("read"));
        let mut rest = String::new();
        r.read_to_string(&mut rest).expect("utf-8");
        assert_eq!(rest, "{\"a\":1}\n");
        let mut plain = io::Cursor::new(b"<189>Mar  1 ...".to_vec());
        assert!(!skip_utf8_bom(&mut plain).expect("read"));
        assert_eq!(plain.position(), 0);
        assert!(!skip_utf8_bom(&mut io::Cursor::new(b"\xef\xbb".to_vec())).expect("read"));
    }

    #[test]
    fn a_stream_that_only_starts_like_zstd_is_an_error_at_once() {
        let mut bogus = zstd::FRAME_MAGIC.to_vec();
        bogus.extend_from_slice(b"not a frame header at all");
        assert!(Compression::Zstd.decoder(&bogus[..]).is_err());
        let mut out = Vec::new();
        let text = ruzstd::encoding::compress_to_vec(
            &b"line one\nline two\n"[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        Compression::Zstd
            .decoder(&text[..])
            .and_then(|mut d| d.read_to_end(&mut out))
            .expect("a zstd frame");
        assert_eq!(out, b"line one\nline two\n");
    }
}
