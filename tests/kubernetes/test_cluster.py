"""End-to-end runs on a real Kubernetes cluster (opt-in: ``pytest -m kubernetes``).

Needs ``KUBECONFIG`` pointing at a disposable cluster (kind or k3d) that can pull public images
(busybox, alpine, python, distroless). ``ARGO_TEST_NAMESPACE`` picks the namespace (default
``default``). Each test runs a manifest through Airflow (``dag.test()``) with the ``kubernetes``
backend and a ``kubernetes_default`` connection made from that kubeconfig. See docs/kubernetes.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import nodes_by_name

pytestmark = pytest.mark.kubernetes


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> str:
    """The test cluster's namespace; the Airflow connection points at ``KUBECONFIG``."""
    kubeconfig = os.environ.get("KUBECONFIG", "")
    if not kubeconfig or not Path(kubeconfig.split(os.pathsep)[0]).is_file():
        pytest.skip("KUBECONFIG does not point at a kubeconfig file of a test cluster")
    namespace = os.environ.get("ARGO_TEST_NAMESPACE", "default")
    monkeypatch.setenv(
        "AIRFLOW_CONN_KUBERNETES_DEFAULT",
        json.dumps(
            {
                "conn_type": "kubernetes",
                "extra": {"kube_config_path": kubeconfig.split(os.pathsep)[0], "namespace": namespace},
            }
        ),
    )
    monkeypatch.setenv("AIRFLOW__ARGO__KUBERNETES_STARTUP_TIMEOUT", os.environ.get("ARGO_TEST_STARTUP_TIMEOUT", "300"))
    return namespace


def core_api() -> object:
    from kubernetes import client, config

    config.load_kube_config(config_file=os.environ["KUBECONFIG"].split(os.pathsep)[0])
    return client.CoreV1Api()


@pytest.mark.parametrize(
    ("example", "node", "result"),
    [
        ("hello-world", None, "hello world"),
        ("output-parameter", "consume-parameter", "hello world"),
        ("volumes-emptydir", None, "Volume mounted and found"),
        ("init-container", None, "bye"),
        ("pod-spec-patch", None, "hello world"),
    ],
)
def test_examples(run_workflow, cluster: str, argo_examples: Path, example: str, node: str | None, result: str) -> None:
    report = run_workflow((argo_examples / f"{example}.yaml").read_text(), backend="kubernetes")
    assert report["phase"] == "Succeeded", report
    nodes = nodes_by_name(report)
    assert nodes[node or report["name"]]["outputs"]["result"] == result


def test_scripts_and_results(run_workflow, cluster: str, argo_examples: Path) -> None:
    report = run_workflow((argo_examples / "scripts-python.yaml").read_text(), backend="kubernetes")
    assert report["phase"] == "Succeeded", report
    nodes = nodes_by_name(report)
    number = nodes["generate"]["outputs"]["result"]
    assert 1 <= int(number) <= 100
    assert nodes["print"]["outputs"]["result"] == f"result was: {number}"


def test_volume_claims_live_for_the_run(run_workflow, cluster: str, argo_examples: Path) -> None:
    report = run_workflow((argo_examples / "volumes-pvc.yaml").read_text(), backend="kubernetes")
    assert report["phase"] == "Succeeded", report
    assert nodes_by_name(report)["print"]["outputs"]["result"].endswith("hello world")
    claims = core_api().list_namespaced_persistent_volume_claim(cluster)  # type: ignore[attr-defined]
    assert not [c for c in claims.items if c.metadata.name.startswith(report["name"])]


def test_image_without_a_shell(run_workflow, cluster: str) -> None:
    manifest = """
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {generateName: distroless-}
    spec:
      entrypoint: main
      templates:
      - name: main
        container:
          image: gcr.io/distroless/python3-debian12:nonroot
          command: [python3, -c]
          args: ["open('/tmp/out.txt', 'w').write('from a file'); print('no shell here')"]
        outputs:
          parameters:
          - name: out
            valueFrom: {path: /tmp/out.txt}
    """
    report = run_workflow(manifest, backend="kubernetes")
    assert report["phase"] == "Succeeded", report
    outputs = nodes_by_name(report)[report["name"]]["outputs"]
    assert outputs["result"] == "no shell here"
    assert outputs["parameters"] == {"out": "from a file"}


def test_failures_and_retries(run_workflow, cluster: str) -> None:
    manifest = """
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {generateName: failing-}
    spec:
      entrypoint: main
      templates:
      - name: main
        steps:
        - - {name: exit-3, template: exit-3, continueOn: {failed: true}}
          - {name: bad-image, template: bad-image, continueOn: {error: true}}
          - {name: deadline, template: deadline, continueOn: {failed: true}}
      - name: exit-3
        retryStrategy: {limit: 1}
        container: {image: busybox, command: [sh, -c, "echo try {{retries}}; exit 3"]}
      - name: bad-image
        container: {image: "registry.invalid/does-not-exist:1", command: [echo]}
      - name: deadline
        activeDeadlineSeconds: 15
        container: {image: busybox, command: [sleep, "600"]}
    """
    report = run_workflow(manifest, backend="kubernetes")
    nodes = nodes_by_name(report)
    assert (nodes["exit-3"]["phase"], nodes["exit-3"]["retries"], nodes["exit-3"]["outputs"]["exitCode"]) == (
        "Failed",
        1,
        "3",
    )
    assert nodes["exit-3"]["outputs"]["result"] == "try 1"
    assert nodes["bad-image"]["phase"] == "Error"
    assert nodes["deadline"]["phase"] == "Failed"
