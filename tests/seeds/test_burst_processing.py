"""Seed 002, burst processing: S3 uploads -> SQS -> one workflow run per file, end to end on moto.

The manifest of ``dags/argo/burst-processing.yaml`` is used as it is, except for the queue's endpoint
(the session's moto server instead of ``http://moto:5000``) and a chunk size small enough to give
several chunks per file. The events files are generated from a fixed seed, and the expected output
is worked out here, independently of the workflow's scripts: the geo answer of every sample address
is written down by hand, and the lookup tables are restated.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from tests.aws.conftest import queue_arn
from tests.aws.events_harness import Harness, harness
from tests.conftest import REPO, nodes_by_name

MANIFEST = REPO / "dags" / "argo" / "burst-processing.yaml"
LANDING, ENRICHED, QUEUE = "burst-landing", "burst-enriched", "burst-landing"
DISPATCHER, WORKFLOW, TEMPLATE = "burst-uploads", "burst-file", "burst-processing"
ASSET = "argo-events/burst-uploads/landing"
CHUNK_SIZE = 100

# Sample addresses and where the manifest's geo table puts them (longest matching network).
PLACES: list[tuple[str, dict[str, str] | None]] = [
    ("81.2.69.160", {"region": "eu-west", "country": "GB", "city": "London"}),
    ("81.2.70.5", {"region": "eu-west", "country": "GB", "city": ""}),
    ("2.17.4.1", {"region": "eu-central", "country": "DE", "city": "Frankfurt"}),
    ("2.20.133.7", {"region": "eu-central", "country": "FR", "city": "Paris"}),
    ("52.94.10.1", {"region": "us-east", "country": "US", "city": "Ashburn"}),
    ("52.94.77.3", {"region": "us-west", "country": "US", "city": "Portland"}),
    ("13.113.1.1", {"region": "ap-northeast", "country": "JP", "city": "Tokyo"}),
    ("177.71.200.9", {"region": "sa-east", "country": "BR", "city": "Sao Paulo"}),
    ("2001:db8:ab::1", {"region": "eu-north", "country": "SE", "city": "Stockholm"}),
    ("2001:db8:1234::9", {"region": "eu-north", "country": "FI", "city": "Helsinki"}),
    ("8.8.8.8", None),
    ("10.0.0.1", None),
    ("not-an-address", None),
]
RATES = {
    "USD": "1",
    "EUR": "1.0850",
    "GBP": "1.2700",
    "JPY": "0.006700",
    "CAD": "0.7400",
    "AUD": "0.6600",
    "BRL": "0.2000",
    "INR": "0.012000",
}
CATEGORIES = {
    "KET-001": "sauces-condiments",
    "MLK-002": "dairy-eggs",
    "SAL-003": "fish-seafood",
    "BRD-004": "bakery",
    "PAS-005": "pasta-rice-grains",
    "CRS-006": "snacks-sweets",
    "JCE-007": "beverages",
    "OAT-008": "breakfast-cereals",
}


def make_events(seed: int, count: int, prefix: str) -> list[dict[str, Any]]:
    """``count`` events: views (no amount), purchases in known and unknown currencies, unknown SKUs,
    addresses in and outside the geo table, amounts as strings and as numbers."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for n in range(count):
        event: dict[str, Any] = {
            "event_id": f"{prefix}-{n:05d}",
            "ts": f"2025-03-02T06:{n // 60 % 60:02d}:{n % 60:02d}Z",
            "type": rng.choice(["view", "click", "purchase", "purchase"]),
            "user": f"u-{rng.randrange(1000):04d}",
        }
        if rng.random() < 0.95:
            event["ip"] = rng.choice(PLACES)[0]
        if event["type"] != "view":
            event["sku"] = rng.choice([*CATEGORIES, "ZZZ-999"])
        if event["type"] == "purchase":
            event["currency"] = rng.choice([*RATES, "CHF"])
            cents = rng.randrange(1, 500_00)
            event["amount"] = f"{cents // 100}.{cents % 100:02d}" if rng.random() < 0.8 else cents // 100
        if rng.random() < 0.1:
            event["page"] = rng.choice(["/café", "/straße", "/日本"])
        events.append(event)
    return events


def jsonl(events: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events).encode()


def enriched(event: dict[str, Any]) -> dict[str, Any]:
    out, missed = dict(event), []
    if "amount" in event:
        if event.get("currency") in RATES:
            usd = Decimal(str(event["amount"])) * Decimal(RATES[event["currency"]])
            out["amount_usd"] = str(usd.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))
        else:
            out["amount_usd"] = None
            missed.append("currency")
    if "sku" in event:
        out["category"] = CATEGORIES.get(event["sku"])
        if out["category"] is None:
            missed.append("product")
    if "ip" in event:
        out["geo"] = dict(PLACES)[event["ip"]]
        if out["geo"] is None:
            missed.append("geo")
    out["lookups_missed"] = missed
    return out


def expected_output(events: list[dict[str, Any]], bucket: str, key: str, workflow: str) -> dict[str, bytes]:
    """Object key -> content of everything the workflow writes under enriched/KEY/."""
    rows = [enriched(e) for e in events]
    parts = [rows[i : i + CHUNK_SIZE] for i in range(0, len(rows), CHUNK_SIZE)]
    objects = {
        f"enriched/{key}/part-{n:04d}.jsonl": "".join(
            json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n" for r in part
        ).encode()
        for n, part in enumerate(parts)
    }
    regions = Counter(r["geo"]["region"] if r.get("geo") else "unknown" for r in rows)
    summary = {
        "source": f"s3://{bucket}/{key}",
        "workflow": workflow,
        "chunk_size": CHUNK_SIZE,
        "chunks": len(parts),
        "events_in": len(events),
        "events_out": len(events),
        "parts": [f"s3://{ENRICHED}/{k}" for k in objects],
        "regions": dict(sorted(regions.items())),
        "lookups_missed": dict(sorted(Counter(m for r in rows for m in r["lookups_missed"]).items())),
        "amount_usd": str(sum((Decimal(r["amount_usd"]) for r in rows if r.get("amount_usd")), Decimal("0.00"))),
    }
    objects[f"enriched/{key}/_SUMMARY.json"] = (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode()
    return objects


class Burst:
    """The example's buckets and queue on the moto server, and its manifests loaded as DAGs."""

    def __init__(self, aws: Any, h: Harness, folder: Path, endpoint: str) -> None:
        self.aws, self.h = aws, h
        self.queue = aws.sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        while True:  # what an earlier test left (PurgeQueue is allowed once a minute only)
            left = aws.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
            if not left:
                break
            for message in left:
                aws.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        for bucket in (LANDING, ENRICHED):
            if bucket not in [b["Name"] for b in aws.s3.list_buckets()["Buckets"]]:
                aws.s3.create_bucket(Bucket=bucket)
        aws.s3.put_bucket_notification_configuration(
            Bucket=LANDING,
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": queue_arn(aws, self.queue), "Events": ["s3:ObjectCreated:*"]}]
            },
        )
        text = MANIFEST.read_text()
        for old, new in (
            ("endpoint: http://moto:5000", f"endpoint: {endpoint}"),
            ('value: "10000"', f'value: "{CHUNK_SIZE}"'),
        ):
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        folder.mkdir()
        (folder / MANIFEST.name).write_text(text)
        h.write_dag_file(
            f"from airflow_argo_provider import load_workflows\nglobals().update(load_workflows({str(folder)!r}))\n"
        )
        h.sync()
        self.prefix = f"incoming/{uuid.uuid4().hex[:8]}"  # this test's uploads

    def queued(self) -> int:
        attributes = self.aws.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def dispatch_all(self) -> list[dict[str, Any]]:
        """Poll the queue until it is empty, one dispatcher run per poll; their summaries."""
        summaries = []
        while self.queued():
            event = self.h.poll(ASSET)
            assert event is not None
            self.h.submit(ASSET, event)
            run_id = self.h.create_asset_triggered_run(DISPATCHER)
            assert run_id is not None
            result = self.h.run(DISPATCHER, run_id)
            summary = result.xcoms.get(("dispatch", "summary")) or {}
            summaries.append(summary)
            assert result.state == "success", (result.errors, summary)
        return summaries

    def runs(self) -> dict[str, dict[str, Any]]:
        """This test's burst-file runs: run id -> conf (the key as the S3 notification gives it, URL-encoded)."""
        return {
            run_id: conf
            for run_id, conf in self.h.runs_of(WORKFLOW).items()
            if unquote_plus(str(conf.get("key", ""))).startswith(self.prefix + "/")
        }

    def run(self, run_id: str) -> dict[str, Any]:
        """Run a burst-file run with the local backend; its report as ``airflow-argo run -o json`` gives it."""
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select

        from airflow_argo_provider.cli.run import report

        self.h.run(WORKFLOW, run_id)
        plan = next(t.plan for t in self.h.bag.dags[WORKFLOW].tasks if hasattr(t, "plan"))
        with create_session() as session:
            dag_run = session.scalars(select(DagRun).where(DagRun.dag_id == WORKFLOW, DagRun.run_id == run_id)).one()
            return report(plan, WORKFLOW, dag_run, 0.0)

    def objects(self, prefix: str) -> dict[str, bytes]:
        listing = self.aws.s3.list_objects_v2(Bucket=ENRICHED, Prefix=prefix).get("Contents", [])
        return {o["Key"]: self.aws.s3.get_object(Bucket=ENRICHED, Key=o["Key"])["Body"].read() for o in listing}


@pytest.fixture
def aws(moto_server: str) -> Any:
    """boto3 clients (s3, sqs) bound to the moto server."""
    import boto3

    class Clients:
        s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
        sqs = boto3.client("sqs", endpoint_url=moto_server, region_name="us-east-1")

    return Clients


@pytest.fixture
def burst(aws: Any, airflow_db: Path, moto_server: str, tmp_path: Path) -> Iterator[Burst]:
    with harness(airflow_db) as h:
        yield Burst(aws, h, tmp_path / "argo", moto_server)


def failure_table(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(n["displayName"], n["phase"], n["message"]) for n in result["nodes"]]


def test_each_upload_runs_once_and_every_event_comes_out_enriched_once(burst: Burst, aws: Any) -> None:
    files = {
        f"{burst.prefix}/events-0001.jsonl": make_events(1, 230, "a"),
        f"{burst.prefix}/events-0002.jsonl.gz": make_events(2, 300, "b"),
        f"{burst.prefix}/late arrivals 0003.jsonl": make_events(3, 100, "c"),
    }
    for key, events in files.items():
        body = jsonl(events)
        if key.endswith(".gz"):
            body = gzip.compress(body, mtime=0)
        else:  # blank lines are not events
            body = body.replace(b"\n", b"\n\n", 3)
        aws.s3.put_object(Bucket=LANDING, Key=key, Body=body)
    # Not under incoming/, or not events: filtered out, as S3's own test event.
    aws.s3.put_object(Bucket=LANDING, Key=f"elsewhere/{burst.prefix}.jsonl", Body=b"{}\n")
    aws.s3.put_object(Bucket=LANDING, Key=f"{burst.prefix}/readme.txt", Body=b"hello\n")

    # The generated events reach every branch of the enrichment.
    every = [enriched(e) for events in files.values() for e in events]
    assert {m for e in every for m in e["lookups_missed"]} == {"currency", "geo", "product"}
    assert {e["geo"]["city"] for e in every if e.get("geo")} == {place["city"] for _, place in PLACES if place}
    assert any("amount_usd" not in e for e in every) and any(isinstance(e.get("amount"), int) for e in every)

    summaries = burst.dispatch_all()
    assert sum(len(s["created"]) for s in summaries) == 3, summaries
    assert sum(len(s["filtered"]) for s in summaries) == 3  # the two above and S3's test event
    assert all(s["failed"] == [] for s in summaries)
    assert burst.queued() == 0

    runs = {unquote_plus(conf["key"]): run_id for run_id, conf in burst.runs().items()}
    assert sorted(runs) == sorted(files)
    assert {conf["bucket"] for conf in burst.runs().values()} == {LANDING}

    for key, run_id in sorted(runs.items()):
        result = burst.run(run_id)
        assert result["phase"] == "Succeeded", failure_table(result)
        events = files[key]
        nodes = nodes_by_name(result)
        chunks = json.loads(nodes["split"]["outputs"]["result"])
        assert [c["events"] for c in chunks] == [
            min(CHUNK_SIZE, len(events) - i) for i in range(0, len(events), CHUNK_SIZE)
        ]
        assert nodes["split"]["outputs"]["parameters"]["events"] == str(len(events))

        written = burst.objects(f"enriched/{key}/")
        expected = expected_output(events, LANDING, key, result["name"])
        assert sorted(written) == sorted(expected)
        for name, content in expected.items():
            assert written[name] == content, name
        # Every event exactly once, in input order, with nothing of it lost.
        parts = [written[name] for name in sorted(written) if name.endswith(".jsonl")]
        out = [json.loads(line) for part in parts for line in part.splitlines()]
        assert [e["event_id"] for e in out] == [e["event_id"] for e in events]
        assert all({k: v for k, v in o.items() if k in e} == e for o, e in zip(out, events))
        summary = json.loads(written[f"enriched/{key}/_SUMMARY.json"])
        assert summary["events_in"] == summary["events_out"] == len(events)
        assert sum(summary["regions"].values()) == len(events)

        # The chunks went through S3, in a folder of the run's own.
        work = burst.objects(f"_work/{result['name']}/chunks/")
        assert sorted(work) == [f"_work/{result['name']}/chunks/{c['file']}" for c in chunks]
        assert b"".join(work[k] for k in sorted(work)) == b"".join(
            json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in events
        )


def test_a_malformed_line_and_a_missing_object_fail_split_clearly_and_write_nothing(burst: Burst, aws: Any) -> None:
    events = make_events(4, 40, "d")
    lines = jsonl(events).splitlines(keepends=True)
    lines[16] = b'{"event_id": "d-00016", "ts": \n'  # line 17
    bad_key = f"{burst.prefix}/broken.jsonl"
    aws.s3.put_object(Bucket=LANDING, Key=bad_key, Body=b"".join(lines))
    # A notification for an object that is gone by the time the workflow runs.
    gone_key = f"{burst.prefix}/gone.jsonl"
    aws.s3.put_object(Bucket=LANDING, Key=gone_key, Body=jsonl(events))
    aws.s3.delete_object(Bucket=LANDING, Key=gone_key)

    summaries = burst.dispatch_all()
    assert sum(len(s["created"]) for s in summaries) == 2
    runs = {unquote_plus(conf["key"]): run_id for run_id, conf in burst.runs().items()}
    assert sorted(runs) == [bad_key, gone_key]

    broken = burst.run(runs[bad_key])
    assert broken["phase"] == "Failed" and broken["message"] == "child 'split' failed"
    # Nothing after split ran: no enrich node, no summary.
    assert [(n, p) for n, p, _ in failure_table(broken)[1:]] == [("object-key", "Succeeded"), ("split", "Failed")]
    split = nodes_by_name(broken)["split"]
    assert split["message"] == "Error (exit code 1)"
    assert split["outputs"]["parameters"]["error"] == (
        f"s3://{LANDING}/{bad_key}: line 17: not valid JSON (Expecting value: line 1 column 30 (char 29))"
    )

    missing = burst.run(runs[gone_key])
    assert missing["phase"] == "Failed"
    assert failure_table(missing)[1:] == [
        ("object-key", "Succeeded", ""),
        ("split", "Error", f"artifact events failed to load: s3://{LANDING}/{gone_key}: the key does not exist"),
    ]

    assert burst.objects(f"enriched/{bad_key}/") == {}
    assert burst.objects(f"enriched/{gone_key}/") == {}


def test_the_manifest_validates_renders_pods_and_loads_with_the_other_examples(
    airflow_db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml
    from airflow.dag_processing.dagbag import DagBag

    from airflow_argo_provider.cli.main import main

    assert main(["validate", str(MANIFEST)]) == 0, capsys.readouterr()
    capsys.readouterr()

    # The pods the kubernetes backend would create: the artifacts go through the agent container.
    monkeypatch.setenv("AIRFLOW__ARGO__KUBERNETES_ARTIFACT_IMAGE", "apache/airflow:3.3.2")
    assert (
        main(["render", str(MANIFEST), "--backend", "kubernetes", "-p", "bucket=b", "-p", "key=incoming/a.jsonl"]) == 0
    )
    out = capsys.readouterr().out
    tree, *documents = out.split("\n---\n")
    assert tree.splitlines()[0] == "Workflow burst-file- (Airflow DAG burst-file)"
    pods = {
        p["metadata"]["annotations"]["workflows.argoproj.io/node-name"].split(".")[-1].split("(")[0]: p
        for p in map(yaml.safe_load, documents)
    }
    assert sorted(pods) == ["enrich", "object-key", "split", "summarize"]
    for name in ("split", "enrich", "summarize"):
        images = [c["image"] for c in pods[name]["spec"]["containers"]]
        assert images[:2] == ["python:3.12-slim", "apache/airflow:3.3.2"], (name, images)
    split_env = {e["name"]: e.get("value") for e in pods["split"]["spec"]["containers"][0]["env"]}
    assert split_env["BUCKET"] == "b" and split_env["CHUNK_SIZE"] == "10000"

    # The dags folder of the repository, as Airflow parses it.
    bag = DagBag(str(REPO / "dags"))
    assert bag.import_errors == {}
    assert {DISPATCHER, WORKFLOW, TEMPLATE, "fanout-etl", "product-categorization"} <= set(bag.dag_ids)
    (asset,) = bag.dags[DISPATCHER].timetable.asset_condition.objects
    assert asset.name == ASSET
    (watcher,) = asset.watchers
    assert watcher.trigger.serialize()[1]["sqs_queue"] == "http://moto:5000/123456789012/burst-landing"
