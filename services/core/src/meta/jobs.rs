//! The quorum's side of the background jobs (compactor, garbage collector, archiver): leases,
//! atomic extent rewrites, retention trims, and the object lifecycle.
//!
//! An object is *committed* when an extent first refers to it, becomes *garbage* when the last
//! extent referring to it is replaced or trimmed (the quorum records when), and is *forgotten*
//! once the collector deleted it after a grace period. An object in the bucket the quorum never
//! committed is an *orphan*: the collector first *condemns* its key (a commit of a condemned key
//! is refused from then on), then deletes it, so a slow commit can never race a delete.
//!
//! The typed helpers here wrap [`MetaStore::execute`] and [`MetaStore::ask`].

use serde::{Deserialize, Serialize};

use super::{Command, CommandResult};
use super::{Extent, MetaError, MetaQuery, MetaStore, QueryResult};
use crate::ids::{Incarnation, Offset, PartitionId, TopicId};

mod archive;
pub use archive::*;

/// Lease name of the compactor's per-partition work.
pub const COMPACT_JOB: &str = "compact";

/// Lease name of the archiver's per-partition work.
pub const ARCHIVE_JOB: &str = "archive";

/// Proof of holding a lease: the holder and the epoch the quorum granted. Epochs are unique
/// across the cluster and only grow, so a swap from an older holder is always refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseToken {
    /// Writer incarnation of the process holding the lease.
    pub holder: Incarnation,
    /// Grant number.
    pub epoch: u64,
}

/// A lease as the quorum holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Holder and epoch.
    pub token: LeaseToken,
    /// When it lapses unless renewed (ms since epoch, proposer's clock).
    pub expires_ms: i64,
}

/// Names an extent exactly, so a rewrite applies only while it is still current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtentRef {
    /// Offset of its first record.
    pub base_offset: Offset,
    /// Object key.
    pub object: String,
    /// Byte offset in the object.
    pub start: u64,
    /// Byte length.
    pub len: u64,
}

impl From<&Extent> for ExtentRef {
    fn from(e: &Extent) -> Self {
        Self {
            base_offset: e.base_offset,
            object: e.object.clone(),
            start: e.start,
            len: e.len,
        }
    }
}

/// An object written by a job, referred to by the extents of a rewrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewObject {
    /// Object key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// Replaces a run of a partition's current extents by new ones holding the same offsets (or
/// fewer of them, after compaction), in one atomic step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rewrite {
    /// Topic name.
    pub topic: String,
    /// Topic incarnation the extents were read from.
    pub topic_id: TopicId,
    /// Partition.
    pub partition: PartitionId,
    /// The compactor's lease on the partition.
    pub lease: LeaseToken,
    /// Consecutive current extents to replace, in offset order.
    pub replaced: Vec<ExtentRef>,
    /// Their replacement, in offset order, inside the replaced offset span. May be empty when
    /// compaction removed every record.
    pub extents: Vec<Extent>,
    /// Objects the new extents live in.
    pub objects: Vec<NewObject>,
    /// Raises the partition's cleaned-through offset (compaction), if given.
    pub cleaned_through: Option<Offset>,
}

/// What the quorum knows of an object key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectStatus {
    /// Committed and not yet forgotten (it may be garbage waiting for its grace period).
    Committed,
    /// Condemned as an orphan: it can never be committed.
    Condemned,
    /// An ingest object whose node has committed a later flush: it can never be committed.
    Superseded,
    /// Not known: it may still be committed by a slow node.
    Unknown,
}

/// An unreferenced object past its grace period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GarbageObject {
    /// Object key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

fn unexpected(r: impl std::fmt::Debug) -> MetaError {
    MetaError::Internal {
        reason: format!("unexpected answer from the quorum: {r:?}"),
    }
}

/// Which lease: a job on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseName<'a> {
    /// Job name, for example [`COMPACT_JOB`].
    pub job: &'a str,
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: PartitionId,
}

/// Takes (or renews, when `current` is still held) a lease for `ttl_ms`. Fails with
/// [`MetaError::LeaseLost`] while another holder's lease is live.
pub async fn acquire_lease(
    meta: &dyn MetaStore,
    name: &LeaseName<'_>,
    holder: Incarnation,
    current: Option<LeaseToken>,
    ttl_ms: i64,
    now_ms: i64,
) -> Result<LeaseToken, MetaError> {
    let cmd = Command::AcquireLease {
        job: name.job.to_string(),
        topic: name.topic.to_string(),
        partition: name.partition,
        holder,
        renew: current.map(|t| t.epoch),
        ttl_ms,
        now_ms,
    };
    match meta.execute(cmd).await? {
        CommandResult::Lease(t) => Ok(t),
        other => Err(unexpected(other)),
    }
}

/// Gives a lease back (a no-op when it is no longer held with `token`).
pub async fn release_lease(
    meta: &dyn MetaStore,
    name: &LeaseName<'_>,
    token: LeaseToken,
) -> Result<(), MetaError> {
    let cmd = Command::ReleaseLease {
        job: name.job.to_string(),
        topic: name.topic.to_string(),
        partition: name.partition,
        token,
    };
    meta.execute(cmd).await.map(|_| ())
}

/// Applies a [`Rewrite`] under its lease.
pub async fn rewrite(meta: &dyn MetaStore, rewrite: Rewrite, now_ms: i64) -> Result<(), MetaError> {
    meta.execute(Command::Rewrite { rewrite, now_ms })
        .await
        .map(|_| ())
}

/// Raises a partition's `log_start_offset` under the compactor's lease, dropping every extent
/// that ends below it.
pub async fn trim_log(
    meta: &dyn MetaStore,
    topic: &str,
    topic_id: TopicId,
    partition: PartitionId,
    lease: LeaseToken,
    log_start: Offset,
    now_ms: i64,
) -> Result<(), MetaError> {
    let cmd = Command::TrimLog {
        topic: topic.to_string(),
        topic_id,
        partition,
        lease,
        log_start,
        now_ms,
    };
    meta.execute(cmd).await.map(|_| ())
}

/// Returns up to `limit` objects unreferenced since at or before `unreferenced_before_ms`.
pub async fn garbage(
    meta: &dyn MetaStore,
    unreferenced_before_ms: i64,
    limit: usize,
) -> Result<Vec<GarbageObject>, MetaError> {
    match meta
        .ask(MetaQuery::Garbage {
            unreferenced_before_ms,
            limit,
        })
        .await?
    {
        QueryResult::Objects(o) => Ok(o),
        other => Err(unexpected(other)),
    }
}

/// Returns what the quorum knows of each key.
pub async fn object_statuses(
    meta: &dyn MetaStore,
    keys: Vec<String>,
) -> Result<Vec<ObjectStatus>, MetaError> {
    match meta.ask(MetaQuery::ObjectStatuses { keys }).await? {
        QueryResult::ObjectStatuses(s) => Ok(s),
        other => Err(unexpected(other)),
    }
}

/// Condemns the keys that are not committed; returns those it condemned (or that already
/// were). A commit of a condemned key is refused from then on.
pub async fn condemn(
    meta: &dyn MetaStore,
    keys: Vec<String>,
    now_ms: i64,
) -> Result<Vec<String>, MetaError> {
    match meta
        .execute(Command::CondemnObjects { keys, now_ms })
        .await?
    {
        CommandResult::Keys(k) => Ok(k),
        other => Err(unexpected(other)),
    }
}

/// Forgets deleted garbage objects (keys still referenced are kept).
pub async fn forget(meta: &dyn MetaStore, keys: Vec<String>) -> Result<(), MetaError> {
    meta.execute(Command::ForgetObjects { keys })
        .await
        .map(|_| ())
}

/// Returns the lease `job` on a partition, if any.
pub async fn lease(
    meta: &dyn MetaStore,
    job: &str,
    topic: &str,
    partition: PartitionId,
) -> Result<Option<Lease>, MetaError> {
    match meta
        .ask(MetaQuery::Lease {
            job: job.to_string(),
            topic: topic.to_string(),
            partition,
        })
        .await?
    {
        QueryResult::Lease(l) => Ok(l),
        other => Err(unexpected(other)),
    }
}

/// Another process, or another request on this node, works a partition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{activity} of {topic}/{partition} is already running ({holder})")]
pub struct Busy {
    /// What the job does ("compaction", "archiving").
    pub activity: &'static str,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// Who works it, for the message.
    pub holder: String,
}

impl From<Busy> for crate::api::ApiError {
    fn from(b: Busy) -> Self {
        crate::api::ApiError::new(
            409,
            crate::api::codes::JOB_RUNNING,
            format!(
                "{} of topic {:?} is already running; try again when it is done",
                b.activity, b.topic
            ),
        )
    }
}

/// What a job does, for messages.
fn activity(job: &str) -> &'static str {
    match job {
        COMPACT_JOB => "compaction",
        ARCHIVE_JOB => "archiving",
        _ => "a background job",
    }
}

/// Why a partition job could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Another node holds the partition's lease, or another task on this node works it.
    #[error(transparent)]
    Busy(Busy),
    /// The quorum refused or could not be reached.
    #[error(transparent)]
    Meta(#[from] MetaError),
}

/// The partitions one kind of background job (compaction, archiving) works on this node, and
/// the leases it takes in the quorum: a partition is worked by one task of one node at a time.
#[derive(Debug)]
pub struct JobLeases {
    meta: std::sync::Arc<dyn MetaStore>,
    job: &'static str,
    node: Incarnation,
    ttl_ms: i64,
    busy: std::sync::Mutex<std::collections::HashSet<(String, PartitionId)>>,
}

impl JobLeases {
    /// Leases of `job` held by `node`, each granted for `ttl`.
    pub fn new(
        meta: std::sync::Arc<dyn MetaStore>,
        job: &'static str,
        node: Incarnation,
        ttl: std::time::Duration,
    ) -> Self {
        Self {
            meta,
            job,
            node,
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            busy: std::sync::Mutex::new(std::collections::HashSet::new()),
        }
    }

    fn busy(&self, topic: &str, partition: PartitionId, holder: impl Into<String>) -> Busy {
        Busy {
            activity: activity(self.job),
            topic: topic.to_string(),
            partition: partition.0,
            holder: holder.into(),
        }
    }

    fn busy_set(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashSet<(String, PartitionId)>> {
        // The set is only inserted into and removed from; a panic elsewhere cannot leave it
        // half-changed, so a poisoned lock is still good.
        self.busy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails with [`ClaimError::Busy`] if any of the topic's partitions is worked on this node
    /// or leased by another one at `now_ms`: an on-demand run checks first, so it refuses
    /// before it changes anything.
    pub async fn check_idle(
        &self,
        topic: &str,
        partitions: u32,
        now_ms: i64,
    ) -> Result<(), ClaimError> {
        for p in 0..partitions {
            let partition = PartitionId(p);
            if self.busy_set().contains(&(topic.to_string(), partition)) {
                return Err(ClaimError::Busy(self.busy(
                    topic,
                    partition,
                    "another request on this node",
                )));
            }
            if let Some(l) = lease(self.meta.as_ref(), self.job, topic, partition).await?
                && l.expires_ms >= now_ms
                && l.token.holder != self.node
            {
                return Err(ClaimError::Busy(self.busy(
                    topic,
                    partition,
                    format!("incarnation {}", l.token.holder),
                )));
            }
        }
        Ok(())
    }

    /// Marks a partition worked on this node and takes its lease in the quorum. The claim
    /// ends when the returned [`JobLease`] is released (or dropped: the lease then lapses).
    pub async fn claim(
        &self,
        topic: &str,
        partition: PartitionId,
        now_ms: i64,
    ) -> Result<JobLease<'_>, ClaimError> {
        let key = (topic.to_string(), partition);
        if !self.busy_set().insert(key.clone()) {
            return Err(ClaimError::Busy(self.busy(
                topic,
                partition,
                "another request on this node",
            )));
        }
        let name = LeaseName {
            job: self.job,
            topic,
            partition,
        };
        let acquired = acquire_lease(
            self.meta.as_ref(),
            &name,
            self.node,
            None,
            self.ttl_ms,
            now_ms,
        )
        .await;
        match acquired {
            Ok(token) => Ok(JobLease {
                leases: self,
                key,
                token,
                renewed_ms: now_ms,
            }),
            Err(e) => {
                self.busy_set().remove(&key);
                Err(match e {
                    MetaError::LeaseLost { reason, .. } => {
                        ClaimError::Busy(self.busy(topic, partition, reason))
                    }
                    e => e.into(),
                })
            }
        }
    }
}

/// A partition claimed by a job: its lease in the quorum, renewed as the job goes.
#[derive(Debug)]
pub struct JobLease<'a> {
    leases: &'a JobLeases,
    key: (String, PartitionId),
    token: LeaseToken,
    renewed_ms: i64,
}

impl JobLease<'_> {
    /// The lease's name.
    pub fn name(&self) -> LeaseName<'_> {
        LeaseName {
            job: self.leases.job,
            topic: &self.key.0,
            partition: self.key.1,
        }
    }

    /// Proof of holding the lease, for the quorum commands the job sends.
    pub fn token(&self) -> LeaseToken {
        self.token
    }

    /// Renews the lease once a third of its lifetime has passed since the last renewal.
    pub async fn renew(&mut self, now_ms: i64) -> Result<(), MetaError> {
        if now_ms - self.renewed_ms < self.leases.ttl_ms / 3 {
            return Ok(());
        }
        let name = self.name();
        let token = acquire_lease(
            self.leases.meta.as_ref(),
            &name,
            self.leases.node,
            Some(self.token),
            self.leases.ttl_ms,
            now_ms,
        )
        .await?;
        self.token = token;
        self.renewed_ms = now_ms;
        Ok(())
    }

    /// Gives the lease back at once (otherwise it lapses after its lifetime).
    pub async fn release(self) {
        let name = self.name();
        if let Err(e) = release_lease(self.leases.meta.as_ref(), &name, self.token).await {
            tracing::debug!(error = %e, "lease release failed; it lapses on its own");
        }
    }
}

impl Drop for JobLease<'_> {
    fn drop(&mut self) {
        self.leases.busy_set().remove(&self.key);
    }
}

/// Sleeps so that a job that has processed `bytes` since `started` stays within
/// `bytes_per_sec` (0: unlimited), leaving the disk, network and cores to ingest.
pub async fn pace(bytes_per_sec: u64, bytes: u64, started: tokio::time::Instant) {
    if bytes_per_sec == 0 {
        return;
    }
    let budget = std::time::Duration::from_secs_f64(bytes as f64 / bytes_per_sec as f64);
    if let Some(wait) = budget.checked_sub(started.elapsed()) {
        tokio::time::sleep(wait).await;
    }
}
