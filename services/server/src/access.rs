//! What a node enforces of the quorum's tokens and ACLs (issue 20): a copy, refreshed when
//! the quorum changes, so a request is authenticated and authorized without a quorum read.
//!
//! The copy follows the change feed (at most one read per [`MIN_GAP`], and one every
//! [`FALLBACK`] whatever happens), so a revoked token or a removed ACL stops working on every
//! node within a few seconds. A token the copy does not know (made a moment ago on another
//! node) refreshes it once, and so does a request the copy's ACLs would refuse (an ACL made a
//! moment ago), at most once per [`MISS_GAP`] for both, so neither unknown tokens nor refused
//! requests can flood the quorum: what is added on one node works on every other at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use strata_core::meta::access::{self, Access, TokenInfo};
use strata_core::meta::{MetaError, MetaStore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// Shortest time between two refreshes the change feed asks for.
pub const MIN_GAP: Duration = Duration::from_millis(250);
/// Longest time between two refreshes.
pub const FALLBACK: Duration = Duration::from_secs(2);
/// Shortest time between two refreshes that unknown tokens ask for.
pub const MISS_GAP: Duration = Duration::from_millis(500);

/// The prefix of every token the API makes (so secret scanners can find leaked ones).
pub const TOKEN_PREFIX: &str = "strata_";

/// A new token: the prefix and 32 random bytes, base64url.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The SHA-256 of a token, lowercase hex: what the quorum stores.
pub fn token_hash(token: &[u8]) -> String {
    digest(&SHA256, token)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One copy of the quorum's tokens and ACLs.
#[derive(Debug, Default)]
pub struct View {
    /// Tokens and ACLs.
    pub access: Access,
    by_hash: HashMap<String, TokenInfo>,
}

impl View {
    fn new(access: Access) -> Self {
        let by_hash = access
            .tokens
            .iter()
            .map(|t| (t.hash.clone(), t.info.clone()))
            .collect();
        Self { access, by_hash }
    }
}

/// The node's copy.
#[derive(Debug)]
pub struct AccessCache {
    meta: Arc<dyn MetaStore>,
    view: RwLock<Option<Arc<View>>>,
    /// Held while reading the quorum.
    reading: tokio::sync::Mutex<()>,
    /// When an unknown token last refreshed the copy.
    last_miss: tokio::sync::Mutex<Option<Instant>>,
}

impl AccessCache {
    /// An empty copy of `meta`'s tokens and ACLs; [`AccessCache::follow`] fills it.
    pub fn new(meta: Arc<dyn MetaStore>) -> Self {
        Self {
            meta,
            view: RwLock::new(None),
            reading: tokio::sync::Mutex::new(()),
            last_miss: tokio::sync::Mutex::new(None),
        }
    }

    /// The copy, once it was read (an empty one before).
    pub fn view(&self) -> Arc<View> {
        self.view
            .read()
            .expect("not poisoned")
            .clone()
            .unwrap_or_default()
    }

    fn current(&self) -> Option<Arc<View>> {
        self.view.read().expect("not poisoned").clone()
    }

    /// Reads what changed since the copy was made.
    pub async fn refresh(&self) -> Result<(), MetaError> {
        let _reading = self.reading.lock().await;
        let since = self.current().map(|v| v.access.version);
        let read = access::read(self.meta.as_ref(), since).await?;
        if let Some(a) = read {
            *self.view.write().expect("not poisoned") = Some(Arc::new(View::new(a)));
        }
        Ok(())
    }

    /// The token's info, if it is known and valid at `now_ms`. An unknown token refreshes the
    /// copy first, unless it was refreshed within [`MISS_GAP`]; `Err` only while the copy was
    /// never read and the quorum cannot be.
    pub async fn token(&self, token: &[u8], now_ms: i64) -> Result<Option<TokenInfo>, MetaError> {
        let hash = token_hash(token);
        let find = |v: &View| v.by_hash.get(&hash).filter(|t| t.valid_at(now_ms)).cloned();
        if let Some(t) = self.current().as_deref().and_then(find) {
            return Ok(Some(t));
        }
        self.refresh_if_due().await?;
        Ok(self.current().as_deref().and_then(find))
    }

    /// Refreshes the copy for something it does not hold (an unknown token, an ACL a request
    /// needs), unless that was done within [`MISS_GAP`]; `Err` only while the copy was never
    /// read and the quorum cannot be.
    pub async fn refresh_if_due(&self) -> Result<(), MetaError> {
        let mut last = self.last_miss.lock().await;
        if last.is_none_or(|t| t.elapsed() >= MISS_GAP) {
            *last = Some(Instant::now());
            if let Err(e) = self.refresh().await {
                if self.current().is_none() {
                    return Err(e);
                }
                debug!(error = %e, "could not refresh tokens and ACLs; using the copy");
            }
        }
        Ok(())
    }

    /// Keeps the copy current until `shutdown`.
    pub async fn follow(self: Arc<Self>, shutdown: CancellationToken) {
        let mut changes = self.meta.changes();
        loop {
            if let Err(e) = self.refresh().await {
                debug!(error = %e, "could not refresh tokens and ACLs");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(MIN_GAP) => {}
            }
            let changed = async {
                if changes.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = changed => {}
                _ = tokio::time::sleep(FALLBACK) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_are_found_by_hash_until_revoked_or_expired() {
        let clock = Arc::new(strata_core::clock::ManualClock::new(1_000));
        let meta: Arc<dyn MetaStore> = Arc::new(strata_meta::memory::InMemoryMetaStore::new(clock));
        let cache = AccessCache::new(meta.clone());
        let token = new_token();
        assert!(token.starts_with(TOKEN_PREFIX) && token.len() == TOKEN_PREFIX.len() + 43);
        assert_ne!(token, new_token());
        let info = access::create_token(
            meta.as_ref(),
            "alice",
            token_hash(token.as_bytes()),
            Some(5_000),
            1_000,
        )
        .await
        .expect("stores");
        let found = cache.token(token.as_bytes(), 1_000).await.expect("reads");
        assert_eq!(found.as_ref(), Some(&info), "a miss refreshes the copy");
        assert_eq!(
            cache.token(token.as_bytes(), 5_000).await.expect("reads"),
            None,
            "expired"
        );
        assert_eq!(
            cache.token(b"strata_other", 1_000).await.expect("reads"),
            None
        );
        access::revoke_token(meta.as_ref(), &info.id, 1_001)
            .await
            .expect("revokes");
        cache.refresh().await.expect("refreshes");
        assert_eq!(
            cache.token(token.as_bytes(), 1_001).await.expect("reads"),
            None,
            "revoked"
        );
    }
}
