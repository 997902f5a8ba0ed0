"""Golden pod manifests: the pods the Kubernetes backend builds for upstream Argo examples.

For each example, every container or script step's pod (as ``airflow-argo render`` prints it)
is compared exactly with ``tests/kubernetes/golden/NAME.yaml``, and each pod is deserialized
through the ``kubernetes`` client models and serialized back unchanged (so every field is one
the Kubernetes API knows, in the right place and type).

Regenerate after an intended change with ``AIRFLOW_ARGO_UPDATE_GOLDEN=1 pytest
tests/kubernetes/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from kubernetes.client import ApiClient, V1Pod

from airflow_argo_provider.kubernetes.pod import PodSettings, pod_yaml
from airflow_argo_provider.kubernetes.preview import Previewer
from airflow_argo_provider.manifest import load_paths
from airflow_argo_provider.manifest.loader import runnable_manifest
from airflow_argo_provider.plan.build import build_plan

GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = [
    "hello-world",
    "scripts-python",
    "output-parameter",
    "volumes-emptydir",
    "volumes-pvc",
    "secrets",
    "pod-spec-patch",
    "pod-metadata",
    "node-selector",
    "init-container",
    "sidecar",
    "retry-container",
    "timeouts-step",
    # workflow-level pod settings and the other patch forms
    "pod-spec-yaml-patch",
    "pod-spec-patch-wf-tmpl",
    "pod-metadata-wf-field",
    "dns-config",
    "image-pull-secrets",
    "volumes-existing",
    "sidecar-nginx",
    "loops-maps",
    # artifacts: the argo-artifacts init container, the argo-wait sidecar, subPath input mounts
    "artifact-passing",
    "input-artifact-s3",
    "output-artifact-s3",
    # container sets: a container per entry, main first, the set wrapper
    "container-set-template/graph-workflow",
    "container-set-template/outputs-result-workflow",
]
# The deployment settings the artifact examples are rendered with (a MinIO repository, as in
# Argo's quick start, with its credentials as Secret references).
ARTIFACT_IMAGE = "registry.example.com/airflow-argo:0.1.0"
REPOSITORY = {
    "s3": {
        "bucket": "my-bucket",
        "endpoint": "minio:9000",
        "insecure": True,
        "accessKeySecret": {"name": "my-minio-cred", "key": "accesskey"},
        "secretKeySecret": {"name": "my-minio-cred", "key": "secretkey"},
    }
}


def render_pods(path: Path) -> str:
    mset = load_paths([path])
    manifest = runnable_manifest(mset, str(path))
    assert manifest is not None, path
    errors = [p.format() for p in manifest.problems if not p.note and p.code != "AAP013"]
    assert not errors, errors
    manifest.problems = []
    plan = build_plan(manifest, mset)
    documents = []
    for preview in Previewer(plan, settings=PodSettings(artifact_image=ARTIFACT_IMAGE)).leaves():
        if preview.node.body not in ("container", "script", "containerSet"):
            continue
        assert preview.pod is not None, preview.problem
        header = f"# {preview.node.id}: template {plan.template(preview.node.template).get('name')}\n"
        documents.append(header + pod_yaml(preview.pod))
    return "---\n".join(documents)


def _file(name: str) -> str:
    return name.replace("/", "__")


class _Response:
    def __init__(self, data: str) -> None:
        self.data = data


@pytest.mark.parametrize("name", EXAMPLES)
def test_golden_pod(name: str, argo_examples: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__ARGO__ARTIFACT_REPOSITORY", json.dumps(REPOSITORY))
    text = render_pods(argo_examples / f"{name}.yaml")
    golden = GOLDEN / f"{_file(name)}.yaml"
    if os.environ.get("AIRFLOW_ARGO_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert golden.is_file(), f"{golden} is missing: run with AIRFLOW_ARGO_UPDATE_GOLDEN=1"
    assert text == golden.read_text()
    client = ApiClient()
    pods = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    assert pods
    for document in pods:
        pod = client.deserialize(_Response(json.dumps(document)), "V1Pod")
        assert isinstance(pod, V1Pod)
        assert client.sanitize_for_serialization(pod) == document
        assert pod.spec.containers[0].name == "main"
        assert pod.spec.init_containers[0].name == "argo-init"
        assert pod.spec.restart_policy == "Never"


def test_golden_files_are_all_checked() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.yaml")) == sorted(_file(n) for n in EXAMPLES)
