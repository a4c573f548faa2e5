//! Newtype ids: nodes, topics, partitions, offsets and flush sequence numbers.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl $name {
            /// Returns the raw value.
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$inner> for $name {
            fn from(v: $inner) -> Self {
                Self(v)
            }
        }
    };
}

id_type!(
    /// Identifies a node of the cluster (`--node-id`).
    NodeId(u64)
);
id_type!(
    /// A writer identity: one start of one process, allocated by the quorum when the process
    /// registers. It names the objects the process ships (`segments/<incarnation>/...`), holds
    /// its job leases, and is fenced for good once the process is superseded, so a paused or
    /// partitioned process that comes back can never commit under it. Incarnations are never
    /// reused, and they are not voter ids: those are configured (`--node-id`) and name Raft
    /// members only.
    Incarnation(u64)
);
id_type!(
    /// Identifies one incarnation of a topic: a topic deleted and created again gets a new id,
    /// so data staged for the old one can never land in the new one.
    TopicId(u64)
);
id_type!(
    /// A partition number within a topic, from 0.
    PartitionId(u32)
);
id_type!(
    /// A flush sequence number, unique and increasing per node; it names the shipped object.
    FlushSeq(u64)
);

/// A record's position in its partition: dense when assigned, 0, 1, 2, ...
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Offset(pub i64);

impl Offset {
    /// Returns the raw value.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// Returns the offset `n` records after this one.
    pub const fn plus(self, n: u64) -> Offset {
        Offset(self.0 + n as i64)
    }

    /// Returns how many offsets lie from `earlier` up to (not including) this one, or 0.
    pub const fn since(self, earlier: Offset) -> u64 {
        if self.0 > earlier.0 {
            (self.0 - earlier.0) as u64
        } else {
            0
        }
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Checks a topic name against `[a-zA-Z0-9._-]{1,249}`; `.` and `..` are refused as Kafka does.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 249 {
        return Err(format!(
            "topic name must be 1 to 249 characters, got {}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err("topic name cannot be '.' or '..'".to_string());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic name may only contain ASCII letters, digits, '.', '_' and '-', found {c:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
