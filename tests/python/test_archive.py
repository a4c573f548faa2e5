"""The Parquet archive as an analyst meets it.

A real `strata serve` on a real S3-compatible server (moto) takes records over HTTP, archives
them on request, and the tests query the archive with DuckDB, Polars and pyarrow, and load it
as an Iceberg table with pyiceberg: the rows must be exactly what was produced.

Run by scripts/test (which builds the binary and installs requirements.txt into
target/test-venv); STRATA_BIN and STRATA_MOTO name the binary and the S3 server.
"""

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import boto3
import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

BUCKET = "analytics"
PREFIX = "c"
TOPIC = "events"
PARTITIONS = 3
RECORDS = 3000
FIELDS = "user_id:int64,event:string,amount:double,vip:boolean"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def request(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            text = r.read()
            return r.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.fixture(scope="module")
def s3():
    port = free_port()
    moto = os.environ.get("STRATA_MOTO", "moto_server")
    proc = subprocess.Popen(
        [moto, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for("moto", lambda: urllib.request.urlopen(endpoint, timeout=1))
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def strata(s3, tmp_path_factory):
    port = free_port()
    data = tmp_path_factory.mktemp("strata")
    env = dict(
        os.environ,
        AWS_ENDPOINT_URL=s3,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_REGION="us-east-1",
        AWS_ALLOW_HTTP="true",
    )
    binary = os.environ.get("STRATA_BIN", "target/debug/strata")
    log = open(data / "strata.log", "wb")
    proc = subprocess.Popen(
        [
            binary,
            "serve",
            "--data-dir",
            str(data),
            "--listen",
            f"127.0.0.1:{port}",
            "--object-store",
            f"s3://{BUCKET}/{PREFIX}",
            "--flush-interval",
            "50ms",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("strata to be ready", lambda: request(base, "GET", "/readyz")[0] == 200)
        yield base
    finally:
        proc.kill()
        proc.wait()
        log.close()


def record(i):
    """Record i: keys, headers, JSON values, and a few values that do not fit the projection."""
    r = {"key": f"user-{i % 17}", "partition": i % PARTITIONS, "timestamp": 1795341600000 + i}
    if i % 50 == 7:
        r["value"] = None  # a tombstone
    elif i % 50 == 13:
        r["value"] = "not json at all"
    elif i % 50 == 21:
        r["value"] = {"user_id": "seven", "event": "bad", "amount": 1}
    else:
        r["value"] = {
            "user_id": i % 17,
            "event": ["view", "click", "buy"][i % 3],
            "amount": i / 4,
            "vip": i % 2 == 0,
            "extra": {"nested": [i]},
        }
    if i % 5 == 0:
        r["headers"] = {"source": "web", "trace": f"t-{i}"}
    return r


@pytest.fixture(scope="module")
def archived(strata):
    """Produces the records, archives them; returns {(partition, offset): record}."""
    status, body = request(
        strata,
        "POST",
        "/v1/topics",
        {
            "name": TOPIC,
            "partitions": PARTITIONS,
            "config": {"archive": "true", "archive.json.fields": FIELDS},
        },
    )
    assert status == 201, body
    produced = {}
    for start in range(0, RECORDS, 500):
        batch = [record(i) for i in range(start, start + 500)]
        status, body = request(strata, "POST", f"/v1/topics/{TOPIC}/records?acks=all", {"records": batch})
        assert status == 200, body
        for r, at in zip(batch, body["offsets"]):
            produced[(at["partition"], at["offset"])] = r
    status, body = request(strata, "POST", f"/v1/topics/{TOPIC}/archive")
    assert status == 200, body
    assert sum(p["archived_through"] + 1 for p in body["partitions"]) == RECORDS
    return produced


def stored_bytes(value):
    """The bytes strata stores for a JSON value: its text as sent (request() sends
    json.dumps' default layout), or a string's own bytes."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value).encode()


def s3fs(endpoint):
    return pafs.S3FileSystem(
        endpoint_override=endpoint,
        access_key="test",
        secret_key="test",
        region="us-east-1",
        scheme="http",
    )


def archive_path():
    return f"{BUCKET}/{PREFIX}/archive/{TOPIC}"


@pytest.fixture(scope="module")
def local_copy(s3, archived, tmp_path_factory):
    """The archive prefix copied to a local directory (DuckDB's httpfs cannot be installed here)."""
    dest = tmp_path_factory.mktemp("archive")
    pafs.copy_files(archive_path(), str(dest), source_filesystem=s3fs(s3))
    return dest


def check_rows(rows, produced):
    """rows: dicts with partition, offset, key, value, headers (list of {key, value})."""
    assert len(rows) == RECORDS
    seen = set()
    for row in rows:
        at = (row["partition"], row["offset"])
        assert at not in seen, f"duplicate row {at}"
        seen.add(at)
        want = produced[at]
        assert row["key"] == want["key"].encode()
        assert row["value"] == stored_bytes(want["value"]), at
        headers = {h["key"]: h["value"] for h in row["headers"]}
        assert headers == {k: v.encode() for k, v in want.get("headers", {}).items()}
    assert seen == set(produced)


def test_duckdb_reads_the_hive_partitioned_archive(local_copy, archived):
    con = duckdb.connect()
    rel = con.sql(
        f"select * from read_parquet('{local_copy}/**/*.parquet', hive_partitioning=true)"
    )
    types = dict(zip(rel.columns, [str(t) for t in rel.types]))
    assert types["topic"] == "VARCHAR"
    assert types["partition"] == "INTEGER"
    assert types["offset"] == "BIGINT"
    assert types["timestamp"] == "TIMESTAMP WITH TIME ZONE"
    assert types["key"] == "BLOB" and types["value"] == "BLOB"
    assert types["headers"].startswith("STRUCT(")
    assert types["user_id"] == "BIGINT" and types["event"] == "VARCHAR"
    assert types["amount"] == "DOUBLE" and types["vip"] == "BOOLEAN"
    assert "date" in types and "hour" in types, types
    rows = con.sql(
        f"select partition, \"offset\", key, value, headers from read_parquet('{local_copy}/**/*.parquet', hive_partitioning=true)"
    ).fetchall()
    check_rows(
        [
            {"partition": p, "offset": o, "key": k, "value": v, "headers": h}
            for p, o, k, v, h in rows
        ],
        archived,
    )
    # The README's query: decode() gives the bytes as text (::VARCHAR would escape them).
    text = con.sql(
        f"select \"offset\", partition, decode(key) as key, decode(value) as value from read_parquet('{local_copy}/**/*.parquet', hive_partitioning=true)"
    ).fetchall()
    assert len(text) == len(rows)
    assert any(v is not None and '"' in v for *_, v in text), "JSON values read as text"
    for o, p, k, v in text:
        assert v is None or (isinstance(v, str) and '\\x22' not in v), v
        assert k is None or isinstance(k, str)
    # Offsets are dense per partition, and the hive folders hold the files' hours.
    per = con.sql(
        f"select partition, min(\"offset\"), max(\"offset\"), count(*), min(date), min(hour) "
        f"from read_parquet('{local_copy}/**/*.parquet', hive_partitioning=true) group by 1 order by 1"
    ).fetchall()
    assert [(p, lo, hi, n) for p, lo, hi, n, _, _ in per] == [
        (p, 0, RECORDS // PARTITIONS - 1, RECORDS // PARTITIONS) for p in range(PARTITIONS)
    ]
    assert {(str(d), h) for *_, d, h in per} == {("2026-11-22", 10)}


def test_projected_json_columns_are_typed_and_misfits_are_null(local_copy, archived):
    con = duckdb.connect()
    rows = con.sql(
        f"select partition, \"offset\", user_id, event, amount, vip "
        f"from read_parquet('{local_copy}/**/*.parquet')"
    ).fetchall()
    misfits = 0
    for p, o, user_id, event, amount, vip in rows:
        value = archived[(p, o)]["value"]
        if isinstance(value, dict) and isinstance(value.get("user_id"), int):
            assert (user_id, event, amount, vip) == (
                value["user_id"], value["event"], value["amount"], value["vip"]
            )
        elif value is None:
            assert (user_id, event, amount, vip) == (None, None, None, None)
        else:
            misfits += 1
            assert user_id is None
    assert misfits == sum(1 for r in archived.values() if isinstance(r["value"], str) or (
        isinstance(r["value"], dict) and not isinstance(r["value"].get("user_id"), int)))


def test_polars_scans_the_archive_on_the_s3_server(s3, archived):
    lf = pl.scan_parquet(
        f"s3://{archive_path()}/**/*.parquet",
        storage_options={
            "aws_endpoint_url": s3,
            "aws_access_key_id": "test",
            "aws_secret_access_key": "test",
            "aws_region": "us-east-1",
            "aws_allow_http": "true",
        },
    )
    df = lf.select("partition", "offset", "key", "value", "headers", "amount").collect()
    assert df.schema["amount"] == pl.Float64
    rows = df.to_dicts()
    for row in rows:
        row["headers"] = row["headers"] or []
    check_rows(rows, archived)
    counts = (
        lf.group_by("key").agg(pl.len().alias("n")).sort("key").collect()
    )
    assert counts["n"].sum() == RECORDS
    assert len(counts) == 17


def test_pyarrow_dataset_over_the_s3_endpoint(s3, archived):
    dataset = ds.dataset(
        archive_path(), filesystem=s3fs(s3), format="parquet", partitioning="hive"
    )
    table = dataset.to_table()
    assert table.num_rows == RECORDS
    schema = table.schema
    assert schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("partition").type == pa.int32()
    assert schema.field("headers").type == pa.list_(
        pa.field(
            "element",
            pa.struct([pa.field("key", pa.utf8(), False), pa.field("value", pa.binary())]),
            False,
        )
    )
    rows = table.select(["partition", "offset", "key", "value", "headers"]).to_pylist()
    check_rows(rows, archived)
    stamps = table.select(["partition", "offset", "timestamp"]).to_pylist()
    for row in stamps:
        want = archived[(row["partition"], row["offset"])]["timestamp"]
        assert int(row["timestamp"].timestamp() * 1000) == want


def test_manifest_lists_every_file_with_its_spans(s3, archived):
    fs = s3fs(s3)
    with fs.open_input_stream(f"{archive_path()}/_manifest.json") as f:
        manifest = json.load(f)
    assert manifest["topic"] == TOPIC
    assert manifest["format_version"] == "1"
    assert sum(f["rows"] for f in manifest["files"]) == RECORDS
    for part in manifest["partitions"]:
        assert part["archived_through"] == RECORDS // PARTITIONS - 1
    for entry in manifest["files"]:
        info = fs.get_file_info(f"{BUCKET}/{PREFIX}/{entry['key']}")
        assert info.size == entry["bytes"]
        meta = pq.read_metadata(f"{BUCKET}/{PREFIX}/{entry['key']}", filesystem=fs)
        assert meta.num_rows == entry["rows"]
        assert meta.row_group(0).column(2).statistics.min == entry["first_offset"]
        kv = {k.decode(): v.decode() for k, v in meta.metadata.items()}
        assert kv["strata.first_offset"] == str(entry["first_offset"])


def test_topic_view_shows_no_archive_lag(strata, archived):
    status, topic = request(strata, "GET", f"/v1/topics/{TOPIC}")
    assert status == 200
    for p in topic["partitions"]:
        assert p["archive"]["lag"] == 0, p
        assert p["archive"]["archived_through"] == RECORDS // PARTITIONS - 1
        assert p["archive"]["files"] >= 1


def test_pyiceberg_loads_the_archive_as_an_iceberg_table(s3, archived):
    from pyiceberg.expressions import And, EqualTo, GreaterThanOrEqual
    from pyiceberg.table import StaticTable

    fs = s3fs(s3)
    metadata = f"{archive_path()}/_iceberg/metadata"
    with fs.open_input_stream(f"{metadata}/version-hint.text") as f:
        version = int(f.read().decode().strip())
    table = StaticTable.from_metadata(
        f"s3://{metadata}/v{version}.metadata.json",
        properties={
            "s3.endpoint": s3,
            "s3.access-key-id": "test",
            "s3.secret-access-key": "test",
            "s3.region": "us-east-1",
        },
    )
    assert table.format_version == 2
    names = [f.name for f in table.schema().fields]
    assert names == ["topic", "partition", "offset", "timestamp", "key", "value", "headers"] + [
        f.split(":")[0] for f in FIELDS.split(",")
    ]
    snapshot = table.current_snapshot()
    assert snapshot.summary["total-records"] == str(RECORDS)

    whole = table.scan().to_arrow()
    check_rows(whole.select(["partition", "offset", "key", "value", "headers"]).to_pylist(), archived)
    assert whole.schema.field("amount").type == pa.float64()

    # The partition spec and the offset bounds let the scan skip files.
    scan = table.scan(row_filter=And(EqualTo("partition", 1), GreaterThanOrEqual("offset", 900)))
    tasks = list(scan.plan_files())
    assert tasks and all(t.file.partition[0] == 1 for t in tasks)
    got = sorted(scan.to_arrow()["offset"].to_pylist())
    assert got == sorted(o for (p, o) in archived if p == 1 and o >= 900)
