//! OIDC/JWT bearer tokens (issue 20), on with `--auth-jwks-file`: a JWT signed by a key of the
//! JWKS file, from the configured issuer, for the configured audience, not expired, names its
//! principal in `sub`.
//!
//! Signatures: `RS256` (RSA keys of 2048 bits and more), `ES256` (P-256) and `EdDSA` (Ed25519),
//! verified with aws-lc-rs. `alg` must fit the key; `none` and HMAC algorithms are refused (a
//! JWKS holds public keys). A header's `kid` picks the key; without one every key of the
//! algorithm's type is tried. `exp` is required; `exp` and `nbf` get 30 s of leeway for clock
//! skew.

use std::path::Path;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;

/// Clock skew allowed on `exp` and `nbf` (seconds).
pub const LEEWAY_S: i64 = 30;

#[derive(Debug, Clone)]
enum Key {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256(Vec<u8>),
    Ed25519(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Jwk {
    kid: Option<String>,
    key: Key,
}

/// Verifies JWTs against the keys of a JWKS, for one issuer and audience.
#[derive(Debug, Clone)]
pub struct JwtVerifier {
    keys: Vec<Jwk>,
    issuer: String,
    audience: String,
}

#[derive(Deserialize)]
struct JwkIn {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
}

fn b64(field: &str, v: &Option<String>) -> Result<Vec<u8>, String> {
    let v = v
        .as_deref()
        .ok_or_else(|| format!("a key lacks its {field:?}"))?;
    URL_SAFE_NO_PAD
        .decode(v.trim_end_matches('='))
        .map_err(|_| format!("a key's {field:?} is not base64url"))
}

impl JwtVerifier {
    /// Reads a JWKS file (`{"keys": [...]}`).
    pub fn from_file(path: &Path, issuer: &str, audience: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text, issuer, audience)
    }

    /// Parses a JWKS. Keys for other uses than signatures, and of types it cannot verify, are
    /// skipped; a JWKS with no usable key is refused.
    pub fn parse(jwks: &str, issuer: &str, audience: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Set {
            keys: Vec<JwkIn>,
        }
        let set: Set = serde_json::from_str(jwks)
            .map_err(|e| format!("not a JWKS (`{{\"keys\": [...]}}`): {e}"))?;
        let mut keys = Vec::new();
        for k in set.keys {
            if k.use_.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            let key = match (k.kty.as_str(), k.crv.as_deref()) {
                ("RSA", _) => Key::Rsa {
                    n: b64("n", &k.n)?,
                    e: b64("e", &k.e)?,
                },
                ("EC", Some("P-256")) => {
                    let (x, y) = (b64("x", &k.x)?, b64("y", &k.y)?);
                    if x.len() != 32 || y.len() != 32 {
                        return Err("a P-256 key's x and y are 32 bytes each".to_string());
                    }
                    Key::P256([&[4u8][..], &x, &y].concat())
                }
                ("OKP", Some("Ed25519")) => Key::Ed25519(b64("x", &k.x)?),
                _ => continue,
            };
            keys.push(Jwk { kid: k.kid, key });
        }
        if keys.is_empty() {
            return Err("the JWKS holds no RSA, P-256 or Ed25519 signing key".to_string());
        }
        if issuer.is_empty() || audience.is_empty() {
            return Err("JWT verification needs the issuer and the audience to expect".to_string());
        }
        Ok(Self {
            keys,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
        })
    }

    /// Whether a bearer token has a JWT's shape (three base64url parts, a JSON header).
    pub fn looks_like_jwt(token: &[u8]) -> bool {
        token.starts_with(b"eyJ") && token.iter().filter(|b| **b == b'.').count() == 2
    }

    /// Verifies a JWT at `now_ms`; returns its principal (`sub`). The reason of a refusal
    /// names no part of the token.
    pub fn verify(&self, token: &[u8], now_ms: i64) -> Result<String, &'static str> {
        let text = std::str::from_utf8(token).map_err(|_| "the JWT is not ASCII")?;
        let mut parts = text.splitn(3, '.');
        let (Some(h), Some(p), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("a JWT has three parts");
        };
        let decode = |s: &str| {
            URL_SAFE_NO_PAD
                .decode(s)
                .map_err(|_| "a JWT part is not base64url")
        };
        let header: Value =
            serde_json::from_slice(&decode(h)?).map_err(|_| "the JWT header is not JSON")?;
        let sig = decode(sig)?;
        let alg = header["alg"].as_str().ok_or("the JWT header has no alg")?;
        let kid = header["kid"].as_str();
        let signed = &text.as_bytes()[..h.len() + 1 + p.len()];
        let fits = |k: &Key| {
            matches!(
                (alg, k),
                ("RS256", Key::Rsa { .. }) | ("ES256", Key::P256(_)) | ("EdDSA", Key::Ed25519(_))
            )
        };
        if !matches!(alg, "RS256" | "ES256" | "EdDSA") {
            return Err("the JWT's alg is not RS256, ES256 or EdDSA");
        }
        let verified = self
            .keys
            .iter()
            .filter(|k| kid.is_none_or(|id| k.kid.as_deref() == Some(id)))
            .filter(|k| fits(&k.key))
            .any(|k| match &k.key {
                Key::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                    .verify(&RSA_PKCS1_2048_8192_SHA256, signed, &sig)
                    .is_ok(),
                Key::P256(point) => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .verify(signed, &sig)
                    .is_ok(),
                Key::Ed25519(x) => UnparsedPublicKey::new(&ED25519, x)
                    .verify(signed, &sig)
                    .is_ok(),
            });
        if !verified {
            return Err("the JWT's signature does not verify with a key of the JWKS");
        }
        let claims: Value =
            serde_json::from_slice(&decode(p)?).map_err(|_| "the JWT claims are not JSON")?;
        let now_s = now_ms.div_euclid(1000);
        let exp = claims["exp"].as_i64().ok_or("the JWT has no exp")?;
        if now_s >= exp + LEEWAY_S {
            return Err("the JWT expired");
        }
        if claims["nbf"]
            .as_i64()
            .is_some_and(|nbf| now_s + LEEWAY_S < nbf)
        {
            return Err("the JWT is not valid yet (nbf)");
        }
        if claims["iss"].as_str() != Some(self.issuer.as_str()) {
            return Err("the JWT is from another issuer");
        }
        let aud_ok = match &claims["aud"] {
            Value::String(a) => *a == self.audience,
            Value::Array(list) => list.iter().any(|a| a.as_str() == Some(&self.audience)),
            _ => false,
        };
        if !aud_ok {
            return Err("the JWT is for another audience");
        }
        let sub = claims["sub"].as_str().ok_or("the JWT has no sub")?;
        strata_core::meta::access::validate_principal(sub)
            .map_err(|_| "the JWT's sub is not a valid principal")?;
        if sub == super::auth::BOOTSTRAP_PRINCIPAL {
            return Err("the JWT's sub is the bootstrap principal's name");
        }
        Ok(sub.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    fn part(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn key() -> (EcdsaKeyPair, String) {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("a key");
        let point = pair.public_key().as_ref().to_vec();
        let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])}]});
        (pair, jwks.to_string())
    }

    fn jwt(pair: &EcdsaKeyPair, claims: Value) -> String {
        let signed = format!(
            "{}.{}",
            part(&serde_json::json!({"alg": "ES256", "kid": "k1"})),
            part(&claims)
        );
        let sig = pair
            .sign(&SystemRandom::new(), signed.as_bytes())
            .expect("signs");
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    #[test]
    fn only_a_current_jwt_of_the_issuer_for_the_audience_signed_by_the_jwks_passes() {
        let (pair, jwks) = key();
        let (other, _) = key();
        let v = JwtVerifier::parse(&jwks, "https://idp", "strata").expect("parses");
        let now_ms = 1_800_000_000_000;
        let claims = |exp: i64, aud: Value| serde_json::json!({"iss": "https://idp", "aud": aud, "sub": "alice", "exp": exp});
        let good = jwt(
            &pair,
            claims(1_800_000_600, serde_json::json!(["x", "strata"])),
        );
        assert!(JwtVerifier::looks_like_jwt(good.as_bytes()));
        assert_eq!(v.verify(good.as_bytes(), now_ms), Ok("alice".to_string()));
        let expired = jwt(&pair, claims(1_800_000_000 - 60, "strata".into()));
        assert_eq!(v.verify(expired.as_bytes(), now_ms), Err("the JWT expired"));
        let elsewhere = jwt(&pair, claims(1_800_000_600, "another".into()));
        assert_eq!(
            v.verify(elsewhere.as_bytes(), now_ms),
            Err("the JWT is for another audience")
        );
        let forged = jwt(&other, claims(1_800_000_600, "strata".into()));
        assert!(
            v.verify(forged.as_bytes(), now_ms)
                .is_err_and(|e| e.contains("signature"))
        );
        let none = format!(
            "{}.{}.",
            part(&serde_json::json!({"alg": "none"})),
            part(&claims(1_800_000_600, "strata".into()))
        );
        assert!(v.verify(none.as_bytes(), now_ms).is_err());
        assert!(JwtVerifier::parse(r#"{"keys": []}"#, "i", "a").is_err());
        assert!(JwtVerifier::parse(&jwks, "", "a").is_err());
    }
}
