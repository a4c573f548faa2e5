//! The shape every role exports its counters in: a table of Prometheus name, help text and
//! where the value is in the role's stats struct. The node registers each table as it is;
//! adding a counter is one row in the role's crate.

use std::sync::atomic::AtomicU64;

/// Where one value is in a role's stats `S`.
pub type Stat<S> = fn(&S) -> &AtomicU64;

/// A role's metrics: `(name, help, where the value is)`.
pub type Table<S> = &'static [(&'static str, &'static str, Stat<S>)];

/// Reads Prometheus text (as `/metrics` serves it) into `(series, value)` pairs, where the
/// series is the name with its labels; comments and lines that do not parse are skipped.
pub fn parse_text<C: FromIterator<(String, f64)>>(text: &str) -> C {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}
