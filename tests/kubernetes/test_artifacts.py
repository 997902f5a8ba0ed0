"""Artifacts in the Kubernetes backend, at the Kubernetes API boundary, against moto S3.

Real Airflow runs (``dag.test()``) with the ``kubernetes`` backend; the fake cluster runs each
pod's containers on this machine: the ``argo-artifacts`` init container's agent (inputs), the
main container's wrappers with ``dash``, and the ``argo-wait`` sidecar's agent (outputs), with
the Secrets the pod references resolved from the fake cluster. S3 is the moto server.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_argo_provider.kubernetes.artifacts import INPUTS_VOLUME, LOAD_CONTAINER, WAIT_CONTAINER
from tests.conftest import nodes_by_name
from tests.kubernetes.fake_cluster import FakeCluster

ACCESS, SECRET = "AKIDARTIFACTS01", "s3cr3t-artifact-value"


@pytest.fixture
def s3_cluster(fake_cluster: FakeCluster, moto_server: str, monkeypatch: pytest.MonkeyPatch) -> tuple[FakeCluster, str]:
    import boto3

    bucket = f"k8s-artifacts-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    fake_cluster.secrets["s3-creds"] = {"accessKey": ACCESS, "secretKey": SECRET}
    monkeypatch.setenv("AIRFLOW__ARGO__KUBERNETES_ARTIFACT_IMAGE", "registry.example.com/airflow-argo:test")
    repository = {
        "s3": {
            "bucket": bucket,
            "endpoint": moto_server.split("://", 1)[1],
            "insecure": True,
            "accessKeySecret": {"name": "s3-creds", "key": "accessKey"},
            "secretKeySecret": {"name": "s3-creds", "key": "secretKey"},
        }
    }
    monkeypatch.setenv("AIRFLOW__ARGO__ARTIFACT_REPOSITORY", json.dumps(repository))
    return fake_cluster, bucket


def _container(pod: dict[str, Any], name: str, init: bool = False) -> dict[str, Any]:
    containers = pod["spec"]["initContainers" if init else "containers"]
    return next(c for c in containers if c["name"] == name)


def test_artifacts_pass_between_pods_in_every_archive_mode(
    run_workflow, s3_cluster: tuple[FakeCluster, str], tmp_path: Path
) -> None:
    cluster, bucket = s3_cluster
    work = tmp_path / "pods"
    (work / "src" / "tree" / "sub").mkdir(parents=True)
    (work / "src" / "tree" / "sub" / "b.bin").write_bytes(os.urandom(50_000))
    (work / "src" / "data.bin").write_bytes(os.urandom(300_000))
    src, out, into = work / "src", work / "out", work / "in"
    modes = {"tgz": None, "zipped": {"zip": {}}, "plain": {"none": {}}, "folder": {"none": {}}}
    outputs = [
        {
            "name": name,
            "path": f"{out}/tree" if name == "folder" else f"{out}/data.bin",
            **({"archive": a} if a else {}),
        }
        for name, a in modes.items()
    ]
    checks = " && ".join(
        f"diff -r {into}/{name} {src}/tree" if name == "folder" else f"cmp {into}/{name} {src}/data.bin"
        for name in modes
    )
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "k8s-artifacts-"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "steps": [
                        [{"name": "produce", "template": "produce"}],
                        [
                            {
                                "name": "consume",
                                "template": "consume",
                                "arguments": {
                                    "artifacts": [
                                        {"name": n, "from": f"{{{{steps.produce.outputs.artifacts.{n}}}}}"}
                                        for n in modes
                                    ]
                                },
                            }
                        ],
                    ],
                },
                {
                    "name": "produce",
                    "container": {
                        "image": "alpine:3.23",
                        "command": ["sh", "-c", f"mkdir -p {out} && cp -r {src}/tree {src}/data.bin {out}/"],
                    },
                    "outputs": {"artifacts": outputs},
                },
                {
                    "name": "consume",
                    "inputs": {"artifacts": [{"name": n, "path": f"{into}/{n}"} for n in modes]},
                    "container": {"image": "alpine:3.23", "command": ["sh", "-c", checks + " && echo identical"]},
                },
            ],
        },
    }
    result = run_workflow(json.dumps(manifest), backend="kubernetes")
    assert result["phase"] == "Succeeded", (result, cluster.agent_logs)
    nodes = nodes_by_name(result)
    assert nodes["consume"]["outputs"]["result"] == "identical"
    recorded = nodes["produce"]["outputs"]["artifacts"]
    assert recorded["tgz"]["s3"]["key"].endswith("/tgz.tgz") and recorded["zipped"]["s3"]["key"].endswith("/zipped.zip")
    assert recorded["plain"]["s3"]["key"].endswith("/data.bin") and recorded["folder"]["archive"] == {"none": {}}

    produce, consume = cluster.created
    # Outputs: the argo-wait sidecar stores them, with the Secrets as references only.
    wait = _container(produce, WAIT_CONTAINER)
    assert wait["image"] == "registry.example.com/airflow-argo:test"
    refs = [e["valueFrom"]["secretKeyRef"] for e in wait["env"] if "valueFrom" in e]
    assert {"name": "s3-creds", "key": "accessKey"} in refs and {"name": "s3-creds", "key": "secretKey"} in refs
    assert ACCESS not in json.dumps(cluster.created) and SECRET not in json.dumps(cluster.created)
    # Inputs: the argo-artifacts init container loads them; main mounts each with subPath, as Argo does.
    assert _container(consume, LOAD_CONTAINER, init=True)["command"][:3] == [
        "python",
        "-m",
        "airflow_argo_provider.artifacts.agent",
    ]
    mounts = [m for m in consume["spec"]["containers"][0]["volumeMounts"] if m["name"] == INPUTS_VOLUME]
    assert {(m["mountPath"], m["subPath"]) for m in mounts} == {(f"{into}/{n}", n) for n in modes}


def test_a_missing_input_is_the_init_containers_error(run_workflow, s3_cluster: tuple[FakeCluster, str]) -> None:
    _cluster, bucket = s3_cluster
    manifest = f"""
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {{generateName: k8s-missing-}}
    spec:
      entrypoint: main
      templates:
      - name: main
        inputs:
          artifacts:
          - {{name: data, path: /tmp/k8s-missing-{uuid.uuid4().hex}, s3: {{key: not/there}}}}
        container: {{image: alpine:3.23, command: [cat, /tmp/x]}}
    """
    result = run_workflow(manifest, backend="kubernetes")
    node = result["nodes"][0]
    assert node["phase"] == "Error"
    assert node["message"] == f"artifact data failed to load: s3://{bucket}/not/there: the key does not exist"


def test_a_missing_output_fails_to_save(run_workflow, s3_cluster: tuple[FakeCluster, str], tmp_path: Path) -> None:
    manifest = f"""
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {{generateName: k8s-no-output-}}
    spec:
      entrypoint: main
      templates:
      - name: main
        container: {{image: alpine:3.23, command: [sh, -c, "echo ran"]}}
        outputs:
          artifacts:
          - {{name: kept, path: {tmp_path}/never, optional: true}}
          - {{name: needed, path: {tmp_path}/nothing}}
    """
    result = run_workflow(manifest, backend="kubernetes")
    node = result["nodes"][0]
    assert node["phase"] == "Error", node
    assert (
        node["message"]
        == f"failed to save outputs: output artifact 'needed': {tmp_path}/nothing: no such file or directory"
    )
    assert node["outputs"]["result"] == "ran"
