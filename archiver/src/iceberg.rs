//! Apache Iceberg (format v2) table metadata for a topic's archive.

use strata_core::meta::TopicInfo;

use crate::{ArchiveError, Archiver, Manifest};

/// Writes the table metadata for the files of `manifest`.
pub(crate) async fn publish(
    _archiver: &Archiver,
    _topic: &TopicInfo,
    _manifest: &Manifest,
) -> Result<(), ArchiveError> {
    Ok(())
}
