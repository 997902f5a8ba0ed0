"""The Python API: the same Argo semantics inside hand-written DAGs (it is the same plan underneath)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_argo_provider import Backoff, RetryStrategy
from airflow_argo_provider.manifest import ManifestError
from tests.conftest import run_python_dag

FANOUT = """
from airflow.sdk import DAG, Param, task
from airflow_argo_provider import Backoff, Container, RetryStrategy, Script, argo_task_group, with_sequence

with DAG("fanout_api", schedule=None, params={"count": Param("3", type="string")}) as dag:
    @task
    def numbers():
        return [{"n": 4}, {"n": 5}]

    squares = argo_task_group(
        "squares",
        Script(image="python:3.12", source="print({{item.n}} * {{item.n}})"),
        with_param=numbers(),
        parallelism=2,
        retry_strategy=RetryStrategy(limit=2, backoff=Backoff("1s", 2)),
    )
    seq = argo_task_group(
        "seq",
        Container(image="busybox", command=["echo", "{{item}}"]),
        with_sequence=with_sequence(count="{{workflow.parameters.count}}", start=1),
        parameters={"count": "3"},
    )

    @task
    def total(a, b):
        return {"squares": a, "seq": b}

    total(squares.output, seq.output)
"""


def test_task_group_factory_fans_out_and_aggregates(airflow_db: Path) -> None:
    run, xcoms = run_python_dag(airflow_db, "fanout_api", FANOUT, {"count": "4"})
    assert str(run.state) == "success"
    assert xcoms[("total", -1, "return_value")] == {"squares": [16, 25], "seq": [1, 2, 3, 4]}
    # Each item is a mapped task instance named the Argo way.
    children = [v for (task, _, key), v in xcoms.items() if task == "squares.squares" and key == "argo"]
    assert sorted(c["children"][0]["display_name"] for c in children) == ["squares(0:n:4)", "squares(1:n:5)"]


FAILING = """
from airflow.sdk import DAG, task
from airflow_argo_provider import Container, argo_task_group

with DAG("failing_api", schedule=None) as dag:
    checks = argo_task_group(
        "checks",
        Container(image="busybox", command=["sh", "-c", "[ {{item}} -lt 3 ]"]),
        with_items=[1, 2, 3],
    )

    @task
    def after(value):
        return value

    after(checks.output)
"""


def test_a_failed_fan_out_fails_the_group_and_stops_downstream(airflow_db: Path) -> None:
    run, xcoms = run_python_dag(airflow_db, "failing_api", FAILING)
    assert str(run.state) == "failed"
    assert ("after", -1, "return_value") not in xcoms
    phases = {
        c["children"][0]["display_name"]: c["children"][0]["phase"]
        for (task, _, key), c in xcoms.items()
        if task == "checks.checks" and key == "argo"
    }
    assert phases == {"checks(0:1)": "Succeeded", "checks(1:2)": "Succeeded", "checks(2:3)": "Failed"}


CHAINED = """
from airflow.sdk import DAG
from airflow_argo_provider import Container, argo_task_group

with DAG("chained_api", schedule=None) as dag:
    first = argo_task_group("first", Container(image="busybox", command=["sh", "-c", "exit {{workflow.parameters.code}}"]), parameters={"code": "0"})
    second = argo_task_group("second", Container(image="busybox", command=["echo", "{{item}}"]), with_items=[1, 2])
    first >> second
"""


def _states(dag_id: str, run_id: str) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.state).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.map_index < 1
            )
        ).all()
    return {task_id: str(state) for task_id, state in rows}


def test_a_group_after_a_failed_group_does_not_run(airflow_db: Path) -> None:
    run, xcoms = run_python_dag(airflow_db, "chained_api", CHAINED, {"code": "3"})
    assert str(run.state) == "failed"
    states = _states("chained_api", run.run_id)
    assert states["first.first"] == "failed"
    # The second group's first task waits for the first group's success, as any Airflow task would.
    assert states["second.second_items"] == "upstream_failed"
    assert not [k for k in xcoms if k[0] == "second.second" and k[2] == "argo"]

    run, xcoms = run_python_dag(airflow_db, "chained_api", CHAINED, {"code": "0"})
    assert str(run.state) == "success"
    assert xcoms[("second.workflow_phase", -1, "return_value")] == [1, 2]


MANIFEST = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: embedded}
spec:
  entrypoint: main
  arguments: {parameters: [{name: greeting, value: hello}]}
  templates:
  - name: main
    outputs:
      parameters:
      - name: said
        valueFrom: {parameter: "{{steps.say.outputs.result}}"}
    steps:
    - - name: say
        template: echo
        arguments: {parameters: [{name: text, value: "{{workflow.parameters.greeting}} world"}]}
  - name: echo
    inputs: {parameters: [{name: text}]}
    container: {image: busybox, command: [echo, "{{inputs.parameters.text}}"]}
"""


def test_a_manifest_as_a_task_group(airflow_db: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "embedded.yaml"
    manifest.write_text(MANIFEST)
    source = f"""
from airflow.sdk import DAG, task
from airflow_argo_provider import manifest_task_group

with DAG("manifest_api", schedule=None) as dag:
    @task
    def before():
        return "ready"

    group = manifest_task_group({str(manifest)!r}, group_id="greeter")

    @task
    def after(outputs):
        return outputs["said"]

    before() >> group
    after(group.output)
"""
    run, xcoms = run_python_dag(airflow_db, "manifest_api", source, {"greeting": "bonjour"})
    assert str(run.state) == "success"
    assert xcoms[("after", -1, "return_value")] == "bonjour world"


def test_bad_templates_are_reported_like_manifests(airflow_db: Path) -> None:
    from airflow.sdk import DAG

    from airflow_argo_provider import Container, argo_task_group

    with DAG("bad_api", schedule=None), pytest.raises(ManifestError) as info:
        argo_task_group("x", Container(image="busybox", extra={"activeDeadlineSecond": 3}))
    assert "AAP011" in str(info.value) and "did you mean activeDeadlineSeconds?" in str(info.value)


def test_retry_strategy_on_any_operator() -> None:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    strategy = RetryStrategy(limit=3, policy="OnTransientError", backoff=Backoff("5s", 2))
    assert strategy.to_argo() == {
        "limit": 3,
        "retryPolicy": "OnTransientError",
        "backoff": {"duration": "5s", "factor": 2},
    }
    with DAG("retry_any", schedule=None):
        op = strategy.apply(EmptyOperator(task_id="x"))
    assert op.retries == 3
    policy = op.retry_policy
    decision = policy.evaluate(ConnectionError("connection reset by peer"), 1, 4)
    assert decision.action.value == "retry" and decision.retry_delay.total_seconds() == 5
    assert policy.evaluate(ConnectionError("reset"), 2, 4).retry_delay.total_seconds() == 10
    assert policy.evaluate(ValueError("bad input"), 1, 4).action.value == "fail"  # not transient
    with pytest.raises(ValueError, match="policy must be one of"):
        RetryStrategy(policy="Sometimes")
