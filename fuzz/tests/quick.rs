//! Every fuzz target on a few thousand inputs per CI run: arbitrary bytes, and mutations of the
//! target's valid seeds (bytes flipped, cut, repeated, inserted), so the decoders' deeper
//! paths are reached too. `scripts/fuzz` runs the same targets for as long as wanted.

use proptest::prelude::*;

/// A mutation of one of `seeds`: which seed, then edits at positions taken modulo its length.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    (
        0..n,
        prop::collection::vec((0u8..4, any::<usize>(), any::<u8>()), 0..6),
    )
        .prop_map(move |(i, edits)| {
            let mut data = seeds[i].clone();
            strata_fuzz::mutate(&mut data, &edits);
            data
        })
}

fn check(name: &str) {
    let f = strata_fuzz::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .expect("a target");
    let config = ProptestConfig {
        cases: 1500,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config.clone());
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..512), |data| {
            f(&data);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}, arbitrary bytes: {e}"));
    let mut runner = proptest::test_runner::TestRunner::new(config);
    runner
        .run(&mutated(strata_fuzz::seeds(name)), |data| {
            f(&data);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}, mutated seeds: {e}"));
}

#[test]
fn batch() {
    check("batch");
}

#[test]
fn frame() {
    check("frame");
}

#[test]
fn object() {
    check("object");
}

#[test]
fn marker() {
    check("marker");
}

#[test]
fn produce_json() {
    check("produce-json");
}

#[test]
fn produce_ndjson() {
    check("produce-ndjson");
}

#[test]
fn settings() {
    check("settings");
}

#[test]
fn config() {
    check("config");
}

#[test]
fn jwt() {
    check("jwt");
}

#[test]
fn internal() {
    check("internal");
}

#[test]
fn v2_bodies() {
    check("v2-bodies");
}

#[test]
fn every_target_is_checked_here() {
    let here = [
        "batch",
        "frame",
        "object",
        "marker",
        "produce-json",
        "produce-ndjson",
        "settings",
        "config",
        "jwt",
        "internal",
        "v2-bodies",
    ];
    let all: Vec<&str> = strata_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(all, here);
}

/// Inputs that once failed a target (`fuzz/regressions/TARGET-what`): each still runs clean.
#[test]
fn every_saved_input_still_runs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut ran = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/regressions") {
        let path = entry.expect("an entry").path();
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let target = strata_fuzz::TARGETS
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| file.starts_with(&format!("{n}-")))
            .max_by_key(|n| n.len())
            .unwrap_or_else(|| panic!("{file} names no target"));
        assert!(strata_fuzz::run(
            target,
            &std::fs::read(&path).expect("readable")
        ));
        ran += 1;
    }
    assert!(ran > 0);
}
