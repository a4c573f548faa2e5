//! Proof that the simulator finds bugs: each known defect of `strata_core::planted`, switched
//! back on, fails a checker within the first seeds (`--features planted`; `scripts/test` runs
//! it, `scripts/simulate --planted` measures how many seeds each takes).

#![cfg(feature = "planted")]

use strata_core::planted::{BUGS, plant};
use strata_sim::{SimConfig, run};

#[test]
fn every_planted_bug_is_found_within_ten_seeds() {
    let config = SimConfig::default();
    let mut missed = Vec::new();
    for (bug, what) in BUGS {
        assert!(plant(bug), "{bug} can be planted");
        let found = (1..=10).find(|seed| !run(*seed, &config).passed());
        match found {
            Some(seed) => eprintln!("{bug}: found by seed {seed}"),
            None => missed.push(format!("{bug} ({what})")),
        }
    }
    assert!(missed.is_empty(), "not found in 10 seeds: {missed:?}");
}
