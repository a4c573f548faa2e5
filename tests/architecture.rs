//! The one-way dependency rule of docs/architecture.md, checked on the workspace's own
//! manifests: a crate may depend only on the crates below it, as the table here and in the
//! document says. A new edge fails this test until both are changed on purpose.

use std::collections::{BTreeMap, BTreeSet};

/// Every workspace crate and the workspace crates it may depend on (normal dependencies;
/// dev-dependencies may add the test helpers of `strata-core` and `strata-meta`: the
/// in-memory store that runs the quorum's state machine without consensus).
const ALLOWED: &[(&str, &[&str])] = &[
    // Formats and seams: the MetaStore trait, Clock, storage, settings, background jobs.
    ("strata-core", &[]),
    // The roles.
    ("strata-meta", &["strata-core"]),
    ("strata-cache", &["strata-core"]),
    ("strata-ingest", &["strata-core", "strata-cache"]),
    ("strata-compactor", &["strata-core", "strata-cache"]),
    ("strata-archiver", &["strata-core", "strata-cache"]),
    // The client: speaks HTTP to nodes, routes as ingest does, talks to the quorum's API.
    (
        "strata-cli",
        &["strata-core", "strata-meta", "strata-ingest"],
    ),
    // The binary: links every role and the client.
    (
        "strata-server",
        &[
            "strata-core",
            "strata-meta",
            "strata-cache",
            "strata-ingest",
            "strata-compactor",
            "strata-archiver",
            "strata-cli",
        ],
    ),
    // The fuzz targets: every parser, from the formats to the server's config loader.
    (
        "strata-fuzz",
        &[
            "strata-core",
            "strata-meta",
            "strata-ingest",
            "strata-server",
        ],
    ),
    // The simulator: the write path, the quorum's state machine and the read path in one process.
    (
        "strata-sim",
        &[
            "strata-core",
            "strata-meta",
            "strata-ingest",
            "strata-cache",
        ],
    ),
    // The integration tests run the binary; they read formats through the libraries.
    ("strata-tests", &["strata-core", "strata-archiver"]),
];

/// The crates whose test helpers any crate's tests may use.
const TEST_HELPERS: &[&str] = &["strata-core", "strata-meta"];

#[test]
fn crates_depend_only_on_the_crates_below_them() -> anyhow::Result<()> {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(c, deps)| (*c, deps.iter().copied().collect()))
        .collect();
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    let mut seen = BTreeSet::new();
    let mut wrong = Vec::new();
    for p in &packages {
        let name = p["name"].as_str().unwrap_or_default();
        seen.insert(name.to_string());
        let Some(ok) = allowed.get(name) else {
            wrong.push(format!("{name} is not in the table: give it its place"));
            continue;
        };
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dep = d["name"].as_str().unwrap_or_default();
            if !dep.starts_with("strata-") || dep == name {
                continue;
            }
            let dev = d["kind"].as_str() == Some("dev");
            if !(ok.contains(dep) || (dev && TEST_HELPERS.contains(&dep))) {
                wrong.push(format!("{name} depends on {dep}"));
            }
        }
    }
    for (c, _) in ALLOWED {
        anyhow::ensure!(
            seen.contains(*c),
            "{c} is in the table but not the workspace"
        );
    }
    anyhow::ensure!(wrong.is_empty(), "edges the rule does not allow: {wrong:?}");
    Ok(())
}
