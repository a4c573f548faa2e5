//! Scenarios of tokens and ACLs: hashes in, ids out, one version that moves with each change.

use super::*;
use strata_core::meta::access::{self, AclSpec, Operation, PatternType, Permission, ResourceType};

fn hash(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

pub async fn tokens_and_acls_are_stored_versioned_and_removed(store: Arc<dyn MetaStore>) {
    let s = store.as_ref();
    let empty = access::read(s, None)
        .await
        .expect("reads")
        .expect("a first read");
    assert!(empty.tokens.is_empty() && empty.acls.is_empty());
    assert!(
        access::read(s, Some(empty.version))
            .await
            .expect("reads")
            .is_none(),
        "unchanged since the version asked about"
    );
    let t1 = access::create_token(s, "alice", hash(1), None, 10)
        .await
        .expect("stores");
    let t2 = access::create_token(s, "bob", hash(2), Some(100), 10)
        .await
        .expect("stores");
    assert_eq!((t1.id.as_str(), t2.id.as_str()), ("tok-1", "tok-2"));
    assert_eq!(t2.expires_at, Some(100));
    let spec = AclSpec {
        principal: "alice".to_string(),
        resource: ResourceType::Topic,
        name: "orders".to_string(),
        pattern: PatternType::Prefixed,
        operations: vec![Operation::Write],
        permission: Permission::Allow,
    };
    let acl = access::create_acl(s, spec.clone(), 11)
        .await
        .expect("stores");
    assert_eq!((acl.id.as_str(), &acl.spec), ("acl-1", &spec));
    let all = access::read(s, Some(empty.version))
        .await
        .expect("reads")
        .expect("changed");
    assert!(all.version > empty.version);
    assert_eq!(
        all.tokens
            .iter()
            .map(|t| (t.info.principal.as_str(), t.hash.clone()))
            .collect::<Vec<_>>(),
        vec![("alice", hash(1)), ("bob", hash(2))]
    );
    assert!(all.allows("alice", Operation::Write, ResourceType::Topic, "orders.eu"));

    for refused in [
        access::create_token(s, "alice", hash(1), None, 12).await,
        access::create_token(s, "a:b", hash(3), None, 12).await,
        access::create_token(s, "carol", "xyz".to_string(), None, 12).await,
        access::create_token(s, "carol", hash(3), Some(12), 12).await,
    ] {
        assert!(
            matches!(refused, Err(MetaError::Invalid { .. })),
            "{refused:?}"
        );
    }
    let bad = AclSpec {
        operations: Vec::new(),
        ..spec
    };
    assert!(matches!(
        access::create_acl(s, bad, 12).await,
        Err(MetaError::Invalid { .. })
    ));

    access::revoke_token(s, "tok-1", 13).await.expect("revokes");
    assert!(matches!(
        access::revoke_token(s, "tok-1", 13).await,
        Err(MetaError::TokenNotFound { .. })
    ));
    assert!(matches!(
        access::revoke_token(s, "acl-1", 13).await,
        Err(MetaError::TokenNotFound { .. })
    ));
    access::delete_acl(s, "acl-1").await.expect("deletes");
    assert!(matches!(
        access::delete_acl(s, "acl-1").await,
        Err(MetaError::AclNotFound { .. })
    ));
    // bob's token expired at 100: the next token change drops it.
    access::create_token(s, "carol", hash(3), None, 200)
        .await
        .expect("stores");
    let now = access::read(s, None).await.expect("reads").expect("read");
    assert_eq!(
        now.tokens
            .iter()
            .map(|t| t.info.id.as_str())
            .collect::<Vec<_>>(),
        vec!["tok-3"]
    );
    assert!(now.acls.is_empty());
}
