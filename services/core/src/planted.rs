//! Known defects that can be switched back on, to prove the simulator finds them (feature
//! `planted`, which only `strata-sim` turns on; without it [`active`] is `false` and every
//! site compiles away). See design note 0016 for the seeds each took to find.

/// The defects, by name.
pub const BUGS: &[(&str, &str)] = &[
    (
        COMMIT_RETRY_ASSIGNS_AGAIN,
        "the quorum assigns offsets again to a retried commit of an object it already committed",
    ),
    (
        RECOVERY_DROPS_UNSEALED,
        "a restarted node drops the batches its hot tier holds unsealed",
    ),
    (
        LOCAL_ACK_BEFORE_FSYNC,
        "acks=local is answered before the hot tier's fsync",
    ),
    (
        SHIP_BEFORE_SEAL_FSYNC,
        "a sealed flush is shipped before its seal marker is fsynced",
    ),
    (
        STALE_LEADER_JUDGES,
        "a leader that lost its lease still refuses commands from its own, possibly stale, state (found by the simulator, seed 385)",
    ),
];

/// See [`BUGS`].
pub const COMMIT_RETRY_ASSIGNS_AGAIN: &str = "commit-retry-assigns-again";
/// See [`BUGS`].
pub const RECOVERY_DROPS_UNSEALED: &str = "recovery-drops-unsealed";
/// See [`BUGS`].
pub const LOCAL_ACK_BEFORE_FSYNC: &str = "local-ack-before-fsync";
/// See [`BUGS`].
pub const SHIP_BEFORE_SEAL_FSYNC: &str = "ship-before-seal-fsync";
/// See [`BUGS`].
pub const STALE_LEADER_JUDGES: &str = "stale-leader-judges";

#[cfg(feature = "planted")]
static ACTIVE: std::sync::RwLock<Option<&'static str>> = std::sync::RwLock::new(None);

/// Turns defect `name` on for the whole process (one at a time). Returns `false` for a name
/// that is not in [`BUGS`], or when the feature is off.
pub fn plant(name: &str) -> bool {
    let Some((bug, _)) = BUGS.iter().find(|(b, _)| *b == name) else {
        return false;
    };
    #[cfg(feature = "planted")]
    {
        *ACTIVE.write().expect("no panics while holding the lock") = Some(bug);
        true
    }
    #[cfg(not(feature = "planted"))]
    {
        let _ = bug;
        false
    }
}

/// Whether defect `name` is on.
#[inline]
pub fn active(name: &str) -> bool {
    #[cfg(feature = "planted")]
    {
        *ACTIVE.read().expect("no panics while holding the lock") == Some(name)
    }
    #[cfg(not(feature = "planted"))]
    {
        let _ = name;
        false
    }
}
