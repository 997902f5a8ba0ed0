"""Resource templates in the local backend, end to end through Airflow with a stand-in kubectl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import nodes_by_name

HERE = Path(__file__).parent

JOB = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: k8s-jobs-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: job
        template: rand-num
    - - name: show
        template: show
        arguments:
          parameters:
          - {name: job-name, value: "{{steps.job.outputs.parameters.job-name}}"}
          - {name: succeeded, value: "{{steps.job.outputs.parameters.succeeded}}"}
  - name: rand-num
    resource:
      action: create
      successCondition: status.succeeded > 2
      failureCondition: status.failed > 1
      setOwnerReference: true
      manifest: |
        apiVersion: batch/v1
        kind: Job
        metadata:
          generateName: rand-num-
          labels: {size: "{{workflow.name}}"}
        spec:
          completions: 3
    outputs:
      parameters:
      - name: job-name
        valueFrom: {jsonPath: '{.metadata.name}'}
      - name: succeeded
        valueFrom: {jqFilter: '.status.succeeded'}
      - name: labels
        valueFrom: {jqFilter: '.metadata.labels'}
  - name: show
    inputs:
      parameters: [{name: job-name}, {name: succeeded}]
    container:
      image: busybox
      command: [echo, "{{inputs.parameters.job-name}} {{inputs.parameters.succeeded}}"]
"""


@pytest.fixture
def fake_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `kubectl` first on PATH that records its calls in the returned folder."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kubectl"
    script.write_text(
        f"#!{sys.executable}\nimport runpy, sys\nsys.path.insert(0, {str(HERE.parent.parent)!r})\n"
        f"runpy.run_path({str(HERE / 'fake_kubectl.py')!r}, run_name='__main__')\n"
    )
    script.chmod(0o755)
    state = tmp_path / "kubectl-state"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_KUBECTL_STATE", str(state))
    monkeypatch.setenv("AIRFLOW__ARGO__RESOURCE_POLL_INTERVAL", "0.1")
    return state


def calls(state: Path) -> list[dict]:
    return [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]


def test_create_waits_for_the_success_condition_and_reads_outputs(run_workflow, fake_kubectl, monkeypatch) -> None:
    statuses = [{"active": 3}, {"active": 2, "succeeded": 1}, {"succeeded": 3}]
    monkeypatch.setenv("FAKE_KUBECTL_STATUSES", json.dumps(statuses))
    result = run_workflow(JOB)
    assert result["phase"] == "Succeeded", result
    nodes = nodes_by_name(result)
    params = nodes["job"]["outputs"]["parameters"]
    assert params["job-name"] == "rand-num-x7k2p"
    assert params["succeeded"] == "3"
    labels = json.loads(params["labels"])
    assert labels["size"] == result["name"]  # {{workflow.name}} substituted in the manifest
    assert labels["dag_id"]  # setOwnerReference: labelled with the run
    assert nodes["show"]["outputs"]["result"] == "rand-num-x7k2p 3"
    recorded = calls(fake_kubectl)
    assert recorded[0]["args"] == ["create", "-f", "-", "-o", "json"]
    assert "generateName: rand-num-" in recorded[0]["stdin"] or '"generateName": "rand-num-"' in recorded[0]["stdin"]
    gets = [c["args"] for c in recorded[1:]]
    assert gets and all(a == ["get", "job.batch/rand-num-x7k2p", "-n", "default", "-o", "json"] for a in gets)
    assert len(gets) == 2  # polled until status.succeeded > 2


def test_failure_condition_fails_the_step(run_workflow, fake_kubectl, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_STATUSES", json.dumps([{"active": 3}, {"failed": 2}]))
    result = run_workflow(JOB)
    assert result["phase"] == "Failed"
    node = nodes_by_name(result)["job"]
    assert node["phase"] == "Failed"
    assert node["message"] == "failure condition 'status.failed > 1' evaluated true"


def test_kubectl_error_is_reported(run_workflow, fake_kubectl, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_FAIL", 'Error from server (Forbidden): jobs.batch is forbidden: User "x"')
    result = run_workflow(JOB)
    node = nodes_by_name(result)["job"]
    assert node["phase"] == "Failed"
    assert (
        "kubectl create failed (exit code 1): Error from server (Forbidden): jobs.batch is forbidden" in node["message"]
    )


FLAGS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: flags-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: delete, template: delete, arguments: {parameters: [{name: selector, value: cleanup=true}]}}
    - - {name: patch, template: patch}
  - name: delete
    inputs: {parameters: [{name: selector}]}
    resource:
      action: delete
      flags: ["configmap", "--selector", "{{inputs.parameters.selector}}"]
  - name: patch
    resource:
      action: patch
      mergeStrategy: json
      flags: [pod, "{{pod.name}}"]
      manifest: |
        - op: add
          path: /metadata/annotations/foo
          value: bar
"""


def test_flags_and_patches_become_kubectl_arguments(run_workflow, fake_kubectl) -> None:
    result = run_workflow(FLAGS)
    assert result["phase"] == "Succeeded", result
    recorded = [c["args"] for c in calls(fake_kubectl)]
    assert recorded[0] == ["delete", "--ignore-not-found", "configmap", "--selector", "cleanup=true", "-o", "name"]
    patch = recorded[1]
    assert patch[:4] == ["patch", "--type", "json", "-p"]
    assert json.loads(patch[4]) == [{"op": "add", "path": "/metadata/annotations/foo", "value": "bar"}]
    assert patch[5] == "pod" and patch[6].startswith("flags-") and patch[7:] == ["-o", "json"]


def test_missing_kubectl_names_the_template(run_workflow, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__ARGO__LOCAL_KUBECTL", str(tmp_path / "no-such-kubectl"))
    result = run_workflow(JOB)
    node = nodes_by_name(result)["job"]
    assert node["phase"] == "Error"
    assert "template 'rand-num' is a resource template" in node["message"]
    assert "kubectl, which is not installed" in node["message"]


def test_airflow_argo_run_with_the_fake_kubectl(tmp_path, fake_kubectl, airflow_db) -> None:
    """The command line, as a user runs it: the real `airflow-argo run` process."""
    manifest = tmp_path / "k8s-jobs.yaml"
    manifest.write_text(JOB)
    env = dict(os.environ)
    env["FAKE_KUBECTL_STATUSES"] = json.dumps([{"succeeded": 3}])
    env["PYTHONPATH"] = str(HERE.parent.parent)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "airflow-argo"), "run", str(manifest), "--backend", "local"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Succeeded" in done.stdout
    assert calls(fake_kubectl)[0]["args"][:2] == ["create", "-f"]
