//! The HTTP front's own settings: the `[http]` and `[consumers]` sections of the config file.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use strata_core::settings::{
    self, Invalid, Section, duration_at_least, duration_between, size_between,
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
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_request_bytes: 64 << 20,
            max_buffered_request_bytes: 256 << 20,
        }
    }
}

impl Section for HttpConfig {}

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
