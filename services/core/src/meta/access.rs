//! Principals' credentials and permissions, as the quorum stores them (issue 20): API tokens
//! (only their SHA-256 hashes), and ACLs in Kafka's model.
//!
//! An ACL is (principal, resource type, name, pattern, operations, allow | deny). A request is
//! allowed when some allow ACL matches it and no deny ACL does: deny wins. As in Kafka,
//! `describe` is implied by `read`, `write`, `delete` and `alter`; `all` matches every
//! operation; the principal `*` is every authenticated principal; the literal name `*` is every
//! resource of the type; creating a topic is also allowed by `create` on the cluster. The
//! matching is here, pure, so the state machine validates with the rules the nodes enforce.

use serde::{Deserialize, Serialize};

use super::{Command, CommandResult, MetaError, MetaQuery, MetaStore, QueryResult};

/// Most tokens the quorum keeps (expired ones are dropped as new ones are made).
pub const MAX_TOKENS: usize = 10_000;
/// Most ACLs the quorum keeps.
pub const MAX_ACLS: usize = 10_000;
/// The one name of the `cluster` resource (the literal `*` matches it too).
pub const CLUSTER: &str = "cluster";

/// What an ACL is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceType {
    /// A topic, by name.
    Topic,
    /// A consumer group, by name.
    Group,
    /// The cluster itself (listings of nodes, metrics, tokens and ACLs).
    Cluster,
}

/// How an ACL's name matches resource names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatternType {
    /// The name itself (or `*`: every name).
    #[default]
    Literal,
    /// Every name that starts with it.
    Prefixed,
}

/// What a principal does to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// Fetch records; consume as a group.
    Read,
    /// Produce records.
    Write,
    /// Create topics.
    Create,
    /// Delete topics.
    Delete,
    /// Change a topic's config, run its compaction or archiving; manage tokens and ACLs.
    Alter,
    /// See that it exists and how it is.
    Describe,
    /// Every operation.
    All,
}

impl Operation {
    /// Returns whether an ACL granting `self` allows `wanted`.
    fn grants(self, wanted: Operation) -> bool {
        self == wanted
            || self == Operation::All
            || (wanted == Operation::Describe
                && matches!(
                    self,
                    Operation::Read | Operation::Write | Operation::Delete | Operation::Alter
                ))
    }

    /// Returns whether an ACL denying `self` denies `wanted`.
    fn denies(self, wanted: Operation) -> bool {
        self == wanted || self == Operation::All
    }
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Grants the operations.
    #[default]
    Allow,
    /// Refuses them, whatever else allows them.
    Deny,
}

/// An ACL as asked for (`POST /v1/acls`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclSpec {
    /// The principal, or `*` for every authenticated one.
    pub principal: String,
    /// The resource type.
    pub resource: ResourceType,
    /// The resource name, or prefix.
    pub name: String,
    /// How `name` matches.
    #[serde(default)]
    pub pattern: PatternType,
    /// The operations.
    pub operations: Vec<Operation>,
    /// Allow or deny.
    #[serde(default)]
    pub permission: Permission,
}

impl AclSpec {
    /// Checks the names and operations.
    pub fn validate(&self) -> Result<(), String> {
        if self.principal != "*" {
            validate_principal(&self.principal)?;
        }
        if self.name.is_empty() || self.name.len() > 255 {
            return Err("an ACL's name must be 1 to 255 bytes".to_string());
        }
        if self.name.chars().any(char::is_control) {
            return Err("an ACL's name cannot hold control characters".to_string());
        }
        if self.operations.is_empty() {
            return Err("an ACL needs at least one operation".to_string());
        }
        if self.resource == ResourceType::Cluster
            && !(self.name == CLUSTER || self.name == "*")
            && self.pattern == PatternType::Literal
        {
            return Err(format!(
                "the cluster resource is named {CLUSTER:?} (or `*`), not {:?}",
                self.name
            ));
        }
        Ok(())
    }

    fn matches(&self, principal: &str, resource: ResourceType, name: &str) -> bool {
        (self.principal == "*" || self.principal == principal)
            && self.resource == resource
            && match self.pattern {
                PatternType::Literal => self.name == "*" || self.name == name,
                PatternType::Prefixed => name.starts_with(&self.name),
            }
    }
}

/// A stored ACL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    /// Its id (`acl-<n>`).
    pub id: String,
    /// What it says.
    #[serde(flatten)]
    pub spec: AclSpec,
    /// When it was made (ms since epoch).
    pub created_ms: i64,
}

/// A token as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Its id (`tok-<n>`), for listing and revoking.
    pub id: String,
    /// Whom it authenticates.
    pub principal: String,
    /// When it was made (ms since epoch).
    pub created_ms: i64,
    /// When it stops being valid (ms since epoch), if ever.
    pub expires_at: Option<i64>,
}

impl TokenInfo {
    /// Returns whether it is still valid at `now_ms`.
    pub fn valid_at(&self, now_ms: i64) -> bool {
        self.expires_at.is_none_or(|t| now_ms < t)
    }
}

/// A stored token: its info and the SHA-256 of the secret, as lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    /// What is listed.
    #[serde(flatten)]
    pub info: TokenInfo,
    /// SHA-256 of the token, hex.
    pub hash: String,
}

/// Every token and ACL, with a version that changes with each of their changes (what nodes
/// cache and follow).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// Raised by every token or ACL change.
    pub version: u64,
    /// Tokens, by id.
    pub tokens: Vec<StoredToken>,
    /// ACLs, by id.
    pub acls: Vec<Acl>,
}

impl Access {
    /// Returns whether `principal` may do `op` on the resource: some allow ACL matches and no
    /// deny ACL does. Creating a topic is also allowed by `create` on the cluster.
    pub fn allows(
        &self,
        principal: &str,
        op: Operation,
        resource: ResourceType,
        name: &str,
    ) -> bool {
        let judge = |resource: ResourceType, name: &str| {
            let mut allowed = false;
            let matching = self
                .acls
                .iter()
                .filter(|a| a.spec.matches(principal, resource, name));
            for a in matching {
                match a.spec.permission {
                    Permission::Deny if a.spec.operations.iter().any(|o| o.denies(op)) => {
                        return Some(false);
                    }
                    Permission::Allow if a.spec.operations.iter().any(|o| o.grants(op)) => {
                        allowed = true;
                    }
                    _ => {}
                }
            }
            allowed.then_some(true)
        };
        match judge(resource, name) {
            Some(verdict) => verdict,
            None if resource == ResourceType::Topic && op == Operation::Create => {
                judge(ResourceType::Cluster, CLUSTER) == Some(true)
            }
            None => false,
        }
    }
}

/// Checks a principal's name: 1 to 255 printable characters, no whitespace, no `:` (HTTP Basic
/// splits on it), and not `*` (the ACL wildcard).
pub fn validate_principal(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err("a principal must be 1 to 255 bytes".to_string());
    }
    if name == "*" {
        return Err("`*` is the ACL wildcard, not a principal".to_string());
    }
    if name
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == ':')
    {
        return Err(format!(
            "principal {name:?} holds whitespace, a control character or `:`"
        ));
    }
    Ok(())
}

fn unexpected(what: &str, r: impl std::fmt::Debug) -> MetaError {
    MetaError::Internal {
        reason: format!("the store answered a {what} request with {r:?}"),
    }
}

/// Stores a token's hash for `principal`; returns what is listed of it.
pub async fn create_token(
    meta: &dyn MetaStore,
    principal: &str,
    hash: String,
    expires_at: Option<i64>,
    now_ms: i64,
) -> Result<TokenInfo, MetaError> {
    let cmd = Command::CreateToken {
        principal: principal.to_string(),
        hash,
        expires_at,
        now_ms,
    };
    match meta.execute(cmd).await? {
        CommandResult::Token(t) => Ok(t),
        other => Err(unexpected("token", other)),
    }
}

/// Revokes a token.
pub async fn revoke_token(meta: &dyn MetaStore, id: &str, now_ms: i64) -> Result<(), MetaError> {
    let cmd = Command::RevokeToken {
        id: id.to_string(),
        now_ms,
    };
    meta.execute(cmd).await.map(|_| ())
}

/// Stores an ACL.
pub async fn create_acl(
    meta: &dyn MetaStore,
    spec: AclSpec,
    now_ms: i64,
) -> Result<Acl, MetaError> {
    match meta.execute(Command::CreateAcl { spec, now_ms }).await? {
        CommandResult::Acl(a) => Ok(a),
        other => Err(unexpected("ACL", other)),
    }
}

/// Deletes an ACL.
pub async fn delete_acl(meta: &dyn MetaStore, id: &str) -> Result<(), MetaError> {
    let cmd = Command::DeleteAcl { id: id.to_string() };
    meta.execute(cmd).await.map(|_| ())
}

/// Reads every token and ACL, unless their version is still `since`.
pub async fn read(meta: &dyn MetaStore, since: Option<u64>) -> Result<Option<Access>, MetaError> {
    match meta.ask(MetaQuery::Access { since }).await? {
        QueryResult::Access(a) => Ok(a),
        other => Err(unexpected("access", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(
        principal: &str,
        resource: ResourceType,
        name: &str,
        pattern: PatternType,
        ops: &[Operation],
        permission: Permission,
    ) -> Acl {
        Acl {
            id: String::new(),
            spec: AclSpec {
                principal: principal.to_string(),
                resource,
                name: name.to_string(),
                pattern,
                operations: ops.to_vec(),
                permission,
            },
            created_ms: 0,
        }
    }

    use Operation::*;
    use PatternType::*;
    use Permission::*;
    use ResourceType::*;

    #[test]
    fn deny_wins_prefixes_match_and_describe_is_implied() {
        let access = Access {
            version: 1,
            tokens: Vec::new(),
            acls: vec![
                acl("alice", Topic, "orders", Literal, &[Write], Allow),
                acl("alice", Topic, "logs.", Prefixed, &[Read], Allow),
                acl("alice", Topic, "logs.secret", Literal, &[All], Deny),
                acl("*", Group, "*", Literal, &[Read], Allow),
                acl("bob", Cluster, CLUSTER, Literal, &[Create], Allow),
            ],
        };
        let may = |p: &str, op, r, n: &str| access.allows(p, op, r, n);
        assert!(may("alice", Write, Topic, "orders"));
        assert!(
            may("alice", Describe, Topic, "orders"),
            "write implies describe"
        );
        assert!(!may("alice", Read, Topic, "orders"));
        assert!(!may("alice", Write, Topic, "orders2"), "literal is exact");
        assert!(may("alice", Read, Topic, "logs.app"));
        assert!(!may("alice", Read, Topic, "logs.secret"), "deny wins");
        assert!(!may("alice", Describe, Topic, "logs.secret"));
        assert!(!may("alice", Create, Topic, "orders"));
        assert!(may("carol", Read, Group, "g1"), "the wildcards");
        assert!(!may("carol", Describe, Topic, "orders"));
        assert!(may("bob", Create, Topic, "anything"), "cluster create");
        assert!(!may("bob", Delete, Topic, "anything"));
    }

    #[test]
    fn names_and_principals_are_checked() {
        assert!(validate_principal("alice@example.com").is_ok());
        assert!(validate_principal("a:b").is_err());
        assert!(validate_principal("a b").is_err());
        assert!(validate_principal("*").is_err());
        assert!(validate_principal("").is_err());
        let mut spec = acl("*", Cluster, "kafka", Literal, &[Alter], Allow).spec;
        assert!(spec.validate().is_err());
        spec.name = CLUSTER.to_string();
        assert!(spec.validate().is_ok());
        spec.operations.clear();
        assert!(spec.validate().is_err());
    }
}
