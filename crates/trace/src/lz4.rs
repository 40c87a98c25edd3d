//! LZ4 frames (`.lz4`, magic `04 22 4d 18`), as the `lz4` tool and liblz4's frame API write
//! them (DynamoRIO's `-compress lz4` among them): independent or linked blocks, with or
//! without block and content checksums, frames one after another and skippable frames between
//! them. A file that ends inside a frame is an error, not a shorter trace. Blocks are decoded
//! by `lz4_flex`; the frame layer is here because its frame decoder stops at the first frame's
//! end and takes a file cut at a block boundary for a whole one.
//!
//! Every checksum the frame carries is verified (xxHash32, as the format specifies): the frame
//! descriptor's, each block's (before it is decoded) and the content's (at the frame's end). A
//! mismatch is an error naming its byte offset: a damaged file never decodes into a trace with
//! different accesses.

use std::hash::Hasher;
use std::io::{self, Read};
use twox_hash::XxHash32;

const MAGIC: u32 = 0x184D_2204;
const LEGACY_MAGIC: u32 = 0x184C_2102;
/// Linked blocks may copy from this much of the output before them.
const WINDOW: usize = 64 << 10;

/// The settings of the frame being read.
#[derive(Copy, Clone, Debug)]
struct Frame {
    independent: bool,
    block_checksums: bool,
    max_block: usize,
}

/// A reader of the decompressed bytes of a stream of LZ4 frames.
pub(crate) struct Lz4Frames<R> {
    r: R,
    frame: Option<Frame>,
    /// The last decoded block, and how much of it was handed out.
    out: Vec<u8>,
    pos: usize,
    /// Linked blocks: the output before the block being decoded (at most [`WINDOW`]).
    window: Vec<u8>,
    compressed: Vec<u8>,
    /// The frame's content so far, hashed, when the frame carries a content checksum (which
    /// follows its end mark).
    content: Option<XxHash32>,
    /// Bytes of the stream read (for error messages).
    offset: u64,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl<R: Read> Lz4Frames<R> {
    pub(crate) fn new(r: R) -> Lz4Frames<R> {
        Lz4Frames {
            r,
            frame: None,
            out: Vec::new(),
            pos: 0,
            window: Vec::new(),
            compressed: Vec::new(),
            content: None,
            offset: 0,
        }
    }

    /// Fills `buf` from the stream; how many bytes it got before the stream ended.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = crate::reader::read_full(&mut self.r, buf)?;
        self.offset += got as u64;
        Ok(got)
    }

    /// Fills `buf` exactly; the stream ending first is a cut-off frame.
    fn exact(&mut self, buf: &mut [u8], what: &str) -> io::Result<()> {
        let at = self.offset;
        if self.fill(buf)? < buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the LZ4 stream ends inside a frame ({what} at byte {at}): the file is cut off"
                ),
            ));
        }
        Ok(())
    }

    fn u32(&mut self, what: &str) -> io::Result<u32> {
        let mut b = [0u8; 4];
        self.exact(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    fn skip(&mut self, n: u64, what: &str) -> io::Result<()> {
        let mut left = n;
        let mut buf = [0u8; 4096];
        while left > 0 {
            let k = left.min(buf.len() as u64) as usize;
            self.exact(&mut buf[..k], what)?;
            left -= k as u64;
        }
        Ok(())
    }

    /// Reads the next frame's header: false at the end of the stream.
    fn start_frame(&mut self) -> io::Result<bool> {
        loop {
            let at = self.offset;
            let mut m = [0u8; 4];
            match self.fill(&mut m)? {
                0 => return Ok(false),
                4 => {}
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the LZ4 stream ends inside a frame's magic number at byte {at}: the file is cut off"),
                    ))
                }
            }
            let magic = u32::from_le_bytes(m);
            if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
                let n = self.u32("a skippable frame's size")?;
                self.skip(u64::from(n), "a skippable frame")?;
                continue;
            }
            if magic == LEGACY_MAGIC {
                return Err(invalid(format!(
                    "byte {at}: a legacy LZ4 frame (`lz4 -l`): write the current frame format (plain `lz4`)"
                )));
            }
            if magic != MAGIC {
                return Err(invalid(format!(
                    "byte {at}: {magic:#010x} is not an LZ4 frame's magic number"
                )));
            }
            let mut d = [0u8; 2];
            self.exact(&mut d, "the frame descriptor")?;
            let (flg, bd) = (d[0], d[1]);
            if flg >> 6 != 1 {
                return Err(invalid(format!(
                    "byte {at}: LZ4 frame version {} (only version 1 exists)",
                    flg >> 6
                )));
            }
            if flg & 1 != 0 {
                return Err(invalid(format!(
                    "byte {at}: an LZ4 frame compressed with a dictionary, which a trace cannot name"
                )));
            }
            let max_block = match (bd >> 4) & 7 {
                4 => 64 << 10,
                5 => 256 << 10,
                6 => 1 << 20,
                7 => 4 << 20,
                b => {
                    return Err(invalid(format!(
                        "byte {at}: LZ4 block size code {b} (4 to 7 exist)"
                    )))
                }
            };
            // The descriptor (flags, block size, optional content size) and its checksum: the
            // second byte of its xxHash32.
            let mut desc = vec![flg, bd];
            if flg & 0x08 != 0 {
                let mut size = [0u8; 8];
                self.exact(&mut size, "the content size")?;
                desc.extend_from_slice(&size);
            }
            let mut hc = [0u8; 1];
            self.exact(&mut hc, "the header checksum")?;
            if (XxHash32::oneshot(0, &desc) >> 8) as u8 != hc[0] {
                return Err(invalid(format!(
                    "byte {at}: the LZ4 frame header's checksum does not match it: the file is damaged"
                )));
            }
            self.content = (flg & 0x04 != 0).then(|| XxHash32::with_seed(0));
            self.frame = Some(Frame {
                independent: flg & 0x20 != 0,
                block_checksums: flg & 0x10 != 0,
                max_block,
            });
            self.window.clear();
            return Ok(true);
        }
    }

    /// Decodes the next block into `out`: false at the end of the stream.
    fn next_block(&mut self) -> io::Result<bool> {
        loop {
            let Some(f) = self.frame else {
                if self.start_frame()? {
                    continue;
                }
                return Ok(false);
            };
            let at = self.offset;
            let size = self.u32("a block's size")?;
            if size == 0 {
                if let Some(h) = self.content.take() {
                    let want = self.u32("the content checksum")?;
                    if h.finish_32() != want {
                        return Err(invalid(format!(
                            "byte {at}: the LZ4 frame's content checksum does not match the decoded bytes: the file is damaged"
                        )));
                    }
                }
                self.frame = None;
                continue;
            }
            let stored = size & 0x8000_0000 != 0;
            let len = (size & 0x7FFF_FFFF) as usize;
            if len > f.max_block {
                return Err(invalid(format!(
                    "byte {at}: an LZ4 block of {len} bytes in a frame of {}-byte blocks",
                    f.max_block
                )));
            }
            let mut compressed = std::mem::take(&mut self.compressed);
            compressed.resize(len, 0);
            self.exact(&mut compressed, "a block")?;
            if f.block_checksums {
                let want = self.u32("a block checksum")?;
                if XxHash32::oneshot(0, &compressed) != want {
                    self.compressed = compressed;
                    return Err(invalid(format!(
                        "byte {at}: an LZ4 block's checksum does not match its bytes: the file is damaged"
                    )));
                }
            }
            if stored {
                self.out.clear();
                self.out.extend_from_slice(&compressed);
            } else {
                self.out.resize(f.max_block, 0);
                let n = if f.independent {
                    lz4_flex::block::decompress_into(&compressed, &mut self.out)
                } else {
                    lz4_flex::block::decompress_into_with_dict(
                        &compressed,
                        &mut self.out,
                        &self.window,
                    )
                }
                .map_err(|e| invalid(format!("byte {at}: a damaged LZ4 block: {e}")))?;
                self.out.truncate(n);
            }
            self.compressed = compressed;
            if let Some(h) = &mut self.content {
                h.write(&self.out);
            }
            if !f.independent {
                self.window.extend_from_slice(&self.out);
                if self.window.len() > WINDOW {
                    let cut = self.window.len() - WINDOW;
                    self.window.drain(..cut);
                }
            }
            self.pos = 0;
            if !self.out.is_empty() {
                return Ok(true);
            }
        }
    }
}

impl<R: Read> Read for Lz4Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
    use std::io::Write;

    fn data(n: usize) -> Vec<u8> {
        // Repetitive enough to compress, varied enough that linked blocks copy across blocks.
        (0..n).map(|i| ((i * 7 + i / 1000) % 251) as u8).collect()
    }

    fn frame(bytes: &[u8], info: FrameInfo) -> Vec<u8> {
        let mut e = FrameEncoder::with_frame_info(info, Vec::new());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn decode(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Lz4Frames::new(bytes).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn frames_of_every_kind_one_after_another() {
        let a = data(300_000);
        let b = data(70_000);
        let linked = FrameInfo::new()
            .block_mode(BlockMode::Linked)
            .block_size(BlockSize::Max64KB)
            .content_checksum(true)
            .block_checksums(true);
        let independent = FrameInfo::new()
            .block_mode(BlockMode::Independent)
            .block_size(BlockSize::Max256KB);
        let mut stream = frame(&a, linked);
        // A skippable frame between.
        stream.extend_from_slice(&0x184D_2A53u32.to_le_bytes());
        stream.extend_from_slice(&3u32.to_le_bytes());
        stream.extend_from_slice(b"abc");
        stream.extend(frame(&b, independent));
        let mut want = a.clone();
        want.extend_from_slice(&b);
        assert_eq!(decode(&stream).unwrap(), want);
        assert_eq!(decode(&[]).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn a_stream_cut_anywhere_inside_a_frame_is_an_error() {
        let one = frame(
            &data(200_000),
            FrameInfo::new().block_size(BlockSize::Max64KB),
        );
        let mut two = one.clone();
        two.extend_from_slice(&one);
        for cut in (1..one.len())
            .step_by(997)
            .chain([one.len() - 4, one.len() - 1])
        {
            let e = decode(&two[..one.len() + cut]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}: {e}");
            assert!(e.to_string().contains("cut off"), "{e}");
            let e = decode(&one[..cut]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}: {e}");
        }
        // Cut at a frame's end: the frames before it, whole.
        assert_eq!(decode(&two[..one.len()]).unwrap().len(), 200_000);
    }

    #[test]
    fn every_checksum_is_verified() {
        let info = FrameInfo::new()
            .block_mode(BlockMode::Independent)
            .block_size(BlockSize::Max64KB)
            .content_checksum(true)
            .block_checksums(true)
            .content_size(Some(150_000));
        let good = frame(&data(150_000), info);
        assert_eq!(decode(&good).unwrap(), data(150_000));
        let damaged = |at: usize| {
            let mut b = good.clone();
            b[at] ^= 0x01;
            decode(&b).unwrap_err().to_string()
        };
        // The header checksum (magic 4, flags 1, block size 1, content size 8, then it).
        assert!(damaged(14).contains("header's checksum"), "{}", damaged(14));
        // The content size, covered by the header checksum.
        assert!(damaged(8).contains("header's checksum"), "{}", damaged(8));
        // A byte of the first block, then its checksum (the block's size is at 15).
        let first = u32::from_le_bytes(good[15..19].try_into().unwrap()) & 0x7FFF_FFFF;
        assert!(
            damaged(19 + 10).contains("block's checksum"),
            "{}",
            damaged(29)
        );
        let sum = 19 + first as usize;
        assert!(
            damaged(sum).contains("block's checksum"),
            "{}",
            damaged(sum)
        );
        // The content checksum, the last four bytes.
        let last = good.len() - 2;
        assert!(
            damaged(last).contains("content checksum"),
            "{}",
            damaged(last)
        );
    }

    #[test]
    fn other_bytes_are_named() {
        let e = decode(b"\x02\x21\x4c\x18rest").unwrap_err();
        assert!(e.to_string().contains("legacy"), "{e}");
        let e = decode(b"PK\x03\x04").unwrap_err();
        assert!(e.to_string().contains("not an LZ4 frame"), "{e}");
    }
}
