//! The archiver's commands: plan a file, then commit it (see [`strata_core::meta::jobs`]).
//!
//! A partition's archive is a run of Parquet files with consecutive offset spans. The archiver
//! records the file it is about to write (its key and span) before uploading it, and commits
//! it afterwards; a restarted archiver finds the plan and finishes or replaces exactly that
//! file, so a range is never archived twice. Committed files are objects with one reference,
//! dropped (and collected) with their topic.

use super::leases::invalid;
use super::{Command, CommandResult, MetaState, ObjectState, PartitionState};
use strata_core::ids::{FlushSeq, Offset, PartitionId};
use strata_core::meta::jobs::{ARCHIVE_JOB, ArchivePage};
use strata_core::meta::{CommitOutcome, MetaError};

impl PartitionState {
    /// First offset the next archive file starts at.
    fn archive_next(&self) -> Offset {
        self.archived_through
            .map_or(self.log_start, |a| a.plus(1).max(self.log_start))
    }
}

impl MetaState {
    pub(super) fn check_archive(&self, cmd: &Command) -> Result<(), MetaError> {
        match cmd {
            Command::PlanArchive {
                topic,
                topic_id,
                partition,
                lease,
                plan,
                now_ms,
            } => {
                let p = self.job_partition(topic, *topic_id, *partition)?;
                self.check_job_lease(ARCHIVE_JOB, topic, *partition, *lease, *now_ms)?;
                if !self.topic_state(topic)?.info.config.archive {
                    return Err(invalid(format!("topic {topic} is not archived")));
                }
                let next = p.archive_next();
                if plan.first_offset != next
                    || plan.last_offset < plan.first_offset
                    || plan.last_offset >= p.high_watermark
                {
                    return Err(invalid(format!(
                        "archive file {}..={} of {topic}/{} must start at {next} and end below {}",
                        plan.first_offset, plan.last_offset, partition.0, p.high_watermark
                    )));
                }
                if self.objects.contains_key(&plan.key) || self.condemned.contains(&plan.key) {
                    return Err(invalid(format!("object {} is already known", plan.key)));
                }
                Ok(())
            }
            Command::CommitArchive {
                topic,
                topic_id,
                partition,
                lease,
                file,
                now_ms,
            } => {
                let p = self.job_partition(topic, *topic_id, *partition)?;
                if p.archive
                    .get(&file.first_offset)
                    .is_some_and(|f| f.key == file.key)
                {
                    return Ok(());
                }
                self.check_job_lease(ARCHIVE_JOB, topic, *partition, *lease, *now_ms)?;
                match &p.archive_pending {
                    Some(plan)
                        if plan.key == file.key
                            && plan.first_offset == file.first_offset
                            && plan.last_offset == file.last_offset
                            && plan.first_offset == p.archive_next() =>
                    {
                        Ok(())
                    }
                    _ => Err(MetaError::Conflict {
                        topic: topic.clone(),
                        partition: partition.0,
                    }),
                }
            }
            _ => Ok(()),
        }
    }

    pub(super) fn apply_archive(&mut self, cmd: &Command) -> CommandResult {
        match cmd {
            Command::PlanArchive {
                topic,
                partition,
                plan,
                ..
            } => {
                self.partition_mut(topic, *partition).archive_pending = Some(plan.clone());
            }
            Command::CommitArchive {
                topic,
                partition,
                lease,
                file,
                now_ms,
                ..
            } => {
                let p = self.partition_mut(topic, *partition);
                if p.archive
                    .get(&file.first_offset)
                    .is_some_and(|f| f.key == file.key)
                {
                    return CommandResult::Done;
                }
                p.archive.insert(file.first_offset, file.clone());
                p.archive_bytes += file.bytes;
                p.archived_through = Some(file.last_offset);
                p.archive_pending = None;
                self.objects.insert(
                    file.key.clone(),
                    ObjectState {
                        writer: lease.holder,
                        seq: FlushSeq(lease.epoch),
                        size: file.bytes,
                        committed_ms: *now_ms,
                        outcome: CommitOutcome {
                            base_offsets: Vec::new(),
                            replays: Vec::new(),
                        },
                        refs: 1,
                        unreferenced_since: None,
                    },
                );
            }
            _ => {}
        }
        CommandResult::Done
    }

    /// Returns up to `limit` archive files from the one holding `from` (or the next one).
    pub fn archive_files(
        &self,
        topic: &str,
        partition: PartitionId,
        from: Offset,
        limit: usize,
    ) -> Result<ArchivePage, MetaError> {
        let p = self.partition_state(topic, partition)?;
        let first = p
            .archive
            .range(..=from)
            .next_back()
            .filter(|(_, f)| f.last_offset >= from)
            .map_or(from, |(first, _)| *first);
        Ok(ArchivePage {
            files: p
                .archive
                .range(first..)
                .take(limit)
                .map(|(_, f)| f.clone())
                .collect(),
            pending: p.archive_pending.clone(),
            archived_through: p.archived_through,
            log_start_offset: p.log_start,
            high_watermark: p.high_watermark,
        })
    }
}
