"""containerSet templates in the kubernetes backend: one pod, a container per entry, run in order.

The fake cluster runs every container of the set at once through the set wrapper (as a kubelet
starts a pod's containers together); the wrapper makes each wait for its dependencies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_argo_provider.kubernetes import capture
from tests.conftest import nodes_by_name
from tests.kubernetes.fake_cluster import FakeCluster

GRAPH = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: graph-}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: set, template: set}
      - name: show
        template: show
        dependencies: [set]
        arguments: {parameters: [{name: x, value: "{{tasks.set.outputs.result}}"},
                                 {name: log, value: "{{tasks.set.outputs.parameters.log}}"}]}
  - name: set
    volumes: [{name: workspace, emptyDir: {}}]
    containerSet:
      volumeMounts: [{name: workspace, mountPath: /workspace}]
      containers:
      - {name: a, image: alpine:3.23, command: [sh, -c, "sleep 1; echo a >> /workspace/log"]}
      - {name: b, image: alpine:3.23, command: [sh, -c, "echo b >> /workspace/log"], dependencies: [a]}
      - {name: c, image: alpine:3.23, command: [sh, -c, "echo c >> /workspace/log"], dependencies: [a]}
      - name: main
        image: alpine:3.23
        command: [sh, -c, "echo main >> /workspace/log; echo from-main"]
        dependencies: [b, c]
    outputs:
      parameters:
      - name: log
        valueFrom: {path: /workspace/log}
  - name: show
    inputs: {parameters: [{name: x}, {name: log}]}
    container: {image: alpine:3.23, command: [echo, "{{inputs.parameters.x}}"]}
"""


def _by_name(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in pod["spec"]["containers"]}


def test_a_container_set_is_one_pod_run_in_dependency_order(run_workflow, fake_cluster: FakeCluster) -> None:
    result = run_workflow(GRAPH, backend="kubernetes")
    assert result["phase"] == "Succeeded", result
    nodes = nodes_by_name(result)
    assert nodes["set"]["outputs"]["result"] == "from-main"
    lines = nodes["set"]["outputs"]["parameters"]["log"].split("\n")
    assert lines[0] == "a" and sorted(lines[1:3]) == ["b", "c"] and lines[3] == "main"
    assert nodes["show"]["outputs"]["result"] == "from-main"

    pod = fake_cluster.created[0]
    containers = _by_name(pod)
    assert list(containers)[:4] == ["main", "a", "b", "c"]  # main first: the pod's base container
    assert capture.XCOM_SIDECAR in containers
    b = containers["b"]["command"]
    assert b[:3] == [capture.BUSYBOX, "sh", capture.WRAPPER_PATH]
    # name, collects?, retries, delay, then the dependencies and every container of the set
    assert b[5:12] == ["b", "0", "0", "0", "1", "a", "4"]
    assert b[-3:] == ["sh", "-c", "echo b >> /workspace/log"]
    assert {"name": "workspace", "mountPath": "/workspace"} in containers["b"]["volumeMounts"]
    main = containers["main"]
    assert main["command"][6] == "1" and "/workspace/log" in main["command"]
    assert {"name": capture.XCOM_VOLUME, "mountPath": capture.XCOM_DIR} in main["volumeMounts"]
    init = pod["spec"]["initContainers"][0]
    assert any(e["value"] == capture.SET_WRAPPER for e in init["env"])
    assert f"chmod 1777 {capture.SET_DIR}" in init["command"][-1]


FAILING = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: set-fails-}
spec:
  entrypoint: set
  templates:
  - name: set
    containerSet:
      retryStrategy: {retries: "2"}
      containers:
      - name: a
        image: alpine:3.23
        command: [sh, -c, "echo try >> $MARK; exit 3"]
        env: [{name: MARK, value: "MARKFILE"}]
      - {name: b, image: alpine:3.23, command: [sh, -c, "echo should not run; exit 9"], dependencies: [a]}
      - {name: c, image: alpine:3.23, command: [echo, independent]}
"""


def test_a_failing_container_fails_the_set_and_stops_its_dependents(
    run_workflow, fake_cluster: FakeCluster, tmp_path: Path
) -> None:
    mark = tmp_path / "tries"
    result = run_workflow(FAILING.replace("MARKFILE", str(mark)), backend="kubernetes")
    assert result["phase"] == "Failed"
    node = nodes_by_name(result)[result["name"]]
    assert node["phase"] == "Failed"
    assert node["message"] == "container a: Error (exit code 3)"
    assert mark.read_text().count("try") == 3  # the set's retryStrategy: 1 + 2 retries
    pod = fake_cluster.created[0]
    assert list(_by_name(pod))[0] == "main"  # no container named main: an executor container collects
    assert _by_name(pod)["main"]["image"] == "busybox:musl"
    here = fake_cluster.work / pod["metadata"]["name"] / "ctr"
    assert (here / "b" / "exit").read_text().strip() == "x"  # not run
    assert (here / "c" / "exit").read_text().strip() == "0"


def test_upstream_outputs_result_example(run_workflow, fake_cluster: FakeCluster, argo_examples: Path) -> None:
    result = run_workflow(
        argo_examples / "container-set-template" / "outputs-result-workflow.yaml", backend="kubernetes"
    )
    assert result["phase"] == "Succeeded", result
    nodes = nodes_by_name(result)
    assert nodes["a"]["outputs"]["result"] == "hi"
    assert nodes["b"]["phase"] == "Succeeded"
