use super::*;
use strata_core::ids::{NodeId, Offset, PartitionId};
use strata_core::meta::{GroupLag, QuorumRole, TierUsage};

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{series} missing from\n{text}"))
}

#[test]
fn cost_follows_requests_and_stored_bytes_at_the_configured_prices() {
    let m = Metrics::with_prices(Prices {
        put_per_1000: 5.0,
        get_per_1000: 0.4,
        storage_gib_month: 730.0,
    });
    for _ in 0..200 {
        m.store_requests.with_label_values(&["put"]).inc();
    }
    for _ in 0..1000 {
        m.store_requests.with_label_values(&["get_range"]).inc();
    }
    for _ in 0..50 {
        m.store_requests.with_label_values(&["delete"]).inc();
    }
    let usage = ClusterUsage {
        tiers: vec![
            TierUsage {
                tier: "flush".into(),
                objects: 2,
                bytes: 1 << 30,
            },
            TierUsage {
                tier: "archive".into(),
                objects: 1,
                bytes: 1 << 30,
            },
        ],
        lag: vec![GroupLag {
            group: "g".into(),
            topic: "t".into(),
            partition: PartitionId(3),
            committed: Offset(10),
            high_watermark: Offset(25),
            lag: 15,
        }],
    };
    let leader = QuorumStatus {
        node: NodeId(1),
        leader: Some(NodeId(1)),
        term: 4,
        applied_index: 9,
        voters: vec![NodeId(1)],
        role: QuorumRole::Leader,
        commit_index: 10,
        last_log_index: 11,
        ..Default::default()
    };
    let read = ReadStats::default();
    let text = m.render(&Sources {
        ingest: None,
        read: &read,
        compactor: None,
        archiver: None,
        quorum: Some(&leader),
        usage: Some(&usage),
        receiving: 0,
    });
    // 200 PUTs at $5/1000 + 1000 GETs at $0.4/1000; DELETEs free.
    let cost = value(&text, "strata_object_store_request_cost_dollars_total");
    assert!((cost - 1.4).abs() < 1e-9, "{cost}");
    // 2 GiB at $730 per GiB-month = $2 per hour.
    let storage = value(
        &text,
        "strata_object_store_cost_dollars_per_hour{kind=\"storage\"}",
    );
    assert!((storage - 2.0).abs() < 1e-9, "{storage}");
    assert!(
        value(
            &text,
            "strata_object_store_cost_dollars_per_hour{kind=\"requests\"}"
        ) > 0.0
    );
    assert_eq!(
        value(&text, "strata_stored_bytes{tier=\"archive\"}"),
        (1u64 << 30) as f64
    );
    assert_eq!(
        value(
            &text,
            "strata_consumer_group_lag_records{group=\"g\",partition=\"3\",topic=\"t\"}"
        ),
        15.0
    );
    assert_eq!(value(&text, "strata_quorum_role{role=\"leader\"}"), 1.0);
    assert_eq!(value(&text, "strata_quorum_role{role=\"follower\"}"), 0.0);
    assert_eq!(value(&text, "strata_quorum_commit_index"), 10.0);

    // A follower exports no cluster-wide figures: sums over nodes count them once.
    let follower = QuorumStatus {
        role: QuorumRole::Follower,
        ..leader
    };
    let text = m.render(&Sources {
        ingest: None,
        read: &read,
        compactor: None,
        archiver: None,
        quorum: Some(&follower),
        usage: None,
        receiving: 0,
    });
    assert!(!text.contains("strata_stored_bytes{"), "{text}");
    assert!(
        !text.contains("strata_consumer_group_lag_records{"),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "strata_object_store_cost_dollars_per_hour{kind=\"storage\"}"
        ),
        0.0
    );
    assert_eq!(value(&text, "strata_quorum_role{role=\"follower\"}"), 1.0);
}

#[test]
fn the_grafana_dashboard_uses_only_exported_metrics() {
    let m = Metrics::new();
    m.http_requests.with_label_values(&["produce", "503"]).inc();
    m.produce_latency.with_label_values(&["all"]).observe(0.01);
    m.store_requests.with_label_values(&["put"]).inc();
    m.store_errors.with_label_values(&["put"]).inc();
    let usage = ClusterUsage {
        tiers: vec![TierUsage {
            tier: "flush".into(),
            objects: 1,
            bytes: 1,
        }],
        lag: vec![GroupLag {
            group: "g".into(),
            topic: "t".into(),
            partition: PartitionId(0),
            committed: Offset(0),
            high_watermark: Offset(1),
            lag: 1,
        }],
    };
    let quorum = QuorumStatus {
        node: NodeId(1),
        leader: Some(NodeId(1)),
        term: 1,
        applied_index: 1,
        voters: vec![NodeId(1)],
        role: QuorumRole::Leader,
        commit_index: 1,
        last_log_index: 1,
        ..Default::default()
    };
    let ingest = IngestStats::default();
    let compactor = CompactorStats::default();
    let archiver = ArchiverStats::default();
    let text = m.render(&Sources {
        ingest: Some(&ingest),
        read: &ReadStats::default(),
        compactor: Some(&compactor),
        archiver: Some(&archiver),
        quorum: Some(&quorum),
        usage: Some(&usage),
        receiving: 0,
    });
    let exported: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .collect();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ops/grafana/strata.json");
    let dashboard = std::fs::read_to_string(path).expect("the dashboard is in the repo");
    let json: serde_json::Value = serde_json::from_str(&dashboard).expect("valid JSON");
    let mut used = 0;
    for panel in json["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("expr");
            for (i, _) in expr.match_indices("strata_") {
                let name: String = expr[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let family = ["_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(&name);
                assert!(
                    exported.contains(family),
                    "panel {:?} uses {name}, which the node does not export",
                    panel["title"]
                );
                used += 1;
            }
        }
    }
    assert!(used > 20, "the dashboard has queries ({used})");
}
