//! The acknowledgement contract: what is durable when a producer gets `200`.

use std::fmt;
use std::str::FromStr;

/// When a produce request is acknowledged, and what has survived by then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// After the object holding the records is in the bucket and the quorum has assigned
    /// their offsets, which the response carries. Nothing acknowledged is lost while the
    /// bucket and a quorum majority survive.
    #[default]
    All,
    /// After the records are fsync'd to this node's hot tier, without offsets (they do not
    /// exist yet). Lost only if this node's disk is lost before the records are shipped; a
    /// restarted node ships what it staged.
    Local,
    /// After validation only. The records are staged and shipped like the others, but a
    /// crash before the next flush loses them.
    None,
}

impl Acks {
    /// Returns the query-string form.
    pub fn as_str(self) -> &'static str {
        match self {
            Acks::All => "all",
            Acks::Local => "local",
            Acks::None => "none",
        }
    }
}

impl fmt::Display for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Acks {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" | "-1" => Ok(Acks::All),
            "local" | "1" => Ok(Acks::Local),
            "none" | "0" => Ok(Acks::None),
            other => Err(format!("acks must be all, local or none, got {other:?}")),
        }
    }
}
