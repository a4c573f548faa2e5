use super::*;

fn member(name: &str, topics: &[&str]) -> Member {
    Member {
        name: name.to_string(),
        topics: topics.iter().map(|t| t.to_string()).collect(),
    }
}

fn names(set: &BTreeSet<TopicPartition>) -> Vec<String> {
    set.iter().map(ToString::to_string).collect()
}

#[test]
fn range_gives_contiguous_runs_and_the_remainder_to_the_first_members() {
    let parts = BTreeMap::from([("a".to_string(), 5), ("b".to_string(), 2)]);
    let members = [member("y", &["a", "b"]), member("x", &["a"])];
    let got = assign(Assignor::Range, &members, &parts);
    assert_eq!(names(&got["x"]), ["a-0", "a-1", "a-2"]);
    assert_eq!(names(&got["y"]), ["a-3", "a-4", "b-0", "b-1"]);
}

#[test]
fn round_robin_deals_partitions_in_turn_skipping_members_not_subscribed() {
    let parts = BTreeMap::from([("a".to_string(), 3), ("b".to_string(), 3)]);
    let members = [
        member("m1", &["a", "b"]),
        member("m2", &["b"]),
        member("m3", &["a", "b"]),
    ];
    let got = assign(Assignor::RoundRobin, &members, &parts);
    assert_eq!(names(&got["m1"]), ["a-0", "a-2", "b-2"]);
    assert_eq!(names(&got["m2"]), ["b-0"]);
    assert_eq!(names(&got["m3"]), ["a-1", "b-1"]);
}

#[test]
fn every_partition_is_assigned_once_whatever_the_membership() {
    let parts = BTreeMap::from([("a".to_string(), 7), ("b".to_string(), 4)]);
    for assignor in [Assignor::Range, Assignor::RoundRobin] {
        for n in 1..6 {
            let members: Vec<Member> = (0..n)
                .map(|i| member(&format!("m{i}"), &["a", "b"]))
                .collect();
            let got = assign(assignor, &members, &parts);
            let all: Vec<&TopicPartition> = got.values().flatten().collect();
            assert_eq!(all.len(), 11, "{assignor:?} with {n} members");
            let unique: BTreeSet<&TopicPartition> = all.iter().copied().collect();
            assert_eq!(unique.len(), 11);
            let sizes: Vec<usize> = got.values().map(BTreeSet::len).collect();
            let (min, max) = (sizes.iter().min(), sizes.iter().max());
            assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 2), "{sizes:?}");
            // Stable: the same membership gives the same assignment.
            assert_eq!(assign(assignor, &members, &parts), got);
        }
    }
}

#[test]
fn patterns_match_whole_names() {
    let p = compile_pattern("orders.*").expect("valid");
    assert!(p.is_match("orders-eu"));
    assert!(!p.is_match("old-orders"));
    assert!(compile_pattern("(").is_err());
}
