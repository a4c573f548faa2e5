//! Consumer instances of the REST Proxy v2 API (see [`strata_core::meta::consumer`]).
//!
//! Every consumer command first deletes timed-out instances (committing their positions when
//! they auto-commit), then brings the acting group's ownership up to date with its membership
//! and the topics that exist (a partition taken from an instance is committed first when it
//! auto-commits; one given to an instance starts unresolved), then checks and applies the
//! operation. Positions are resolved from the group's committed offset or `auto.offset.reset`
//! when a fetch starts ([`ConsumerOp::Poll`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{CommandResult, MetaState};
use strata_core::ids::Offset;
use strata_core::meta::consumer::{
    Assignor, ConsumerOp, ConsumerView, InstanceConfig, Member, OffsetReset, Owned, SeekTo,
    Subscription, TopicPartition, assign, compile_pattern, validate_name,
};
use strata_core::meta::{GroupOffset, MetaError};

/// A group's instances.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct GroupState {
    instances: BTreeMap<String, InstanceState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct InstanceState {
    config: InstanceConfig,
    last_seen_ms: i64,
    subscription: Option<Subscription>,
    manual: BTreeSet<TopicPartition>,
    owned: BTreeMap<TopicPartition, Option<Offset>>,
}

/// Checks the names of a consumer command (all a follower can check without the leader's
/// state: whether an instance exists is decided when the command applies).
pub(super) fn check_names(group: &str, instance: &str) -> Result<(), MetaError> {
    validate_name("group", group)
        .and_then(|()| validate_name("consumer instance", instance))
        .map_err(|reason| MetaError::Invalid { reason })
}

fn state_error(reason: impl Into<String>) -> MetaError {
    MetaError::ConsumerState {
        reason: reason.into(),
    }
}

impl MetaState {
    pub(super) fn apply_consumer(
        &mut self,
        group: &str,
        instance: &str,
        op: &ConsumerOp,
        now_ms: i64,
    ) -> CommandResult {
        self.expire_consumers(now_ms);
        let mut g = self.consumers.remove(group).unwrap_or_default();
        self.reconcile(group, &mut g);
        let result = self.consumer_op(&mut g, group, instance, op, now_ms);
        if !g.instances.is_empty() {
            self.consumers.insert(group.to_string(), g);
        }
        match result {
            Ok(view) => CommandResult::Consumer(view),
            Err(e) => CommandResult::Refused(e),
        }
    }

    fn consumer_op(
        &mut self,
        g: &mut GroupState,
        group: &str,
        instance: &str,
        op: &ConsumerOp,
        now_ms: i64,
    ) -> Result<ConsumerView, MetaError> {
        let not_found = || MetaError::ConsumerNotFound {
            group: group.to_string(),
            instance: instance.to_string(),
        };
        if let ConsumerOp::Create { config } = op {
            if g.instances.contains_key(instance) {
                return Err(MetaError::ConsumerExists {
                    group: group.to_string(),
                    instance: instance.to_string(),
                });
            }
            g.instances.insert(
                instance.to_string(),
                InstanceState {
                    config: config.clone(),
                    last_seen_ms: now_ms,
                    subscription: None,
                    manual: BTreeSet::new(),
                    owned: BTreeMap::new(),
                },
            );
            return Ok(view(g, instance, Vec::new(), Vec::new()).expect("just inserted"));
        }
        let inst = g.instances.get(instance).ok_or_else(not_found)?;
        self.check_consumer_op(inst, op)?;
        let inst = g.instances.get_mut(instance).ok_or_else(not_found)?;
        inst.last_seen_ms = now_ms;
        let mut moved = Vec::new();
        let mut committed = Vec::new();
        match op {
            ConsumerOp::Create { .. } => unreachable!("handled above"),
            ConsumerOp::Delete => {
                let inst = g.instances.remove(instance).ok_or_else(not_found)?;
                if inst.config.auto_commit {
                    self.commit_positions(group, &inst.owned);
                }
                let out = ConsumerView {
                    instance: instance.to_string(),
                    config: inst.config,
                    subscription: inst.subscription,
                    manual: !inst.manual.is_empty(),
                    partitions: Vec::new(),
                    committed: Vec::new(),
                    moved: Vec::new(),
                };
                self.reconcile(group, g);
                return Ok(out);
            }
            ConsumerOp::Subscribe { subscription } => {
                inst.subscription = match subscription {
                    Subscription::Topics(t) if t.is_empty() => None,
                    s => Some(s.clone()),
                };
                self.reconcile(group, g);
            }
            ConsumerOp::Unsubscribe => {
                inst.subscription = None;
                inst.manual.clear();
                self.reconcile(group, g);
            }
            ConsumerOp::Assign { partitions } => {
                inst.manual = partitions.iter().cloned().collect();
                self.reconcile(group, g);
            }
            ConsumerOp::Seek { positions } => {
                for (tp, to) in positions {
                    let to = match to {
                        SeekTo::Offset(o) => *o,
                        SeekTo::Beginning => self.earliest_of(tp),
                        SeekTo::End => self.end_of(tp),
                    };
                    inst.owned.insert(tp.clone(), Some(to));
                }
            }
            ConsumerOp::Poll => {
                let (reset, auto_commit) = (inst.config.auto_offset_reset, inst.config.auto_commit);
                if auto_commit {
                    let owned = inst.owned.clone();
                    self.commit_positions(group, &owned);
                }
                let inst = g.instances.get_mut(instance).ok_or_else(not_found)?;
                let unresolved: Vec<TopicPartition> = inst
                    .owned
                    .iter()
                    .filter(|(_, p)| p.is_none())
                    .map(|(tp, _)| tp.clone())
                    .collect();
                for tp in unresolved {
                    let position = self.initial_position(group, &tp, reset);
                    inst.owned.insert(tp, position);
                }
            }
            ConsumerOp::Advance { moves } => {
                for m in moves {
                    if let Some(p) = inst.owned.get_mut(&m.tp)
                        && *p == Some(m.from)
                    {
                        *p = Some(m.to);
                        moved.push(m.tp.clone());
                    }
                }
            }
            ConsumerOp::Commit { offsets } => {
                match offsets {
                    None => {
                        let owned = inst.owned.clone();
                        self.commit_positions(group, &owned);
                    }
                    Some(offsets) => {
                        let g = self.groups.entry(group.to_string()).or_default();
                        for o in offsets {
                            g.entry(o.topic.clone())
                                .or_default()
                                .insert(o.partition, o.offset);
                        }
                    }
                }
                committed = self.group_offsets(group).unwrap_or_default();
            }
            ConsumerOp::Touch => {
                committed = self.group_offsets(group).unwrap_or_default();
            }
        }
        view(g, instance, committed, moved).ok_or_else(not_found)
    }

    /// Refuses an operation that does not fit the instance or the topics; changes nothing.
    fn check_consumer_op(&self, inst: &InstanceState, op: &ConsumerOp) -> Result<(), MetaError> {
        const EXCLUSIVE: &str = "Subscription to topics, partitions and pattern are mutually exclusive: unsubscribe first";
        match op {
            ConsumerOp::Subscribe { subscription } => {
                if !inst.manual.is_empty() {
                    return Err(state_error(EXCLUSIVE));
                }
                if let Subscription::Pattern(p) = subscription {
                    compile_pattern(p).map_err(|reason| MetaError::Invalid { reason })?;
                }
                match (&inst.subscription, subscription) {
                    (Some(Subscription::Topics(_)), Subscription::Pattern(_)) => {
                        Err(MetaError::ConsumerSubscribed {
                            reason: "it reads a list of topics; unsubscribe before subscribing to a pattern".into(),
                        })
                    }
                    (Some(Subscription::Pattern(_)), Subscription::Topics(t)) if !t.is_empty() => {
                        Err(MetaError::ConsumerSubscribed {
                            reason: "it reads a topic pattern; unsubscribe before subscribing to a list of topics".into(),
                        })
                    }
                    _ => Ok(()),
                }
            }
            ConsumerOp::Assign { partitions } => {
                if inst.subscription.is_some() {
                    return Err(state_error(EXCLUSIVE));
                }
                for tp in partitions {
                    self.partition_state(&tp.topic, tp.partition)?;
                }
                Ok(())
            }
            ConsumerOp::Seek { positions } => {
                for (tp, to) in positions {
                    if !inst.owned.contains_key(tp) {
                        return Err(state_error(format!(
                            "No current assignment for partition {tp}"
                        )));
                    }
                    if let SeekTo::Offset(o) = to
                        && o.0 < 0
                    {
                        return Err(MetaError::Invalid {
                            reason: format!("offset {} of {tp} is negative", o.0),
                        });
                    }
                }
                Ok(())
            }
            ConsumerOp::Commit {
                offsets: Some(offsets),
            } => self.check_offsets(offsets),
            _ => Ok(()),
        }
    }

    /// Deletes instances whose timeout has passed, rebalancing their groups.
    fn expire_consumers(&mut self, now_ms: i64) {
        let expired: Vec<String> = self
            .consumers
            .iter()
            .filter(|(_, g)| {
                g.instances
                    .values()
                    .any(|i| i.last_seen_ms.saturating_add(i.config.timeout_ms) < now_ms)
            })
            .map(|(name, _)| name.clone())
            .collect();
        for group in expired {
            let mut g = self.consumers.remove(&group).unwrap_or_default();
            let gone: Vec<String> = g
                .instances
                .iter()
                .filter(|(_, i)| i.last_seen_ms.saturating_add(i.config.timeout_ms) < now_ms)
                .map(|(n, _)| n.clone())
                .collect();
            for name in gone {
                if let Some(inst) = g.instances.remove(&name)
                    && inst.config.auto_commit
                {
                    self.commit_positions(&group, &inst.owned);
                }
            }
            self.reconcile(&group, &mut g);
            if !g.instances.is_empty() {
                self.consumers.insert(group, g);
            }
        }
    }

    /// Brings every instance's owned partitions in line with the group's assignment: taken
    /// partitions are committed first (auto-commit), given ones start unresolved.
    fn reconcile(&mut self, group: &str, g: &mut GroupState) {
        let target = self.group_assignment(g);
        for (name, inst) in g.instances.iter_mut() {
            let want: BTreeSet<TopicPartition> = if inst.manual.is_empty() {
                target.get(name).cloned().unwrap_or_default()
            } else {
                inst.manual
                    .iter()
                    .filter(|tp| self.partition_state(&tp.topic, tp.partition).is_ok())
                    .cloned()
                    .collect()
            };
            let taken: BTreeMap<TopicPartition, Option<Offset>> = inst
                .owned
                .iter()
                .filter(|(tp, _)| !want.contains(*tp))
                .map(|(tp, p)| (tp.clone(), *p))
                .collect();
            if inst.config.auto_commit {
                self.commit_positions(group, &taken);
            }
            inst.owned.retain(|tp, _| want.contains(tp));
            for tp in want {
                inst.owned.entry(tp).or_insert(None);
            }
        }
    }

    /// The group's assignment of subscribed partitions (manual assignments aside).
    fn group_assignment(&self, g: &GroupState) -> BTreeMap<String, BTreeSet<TopicPartition>> {
        let mut members = Vec::new();
        let mut partitions = BTreeMap::new();
        let mut assignor = Assignor::Range;
        for (name, inst) in &g.instances {
            let topics: BTreeSet<String> = match &inst.subscription {
                None => continue,
                Some(Subscription::Topics(t)) => t
                    .iter()
                    .filter(|t| self.topics.contains_key(*t))
                    .cloned()
                    .collect(),
                Some(Subscription::Pattern(p)) => match compile_pattern(p) {
                    Ok(re) => self
                        .topics
                        .keys()
                        .filter(|t| re.is_match(t))
                        .cloned()
                        .collect(),
                    Err(_) => BTreeSet::new(),
                },
            };
            if members.is_empty() {
                assignor = inst.config.assignor;
            }
            for t in &topics {
                if let Some(ts) = self.topics.get(t) {
                    partitions.insert(t.clone(), ts.info.partitions);
                }
            }
            members.push(Member {
                name: name.clone(),
                topics,
            });
        }
        assign(assignor, &members, &partitions)
    }

    /// Commits the known positions of some partitions (those of topics that still exist).
    fn commit_positions(&mut self, group: &str, owned: &BTreeMap<TopicPartition, Option<Offset>>) {
        for (tp, position) in owned {
            let Some(position) = position else { continue };
            if self.partition_state(&tp.topic, tp.partition).is_err() {
                continue;
            }
            self.groups
                .entry(group.to_string())
                .or_default()
                .entry(tp.topic.clone())
                .or_default()
                .insert(tp.partition, *position);
        }
    }

    /// Where an instance starts on a partition: the group's committed offset when it is in
    /// range, else `auto.offset.reset`.
    fn initial_position(
        &self,
        group: &str,
        tp: &TopicPartition,
        reset: OffsetReset,
    ) -> Option<Offset> {
        let (earliest, end) = (self.earliest_of(tp), self.end_of(tp));
        let committed = self
            .groups
            .get(group)
            .and_then(|g| g.get(&tp.topic))
            .and_then(|ps| ps.get(&tp.partition))
            .copied();
        match committed {
            Some(c) if c >= earliest && c <= end => Some(c),
            _ => match reset {
                OffsetReset::Earliest => Some(earliest),
                OffsetReset::Latest => Some(end),
                OffsetReset::None => None,
            },
        }
    }

    /// First readable offset of a partition (the archive's first, when it holds older ones).
    fn earliest_of(&self, tp: &TopicPartition) -> Offset {
        self.partition_state(&tp.topic, tp.partition)
            .map_or(Offset(0), |p| {
                p.archive_start()
                    .map_or(p.log_start, |a| a.min(p.log_start))
            })
    }

    /// The high watermark of a partition.
    fn end_of(&self, tp: &TopicPartition) -> Offset {
        self.partition_state(&tp.topic, tp.partition)
            .map_or(Offset(0), |p| p.high_watermark)
    }
}

fn view(
    g: &GroupState,
    instance: &str,
    committed: Vec<GroupOffset>,
    moved: Vec<TopicPartition>,
) -> Option<ConsumerView> {
    let inst = g.instances.get(instance)?;
    Some(ConsumerView {
        instance: instance.to_string(),
        config: inst.config.clone(),
        subscription: inst.subscription.clone(),
        manual: !inst.manual.is_empty(),
        partitions: inst
            .owned
            .iter()
            .map(|(tp, position)| Owned {
                tp: tp.clone(),
                position: *position,
            })
            .collect(),
        committed,
        moved,
    })
}
