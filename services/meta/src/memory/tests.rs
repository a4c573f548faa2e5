use super::*;
use strata_core::clock::ManualClock;
use strata_core::meta::MetaStore;

/// The conformance suite, one test per scenario.
mod conformance {
    use super::*;

    crate::meta_conformance!(
        [#[tokio::test]]
        async {
            (
                Arc::new(InMemoryMetaStore::new(Arc::new(ManualClock::new(1000))))
                    as Arc<dyn MetaStore>,
                (),
            )
        }
    );
}
