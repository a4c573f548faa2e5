//! The deterministic metadata state machine, shared by every [`MetaStore`](strata_core::meta::MetaStore).
//!
//! [`MetaState::apply`] is a pure function of the state and a [`Command`]: no clock, no
//! randomness, no I/O. The Raft store applies the same commands in the same order on every
//! voter, and the in-memory store applies them directly; both answer reads from here.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use strata_core::ids::{FlushSeq, Incarnation, Offset, PartitionId, TopicId, validate_topic_name};
use strata_core::meta::jobs::{ArchiveFile, ArchivePlan, Lease};
use strata_core::meta::writers::NodeInfo;
use strata_core::meta::{Command, CommandResult};
use strata_core::meta::{
    CommitOutcome, Extent, ExtentPage, GroupOffset, MAX_PARTITIONS, MetaError, MetaQuery,
    PartitionInfo, QueryResult, TopicInfo,
};
use strata_core::topic_config::TopicConfig;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct PartitionState {
    log_start: Offset,
    high_watermark: Offset,
    bytes: u64,
    extents: BTreeMap<Offset, Extent>,
    #[serde(default)]
    cleaned_through: Offset,
    #[serde(default)]
    archived_through: Option<Offset>,
    /// Extents in merged segments, and their bytes (kept with every insert and removal).
    #[serde(default)]
    segments: u64,
    #[serde(default)]
    segment_bytes: u64,
    /// Parquet archive files by first offset, their bytes, and the file being written.
    #[serde(default)]
    archive: BTreeMap<Offset, ArchiveFile>,
    #[serde(default)]
    archive_bytes: u64,
    #[serde(default)]
    archive_pending: Option<ArchivePlan>,
}

impl PartitionState {
    /// Adds an extent, keeping the byte and segment counts.
    fn insert_extent(&mut self, e: Extent) {
        self.bytes += e.len;
        if strata_core::keys::is_merged_segment_key(&e.object) {
            self.segments += 1;
            self.segment_bytes += e.len;
        }
        self.extents.insert(e.base_offset, e);
    }

    /// First offset the archive holds.
    fn archive_start(&self) -> Option<Offset> {
        self.archive.first_key_value().map(|(first, _)| *first)
    }

    /// Removes the extent at `base`, keeping the byte and segment counts.
    fn remove_extent(&mut self, base: Offset) -> Option<Extent> {
        let e = self.extents.remove(&base)?;
        self.bytes -= e.len;
        if strata_core::keys::is_merged_segment_key(&e.object) {
            self.segments -= 1;
            self.segment_bytes -= e.len;
        }
        Some(e)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TopicState {
    info: TopicInfo,
    partitions: Vec<PartitionState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ObjectState {
    #[serde(alias = "node")]
    writer: Incarnation,
    seq: FlushSeq,
    size: u64,
    committed_ms: i64,
    outcome: CommitOutcome,
    /// Extents referring to the object.
    #[serde(default)]
    refs: u64,
    /// When the last extent referring to it went away.
    #[serde(default)]
    unreferenced_since: Option<i64>,
}

/// The whole metadata: topics, extents, committed objects, writers and their flush sequences,
/// and groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaState {
    next_topic_id: u64,
    topics: BTreeMap<String, TopicState>,
    topic_names: BTreeMap<TopicId, String>,
    objects: BTreeMap<String, ObjectState>,
    /// Each writer's last committed flush, kept for good (16 bytes per process start), so a
    /// flush re-shipped after its object was collected is still known to be committed.
    node_seqs: BTreeMap<Incarnation, FlushSeq>,
    groups: BTreeMap<String, BTreeMap<String, BTreeMap<PartitionId, Offset>>>,
    /// Registered processes by incarnation.
    #[serde(default)]
    writers: BTreeMap<Incarnation, NodeInfo>,
    #[serde(default)]
    next_incarnation: u64,
    /// Committed keyed requests by id, and their ids in commit order (for expiry).
    #[serde(default)]
    request_keys: BTreeMap<u128, strata_core::meta::idempotency::KeyRecord>,
    #[serde(default)]
    request_order: std::collections::VecDeque<(i64, u128)>,
    #[serde(default)]
    cluster_id: Option<String>,
    #[serde(default)]
    leases: BTreeMap<String, Lease>,
    #[serde(default)]
    next_epoch: u64,
    #[serde(default)]
    condemned: BTreeSet<String>,
    /// Consumer instances of the REST Proxy v2 API, by group.
    #[serde(default)]
    consumers: BTreeMap<String, consumers::GroupState>,
    /// Whether `refs` of every object were counted (states written before reference counts
    /// existed are recounted once when loaded).
    #[serde(default)]
    refs_counted: bool,
    /// API tokens (their hashes) and ACLs.
    #[serde(default)]
    access: access::AccessState,
}

impl MetaState {
    /// Checks a command against the current state without changing it, so a store can refuse
    /// a bad request before proposing it. [`MetaState::apply`] checks again.
    pub fn check(&self, cmd: &Command) -> Result<(), MetaError> {
        match cmd {
            Command::CreateTopic {
                name,
                partitions,
                config,
                ..
            } => {
                validate_topic_name(name).map_err(|reason| MetaError::InvalidTopicName {
                    name: name.clone(),
                    reason,
                })?;
                if *partitions == 0 || *partitions > MAX_PARTITIONS {
                    return Err(MetaError::Invalid {
                        reason: format!(
                            "partitions must be from 1 to {MAX_PARTITIONS}, got {partitions}"
                        ),
                    });
                }
                TopicConfig::default().with_changes(config)?;
                if self.topics.contains_key(name) {
                    return Err(MetaError::TopicExists {
                        topic: name.clone(),
                    });
                }
                Ok(())
            }
            Command::DeleteTopic { name, .. } => self.topic_state(name).map(|_| ()),
            Command::UpdateTopicConfig { name, changes } => {
                let t = self.topic_state(name)?;
                let new = t.info.config.with_changes(changes)?;
                // Written Parquet files and the Iceberg schema have the projected columns:
                // once a topic has archive files, columns can be added, never changed.
                let old = &t.info.config.archive_json_fields;
                let archived = t
                    .partitions
                    .iter()
                    .any(|p| !p.archive.is_empty() || p.archive_pending.is_some());
                if archived && !new.archive_json_fields.starts_with(old) {
                    return Err(strata_core::topic_config::ConfigError {
                        key: "archive.json.fields".to_string(),
                        value: changes
                            .get("archive.json.fields")
                            .cloned()
                            .unwrap_or_default(),
                        reason: format!(
                            "the topic has archive files with the columns {:?}: keep them, in \
                             order and with their types, and add new fields after them",
                            t.info
                                .config
                                .to_map()
                                .get("archive.json.fields")
                                .cloned()
                                .unwrap_or_default()
                        ),
                    }
                    .into());
                }
                Ok(())
            }
            Command::CommitObject { commit, .. } => {
                if self.objects.contains_key(&commit.key) {
                    return Ok(());
                }
                if self.condemned.contains(&commit.key) {
                    return Err(MetaError::Condemned {
                        key: commit.key.clone(),
                    });
                }
                self.check_commit_fence(commit)?;
                commit::check_requests(commit)?;
                if let Some(last) = self.node_seqs.get(&commit.writer)
                    && commit.seq <= *last
                {
                    return Err(MetaError::StaleFlush {
                        writer: commit.writer.0,
                        seq: commit.seq.0,
                        last: last.0,
                    });
                }
                Ok(())
            }
            Command::CommitGroupOffsets { group, offsets } => {
                if group.is_empty() || group.len() > 255 {
                    return Err(MetaError::Invalid {
                        reason: "group name must be 1 to 255 bytes".to_string(),
                    });
                }
                if offsets.is_empty() {
                    return Err(MetaError::Invalid {
                        reason: "no offsets given".to_string(),
                    });
                }
                self.check_offsets(offsets)
            }
            Command::InitCluster { cluster_id } => {
                if cluster_id.is_empty() {
                    return Err(MetaError::Invalid {
                        reason: "a cluster id cannot be empty".to_string(),
                    });
                }
                Ok(())
            }
            Command::RegisterNode { .. } => Ok(()),
            Command::RegisterWriter { .. }
            | Command::WriterHeartbeat { .. }
            | Command::RetireWriter { .. } => self.check_writer(cmd),
            Command::Consumer {
                group, instance, ..
            } => consumers::check_names(group, instance),
            Command::AcquireLease { .. }
            | Command::ReleaseLease { .. }
            | Command::Rewrite { .. }
            | Command::TrimLog { .. }
            | Command::CondemnObjects { .. }
            | Command::ForgetObjects { .. }
            | Command::PlanArchive { .. }
            | Command::CommitArchive { .. } => self.check_job(cmd),
            Command::CreateToken { .. }
            | Command::RevokeToken { .. }
            | Command::CreateAcl { .. }
            | Command::DeleteAcl { .. } => self.check_access(cmd),
        }
    }

    /// Refuses group offsets of partitions that do not exist, or below zero.
    fn check_offsets(&self, offsets: &[GroupOffset]) -> Result<(), MetaError> {
        for o in offsets {
            self.partition_state(&o.topic, o.partition)?;
            if o.offset.0 < 0 {
                return Err(MetaError::Invalid {
                    reason: format!("offset {} is negative", o.offset),
                });
            }
        }
        Ok(())
    }

    /// Applies a command. A refused command leaves the state unchanged.
    pub fn apply(&mut self, cmd: &Command) -> CommandResult {
        if let Err(e) = self.check(cmd) {
            return CommandResult::Refused(e);
        }
        match cmd {
            Command::CreateTopic {
                name,
                partitions,
                config,
                now_ms,
            } => {
                self.next_topic_id += 1;
                let id = TopicId(self.next_topic_id);
                let info = TopicInfo {
                    name: name.clone(),
                    id,
                    partitions: *partitions,
                    config: TopicConfig::default()
                        .with_changes(config)
                        .expect("checked above"),
                    created_ms: *now_ms,
                };
                self.topic_names.insert(id, name.clone());
                self.topics.insert(
                    name.clone(),
                    TopicState {
                        info: info.clone(),
                        partitions: vec![PartitionState::default(); *partitions as usize],
                    },
                );
                CommandResult::Topic(info)
            }
            Command::DeleteTopic { name, now_ms } => {
                if let Some(t) = self.topics.remove(name) {
                    self.topic_names.remove(&t.info.id);
                    for p in &t.partitions {
                        for e in p.extents.values() {
                            self.unref(&e.object, *now_ms);
                        }
                        for f in p.archive.values() {
                            self.unref(&f.key, *now_ms);
                        }
                    }
                    self.drop_leases(name);
                }
                for offsets in self.groups.values_mut() {
                    offsets.remove(name);
                }
                self.groups.retain(|_, offsets| !offsets.is_empty());
                CommandResult::Done
            }
            Command::UpdateTopicConfig { name, changes } => {
                let t = self.topics.get_mut(name).expect("checked above");
                t.info.config = t.info.config.with_changes(changes).expect("checked above");
                CommandResult::Topic(t.info.clone())
            }
            Command::CommitObject { commit, now_ms } => {
                CommandResult::Committed(self.commit_object(commit, *now_ms))
            }
            Command::CommitGroupOffsets { group, offsets } => {
                let g = self.groups.entry(group.clone()).or_default();
                for o in offsets {
                    g.entry(o.topic.clone())
                        .or_default()
                        .insert(o.partition, o.offset);
                }
                CommandResult::Done
            }
            Command::RegisterNode { .. } => CommandResult::Done,
            Command::RegisterWriter { .. }
            | Command::WriterHeartbeat { .. }
            | Command::RetireWriter { .. } => self.apply_writer(cmd),
            Command::InitCluster { cluster_id } => CommandResult::ClusterId(
                self.cluster_id
                    .get_or_insert_with(|| cluster_id.clone())
                    .clone(),
            ),
            Command::Consumer {
                group,
                instance,
                op,
                now_ms,
            } => self.apply_consumer(group, instance, op, *now_ms),
            Command::AcquireLease { .. }
            | Command::ReleaseLease { .. }
            | Command::Rewrite { .. }
            | Command::TrimLog { .. }
            | Command::CondemnObjects { .. }
            | Command::ForgetObjects { .. }
            | Command::PlanArchive { .. }
            | Command::CommitArchive { .. } => self.apply_job(cmd),
            Command::CreateToken { .. }
            | Command::RevokeToken { .. }
            | Command::CreateAcl { .. }
            | Command::DeleteAcl { .. } => self.apply_access(cmd),
        }
    }

    fn topic_state(&self, name: &str) -> Result<&TopicState, MetaError> {
        self.topics
            .get(name)
            .ok_or_else(|| MetaError::TopicNotFound {
                topic: name.to_string(),
            })
    }

    fn partition_state(
        &self,
        topic: &str,
        partition: PartitionId,
    ) -> Result<&PartitionState, MetaError> {
        let t = self.topic_state(topic)?;
        t.partitions
            .get(partition.0 as usize)
            .ok_or_else(|| MetaError::PartitionNotFound {
                topic: topic.to_string(),
                partition: partition.0,
                partitions: t.info.partitions,
            })
    }
}

mod access;
mod archive;
mod commit;
mod consumers;
mod leases;
mod queries;
#[cfg(test)]
mod tests;
mod writers;
