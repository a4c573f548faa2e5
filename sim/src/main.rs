//! `strata-sim`: runs seeds of the simulation (see `scripts/simulate`).
//!
//! `strata-sim [--seeds N] [--from S] [--minutes M] [--jobs J] [--run-ms MS] [--trace]
//! [--plant BUG]`
//! prints one line per failing seed and `N passed, M failed` at the end; exit 1 when a seed
//! failed. `--trace` prints each seed's events; `--plant BUG` (built with `--features planted`)
//! switches a known defect back on.

#![allow(clippy::disallowed_methods)] // the driver measures real time for --minutes

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strata_sim::{SimConfig, run};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seeds = 100u64;
    let mut from = 1u64;
    let mut minutes: Option<f64> = None;
    let mut jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut config = SimConfig::default();
    let mut i = 0;
    let value = |i: usize| -> &str {
        args.get(i + 1).map(String::as_str).unwrap_or_else(|| {
            eprintln!("{} needs a value", args[i]);
            std::process::exit(2)
        })
    };
    let number = |s: &str| -> u64 {
        s.parse().unwrap_or_else(|_| {
            eprintln!("not a number: {s}");
            std::process::exit(2)
        })
    };
    while i < args.len() {
        match args[i].as_str() {
            "--seeds" => seeds = number(value(i)),
            "--from" => from = number(value(i)),
            "--minutes" => minutes = Some(number(value(i)) as f64),
            "--jobs" => jobs = number(value(i)).max(1) as usize,
            "--run-ms" => config.run_ms = number(value(i)),
            "--plant" => {
                let name = value(i);
                if !strata_core::planted::plant(name) {
                    let names: Vec<&str> =
                        strata_core::planted::BUGS.iter().map(|(n, _)| *n).collect();
                    eprintln!(
                        "cannot plant {name}: build with --features planted, and name one of {}",
                        names.join(", ")
                    );
                    std::process::exit(2)
                }
            }
            "--list-bugs" => {
                for (name, _) in strata_core::planted::BUGS {
                    println!("{name}");
                }
                return;
            }
            "--trace" => {
                config.keep_trace = true;
                i += 1;
                continue;
            }
            other => {
                eprintln!(
                    "unknown argument {other}; usage: strata-sim [--seeds N] [--from S] \
                     [--minutes M] [--jobs J] [--run-ms MS] [--trace] [--plant BUG]"
                );
                std::process::exit(2)
            }
        }
        i += 2;
    }
    let deadline = minutes.map(|m| Instant::now() + Duration::from_secs_f64(m * 60.0));
    let next = Arc::new(AtomicU64::new(from));
    let passed = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    // Faults injected and requests acknowledged, over every seed run.
    let totals = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let started = Instant::now();
    // What each worker runs, and since when: a seed that runs a minute of real time is named,
    // so a run that hangs says where.
    type Running = Arc<Mutex<Vec<Option<(u64, Instant)>>>>;
    let running: Running = Arc::new(Mutex::new(vec![None; jobs]));
    let workers: Vec<_> = (0..jobs)
        .map(|job| {
            let (next, passed, failed, config, running, totals) = (
                next.clone(),
                passed.clone(),
                failed.clone(),
                config.clone(),
                running.clone(),
                totals.clone(),
            );
            std::thread::spawn(move || {
                loop {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return;
                    }
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed >= from + seeds {
                        return;
                    }
                    running.lock().expect("running")[job] = Some((seed, Instant::now()));
                    let out = run(seed, &config);
                    running.lock().expect("running")[job] = None;
                    totals.0.fetch_add(out.faults, Ordering::SeqCst);
                    totals
                        .1
                        .fetch_add(out.acknowledged.0 + out.acknowledged.1, Ordering::SeqCst);
                    for line in &out.lines {
                        println!("seed {seed} {line}");
                    }
                    if out.passed() {
                        passed.fetch_add(1, Ordering::SeqCst);
                    } else {
                        failed.fetch_add(1, Ordering::SeqCst);
                        println!(
                            "seed {seed} FAILED (trace {:016x}): {}",
                            out.trace,
                            out.failures.join("; ")
                        );
                    }
                }
            })
        })
        .collect();
    let mut named = Vec::new();
    while !workers.iter().all(|w| w.is_finished()) {
        std::thread::sleep(Duration::from_millis(200));
        for (seed, since) in running.lock().expect("running").iter().flatten() {
            if since.elapsed() >= Duration::from_secs(60) && !named.contains(seed) {
                named.push(*seed);
                println!("seed {seed} still running after 60 s of real time");
            }
        }
    }
    for w in workers {
        let _ = w.join();
    }
    let (p, f) = (passed.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    let per_seed = |n: &AtomicU64| n.load(Ordering::SeqCst) as f64 / (p + f).max(1) as f64;
    println!(
        "{p} passed, {f} failed ({:.0} s, seeds {from}..{}; per seed {:.1} faults, {:.0} \
         requests acknowledged)",
        started.elapsed().as_secs_f64(),
        from + p + f,
        per_seed(&totals.0),
        per_seed(&totals.1),
    );
    std::process::exit(i32::from(f > 0));
}
