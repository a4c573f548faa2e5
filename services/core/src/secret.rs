//! Secrets read from files (the cluster secret, the bootstrap token): checked for length when
//! read, compared in constant time, never shown by `Debug` or in an error.

use std::path::Path;
use std::sync::Arc;

use subtle::ConstantTimeEq;

/// The shortest secret accepted, in bytes: 128 bits as hex.
pub const MIN_LEN: usize = 32;

/// A secret. Its `Debug` form never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// The secret `text` holds (surrounding whitespace, such as a final newline, is not part of
    /// it). Refused when shorter than [`MIN_LEN`] bytes or not printable ASCII without spaces;
    /// the error never repeats the text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let s = text.trim();
        if s.len() < MIN_LEN {
            return Err(format!(
                "a secret needs at least {MIN_LEN} characters, this one has {} (make one with `openssl rand -hex 32`)",
                s.len()
            ));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "a secret must be printable ASCII without spaces (make one with `openssl rand -hex 32`)"
                    .to_string(),
            );
        }
        Ok(Self(s.into()))
    }

    /// Reads the secret from the file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Whether `presented` is this secret, in time that does not depend on where they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_secret_is_trimmed_checked_and_never_shown() {
        let s = Secret::parse(&format!("  {S}\n")).expect("parses");
        assert!(s.matches(S.as_bytes()));
        assert!(!s.matches(b"0123456789abcdef0123456789abcdeX"));
        assert!(!s.matches(b"0123456789abcdef"));
        assert!(!format!("{s:?}").contains(S));
        let short = Secret::parse("hunter2").expect_err("too short");
        assert!(
            short.contains("at least 32") && !short.contains("hunter2"),
            "{short}"
        );
        let spaced = Secret::parse(&format!("{S} {S}")).expect_err("a space");
        assert!(!spaced.contains(S), "{spaced}");
    }
}
