//! Properties of the state machine under any interleaving of commits, retries and trims.

use proptest::prelude::*;

use super::*;

/// One step a cluster might take.
#[derive(Debug, Clone)]
enum Step {
    /// Writer `w` commits its next flush: `n` records to partition `p`, and maybe as many to
    /// the other partition in the same object.
    Commit { w: u64, p: u32, n: u64, both: bool },
    /// A commit sent again (a retry after a timeout): the `i`-th one so far, modulo.
    Retry { i: usize },
    /// Retention raises partition `p`'s log start to a fraction of its high watermark.
    Trim { p: u32, permille: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1..4u64, 0..2u32, 1..50u64, any::<bool>())
            .prop_map(|(w, p, n, both)| Step::Commit { w, p, n, both }),
        2 => any::<usize>().prop_map(|i| Step::Retry { i }),
        1 => (0..2u32, 0..=1000u64).prop_map(|(p, permille)| Step::Trim { p, permille }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn offsets_are_dense_and_retries_idempotent_under_any_interleaving(
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let mut s = MetaState::default();
        let t = create(&mut s, "t", 2);
        let mut seqs = [0u64; 4];
        // Every distinct commit with its outcome, to check retries against.
        let mut sent: Vec<(Command, CommandResult)> = Vec::new();
        let mut records = [0i64; 2];
        let mut log_start = [0i64; 2];
        let mut leases: [Option<LeaseToken>; 2] = [None, None];
        for (now, step) in steps.into_iter().enumerate() {
            let now = 10 + now as i64;
            match step {
                Step::Commit { w, p, n, both } => {
                    seqs[w as usize] += 1;
                    let mut sections = vec![(t.id, p, n)];
                    if both {
                        sections.push((t.id, 1 - p, n));
                    }
                    let cmd = commit(w, seqs[w as usize], &sections);
                    let r = s.apply(&cmd);
                    let CommandResult::Committed(o) = &r else {
                        panic!("a fresh commit is taken: {r:?}");
                    };
                    // Each section starts where the partition ended: offsets are dense.
                    for ((_, part, count), base) in sections.iter().zip(&o.base_offsets) {
                        prop_assert_eq!(*base, Some(Offset(records[*part as usize])));
                        records[*part as usize] += *count as i64;
                    }
                    sent.push((cmd, r));
                }
                Step::Retry { i } if !sent.is_empty() => {
                    let (cmd, first) = &sent[i % sent.len()];
                    prop_assert_eq!(&s.apply(cmd), first, "a retry gets the first answer");
                }
                Step::Retry { .. } => {}
                Step::Trim { p, permille } => {
                    let token = match s.apply(&Command::AcquireLease {
                        job: strata_core::meta::jobs::COMPACT_JOB.to_string(),
                        topic: "t".to_string(),
                        partition: PartitionId(p),
                        holder: Incarnation(9),
                        renew: leases[p as usize].map(|l| l.epoch),
                        ttl_ms: 1_000_000,
                        now_ms: now,
                    }) {
                        CommandResult::Lease(l) => l,
                        other => panic!("the only compactor gets its lease: {other:?}"),
                    };
                    leases[p as usize] = Some(token);
                    let to = records[p as usize] * permille as i64 / 1000;
                    let _ = s.apply(&Command::TrimLog {
                        topic: "t".to_string(),
                        topic_id: t.id,
                        partition: PartitionId(p),
                        lease: token,
                        log_start: Offset(to),
                        now_ms: now,
                    });
                    log_start[p as usize] = log_start[p as usize].max(to);
                }
            }
            let parts = s.partitions("t").expect("exists");
            for p in 0..2 {
                prop_assert_eq!(parts[p].high_watermark, Offset(records[p]));
                prop_assert!(parts[p].log_start_offset.0 <= records[p]);
                prop_assert_eq!(
                    parts[p].log_start_offset,
                    Offset(log_start[p]),
                    "the log start only rises, to what retention asked"
                );
            }
        }
    }
}
