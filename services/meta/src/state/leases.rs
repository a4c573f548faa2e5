//! The background jobs' commands: leases, rewrites, trims, and the object lifecycle
//! (see [`strata_core::meta::jobs`]).

use super::{Command, CommandResult, MetaState, ObjectState, PartitionState};
use strata_core::ids::{FlushSeq, Incarnation, PartitionId, TopicId};
use strata_core::keys::{parse_segment_key, segment_key};
use strata_core::meta::jobs::{GarbageObject, Lease, LeaseToken, ObjectStatus, Rewrite};
use strata_core::meta::{CommitOutcome, MetaError};

fn lease_key(job: &str, topic: &str, partition: PartitionId) -> String {
    format!("{job}/{topic}/{}", partition.0)
}

pub(super) fn invalid(reason: impl Into<String>) -> MetaError {
    MetaError::Invalid {
        reason: reason.into(),
    }
}

impl MetaState {
    pub(super) fn check_job(&self, cmd: &Command) -> Result<(), MetaError> {
        match cmd {
            Command::AcquireLease {
                job,
                topic,
                partition,
                holder,
                renew,
                ttl_ms,
                now_ms,
            } => {
                self.partition_state(topic, *partition)?;
                if *ttl_ms <= 0 {
                    return Err(invalid("a lease needs a positive ttl"));
                }
                let lost = |reason: String| MetaError::LeaseLost {
                    job: job.clone(),
                    topic: topic.clone(),
                    partition: partition.0,
                    reason,
                };
                let current = self.leases.get(&lease_key(job, topic, *partition));
                match (renew, current) {
                    (Some(epoch), Some(l))
                        if l.token.epoch == *epoch && l.token.holder == *holder =>
                    {
                        if l.expires_ms < *now_ms {
                            return Err(lost(format!("epoch {epoch} expired")));
                        }
                        Ok(())
                    }
                    (Some(epoch), _) => Err(lost(format!("epoch {epoch} is no longer current"))),
                    (None, Some(l))
                        if l.expires_ms >= *now_ms
                            && l.token.holder != *holder
                            && self.holder_alive(l.token.holder, *now_ms) =>
                    {
                        Err(lost(format!(
                            "held by incarnation {} (epoch {}) for {} ms more",
                            l.token.holder,
                            l.token.epoch,
                            l.expires_ms - now_ms
                        )))
                    }
                    (None, _) => Ok(()),
                }
            }
            Command::ReleaseLease { .. } => Ok(()),
            Command::Rewrite { rewrite, now_ms } => self.check_rewrite(rewrite, *now_ms),
            Command::TrimLog {
                topic,
                topic_id,
                partition,
                lease,
                log_start,
                now_ms,
            } => {
                let p = self.job_partition(topic, *topic_id, *partition)?;
                self.check_lease(topic, *partition, *lease, *now_ms)?;
                if *log_start < p.log_start || *log_start > p.high_watermark {
                    return Err(invalid(format!(
                        "log start {log_start} is outside {}..={}",
                        p.log_start, p.high_watermark
                    )));
                }
                let t = self.topic_state(topic)?;
                if t.info.config.archive
                    && *log_start > p.log_start
                    && p.archived_through.is_none_or(|a| *log_start > a.plus(1))
                {
                    return Err(invalid(format!(
                        "retention may not pass the archived-through offset ({:?}) of {topic}/{}",
                        p.archived_through.map(|a| a.0),
                        partition.0
                    )));
                }
                Ok(())
            }
            Command::CondemnObjects { keys, .. } | Command::ForgetObjects { keys } => {
                if keys.len() > 10_000 {
                    return Err(invalid("at most 10000 keys per command"));
                }
                Ok(())
            }
            Command::PlanArchive { .. } | Command::CommitArchive { .. } => self.check_archive(cmd),
            _ => Ok(()),
        }
    }

    pub(super) fn job_partition(
        &self,
        topic: &str,
        topic_id: TopicId,
        partition: PartitionId,
    ) -> Result<&PartitionState, MetaError> {
        let t = self.topic_state(topic)?;
        if t.info.id != topic_id {
            return Err(MetaError::TopicNotFound {
                topic: format!("{topic} (incarnation {topic_id})"),
            });
        }
        self.partition_state(topic, partition)
    }

    fn check_lease(
        &self,
        topic: &str,
        partition: PartitionId,
        token: LeaseToken,
        now_ms: i64,
    ) -> Result<(), MetaError> {
        self.check_job_lease(
            strata_core::meta::jobs::COMPACT_JOB,
            topic,
            partition,
            token,
            now_ms,
        )
    }

    pub(super) fn check_job_lease(
        &self,
        job: &str,
        topic: &str,
        partition: PartitionId,
        token: LeaseToken,
        now_ms: i64,
    ) -> Result<(), MetaError> {
        let lost = |reason: &str| MetaError::LeaseLost {
            job: job.to_string(),
            topic: topic.to_string(),
            partition: partition.0,
            reason: reason.to_string(),
        };
        match self.leases.get(&lease_key(job, topic, partition)) {
            Some(l) if l.token == token && l.expires_ms >= now_ms => Ok(()),
            Some(l) if l.token == token => Err(lost("it expired")),
            Some(_) => Err(lost("another holder took it")),
            None => Err(lost("it is not held")),
        }
    }

    fn check_rewrite(&self, rw: &Rewrite, now_ms: i64) -> Result<(), MetaError> {
        let p = self.job_partition(&rw.topic, rw.topic_id, rw.partition)?;
        self.check_lease(&rw.topic, rw.partition, rw.lease, now_ms)?;
        let conflict = || MetaError::Conflict {
            topic: rw.topic.clone(),
            partition: rw.partition.0,
        };
        let (Some(first), Some(last)) = (rw.replaced.first(), rw.replaced.last()) else {
            return Err(invalid("a rewrite replaces at least one extent"));
        };
        let mut span_end = first.base_offset;
        for (i, r) in rw.replaced.iter().enumerate() {
            let current = p.extents.get(&r.base_offset).ok_or_else(conflict)?;
            if current.object != r.object || current.start != r.start || current.len != r.len {
                return Err(conflict());
            }
            if i > 0 && r.base_offset <= rw.replaced[i - 1].base_offset {
                return Err(invalid("replaced extents must be in offset order"));
            }
            span_end = current.last_offset;
        }
        if p.extents
            .range(first.base_offset..=last.base_offset)
            .count()
            != rw.replaced.len()
        {
            return Err(conflict());
        }
        let mut next = first.base_offset;
        for e in &rw.extents {
            if e.base_offset < next || e.last_offset < e.base_offset || e.last_offset > span_end {
                return Err(invalid(format!(
                    "new extent {}..={} is out of order or outside {}..={}",
                    e.base_offset, e.last_offset, first.base_offset, span_end
                )));
            }
            let span = e.last_offset.plus(1).since(e.base_offset);
            if e.record_count == 0 || e.record_count > span {
                return Err(invalid(format!(
                    "new extent {}..={} claims {} records",
                    e.base_offset, e.last_offset, e.record_count
                )));
            }
            if !rw.objects.iter().any(|o| o.key == e.object) {
                return Err(invalid(format!(
                    "new extent refers to {} which the rewrite does not add",
                    e.object
                )));
            }
            next = e.last_offset.plus(1);
        }
        for (i, o) in rw.objects.iter().enumerate() {
            if self.objects.contains_key(&o.key) || rw.objects[..i].iter().any(|x| x.key == o.key) {
                return Err(invalid(format!("object {} is already committed", o.key)));
            }
            if self.condemned.contains(&o.key) {
                return Err(MetaError::Condemned { key: o.key.clone() });
            }
        }
        if let Some(c) = rw.cleaned_through
            && c > p.high_watermark
        {
            return Err(invalid("cleaned-through is past the high watermark"));
        }
        Ok(())
    }

    pub(super) fn apply_job(&mut self, cmd: &Command) -> CommandResult {
        match cmd {
            Command::AcquireLease {
                job,
                topic,
                partition,
                holder,
                renew,
                ttl_ms,
                now_ms,
            } => {
                let key = lease_key(job, topic, *partition);
                let token = match renew {
                    Some(epoch) => LeaseToken {
                        holder: *holder,
                        epoch: *epoch,
                    },
                    None => {
                        self.next_epoch += 1;
                        LeaseToken {
                            holder: *holder,
                            epoch: self.next_epoch,
                        }
                    }
                };
                self.leases.insert(
                    key,
                    Lease {
                        token,
                        expires_ms: now_ms.saturating_add(*ttl_ms),
                    },
                );
                CommandResult::Lease(token)
            }
            Command::ReleaseLease {
                job,
                topic,
                partition,
                token,
            } => {
                let key = lease_key(job, topic, *partition);
                if self.leases.get(&key).is_some_and(|l| l.token == *token) {
                    self.leases.remove(&key);
                }
                CommandResult::Done
            }
            Command::Rewrite { rewrite, now_ms } => {
                self.apply_rewrite(rewrite, *now_ms);
                CommandResult::Done
            }
            Command::TrimLog {
                topic,
                partition,
                log_start,
                now_ms,
                ..
            } => {
                let p = self.partition_mut(topic, *partition);
                let mut dropped = Vec::new();
                while let Some((&base, e)) = p.extents.first_key_value()
                    && e.last_offset < *log_start
                {
                    let e = p.remove_extent(base).expect("just seen");
                    dropped.push(e.object);
                }
                p.log_start = *log_start;
                p.cleaned_through = p.cleaned_through.max(*log_start);
                for object in dropped {
                    self.unref(&object, *now_ms);
                }
                CommandResult::Done
            }
            Command::CondemnObjects { keys, .. } => {
                let mut condemned = Vec::new();
                for k in keys {
                    if !self.objects.contains_key(k) {
                        self.condemned.insert(k.clone());
                        condemned.push(k.clone());
                    }
                }
                CommandResult::Keys(condemned)
            }
            Command::ForgetObjects { keys } => {
                for k in keys {
                    if self.objects.get(k).is_some_and(|o| o.refs == 0) {
                        self.objects.remove(k);
                    }
                }
                CommandResult::Done
            }
            Command::PlanArchive { .. } | Command::CommitArchive { .. } => self.apply_archive(cmd),
            _ => CommandResult::Done,
        }
    }

    pub(super) fn partition_mut(
        &mut self,
        topic: &str,
        partition: PartitionId,
    ) -> &mut PartitionState {
        self.topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(partition.0 as usize))
            .expect("checked before applying")
    }

    fn apply_rewrite(&mut self, rw: &Rewrite, now_ms: i64) {
        let p = self.partition_mut(&rw.topic, rw.partition);
        let mut dropped = Vec::with_capacity(rw.replaced.len());
        for r in &rw.replaced {
            if let Some(e) = p.remove_extent(r.base_offset) {
                dropped.push(e.object);
            }
        }
        for e in &rw.extents {
            p.insert_extent(e.clone());
        }
        if let Some(c) = rw.cleaned_through {
            p.cleaned_through = p.cleaned_through.max(c);
        }
        for o in &rw.objects {
            let refs = rw.extents.iter().filter(|e| e.object == o.key).count() as u64;
            self.objects.insert(
                o.key.clone(),
                ObjectState {
                    writer: rw.lease.holder,
                    seq: FlushSeq(rw.lease.epoch),
                    size: o.size,
                    committed_ms: now_ms,
                    outcome: CommitOutcome {
                        base_offsets: Vec::new(),
                        replays: Vec::new(),
                    },
                    refs,
                    unreferenced_since: (refs == 0).then_some(now_ms),
                },
            );
        }
        for object in dropped {
            self.unref(&object, now_ms);
        }
    }

    /// One extent referring to `object` went away.
    pub(super) fn unref(&mut self, object: &str, now_ms: i64) {
        if let Some(o) = self.objects.get_mut(object) {
            o.refs = o.refs.saturating_sub(1);
            if o.refs == 0 {
                o.unreferenced_since = Some(now_ms);
            }
        }
    }

    pub(super) fn drop_leases(&mut self, topic: &str) {
        self.leases.retain(|k, _| {
            let mut parts = k.splitn(2, '/');
            let _job = parts.next();
            parts
                .next()
                .and_then(|rest| rest.rsplit_once('/'))
                .is_none_or(|(t, _)| t != topic)
        });
    }

    /// Whether a lease's holder may still be working: a registered process that is live (a
    /// fenced or silent one's lease can be taken before it lapses; if it comes back, its
    /// epoch is no longer current), or a holder from before processes registered.
    fn holder_alive(&self, holder: Incarnation, now_ms: i64) -> bool {
        self.writers.get(&holder).is_none_or(|w| w.is_live(now_ms))
    }

    /// A writer committed flush `seq`: its condemned keys up to `seq` can never be committed
    /// anyway (commits are in flush order), so the set need not remember them.
    pub(super) fn forget_superseded_orphans(&mut self, node: Incarnation, seq: FlushSeq) {
        let from = segment_key(node, FlushSeq(0));
        let to = segment_key(node, seq);
        let stale: Vec<String> = self.condemned.range(from..=to).cloned().collect();
        for k in stale {
            self.condemned.remove(&k);
        }
    }

    /// Returns up to `limit` unreferenced objects, unreferenced since at or before `before_ms`.
    pub fn garbage(&self, before_ms: i64, limit: usize) -> Vec<GarbageObject> {
        self.objects
            .iter()
            .filter(|(_, o)| o.refs == 0 && o.unreferenced_since.is_some_and(|t| t <= before_ms))
            .take(limit)
            .map(|(k, o)| GarbageObject {
                key: k.clone(),
                size: o.size,
            })
            .collect()
    }

    /// Returns what the quorum knows of an object key.
    pub fn object_status(&self, key: &str) -> ObjectStatus {
        if self.objects.contains_key(key) {
            return ObjectStatus::Committed;
        }
        if self.condemned.contains(key) {
            return ObjectStatus::Condemned;
        }
        match parse_segment_key(key) {
            Some((node, seq)) if self.node_seqs.get(&node).is_some_and(|last| *last >= seq) => {
                ObjectStatus::Superseded
            }
            _ => ObjectStatus::Unknown,
        }
    }

    /// Returns a lease, if one is recorded.
    pub fn lease(&self, job: &str, topic: &str, partition: PartitionId) -> Option<Lease> {
        self.leases.get(&lease_key(job, topic, partition)).copied()
    }

    /// Counts every object's references from the extents, once, for states written before
    /// reference counts existed. Call after loading a state.
    pub fn count_refs(&mut self) {
        if self.refs_counted {
            return;
        }
        for o in self.objects.values_mut() {
            o.refs = 0;
        }
        for t in self.topics.values() {
            for p in &t.partitions {
                for e in p.extents.values() {
                    if let Some(o) = self.objects.get_mut(&e.object) {
                        o.refs += 1;
                    }
                }
                for f in p.archive.values() {
                    if let Some(o) = self.objects.get_mut(&f.key) {
                        o.refs += 1;
                    }
                }
            }
        }
        for o in self.objects.values_mut() {
            if o.refs == 0 && o.unreferenced_since.is_none() {
                o.unreferenced_since = Some(o.committed_ms);
            }
        }
        self.refs_counted = true;
    }
}
