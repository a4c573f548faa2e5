//! Sequencing a shipped object: offsets for its sections, minus the keyed requests that were
//! committed before (see [`strata_core::meta::idempotency`]).

use std::collections::BTreeMap;

use super::{MetaState, ObjectState};
use strata_core::ids::{Offset, PartitionId};
use strata_core::meta::idempotency::{KeyRecord, KeyRetention, KeyedBatch, Replayed};
use strata_core::meta::offset_in_section;
use strata_core::meta::{CommitOutcome, Extent, MetaError, ObjectCommit, SectionCommit};
use strata_core::planted;

/// Checks that every keyed batch lies whole inside its section and that no two overlap.
pub(super) fn check_requests(commit: &ObjectCommit) -> Result<(), MetaError> {
    let bad = |reason: String| MetaError::Invalid { reason };
    let mut by_section: BTreeMap<u32, Vec<KeyedBatch>> = BTreeMap::new();
    for r in &commit.requests {
        for b in &r.batches {
            let s = commit.sections.get(b.section as usize).ok_or_else(|| {
                bad(format!(
                    "a keyed batch names section {} of {}",
                    b.section,
                    commit.sections.len()
                ))
            })?;
            let inside = b.records > 0
                && b.start >= s.start
                && b.start
                    .checked_add(b.len)
                    .is_some_and(|e| e <= s.start + s.len)
                && b.records_before
                    .checked_add(b.records)
                    .is_some_and(|e| e <= s.record_count);
            if !inside {
                return Err(bad(format!(
                    "a keyed batch lies outside section {} of the commit",
                    b.section
                )));
            }
            by_section.entry(b.section).or_default().push(*b);
        }
    }
    for batches in by_section.values_mut() {
        batches.sort_by_key(|b| b.start);
        for w in batches.windows(2) {
            if w[0].start + w[0].len > w[1].start
                || w[0].records_before + w[0].records > w[1].records_before
            {
                return Err(bad("keyed batches of a commit overlap".to_string()));
            }
        }
    }
    Ok(())
}

/// A byte range of a section that gets offsets: between the batches of repeated requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Piece {
    pub start: u64,
    pub len: u64,
    pub records: u64,
}

/// Splits a section around `holes` (batches of repeated requests, in any order).
pub(super) fn pieces(s: &SectionCommit, holes: &[KeyedBatch]) -> Vec<Piece> {
    let mut holes = holes.to_vec();
    holes.sort_by_key(|h| h.start);
    let mut out = Vec::with_capacity(holes.len() + 1);
    let (mut at, mut records_at) = (s.start, 0u64);
    for h in &holes {
        if h.start > at {
            out.push(Piece {
                start: at,
                len: h.start - at,
                records: h.records_before.saturating_sub(records_at),
            });
        }
        at = h.start + h.len;
        records_at = h.records_before + h.records;
    }
    let end = s.start + s.len;
    if end > at {
        out.push(Piece {
            start: at,
            len: end - at,
            records: s.record_count.saturating_sub(records_at),
        });
    }
    out.retain(|p| p.records > 0);
    out
}

impl MetaState {
    pub(super) fn commit_object(&mut self, commit: &ObjectCommit, now_ms: i64) -> CommitOutcome {
        if let Some(o) = self.objects.get(&commit.key)
            && !planted::active(planted::COMMIT_RETRY_ASSIGNS_AGAIN)
        {
            return o.outcome.clone();
        }
        self.forget_old_keys(commit.keep_keys, now_ms);
        // Which keyed requests were committed before (here or earlier in this object)?
        let mut replays: Vec<(u32, Replayed)> = Vec::new();
        let mut same_as: Vec<(u32, usize, bool)> = Vec::new();
        let mut first_here: BTreeMap<u128, usize> = BTreeMap::new();
        let mut holes: BTreeMap<u32, Vec<KeyedBatch>> = BTreeMap::new();
        for (i, r) in commit.requests.iter().enumerate() {
            let topic = r
                .batches
                .first()
                .and_then(|b| commit.sections.get(b.section as usize))
                .map(|s| s.topic_id);
            let before = self
                .request_keys
                .get(&r.key.id)
                .filter(|k| Some(k.topic_id) == topic);
            let repeated = if let Some(k) = before {
                replays.push((
                    i as u32,
                    if k.fingerprint == r.key.fingerprint {
                        Replayed::Original(k.bases.clone())
                    } else {
                        Replayed::Conflict
                    },
                ));
                true
            } else if let Some(&j) = first_here.get(&r.key.id) {
                let same = commit.requests[j].key.fingerprint == r.key.fingerprint;
                same_as.push((i as u32, j, same));
                true
            } else {
                first_here.insert(r.key.id, i);
                false
            };
            if repeated {
                for b in &r.batches {
                    holes.entry(b.section).or_default().push(*b);
                }
            }
        }
        let mut base_offsets = Vec::with_capacity(commit.sections.len());
        let mut refs = 0u64;
        for (si, s) in commit.sections.iter().enumerate() {
            let partition = self
                .topic_names
                .get(&s.topic_id)
                .and_then(|name| self.topics.get_mut(name))
                .and_then(|t| t.partitions.get_mut(s.partition.0 as usize));
            let Some(p) = partition else {
                base_offsets.push(None);
                continue;
            };
            let base = p.high_watermark;
            let section_holes = holes.get(&(si as u32)).map_or(&[][..], Vec::as_slice);
            for piece in pieces(s, section_holes) {
                let first = p.high_watermark;
                let last = first.plus(piece.records - 1);
                p.insert_extent(Extent {
                    base_offset: first,
                    last_offset: last,
                    record_count: piece.records,
                    object: commit.key.clone(),
                    start: piece.start,
                    len: piece.len,
                    min_timestamp: s.min_timestamp,
                    max_timestamp: s.max_timestamp,
                });
                p.high_watermark = last.plus(1);
                refs += 1;
            }
            base_offsets.push(Some(base));
        }
        // Remember the requests committed here, and answer the repeats within this object.
        let holes_of = |section: u32| -> Vec<(u64, u64)> {
            holes.get(&section).map_or_else(Vec::new, |h| {
                h.iter().map(|b| (b.records_before, b.records)).collect()
            })
        };
        let mut bases_here: BTreeMap<usize, Vec<(PartitionId, Offset)>> = BTreeMap::new();
        for (&id, &i) in &first_here {
            let r = &commit.requests[i];
            let bases: Option<Vec<(PartitionId, Offset)>> = r
                .batches
                .iter()
                .map(|b| {
                    let s = commit.sections.get(b.section as usize)?;
                    let base = (*base_offsets.get(b.section as usize)?)?;
                    Some((
                        s.partition,
                        offset_in_section(base, b.records_before, &holes_of(b.section)),
                    ))
                })
                .collect();
            let (Some(bases), Some(s)) = (
                bases,
                r.batches
                    .first()
                    .and_then(|b| commit.sections.get(b.section as usize)),
            ) else {
                continue;
            };
            self.request_keys.insert(
                id,
                KeyRecord {
                    fingerprint: r.key.fingerprint,
                    topic_id: s.topic_id,
                    committed_ms: now_ms,
                    bases: bases.clone(),
                },
            );
            self.request_order.push_back((now_ms, id));
            bases_here.insert(i, bases);
        }
        for (i, j, same) in same_as {
            let answer = match bases_here.get(&j) {
                Some(b) if same => Replayed::Original(b.clone()),
                Some(_) => Replayed::Conflict,
                // The first copy's topic is gone: so is this one's.
                None => continue,
            };
            replays.push((i, answer));
        }
        replays.sort_by_key(|(i, _)| *i);
        self.forget_old_keys(commit.keep_keys, now_ms);
        let outcome = CommitOutcome {
            base_offsets,
            replays,
        };
        self.node_seqs.insert(commit.writer, commit.seq);
        self.forget_superseded_orphans(commit.writer, commit.seq);
        self.saw_writer(commit.by, now_ms);
        self.objects.insert(
            commit.key.clone(),
            ObjectState {
                writer: commit.writer,
                seq: commit.seq,
                size: commit.size,
                committed_ms: now_ms,
                outcome: outcome.clone(),
                refs,
                unreferenced_since: (refs == 0).then_some(now_ms),
            },
        );
        outcome
    }

    /// Forgets keyed requests committed before the window, and the oldest beyond the cap.
    fn forget_old_keys(&mut self, keep: KeyRetention, now_ms: i64) {
        let cutoff = (keep.window_ms > 0).then(|| now_ms - keep.window_ms);
        while let Some(&(at, id)) = self.request_order.front() {
            let over_cap = keep.max_keys > 0 && self.request_order.len() as u64 > keep.max_keys;
            if !over_cap && cutoff.is_none_or(|c| at >= c) {
                break;
            }
            self.request_order.pop_front();
            if self
                .request_keys
                .get(&id)
                .is_some_and(|k| k.committed_ms == at)
            {
                self.request_keys.remove(&id);
            }
        }
    }

    /// Returns what the quorum keeps of a keyed request, if it is still kept.
    pub fn request_key(&self, id: u128) -> Option<&KeyRecord> {
        self.request_keys.get(&id)
    }

    /// Returns how many keyed requests the quorum keeps.
    pub fn request_key_count(&self) -> usize {
        self.request_keys.len()
    }
}
