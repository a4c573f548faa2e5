//! The `strata` command line against a real node.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use strata_tests::{Node, NodeOptions};

#[tokio::test]
async fn the_command_line_creates_produces_consumes_and_commits() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let (ok, out, err) = node
        .cli(
            &[
                "topic",
                "create",
                "cli",
                "--partitions",
                "2",
                "--config",
                "retention.ms=1000",
                "--json",
            ],
            None,
        )
        .await?;
    assert!(ok, "{err}");
    let created: Value = serde_json::from_str(&out)?;
    assert_eq!(created["config"]["retention.ms"], json!("1000"), "{out}");
    let (code, _, err) = node.cli_bytes(&["topic", "create", "cli"], None).await?;
    assert_eq!(code, Some(5), "exists: {err}");
    let (code, _, err) = node
        .cli_bytes(&["topic", "create", "cli", "--if-not-exists"], None)
        .await?;
    assert_eq!(code, Some(0), "{err}");

    let lines: String = (0..25).map(|i| format!("line {i}\n")).collect();
    let (ok, out, err) = node
        .cli(
            &["produce", "cli", "--key", "same", "--batch", "10", "--json"],
            Some(&lines),
        )
        .await?;
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out)?;
    assert_eq!(report["records"], json!(25), "{out}");
    let hwms = node.api().high_watermarks("cli").await?;
    let p = hwms
        .iter()
        .position(|h| *h == 25)
        .expect("one key, one partition")
        .to_string();
    assert_eq!(
        report["partitions"],
        json!([{"partition": p.parse::<u32>()?, "records": 25, "first_offset": 0, "last_offset": 24}])
    );
    let (ok, out, err) = node
        .cli(
            &["consume", "cli", "--partition", &p, "--offset", "earliest"],
            None,
        )
        .await?;
    assert!(ok, "{err}");
    let got: Vec<Value> = out
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(got.len(), 25);
    assert_eq!(got[24]["value"], json!("line 24"));
    // Every partition by default; the last N of each; a start time after everything.
    let (ok, out, _) = node.cli(&["consume", "cli"], None).await?;
    assert!(ok && out.lines().count() == 25, "{out}");
    let (ok, out, _) = node
        .cli(
            &["consume", "cli", "--offset", "-3", "--format", "raw"],
            None,
        )
        .await?;
    assert!(ok);
    assert_eq!(out, "line 22\nline 23\nline 24\n");
    let (ok, out, _) = node
        .cli(&["consume", "cli", "-n", "2", "--format", "raw"], None)
        .await?;
    assert!(ok);
    assert_eq!(out, "line 0\nline 1\n");
    let (ok, out, _) = node
        .cli(&["consume", "cli", "--from-time", "4102444800000"], None)
        .await?;
    assert!(ok && out.is_empty(), "{out}");

    let (ok, out, _) = node.cli(&["topic", "list"], None).await?;
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("cli "))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(ok && row[..3] == ["cli", "2", "25"], "{out}");
    let (ok, out, _) = node.cli(&["topic", "describe", "cli"], None).await?;
    assert!(
        ok && out.contains("HIGH-WATERMARK") && out.contains("retention.ms"),
        "{out}"
    );
    let (ok, _, err) = node
        .cli(&["topic", "alter", "cli", "-c", "retention.ms=2000"], None)
        .await?;
    assert!(ok && err.contains("retention.ms = 2000"), "{err}");

    let (ok, _, err) = node
        .cli(
            &[
                "group",
                "commit",
                "g",
                "--topic",
                "cli",
                "--partition",
                &p,
                "--offset",
                "20",
            ],
            None,
        )
        .await?;
    assert!(ok, "{err}");
    let (ok, out, _) = node.cli(&["group", "offsets", "g", "--json"], None).await?;
    let offsets: Value = serde_json::from_str(&out)?;
    assert!(ok && offsets["offsets"][0]["lag"] == json!(5), "{out}");
    let (ok, out, _) = node.cli(&["group", "list"], None).await?;
    assert!(
        ok && out
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["g", "1", "5"]),
        "{out}"
    );
    let (ok, out, _) = node.cli(&["cluster", "status"], None).await?;
    assert!(
        ok && out.contains("leader 1") && out.contains("VOTER"),
        "{out}"
    );

    // Exit codes scripts rely on.
    let (code, _, err) = node
        .cli_bytes(&["produce", "missing", "--value", "x"], None)
        .await?;
    assert!(code == Some(3) && err.contains("does not exist"), "{err}");
    let (code, _, _) = node
        .cli_bytes(&["consume", "cli", "--partition", "7"], None)
        .await?;
    assert_eq!(code, Some(3));
    let (code, _, _) = node.cli_bytes(&["topic", "frobnicate"], None).await?;
    assert_eq!(code, Some(2));
    let closed = format!("http://127.0.0.1:{}", strata_tests::free_port());
    let (code, _, err) = node
        .cli_bytes(&["topic", "list", "--url", &closed], None)
        .await?;
    assert!(code == Some(4) && err.contains("cannot reach"), "{err}");
    let (ok, _, _) = node.cli(&["topic", "delete", "cli"], None).await?;
    assert!(ok);
    let (code, _, _) = node.cli_bytes(&["topic", "describe", "cli"], None).await?;
    assert_eq!(code, Some(3));
    let (code, _, _) = node
        .cli_bytes(&["topic", "delete", "cli", "--if-exists"], None)
        .await?;
    assert_eq!(code, Some(0));
    let (ok, out, _) = node.cli(&["completions", "bash"], None).await?;
    assert!(
        ok && out.contains("_strata()"),
        "{}",
        &out[..out.len().min(200)]
    );
    Ok(())
}

#[tokio::test]
async fn a_file_produced_with_the_cli_consumes_back_byte_for_byte() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("plain", 1, json!({})).await?;
    api.create_topic("keyed", 1, json!({})).await?;
    let dir = tempfile::tempdir()?;
    // Values only: text, JSON, empty lines, a CRLF line, bytes that are not UTF-8, and a
    // line long enough to span buffers; 3,000 lines so requests are batched.
    let mut plain: Vec<u8> = Vec::new();
    for i in 0..3000 {
        match i % 7 {
            0 => plain
                .extend_from_slice(format!("{{\"n\": {i}, \"name\": \"caf\u{e9}\"}}").as_bytes()),
            1 => {}
            2 => plain.extend_from_slice(b"windows line\r"),
            3 => plain.extend_from_slice(&[0xff, 0xfe, b'x', 0x00, 0x80]),
            4 => plain.extend_from_slice(&vec![b'z'; 70_000]),
            _ => plain.extend_from_slice(format!("  plain text {i}\t").as_bytes()),
        }
        plain.push(b'\n');
    }
    let file = dir.path().join("plain.txt");
    std::fs::write(&file, &plain)?;
    let path = file.to_string_lossy().to_string();
    let (code, _, err) = node
        .cli_bytes(
            &["produce", "plain", "--file", &path, "--batch", "500"],
            None,
        )
        .await?;
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = node
        .cli_bytes(&["consume", "plain", "--format", "raw"], None)
        .await?;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out == plain,
        "{} bytes back for {} sent",
        out.len(),
        plain.len()
    );

    // Keys and values split at a tab, both ways.
    let mut keyed: Vec<u8> = Vec::new();
    for i in 0..500 {
        keyed.extend_from_slice(format!("user-{}\t{{\"i\": {i}}}\n", i % 13).as_bytes());
    }
    let file = dir.path().join("keyed.tsv");
    std::fs::write(&file, &keyed)?;
    let path = file.to_string_lossy().to_string();
    let (code, _, err) = node
        .cli_bytes(
            &["produce", "keyed", "-f", &path, "--key-separator", "\\t"],
            None,
        )
        .await?;
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = node
        .cli_bytes(
            &[
                "consume",
                "keyed",
                "--format",
                "raw",
                "--key-separator",
                "\\t",
            ],
            None,
        )
        .await?;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out == keyed,
        "{}",
        String::from_utf8_lossy(&out[..out.len().min(300)])
    );
    let (_, out, _) = node.cli(&["consume", "keyed", "-n", "1"], None).await?;
    let first: Value = serde_json::from_str(out.trim())?;
    assert_eq!(
        (first["key"].clone(), first["value"].clone()),
        (json!("user-0"), json!({"i": 0}))
    );
    Ok(())
}

#[tokio::test]
async fn a_pipelined_cli_load_keeps_every_partitions_input_order() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    let api = node.api();
    api.create_topic("lanes", 5, json!({})).await?;
    // NDJSON: keyed, keyless, an explicit partition and a `"partition": null`; small requests
    // and 3 lanes over 5 partitions, so many requests are in flight at once.
    let mut lines = String::new();
    for i in 0..3000 {
        let line = match i % 4 {
            0 => json!({"key": format!("k{}", i % 37), "value": {"n": i}}),
            1 => json!({"value": {"n": i}}),
            2 => json!({"value": {"n": i}, "partition": i % 5}),
            _ => json!({"value": {"n": i}, "partition": null}),
        };
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("lanes.ndjson");
    std::fs::write(&file, &lines)?;
    let path = file.to_string_lossy().to_string();
    let (code, _, err) = node
        .cli_bytes(
            &[
                "produce",
                "lanes",
                "-f",
                &path,
                "--ndjson",
                "--batch",
                "40",
                "--in-flight",
                "3",
            ],
            None,
        )
        .await?;
    assert_eq!(code, Some(0), "{err}");
    let mut seen = BTreeSet::new();
    for p in 0..5 {
        let records = api.fetch_all("lanes", p, "json").await?;
        let ns: Vec<i64> = records
            .iter()
            .filter_map(|r| r["value"]["n"].as_i64())
            .collect();
        assert!(
            ns.windows(2).all(|w| w[0] < w[1]),
            "partition {p} is out of input order: {ns:?}"
        );
        for n in ns {
            assert!(seen.insert(n), "{n} stored twice");
        }
    }
    assert_eq!(seen.len(), 3000, "every line stored once");
    // A refused line stops the load and says where.
    std::fs::write(&file, "{\"value\": 1}\n{\"value\": 2, \"bogus\": true}\n")?;
    let (code, _, err) = node
        .cli_bytes(&["produce", "lanes", "-f", &path, "--ndjson"], None)
        .await?;
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("input line 1") && err.contains("bogus"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn the_cli_and_the_log_read_well_for_people() -> anyhow::Result<()> {
    let node = Node::start(NodeOptions::default()).await?;
    // `--help` opens with what Strata is, not the crate's internal description.
    let (ok, out, _) = node.cli(&["--help"], None).await?;
    assert!(ok, "{out}");
    assert_eq!(
        out.lines().next(),
        Some("Strata: event streams whose durable home is object storage"),
        "{out}"
    );
    let (ok, _, err) = node
        .cli(&["topic", "create", "one", "--partitions", "1"], None)
        .await?;
    assert!(
        ok && err.contains("with 1 partition") && !err.contains("1 partitions"),
        "{err}"
    );
    let (ok, _, err) = node.cli(&["produce", "one", "--value", "v"], None).await?;
    assert!(
        ok && err.contains("produced 1 record ") && !err.contains("1 records"),
        "{err}"
    );
    let (ok, out, _) = node.cli(&["topic", "describe", "one"], None).await?;
    assert!(ok && out.contains("1 (zstd level)"), "{out}");
    let (status, v) = node.api().get("/no/such/route").await?;
    assert_eq!(status, 404);
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("docs/api.md")),
        "{v}"
    );
    // The node's log goes to a file here: no colour codes, no cache-library chatter.
    let log = node.log_text();
    assert!(log.contains("strata is ready"), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI codes in a log file: {log:?}");
    assert!(!log.contains("foyer"), "{log}");
    Ok(())
}
