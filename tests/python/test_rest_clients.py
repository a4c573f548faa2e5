"""Third-party REST Proxy clients from PyPI against a real `strata serve` (issue 18).

`nlp-kafka-rest-api` produces with `application/vnd.kafka.json.v2+json` and reads with a
binary consumer instance, decoding each key as JSON: it finds its own keys only when a JSON
key is stored as Confluent stores it (the JSON text, a string with its quotes). Before that,
its `consume(keys)` never found them and looped forever. STRATA_BIN names the binary.
"""

import itertools
import os
import socket
import subprocess
import time
import urllib.request

import pytest
from kafka_rest import Consumer, Producer


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def strata(tmp_path_factory):
    port = free_port()
    data = tmp_path_factory.mktemp("strata-rest")
    binary = os.environ.get("STRATA_BIN", "target/debug/strata")
    log = open(data / "strata.log", "wb")
    proc = subprocess.Popen(
        [binary, "serve", "--data-dir", str(data), "--listen", f"127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "strata did not become ready"
            time.sleep(0.05)
        yield base
    finally:
        proc.kill()
        proc.wait()
        log.close()


def create_topic(base, name):
    req = urllib.request.Request(
        base + "/v1/topics",
        data=f'{{"name": "{name}", "partitions": 3}}'.encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 201


def test_nlp_kafka_rest_api_finds_its_own_keys(strata):
    # The client's consumer of topic T reads "T-response" (where a service answers); here the
    # producer writes the answers itself.
    create_topic(strata, "pke-response")
    producer = Producer(kafka_rest_api_url=strata, topic_id="pke-response")
    messages = [{"text": f"message {i}", "n_best": i} for i in range(5)]
    keys = producer.produce(messages, "pke")
    assert len(keys) == 5
    found = {}
    with Consumer(kafka_rest_api_url=strata, topic_id="pke") as consumer:
        # consume() loops until every key is found: bound it.
        for data, remaining in itertools.islice(consumer.consume(keys, interval_sec=0.2), 50):
            for d in data:
                found[d["key"]] = d
            if not remaining:
                break
    assert set(found) == set(keys), f"found {sorted(found)} of {sorted(keys)}"
    for k, m in zip(keys, messages):
        assert found[k]["value"] == {"endpoint": "pke", "payload": m}
