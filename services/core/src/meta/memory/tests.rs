use super::*;
use crate::clock::ManualClock;
use crate::meta::MetaStore;

#[tokio::test]
async fn in_memory_store_passes_the_conformance_suite() {
    super::super::conformance::run_all(|| async {
        Arc::new(InMemoryMetaStore::new(Arc::new(ManualClock::new(1000)))) as Arc<dyn MetaStore>
    })
    .await;
}
