//! strata-sim: deterministic simulation of the write path.
//!
//! One run is one seed. Ingest nodes (the real [`strata_ingest::Ingestor`]: hot tier, writer,
//! shipper, recovery), the quorum (the real state machine) and the bucket run in one process on
//! one thread, on tokio's paused clock: time moves only when every task waits, so a run of
//! simulated minutes takes a moment, and every random choice (the workload, the nemesis, the
//! faults, and tokio's own `select!` order) is drawn from the seed. The same seed replays the
//! same run; [`Outcome::trace`] is the hash of its events.
//!
//! A seeded nemesis crashes nodes (their hot tier losing what was not fsynced), cuts and slows
//! their link to the quorum, makes the quorum lose the answer of a command it applied, and
//! makes the bucket slow, refuse writes (`503 SlowDown`) or lose the answer of a write it
//! made. Producers send `acks=all` and `acks=local` requests to any node meanwhile. At the end
//! every fault heals, every node restarts and ships what it holds, and the [`check`]ers read
//! everything back. See `docs/reliability.md` and design note 0016.

mod bucket;
pub mod check;
mod disk;
mod quorum;
mod trace;
mod world;

pub use check::History;
pub use trace::Trace;

/// The shape of a run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Ingest nodes.
    pub nodes: usize,
    /// Voters of the quorum at the start (one more slot is kept for membership changes).
    pub voters: usize,
    /// Producers, each sending one request at a time.
    pub producers: usize,
    /// Partitions of the one topic.
    pub partitions: u32,
    /// Simulated time the workload and the nemesis run, in milliseconds.
    pub run_ms: u64,
    /// Keep the trace's lines (for `--trace`), not only its hash.
    pub keep_trace: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 3,
            voters: 3,
            producers: 4,
            partitions: 4,
            run_ms: 20_000,
            keep_trace: false,
        }
    }
}

/// What a run found.
#[derive(Debug)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// Hash of the run's events: equal for two runs of one seed.
    pub trace: u64,
    /// Events in the trace.
    pub events: u64,
    /// The trace's lines, when kept.
    pub lines: Vec<String>,
    /// Every checker's complaint; empty when the run passed.
    pub failures: Vec<String>,
    /// Requests acknowledged: with `acks=all`, and with `acks=local`.
    pub acknowledged: (u64, u64),
    /// Faults the nemesis injected.
    pub faults: u64,
}

impl Outcome {
    /// Whether every checker passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs seed `seed` on a fresh single-threaded runtime with paused time.
pub fn run(seed: u64, config: &SimConfig) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .rng_seed(tokio::runtime::RngSeed::from_bytes(&seed.to_le_bytes()))
        .build()
        .expect("a current-thread runtime builds");
    rt.block_on(world::run(seed, config.clone()))
}
