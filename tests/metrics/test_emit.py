"""Argo's Prometheus metrics, emitted through OpenTelemetry to a real OTLP/HTTP receiver.

The workflow carries the seed article's metric (``workflow_success``, ``when: "{{status}} ==
Succeeded"``, on the entrypoint template) with a counter, as Argo needs one, plus the other
kinds: a workflow-level gauge with a ``{{workflow.status}}`` label, a histogram over a fan-out's
results with an ``{{inputs.parameters.n}}`` label, a counter whose ``when`` is false and a
realtime gauge. It runs twice: in this process, then in another one (``airflow-argo run``), and
the receiver adds up what both sent, as a collector does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_argo_provider.manifest.metrics import problems
from airflow_argo_provider.metrics.spec import MetricError, sample
from tests.metrics.otlp_receiver import otlp_receiver

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: deal-metrics-
spec:
  entrypoint: main
  metrics:
    prometheus:
    - name: workflow_duration_seconds
      help: "Duration of the workflow"
      labels:
      - {key: status, value: "{{workflow.status}}"}
      gauge:
        realtime: false
        value: "{{workflow.duration}}"
  templates:
  - name: main
    metrics:
      prometheus:
        - name: workflow_success
          help: "Workflow success count"
          when: "{{status}} == Succeeded"
          counter:
            value: "1"
    dag:
      tasks:
      - name: fetch
        template: fetch
        withItems: [1, 2, 3]
        arguments:
          parameters: [{name: n, value: "{{item}}"}]
      - name: save
        depends: fetch
        template: save
  - name: fetch
    inputs:
      parameters: [{name: n}]
    metrics:
      prometheus:
      - name: fetched_value
        help: "Values fetched"
        labels:
        - {key: item, value: "{{inputs.parameters.n}}"}
        - {key: status, value: "{{status}}"}
        histogram:
          buckets: [1.5, 2.5]
          value: "{{outputs.result}}"
      - name: fetch_failures
        help: "Failed fetches"
        when: "{{status}} == Failed"
        counter:
          value: "1"
    script:
      image: python:3.12
      command: [python]
      source: print({{inputs.parameters.n}})
  - name: save
    metrics:
      prometheus:
      - name: save_duration_gauge
        help: "Duration of save"
        labels:
        - {key: name, value: save}
        gauge:
          realtime: true
          value: "{{duration}}"
    container:
      image: busybox
      command: [sh, -c, "sleep 2.5"]
"""


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch):
    with otlp_receiver() as received:
        monkeypatch.setenv("AIRFLOW__METRICS__OTEL_ON", "True")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", received.url + "/v1/metrics")
        monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "400")
        from airflow_argo_provider.metrics import otel

        otel._RECORDER.clear()  # a fresh meter provider for this endpoint
        otel._PID.clear()
        try:
            yield received
        finally:
            for recorder in otel._RECORDER:
                recorder.shutdown()
            otel._RECORDER.clear()
            otel._PID.clear()


def test_the_seed_metric_and_the_builtins_reach_an_otlp_receiver(run_workflow, receiver, tmp_path: Path) -> None:
    path = tmp_path / "deal-metrics.yaml"
    path.write_text(WORKFLOW)
    result = run_workflow(path)
    assert result["phase"] == "Succeeded"

    # the seed's metric, on the entrypoint template: one success
    assert receiver.value("argo_workflows_workflow_success") == 1
    assert receiver.kinds["argo_workflows_workflow_success"] == "sum"
    assert "argo-workflows" in receiver.scopes
    # `when` false: never emitted
    assert receiver.series("argo_workflows_fetch_failures") == {}
    # a histogram per item label, with the template's buckets
    hist = receiver.histograms[("argo_workflows_fetched_value", (("item", "2"), ("status", "Succeeded")))]
    assert hist["bounds"] == [1.5, 2.5] and hist["sum"] == 2.0 and hist["buckets"] == [0, 1, 0]
    assert len(receiver.series("argo_workflows_fetched_value")) == 3
    # the workflow-level gauge, with its status label
    duration = receiver.value("argo_workflows_workflow_duration_seconds", status="Succeeded")
    assert duration is not None and duration > 2.5
    # a realtime gauge moved while the step ran, and ended at the step's duration
    points = receiver.history[("argo_workflows_save_duration_gauge", (("name", "save"),))]
    assert points[-1] >= 2.5 and any(0 < p < points[-1] for p in points), points
    # the controller's built-ins: workflows and pods by phase
    assert receiver.value("argo_workflows_total_count", phase="Succeeded", namespace="default") == 1
    assert receiver.value("argo_workflows_total_count", phase="Running", namespace="default") == 1
    assert receiver.value("argo_workflows_pods_total_count", phase="Succeeded", namespace="default") == 4

    # a second run in another process: the receiver adds up what both processes sent
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__CORE__DAGS_FOLDER"}
    cli = Path(sys.executable).parent / "airflow-argo"
    done = subprocess.run(
        [str(cli), "run", str(path)], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    deadline = time.monotonic() + 10
    while receiver.value("argo_workflows_workflow_success") != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert receiver.value("argo_workflows_workflow_success") == 2
    assert receiver.value("argo_workflows_total_count", phase="Succeeded", namespace="default") == 2
    assert receiver.value("argo_workflows_pods_total_count", phase="Succeeded", namespace="default") == 8
    hist = receiver.histograms[("argo_workflows_fetched_value", (("item", "2"), ("status", "Succeeded")))]
    assert hist["count"] == 2 and hist["sum"] == 4.0


def test_a_failing_step_counts_its_failures_and_the_workflow_status(run_workflow, receiver, tmp_path: Path) -> None:
    failing = WORKFLOW.replace(
        "source: print({{inputs.parameters.n}})", "source: raise SystemExit({{inputs.parameters.n}} - 1)"
    )
    result = run_workflow(failing)
    assert result["phase"] == "Failed"
    assert receiver.value("argo_workflows_fetch_failures") == 2  # items 2 and 3 exit non-zero
    assert receiver.series("argo_workflows_workflow_success") == {}
    assert receiver.value("argo_workflows_workflow_duration_seconds", status="Failed") is not None
    assert receiver.value("argo_workflows_total_count", phase="Failed", namespace="default") == 1
    assert receiver.value("argo_workflows_pods_total_count", phase="Failed", namespace="default") == 2


def test_metrics_are_off_without_otel(run_workflow, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_argo_provider.metrics import otel

    monkeypatch.setenv("AIRFLOW__METRICS__OTEL_ON", "False")
    assert otel.recorder() is None


def test_a_metric_sample_follows_argo_substitution() -> None:
    spec = {
        "name": "m",
        "help": "h {{inputs.parameters.x}}",
        "when": "{{status}} == Succeeded",
        "labels": [{"key": "k", "value": "{{inputs.parameters.x}}"}],
        "gauge": {"value": "{{outputs.result}}"},
    }
    scope = {"status": "Succeeded", "inputs.parameters.x": "a b", "outputs.result": " 4.5\n"}
    found = sample(spec, scope)
    assert found is not None and (found.value, found.labels, found.help) == (4.5, {"k": "a b"}, "h a b")
    assert sample(spec, {**scope, "status": "Failed"}) is None
    # never Jinja, never eval: a Jinja-looking or Python value is just text that is not a number
    with pytest.raises(MetricError, match="is not a number"):
        sample({**spec, "gauge": {"value": "{{ 7*6 }}"}}, {**scope, "7*6": "x"})
    with pytest.raises(MetricError, match="unable to substitute"):
        sample({**spec, "gauge": {"value": "{{outputs.parameters.nope}}"}}, scope)


def test_metric_checks_follow_argo_validation() -> None:
    def codes(spec: object, scope: str = "template") -> list[tuple[bool, str]]:
        return [(error, message) for _, error, message in problems(spec, scope)]

    assert codes({"name": "ok_name", "help": "h", "counter": {"value": "1"}}) == []
    assert codes({"name": "bad-name", "help": "h", "counter": {"value": "1"}})[0][0] is True
    assert codes({"name": "m", "counter": {"value": "1"}}) == [
        (True, "metric 'm' must contain a help string under 'help: ' field")
    ]
    # the seed article's metric as written has no counter: Argo accepts it and never emits it
    assert codes({"name": "workflow_success", "help": "Workflow success count", "when": "{{status}} == Succeeded"}) == [
        (False, "metric 'workflow_success' has no counter, gauge or histogram: it is never emitted")
    ]
    assert (
        codes({"name": "m", "help": "h", "gauge": {"realtime": True, "value": "{{duration}}"}}, "workflow")[0][0]
        is False
    )


def test_manifest_findings() -> None:
    from airflow_argo_provider.manifest import load_text

    text = WORKFLOW.replace("name: fetched_value", "name: fetched-value").replace("{key: item,", "{key: my-item,")
    mset = load_text(text, "metrics.yaml")
    found = {(p.code, p.message) for p in mset.problems}
    assert (
        "AAP036",
        "metric name 'fetched-value' is invalid: names may only contain alphanumeric characters or '_'",
    ) in found
    assert (
        "AAP036",
        "metric label 'my-item' is invalid: keys may only contain alphanumeric characters or '_'",
    ) in found
    assert not any("Prometheus metrics are not emitted" in message for _, message in found)
    assert not {p.code for p in load_text(WORKFLOW, "ok.yaml").problems}
