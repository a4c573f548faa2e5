//! The read side of the state machine: what the stores answer queries from.

#[allow(unused_imports)]
use super::*;

impl MetaState {
    /// Returns every topic, by name.
    pub fn list_topics(&self) -> Vec<TopicInfo> {
        self.topics.values().map(|t| t.info.clone()).collect()
    }

    /// Returns one topic.
    pub fn topic(&self, name: &str) -> Result<TopicInfo, MetaError> {
        self.topic_state(name).map(|t| t.info.clone())
    }

    /// Returns the state of every partition of a topic.
    pub fn partitions(&self, name: &str) -> Result<Vec<PartitionInfo>, MetaError> {
        let t = self.topic_state(name)?;
        Ok(t.partitions
            .iter()
            .enumerate()
            .map(|(i, p)| PartitionInfo {
                partition: PartitionId(i as u32),
                log_start_offset: p.log_start,
                high_watermark: p.high_watermark,
                extents: p.extents.len() as u64,
                bytes: p.bytes,
                segments: p.segments,
                segment_bytes: p.segment_bytes,
                cleaned_through: p.cleaned_through,
                archived_through: p.archived_through,
                archive_start_offset: p.archive_start(),
                archive_files: p.archive.len() as u64,
                archive_bytes: p.archive_bytes,
            })
            .collect())
    }

    /// Returns up to `limit` extents from the one holding `from` (or the next after a gap).
    pub fn extents(
        &self,
        topic: &str,
        partition: PartitionId,
        from: Offset,
        limit: usize,
    ) -> Result<ExtentPage, MetaError> {
        let p = self.partition_state(topic, partition)?;
        let first = p
            .extents
            .range(..=from)
            .next_back()
            .filter(|(_, e)| e.last_offset >= from)
            .map_or(from, |(base, _)| *base);
        Ok(ExtentPage {
            extents: p
                .extents
                .range(first..)
                .take(limit)
                .map(|(_, e)| e.clone())
                .collect(),
            log_start_offset: p.log_start,
            high_watermark: p.high_watermark,
            archive_start_offset: p.archive_start(),
        })
    }

    /// Returns up to `limit` extents from the first whose largest timestamp is at or after
    /// `timestamp`.
    pub fn extents_from_timestamp(
        &self,
        topic: &str,
        partition: PartitionId,
        timestamp: i64,
        limit: usize,
    ) -> Result<ExtentPage, MetaError> {
        let p = self.partition_state(topic, partition)?;
        Ok(ExtentPage {
            extents: p
                .extents
                .values()
                .skip_while(|e| e.max_timestamp < timestamp)
                .take(limit)
                .cloned()
                .collect(),
            log_start_offset: p.log_start,
            high_watermark: p.high_watermark,
            archive_start_offset: p.archive_start(),
        })
    }

    /// Returns a group's committed offsets.
    pub fn group_offsets(&self, group: &str) -> Result<Vec<GroupOffset>, MetaError> {
        let g = self
            .groups
            .get(group)
            .ok_or_else(|| MetaError::GroupNotFound {
                group: group.to_string(),
            })?;
        Ok(g.iter()
            .flat_map(|(topic, ps)| {
                ps.iter().map(move |(p, o)| GroupOffset {
                    topic: topic.clone(),
                    partition: *p,
                    offset: *o,
                })
            })
            .collect())
    }

    /// Returns the last flush sequence number `writer` committed.
    pub fn last_flush_seq(&self, writer: Incarnation) -> Option<FlushSeq> {
        self.node_seqs.get(&writer).copied()
    }

    /// Returns the cluster's name, once it has one.
    pub fn cluster_id(&self) -> Option<String> {
        self.cluster_id.clone()
    }

    /// Answers a query.
    pub fn query(&self, q: &MetaQuery) -> Result<QueryResult, MetaError> {
        Ok(match q {
            MetaQuery::ListTopics => QueryResult::Topics(self.list_topics()),
            MetaQuery::Topic { name } => QueryResult::Topic(self.topic(name)?),
            MetaQuery::Partitions { name } => QueryResult::Partitions(self.partitions(name)?),
            MetaQuery::Extents {
                topic,
                partition,
                from,
                limit,
            } => QueryResult::Extents(self.extents(topic, *partition, *from, *limit)?),
            MetaQuery::ExtentsFromTimestamp {
                topic,
                partition,
                timestamp,
                limit,
            } => QueryResult::Extents(
                self.extents_from_timestamp(topic, *partition, *timestamp, *limit)?,
            ),
            MetaQuery::GroupOffsets { group } => {
                QueryResult::GroupOffsets(self.group_offsets(group)?)
            }
            MetaQuery::LastFlushSeq { writer } => {
                QueryResult::FlushSeq(self.last_flush_seq(*writer))
            }
            MetaQuery::Nodes => QueryResult::Nodes(self.writers()),
            MetaQuery::ClusterId => QueryResult::ClusterId(self.cluster_id()),
            MetaQuery::Garbage {
                unreferenced_before_ms,
                limit,
            } => QueryResult::Objects(self.garbage(*unreferenced_before_ms, *limit)),
            MetaQuery::ObjectStatuses { keys } => {
                QueryResult::ObjectStatuses(keys.iter().map(|k| self.object_status(k)).collect())
            }
            MetaQuery::Lease {
                job,
                topic,
                partition,
            } => QueryResult::Lease(self.lease(job, topic, *partition)),
            MetaQuery::ArchiveFiles {
                topic,
                partition,
                from,
                limit,
            } => QueryResult::ArchiveFiles(self.archive_files(topic, *partition, *from, *limit)?),
            MetaQuery::Usage => QueryResult::Usage(self.usage()),
            MetaQuery::Access { since } => QueryResult::Access(self.access(*since)),
        })
    }

    /// Returns stored bytes by tier and every group's lag.
    pub fn usage(&self) -> strata_core::meta::ClusterUsage {
        let mut tiers: Vec<strata_core::meta::TierUsage> = ["flush", "segment", "archive"]
            .into_iter()
            .map(|tier| strata_core::meta::TierUsage {
                tier: tier.to_string(),
                objects: 0,
                bytes: 0,
            })
            .collect();
        for (key, o) in &self.objects {
            let i = if strata_core::keys::is_archive_key(key) {
                2
            } else if strata_core::keys::is_merged_segment_key(key) {
                1
            } else {
                0
            };
            tiers[i].objects += 1;
            tiers[i].bytes += o.size;
        }
        let mut lag = Vec::new();
        for (group, topics) in &self.groups {
            for (topic, partitions) in topics {
                let Some(t) = self.topics.get(topic) else {
                    continue;
                };
                for (p, committed) in partitions {
                    let Some(ps) = t.partitions.get(p.0 as usize) else {
                        continue;
                    };
                    lag.push(strata_core::meta::GroupLag {
                        group: group.clone(),
                        topic: topic.clone(),
                        partition: *p,
                        committed: *committed,
                        high_watermark: ps.high_watermark,
                        lag: (ps.high_watermark.0 - committed.0).max(0) as u64,
                    });
                }
            }
        }
        strata_core::meta::ClusterUsage { tiers, lag }
    }
}
