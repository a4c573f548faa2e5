//! Positions: `POST .../positions`, `.../positions/beginning`, `.../positions/end`.

use super::*;

/// offset, or at its first record at or after the timestamp.
/// `POST .../positions`: `{"offsets": [{"topic", "partition", "offset"}], "timestamps":
/// [{"topic", "partition", "timestamp"}]}`: the next fetch of each partition starts at its
pub(crate) async fn seek(mut call: Call) -> V2Result<Response> {
    let req: OffsetsIn = call.required().await?;
    let mut positions: Vec<(TopicPartition, SeekTo)> = req
        .offsets
        .unwrap_or_default()
        .iter()
        .map(|o| {
            (
                TopicPartition::new(o.topic.clone(), o.partition),
                SeekTo::Offset(Offset(o.offset)),
            )
        })
        .collect();
    for Object(t) in req.timestamps.unwrap_or_default() {
        let ms = timestamp_ms(&t)?;
        call.caller.require_topic(Operation::Read, &t.topic)?;
        let read = &call.s.started().map_err(|e| V2Error(e.0))?.read;
        let opts = FetchOptions {
            start: StartAt::Timestamp(ms),
            max_records: 1,
            max_bytes: 1,
            max_wait: Duration::ZERO,
        };
        let got = read.fetch(&t.topic, PartitionId(t.partition), opts).await?;
        let at = got.records.first().map_or(got.next_offset, |r| r.offset);
        positions.push((
            TopicPartition::new(t.topic, t.partition),
            SeekTo::Offset(at),
        ));
    }
    call.run(ConsumerOp::Seek { positions }).await?;
    Ok(no_content())
}

/// A seek's timestamp in milliseconds: an ISO-8601 instant, or milliseconds as a number or a
/// string.
pub(super) fn timestamp_ms(t: &TimestampIn) -> V2Result<i64> {
    match &t.timestamp {
        Value::Number(n) => n.as_i64(),
        Value::String(v) => strata_core::settings::parse_instant(v).or_else(|| v.parse().ok()),
        _ => None,
    }
    .ok_or_else(|| {
        V2Error(ApiError::new(
            400,
            400,
            format!(
                "timestamp {} of {}-{} is not an ISO-8601 instant (2019-10-25T14:07:30.123Z) or milliseconds",
                t.timestamp, t.topic, t.partition
            ),
        ))
    })
}

async fn seek_all(mut call: Call, to: SeekTo) -> V2Result<Response> {
    let req: PartitionsIn = call.required().await?;
    let positions = req
        .partitions
        .iter()
        .map(|p| (TopicPartition::from(&**p), to))
        .collect();
    call.run(ConsumerOp::Seek { positions }).await?;
    Ok(no_content())
}

/// `POST .../positions/beginning`.
pub(crate) async fn seek_beginning(call: Call) -> V2Result<Response> {
    seek_all(call, SeekTo::Beginning).await
}

/// `POST .../positions/end`.
pub(crate) async fn seek_end(call: Call) -> V2Result<Response> {
    seek_all(call, SeekTo::End).await
}
