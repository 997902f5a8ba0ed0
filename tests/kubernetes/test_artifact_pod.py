"""The pod parts of artifacts without a cluster: mounts, Secret references, the wrapper's handover."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from airflow_argo_provider.artifacts.archive import Strategy
from airflow_argo_provider.artifacts.model import InputArtifact, OutputArtifact, StepArtifacts
from airflow_argo_provider.kubernetes import artifacts as pod_artifacts
from airflow_argo_provider.kubernetes.pod import PodBuildError, PodSettings, PodTarget, build_pod

S3 = {
    "bucket": "b",
    "key": "k",
    "accessKeySecret": {"name": "creds", "key": "id"},
    "secretKeySecret": {"name": "creds", "key": "secret"},
}


def test_inputs_in_a_volume_are_loaded_into_it() -> None:
    artifacts = StepArtifacts(
        inputs=[
            InputArtifact("plain", "/tmp/plain", {"s3": S3}),
            InputArtifact("in-volume", "/scratch/data/x", {"raw": {"data": "x"}}),
            InputArtifact("absent", "/tmp/absent", None, optional=True),
        ]
    )
    mounts = [{"name": "scratch", "mountPath": "/scratch"}]
    loader, main_mounts = pod_artifacts.load_container(artifacts, mounts, "img", None)
    assert main_mounts == [{"name": pod_artifacts.INPUTS_VOLUME, "mountPath": "/tmp/plain", "subPath": "plain"}]
    assert {"name": "scratch", "mountPath": "/scratch"} in loader["volumeMounts"]
    spec = json.loads(next(e["value"] for e in loader["env"] if e["name"] == pod_artifacts.SPEC_ENV))
    assert spec["targets"] == [{"name": "in-volume", "target": "/scratch/data/x"}]
    assert spec["secrets"] == [["creds", "id", "ARGO_ARTIFACT_SECRET_0"], ["creds", "secret", "ARGO_ARTIFACT_SECRET_1"]]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in loader["env"] if "valueFrom" in e}
    assert refs == {
        "ARGO_ARTIFACT_SECRET_0": {"name": "creds", "key": "id"},
        "ARGO_ARTIFACT_SECRET_1": {"name": "creds", "key": "secret"},
    }


def test_artifacts_need_the_agent_image() -> None:
    template = {"name": "t", "container": {"image": "alpine", "command": ["true"]}}
    artifacts = StepArtifacts(outputs=[OutputArtifact("o", "/tmp/o", {"s3": S3})])
    with pytest.raises(PodBuildError, match="kubernetes_artifact_image"):
        build_pod(template, {}, PodTarget(name="p", workflow_name="w", node_name="w.t"), PodSettings(), artifacts)


def test_the_wrapper_reports_a_missing_agent(tmp_path: Path) -> None:
    """Without argo-wait's heartbeat the wrapper gives up and says so in the document."""
    if shutil.which("dash") is None:
        pytest.fail("needs dash")
    shim = tmp_path / "busybox"
    shim.write_text('#!/bin/sh\nexec "$@"\n')
    shim.chmod(0o755)
    out = tmp_path / "result.txt"
    main_doc = tmp_path / "main.json"
    inner = ["sh", "-c", f'echo data > {out}; printf \'{{"exitCode":0,"stdout":"","files":[]}}\' > {main_doc}']
    argv = pod_artifacts.wrap_outputs(inner, [str(out), str(tmp_path / "missing")], start_timeout=1)
    argv = [str(shim) if a == pod_artifacts.capture.BUSYBOX else a for a in argv]
    paths = {
        pod_artifacts.OUTPUTS_DIR: str(tmp_path / "tars"),
        pod_artifacts.REPORT_DIR: str(tmp_path / "agent"),
        pod_artifacts.capture.RETURN_FILE: str(tmp_path / "return.json"),
        pod_artifacts.MAIN_DOCUMENT: str(main_doc),
    }
    argv = [paths.get(a, a) for a in argv]
    done = subprocess.run(["dash", *argv[2:]], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    document = json.loads((tmp_path / "return.json").read_text())
    assert document["artifacts"] == {
        "error": "the artifact agent (container argo-wait) stopped before the outputs were saved"
    }
    assert document["exitCode"] == 0
    # the existing path was handed over as a tar, the missing one was not
    assert (tmp_path / "tars" / "0.tar").exists() and not (tmp_path / "tars" / "1.tar").exists()
    assert (tmp_path / "tars" / "ready").exists()


def test_outputs_strategy_reaches_the_agent() -> None:
    artifacts = StepArtifacts(outputs=[OutputArtifact("o", "/tmp/o", {"s3": S3}, Strategy("zip"))])
    wait = pod_artifacts.wait_container(artifacts, "img", "Always")
    spec = json.loads(next(e["value"] for e in wait["env"] if e["name"] == pod_artifacts.SPEC_ENV))
    assert spec["outputs"][0]["archive"] == {"zip": {}}
    assert wait["imagePullPolicy"] == "Always"
