//! strata-fuzz: one function per parser or format that reads bytes from outside the process
//! (issue 21). Each takes any bytes and must neither panic nor allocate without bound; where a
//! decoder accepts its input, the target checks what it decoded (a batch encodes back to the
//! records it held, a frame's body is within the buffer, a section lies within its object).
//!
//! The same targets run three ways: as quick property tests on every CI run
//! (`fuzz/tests/quick.rs`, stable Rust), for as long as wanted by `scripts/fuzz TARGET SECONDS`
//! (the `strata-fuzz` binary: seeded mutations of valid inputs, an execution count at the end),
//! and under a coverage-guided fuzzer that calls [`run`].

use std::sync::OnceLock;

use strata_core::batch::{decode_batch, decode_header, encode_batch};
use strata_core::frame::{FrameRead, decode_frame, encode_frame, frames};
use strata_core::ids::{Offset, PartitionId, TopicId};
use strata_core::object::{ObjectBuilder, decode_section, read_footer};
use strata_core::record::{Header, Record};

/// A target: its name and the function that runs one input.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    ("batch", batch),
    ("frame", frame),
    ("object", object),
    ("marker", marker),
    ("produce-json", produce_json),
    ("produce-ndjson", produce_ndjson),
    ("settings", settings),
    ("config", config),
    ("jwt", jwt),
    ("internal", internal),
    ("v2-bodies", v2_bodies),
];

/// Runs `data` through the target called `name`; `false` when there is none.
pub fn run(name: &str, data: &[u8]) -> bool {
    match TARGETS.iter().find(|(n, _)| *n == name) {
        Some((_, f)) => {
            f(data);
            true
        }
        None => false,
    }
}

fn records() -> Vec<Record> {
    (0..4)
        .map(|i| Record {
            key: (i % 2 == 0).then(|| bytes::Bytes::from(format!("k{i}"))),
            value: (i != 3).then(|| bytes::Bytes::from(format!("{{\"n\":{i}}}"))),
            headers: vec![Header {
                name: "h".to_string(),
                value: bytes::Bytes::from_static(b"v"),
            }],
            timestamp: 1_700_000_000_000 + i,
        })
        .collect()
}

/// Valid inputs of the target called `name`, for mutation.
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    let rs = records();
    let framed = |level: i32| {
        encode_batch(TopicId(7), PartitionId(1), 0, &rs, None, level)
            .expect("the seed batch encodes")
            .frame
            .to_vec()
    };
    match name {
        "batch" => [0, 3]
            .into_iter()
            .map(|level| framed(level)[strata_core::frame::FRAME_PREFIX..].to_vec())
            .collect(),
        "frame" => {
            let mut two = Vec::new();
            encode_frame(b"hello", &mut two);
            encode_frame(b"", &mut two);
            vec![two, framed(0)]
        }
        "object" => {
            let mut b = ObjectBuilder::new(strata_core::ids::Incarnation(3), 9, 1_700_000_000_000, 1 << 16);
            for level in [0, 3] {
                let batch = encode_batch(TopicId(7), PartitionId(level as u32), 0, &rs, None, level)
                    .expect("the seed batch encodes");
                b.push(&batch).expect("the seed object builds");
            }
            vec![b.finish().0.to_vec()]
        }
        "marker" => {
            use strata_ingest::hot::marker::Marker;
            let body = |m: Marker| m.encode()[strata_core::frame::FRAME_PREFIX..].to_vec();
            [
                Marker::Seal {
                    seq: strata_core::ids::FlushSeq(4),
                    batches: 2,
                    writer: Some(strata_core::ids::Incarnation(3)),
                },
                Marker::Commit {
                    seq: strata_core::ids::FlushSeq(4),
                    writer: None,
                },
                Marker::Request {
                    batches: 3,
                    key: None,
                },
            ]
            .into_iter()
            .map(body)
            .collect()
        }
        "produce-json" => vec![
            br#"{"records":[{"key":"a","value":{"n":1},"headers":[{"name":"h","value":"dg=="}],"partition":0,"timestamp":5},{"value_base64":"AAE=","key_base64":null}]}"#.to_vec(),
        ],
        "produce-ndjson" => vec![b"{\"value\":1}\n{\"key\":\"k\",\"value\":\"v\"}\n\n{\"value_base64\":\"AAE=\"}\n".to_vec()],
        "settings" => vec![b"250ms".to_vec(), b"8MiB".to_vec(), b"1.5GiB".to_vec(), b"2026-12-03T10:00:00Z".to_vec()],
        "config" => vec![
            b"listen = \"127.0.0.1:0\"\n[ingest]\nflush-interval = \"50ms\"\nflush-bytes = \"1MiB\"\n[cache]\nblock-bytes = \"1MiB\"\n[http]\ntrusted-proxies = [\"10.0.0.0/8\"]\n".to_vec(),
        ],
        "jwt" => vec![
            b"eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OX0.c2ln".to_vec(),
        ],
        "internal" => vec![
            br#"{"vote":{"leader_id":{"term":3,"node_id":1},"committed":false},"last_log_id":{"leader_id":{"term":2,"node_id":1},"index":9}}"#.to_vec(),
            br#"{"command":{"CreateTopic":{"name":"t","partitions":2,"config":{}}}}"#.to_vec(),
            br#"{"AddVoter":{"id":4,"addr":"127.0.0.1:1","catch_up_ms":10}}"#.to_vec(),
        ],
        "v2-bodies" => vec![
            br#"{"records":[{"key":"a2V5","value":"dmFsdWU=","partition":1},{"value":null,"headers":[{"name":"h","value":"dg=="}],"timestamp":5}]}"#.to_vec(),
            br#"{"value_schema":"{\"type\":\"string\"}","records":[{"key":{"id": 1, "tags": ["a", "b"]},"value":"text"},{"value":[1, 2.5e3, true, null]}]}"#.to_vec(),
            br#"{"name":"c1","format":"json","auto.offset.reset":"earliest","auto.commit.enable":"false","fetch.min.bytes":"100","consumer.request.timeout.ms":1000,"partition.assignment.strategy":"roundrobin"}"#.to_vec(),
            br#"{"topic_pattern":"orders-.*"}"#.to_vec(),
            br#"{"partitions":[{"topic":"t","partition":0}]}"#.to_vec(),
            br#"{"offsets":[{"topic":"t","partition":0,"offset":9,"metadata":""}],"timestamps":[{"topic":"t","partition":1,"timestamp":"2019-10-25T14:07:30.123Z"},{"topic":"t","partition":2,"timestamp":1700000000000}]}"#.to_vec(),
            b"application/vnd.kafka.json.v2+json; q=0.9, application/json; q=0.5".to_vec(),
        ],
        _ => Vec::new(),
    }
}

/// A batch body: a decoded batch encodes back to the same records.
pub fn batch(data: &[u8]) {
    let header = decode_header(data);
    let Ok(decoded) = decode_batch(data) else {
        return;
    };
    let header = header.expect("a batch that decodes has a header that decodes");
    assert_eq!(header, decoded.header);
    assert_eq!(decoded.records.len(), header.record_count as usize);
    let records: Vec<Record> = decoded.records.iter().map(|(_, r)| r.clone()).collect();
    let deltas: Vec<u64> = decoded.records.iter().map(|(d, _)| *d).collect();
    let again = encode_batch(
        header.topic_id,
        header.partition,
        header.base_offset,
        &records,
        Some(&deltas),
        0,
    )
    .expect("decoded records encode again");
    let body = &again.frame[strata_core::frame::FRAME_PREFIX..];
    assert_eq!(
        decode_batch(body).expect("re-encoded").records,
        decoded.records
    );
}

/// The frame reader: every frame lies within the buffer, and reading stops at a bad one.
pub fn frame(data: &[u8]) {
    if let Ok(FrameRead::Frame { body, len }) = decode_frame(data) {
        assert!(len <= data.len() && body.len() < len);
    }
    let mut total = 0usize;
    for f in frames(data) {
        match f {
            Ok(body) => total += body.len() + strata_core::frame::FRAME_PREFIX,
            Err(_) => break,
        }
    }
    assert!(total <= data.len());
}

/// An object: its footer, then every section it names.
pub fn object(data: &[u8]) {
    let Ok(footer) = read_footer(data) else {
        return;
    };
    for s in &footer.sections {
        let (Ok(start), Ok(len)) = (usize::try_from(s.start), usize::try_from(s.len)) else {
            continue;
        };
        let Some(bytes) = start.checked_add(len).and_then(|end| data.get(start..end)) else {
            continue;
        };
        let _ = decode_section(bytes, Offset(s.base_offset.max(0)));
    }
}

/// A hot-tier marker.
pub fn marker(data: &[u8]) {
    use strata_ingest::hot::marker::Marker;
    if let Ok(m) = Marker::decode(data) {
        let frame = m.encode();
        let body = &frame[strata_core::frame::FRAME_PREFIX..];
        assert_eq!(Marker::decode(body).ok(), Some(m));
    }
}

/// The native produce body (JSON).
pub fn produce_json(data: &[u8]) {
    let _ = strata_ingest::parse::parse_json(data);
}

/// The native produce body (NDJSON).
pub fn produce_ndjson(data: &[u8]) {
    let _ = strata_ingest::parse::parse_ndjson(data);
}

/// Durations, sizes and instants as configuration and query parameters give them.
pub fn settings(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    use strata_core::settings::{parse_duration, parse_instant, parse_size};
    let _ = parse_duration(text);
    let _ = parse_size(text);
    let _ = parse_instant(text);
}

/// The config loader, on a file's text. Inputs that name a file to read (`*-file` keys) are
/// skipped: the loader reads those files, and a fuzzer must not read the machine's.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.contains("file") || text.contains("data-dir") {
        return;
    }
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"));
    let path = dir
        .path()
        .join(format!("c-{:?}.toml", std::thread::current().id()));
    std::fs::write(&path, text).expect("the config file is written");
    let _ = strata_server::config::Config::load_with_env(
        Some(&path),
        &strata_server::config::Overrides::default(),
        |_| None,
    );
}

/// A bearer JWT, against a JWKS of one P-256 key: nothing but a token it signed may pass.
pub fn jwt(data: &[u8]) {
    static VERIFIER: OnceLock<strata_server::http::jwt::JwtVerifier> = OnceLock::new();
    let v = VERIFIER.get_or_init(|| {
        let jwks = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}"#;
        strata_server::http::jwt::JwtVerifier::parse(jwks, "iss", "aud").expect("the JWKS parses")
    });
    let _ = strata_server::http::jwt::JwtVerifier::looks_like_jwt(data);
    assert!(
        v.verify(data, 1_700_000_000_000).is_err(),
        "a token no key signed was accepted"
    );
}

/// The internal API's bodies: Raft's messages and the quorum's requests.
pub fn internal(data: &[u8]) {
    use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
    use strata_meta::types::TypeConfig;
    let _ = serde_json::from_slice::<AppendEntriesRequest<TypeConfig>>(data);
    let _ = serde_json::from_slice::<VoteRequest<u64>>(data);
    let _ = serde_json::from_slice::<InstallSnapshotRequest<TypeConfig>>(data);
    let _ = serde_json::from_slice::<strata_meta::wire::ApplyRequest>(data);
    let _ = serde_json::from_slice::<strata_meta::wire::QueryRequest>(data);
    let _ = serde_json::from_slice::<strata_meta::wire::MembershipChange>(data);
}

/// The REST Proxy v2 bodies (produce in each embedded format, the consumer bodies, media
/// types): every refusal is a 4xx that serializes as the documented error, a schema format
/// never produces (Strata runs no Schema Registry), and a `json` key or value is stored as
/// JSON text.
pub fn v2_bodies(data: &[u8]) {
    use strata_server::http::v2::{Format, decode_bodies};
    let (produced, refused) = decode_bodies(data);
    for e in &refused {
        assert!(
            (400..500).contains(&e.status),
            "a v2 body was refused with {}: {}",
            e.status,
            e.message
        );
        serde_json::to_string(e).expect("a refusal serializes");
    }
    for (format, records) in produced {
        assert!(
            !matches!(format, Format::Schema(_)),
            "a schema format produced"
        );
        assert!(!records.is_empty(), "an empty produce body was taken");
        if format != Format::Json {
            continue;
        }
        for r in &records {
            for b in [&r.record.key, &r.record.value].into_iter().flatten() {
                serde_json::from_slice::<serde_json::Value>(b)
                    .expect("a json key or value is stored as JSON text");
            }
        }
    }
}

/// Applies `edits` to `data`: `(kind, at, byte)` with `at` taken modulo the length; kinds
/// 0 flip a byte, 1 cut the input at `at`, 2 insert `byte`, 3 repeat a slice from `at`.
pub fn mutate(data: &mut Vec<u8>, edits: &[(u8, usize, u8)]) {
    for &(kind, at, byte) in edits {
        let len = data.len();
        match kind {
            0 if len > 0 => data[at % len] ^= byte.max(1),
            1 if len > 0 => data.truncate(at % len),
            2 => data.insert(at % (len + 1), byte),
            3 if len > 0 => {
                let from = at % len;
                let piece: Vec<u8> = data[from..(from + usize::from(byte)).min(len)].to_vec();
                data.splice(from..from, piece);
            }
            _ => {}
        }
        if data.len() > 1 << 20 {
            data.truncate(1 << 20);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_has_seeds_that_run() {
        for (name, f) in TARGETS {
            let seeds = seeds(name);
            assert!(!seeds.is_empty(), "{name} has no seeds");
            for s in &seeds {
                f(s);
            }
        }
    }

    #[test]
    fn the_v2_seeds_reach_the_binary_and_json_decoders() {
        use strata_server::http::v2::{Format, decode_bodies};
        let seeds = seeds("v2-bodies");
        let formats = |i: usize| -> Vec<Format> {
            decode_bodies(&seeds[i])
                .0
                .into_iter()
                .map(|(f, _)| f)
                .collect()
        };
        // A base64 string is JSON text too.
        let both = [Format::Binary, Format::Binary, Format::Json, Format::Json];
        assert_eq!(formats(0), both);
        assert_eq!(formats(1), [Format::Json, Format::Json]);
        let (produced, _) = decode_bodies(&seeds[1]);
        assert_eq!(
            produced[0].1[0].record.key.as_deref(),
            Some(&br#"{"id":1,"tags":["a","b"]}"#[..])
        );
    }
}
