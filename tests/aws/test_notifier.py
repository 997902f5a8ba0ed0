"""The SNS exit notifier as a DAG callback of compiled workflows (and of a plain DAG), against moto."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.aws.conftest import receive_all, sns_envelopes

FAILING = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: nightly-load-}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: extract, template: ok}
      - {name: load, template: broken, dependencies: [extract]}
      - {name: audit, template: ok, dependencies: [extract]}
  - name: ok
    container: {image: busybox, command: [echo, fine]}
  - name: broken
    script:
      image: python:3.12
      command: [python]
      source: |
        import sys
        print("cannot load")
        sys.exit(3)
"""
SUCCEEDING = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: hourly-report}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: busybox, command: [echo, done]}
"""


@pytest.fixture
def dag_file(airflow_db: Path, tmp_path: Path):
    """Write a DAG file into the test Airflow's dags folder, load it, and remove it afterwards."""
    written: list[Path] = []

    def write(source: str) -> Any:
        from airflow.dag_processing.dagbag import DagBag

        path = airflow_db / f"notifier_{uuid.uuid4().hex[:8]}.py"
        path.write_text(textwrap.dedent(source))
        written.append(path)
        bag = DagBag(str(path))
        assert not bag.import_errors, bag.import_errors
        return bag

    yield write
    for path in written:
        path.unlink(missing_ok=True)


def _manifest_dag_source(manifest: Path, topic: str) -> str:
    return f"""
    from airflow_argo_provider.dagfolder import load_manifest_dag
    from airflow_argo_provider.notifiers.sns import ArgoSnsNotifier, notify_on_exit

    globals().update(notify_on_exit(load_manifest_dag({str(manifest)!r}), ArgoSnsNotifier(target_arn={topic!r})))
    """


def test_exit_notifier_reports_a_failed_workflow_with_its_failures(
    dag_file: Any, tmp_path: Path, aws: Any, subscribed_topic: tuple[str, str]
) -> None:
    from airflow_argo_provider.runtime.context import workflow_name, workflow_uid

    topic, queue = subscribed_topic
    manifest = tmp_path / "failing.yaml"
    manifest.write_text(FAILING)
    bag = dag_file(_manifest_dag_source(manifest, topic))
    dag = bag.dags["nightly-load"]
    dag_run = dag.test()
    assert str(dag_run.state) == "failed"

    (envelope,) = sns_envelopes(receive_all(aws, queue, 1))
    payload = json.loads(envelope["Message"])
    plan = next(t.plan for t in dag.tasks if hasattr(t, "plan"))
    name = workflow_name(plan, dag_run.run_id)
    assert name.startswith("nightly-load-") and len(name) == len("nightly-load-") + 5
    assert payload["workflow"] == name
    assert payload["status"] == "Failed"
    assert payload["uid"] == workflow_uid("nightly-load", dag_run.run_id)
    assert 0 < payload["duration"] < 600
    (failure,) = payload["failures"]
    assert failure["displayName"] == "load"
    assert failure["templateName"] == "broken"
    assert failure["phase"] == "Failed"
    assert failure["message"] == "Error (exit code 3)"
    assert failure["finishedAt"]
    assert envelope["Subject"] == f"{name} Failed"
    assert envelope["MessageAttributes"]["status"] == {"Type": "String", "Value": "Failed"}
    assert envelope["MessageAttributes"]["workflow"] == {"Type": "String", "Value": name}


def test_exit_notifier_reports_success_and_plain_dags(
    dag_file: Any, tmp_path: Path, aws: Any, subscribed_topic: tuple[str, str]
) -> None:
    topic, queue = subscribed_topic
    manifest = tmp_path / "ok.yaml"
    manifest.write_text(SUCCEEDING)
    bag = dag_file(
        _manifest_dag_source(manifest, topic)
        + f"""
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator

    with DAG("plain-dag", schedule=None, on_success_callback=ArgoSnsNotifier(target_arn={topic!r})):
        EmptyOperator(task_id="nothing")
    """
    )
    bag.dags["hourly-report"].test()
    bag.dags["plain-dag"].test()
    payloads = sorted((json.loads(e["Message"]) for e in sns_envelopes(receive_all(aws, queue, 2))), key=str)
    by_name = {p["workflow"]: p for p in payloads}
    assert set(by_name) == {"hourly-report", "plain-dag"}
    assert by_name["hourly-report"]["status"] == "Succeeded"
    assert by_name["hourly-report"]["failures"] == []
    assert by_name["plain-dag"]["status"] == "Succeeded"
    assert by_name["plain-dag"]["failures"] == []
    assert set(by_name["plain-dag"]) == {"workflow", "status", "uid", "duration", "failures"}
