//! Subscription and assignment: `.../subscription`, `.../assignments`.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SubscribeIn {
    #[serde(default)]
    topics: Option<Vec<String>>,
    #[serde(default)]
    topic_pattern: Option<String>,
}

/// `POST .../subscription`: `{"topics": [...]}` or `{"topic_pattern": "..."}` (with both,
/// `topics` wins and with neither nothing changes, as Confluent does).
pub(crate) async fn subscribe(mut call: Call) -> V2Result<Response> {
    let req: SubscribeIn = call.required().await?;
    call.run(subscribe_op(req)?).await?;
    Ok(no_content())
}

/// What a subscribe body asks for; a pattern must compile.
pub(super) fn subscribe_op(req: SubscribeIn) -> V2Result<ConsumerOp> {
    Ok(match (req.topics, req.topic_pattern) {
        (Some(topics), _) => ConsumerOp::Subscribe {
            subscription: Subscription::Topics(topics),
        },
        (None, Some(p)) => {
            compile_pattern(&p).map_err(|e| V2Error(ApiError::new(422, 422, e)))?;
            ConsumerOp::Subscribe {
                subscription: Subscription::Pattern(p),
            }
        }
        (None, None) => ConsumerOp::Touch,
    })
}

/// `GET .../subscription`: `{"topics": [...]}` (for a pattern, the topics it matches now).
pub(crate) async fn subscription(call: Call) -> V2Result<Response> {
    let ct = negotiate(&call.headers)?;
    let view = call.run(ConsumerOp::Touch).await?;
    let topics: Vec<String> = match view.subscription {
        None => Vec::new(),
        Some(Subscription::Topics(t)) => t,
        Some(Subscription::Pattern(p)) => {
            let re = compile_pattern(&p).map_err(|e| V2Error(ApiError::internal(e)))?;
            call.s
                .meta
                .list_topics()
                .await?
                .into_iter()
                .map(|t| t.name)
                .filter(|n| re.is_match(n) && call.caller.may_topic(Operation::Describe, n))
                .collect()
        }
    };
    Ok(reply(
        StatusCode::OK,
        ct,
        &serde_json::json!({ "topics": topics }),
    ))
}

/// `DELETE .../subscription`.
pub(crate) async fn unsubscribe(call: Call) -> V2Result<Response> {
    call.run(ConsumerOp::Unsubscribe).await?;
    Ok(no_content())
}

/// `POST .../assignments`: `{"partitions": [{"topic", "partition"}]}`.
pub(crate) async fn assign(mut call: Call) -> V2Result<Response> {
    let req: PartitionsIn = call.required().await?;
    let partitions = req
        .partitions
        .iter()
        .map(|p| TopicPartition::from(&**p))
        .collect();
    call.run(ConsumerOp::Assign { partitions }).await?;
    Ok(no_content())
}

/// `GET .../assignments`: the partitions the instance reads now.
pub(crate) async fn assignments(call: Call) -> V2Result<Response> {
    let ct = negotiate(&call.headers)?;
    let view = call.run(ConsumerOp::Touch).await?;
    let partitions: Vec<PartitionIn> = view
        .partitions
        .iter()
        .map(|o| PartitionIn {
            topic: o.tp.topic.clone(),
            partition: o.tp.partition.0,
        })
        .collect();
    Ok(reply(StatusCode::OK, ct, &PartitionsOut { partitions }))
}
