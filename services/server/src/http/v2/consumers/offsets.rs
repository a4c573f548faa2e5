//! Committed offsets: `POST` and `GET .../offsets`.

use super::*;

/// `POST .../offsets`: commits the given offsets (each the last record consumed, so the
/// group's next offset is one past it, as Confluent does), or with no body every position
/// the instance has reached.
pub(crate) async fn commit(mut call: Call) -> V2Result<Response> {
    let ct = negotiate(&call.headers)?;
    let req: Option<OffsetsIn> = call.optional().await?;
    let offsets = req
        .and_then(|r| r.offsets)
        .map(|l| to_commit(&l))
        .transpose()?;
    call.run(ConsumerOp::Commit { offsets }).await?;
    // Confluent answers `200` with an empty list.
    Ok(reply(StatusCode::OK, ct, &serde_json::json!([])))
}

/// The group offsets a commit body's `offsets` name: each one past the given offset, which
/// must be neither negative nor the largest `i64`.
pub(super) fn to_commit(list: &[Object<OffsetIn>]) -> V2Result<Vec<GroupOffset>> {
    list.iter()
        .map(|o| {
            if o.offset < 0 {
                return Err(V2Error(ApiError::new(
                    422,
                    422,
                    format!(
                        "offset {} of {}-{} is negative",
                        o.offset, o.topic, o.partition
                    ),
                )));
            }
            // The committed offset is the next one to read: one past the given one,
            // which must leave room for it.
            let next = o.offset.checked_add(1).ok_or_else(|| {
                V2Error(ApiError::new(
                    422,
                    422,
                    format!(
                        "offset {} of {}-{} is too large: the largest offset that can be committed is {}",
                        o.offset,
                        o.topic,
                        o.partition,
                        i64::MAX - 1
                    ),
                ))
            })?;
            Ok(GroupOffset {
                topic: o.topic.clone(),
                partition: PartitionId(o.partition),
                offset: Offset(next),
            })
        })
        .collect()
}

#[derive(Serialize)]
struct CommittedListOut {
    offsets: Vec<CommittedOut>,
}

#[derive(Serialize)]
struct CommittedOut {
    topic: String,
    partition: u32,
    offset: i64,
    metadata: String,
}

/// `GET .../offsets` with `{"partitions": [...]}`: the group's committed offsets (the next
/// offsets to read) of those partitions; those without one are left out.
pub(crate) async fn committed(mut call: Call) -> V2Result<Response> {
    let ct = negotiate(&call.headers)?;
    let req: Option<PartitionsIn> = call.optional().await?;
    let view = call.run(ConsumerOp::Touch).await?;
    let wanted: Option<BTreeSet<TopicPartition>> = req.map(|r| {
        r.partitions
            .iter()
            .map(|p| TopicPartition::from(&**p))
            .collect()
    });
    if let Some(wanted) = &wanted {
        // One metadata read per topic named (the set is in topic order).
        let mut counts: Option<(&str, u32)> = None;
        for tp in wanted {
            call.caller.require_topic(Operation::Describe, &tp.topic)?;
            let count = match counts {
                Some((t, n)) if t == tp.topic => n,
                _ => call.s.meta.topic(&tp.topic).await?.partitions,
            };
            counts = Some((&tp.topic, count));
            if tp.partition.0 >= count {
                return Err(strata_core::meta::MetaError::PartitionNotFound {
                    topic: tp.topic.clone(),
                    partition: tp.partition.0,
                    partitions: count,
                }
                .into());
            }
        }
    }
    let offsets: Vec<CommittedOut> = view
        .committed
        .into_iter()
        .filter(|o| call.caller.may_topic(Operation::Describe, &o.topic))
        .filter(|o| {
            wanted.as_ref().is_none_or(|w| {
                w.contains(&TopicPartition {
                    topic: o.topic.clone(),
                    partition: o.partition,
                })
            })
        })
        .map(|o| CommittedOut {
            topic: o.topic,
            partition: o.partition.0,
            offset: o.offset.0,
            metadata: String::new(),
        })
        .collect();
    Ok(reply(StatusCode::OK, ct, &CommittedListOut { offsets }))
}
