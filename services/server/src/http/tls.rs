//! HTTPS on `--listen` (issue 20): `--tls-cert-file` and `--tls-key-file`, read again whenever
//! either file changes, and with `--tls-client-ca-file` client certificates (mTLS) whose
//! subject names the request's principal.
//!
//! A client certificate is asked for, not required: a client that presents one must present
//! one the client CA signed (or the handshake fails), and authenticates as the principal it
//! names; a client without one authenticates by token as before, and without either it gets
//! `401` like any other.

mod subject;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use subject::principal;

/// How often the certificate and key files are read to see whether they changed.
const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// The principal a connection's client certificate names (a request extension), when it
/// presented one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The name, or why the certificate names no usable one.
    pub principal: Result<String, String>,
}

impl ClientCertificate {
    /// What the verified DER certificate `der` names.
    pub fn of(der: &[u8]) -> Self {
        let principal = match principal(der) {
            Some(name) => strata_core::meta::access::validate_principal(&name)
                .map(|()| name)
                .map_err(|e| format!("the client certificate's name is not a principal: {e}")),
            None => Err(
                "the client certificate names no principal: it has no subject CN, DNS name or email"
                    .to_string(),
            ),
        };
        Self { principal }
    }
}

/// The files HTTPS is served with.
#[derive(Debug, Clone)]
struct Files {
    cert: PathBuf,
    key: PathBuf,
}

/// The certificate being served, and the bytes of the files it was made from.
struct Loaded {
    key: Arc<CertifiedKey>,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

/// Shows neither the key nor its file's bytes.
impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("chain", &self.key.cert.len())
            .finish_non_exhaustive()
    }
}

/// Serves the newest certificate that loaded.
#[derive(Debug)]
struct Reloading {
    files: Files,
    provider: Arc<CryptoProvider>,
    current: RwLock<Loaded>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .expect("no panics while holding the lock")
                .key
                .clone(),
        )
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
}

/// The certified key of PEM `cert_pem` (the chain, leaf first) and `key_pem`.
fn certified(
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the certificate file is not PEM certificates: {e}"))?;
    if chain.is_empty() {
        return Err("the certificate file holds no PEM certificate".to_string());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("the key file holds no PEM private key: {e}"))?;
    CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| format!("the key does not fit the certificate, or is of no usable kind: {e}"))
}

impl Reloading {
    fn load(files: &Files, provider: &CryptoProvider) -> Result<Loaded, String> {
        let cert_pem = read(&files.cert, "certificate file")?;
        let key_pem = read(&files.key, "key file")?;
        let key = Arc::new(certified(&cert_pem, &key_pem, provider)?);
        Ok(Loaded {
            key,
            cert_pem,
            key_pem,
        })
    }

    /// Loads the files again if either changed: `Ok(true)` when a new certificate is served.
    /// A change that does not load (a key written before its certificate, say) keeps the
    /// certificate being served.
    fn reload(&self) -> Result<bool, String> {
        let cert_pem = read(&self.files.cert, "certificate file")?;
        let key_pem = read(&self.files.key, "key file")?;
        {
            let current = self
                .current
                .read()
                .expect("no panics while holding the lock");
            if current.cert_pem == cert_pem && current.key_pem == key_pem {
                return Ok(false);
            }
        }
        let key = Arc::new(certified(&cert_pem, &key_pem, &self.provider)?);
        *self
            .current
            .write()
            .expect("no panics while holding the lock") = Loaded {
            key,
            cert_pem,
            key_pem,
        };
        Ok(true)
    }
}

/// HTTPS for the listener.
pub struct Tls {
    acceptor: TlsAcceptor,
    certificates: Arc<Reloading>,
    mutual: bool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.certificates.files.cert)
            .field("mutual", &self.mutual)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the certificate (`cert`, PEM, leaf first), its key (`key`, PEM) and, for mTLS,
    /// the authorities that sign client certificates (`client_ca`, PEM); says what is wrong
    /// with them otherwise.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let files = Files {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        };
        let loaded = Reloading::load(&files, &provider)?;
        let certificates = Arc::new(Reloading {
            files,
            provider: provider.clone(),
            current: RwLock::new(loaded),
        });
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("no TLS version to serve: {e}"))?;
        let builder = match client_ca {
            Some(path) => {
                let pem = read(path, "client CA file")?;
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert
                        .map_err(|e| format!("the client CA file is not PEM certificates: {e}"))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("a client CA certificate is not usable: {e}"))?;
                }
                if roots.is_empty() {
                    return Err("the client CA file holds no PEM certificate".to_string());
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .allow_unauthenticated()
                        .build()
                        .map_err(|e| format!("the client CA cannot verify clients: {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(certificates.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificates,
            mutual: client_ca.is_some(),
        })
    }

    /// The handshake's acceptor.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Whether client certificates are asked for.
    pub fn is_mutual(&self) -> bool {
        self.mutual
    }

    /// Reads the certificate and key again every second until `stop`, serving a new pair as
    /// soon as both files hold one that loads (certificate rotation without a restart).
    pub async fn watch(self: Arc<Self>, stop: CancellationToken) {
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(RELOAD_EVERY) => {}
                _ = stop.cancelled() => return,
            }
            match self.certificates.reload() {
                Ok(true) => {
                    failing = false;
                    info!(
                        cert = %self.certificates.files.cert.display(),
                        "serving the new TLS certificate"
                    );
                }
                Ok(false) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    warn!(error = %e, "the changed TLS files do not load; still serving the previous certificate");
                }
                Err(_) => {}
            }
        }
    }
}
