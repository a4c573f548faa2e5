//! Certificates made for a test by the `openssl` command: a CA, server certificates for
//! `127.0.0.1` and `localhost`, and client certificates naming a principal.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, ensure};

/// A certificate authority in a temporary directory, and what it signed.
#[derive(Debug)]
pub struct Pki {
    dir: tempfile::TempDir,
    name: String,
}

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub key: PathBuf,
}

impl Issued {
    /// The certificate and key in one PEM (what `reqwest::Identity::from_pem` reads).
    pub fn identity_pem(&self) -> anyhow::Result<Vec<u8>> {
        let mut pem = std::fs::read(&self.cert)?;
        pem.extend(std::fs::read(&self.key)?);
        Ok(pem)
    }

    /// The certificate's DER bytes, as a TLS peer sees them.
    pub fn der(&self) -> anyhow::Result<Vec<u8>> {
        let pem = std::fs::read_to_string(&self.cert)?;
        let body: String = pem
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .collect();
        use base64::Engine;
        Ok(base64::engine::general_purpose::STANDARD.decode(body)?)
    }
}

/// `openssl req` arguments for a new P-256 key, unencrypted.
const NEW_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("cannot run openssl (the tests need the openssl command)")?;
    ensure!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

impl Pki {
    /// A new CA whose subject is `CN=name`.
    pub fn new(name: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let (key, cert, subject) = (
            format!("{name}.key"),
            format!("{name}.pem"),
            format!("/CN={name}"),
        );
        let mut args = vec!["req", "-x509"];
        args.extend(NEW_KEY);
        args.extend([
            "-keyout", &key, "-out", &cert, "-days", "2", "-subj", &subject,
        ]);
        openssl(dir.path(), &args)?;
        Ok(Self {
            dir,
            name: name.to_string(),
        })
    }

    /// The CA's certificate (PEM): what clients and nodes trust.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join(format!("{}.pem", self.name))
    }

    /// Signs a new key for `subject` (`/CN=alice`, or `/O=x` for none) with these
    /// `extensions` (openssl's `-extfile` lines); the files are named after `file`.
    pub fn issue(&self, file: &str, subject: &str, extensions: &str) -> anyhow::Result<Issued> {
        let d = self.dir.path();
        let ext = format!("{file}.ext");
        std::fs::write(
            d.join(&ext),
            format!("basicConstraints=CA:FALSE\n{extensions}\n"),
        )?;
        let (key, csr, cert) = (
            format!("{file}.key"),
            format!("{file}.csr"),
            format!("{file}.pem"),
        );
        let mut args = vec!["req"];
        args.extend(NEW_KEY);
        args.extend(["-keyout", &key, "-out", &csr, "-subj", subject]);
        openssl(d, &args)?;
        let serial = format!("{}", rand_serial());
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &format!("{}.pem", self.name),
                "-CAkey",
                &format!("{}.key", self.name),
                "-set_serial",
                &serial,
                "-days",
                "2",
                "-out",
                &cert,
                "-extfile",
                &ext,
            ],
        )?;
        Ok(Issued {
            cert: d.join(cert),
            key: d.join(key),
        })
    }

    /// A server certificate for `127.0.0.1` and `localhost`.
    pub fn server(&self, file: &str) -> anyhow::Result<Issued> {
        self.issue(
            file,
            "/CN=localhost",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth",
        )
    }

    /// A client certificate whose subject's common name is `principal`.
    pub fn client(&self, principal: &str) -> anyhow::Result<Issued> {
        self.issue(
            principal,
            &format!("/CN={principal}"),
            "extendedKeyUsage=clientAuth",
        )
    }
}

/// A serial number unlikely to repeat within a test.
fn rand_serial() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    (nanos ^ u64::from(std::process::id()).rotate_left(32)) >> 2
}

/// The CA of this test process (made once), for nodes that serve HTTPS.
pub fn shared() -> &'static Pki {
    static PKI: std::sync::OnceLock<Pki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| Pki::new("strata-test-ca").expect("openssl makes a test CA"))
}

/// What a node serving HTTPS needs: its certificate and key from `pki`, and the CA to trust
/// when it calls other members.
pub fn https(pki: &Pki) -> anyhow::Result<(Vec<String>, PathBuf)> {
    let server = pki.server("server")?;
    let args = [
        ("--tls-cert-file", &server.cert),
        ("--tls-key-file", &server.key),
        ("--tls-ca-file", &pki.ca()),
    ]
    .into_iter()
    .flat_map(|(flag, path)| [flag.to_string(), path.display().to_string()])
    .collect();
    Ok((args, pki.ca()))
}
