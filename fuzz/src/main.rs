//! `strata-fuzz TARGET SECONDS [SEED]`: runs one fuzz target for SECONDS on random bytes and
//! seeded mutations of its valid inputs, and prints how many inputs ran. An input that panics
//! is written to `fuzz/crashes/` and the run exits 1. `strata-fuzz list` names the targets;
//! `strata-fuzz seeds TARGET DIR` writes a target's valid inputs into DIR (a libFuzzer corpus).

#![allow(clippy::disallowed_methods)] // a fuzzing run lasts a real number of seconds

use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("list") || args.is_empty() {
        for (name, _) in strata_fuzz::TARGETS {
            println!("{name}");
        }
        return ExitCode::SUCCESS;
    }
    if args[0] == "seeds" && args.len() == 3 {
        let dir = std::path::Path::new(&args[2]);
        for (i, seed) in strata_fuzz::seeds(&args[1]).iter().enumerate() {
            if let Err(e) = std::fs::write(dir.join(format!("seed-{i}")), seed) {
                eprintln!("error: cannot write into {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        }
        return ExitCode::SUCCESS;
    }
    let name = args[0].as_str();
    let Some((_, target)) = strata_fuzz::TARGETS.iter().find(|(n, _)| *n == name) else {
        eprintln!("error: no target {name:?}; `strata-fuzz list` names them");
        return ExitCode::from(2);
    };
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let seeds = strata_fuzz::seeds(name);
    let mut rng = strata_core::rng::XorShift::new(seed);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut runs: u64 = 0;
    // Panics are caught and reported with their input, not printed for every one.
    std::panic::set_hook(Box::new(|_| {}));
    while Instant::now() < end {
        for _ in 0..256 {
            let data = if seeds.is_empty() || rng.below(4) == 0 {
                let len = rng.below(512) as usize;
                (0..len).map(|_| rng.next() as u8).collect()
            } else {
                let mut d = seeds[rng.below(seeds.len() as u64) as usize].clone();
                let edits: Vec<(u8, usize, u8)> = (0..1 + rng.below(6))
                    .map(|_| (rng.below(4) as u8, rng.next() as usize, rng.next() as u8))
                    .collect();
                strata_fuzz::mutate(&mut d, &edits);
                d
            };
            runs += 1;
            if std::panic::catch_unwind(|| target(&data)).is_err() {
                let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crashes");
                let _ = std::fs::create_dir_all(&dir);
                let file = dir.join(format!("{name}-{seed}-{runs}"));
                let _ = std::fs::write(&file, &data);
                println!("{name}: input {runs} panicked; saved to {}", file.display());
                return ExitCode::FAILURE;
            }
        }
    }
    println!("{name}: {runs} inputs in {secs} s, no panic (seed {seed})");
    ExitCode::SUCCESS
}
