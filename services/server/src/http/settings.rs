//! The HTTP front's own settings: the `[http]` and `[consumers]` sections of the config file.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strata_core::settings::{
    self, Invalid, Section, at_least, duration_at_least, duration_between, size_between,
};

/// Request limits of the HTTP API: the `[http]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpConfig {
    /// Largest produce request body (`413` beyond).
    #[serde(with = "settings::size")]
    pub max_request_bytes: u64,
    /// Request bytes being received and parsed at once, across requests, before `503`.
    #[serde(with = "settings::size")]
    pub max_buffered_request_bytes: u64,
    /// A request's header section must arrive within this long, and an idle connection is
    /// closed after it.
    #[serde(with = "settings::duration")]
    pub header_timeout: Duration,
    /// A request body may take this long, plus its size at `min-body-rate`; a slower one is
    /// refused with `408`.
    #[serde(with = "settings::duration")]
    pub body_timeout: Duration,
    /// The slowest a body may arrive once `body-timeout` has passed, in bytes per second.
    #[serde(with = "settings::size")]
    pub min_body_rate: u64,
    /// Connections served at once for the API; beyond them, requests get `503`, except those
    /// of the internal API, `/readyz`, `/healthz` and `/metrics`.
    pub max_connections: usize,
    /// Connections kept beyond `max-connections` for the internal API, `/readyz`, `/healthz`
    /// and `/metrics`; beyond both, new connections wait to be accepted.
    pub reserved_connections: usize,
    /// Addresses (`10.0.0.5`) or networks (`10.0.0.0/8`) of the reverse proxies whose
    /// `X-Forwarded-Host` and `X-Forwarded-Proto` the node believes; from anyone else they are
    /// ignored.
    pub trusted_proxies: Vec<String>,
}

/// Whether `peer` is in `net`, an address or `address/prefix`.
fn within(net: &str, peer: IpAddr) -> Option<bool> {
    let (addr, bits) = match net.split_once('/') {
        Some((a, b)) => (a.parse::<IpAddr>().ok()?, Some(b.parse::<u32>().ok()?)),
        None => (net.parse::<IpAddr>().ok()?, None),
    };
    let mask = |len: u32, bits: u32| -> Option<u128> {
        (bits <= len).then(|| {
            if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            }
        })
    };
    match (addr, peer) {
        (IpAddr::V4(a), IpAddr::V4(p)) => {
            let m = mask(32, bits.unwrap_or(32))?;
            let (a, p) = (u128::from(a.to_bits()) << 96, u128::from(p.to_bits()) << 96);
            Some(a & m == p & m)
        }
        (IpAddr::V6(a), IpAddr::V6(p)) => {
            let m = mask(128, bits.unwrap_or(128))?;
            Some(a.to_bits() & m == p.to_bits() & m)
        }
        _ => Some(false),
    }
}

impl HttpConfig {
    /// Whether `peer` is one of the trusted proxies.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .any(|n| within(n, peer) == Some(true))
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_request_bytes: 64 << 20,
            max_buffered_request_bytes: 256 << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            min_body_rate: 64 << 10,
            max_connections: 4096,
            reserved_connections: 64,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Section for HttpConfig {
    fn check(&self) -> Result<(), Invalid> {
        let shortest = Duration::from_millis(100);
        duration_at_least("header-timeout", self.header_timeout, shortest)?;
        duration_at_least("body-timeout", self.body_timeout, shortest)?;
        at_least("min-body-rate", self.min_body_rate, 1)?;
        at_least("max-connections", self.max_connections, 1)?;
        let probe = IpAddr::from([0, 0, 0, 0]);
        match self
            .trusted_proxies
            .iter()
            .find(|n| within(n, probe).is_none())
        {
            Some(bad) => Err(Invalid::new(
                "trusted-proxies",
                format!("{bad:?} is not an address or a network like 10.0.0.0/8"),
            )),
            None => Ok(()),
        }
    }
}

/// REST Proxy v2 consumer instances: the `[consumers]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConsumersConfig {
    /// An instance is deleted after this long without a request
    /// (`consumer.instance.timeout.ms`).
    #[serde(with = "settings::duration")]
    pub instance_timeout: Duration,
    /// Most record bytes one records fetch returns when it names no `max_bytes`.
    #[serde(with = "settings::size")]
    pub request_max_bytes: u64,
    /// Longest a records fetch waits for records when the instance names no
    /// `consumer.request.timeout.ms`.
    #[serde(with = "settings::duration")]
    pub request_timeout: Duration,
}

impl Default for ConsumersConfig {
    fn default() -> Self {
        Self {
            instance_timeout: Duration::from_secs(300),
            request_max_bytes: 8 << 20,
            request_timeout: Duration::from_secs(1),
        }
    }
}

impl Section for ConsumersConfig {
    fn check(&self) -> Result<(), Invalid> {
        duration_at_least(
            "instance-timeout",
            self.instance_timeout,
            Duration::from_secs(1),
        )?;
        size_between("request-max-bytes", self.request_max_bytes, 1, 64 << 20)?;
        duration_between(
            "request-timeout",
            self.request_timeout,
            Duration::ZERO,
            Duration::from_secs(300),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let c = HttpConfig {
            trusted_proxies: vec!["10.0.0.0/8".into(), "192.168.1.7".into(), "fd00::/8".into()],
            ..HttpConfig::default()
        };
        assert!(c.check().is_ok());
        let ip = |s: &str| s.parse::<IpAddr>().expect("an address");
        assert!(c.trusts(ip("10.1.2.3")));
        assert!(c.trusts(ip("192.168.1.7")));
        assert!(!c.trusts(ip("192.168.1.8")));
        assert!(c.trusts(ip("fd12::1")));
        assert!(!c.trusts(ip("127.0.0.1")));
        assert!(!HttpConfig::default().trusts(ip("127.0.0.1")));
        for bad in ["10.0.0.0/33", "proxy.example", "10.0.0.0/x"] {
            let c = HttpConfig {
                trusted_proxies: vec![bad.into()],
                ..HttpConfig::default()
            };
            assert!(
                c.check().is_err_and(|e| e.key == "trusted-proxies"),
                "{bad}"
            );
        }
    }
}
