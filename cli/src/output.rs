//! How client commands print (aligned tables for people, JSON for scripts) and exit.

use std::io::Write;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

/// Exit codes scripts can rely on (also in `strata --help`).
pub mod exit {
    /// Done.
    pub const OK: u8 = 0;
    /// The node refused the request or it failed (the message says why).
    pub const FAILED: u8 = 1;
    /// The command line or the config is invalid.
    pub const USAGE: u8 = 2;
    /// The topic, partition or group does not exist.
    pub const NOT_FOUND: u8 = 3;
    /// The node cannot be reached, or it or a dependency is unavailable (try again).
    pub const UNAVAILABLE: u8 = 4;
    /// It exists already, or another request holds it (a conflict).
    pub const CONFLICT: u8 = 5;
}

/// The node answered with an error.
#[derive(Debug, thiserror::Error)]
#[error("{message} (HTTP {status}, error code {code})")]
pub struct ApiFailure {
    /// HTTP status.
    pub status: u16,
    /// The API's `error_code`.
    pub code: i64,
    /// The API's message.
    pub message: String,
}

/// The node could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach {url}: {reason}")]
pub struct Unreachable {
    /// The node's base URL.
    pub url: String,
    /// What went wrong.
    pub reason: String,
}

/// The command line or config is invalid.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// Picks the exit code for an error.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(f) = cause.downcast_ref::<ApiFailure>() {
            return match f.status {
                404 | 416 => exit::NOT_FOUND,
                409 => exit::CONFLICT,
                429 | 502 | 503 | 504 => exit::UNAVAILABLE,
                _ => exit::FAILED,
            };
        }
        if cause.downcast_ref::<Unreachable>().is_some() {
            return exit::UNAVAILABLE;
        }
        if cause.downcast_ref::<Usage>().is_some() {
            return exit::USAGE;
        }
    }
    exit::FAILED
}

/// Prints rows under a header, columns aligned, to standard output.
pub fn table(head: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let mut line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    line(head.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Prints a JSON value on one line (`--json`).
pub fn json(v: &Value) {
    println!("{v}");
}

/// A count with its noun, singular for one: `1 record`, `2 records`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Formats bytes for people: `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Formats an age for people: `3s`, `4m`, `2h`, `5d`.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// A cell of a JSON number or `-`.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A progress bar on standard error: counts `len` units (bytes when `bytes`), or spins
/// when the length is unknown. Hidden when standard error is not a terminal.
pub fn progress(len: Option<u64>, bytes: bool) -> ProgressBar {
    let target = ProgressDrawTarget::stderr_with_hz(10);
    let bar = match len {
        Some(n) => {
            let template = if bytes {
                "{spinner} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}"
            } else {
                "{spinner} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}"
            };
            ProgressBar::with_draw_target(Some(n), target).with_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            )
        }
        None => ProgressBar::with_draw_target(None, target).with_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests;
