"""resource templates in the kubernetes backend, through the object API (faked at the client)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import nodes_by_name
from tests.kubernetes.fake_cluster import FakeCluster
from tests.kubernetes.fake_objects import FakeObjectApi, patch_object_api


@pytest.fixture
def object_api(fake_cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> FakeObjectApi:
    api = FakeObjectApi()
    patch_object_api(monkeypatch, api)
    monkeypatch.setenv("AIRFLOW__ARGO__RESOURCE_POLL_INTERVAL", "0.05")
    return api


def test_upstream_k8s_orchestration(run_workflow, object_api: FakeObjectApi, argo_examples: Path) -> None:
    """Create a Job, wait for `status.succeeded > 9`, pass its name and uid on, delete it."""
    object_api.statuses["Job"] = [{"active": 10}, {"active": 4, "succeeded": 6}, {"succeeded": 10}]
    result = run_workflow(argo_examples / "k8s-orchestration.yaml", backend="kubernetes")
    nodes = nodes_by_name(result)
    job = nodes["random-number-job"]
    assert job["phase"] == "Succeeded", result
    assert job["outputs"]["parameters"] == {"job-name": "rand-num-00001", "job-uid": "uid-rand-num-00001"}
    verbs = [(verb, call.get("resource"), call.get("name")) for verb, call in object_api.calls]
    assert verbs[0] == ("create", "Job", None)
    assert verbs[1:3] == [("get", "Job", "rand-num-00001")] * 2  # polled until the condition held
    assert verbs[-1] == ("delete", "Job", "rand-num-00001")
    created = object_api.calls[0][1]
    assert created["namespace"] == "argo-test"  # the connection's namespace
    assert created["body"]["spec"]["completions"] == 10
    assert ("Job", "argo-test", "rand-num-00001") not in object_api.objects
    # the step between them ran as a pod (kubectl is not in the fake's path: it fails on its own)
    assert nodes["print-generated-numbers"]["phase"] in ("Succeeded", "Failed")


WAIT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: wait-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: create
        template: create
    - - name: wait
        template: wait
        arguments: {parameters: [{name: wf-name, value: "{{steps.create.outputs.parameters.wf-name}}"}]}
  - name: create
    resource:
      action: create
      setOwnerReference: true
      manifest: |
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {generateName: sleep-}
        spec: {entrypoint: sleep}
    outputs:
      parameters:
      - {name: wf-name, valueFrom: {jsonPath: '{.metadata.name}'}}
      - {name: spec, valueFrom: {jqFilter: '.spec'}}
  - name: wait
    inputs: {parameters: [{name: wf-name}]}
    resource:
      action: get
      successCondition: status.phase == Succeeded
      failureCondition: status.phase in (Failed, Error)
      manifest: |
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          name: {{inputs.parameters.wf-name}}
"""


@pytest.mark.parametrize("final, phase", [("Succeeded", "Succeeded"), ("Error", "Failed")])
def test_get_waits_for_the_conditions(run_workflow, object_api: FakeObjectApi, final: str, phase: str) -> None:
    object_api.statuses["Workflow"] = [{}, {"phase": "Running"}, {"phase": "Running"}, {"phase": final}]
    result = run_workflow(WAIT, backend="kubernetes")
    nodes = nodes_by_name(result)
    assert nodes["create"]["outputs"]["parameters"] == {"wf-name": "sleep-00001", "spec": '{"entrypoint":"sleep"}'}
    created = object_api.calls[0][1]["body"]
    assert created["metadata"]["labels"]["dag_id"]  # setOwnerReference: the run's labels
    wait = nodes["wait"]
    assert wait["phase"] == phase
    if phase == "Failed":
        assert wait["message"] == "failure condition 'status.phase in (Failed, Error)' evaluated true"
    gets = [c for verb, c in object_api.calls if verb == "get"]
    assert len(gets) == 3 and all(c["name"] == "sleep-00001" for c in gets)


FLAGS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: flags-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: create, template: create}
    - - {name: patch, template: patch}
    - - {name: apply, template: apply}
    - - {name: delete, template: delete, arguments: {parameters: [{name: selector, value: cleanup=true}]}}
    - - {name: delete-missing, template: delete-missing}
  - name: create
    resource:
      action: create
      flags: ["--validate=false"]
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: cfg, labels: {cleanup: "true"}}
        data: {key: value}
  - name: patch
    resource:
      action: patch
      mergeStrategy: json
      flags: [configmap, cfg]
      manifest: |
        - op: add
          path: /data/extra
          value: more
  - name: apply
    resource:
      action: apply
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: cfg2, namespace: elsewhere}
        data: {a: b}
    outputs:
      parameters: [{name: ns, valueFrom: {jsonPath: '{.metadata.namespace}/{.data.a}'}}]
  - name: delete
    inputs: {parameters: [{name: selector}]}
    resource:
      action: delete
      flags: ["cm", "--selector", "{{inputs.parameters.selector}}"]
  - name: delete-missing
    resource:
      action: delete
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: never-there}
"""


def test_flags_patches_apply_and_deletes(run_workflow, object_api: FakeObjectApi) -> None:
    result = run_workflow(FLAGS, backend="kubernetes")
    assert result["phase"] == "Succeeded", result
    calls = object_api.calls
    assert calls[0][0] == "create" and calls[0][1]["query_params"] == [("fieldValidation", "Ignore")]
    verb, patch = calls[1]
    assert verb == "patch" and patch["name"] == "cfg" and patch["content_type"] == "application/json-patch+json"
    verb, applied = calls[2]
    assert verb == "apply" and applied["namespace"] == "elsewhere"
    assert applied["field_manager"] == "airflow-argo-provider" and applied["force_conflicts"] is True
    assert nodes_by_name(result)["apply"]["outputs"]["parameters"] == {"ns": "elsewhere/b"}
    verb, deleted = calls[3]
    assert verb == "delete" and deleted["label_selector"] == "cleanup=true" and deleted["name"] is None
    assert ("ConfigMap", "argo-test", "cfg") not in object_api.objects
    assert calls[4][0] == "delete" and nodes_by_name(result)["delete-missing"]["phase"] == "Succeeded"


def test_an_api_refusal_fails_the_step_with_its_message(run_workflow, object_api: FakeObjectApi) -> None:
    from tests.kubernetes.fake_objects import _error

    object_api.refuse = _error(403, "Forbidden", 'jobs.batch is forbidden: User "system:serviceaccount:argo:default"')
    result = run_workflow(WAIT, backend="kubernetes")
    node = nodes_by_name(result)["create"]
    assert node["phase"] == "Failed"
    assert node["message"] == (
        'create Workflow/(new): 403 Forbidden: jobs.batch is forbidden: User "system:serviceaccount:argo:default"'
    )


def test_render_prints_the_object(argo_examples: Path, capsys) -> None:
    from airflow_argo_provider.cli.main import main

    code = main(["render", "--backend", "kubernetes", str(argo_examples / "k8s-wait-wf.yaml")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "# resource: create, through the Kubernetes object API" in out
    assert "generateName: sleep-" in out
    assert "successCondition: status.phase == Succeeded" in out
