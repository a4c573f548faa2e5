//! The trace of a run: every event, in order, hashed (and kept as text when asked for), so
//! that two runs of one seed can be compared by one number.

use std::hash::{DefaultHasher, Hasher};
use std::sync::Mutex;

/// The events of a run.
#[derive(Debug, Default)]
pub struct Trace {
    inner: Mutex<(DefaultHasher, u64, Option<Vec<String>>)>,
}

impl Trace {
    /// A trace that keeps its lines (`keep`) or only their hash.
    pub fn new(keep: bool) -> Self {
        Self {
            inner: Mutex::new((DefaultHasher::new(), 0, keep.then(Vec::new))),
        }
    }

    /// Records one event at simulated time `ms`.
    pub fn event(&self, ms: u64, what: String) {
        let mut t = self.inner.lock().expect("lock");
        t.0.write_u64(ms);
        t.0.write(what.as_bytes());
        t.1 += 1;
        if let Some(lines) = &mut t.2 {
            lines.push(format!("{ms:>7} {what}"));
        }
    }

    /// The hash of every event so far, and how many there were.
    pub fn hash(&self) -> (u64, u64) {
        let t = self.inner.lock().expect("lock");
        (t.0.finish(), t.1)
    }

    /// The lines, when kept.
    pub fn lines(&self) -> Vec<String> {
        self.inner
            .lock()
            .expect("lock")
            .2
            .clone()
            .unwrap_or_default()
    }
}
