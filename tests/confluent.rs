//! The Confluent REST Proxy v2 API against real `strata serve` processes: the request and
//! response examples of Confluent's v2 API reference replayed with their exact headers and
//! bodies, consumer groups splitting partitions, headers and timestamps from the native API,
//! and every Confluent error code Strata answers with.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Method;
use serde_json::{Value, json};
use strata_tests::v2::{V2, V2Client, lenient_json, same_shape};
use strata_tests::{Node, NodeOptions, eventually};

/// The `Accept` header of most of Confluent's examples.
const ACCEPT_ANY_V2: &str =
    "application/vnd.kafka.v2+json, application/vnd.kafka+json, application/json";
const BINARY: &str = "application/vnd.kafka.binary.v2+json";
const JSON: &str = "application/vnd.kafka.json.v2+json";

/// Extra fields Strata adds to Confluent's shapes: per-record produce errors (Confluent's
/// own code sends them too) and the headers and timestamp of consumed records.
const EXTRA: &[&str] = &["error_code", "error", "headers", "timestamp"];

fn check_shape(what: &str, expected: &str, got: &Value) -> anyhow::Result<()> {
    let expected = lenient_json(expected)?;
    same_shape(&expected, got, EXTRA, &["configs"])
        .map_err(|e| anyhow::anyhow!("{what}: {e}\nexpected shape {expected}\ngot {got}"))
}

fn node_with(config: &str) -> NodeOptions {
    NodeOptions {
        config: Some(config.to_string()),
        ..NodeOptions::default()
    }
}

/// Reads an instance's records until `n` came back (or fails after a minute).
async fn read_n(
    v2: &V2Client,
    group: &str,
    instance: &str,
    accept: &str,
    n: usize,
) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while out.len() < n {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{instance} read {} of {n} records",
            out.len()
        );
        out.extend(v2.records(group, instance, accept, 500).await?);
    }
    Ok(out)
}

#[tokio::test]
async fn confluent_documentation_examples_replay_with_their_exact_requests() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    node.api().create_topic("test", 3, json!({})).await?;
    let v2 = V2Client::new(&node.url());
    let host = [("host", "kafkaproxy.example.com")];

    // POST /topics/{topic}, binary.
    let r = v2
        .call(
            Method::POST,
            "/topics/test",
            &[host[0], ("content-type", BINARY), ("accept", ACCEPT_ANY_V2)],
            Some(
                r#"{
  "records": [
    {
      "key": "a2V5",
      "value": "Y29uZmx1ZW50"
    },
    {
      "value": "a2Fma2E=",
      "partition": 1
    },
    {
      "value": "bG9ncw=="
    }
  ]
}"#,
            ),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.content_type.as_deref(), Some(V2));
    check_shape(
        "binary produce",
        r#"{
  "key_schema_id": null,
  "value_schema_id": null,
  "offsets": [
    {
      "partition": 2,
      "offset": 100
    },
    {
      "partition": 1,
      "offset": 101
    },
    {
      "partition": 2,
      "offset": 102
    }
  ]
}"#,
        &r.json,
    )?;
    let offsets = r.json["offsets"].as_array().cloned().unwrap_or_default();
    assert_eq!(offsets.len(), 3);
    assert_eq!(
        offsets[1]["partition"],
        json!(1),
        "an explicit partition is kept"
    );
    assert!(
        offsets
            .iter()
            .all(|o| o["error_code"].is_null() && o["offset"].is_i64())
    );

    // POST /topics/{topic}, JSON.
    let r = v2
        .call(
            Method::POST,
            "/topics/test",
            &[host[0], ("content-type", JSON), ("accept", ACCEPT_ANY_V2)],
            Some(
                r#"{
  "records": [
    {
      "key": "somekey",
      "value": {"foo": "bar"}
    },
    {
      "value": [ "foo", "bar" ],
      "partition": 1
    },
    {
      "value": 53.5
    }
  ]
}"#,
            ),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    check_shape(
        "json produce",
        r#"{"key_schema_id": null, "value_schema_id": null, "offsets": [{"partition": 2, "offset": 100}]}"#,
        &r.json,
    )?;

    // POST /topics/{topic}/partitions/{partition}, binary and JSON.
    for (ct, body) in [
        (
            BINARY,
            r#"{
  "records": [
    {
      "key": "a2V5",
      "value": "Y29uZmx1ZW50"
    },
    {
      "value": "a2Fma2E="
    }
  ]
}"#,
        ),
        (
            JSON,
            r#"{
  "records": [
    {
      "key": "somekey",
      "value": {"foo": "bar"}
    },
    {
      "value": 53.5
    }
  ]
}"#,
        ),
    ] {
        let r = v2
            .call(
                Method::POST,
                "/topics/test/partitions/1",
                &[host[0], ("content-type", ct), ("accept", ACCEPT_ANY_V2)],
                Some(body),
            )
            .await?;
        assert_eq!(r.status, 200, "{r:?}");
        check_shape(
            "produce to a partition",
            r#"{
  "key_schema_id": null,
  "value_schema_id": null,
  "offsets": [
    {
      "partition": 1,
      "offset": 100,
    },
    {
      "partition": 1,
      "offset": 101,
    }
  ]
}"#,
            &r.json,
        )?;
        let parts: Vec<&Value> = r.json["offsets"]
            .as_array()
            .map(|a| a.iter().map(|o| &o["partition"]).collect())
            .unwrap_or_default();
        assert_eq!(parts, [&json!(1), &json!(1)]);
    }
    // What the native API reads back: binary bytes as sent, JSON as its text, strings with
    // their quotes (as Confluent's JSON serializer writes them).
    let p1 = node.api().fetch_all("test", 1, "base64").await?;
    let values: Vec<Vec<u8>> = p1
        .iter()
        .map(|r| {
            BASE64
                .decode(r["value_base64"].as_str().unwrap_or(""))
                .unwrap_or_default()
        })
        .collect();
    assert!(values.contains(&b"kafka".to_vec()), "{p1:?}");
    assert!(values.contains(&b"confluent".to_vec()));
    assert!(values.contains(&b"53.5".to_vec()));
    let keys: BTreeSet<Vec<u8>> = p1
        .iter()
        .filter_map(|r| r["key_base64"].as_str())
        .map(|k| BASE64.decode(k).unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([b"key".to_vec(), b"\"somekey\"".to_vec()])
    );

    // Metadata: GET /topics, /topics/{t}, its partitions, a partition, its offsets, /brokers.
    let r = v2
        .call(Method::GET, "/topics", &[host[0], ("accept", V2)], None)
        .await?;
    assert_eq!((r.status, r.content_type.as_deref()), (200, Some(V2)));
    check_shape("topics", r#"["topic1", "topic2"]"#, &r.json)?;
    assert_eq!(r.json, json!(["test"]));
    let r = v2
        .call(Method::GET, "/topics/test", &[("accept", V2)], None)
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    check_shape(
        "topic",
        r#"{
  "name": "test",
  "configs": {
     "cleanup.policy": "compact"
  },
  "partitions": [
    {
      "partition": 1,
      "leader": 1,
      "replicas": [
        {
          "broker": 1,
          "leader": true,
          "in_sync": true,
        },
        {
          "broker": 2,
          "leader": false,
          "in_sync": true,
        }
      ]
    }
  ]
}"#,
        &r.json,
    )?;
    assert_eq!(r.json["configs"]["cleanup.policy"], json!("delete"));
    assert_eq!(r.json["partitions"].as_array().map(Vec::len), Some(3));
    let partition_doc = r#"{
  "partition": 1,
  "leader": 1,
  "replicas": [
    {
      "broker": 1,
      "leader": true,
      "in_sync": true,
    }
  ]
}"#;
    let r = v2
        .call(
            Method::GET,
            "/topics/test/partitions",
            &[host[0], ("accept", ACCEPT_ANY_V2)],
            None,
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    check_shape("partitions", &format!("[{partition_doc}]"), &r.json)?;
    let r = v2
        .call(
            Method::GET,
            "/topics/test/partitions/1",
            &[host[0], ("accept", ACCEPT_ANY_V2)],
            None,
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    check_shape("partition", partition_doc, &r.json)?;
    assert_eq!(r.json["partition"], json!(1));
    let r = v2
        .call(
            Method::GET,
            "/topics/test/partitions/1/offsets",
            &[("accept", ACCEPT_ANY_V2)],
            None,
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    check_shape(
        "partition offsets",
        r#"{"beginning_offset": 10, "end_offset": 50,}"#,
        &r.json,
    )?;
    assert_eq!(
        r.json,
        json!({"beginning_offset": 0, "end_offset": p1.len()})
    );
    let r = v2
        .call(
            Method::GET,
            "/brokers",
            &[host[0], ("accept", ACCEPT_ANY_V2)],
            None,
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    check_shape("brokers", r#"{"brokers": [1, 2, 3]}"#, &r.json)?;
    assert_eq!(r.json, json!({"brokers": [1]}));

    // POST /consumers/{group} (with the docs' trailing slash), then its instance's routes.
    let r = v2
        .call(
            Method::POST,
            "/consumers/testgroup/",
            &[host[0], ("content-type", V2)],
            Some(
                r#"{
  "name": "my_consumer",
  "format": "binary",
  "auto.offset.reset": "earliest",
  "auto.commit.enable": "false"
}"#,
            ),
        )
        .await?;
    assert_eq!(
        (r.status, r.content_type.as_deref()),
        (200, Some(V2)),
        "{r:?}"
    );
    assert_eq!(
        r.json,
        json!({
            "instance_id": "my_consumer",
            "base_uri": "http://kafkaproxy.example.com/consumers/testgroup/instances/my_consumer"
        }),
        "base_uri points at the address the client used"
    );
    let inst = "/consumers/testgroup/instances/my_consumer";
    let proxy_host = ("host", "proxy-instance.kafkaproxy.example.com");
    let post_v2 = |path: String, body: &'static str| {
        let v2 = v2.clone();
        async move {
            v2.call(
                Method::POST,
                &path,
                &[proxy_host, ("content-type", V2)],
                Some(body),
            )
            .await
        }
    };
    let r = post_v2(
        format!("{inst}/subscription"),
        r#"{
  "topics": [
    "test1",
    "test2"
  ]
}"#,
    )
    .await?;
    assert_eq!((r.status, r.text.as_str()), (204, ""), "{r:?}");
    let r = v2
        .call(
            Method::GET,
            &format!("{inst}/subscription"),
            &[proxy_host, ("accept", V2)],
            None,
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json,
        lenient_json(
            r#"{
  "topics": [
    "test1",
    "test2"
  ]
}"#
        )?
    );
    let r = v2
        .call(
            Method::DELETE,
            &format!("{inst}/subscription"),
            &[proxy_host, ("accept", ACCEPT_ANY_V2)],
            None,
        )
        .await?;
    assert_eq!(r.status, 204, "{r:?}");
    let r = post_v2(
        format!("{inst}/subscription"),
        r#"{
  "topic_pattern": "test.*"
}"#,
    )
    .await?;
    assert_eq!(r.status, 204, "{r:?}");
    let r = v2.get(&format!("{inst}/subscription")).await?;
    assert_eq!(
        r.json,
        json!({"topics": ["test"]}),
        "the pattern matches topic test"
    );
    let r = v2.get(&format!("{inst}/assignments")).await?;
    assert_eq!(
        r.json["partitions"].as_array().map(Vec::len),
        Some(3),
        "the only member of its group reads every partition: {r:?}"
    );
    v2.call(Method::DELETE, &format!("{inst}/subscription"), &[], None)
        .await?;
    let partitions_body = r#"{
  "partitions": [
    {
      "topic": "test",
      "partition": 0
    },
    {
      "topic": "test",
      "partition": 1
    }

  ]
}"#;
    let r = post_v2(format!("{inst}/assignments"), partitions_body).await?;
    assert_eq!(r.status, 204, "{r:?}");
    let r = v2
        .call(
            Method::GET,
            &format!("{inst}/assignments"),
            &[proxy_host, ("accept", V2)],
            None,
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json, lenient_json(partitions_body)?);
    let r = post_v2(
        format!("{inst}/positions"),
        r#"{
  "offsets": [
    {
      "topic": "test",
      "partition": 0,
      "offset": 20
    },
    {
      "topic": "test",
      "partition": 1,
      "offset": 30
    }
  ]
}"#,
    )
    .await?;
    assert_eq!(r.status, 204, "{r:?}");
    for end in ["end", "beginning"] {
        let r = post_v2(format!("{inst}/positions/{end}"), partitions_body).await?;
        assert_eq!(r.status, 204, "{r:?}");
    }
    let r = v2
        .call(
            Method::GET,
            &format!("{inst}/records?timeout=3000&max_bytes=300000"),
            &[proxy_host, ("accept", BINARY)],
            None,
        )
        .await?;
    assert_eq!(
        (r.status, r.content_type.as_deref()),
        (200, Some(BINARY)),
        "{r:?}"
    );
    check_shape(
        "binary records",
        r#"[
  {
    "topic": "test",
    "key": "a2V5",
    "value": "Y29uZmx1ZW50",
    "partition": 1,
    "offset": 100,
  },
  {
    "topic": "test",
    "key": "a2V5",
    "value": "a2Fma2E=",
    "partition": 2,
    "offset": 101,
  }
]"#,
        &json!(r.json.as_array().map(|a| {
            a.iter()
                .filter(|r| !r["key"].is_null())
                .cloned()
                .collect::<Vec<_>>()
        })),
    )?;
    let mut got = r.json.as_array().cloned().unwrap_or_default();
    loop {
        let more = v2.records("testgroup", "my_consumer", BINARY, 200).await?;
        if more.is_empty() {
            break;
        }
        got.extend(more);
    }
    let hwms = node.api().high_watermarks("test").await?;
    assert_eq!(
        got.len() as i64,
        hwms[0] + hwms[1],
        "partitions 0 and 1 read whole: {got:?}"
    );
    let kafka = got
        .iter()
        .find(|r| r["value"] == json!("a2Fma2E=") && r["partition"] == json!(1))
        .cloned();
    assert!(
        kafka.is_some(),
        "the record produced to partition 1 is read: {got:?}"
    );
    assert!(got.iter().all(|r| r["topic"] == json!("test")));

    // Commit offsets 20 and 30; the group's committed offsets are 21 and 31.
    let r = post_v2(
        format!("{inst}/offsets"),
        r#"{
  "offsets": [
    {
      "topic": "test",
      "partition": 0,
      "offset": 20
    },
    {
      "topic": "test",
      "partition": 1,
      "offset": 30
    }
  ]
}"#,
    )
    .await?;
    assert_eq!((r.status, r.json.clone()), (200, json!([])), "{r:?}");
    let r = v2
        .call(
            Method::GET,
            &format!("{inst}/offsets"),
            &[proxy_host, ("accept", ACCEPT_ANY_V2)],
            Some(partitions_body),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json,
        lenient_json(
            r#"{"offsets":
 [
  {
    "topic": "test",
    "partition": 0,
    "offset": 21,
    "metadata":""
  },
  {
    "topic": "test",
    "partition": 1,
    "offset": 31,
    "metadata":""
  }
 ]
}"#
        )?
    );
    // The native API sees the same group offsets.
    let (s, native) = node.api().get("/v1/groups/testgroup/offsets").await?;
    assert_eq!(s, 200);
    assert_eq!(native["offsets"][1]["offset"], json!(31));

    let r = v2
        .call(
            Method::DELETE,
            inst,
            &[proxy_host, ("content-type", V2)],
            None,
        )
        .await?;
    assert_eq!((r.status, r.text.as_str()), (204, ""), "{r:?}");
    let r = v2.get(&format!("{inst}/assignments")).await?;
    assert_eq!((r.status, r.code()), (404, Some(40403)));

    // A JSON consumer reads the JSON records back as JSON.
    v2.create_consumer(
        "jsongroup",
        json!({"name": "my_json_consumer", "format": "json", "auto.offset.reset": "earliest"}),
    )
    .await?;
    v2.subscribe("jsongroup", "my_json_consumer", &["test"])
        .await?;
    let records = read_n(&v2, "jsongroup", "my_json_consumer", JSON, 10).await?;
    assert_eq!(records.len(), 10);
    check_shape(
        "json records",
        r#"[
  {
    "topic": "test",
    "key": "somekey",
    "value": {"foo":"bar"},
    "partition": 1,
    "offset": 10,
  }
]"#,
        &json!(
            records
                .iter()
                .filter(|r| r["key"] == json!("somekey"))
                .cloned()
                .collect::<Vec<_>>()
        ),
    )?;
    let values: Vec<&Value> = records.iter().map(|r| &r["value"]).collect();
    assert!(values.contains(&&json!({"foo": "bar"})));
    assert!(values.contains(&&json!(["foo", "bar"])));
    assert!(values.contains(&&json!(53.5)));
    Ok(())
}

#[tokio::test]
async fn two_instances_of_a_group_split_the_partitions_and_read_each_record_once()
-> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("orders", 4, json!({})).await?;
    let v2 = V2Client::new(&node.url());
    for name in ["a", "b"] {
        v2.create_consumer(
            "billing",
            json!({"name": name, "format": "json", "auto.offset.reset": "earliest", "auto.commit.enable": "true"}),
        )
        .await?;
        v2.subscribe("billing", name, &["orders"]).await?;
    }
    let mut owned = BTreeMap::new();
    for name in ["a", "b"] {
        let r = v2
            .get(&format!("/consumers/billing/instances/{name}/assignments"))
            .await?;
        let ps: Vec<u64> = r.json["partitions"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["partition"].as_u64()).collect())
            .unwrap_or_default();
        owned.insert(name, ps);
    }
    assert_eq!(owned["a"], [0, 1], "range assignment: {owned:?}");
    assert_eq!(owned["b"], [2, 3]);

    let records: Vec<Value> = (0..200)
        .map(|i| json!({"key": format!("customer-{}", i % 13), "value": {"n": i}}))
        .collect();
    for chunk in records.chunks(50) {
        let r = v2
            .call(
                Method::POST,
                "/topics/orders",
                &[("content-type", JSON)],
                Some(&json!({ "records": chunk }).to_string()),
            )
            .await?;
        assert_eq!(r.status, 200, "{r:?}");
    }
    // Both read in turns until every record came back.
    let mut seen: BTreeMap<i64, &str> = BTreeMap::new();
    let mut by_partition: BTreeMap<u64, &str> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < 200 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "read {} of 200",
            seen.len()
        );
        for name in ["a", "b"] {
            for r in v2.records("billing", name, JSON, 200).await? {
                let n = r["value"]["n"].as_i64().unwrap_or(-1);
                let p = r["partition"].as_u64().unwrap_or(99);
                assert!(seen.insert(n, name).is_none(), "record {n} read twice");
                assert_eq!(
                    *by_partition.entry(p).or_insert(name),
                    name,
                    "partition {p} read by both"
                );
            }
        }
    }
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        (0..200).collect::<Vec<_>>()
    );
    // Nothing more to read; auto-commit committed every position at the last fetch round.
    for name in ["a", "b"] {
        assert!(v2.records("billing", name, JSON, 100).await?.is_empty());
    }
    let (s, committed) = api.get("/v1/groups/billing/offsets").await?;
    assert_eq!(s, 200);
    let lag: i64 = committed["offsets"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["lag"].as_i64()).sum())
        .unwrap_or(-1);
    assert_eq!(lag, 0, "{committed}");

    // `b` leaves: `a` takes its partitions and, from the committed offsets, reads only new
    // records.
    let r = v2
        .call(Method::DELETE, "/consumers/billing/instances/b", &[], None)
        .await?;
    assert_eq!(r.status, 204);
    let r = v2
        .call(
            Method::POST,
            "/topics/orders",
            &[("content-type", JSON)],
            Some(&json!({"records": (200..240).map(|i| json!({"key": format!("customer-{i}"), "value": {"n": i}})).collect::<Vec<_>>()}).to_string()),
        )
        .await?;
    assert_eq!(r.status, 200);
    let more = read_n(&v2, "billing", "a", JSON, 40).await?;
    let ns: BTreeSet<i64> = more
        .iter()
        .filter_map(|r| r["value"]["n"].as_i64())
        .collect();
    assert_eq!(ns, (200..240).collect::<BTreeSet<_>>());
    Ok(())
}

#[tokio::test]
async fn a_silent_instance_times_out_and_the_group_rebalances_to_the_others() -> anyhow::Result<()>
{
    let node = Node::start(node_with("[consumers]\ninstance-timeout = \"5s\"\n")).await?;
    node.api().create_topic("t", 2, json!({})).await?;
    let v2 = V2Client::new(&node.url());
    for name in ["quiet", "busy"] {
        v2.create_consumer("g", json!({"name": name})).await?;
        v2.subscribe("g", name, &["t"]).await?;
    }
    let assigned = |v2: V2Client| async move {
        let r = v2
            .get("/consumers/g/instances/busy/assignments")
            .await
            .ok()?;
        r.json["partitions"].as_array().map(Vec::len)
    };
    assert_eq!(assigned(v2.clone()).await, Some(1));
    eventually(
        Duration::from_secs(60),
        "busy to own both partitions",
        || {
            let v2 = v2.clone();
            async move { (assigned(v2).await == Some(2)).then_some(()) }
        },
    )
    .await?;
    let r = v2.get("/consumers/g/instances/quiet/assignments").await?;
    assert_eq!((r.status, r.code()), (404, Some(40403)), "{r:?}");
    Ok(())
}

#[tokio::test]
async fn headers_and_timestamps_produced_natively_come_back_on_v2_fetches() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("events", 1, json!({})).await?;
    api.produce(
        "events",
        "all",
        &[
            json!({"key": "k", "value": {"a": 1}, "headers": {"source": "web", "trace": "t-1"}, "timestamp": 1_732_252_800_000i64}),
            json!({"key": "k2", "value": "plain", "headers": [{"key": "bin", "value_base64": "AP8="}], "timestamp": 1_732_252_800_001i64}),
        ],
    )
    .await?;
    // A v2 producer can send them too (an extension: Confluent's v3 header shape).
    let r = V2Client::new(&node.url())
        .call(
            Method::POST,
            "/topics/events",
            &[("content-type", JSON)],
            Some(r#"{"records": [{"key": "k3", "value": 3, "headers": [{"name": "h", "value": "aGk="}], "timestamp": 1732252800002}]}"#),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    let v2 = V2Client::new(&node.url());
    for (group, format, accept) in [("gj", "json", JSON), ("gb", "binary", BINARY)] {
        v2.create_consumer(
            group,
            json!({"name": "c", "format": format, "auto.offset.reset": "earliest"}),
        )
        .await?;
        v2.subscribe(group, "c", &["events"]).await?;
        let records = read_n(&v2, group, "c", accept, 3).await?;
        assert_eq!(records[0]["timestamp"], json!(1_732_252_800_000i64));
        assert_eq!(
            records[0]["headers"],
            json!([{"name": "source", "value": BASE64.encode("web")}, {"name": "trace", "value": BASE64.encode("t-1")}])
        );
        assert_eq!(
            records[1]["headers"],
            json!([{"name": "bin", "value": "AP8="}])
        );
        assert_eq!(records[1]["timestamp"], json!(1_732_252_800_001i64));
        assert_eq!(
            records[2]["headers"],
            json!([{"name": "h", "value": "aGk="}])
        );
        assert_eq!(records[2]["timestamp"], json!(1_732_252_800_002i64));
        if format == "json" {
            assert_eq!(records[0]["value"], json!({"a": 1}));
            assert_eq!(records[1]["value"], json!("plain"));
        } else {
            assert_eq!(records[1]["value"], json!(BASE64.encode("plain")));
        }
    }
    // Native and v2 producers put the same key bytes on the same partition: a native string
    // key is its contents (as a v2 binary key), a v2 JSON key its JSON text (with quotes).
    api.create_topic("keys", 8, json!({})).await?;
    for key in ["user-1", "user-2", "user-3", "order-99"] {
        let native = api
            .produce("keys", "all", &[json!({"key": key, "value": 1})])
            .await?;
        let native_quoted = api
            .produce(
                "keys",
                "all",
                &[json!({"key": format!("\"{key}\""), "value": 1})],
            )
            .await?;
        let r = v2
            .call(
                Method::POST,
                "/topics/keys",
                &[("content-type", BINARY)],
                Some(&json!({"records": [{"key": BASE64.encode(key), "value": null}]}).to_string()),
            )
            .await?;
        let j = v2
            .call(
                Method::POST,
                "/topics/keys",
                &[("content-type", JSON)],
                Some(&json!({"records": [{"key": key, "value": 2}]}).to_string()),
            )
            .await?;
        assert_eq!(
            r.json["offsets"][0]["partition"],
            json!(native[0].partition),
            "{key}"
        );
        assert_eq!(
            j.json["offsets"][0]["partition"],
            json!(native_quoted[0].partition),
            "{key}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn every_confluent_error_code_is_answered_where_it_applies() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("t", 2, json!({})).await?;
    api.create_topic(
        "small",
        1,
        json!({"max.message.bytes": 100, "cleanup.policy": "compact"}),
    )
    .await?;
    let v2 = V2Client::new(&node.url());
    let expect = |what: &str, r: &strata_tests::v2::Reply, status: u16, code: u64| {
        assert_eq!((r.status, r.code()), (status, Some(code)), "{what}: {r:?}");
        assert!(
            r.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {r:?}"
        );
    };
    // 40401, 40402.
    expect("unknown topic", &v2.get("/topics/nope").await?, 404, 40401);
    let produce = |path: &str, ct: &str, body: &str| {
        let (v2, path, ct, body) = (
            v2.clone(),
            path.to_string(),
            ct.to_string(),
            body.to_string(),
        );
        async move {
            v2.call(
                Method::POST,
                &path,
                &[("content-type", ct.as_str())],
                Some(&body),
            )
            .await
        }
    };
    expect(
        "produce to an unknown topic",
        &produce(
            "/topics/nope",
            BINARY,
            r#"{"records": [{"value": "AA=="}]}"#,
        )
        .await?,
        404,
        40401,
    );
    expect(
        "unknown partition",
        &v2.get("/topics/t/partitions/7").await?,
        404,
        40402,
    );
    expect(
        "produce to an unknown partition",
        &produce(
            "/topics/t/partitions/7",
            BINARY,
            r#"{"records": [{"value": "AA=="}]}"#,
        )
        .await?,
        404,
        40402,
    );
    // 40403.
    expect(
        "unknown instance",
        &v2.get("/consumers/g/instances/ghost/subscription").await?,
        404,
        40403,
    );
    // 40902, 40601, 40901, 40903.
    v2.create_consumer("g", json!({"name": "c", "format": "json"}))
        .await?;
    expect(
        "duplicate instance",
        &v2.post("/consumers/g", &json!({"name": "c"})).await?,
        409,
        40902,
    );
    let r = v2
        .call(
            Method::GET,
            "/consumers/g/instances/c/records",
            &[("accept", BINARY)],
            None,
        )
        .await?;
    expect("format mismatch", &r, 406, 40601);
    v2.subscribe("g", "c", &["t"]).await?;
    expect(
        "pattern after topics",
        &v2.post(
            "/consumers/g/instances/c/subscription",
            &json!({"topic_pattern": "t.*"}),
        )
        .await?,
        409,
        40901,
    );
    expect(
        "assign while subscribed",
        &v2.post(
            "/consumers/g/instances/c/assignments",
            &json!({"partitions": [{"topic": "t", "partition": 0}]}),
        )
        .await?,
        409,
        40903,
    );
    expect(
        "seek a partition not assigned",
        &v2.post(
            "/consumers/g/instances/c/positions",
            &json!({"offsets": [{"topic": "small", "partition": 0, "offset": 0}]}),
        )
        .await?,
        409,
        40903,
    );
    // 42201, 42202, 42205, 42206 (schema formats; Strata runs no Schema Registry).
    let avro = "application/vnd.kafka.avro.v2+json";
    expect(
        "keys without a key schema",
        &produce(
            "/topics/t",
            avro,
            r#"{"value_schema": "\"int\"", "records": [{"key": 1, "value": 2}]}"#,
        )
        .await?,
        422,
        42201,
    );
    expect(
        "values without a value schema",
        &produce("/topics/t", avro, r#"{"records": [{"value": 2}]}"#).await?,
        422,
        42202,
    );
    expect(
        "an invalid schema",
        &produce(
            "/topics/t",
            avro,
            r#"{"value_schema": "{not json", "records": [{"value": 2}]}"#,
        )
        .await?,
        422,
        42205,
    );
    expect(
        "a schema format",
        &produce(
            "/topics/t",
            avro,
            r#"{"value_schema": "{\"name\":\"int\",\"type\": \"int\"}", "records": [{"value": 12}]}"#,
        )
        .await?,
        422,
        42206,
    );
    expect(
        "an avro consumer",
        &v2.post("/consumers/g", &json!({"name": "avro", "format": "avro"}))
            .await?,
        422,
        42206,
    );
    // 42203, 42204, 40001.
    expect(
        "bad base64",
        &produce("/topics/t", BINARY, r#"{"records": [{"value": "!!"}]}"#).await?,
        422,
        42203,
    );
    expect(
        "bad auto.offset.reset",
        &v2.post(
            "/consumers/g",
            &json!({"name": "x", "auto.offset.reset": "bad-config"}),
        )
        .await?,
        422,
        42204,
    );
    expect(
        "fetch.min.bytes out of range",
        &v2.post(
            "/consumers/g",
            &json!({"name": "x", "fetch.min.bytes": "20000000"}),
        )
        .await?,
        422,
        40001,
    );
    // Per-record 50002: the records the topic refuses fail alone; the others are produced.
    let big = BASE64.encode(vec![7u8; 500]);
    let r = produce(
        "/topics/small",
        BINARY,
        &json!({"records": [
            {"key": "aw==", "value": "AA=="},
            {"key": "aw==", "value": big},
            {"value": "AA=="},
            {"key": "aw==", "value": "AQ==", "partition": 3},
        ]})
        .to_string(),
    )
    .await?;
    assert_eq!(r.status, 200, "{r:?}");
    let o = &r.json["offsets"];
    assert_eq!(o[0]["offset"], json!(0), "{r:?}");
    assert!(o[0]["error_code"].is_null());
    for i in 1..4 {
        assert_eq!(o[i]["error_code"], json!(50002), "{r:?}");
        assert!(
            o[i]["offset"].is_null() && o[i]["error"].is_string(),
            "{r:?}"
        );
    }
    assert_eq!(api.high_watermarks("small").await?, [1]);
    // Generic errors keep Confluent's statuses.
    let r = produce("/topics/t", BINARY, "{not json").await?;
    assert_eq!((r.status, r.code()), (400, Some(400)), "{r:?}");
    let r = produce(
        "/topics/t",
        BINARY,
        r#"{"records": [{"value": "AA==", "bogus": 1}]}"#,
    )
    .await?;
    assert_eq!((r.status, r.code()), (422, Some(422)), "{r:?}");
    assert!(r.text.contains("Unrecognized field"), "{r:?}");
    let r = produce("/topics/t", BINARY, r#"{"records": []}"#).await?;
    assert_eq!((r.status, r.code()), (422, Some(422)), "{r:?}");
    let r = produce("/topics/t", "text/plain", r#"{"records": []}"#).await?;
    assert_eq!(r.status, 415, "{r:?}");
    let r = v2
        .call(Method::GET, "/topics", &[("accept", "text/html")], None)
        .await?;
    assert_eq!(r.status, 406, "{r:?}");
    let r = v2.call(Method::GET, "/", &[], None).await?;
    assert_eq!((r.status, r.json.clone()), (200, json!({})));
    Ok(())
}

/// What a binary consumer instance reads of `topic` from the beginning: (key, value, partition)
/// as raw bytes.
async fn read_binary(
    v2: &V2Client,
    group: &str,
    topic: &str,
    n: usize,
) -> anyhow::Result<Vec<(Option<Vec<u8>>, Option<Vec<u8>>, u64)>> {
    v2.create_consumer(
        group,
        json!({"name": "b", "format": "binary", "auto.offset.reset": "earliest"}),
    )
    .await?;
    v2.subscribe(group, "b", &[topic]).await?;
    let decode = |v: &Value| v.as_str().map(|s| BASE64.decode(s).unwrap_or_default());
    Ok(read_n(v2, group, "b", BINARY, n)
        .await?
        .iter()
        .map(|r| {
            (
                decode(&r["key"]),
                decode(&r["value"]),
                r["partition"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect())
}

#[tokio::test]
async fn json_keys_and_values_are_stored_as_confluent_stores_them() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("jb", 4, json!({})).await?;
    let v2 = V2Client::new(&node.url());
    // The issue's case: Confluent stores the JSON text, so the key "k1" keeps its quotes.
    let r = v2
        .call(
            Method::POST,
            "/topics/jb",
            &[("content-type", JSON), ("accept", V2)],
            Some(r#"{"records":[{"key":"k1","value":"hello"},{"key": {"a": 1, "b": [1, 2.50]}, "value": null},{"value": 7}]}"#),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    let json_partition = r.json["offsets"][0]["partition"].as_u64();
    // The same key bytes produced as binary land on the same partition (murmur2 of `"k1"`).
    let r = v2
        .call(
            Method::POST,
            "/topics/jb",
            &[("content-type", BINARY), ("accept", V2)],
            Some(
                &json!({"records": [{"key": BASE64.encode(b"\"k1\""), "value": "AA=="}]})
                    .to_string(),
            ),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["offsets"][0]["partition"].as_u64(), json_partition);

    let got = read_binary(&v2, "jb-binary", "jb", 4).await?;
    let first = got
        .iter()
        .find(|(_, v, _)| v.as_deref() == Some(&b"\"hello\""[..]))
        .cloned();
    assert_eq!(
        first,
        Some((
            Some(b"\"k1\"".to_vec()),
            Some(b"\"hello\"".to_vec()),
            json_partition.unwrap_or(0)
        )),
        "{got:?}"
    );
    // Confluent's binary consumer gives key ImsxIg== for it.
    assert_eq!(BASE64.encode(b"\"k1\""), "ImsxIg==");
    let keys: BTreeSet<Option<Vec<u8>>> = got.iter().map(|(k, _, _)| k.clone()).collect();
    assert!(
        keys.contains(&Some(br#"{"a":1,"b":[1,2.50]}"#.to_vec())),
        "JSON text is stored compact, key order and numbers as sent: {got:?}"
    );
    let values: BTreeSet<Option<Vec<u8>>> = got.iter().map(|(_, v, _)| v.clone()).collect();
    assert!(values.contains(&None), "null is no value: {got:?}");
    assert!(values.contains(&Some(b"7".to_vec())), "{got:?}");

    // A JSON consumer reads them back as the JSON that was sent.
    v2.create_consumer(
        "jb-json",
        json!({"name": "j", "format": "json", "auto.offset.reset": "earliest"}),
    )
    .await?;
    v2.subscribe("jb-json", "j", &["jb"]).await?;
    let records = read_n(&v2, "jb-json", "j", JSON, 4).await?;
    let hello = records.iter().find(|r| r["value"] == json!("hello"));
    assert_eq!(
        hello.map(|r| r["key"].clone()),
        Some(json!("k1")),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["key"] == json!({"a": 1, "b": [1, 2.5]}) && r["value"].is_null()),
        "{records:?}"
    );
    Ok(())
}

/// The requests Confluent's Node.js client (npm `kafka-rest` 0.0.5, API v1) sends, with its
/// exact headers and bodies, as its examples `console_producer.js` and
/// `console_consumer.js --format binary` drive it.
#[tokio::test]
async fn the_v1_node_client_produces_joins_reads_commits_and_leaves_unchanged() -> anyhow::Result<()>
{
    const ACCEPT_V1: &str =
        "application/vnd.kafka.v1+json, application/vnd.kafka+json; q=0.9, application/json; q=0.8";
    const V1: &str = "application/vnd.kafka.v1+json";
    const UA: &str = "kafka-rest-node/undefined";
    let node = Node::start(NodeOptions::default()).await?;
    node.api().create_topic("lines", 2, json!({})).await?;
    let v2 = V2Client::new(&node.url());
    let v1_post = |path: String, body: Option<String>| {
        let v2 = v2.clone();
        async move {
            v2.call(
                Method::POST,
                &path,
                &[
                    ("user-agent", UA),
                    ("accept", ACCEPT_V1),
                    ("content-type", V1),
                ],
                body.as_deref(),
            )
            .await
        }
    };
    // console_producer.js --format binary: Topic.produce(line) per line, binary as base64,
    // `partition: null` in every record.
    let mut sent = Vec::new();
    for i in 0..6 {
        let line = format!("line {i}");
        let body =
            json!({"records": [{"value": BASE64.encode(&line), "key": null, "partition": null}]});
        let r = v1_post("/topics/lines".into(), Some(body.to_string())).await?;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.content_type.as_deref(), Some(V1), "{r:?}");
        assert!(r.json["offsets"][0]["offset"].is_u64(), "{r:?}");
        sent.push(line);
    }
    // --partition 1: Partition.produce, no partition field at all.
    let body = json!({"records": [{"value": BASE64.encode("line p1"), "key": BASE64.encode("k")}]});
    let r = v1_post("/topics/lines/partitions/1".into(), Some(body.to_string())).await?;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["offsets"][0]["partition"], json!(1), "{r:?}");
    sent.push("line p1".into());

    // console_consumer.js --format binary --from-beginning: join, then read the topic
    // through the v1 route with the binary v1 type until every line came back.
    let r = v1_post(
        "/consumers/console-consumer-4242".into(),
        Some(json!({"format": "binary", "auto.offset.reset": "smallest"}).to_string()),
    )
    .await?;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.content_type.as_deref(), Some(V1), "{r:?}");
    let base_uri = r.json["base_uri"].as_str().unwrap_or_default().to_string();
    let path = base_uri
        .strip_prefix(&node.url())
        .ok_or_else(|| anyhow::anyhow!("base_uri {base_uri} is not on {}", node.url()))?
        .to_string();
    assert!(
        path.starts_with("/consumers/console-consumer-4242/instances/"),
        "{path}"
    );
    let mut got: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while got.len() < sent.len() {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "read {got:?}");
        let r = v2
            .call(
                Method::GET,
                &format!("{path}/topics/lines"),
                &[
                    ("user-agent", UA),
                    ("accept", "application/vnd.kafka.binary.v1+json"),
                ],
                None,
            )
            .await?;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/vnd.kafka.binary.v1+json")
        );
        for m in r.json.as_array().cloned().unwrap_or_default() {
            // BinarySchema.decodeMessage reads key, value, partition and offset.
            assert!(m["partition"].is_u64() && m["offset"].is_u64(), "{m}");
            let value = BASE64.decode(m["value"].as_str().unwrap_or_default())?;
            got.push(String::from_utf8(value)?);
        }
    }
    got.sort();
    sent.sort();
    assert_eq!(got, sent);
    // ConsumerInstance.commit: POST .../offsets with no body.
    let r = v1_post(format!("{path}/offsets"), None).await?;
    assert_eq!(r.status, 200, "{r:?}");
    let committed = node
        .api()
        .get("/v1/groups/console-consumer-4242/offsets")
        .await?;
    assert_eq!(committed.0, 200, "{committed:?}");
    let total: i64 = committed.1["offsets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|o| o["offset"].as_i64())
        .sum();
    assert_eq!(total, 7, "every record is committed: {committed:?}");
    // shutdown: DELETE the instance.
    let r = v2
        .call(
            Method::DELETE,
            &path,
            &[("user-agent", UA), ("accept", ACCEPT_V1)],
            None,
        )
        .await?;
    assert_eq!(r.status, 204, "{r:?}");
    // A v1 read of a topic that does not exist is Confluent's 40401.
    let r = v1_post(
        "/consumers/other".into(),
        Some(json!({"format": "binary"}).to_string()),
    )
    .await?;
    let inst = r.json["instance_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let r = v2
        .call(
            Method::GET,
            &format!("/consumers/other/instances/{inst}/topics/nope"),
            &[("accept", "application/vnd.kafka.binary.v1+json")],
            None,
        )
        .await?;
    assert_eq!((r.status, r.code()), (404, Some(40401)), "{r:?}");
    Ok(())
}

/// Sends raw bytes on a fresh connection and returns what came back until the server closed
/// it (or 10 s passed).
async fn raw_exchange(url: &str, request: &[u8]) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    // The server may answer and close before it read everything (an over-long head).
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The status line and the JSON body of a raw response.
fn raw_reply(text: &str) -> (String, Option<Value>) {
    let status = text.lines().next().unwrap_or_default().to_string();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    (status, serde_json::from_str(body).ok())
}

#[tokio::test]
async fn malformed_requests_are_refused_strictly_with_json_errors() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("ok", 1, json!({})).await?;
    // serde takes a JSON array for a struct; we never do.
    for body in [
        r#"{"records": [["k2", null, {"a": 1}]]}"#,
        r#"[[["k1", null, "v1"]]]"#,
        r#"{"records": [{"value": "v", "headers": [["h", "x"]]}]}"#,
    ] {
        let (status, v, _) = api
            .send(
                Method::POST,
                "/v1/topics/ok/records",
                Some("application/json"),
                Some(body.to_string()),
            )
            .await?;
        assert_eq!(status, 400, "{body}: {v}");
        assert!(v["error_code"].is_u64() && v["message"].is_string(), "{v}");
    }
    assert_eq!(api.high_watermarks("ok").await?, [0], "nothing was stored");
    let (status, v) = api.post("/v1/topics", &json!(["name", 2])).await?;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        api.get("/v1/topics/name").await?.0,
        404,
        "no topic was created"
    );
    let v2 = V2Client::new(&node.url());
    let r = v2
        .post("/topics/ok", &json!([[BASE64.encode("k"), null]]))
        .await?;
    assert_eq!(r.status, 400, "{r:?}");
    let r = v2.post("/consumers/g", &json!(["name", "binary"])).await?;
    assert_eq!(r.status, 400, "{r:?}");

    // A path segment that is not UTF-8.
    for (method, path) in [
        (Method::GET, "/v1/topics/%FF"),
        (Method::POST, "/consumers/%FF"),
        (Method::GET, "/topics/%FF/partitions/0"),
    ] {
        let r = v2
            .call(
                method,
                path,
                &[("content-type", V2), ("accept", V2)],
                Some("{}"),
            )
            .await?;
        assert_eq!(r.status, 400, "{path}: {r:?}");
        assert!(
            r.code().is_some() && r.json["message"].is_string(),
            "{path}: {r:?}"
        );
    }
    // A query parameter of the wrong type.
    let r = v2
        .call(
            Method::GET,
            "/v1/topics/ok/partitions/0/records?offset=x",
            &[],
            None,
        )
        .await?;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.code().is_some(), "{r:?}");

    // `.` and `..` as group or instance names: their base_uri would leave /consumers/.
    // (Sent raw: an HTTP client library resolves dot segments before sending.)
    for group in [".", "..", "%2E", "%2e%2E"] {
        let text = raw_exchange(
            &node.url(),
            format!(
                "POST /consumers/{group} HTTP/1.1\r\nhost: x\r\ncontent-type: {V2}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
            )
            .as_bytes(),
        )
        .await?;
        let (line, body) = raw_reply(&text);
        assert!(line.starts_with("HTTP/1.1 422"), "{group}: {text}");
        assert!(
            body.is_some_and(|b| b["error_code"].is_u64()),
            "{group}: {text}"
        );
    }
    let r = v2.post("/consumers/fine", &json!({"name": ".."})).await?;
    assert_eq!(r.status, 422, "{r:?}");

    // Committing the largest offset has no next offset: refused as too large, not wrapped.
    let inst = v2.create_consumer("c", json!({"name": "i"})).await?.json["base_uri"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let path = inst
        .strip_prefix(&node.url())
        .unwrap_or_default()
        .to_string();
    let r = v2
        .post(
            &format!("{path}/offsets"),
            &json!({"offsets": [{"topic": "ok", "partition": 0, "offset": i64::MAX}]}),
        )
        .await?;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.text.contains("too large"), "{r:?}");
    assert!(!r.text.contains("-9223372036854775808"), "{r:?}");

    // Transport-level refusals carry the JSON body too.
    let url = node.url();
    let huge_header = format!(
        "GET /v1/topics HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(600 << 10)
    );
    let long_uri = format!(
        "GET /v1/topics/{} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let many_headers = format!(
        "GET /v1/topics HTTP/1.1\r\nhost: x\r\n{}\r\n",
        (0..200)
            .map(|i| format!("x-h{i}: v\r\n"))
            .collect::<String>()
    );
    for (what, request, status) in [
        ("a 600 KiB header", huge_header.as_bytes(), "431"),
        ("a 70 kB URI", long_uri.as_bytes(), "414"),
        ("200 headers", many_headers.as_bytes(), "431"),
        ("a bad request line", &b"HELLO\r\n\r\n"[..], "400"),
        (
            "a bad header line",
            &b"GET / HTTP/1.1\r\nno colon here\r\n\r\n"[..],
            "400",
        ),
    ] {
        let text = raw_exchange(&url, request).await?;
        let (line, body) = raw_reply(&text);
        assert!(
            line.starts_with(&format!("HTTP/1.1 {status}")),
            "{what}: {text}"
        );
        let body = body.ok_or_else(|| anyhow::anyhow!("{what}: no JSON body in {text:?}"))?;
        assert!(
            body["error_code"].is_u64() && body["message"].is_string(),
            "{what}: {body}"
        );
    }
    // The node still serves.
    assert_eq!(api.get("/v1/topics/ok").await?.0, 200);
    Ok(())
}

/// Runs a Node.js program with `stdin`; its exit status and standard output.
async fn node_js(
    dir: &std::path::Path,
    args: &[&str],
    stdin: &str,
) -> anyhow::Result<(bool, String)> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("node")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(stdin.as_bytes()).await?;
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("node {args:?} did not finish in 60 s"))??;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// Confluent's own Node.js client (npm `kafka-rest` 0.0.5, hard-wired to API v1) with its two
/// shipped examples, unchanged. `scripts/test` installs it where Node.js is on the machine and
/// says so in `STRATA_NODE_CLIENTS`; without it this test says it did not run.
#[tokio::test]
async fn confluents_nodejs_client_examples_run_unchanged() -> anyhow::Result<()> {
    let Ok(dir) = std::env::var("STRATA_NODE_CLIENTS") else {
        eprintln!(
            "STRATA_NODE_CLIENTS is not set (no Node.js): the npm kafka-rest client was not run"
        );
        return Ok(());
    };
    let examples = std::path::Path::new(&dir).join("node_modules/kafka-rest/examples");
    anyhow::ensure!(examples.is_dir(), "{} is missing", examples.display());
    let node = Node::start(NodeOptions::default()).await?;
    node.api().create_topic("from-node", 3, json!({})).await?;
    let url = node.url();
    let lines: Vec<String> = (0..20).map(|i| format!("line {i} from node")).collect();
    let (ok, out) = node_js(
        &examples,
        &[
            "console_producer.js",
            "--url",
            &url,
            "--topic",
            "from-node",
            "--format",
            "binary",
        ],
        &(lines.join("\n") + "\n"),
    )
    .await?;
    assert!(ok && out.contains("Finished sending 20 messages"), "{out}");
    let (ok, out) = node_js(
        &examples,
        &[
            "console_consumer.js",
            "--url",
            &url,
            "--topic",
            "from-node",
            "--format",
            "binary",
            "--from-beginning",
            "--message-limit",
            "20",
        ],
        "",
    )
    .await?;
    assert!(ok && out.contains("Shutdown cleanly"), "{out}");
    let got: BTreeSet<&str> = out.lines().filter(|l| l.starts_with("line ")).collect();
    let want: BTreeSet<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(got, want, "{out}");
    // The instance was deleted when the consumer shut down: its group's offsets stay.
    let (_, groups) = node.api().get("/v1/groups").await?;
    assert!(groups.to_string().contains("console-consumer-"), "{groups}");
    Ok(())
}
