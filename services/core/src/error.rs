//! Errors of the stored formats.

use thiserror::Error;

/// A stored byte sequence could not be decoded; never returned as data.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The CRC32C of a frame does not match its body: a flipped or torn byte.
    #[error("crc mismatch at byte {at}: stored {expected:#010x}, computed {actual:#010x}")]
    Crc { expected: u32, actual: u32, at: u64 },
    /// A frame's length field is larger than any frame Strata writes.
    #[error("frame at byte {at} claims {len} bytes, more than any frame strata writes")]
    FrameTooLarge { len: usize, at: u64 },
    /// The bytes end before the structure does.
    #[error("{what} truncated at byte {at}")]
    Truncated { what: &'static str, at: u64 },
    /// The bytes are not a structure Strata writes.
    #[error("corrupt {what}: {reason}")]
    Corrupt { what: &'static str, reason: String },
    /// Written by a newer Strata.
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion { what: &'static str, version: u32 },
}

impl FormatError {
    /// Moves a position-carrying error by `base` bytes (an error found inside a sub-slice).
    pub fn at(self, base: u64) -> Self {
        match self {
            FormatError::Crc {
                expected,
                actual,
                at,
            } => FormatError::Crc {
                expected,
                actual,
                at: at + base,
            },
            FormatError::FrameTooLarge { len, at } => {
                FormatError::FrameTooLarge { len, at: at + base }
            }
            FormatError::Truncated { what, at } => FormatError::Truncated {
                what,
                at: at + base,
            },
            other => other,
        }
    }

    pub(crate) fn corrupt(what: &'static str, reason: impl Into<String>) -> Self {
        FormatError::Corrupt {
            what,
            reason: reason.into(),
        }
    }
}
