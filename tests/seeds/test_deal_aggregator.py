"""Seed 001, the deal aggregator: the manifest and the Python DAG, end to end with the local backend.

The posts API is the stand-in of scripts/posts_api.py on 127.0.0.1; S3 and SNS are the session's
moto server, and the SNS messages are received through an SQS subscription.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from scripts.posts_api import PostsApi, post
from tests.aws.conftest import receive_all, sns_envelopes, unique
from tests.conftest import REPO, nodes_by_name, run_python_dag

MANIFEST = REPO / "dags" / "argo" / "deal-aggregator.yaml"
DAG_FILE = REPO / "dags" / "deal_aggregator.py"


def expected_posts(count: int) -> list[dict[str, Any]]:
    """What the aggregate must hold: posts 1..count, sorted by id, keys sorted."""
    return [dict(sorted(post(n).items())) for n in range(1, count + 1)]


def bucket(aws: Any) -> str:
    name = unique("deals")
    aws.s3.create_bucket(Bucket=name)
    return name


def messages(aws: Any, queue: str, expected: int) -> dict[str, dict[str, Any]]:
    """The SNS envelopes received on ``queue``, by their ``kind`` message attribute."""
    envelopes = sns_envelopes(receive_all(aws, queue, expected))
    assert len(envelopes) == expected, envelopes
    return {e["MessageAttributes"]["kind"]["Value"]: e for e in envelopes}


def params(api: PostsApi, count: int, bucket: str, topic: str) -> dict[str, str]:
    return {"count": str(count), "apiUrl": api.url, "bucket": bucket, "snsTopicArn": topic}


def test_the_manifest_fetches_in_parallel_retries_stores_and_notifies(
    run_workflow: Any, aws: Any, subscribed_topic: tuple[str, str]
) -> None:
    topic, queue = subscribed_topic
    store = bucket(aws)
    with PostsApi(flaky={3}) as api:  # post 3 answers 503 once: retried after the 5 s backoff
        result = run_workflow(MANIFEST, params(api, 7, store, topic))
    nodes = nodes_by_name(result)
    assert result["phase"] == "Succeeded", [(n["displayName"], n["phase"], n["message"]) for n in result["nodes"]]

    fetched = [nodes[f"fetch-all({i}:{i + 1})"] for i in range(7)]
    assert [n["phase"] for n in fetched] == ["Succeeded"] * 7
    assert [n["retries"] for n in fetched] == [0, 0, 1, 0, 0, 0, 0]
    assert dict(api.requests) == {1: 1, 2: 1, 3: 2, 4: 1, 5: 1, 6: 1, 7: 1}
    assert json.loads(fetched[3]["outputs"]["result"]) == post(4)

    summary = {"posts": 7, "users": [1]}
    assert json.loads(nodes["save-results"]["outputs"]["result"]) == summary
    key = f"{result['name']}/api-responses.json"
    stored = aws.s3.get_object(Bucket=store, Key=key)["Body"].read()
    assert json.loads(stored) == expected_posts(7)

    got = messages(aws, queue, 2)
    ready = got["aggregate-ready"]
    assert ready["Subject"] == f"{result['name']}: deals ready"
    assert json.loads(ready["Message"]) == {
        "workflow": result["name"],
        "artifact": f"s3://{store}/{key}",
        "summary": summary,
    }
    assert nodes["notify-sns"]["outputs"]["result"] == ready["MessageId"]
    report = got["run-finished"]
    assert report["Subject"] == f"{result['name']} Succeeded"
    assert report["MessageAttributes"]["status"]["Value"] == "Succeeded"
    payload = json.loads(report["Message"])
    assert payload["workflow"] == result["name"]
    assert payload["status"] == "Succeeded"
    assert payload["failures"] == "null"  # Argo's {{workflow.failures}} is a quoted JSON string
    assert 5 <= payload["duration"] < 600


def test_thirty_posts_under_airflow_argo_run(aws: Any, subscribed_topic: tuple[str, str], tmp_path: Path) -> None:
    """The seed's fan-out through the command line: every seventh post answers 503 once."""
    topic, _queue = subscribed_topic
    store = bucket(aws)
    flaky = {7, 14, 21, 28}
    cli = Path(sys.executable).parent / "airflow-argo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__CORE__DAGS_FOLDER")}
    with PostsApi(flaky=flaky) as api:
        done = subprocess.run(
            [
                str(cli),
                "run",
                str(MANIFEST),
                "-o",
                "json",
                *[f"-p{k}={v}" for k, v in params(api, 30, store, topic).items()],
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["phase"] == "Succeeded"
    nodes = nodes_by_name(result)
    children = [n for n in result["nodes"] if n["displayName"].startswith("fetch-all(")]
    assert [n["displayName"] for n in children] == [f"fetch-all({i}:{i + 1})" for i in range(30)]
    for node in children:
        ident = json.loads(node["outputs"]["result"])["id"]
        assert node["phase"] == "Succeeded" and node["type"] == "HTTP"
        assert node["retries"] == (1 if ident in flaky else 0)
        assert json.loads(node["outputs"]["result"]) == post(ident)
    assert nodes["fetch-all"]["type"] == "TaskGroup" and nodes["fetch-all"]["phase"] == "Succeeded"
    assert dict(api.requests) == {n: 2 if n in flaky else 1 for n in range(1, 31)}
    # The aggregate the script validated: 30 posts, in loop-index order, each once.
    assert json.loads(nodes["save-results"]["outputs"]["result"]) == {"posts": 30, "users": [1, 2, 3]}
    stored = aws.s3.get_object(Bucket=store, Key=f"{result['name']}/api-responses.json")["Body"].read()
    assert json.loads(stored) == expected_posts(30)


def test_a_post_that_is_not_found_fails_the_run_without_retries_and_the_report_says_so(
    run_workflow: Any, aws: Any, subscribed_topic: tuple[str, str]
) -> None:
    topic, queue = subscribed_topic
    store = bucket(aws)
    with PostsApi(answers={4: (404, {})}) as api:
        result = run_workflow(MANIFEST, params(api, 5, store, topic))
    nodes = nodes_by_name(result)
    assert result["phase"] == "Failed"
    assert nodes["fetch-all(3:4)"]["phase"] == "Failed"
    assert nodes["fetch-all(3:4)"]["retries"] == 0  # a 404 is not transient
    assert api.requests[4] == 1
    assert "404" in nodes["fetch-all(3:4)"]["message"]
    # As in Argo, what depends on the fan-out is Omitted: nothing is stored or announced.
    assert nodes["save-results"]["phase"] == "Omitted"
    assert nodes["notify-sns"]["phase"] == "Omitted"
    assert aws.s3.list_objects_v2(Bucket=store).get("KeyCount") == 0

    (report,) = sns_envelopes(receive_all(aws, queue, 1))
    assert report["MessageAttributes"]["kind"]["Value"] == "run-finished"
    assert report["Subject"] == f"{result['name']} Failed"
    payload = json.loads(report["Message"])
    assert payload["status"] == "Failed"
    (failure,) = json.loads(payload["failures"])
    assert failure["displayName"] == "fetch-all(3:4)"
    assert failure["templateName"] == "call-api"
    assert failure["phase"] == "Failed"


def test_a_post_without_a_numeric_user_fails_the_validation(
    run_workflow: Any, aws: Any, subscribed_topic: tuple[str, str]
) -> None:
    topic, queue = subscribed_topic
    store = bucket(aws)
    broken = {**post(2), "userId": "one"}  # passes the success condition, fails the validation
    with PostsApi(answers={2: (200, broken)}) as api:
        result = run_workflow(MANIFEST, params(api, 3, store, topic))
    nodes = nodes_by_name(result)
    assert result["phase"] == "Failed"
    assert [nodes[f"fetch-all({i}:{i + 1})"]["phase"] for i in range(3)] == ["Succeeded"] * 3
    assert nodes["save-results"]["phase"] == "Failed"
    assert nodes["notify-sns"]["phase"] == "Omitted"
    assert aws.s3.list_objects_v2(Bucket=store).get("KeyCount") == 0
    (report,) = sns_envelopes(receive_all(aws, queue, 1))
    (failure,) = json.loads(json.loads(report["Message"])["failures"])
    assert failure["displayName"] == "save-results"


def test_the_python_dag_aggregates_the_same_posts(
    airflow_db: Path, aws: Any, subscribed_topic: tuple[str, str]
) -> None:
    topic, queue = subscribed_topic
    store = bucket(aws)
    with PostsApi(flaky={2}) as api:
        run, xcoms = run_python_dag(airflow_db, "deal_aggregator", DAG_FILE.read_text(), params(api, 4, store, topic))
    assert str(run.state) == "success"
    key = f"deal_aggregator/{run.run_id}/api-responses.json"
    saved = xcoms[("save_results", -1, "return_value")]
    assert saved == {"posts": 4, "users": [1], "artifact": f"s3://{store}/{key}"}
    assert api.requests[2] == 2  # retried once, as in the manifest
    stored = aws.s3.get_object(Bucket=store, Key=key)["Body"].read()
    assert json.loads(stored) == expected_posts(4)

    envelopes = sns_envelopes(receive_all(aws, queue, 2))
    assert len(envelopes) == 2
    by_subject = {e["Subject"]: e for e in envelopes}
    assert json.loads(by_subject["deal_aggregator: deals ready"]["Message"]) == saved
    report = json.loads(by_subject["deal_aggregator Succeeded"]["Message"])
    assert report["status"] == "Succeeded" and report["failures"] == []
