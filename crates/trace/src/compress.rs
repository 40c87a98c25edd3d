//! Compressed traces: gzip, xz, bzip2, zstd and LZ4 frames, recognised by their magic bytes. The file
//! name's extension is a fallback only for content that is not text (a damaged file then fails
//! in that codec's decoder with a clear error); text under a compressed name is read as text.
//!
//! | codec | magic bytes          | extensions      |
//! |-------|----------------------|-----------------|
//! | gzip  | `1f 8b`              | `.gz`, `.gzip`  |
//! | xz    | `fd 37 7a 58 5a 00`  | `.xz`           |
//! | bzip2 | `42 5a 68` (`BZh`)   | `.bz2`          |
//! | zstd  | `28 b5 2f fd`        | `.zst`, `.zstd` |
//! | lz4   | `04 22 4d 18`        | `.lz4`          |
//!
//! Concatenated streams (multi-member gzip, several xz streams, zstd or LZ4 frames, `pbzip2` output)
//! are read as one; zero bytes after the last gzip member (tape or block padding) are accepted,
//! as `gzip -t` accepts them. Decoding runs on the reading thread, straight into the line parser's buffer.

use crate::TraceErrorKind;
use std::io::{self, BufRead, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A compression codec.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Codec {
    Gzip,
    Xz,
    Bzip2,
    Zstd,
    Lz4,
}

const EXTENSIONS: [(&str, Codec); 7] = [
    (".gz", Codec::Gzip),
    (".gzip", Codec::Gzip),
    (".xz", Codec::Xz),
    (".bz2", Codec::Bzip2),
    (".zst", Codec::Zstd),
    (".zstd", Codec::Zstd),
    (".lz4", Codec::Lz4),
];

/// The codec whose magic bytes start `head`.
pub(crate) fn sniff(head: &[u8]) -> Option<Codec> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(Codec::Gzip)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some(Codec::Xz)
    } else if head.starts_with(b"BZh") {
        Some(Codec::Bzip2)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Codec::Zstd)
    } else if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        Some(Codec::Lz4)
    } else {
        None
    }
}

/// The codec a file name's extension names.
pub(crate) fn from_extension(name: &str) -> Option<Codec> {
    let lower = name.to_ascii_lowercase();
    EXTENSIONS
        .iter()
        .find(|(ext, _)| lower.ends_with(ext))
        .map(|(_, c)| *c)
}

/// The codec of a file that starts with `head` (raw bytes) and is called `name`: its magic bytes,
/// else its extension if the content is not text.
pub(crate) fn codec_of(head: &[u8], name: &str) -> Option<Codec> {
    sniff(head).or_else(|| {
        if crate::syntax::looks_binary(head) {
            from_extension(name)
        } else {
            None
        }
    })
}

/// Whether a file name ends in a compression extension (`.gz`, `.gzip`, `.xz`, `.bz2`, `.zst`,
/// `.zstd`, `.lz4`, any case): the writers compress such a file.
pub fn is_compressed_name(name: &str) -> bool {
    from_extension(name).is_some()
}

/// A file name, lower-cased, without its compression extension (`T.TXT.GZ` -> `t.txt`).
pub fn uncompressed_name(name: &str) -> String {
    strip_extension(&name.to_ascii_lowercase()).to_string()
}

/// `name` without its compression extension (lower-case input expected).
pub(crate) fn strip_extension(name: &str) -> &str {
    EXTENSIONS
        .iter()
        .find_map(|(ext, _)| name.strip_suffix(ext))
        .unwrap_or(name)
}

/// What a [`Counting`] reader has seen: bytes read, and whether the underlying file failed.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    pub bytes: AtomicU64,
    pub failed: AtomicBool,
}

/// Counts the bytes read from the file beneath a decompressor.
pub(crate) struct Counting<R> {
    pub inner: R,
    pub counter: Arc<Counter>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.counter.bytes.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.counter.failed.store(true, Ordering::Relaxed);
                }
                Err(e)
            }
        }
    }
}

/// A decoder of `codec` over `input`.
pub(crate) fn decoder<R: BufRead + Send + 'static>(
    codec: Codec,
    input: R,
) -> io::Result<Box<dyn Read + Send>> {
    Ok(match codec {
        Codec::Gzip => Box::new(Gzip {
            member: Some(flate2::bufread::GzDecoder::new(input)),
        }),
        Codec::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(input)),
        Codec::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
        Codec::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        Codec::Lz4 => Box::new(crate::lz4::Lz4Frames::new(input)),
    })
}

/// Gzip members one after the other, then optionally zero bytes.
struct Gzip<R> {
    member: Option<flate2::bufread::GzDecoder<R>>,
}

impl<R: BufRead> Read for Gzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(member) = &mut self.member else {
                return Ok(0);
            };
            let n = member.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The member ended: the end, zeros, or another member.
            let Some(member) = self.member.take() else {
                return Ok(0);
            };
            let mut inner = member.into_inner();
            loop {
                let avail = inner.fill_buf()?;
                let zeros = avail.iter().take_while(|b| **b == 0).count();
                if zeros == 0 {
                    break;
                }
                inner.consume(zeros);
            }
            if inner.fill_buf()?.is_empty() {
                return Ok(0);
            }
            self.member = Some(flate2::bufread::GzDecoder::new(inner));
        }
    }
}

/// What a read error of a decoder means: the file failed (`Io`), or the stream ended early
/// (`Truncated`), or it is damaged (`Corrupt`).
pub(crate) fn classify(e: io::Error, compressed: bool, counter: &Counter) -> TraceErrorKind {
    if !compressed || counter.failed.load(Ordering::Relaxed) {
        return TraceErrorKind::Io(e);
    }
    if e.kind() == io::ErrorKind::UnexpectedEof {
        TraceErrorKind::Truncated
    } else {
        TraceErrorKind::Corrupt(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_and_names() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8]), Some(Codec::Gzip));
        assert_eq!(sniff(b"\xfd7zXZ\x00\x00"), Some(Codec::Xz));
        assert_eq!(sniff(b"BZh91AY"), Some(Codec::Bzip2));
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Some(Codec::Zstd));
        assert_eq!(sniff(b" L 10,4"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(from_extension("T.LACKEY.XZ"), Some(Codec::Xz));
        assert_eq!(from_extension("t.zst"), Some(Codec::Zstd));
        assert_eq!(from_extension("t.lackey"), None);
        assert_eq!(strip_extension("a.champsimtrace.xz"), "a.champsimtrace");
        assert_eq!(strip_extension("a.trace"), "a.trace");
        assert_eq!(codec_of(b" L 10,4\n", "t.gz"), None);
        assert_eq!(
            codec_of(&[0x1f, 0x8c, 0, 0, 3, 0xff], "t.gz"),
            Some(Codec::Gzip)
        );
        assert_eq!(codec_of(&[], "t.gz"), None);
    }
}
