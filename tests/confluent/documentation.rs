//! The request and response examples of Confluent's v2 API reference, replayed with their exact headers and bodies.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use strata_tests::v2::{V2, V2Client, lenient_json};
use strata_tests::{Node, NodeOptions};

use super::{ACCEPT_ANY_V2, BINARY, JSON, check_shape, read_n};

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
    // The documentation's offsets body, sent to both positions and offsets.
    let offsets_body = r#"{
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
}"#;
    let r = post_v2(format!("{inst}/positions"), offsets_body).await?;
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
    let r = post_v2(format!("{inst}/offsets"), offsets_body).await?;
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
