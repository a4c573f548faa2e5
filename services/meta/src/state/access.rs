//! Tokens and ACLs (issue 20): the quorum keeps token hashes, never tokens, and ACLs; every
//! change raises one version, which nodes follow to refresh what they enforce.

use serde::{Deserialize, Serialize};
use strata_core::meta::access::{self, Access, Acl, StoredToken, TokenInfo};

#[allow(unused_imports)]
use super::*;

/// The access part of the state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct AccessState {
    version: u64,
    next_token: u64,
    next_acl: u64,
    tokens: BTreeMap<u64, StoredToken>,
    acls: BTreeMap<u64, Acl>,
}

/// The number in an id `<prefix>-<n>`.
fn number(id: &str, prefix: &str) -> Option<u64> {
    id.strip_prefix(prefix)?.strip_prefix('-')?.parse().ok()
}

impl MetaState {
    pub(super) fn check_access(&self, cmd: &Command) -> Result<(), MetaError> {
        let a = &self.access;
        let invalid = |reason: String| MetaError::Invalid { reason };
        match cmd {
            Command::CreateToken {
                principal,
                hash,
                expires_at,
                now_ms,
            } => {
                access::validate_principal(principal).map_err(invalid)?;
                if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid("a token hash is 64 hex digits".to_string()));
                }
                if expires_at.is_some_and(|t| t <= *now_ms) {
                    return Err(invalid("a token must expire in the future".to_string()));
                }
                let live = a.tokens.values().filter(|t| t.info.valid_at(*now_ms));
                if live.count() >= access::MAX_TOKENS {
                    return Err(invalid(format!(
                        "the cluster holds {} valid tokens, the most it keeps: revoke some",
                        access::MAX_TOKENS
                    )));
                }
                if a.tokens.values().any(|t| t.hash == *hash) {
                    return Err(invalid("a token with this hash exists".to_string()));
                }
                Ok(())
            }
            Command::RevokeToken { id, .. } => number(id, "tok")
                .filter(|n| a.tokens.contains_key(n))
                .map(|_| ())
                .ok_or_else(|| MetaError::TokenNotFound { id: id.clone() }),
            Command::CreateAcl { spec, .. } => {
                spec.validate().map_err(invalid)?;
                if a.acls.len() >= access::MAX_ACLS {
                    return Err(invalid(format!(
                        "the cluster holds {} ACLs, the most it keeps: prefixed ACLs cover many names",
                        access::MAX_ACLS
                    )));
                }
                Ok(())
            }
            Command::DeleteAcl { id } => number(id, "acl")
                .filter(|n| a.acls.contains_key(n))
                .map(|_| ())
                .ok_or_else(|| MetaError::AclNotFound { id: id.clone() }),
            _ => unreachable!("not an access command"),
        }
    }

    pub(super) fn apply_access(&mut self, cmd: &Command) -> CommandResult {
        let a = &mut self.access;
        a.version += 1;
        match cmd {
            Command::CreateToken {
                principal,
                hash,
                expires_at,
                now_ms,
            } => {
                a.tokens.retain(|_, t| t.info.valid_at(*now_ms));
                a.next_token += 1;
                let info = TokenInfo {
                    id: format!("tok-{}", a.next_token),
                    principal: principal.clone(),
                    created_ms: *now_ms,
                    expires_at: *expires_at,
                };
                let stored = StoredToken {
                    info: info.clone(),
                    hash: hash.clone(),
                };
                a.tokens.insert(a.next_token, stored);
                CommandResult::Token(info)
            }
            Command::RevokeToken { id, now_ms } => {
                a.tokens.retain(|_, t| t.info.valid_at(*now_ms));
                if let Some(n) = number(id, "tok") {
                    a.tokens.remove(&n);
                }
                CommandResult::Done
            }
            Command::CreateAcl { spec, now_ms } => {
                a.next_acl += 1;
                let acl = Acl {
                    id: format!("acl-{}", a.next_acl),
                    spec: spec.clone(),
                    created_ms: *now_ms,
                };
                a.acls.insert(a.next_acl, acl.clone());
                CommandResult::Acl(acl)
            }
            Command::DeleteAcl { id } => {
                if let Some(n) = number(id, "acl") {
                    a.acls.remove(&n);
                }
                CommandResult::Done
            }
            _ => unreachable!("not an access command"),
        }
    }

    /// Every token and ACL, unless their version is still `since`.
    pub fn access(&self, since: Option<u64>) -> Option<Access> {
        let a = &self.access;
        (since != Some(a.version)).then(|| Access {
            version: a.version,
            tokens: a.tokens.values().cloned().collect(),
            acls: a.acls.values().cloned().collect(),
        })
    }
}
