//! How a member calls the others: over HTTP or HTTPS, trusting which certificates, with the
//! cluster secret. One value, handed to the Raft network, the quorum client and every probe,
//! so no call to a peer is made any other way.

use std::time::Duration;

use crate::secret::ClusterSecret;

/// How this member reaches the others' internal API.
#[derive(Debug, Clone, Default)]
pub struct Peering {
    /// The secret sent on every internal request.
    pub secret: Option<ClusterSecret>,
    /// Members serve HTTPS (`--tls-cert-file`): call them over HTTPS.
    pub tls: bool,
    /// PEM certificates of the authorities that sign members' certificates
    /// (`--tls-ca-file`); without them, the system's roots.
    pub ca_pem: Option<Vec<u8>>,
}

impl Peering {
    /// Plain HTTP with `secret`.
    pub fn plain(secret: Option<ClusterSecret>) -> Self {
        Self {
            secret,
            ..Self::default()
        }
    }

    /// The URL of `path` (with its query) on the member at `addr` (`host:port`).
    pub fn url(&self, addr: &str, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{addr}{path}")
    }

    /// An HTTP client for the members: their certificates trusted, the secret on every
    /// request, and connections given up after `connect_timeout`.
    pub fn client(&self, connect_timeout: Duration) -> reqwest::Client {
        self.builder(connect_timeout)
            .build()
            .expect("an http client builds: its certificates were checked when configured")
    }

    /// The builder [`Peering::client`] finishes, for callers that set more.
    pub fn builder(&self, connect_timeout: Duration) -> reqwest::ClientBuilder {
        let mut b = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .default_headers(ClusterSecret::headers(self.secret.as_ref()));
        if let Some(pem) = &self.ca_pem {
            // Checked when the node's configuration was read (`Peering::check_ca`).
            let certs = reqwest::Certificate::from_pem_bundle(pem).unwrap_or_default();
            b = b.tls_certs_only(certs);
        }
        b
    }

    /// Whether `pem` holds at least one certificate the client can trust.
    pub fn check_ca(pem: &[u8]) -> Result<(), String> {
        match reqwest::Certificate::from_pem_bundle(pem) {
            Ok(c) if !c.is_empty() => Ok(()),
            Ok(_) => Err("holds no PEM certificate".to_string()),
            Err(e) => Err(format!("is not a PEM certificate bundle: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_scheme_members_serve() {
        let plain = Peering::plain(None);
        assert_eq!(
            plain.url("10.0.0.1:8080", "/internal/meta/status"),
            "http://10.0.0.1:8080/internal/meta/status"
        );
        let tls = Peering {
            tls: true,
            ..Peering::default()
        };
        assert_eq!(tls.url("a:1", "/x?y=1"), "https://a:1/x?y=1");
        assert!(Peering::check_ca(b"not pem").is_err());
    }
}
