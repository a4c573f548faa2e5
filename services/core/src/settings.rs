//! Settings every role reads the same way: human units (`250ms`, `8MiB`), their serde forms,
//! and [`Section`], the contract of a role's own configuration type.
//!
//! A role owns its settings: one struct whose [`Default`] is the only default, that
//! deserializes straight from its TOML section (`[ingest]`, `[cache]`, ...) and says which key
//! is wrong when a value is out of range. The node reads the file, the environment and flags
//! into one table and hands each section to its role; nothing else repeats the keys.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A value that deserialized but is out of range: the key (within its section) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The key, as written in the file (`block-bytes`).
    pub key: &'static str,
    /// What is wrong, as a sentence fragment (`must be between 64KiB and 64MiB`).
    pub message: String,
}

impl Invalid {
    /// `key` is wrong because `message`.
    pub fn new(key: &'static str, message: impl Into<String>) -> Self {
        Self {
            key,
            message: message.into(),
        }
    }
}

/// A role's section of the configuration file.
pub trait Section: Serialize + DeserializeOwned + Default {
    /// Checks ranges that the types do not hold.
    fn check(&self) -> Result<(), Invalid> {
        Ok(())
    }
}

/// `Ok` when `value` is at least `min`, else the key named with the bound.
pub fn at_least<T: PartialOrd + std::fmt::Display>(
    key: &'static str,
    value: T,
    min: T,
) -> Result<(), Invalid> {
    if value >= min {
        Ok(())
    } else {
        Err(Invalid::new(key, format!("must be at least {min}")))
    }
}

/// `Ok` when `value` is within `min..=max` bytes, else the key named with the bounds.
pub fn size_between(key: &'static str, value: u64, min: u64, max: u64) -> Result<(), Invalid> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(Invalid::new(
            key,
            format!(
                "must be between {} and {}",
                format_size(min),
                format_size(max)
            ),
        ))
    }
}

/// Refuses a duration below `min` (with no upper bound), naming `key`.
pub fn duration_at_least(key: &'static str, value: Duration, min: Duration) -> Result<(), Invalid> {
    duration_between(key, value, min, Duration::MAX)
}

/// `Ok` when `value` is within `min..=max`, else the key named with the bounds.
pub fn duration_between(
    key: &'static str,
    value: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), Invalid> {
    if (min..=max).contains(&value) {
        Ok(())
    } else if value < min && min == Duration::from_millis(1) {
        Err(Invalid::new(key, "must be above zero"))
    } else if max == Duration::MAX {
        Err(Invalid::new(
            key,
            format!("must be at least {}", format_duration(min)),
        ))
    } else if min.is_zero() {
        Err(Invalid::new(
            key,
            format!("must be at most {}", format_duration(max)),
        ))
    } else {
        Err(Invalid::new(
            key,
            format!(
                "must be between {} and {}",
                format_duration(min),
                format_duration(max)
            ),
        ))
    }
}

/// Parses a duration such as `250ms`, `30s`, `5m`, `1h` or a bare number of milliseconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("invalid duration {s:?}: expected a number and a unit, like 250ms or 30s")
    })?;
    let ms = match unit.trim() {
        "" | "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        other => {
            return Err(format!(
                "invalid duration unit {other:?} in {s:?}: use ms, s, m or h"
            ));
        }
    };
    ms.map(Duration::from_millis)
        .ok_or_else(|| format!("duration {s:?} is too long"))
}

/// Parses a size such as `8MiB`, `512KiB`, `1GiB`, `10MB` or a bare number of bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected a number and a unit, like 8MiB"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "invalid size unit {other:?} in {s:?}: use B, KiB, MiB, GiB, KB, MB or GB"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Formats a duration the way [`parse_duration`] reads it.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) && ms > 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Formats a size the way [`parse_size`] reads it, in the largest binary unit that is exact.
pub fn format_size(b: u64) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if b > 0 && b.is_multiple_of(1 << shift) {
            return format!("{}{unit}", b >> shift);
        }
    }
    format!("{b}B")
}

/// Milliseconds since the epoch of an ISO-8601 instant `YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM]`.
pub fn parse_instant(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = s.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if !(0..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let (clock, offset_secs) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (c, off) = time.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':').unwrap_or((&off[1..], "0"));
        let (oh, om) = (oh.parse::<i64>().ok()?, om.parse::<i64>().ok()?);
        if !(0..=23).contains(&oh) || !(0..=59).contains(&om) {
            return None;
        }
        (c, sign * (oh * 3600 + om * 60))
    } else {
        (time, 0)
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut t = hms.splitn(3, ':');
    let (h, mi, sec): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next().unwrap_or("0").parse().ok()?,
    );
    // Each field in its range, so the arithmetic below cannot overflow (found by the guided
    // fuzzer: `26-2-03T11:777777777007700001:0-1`).
    if !(0..=23).contains(&h) || !(0..=59).contains(&mi) || !(0..=60).contains(&sec) {
        return None;
    }
    let millis: i64 = if frac.is_empty() {
        0
    } else if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    } else {
        format!("{:0<3}", &frac[..frac.len().min(3)]).parse().ok()?
    };
    // Days since 1970-01-01 of a civil date (proleptic Gregorian).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec - offset_secs) * 1000) + millis)
}

/// A size or duration as the file gives it: text with a unit, or a bare number.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Human {
    Int(u64),
    Text(String),
}

/// Serde form of a byte size: `"8MiB"` or a number of bytes in, `"8MiB"` out.
pub mod size {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the size in its human form.
    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_size(*v))
    }

    /// Reads a size with a unit, or a bare number of bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        match super::Human::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected a size, like 8MiB"))?
        {
            super::Human::Int(n) => Ok(n),
            super::Human::Text(t) => super::parse_size(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// Serde form of a duration: `"250ms"`, `"30s"` or a number of milliseconds in, `"250ms"` out.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the duration in its human form.
    pub fn serialize<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*v))
    }

    /// Reads a duration with a unit, or a bare number of milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        match super::Human::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected a duration, like 250ms or 30s"))?
        {
            super::Human::Int(n) => Ok(Duration::from_millis(n)),
            super::Human::Text(t) => super::parse_duration(&t).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests;
