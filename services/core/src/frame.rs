//! The one framing used everywhere bytes are stored: `[length u32][crc32c u32][body]`.
//!
//! `length` is the body's length and `crc32c` covers the body, both little-endian. Record
//! batches, hot-tier markers and object sections are all sequences of frames, so one reader
//! detects torn tails and flipped bytes the same way everywhere.

use crate::error::FormatError;

/// Bytes taken by the frame prefix (length and CRC).
pub const FRAME_PREFIX: usize = 8;

/// Refuses frames larger than this, so a corrupted length can never ask for gigabytes.
pub const MAX_FRAME_BODY: usize = 256 * 1024 * 1024;

/// Appends one frame holding `body` to `out`.
pub fn encode_frame(body: &[u8], out: &mut Vec<u8>) {
    out.reserve(FRAME_PREFIX + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
    out.extend_from_slice(body);
}

/// Result of reading one frame at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameRead<'a> {
    /// A whole, CRC-valid frame: its body and the total bytes it took.
    Frame { body: &'a [u8], len: usize },
    /// The buffer ends inside the frame (a torn tail if the buffer is a whole file).
    Incomplete,
}

/// Reads the frame at the start of `buf`, checking its CRC.
pub fn decode_frame(buf: &[u8]) -> Result<FrameRead<'_>, FormatError> {
    if buf.len() < FRAME_PREFIX {
        return Ok(FrameRead::Incomplete);
    }
    let len = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    if len > MAX_FRAME_BODY {
        return Err(FormatError::FrameTooLarge { len, at: 0 });
    }
    if buf.len() < FRAME_PREFIX + len {
        return Ok(FrameRead::Incomplete);
    }
    let body = &buf[FRAME_PREFIX..FRAME_PREFIX + len];
    let actual = crc32c::crc32c(body);
    if actual != crc {
        return Err(FormatError::Crc {
            expected: crc,
            actual,
            at: 0,
        });
    }
    Ok(FrameRead::Frame {
        body,
        len: FRAME_PREFIX + len,
    })
}

/// Iterates the frames of a buffer that must hold whole frames only.
pub fn frames(buf: &[u8]) -> impl Iterator<Item = Result<&[u8], FormatError>> {
    let mut pos = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || pos >= buf.len() {
            return None;
        }
        match decode_frame(&buf[pos..]) {
            Ok(FrameRead::Frame { body, len }) => {
                pos += len;
                Some(Ok(body))
            }
            Ok(FrameRead::Incomplete) => {
                failed = true;
                Some(Err(FormatError::Truncated {
                    what: "frame",
                    at: pos as u64,
                }))
            }
            Err(e) => {
                failed = true;
                Some(Err(e.at(pos as u64)))
            }
        }
    })
}

#[cfg(test)]
mod tests;
