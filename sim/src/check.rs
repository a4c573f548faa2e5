//! The checkers: what every run's history and final state must satisfy.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

/// One record acknowledged with `acks=all`: where the quorum put it.
#[derive(Debug, Clone)]
pub struct Placed {
    /// The record's value (unique in a run).
    pub value: Bytes,
    /// Partition.
    pub partition: u32,
    /// Offset.
    pub offset: i64,
}

/// What the producers sent and were told.
#[derive(Debug, Default)]
pub struct History {
    /// Every value sent, whatever the answer.
    pub sent: BTreeSet<Bytes>,
    /// Requests acknowledged with `acks=all`, by producer, in the order they were answered.
    pub all: BTreeMap<usize, Vec<Vec<Placed>>>,
    /// Values acknowledged with `acks=local` (on the node's disk, offsets to come).
    pub local: Vec<Bytes>,
    /// The consumer group's commits the quorum acknowledged: (when, offset per partition).
    pub group_commits: Vec<(u64, Vec<i64>)>,
    /// The group's offsets as read: (when the read began, offset per partition, if any).
    pub group_reads: Vec<(u64, Vec<Option<i64>>)>,
    /// Running nodes the quorum fenced, and why. In a run every process the nemesis did not
    /// kill stays live (a writer expires after an hour), so each is a failure.
    pub fenced: Vec<String>,
}

/// Checks `history` against what the partitions hold at the end: `read[p]` is every
/// `(offset, value)` of partition `p` in offset order, `high[p]` its high watermark.
pub fn check(history: &History, read: &[Vec<(i64, Bytes)>], high: &[i64]) -> Vec<String> {
    let mut failures = Vec::new();
    let mut at: BTreeMap<(u32, i64), &Bytes> = BTreeMap::new();
    let mut seen: BTreeMap<&Bytes, u32> = BTreeMap::new();
    for (p, records) in read.iter().enumerate() {
        let p = p as u32;
        // Offsets are dense from 0 to the high watermark, and never reused.
        if records.len() as i64 != high[p as usize] {
            failures.push(format!(
                "partition {p}: {} records read below high watermark {}",
                records.len(),
                high[p as usize]
            ));
        }
        for (i, (offset, value)) in records.iter().enumerate() {
            if *offset != i as i64 {
                failures.push(format!("partition {p}: offset {offset} at position {i}"));
                break;
            }
            at.insert((p, *offset), value);
            *seen.entry(value).or_default() += 1;
        }
    }
    // Nothing is stored twice, nothing appears that no producer sent.
    for (value, n) in &seen {
        if *n > 1 {
            failures.push(format!("{} stored {n} times", show(value)));
        }
        if !history.sent.contains(*value) {
            failures.push(format!("{} stored but never sent", show(value)));
        }
    }
    // Every acks=all record is readable at its acknowledged offset; a producer's later
    // request lands after its earlier one on every partition both touched.
    for (producer, requests) in &history.all {
        let mut last: BTreeMap<u32, i64> = BTreeMap::new();
        for request in requests {
            for r in request {
                match at.get(&(r.partition, r.offset)) {
                    Some(v) if **v == r.value => {}
                    Some(v) => failures.push(format!(
                        "{} acknowledged at {}/{} holds {}",
                        show(&r.value),
                        r.partition,
                        r.offset,
                        show(v)
                    )),
                    None => failures.push(format!(
                        "{} acknowledged at {}/{} is lost",
                        show(&r.value),
                        r.partition,
                        r.offset
                    )),
                }
            }
            for r in request {
                if let Some(prev) = last.get(&r.partition)
                    && r.offset <= *prev
                {
                    failures.push(format!(
                        "producer {producer}: {} acknowledged after offset {prev} of partition {} \
                         but placed at {}",
                        show(&r.value),
                        r.partition,
                        r.offset
                    ));
                }
            }
            for r in request {
                let e = last.entry(r.partition).or_insert(r.offset);
                *e = (*e).max(r.offset);
            }
        }
    }
    // Every acks=local record reaches the log once its node is back.
    for value in &history.local {
        if !seen.contains_key(value) {
            failures.push(format!(
                "{} acknowledged with acks=local is lost",
                show(value)
            ));
        }
    }
    // A committed group offset never moves back: a read sees at least every commit
    // acknowledged before it began (the consumer never seeks back).
    for (began, read) in &history.group_reads {
        for (p, got) in read.iter().enumerate() {
            let floor = history
                .group_commits
                .iter()
                .filter(|(at, _)| at < began)
                .filter_map(|(_, c)| c.get(p).copied())
                .max();
            if let Some(floor) = floor
                && got.is_none_or(|g| g < floor)
            {
                failures.push(format!(
                    "group offset of partition {p} read as {got:?} at {began} ms, below the {floor} committed before"
                ));
            }
        }
    }
    for f in &history.fenced {
        failures.push(format!("{f} was fenced while it ran"));
    }
    failures
}

fn show(v: &Bytes) -> String {
    String::from_utf8_lossy(v).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    fn history() -> History {
        let mut h = History::default();
        h.sent.extend([b("a"), b("b"), b("c")]);
        h.all.insert(
            0,
            vec![
                vec![Placed {
                    value: b("a"),
                    partition: 0,
                    offset: 0,
                }],
                vec![Placed {
                    value: b("b"),
                    partition: 0,
                    offset: 1,
                }],
            ],
        );
        h.local.push(b("c"));
        h
    }

    #[test]
    fn a_faithful_log_passes() {
        let read = vec![vec![(0, b("a")), (1, b("b")), (2, b("c"))]];
        assert_eq!(check(&history(), &read, &[3]), Vec::<String>::new());
    }

    #[test]
    fn each_kind_of_defect_is_named() {
        type Log = Vec<(i64, Bytes)>;
        let cases: Vec<(Log, i64, &str)> = vec![
            (vec![(0, b("a")), (1, b("b"))], 2, "acks=local is lost"),
            (
                vec![(0, b("a")), (1, b("b")), (2, b("c")), (3, b("c"))],
                4,
                "stored 2 times",
            ),
            (vec![(0, b("a")), (1, b("c")), (2, b("b"))], 3, "holds c"),
            (
                vec![(0, b("b")), (1, b("a")), (2, b("c"))],
                3,
                "acknowledged at 0/0",
            ),
            (
                vec![(0, b("a")), (2, b("b")), (3, b("c"))],
                4,
                "offset 2 at position 1",
            ),
            (vec![(0, b("a")), (1, b("b")), (2, b("x"))], 3, "never sent"),
        ];
        let read = || vec![(0, b("a")), (1, b("b")), (2, b("c"))];
        let mut h = history();
        h.group_commits = vec![(10, vec![2]), (20, vec![3])];
        h.group_reads = vec![(15, vec![Some(2)]), (30, vec![Some(3)])];
        assert!(
            check(&h, &[read()], &[3]).is_empty(),
            "offsets that only advance pass"
        );
        h.group_reads.push((40, vec![Some(2)]));
        h.group_reads.push((41, vec![None]));
        let got = check(&h, &[read()], &[3]);
        assert!(
            got.iter()
                .any(|f| f.contains("read as Some(2) at 40 ms, below the 3")),
            "{got:?}"
        );
        assert!(
            got.iter().any(|f| f.contains("read as None at 41 ms")),
            "{got:?}"
        );
        let mut h = history();
        h.fenced
            .push("node 1 (incarnation 4: the quorum does not know it)".into());
        let got = check(&h, &[read()], &[3]);
        assert!(
            got.iter().any(|f| f.contains("was fenced while it ran")),
            "{got:?}"
        );
        for (read, high, want) in cases {
            let got = check(&history(), &[read], &[high]);
            assert!(got.iter().any(|f| f.contains(want)), "{want}: {got:?}");
        }
    }
}
