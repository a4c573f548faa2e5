//! Apache Iceberg (format v2) table metadata for a topic's archive, so Iceberg-aware engines
//! (Spark, Trino, pyiceberg, DuckDB's `iceberg_scan`) load it as a table with no catalog:
//!
//! ```text
//! archive/<topic>/_iceberg/metadata/version-hint.text       current version N
//! archive/<topic>/_iceberg/metadata/vN.metadata.json        table metadata
//! archive/<topic>/_iceberg/metadata/snap-<id>-<topic id>.avro     manifest list
//! archive/<topic>/_iceberg/metadata/<topic id>-p<p>-<first>-<n>-s<seq>.avro   manifests
//! ```
//!
//! Every publish that finds new files in the quorum makes one `append` snapshot. A partition's
//! files are listed in manifests of up to [`FILES_PER_MANIFEST`] files in offset order; full
//! manifests are carried into later snapshots unchanged, the partition's last, partial one is
//! rewritten with the new files (its earlier entries become `EXISTING`, keeping the snapshot
//! and sequence number that added them). What the next publish must know of the current
//! manifests is kept in the metadata's properties (`strata.manifests`), so the archiver never
//! reads Avro back. The last [`KEEP_SNAPSHOTS`] snapshots and metadata files are kept; older
//! ones, and manifests only they referred to, are deleted.
//!
//! The table is partitioned by the identity of the `partition` column and declares the sort
//! order `offset ASC`; each data file carries lower and upper bounds of `partition`, `offset`
//! and `timestamp`, so engines skip files by offset or time without opening them.

use std::collections::{BTreeMap, BTreeSet};

use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use strata_core::meta::TopicInfo;
use strata_core::topic_config::JsonKind;
use tracing::{debug, warn};

use crate::avro::{Encoder, container};
use crate::schema::{FIRST_PROJECTED_ID, ids};
use crate::{ArchiveError, Archiver, Manifest, ManifestFile};

mod format;
use format::*;

/// Data files per manifest.
pub const FILES_PER_MANIFEST: usize = 1000;

/// Snapshots (and metadata files) kept for time travel and for readers still planning.
pub const KEEP_SNAPSHOTS: usize = 10;

/// Field id of the partition spec's only field (identity of `partition`).
const PARTITION_FIELD_ID: i32 = 1000;

/// Sort order `offset ASC` (id 0 is "unsorted").
const SORT_ORDER_ID: i32 = 1;

/// Metadata property holding the current snapshot's manifests.
const MANIFESTS_PROPERTY: &str = "strata.manifests";

/// Snapshot summary key listing the manifests a snapshot replaced (deleted once no kept
/// snapshot refers to them).
const REPLACED_SUMMARY: &str = "strata.replaced-manifests";

/// Where the table's metadata lives, relative to the bucket root.
pub fn metadata_prefix(topic: &str) -> String {
    format!(
        "{}_iceberg/metadata/",
        strata_core::keys::archive_topic_prefix(topic)
    )
}

/// The state a publish starts from: the current table metadata, if any.
struct Current {
    version: u64,
    metadata: Value,
    manifests: Vec<ManifestRecord>,
}

impl Archiver {
    async fn get_text(&self, key: &str) -> Result<Option<String>, ArchiveError> {
        match self.store.get(&Path::from(key)).await {
            Ok(r) => Ok(Some(
                String::from_utf8_lossy(&r.bytes().await?).into_owned(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the current metadata of the table of `topic` (this incarnation only).
    async fn current_table(
        &self,
        topic: &TopicInfo,
        uuid: &str,
    ) -> Result<Option<Current>, ArchiveError> {
        let prefix = metadata_prefix(&topic.name);
        let Some(hint) = self.get_text(&format!("{prefix}version-hint.text")).await? else {
            return Ok(None);
        };
        let Ok(version) = hint.trim().parse::<u64>() else {
            warn!(topic = %topic.name, hint, "unreadable Iceberg version hint; starting the table again");
            return Ok(None);
        };
        let Some(text) = self
            .get_text(&format!("{prefix}v{version}.metadata.json"))
            .await?
        else {
            return Ok(None);
        };
        let Ok(metadata) = serde_json::from_str::<Value>(&text) else {
            warn!(topic = %topic.name, version, "unreadable Iceberg metadata; starting the table again");
            return Ok(None);
        };
        if metadata["table-uuid"] != uuid {
            // A deleted topic's table: this incarnation starts its own.
            return Ok(None);
        }
        let manifests = metadata["properties"][MANIFESTS_PROPERTY]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        Ok(Some(Current {
            version,
            metadata,
            manifests,
        }))
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), ArchiveError> {
        self.store
            .put(&Path::from(key), PutPayload::from(body))
            .await?;
        Ok(())
    }

    /// Writes one manifest of `entries` (files of one partition, in offset order).
    #[allow(clippy::too_many_arguments)]
    async fn write_iceberg_manifest(
        &self,
        topic: &TopicInfo,
        partition: u32,
        first: u64,
        entries: &[Entry<'_>],
        snapshot: i64,
        schema: &Value,
        schema_id: i64,
    ) -> Result<ManifestRecord, ArchiveError> {
        let key = format!(
            "{}{}-p{partition}-{first}-{}-s{snapshot}.avro",
            metadata_prefix(&topic.name),
            topic.id.0,
            entries.len()
        );
        let mut e = Encoder::default();
        for entry in entries {
            encode_entry(&mut e, entry, &self.config.location);
        }
        let body = container(
            &manifest_entry_schema(),
            &[
                ("schema", schema.to_string()),
                ("schema-id", schema_id.to_string()),
                ("partition-spec", partition_spec_fields().to_string()),
                ("partition-spec-id", "0".into()),
                ("format-version", "2".into()),
                ("content", "data".into()),
            ],
            entries.len(),
            &e.into_bytes(),
            sync_marker(&key),
        );
        let length = body.len() as u64;
        self.put(&key, body).await?;
        let mut runs: Vec<Run> = Vec::new();
        for en in entries {
            match runs.last_mut() {
                Some(r) if r.snapshot == en.snapshot && r.seq == en.seq => r.files += 1,
                _ => runs.push(Run {
                    files: 1,
                    snapshot: en.snapshot,
                    seq: en.seq,
                }),
            }
        }
        let added: Vec<_> = entries.iter().filter(|e| e.added).collect();
        Ok(ManifestRecord {
            key,
            length,
            partition,
            first,
            files: entries.len() as u64,
            rows: entries.iter().map(|e| e.file.rows).sum(),
            snapshot,
            seq: snapshot,
            added_files: added.len() as u64,
            added_rows: added.iter().map(|e| e.file.rows).sum(),
            runs,
        })
    }

    async fn write_manifest_list(
        &self,
        topic: &TopicInfo,
        manifests: &[ManifestRecord],
        snapshot: i64,
        parent: Option<i64>,
    ) -> Result<String, ArchiveError> {
        let key = format!(
            "{}snap-{snapshot}-{}.avro",
            metadata_prefix(&topic.name),
            topic.id.0
        );
        let mut e = Encoder::default();
        for m in manifests {
            e.string(&format!("{}/{}", self.config.location, m.key));
            e.long(m.length as i64);
            e.long(0);
            e.long(0);
            e.long(m.seq);
            e.long(m.runs.iter().map(|r| r.seq).min().unwrap_or(m.seq));
            e.long(m.snapshot);
            e.long(m.added_files as i64);
            e.long((m.files - m.added_files) as i64);
            e.long(0);
            e.long(m.added_rows as i64);
            e.long((m.rows - m.added_rows) as i64);
            e.long(0);
            e.branch(1);
            let p = (m.partition as i32).to_le_bytes();
            e.array(&[p], |e, p| {
                e.boolean(false);
                e.branch(1);
                e.boolean(false);
                e.branch(1);
                e.bytes(p);
                e.branch(1);
                e.bytes(p);
            });
        }
        let body = container(
            &manifest_file_schema(),
            &[
                ("snapshot-id", snapshot.to_string()),
                (
                    "parent-snapshot-id",
                    parent.map_or("null".into(), |p| p.to_string()),
                ),
                ("sequence-number", snapshot.to_string()),
                ("format-version", "2".into()),
            ],
            manifests.len(),
            &e.into_bytes(),
            sync_marker(&key),
        );
        self.put(&key, body).await?;
        Ok(format!("{}/{key}", self.config.location))
    }

    /// Writes a new snapshot of the topic's Iceberg table if the quorum lists files the
    /// current one does not (or the schema changed).
    pub(crate) async fn publish_iceberg(
        &self,
        topic: &TopicInfo,
        manifest: &Manifest,
    ) -> Result<(), ArchiveError> {
        let uuid = format!(
            "00000000-0000-4000-8000-{:012x}",
            topic.id.0 & 0xffff_ffff_ffff
        );
        let current = self.current_table(topic, &uuid).await?;
        let prefix = metadata_prefix(&topic.name);

        // Files per partition, from the quorum, in offset order.
        let mut by_partition: BTreeMap<u32, Vec<&ManifestFile>> = BTreeMap::new();
        for f in &manifest.files {
            by_partition.entry(f.partition).or_default().push(f);
        }
        let previous = current
            .as_ref()
            .map(|c| c.manifests.clone())
            .unwrap_or_default();
        let mut listed: BTreeMap<u32, u64> = BTreeMap::new();
        for m in &previous {
            *listed.entry(m.partition).or_default() += m.files;
        }

        // Schemas: add one when the projection changed.
        let mut schemas: Vec<Value> = current
            .as_ref()
            .and_then(|c| c.metadata["schemas"].as_array().cloned())
            .unwrap_or_default();
        let mut schema_id = current
            .as_ref()
            .and_then(|c| c.metadata["current-schema-id"].as_i64())
            .unwrap_or(0);
        let wanted = table_schema(topic, schema_id);
        let same_schema = schemas
            .iter()
            .find(|s| s["schema-id"].as_i64() == Some(schema_id))
            .is_some_and(|s| s["fields"] == wanted["fields"]);
        if !same_schema {
            schema_id = schemas
                .iter()
                .filter_map(|s| s["schema-id"].as_i64())
                .max()
                .map_or(0, |m| m + 1);
            schemas.push(table_schema(topic, schema_id));
        }
        let schema = table_schema(topic, schema_id);

        let new_files = by_partition
            .iter()
            .any(|(p, files)| files.len() as u64 > listed.get(p).copied().unwrap_or(0));
        if current.is_some() && !new_files && same_schema {
            return Ok(());
        }

        let last_seq = current
            .as_ref()
            .and_then(|c| c.metadata["last-sequence-number"].as_i64())
            .unwrap_or(0);
        let seq = last_seq + 1;
        let snapshot = seq;
        let parent = current
            .as_ref()
            .and_then(|c| c.metadata["current-snapshot-id"].as_i64());
        let now = self.clock.now_ms();

        // Manifests: keep full ones; rewrite each changed partition's partial tail with the
        // new files.
        let mut manifests: Vec<ManifestRecord> = Vec::new();
        let mut replaced: Vec<String> = Vec::new();
        let mut added_files = 0u64;
        let mut added_rows = 0u64;
        let mut added_bytes = 0u64;
        let partitions: BTreeSet<u32> = by_partition
            .keys()
            .copied()
            .chain(previous.iter().map(|m| m.partition))
            .collect();
        for p in partitions {
            let files = by_partition.get(&p).map(Vec::as_slice).unwrap_or(&[]);
            let mut kept: Vec<ManifestRecord> = previous
                .iter()
                .filter(|m| m.partition == p)
                .cloned()
                .collect();
            let count = listed.get(&p).copied().unwrap_or(0);
            if files.len() as u64 <= count {
                manifests.extend(kept);
                continue;
            }
            let tail = match kept.last() {
                Some(m) if (m.files as usize) < FILES_PER_MANIFEST => kept.pop(),
                _ => None,
            };
            manifests.extend(kept);
            let mut entries = Vec::new();
            let first = match &tail {
                Some(t) => {
                    replaced.push(t.key.clone());
                    let mut i = t.first as usize;
                    for r in &t.runs {
                        for _ in 0..r.files {
                            if let Some(file) = files.get(i) {
                                entries.push(Entry {
                                    file,
                                    added: false,
                                    snapshot: r.snapshot,
                                    seq: r.seq,
                                });
                            }
                            i += 1;
                        }
                    }
                    t.first
                }
                None => count,
            };
            for file in &files[count as usize..] {
                added_files += 1;
                added_rows += file.rows;
                added_bytes += file.bytes;
                entries.push(Entry {
                    file,
                    added: true,
                    snapshot,
                    seq,
                });
            }
            for (i, chunk) in entries.chunks(FILES_PER_MANIFEST).enumerate() {
                let first = first + (i * FILES_PER_MANIFEST) as u64;
                manifests.push(
                    self.write_iceberg_manifest(
                        topic, p, first, chunk, snapshot, &schema, schema_id,
                    )
                    .await?,
                );
            }
        }
        let manifest_list = self
            .write_manifest_list(topic, &manifests, snapshot, parent)
            .await?;

        let total_files: u64 = manifests.iter().map(|m| m.files).sum();
        let total_rows: u64 = manifests.iter().map(|m| m.rows).sum();
        let total_bytes: u64 = manifest.files.iter().map(|f| f.bytes).sum();
        let mut snapshots: Vec<Value> = current
            .as_ref()
            .and_then(|c| c.metadata["snapshots"].as_array().cloned())
            .unwrap_or_default();
        let mut entry = json!({
            "snapshot-id": snapshot,
            "sequence-number": seq,
            "timestamp-ms": now,
            "manifest-list": manifest_list,
            "schema-id": schema_id,
            "summary": {
                "operation": "append",
                "added-data-files": added_files.to_string(),
                "added-records": added_rows.to_string(),
                "added-files-size": added_bytes.to_string(),
                "total-data-files": total_files.to_string(),
                "total-records": total_rows.to_string(),
                "total-files-size": total_bytes.to_string(),
                "total-delete-files": "0",
                "total-position-deletes": "0",
                "total-equality-deletes": "0",
                REPLACED_SUMMARY: replaced.join(","),
            },
        });
        if let Some(parent) = parent {
            entry["parent-snapshot-id"] = json!(parent);
        }
        snapshots.push(entry);
        let expired: Vec<Value> = if snapshots.len() > KEEP_SNAPSHOTS {
            snapshots
                .drain(..snapshots.len() - KEEP_SNAPSHOTS)
                .collect()
        } else {
            Vec::new()
        };
        let snapshot_log: Vec<Value> = snapshots
            .iter()
            .map(|s| json!({"snapshot-id": s["snapshot-id"], "timestamp-ms": s["timestamp-ms"]}))
            .collect();
        let mut metadata_log: Vec<Value> = current
            .as_ref()
            .and_then(|c| c.metadata["metadata-log"].as_array().cloned())
            .unwrap_or_default();
        if let Some(c) = &current {
            metadata_log.push(json!({
                "metadata-file": format!("{}/{prefix}v{}.metadata.json", self.config.location, c.version),
                "timestamp-ms": c.metadata["last-updated-ms"],
            }));
        }
        let expired_metadata: Vec<Value> = if metadata_log.len() > KEEP_SNAPSHOTS {
            metadata_log
                .drain(..metadata_log.len() - KEEP_SNAPSHOTS)
                .collect()
        } else {
            Vec::new()
        };

        let version = current.as_ref().map_or(1, |c| c.version + 1);
        let metadata_path = format!("{}/{}", self.config.location, prefix.trim_end_matches('/'));
        let location = format!(
            "{}/{}",
            self.config.location,
            strata_core::keys::archive_topic_prefix(&topic.name).trim_end_matches('/')
        );
        let metadata = json!({
            "format-version": 2,
            "table-uuid": uuid,
            "location": location,
            "last-sequence-number": seq,
            "last-updated-ms": now,
            "last-column-id": last_column_id(topic),
            "current-schema-id": schema_id,
            "schemas": schemas,
            "default-spec-id": 0,
            "partition-specs": [{"spec-id": 0, "fields": partition_spec_fields()}],
            "last-partition-id": PARTITION_FIELD_ID,
            "default-sort-order-id": SORT_ORDER_ID,
            "sort-orders": [
                {"order-id": 0, "fields": []},
                {"order-id": SORT_ORDER_ID, "fields": [{
                    "transform": "identity", "source-id": ids::OFFSET,
                    "direction": "asc", "null-order": "nulls-first",
                }]},
            ],
            "properties": {
                "write.format.default": "parquet",
                "write.metadata.path": metadata_path,
                "strata.topic": topic.name,
                "strata.format-version": crate::schema::FORMAT_VERSION,
                MANIFESTS_PROPERTY: serde_json::to_string(&manifests).expect("records serialize"),
            },
            "current-snapshot-id": snapshot,
            "refs": {"main": {"snapshot-id": snapshot, "type": "branch"}},
            "snapshots": snapshots,
            "snapshot-log": snapshot_log,
            "metadata-log": metadata_log,
            "statistics": [],
        });
        self.put(
            &format!("{prefix}v{version}.metadata.json"),
            serde_json::to_vec_pretty(&metadata).expect("metadata serializes"),
        )
        .await?;
        self.put(
            &format!("{prefix}version-hint.text"),
            version.to_string().into_bytes(),
        )
        .await?;
        debug!(topic = %topic.name, version, snapshot, added_files, "published Iceberg metadata");

        // What no kept snapshot refers to any more: expired manifest lists, the manifests the
        // oldest kept snapshot (and the expired ones) replaced, expired metadata files.
        let relative = |uri: &str| {
            uri.strip_prefix(&format!("{}/", self.config.location))
                .map(str::to_string)
        };
        let mut garbage: Vec<String> = Vec::new();
        if !expired.is_empty() {
            for s in &expired {
                garbage.extend(s["manifest-list"].as_str().and_then(relative));
            }
            let oldest_kept = metadata["snapshots"].get(0);
            for s in expired.iter().chain(oldest_kept) {
                if let Some(r) = s["summary"][REPLACED_SUMMARY].as_str() {
                    garbage.extend(r.split(',').filter(|k| !k.is_empty()).map(str::to_string));
                }
            }
        }
        garbage.extend(
            expired_metadata
                .iter()
                .filter_map(|m| m["metadata-file"].as_str().and_then(relative)),
        );
        for key in garbage {
            self.delete_quietly(&key).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
