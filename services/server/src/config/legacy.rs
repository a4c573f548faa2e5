//! Keys of the flat config file that earlier releases read, and where each lives now. A file
//! or variable that uses one still works; the node logs the new name at start.

/// `(old flat key, new section.key)`.
pub(super) const MOVED: &[(&str, &str)] = &[
    ("flush-interval", "ingest.flush-interval"),
    ("flush-bytes", "ingest.flush-bytes"),
    ("max-inflight-bytes", "ingest.max-inflight-bytes"),
    ("hot-segment-bytes", "ingest.segment-bytes"),
    ("hot-retain-bytes", "ingest.retain-bytes"),
    ("max-concurrent-uploads", "ingest.max-concurrent-uploads"),
    ("multipart-threshold", "ingest.multipart-threshold"),
    ("commit-timeout", "ingest.commit-timeout"),
    ("idempotency-window", "ingest.idempotency-window"),
    ("idempotency-max-keys", "ingest.idempotency-max-keys"),
    ("max-request-bytes", "http.max-request-bytes"),
    (
        "max-buffered-request-bytes",
        "http.max-buffered-request-bytes",
    ),
    ("cache-memory-bytes", "cache.memory-bytes"),
    ("cache-disk-bytes", "cache.disk-bytes"),
    ("cache-block-bytes", "cache.block-bytes"),
    ("cold-read-concurrency", "cache.cold-read-concurrency"),
    ("cold-read-bytes-per-sec", "cache.cold-read-bytes-per-sec"),
    ("read-ahead-blocks", "cache.read-ahead-blocks"),
    ("snapshot-logs", "meta.snapshot-logs"),
    ("election-timeout", "meta.election-timeout"),
    ("compactor-interval", "compactor.interval"),
    ("compactor-run-bytes", "compactor.run-bytes"),
    ("compactor-pass-bytes", "compactor.pass-bytes"),
    (
        "compactor-requests-in-flight",
        "compactor.requests-in-flight",
    ),
    ("compactor-bytes-per-sec", "compactor.bytes-per-sec"),
    ("compactor-merge-min-extents", "compactor.merge-min-extents"),
    ("gc-grace", "compactor.gc-grace"),
    ("orphan-grace", "compactor.orphan-grace"),
    ("archiver-interval", "archiver.interval"),
    ("archiver-row-group-bytes", "archiver.row-group-bytes"),
    ("archiver-zstd-level", "archiver.zstd-level"),
    ("archiver-bytes-per-sec", "archiver.bytes-per-sec"),
    ("consumer-instance-timeout", "consumers.instance-timeout"),
    ("consumer-request-max-bytes", "consumers.request-max-bytes"),
    ("consumer-request-timeout", "consumers.request-timeout"),
    (
        "price-put-requests-per-1000",
        "prices.put-requests-per-1000",
    ),
    (
        "price-get-requests-per-1000",
        "prices.get-requests-per-1000",
    ),
    ("price-storage-gib-month", "prices.storage-gib-month"),
];

/// Where the flat key `old` lives now, if it moved.
pub(super) fn moved(old: &str) -> Option<&'static str> {
    MOVED.iter().find(|(o, _)| *o == old).map(|(_, new)| *new)
}
