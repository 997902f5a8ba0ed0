"""containerSet templates in the local backend: processes in dependency order, through Airflow."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import nodes_by_name

EXAMPLES = "container-set-template"


@pytest.mark.parametrize(
    "name", ["graph-workflow.yaml", "parallel-workflow.yaml", "sequence-workflow.yaml", "outputs-result-workflow.yaml"]
)
def test_upstream_container_set_examples_succeed(run_workflow, argo_examples: Path, name: str) -> None:
    result = run_workflow(argo_examples / EXAMPLES / name)
    assert result["phase"] == "Succeeded", result
    if name == "outputs-result-workflow.yaml":
        nodes = nodes_by_name(result)
        assert nodes["a"]["outputs"]["result"] == "hi"
        assert nodes["b"]["phase"] == "Succeeded"


def test_upstream_workspace_example_shares_a_volume(run_workflow, argo_examples: Path) -> None:
    result = run_workflow(argo_examples / EXAMPLES / "workspace-workflow.yaml")
    assert result["phase"] == "Succeeded", result
    node = nodes_by_name(result)[result["name"]]
    assert node["outputs"]["parameters"] == {"out": "hi"}
    assert "out" in node["outputs"]["artifacts"]


ORDER = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: order-}
spec:
  entrypoint: set
  templates:
  - name: set
    volumes: [{name: w, emptyDir: {}}]
    containerSet:
      volumeMounts: [{name: w, mountPath: /w}]
      containers:
      - {name: a, image: alpine, command: [sh, -c, "sleep 1; echo a >> /w/log; echo private > /tmp/mine"]}
      - {name: b, image: alpine, command: [sh, -c, "echo b >> /w/log; test ! -e /tmp/mine"], dependencies: [a]}
      - {name: main, image: alpine, command: [sh, -c, "cat /w/log"], dependencies: [b]}
    outputs:
      parameters: [{name: log, valueFrom: {path: /w/log}}]
"""


def test_dependencies_order_the_processes_and_tmp_is_private(run_workflow) -> None:
    result = run_workflow(ORDER)
    assert result["phase"] == "Succeeded", result
    node = nodes_by_name(result)[result["name"]]
    assert node["outputs"]["result"] == "a\nb"
    assert node["outputs"]["parameters"] == {"log": "a\nb"}


FAILING = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: fails-}
spec:
  entrypoint: set
  templates:
  - name: set
    volumes: [{name: marks, hostPath: {path: MARKS}}]
    containerSet:
      retryStrategy: {retries: 2}
      volumeMounts: [{name: marks, mountPath: /marks}]
      containers:
      - {name: a, image: alpine, command: [sh, -c, "echo x >> /marks/a; exit 3"]}
      - {name: b, image: alpine, command: [sh, -c, "echo ran >> /marks/b"], dependencies: [a]}
      - {name: c, image: alpine, command: [sh, -c, "echo ran >> /marks/c"]}
"""


def test_a_failing_container_fails_the_node_and_skips_its_dependents(run_workflow, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    result = run_workflow(FAILING.replace("MARKS", str(marks)))
    assert result["phase"] == "Failed"
    node = nodes_by_name(result)[result["name"]]
    assert node["message"] == "container a: Error (exit code 3)"
    assert (marks / "a").read_text().count("x") == 3  # retried twice in place
    assert not (marks / "b").exists()
    assert (marks / "c").read_text() == "ran\n"
