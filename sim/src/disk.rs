//! The simulated disk of a node's hot tier: real files (in `/dev/shm` where there is one),
//! and a record of what each fsync made durable, so that a power loss keeps only that.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use strata_ingest::hot::SyncObserver;

/// What survives a power loss: the synced length of each segment whose name was synced.
#[derive(Debug, Default)]
pub(crate) struct Disk {
    synced: Mutex<(BTreeMap<PathBuf, u64>, BTreeMap<PathBuf, ()>)>,
}

impl SyncObserver for Disk {
    fn synced(&self, files: &[(PathBuf, u64)], entries: Option<&[PathBuf]>) {
        let mut s = self.synced.lock().expect("lock");
        for (path, len) in files {
            s.0.insert(path.clone(), *len);
        }
        if let Some(entries) = entries {
            for e in entries {
                s.1.insert(e.clone(), ());
            }
        }
    }
}

impl Disk {
    /// Cuts the files in `dir` back to what was synced: a file whose name was never synced is
    /// gone, the others keep their synced bytes. Returns the bytes lost.
    pub(crate) fn power_loss(&self, dir: &Path) -> std::io::Result<u64> {
        let s = self.synced.lock().expect("lock");
        let mut lost = 0;
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        paths.sort();
        for path in paths {
            let len = std::fs::metadata(&path)?.len();
            if !s.1.contains_key(&path) {
                lost += len;
                std::fs::remove_file(&path)?;
                continue;
            }
            let keep = s.0.get(&path).copied().unwrap_or(0).min(len);
            if keep < len {
                lost += len - keep;
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)?
                    .set_len(keep)?;
            }
        }
        Ok(lost)
    }
}

/// A directory for a node's hot tier, in memory where the machine offers it.
pub(crate) fn tempdir() -> std::io::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::Builder::new()
            .prefix("strata-sim")
            .tempdir_in(shm)
    {
        return Ok(d);
    }
    tempfile::Builder::new().prefix("strata-sim").tempdir()
}
