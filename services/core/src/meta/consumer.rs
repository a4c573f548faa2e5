//! Consumer instances of the Confluent REST Proxy v2 API, kept in the quorum.
//!
//! An instance's config, subscription (or manual assignment), owned partitions, positions and
//! its group's committed offsets are quorum state, changed only by [`ConsumerOp`] commands, so
//! any node serves any instance (design note 0007). Group membership is the set of live
//! instances with a subscription; the partitions of the subscribed topics are spread over them
//! by a stable assignor ([`assign`]), recomputed on every consumer command: an instance
//! joining, leaving or timing out rebalances the group at the next command of any instance.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Command, CommandResult, GroupOffset, MetaError, MetaStore};
use crate::ids::{Offset, PartitionId};

/// Longest group or instance name.
pub const MAX_NAME_LEN: usize = 255;

/// One partition of one topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition.
    pub partition: PartitionId,
}

impl TopicPartition {
    /// Builds one.
    pub fn new(topic: impl Into<String>, partition: u32) -> Self {
        Self {
            topic: topic.into(),
            partition: PartitionId(partition),
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition.0)
    }
}

/// How an instance's records are embedded in responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddedFormat {
    /// Keys and values base64-encoded.
    Binary,
    /// Keys and values as JSON.
    Json,
}

impl EmbeddedFormat {
    /// The name clients use.
    pub fn as_str(self) -> &'static str {
        match self {
            EmbeddedFormat::Binary => "binary",
            EmbeddedFormat::Json => "json",
        }
    }
}

/// Where an instance starts on a partition its group has no committed offset for (or one out
/// of range), as Kafka's `auto.offset.reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetReset {
    /// The first readable offset (the archive's first, when it holds older offsets).
    Earliest,
    /// The high watermark: only records committed from then on.
    Latest,
    /// No reset: a fetch fails until a position is set.
    None,
}

/// How a group's partitions are spread over its instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Assignor {
    /// Per topic, contiguous ranges of partitions, instances in name order (Kafka's
    /// `RangeAssignor`).
    Range,
    /// Every subscribed partition in order, dealt to the instances in turn (Kafka's
    /// `RoundRobinAssignor`).
    RoundRobin,
}

/// An instance's settings, fixed when it is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceConfig {
    /// Embedded format of its records.
    pub format: EmbeddedFormat,
    /// `auto.offset.reset`.
    pub auto_offset_reset: OffsetReset,
    /// `auto.commit.enable`: positions are committed at every fetch, when the instance is
    /// deleted or times out, and when a rebalance takes a partition away.
    pub auto_commit: bool,
    /// `fetch.min.bytes`: a fetch waits for this many bytes (up to its timeout).
    pub fetch_min_bytes: Option<u64>,
    /// `consumer.request.timeout.ms`: the longest a fetch waits.
    pub request_timeout_ms: Option<u64>,
    /// The assignor (the group uses that of its first instance by name).
    pub assignor: Assignor,
    /// The instance is deleted after this long without a request.
    pub timeout_ms: i64,
}

/// What an instance reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Subscription {
    /// These topics (those that exist; others join when created).
    Topics(Vec<String>),
    /// Every topic whose whole name matches this regular expression.
    Pattern(String),
}

/// Where a seek moves a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeekTo {
    /// To this offset.
    Offset(Offset),
    /// To the first readable offset.
    Beginning,
    /// To the high watermark.
    End,
}

/// A position moved by a fetch: from where it read to where the next read starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionMove {
    /// The partition.
    pub tp: TopicPartition,
    /// The position the fetch started at; the move is refused if the position changed since.
    pub from: Offset,
    /// The next position.
    pub to: Offset,
}

/// One operation on a consumer instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsumerOp {
    /// Create the instance.
    Create { config: InstanceConfig },
    /// Delete it (committing its positions when it auto-commits).
    Delete,
    /// Subscribe to topics or a pattern (an empty topic list unsubscribes).
    Subscribe { subscription: Subscription },
    /// Drop the subscription and any manual assignment.
    Unsubscribe,
    /// Read exactly these partitions, outside group balancing (empty: none).
    Assign { partitions: Vec<TopicPartition> },
    /// Move positions of owned partitions.
    Seek {
        positions: Vec<(TopicPartition, SeekTo)>,
    },
    /// Start a fetch: resolve the owned partitions' positions (committing the current ones
    /// first when the instance auto-commits).
    Poll,
    /// End a fetch: move positions that are still where the fetch started.
    Advance { moves: Vec<PositionMove> },
    /// Commit offsets (next offsets to read), or the current positions when `None`.
    Commit { offsets: Option<Vec<GroupOffset>> },
    /// Keep the instance alive and read its state.
    Touch,
}

/// A partition an instance owns and its position (`None`: not resolved yet, or no committed
/// offset and `auto.offset.reset` is `none`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owned {
    /// The partition.
    pub tp: TopicPartition,
    /// The next offset the instance reads.
    pub position: Option<Offset>,
}

/// An instance as a consumer command leaves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerView {
    /// Instance name.
    pub instance: String,
    /// Its settings.
    pub config: InstanceConfig,
    /// Its subscription.
    pub subscription: Option<Subscription>,
    /// Whether its partitions were assigned by hand.
    pub manual: bool,
    /// The partitions it owns, in order, with positions.
    pub partitions: Vec<Owned>,
    /// The group's committed offsets (filled by [`ConsumerOp::Touch`] and
    /// [`ConsumerOp::Commit`]).
    pub committed: Vec<GroupOffset>,
    /// The partitions an [`ConsumerOp::Advance`] moved.
    pub moved: Vec<TopicPartition>,
}

/// Checks a group or instance name.
pub fn validate_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!("{what} name must be 1 to {MAX_NAME_LEN} bytes"));
    }
    if name.chars().any(|c| c.is_control() || c == '/') {
        return Err(format!(
            "{what} name {name:?} holds a control character or a slash"
        ));
    }
    // As path segments, `.` and `..` would make the instance's `base_uri` resolve outside
    // `/consumers/`.
    if name == "." || name == ".." {
        return Err(format!("{what} name may not be {name:?}"));
    }
    Ok(())
}

/// Compiles a subscription pattern: it must match a whole topic name.
pub fn compile_pattern(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| format!("topic_pattern {pattern:?} is not a valid regular expression: {e}"))
}

/// One member of a group, for [`assign`]: its name and the topics it subscribes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Instance name.
    pub name: String,
    /// Topics it subscribes to (existing ones).
    pub topics: BTreeSet<String>,
}

/// Spreads the partitions of the members' topics (`partitions`: topic -> partition count)
/// over the members. The result depends only on the arguments, so every voter and every
/// command computes the same assignment.
pub fn assign(
    assignor: Assignor,
    members: &[Member],
    partitions: &BTreeMap<String, u32>,
) -> BTreeMap<String, BTreeSet<TopicPartition>> {
    let mut members: Vec<&Member> = members.iter().collect();
    members.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out: BTreeMap<String, BTreeSet<TopicPartition>> = members
        .iter()
        .map(|m| (m.name.clone(), BTreeSet::new()))
        .collect();
    match assignor {
        Assignor::Range => {
            for (topic, &count) in partitions {
                let subscribed: Vec<&&Member> = members
                    .iter()
                    .filter(|m| m.topics.contains(topic))
                    .collect();
                if subscribed.is_empty() {
                    continue;
                }
                let n = subscribed.len() as u32;
                let (per, extra) = (count / n, count % n);
                for (i, m) in subscribed.iter().enumerate() {
                    let i = i as u32;
                    let start = i * per + i.min(extra);
                    let len = per + u32::from(i < extra);
                    let owned = out.get_mut(&m.name).expect("every member has an entry");
                    for p in start..start + len {
                        owned.insert(TopicPartition::new(topic.clone(), p));
                    }
                }
            }
        }
        Assignor::RoundRobin => {
            if members.is_empty() {
                return out;
            }
            let mut next = 0usize;
            for (topic, &count) in partitions {
                if !members.iter().any(|m| m.topics.contains(topic)) {
                    continue;
                }
                for p in 0..count {
                    while !members[next % members.len()].topics.contains(topic) {
                        next += 1;
                    }
                    let m = members[next % members.len()];
                    out.get_mut(&m.name)
                        .expect("every member has an entry")
                        .insert(TopicPartition::new(topic.clone(), p));
                    next += 1;
                }
            }
        }
    }
    out
}

/// Applies `op` to consumer `instance` of `group` (at `now_ms`, the proposer's clock) and
/// returns the instance as it stands after it.
pub async fn operate(
    meta: &dyn MetaStore,
    group: &str,
    instance: &str,
    op: ConsumerOp,
    now_ms: i64,
) -> Result<ConsumerView, MetaError> {
    let cmd = Command::Consumer {
        group: group.to_string(),
        instance: instance.to_string(),
        op,
        now_ms,
    };
    match meta.execute(cmd).await? {
        CommandResult::Consumer(v) => Ok(v),
        other => Err(MetaError::Internal {
            reason: format!("the quorum answered a consumer operation with {other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests;
