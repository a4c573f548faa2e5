//! Fetches: `GET .../records` (v2) and `GET .../topics/{topic}` (v1).

use super::*;

#[derive(Serialize)]
struct HeaderOut {
    name: String,
    value: String,
}

#[derive(Serialize)]
struct RecordOut<'a> {
    topic: &'a str,
    key: Option<Embedded<'a>>,
    value: Option<Embedded<'a>>,
    partition: u32,
    offset: i64,
    /// Strata extension: the record's timestamp (ms since the epoch).
    timestamp: i64,
    /// Strata extension: the record's headers, values base64 (Confluent's v3 shape).
    headers: Vec<HeaderOut>,
}

/// A key or value in a response: JSON text as stored (key order and numbers kept), or a
/// string (base64, or bytes that are not JSON).
#[derive(Serialize)]
#[serde(untagged)]
enum Embedded<'a> {
    Json(&'a RawValue),
    Text(Cow<'a, str>),
}

fn embed(format: EmbeddedFormat, bytes: Option<&[u8]>) -> Option<Embedded<'_>> {
    let b = bytes?;
    Some(match format {
        EmbeddedFormat::Binary => Embedded::Text(Cow::Owned(BASE64.encode(b))),
        EmbeddedFormat::Json => match serde_json::from_slice::<&RawValue>(b) {
            Ok(raw) => Embedded::Json(raw),
            Err(_) => Embedded::Text(String::from_utf8_lossy(b)),
        },
    })
}

fn record_out<'a>(
    format: EmbeddedFormat,
    tp: &'a TopicPartition,
    r: &'a StoredRecord,
) -> RecordOut<'a> {
    RecordOut {
        topic: &tp.topic,
        key: embed(format, r.record.key.as_deref()),
        value: embed(format, r.record.value.as_deref()),
        partition: tp.partition.0,
        offset: r.offset.0,
        timestamp: r.record.timestamp,
        headers: r
            .record
            .headers
            .iter()
            .map(|h| HeaderOut {
                name: h.name.clone(),
                value: BASE64.encode(&h.value),
            })
            .collect(),
    }
}

/// One owned partition during a fetch.
struct Reading {
    tp: TopicPartition,
    from: Offset,
    next: Offset,
    records: Vec<StoredRecord>,
}

/// `GET .../records?timeout=&max_bytes=`: records of the instance's partitions from its
/// positions, waiting up to the timeout for `fetch.min.bytes` (by default, any record).
pub(crate) async fn records(
    State(s): State<Shared>,
    caller: Caller,
    Path((group, instance)): Path<(String, String)>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> V2Result<Response> {
    fetch(s, caller, group, instance, q, headers, None).await
}

/// `GET .../topics/{topic}?max_bytes=` (API v1): records of `topic` only. As v1 does, an
/// instance not yet subscribed to the topic subscribes to it first (adding it to the topics
/// it already has), which may rebalance its group.
pub(crate) async fn records_v1(
    State(s): State<Shared>,
    caller: Caller,
    Path((group, instance, topic)): Path<(String, String, String)>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> V2Result<Response> {
    s.meta.topic(&topic).await?;
    let view = run(&s, &caller, &group, &instance, ConsumerOp::Touch).await?;
    let subscription = match view.subscription {
        None if !view.manual => Some(vec![topic.clone()]),
        Some(Subscription::Topics(mut topics)) if !topics.contains(&topic) => {
            topics.push(topic.clone());
            Some(topics)
        }
        _ => None,
    };
    if let Some(topics) = subscription {
        let op = ConsumerOp::Subscribe {
            subscription: Subscription::Topics(topics),
        };
        run(&s, &caller, &group, &instance, op).await?;
    }
    fetch(s, caller, group, instance, q, headers, Some(topic)).await
}

async fn fetch(
    s: Shared,
    caller: Caller,
    group: String,
    instance: String,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
    only_topic: Option<String>,
) -> V2Result<Response> {
    let params = Params::from_query(q, &["timeout", "max_bytes"]).map_err(|e| V2Error(e.0))?;
    // As Confluent does: `timeout` can only shorten the instance's (or the node's) request
    // timeout, and a value of 0 or below (or none) means that timeout; `max_bytes` of 0 or
    // below (or none) means the node's `consumer-request-max-bytes`.
    let timeout_param = params
        .number("timeout", -1i64, i64::MIN, i64::MAX)
        .map_err(|e| V2Error(e.0))?;
    let max_bytes = params
        .number("max_bytes", -1i64, i64::MIN, i64::MAX)
        .map_err(|e| V2Error(e.0))?;
    let max_bytes = if max_bytes <= 0 {
        s.config.consumers.request_max_bytes
    } else {
        (max_bytes as u64).min(64 << 20)
    };
    let view = run(&s, &caller, &group, &instance, ConsumerOp::Poll).await?;
    let ct = negotiate_records(&headers, view.config.format)?;
    let timeout = Duration::from_millis(
        view.config
            .request_timeout_ms
            .unwrap_or(s.config.consumers.request_timeout.as_millis() as u64)
            .min(if timeout_param > 0 {
                timeout_param as u64
            } else {
                u64::MAX
            }),
    );
    let mut readings = Vec::with_capacity(view.partitions.len());
    for o in &view.partitions {
        if only_topic.as_ref().is_some_and(|t| *t != o.tp.topic) {
            continue;
        }
        let Some(position) = o.position else {
            return Err(V2Error(ApiError::new(
                409,
                confluent::ILLEGAL_STATE,
                format!(
                    "Illegal state: no committed offset for partition {} and auto.offset.reset is none: set a position with POST .../positions",
                    o.tp
                ),
            )));
        };
        readings.push(Reading {
            tp: o.tp.clone(),
            from: position,
            next: position,
            records: Vec::new(),
        });
    }
    let read = &s.started().map_err(|e| V2Error(e.0))?.read;
    let min_bytes = view.config.fetch_min_bytes.unwrap_or(1).max(1);
    let mut waiter = read.waiter(timeout);
    let mut bytes = 0u64;
    loop {
        waiter.seen();
        let open = readings.len().max(1) as u64;
        for r in readings.iter_mut() {
            if bytes >= max_bytes {
                break;
            }
            let share = ((max_bytes - bytes) / open).max(1);
            let opts = FetchOptions {
                start: StartAt::Offset(r.next),
                max_records: 10_000,
                max_bytes: share,
                max_wait: Duration::ZERO,
            };
            match read.fetch(&r.tp.topic, r.tp.partition, opts).await {
                Ok(got) => {
                    bytes += got
                        .records
                        .iter()
                        .map(|x| x.record.size() as u64)
                        .sum::<u64>();
                    r.next = got.next_offset;
                    r.records.extend(got.records);
                }
                Err(ReadError::OutOfRange {
                    log_start,
                    high_watermark,
                    ..
                }) => {
                    r.next = match view.config.auto_offset_reset {
                        OffsetReset::Earliest => log_start,
                        OffsetReset::Latest => high_watermark,
                        OffsetReset::None => {
                            return Err(V2Error(ApiError::new(
                                409,
                                confluent::ILLEGAL_STATE,
                                format!(
                                    "Illegal state: position {} of {} is out of range ({log_start} to {high_watermark}) and auto.offset.reset is none",
                                    r.next.0, r.tp
                                ),
                            )));
                        }
                    };
                }
                // A topic deleted under the instance: the next command drops its partitions.
                Err(ReadError::Meta(
                    strata_core::meta::MetaError::TopicNotFound { .. }
                    | strata_core::meta::MetaError::PartitionNotFound { .. },
                )) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let have = readings.iter().any(|r| !r.records.is_empty());
        if (have && bytes >= min_bytes)
            || bytes >= max_bytes
            || !waiter.wait(s.shutdown.cancelled()).await?
        {
            break;
        }
    }
    let moves: Vec<PositionMove> = readings
        .iter()
        .filter(|r| r.next != r.from)
        .map(|r| PositionMove {
            tp: r.tp.clone(),
            from: r.from,
            to: r.next,
        })
        .collect();
    let moved: BTreeSet<TopicPartition> = if moves.is_empty() {
        BTreeSet::new()
    } else {
        run(
            &s,
            &caller,
            &group,
            &instance,
            ConsumerOp::Advance { moves },
        )
        .await?
        .moved
        .into_iter()
        .collect()
    };
    let format = view.config.format;
    let mut out = Vec::new();
    let mut count = 0u64;
    for r in &readings {
        if !moved.contains(&r.tp) {
            continue;
        }
        count += r.records.len() as u64;
        out.extend(r.records.iter().map(|x| record_out(format, &r.tp, x)));
    }
    s.metrics.fetch_records.inc_by(count);
    s.metrics.fetch_bytes.inc_by(bytes);
    Ok(reply(StatusCode::OK, ct, &out))
}

#[cfg(test)]
mod tests;
