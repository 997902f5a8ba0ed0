"""Bad artifact input gives a clear error: at load time with file and line where the manifest
says it, on the node at run time where only the run can know (buckets, credentials, a
repository that is not configured). Nothing is silently dropped."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from airflow_argo_provider.manifest.loader import load_text
from tests.conftest import nodes_by_name


def _workflow(template: str) -> str:
    return f"""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{generateName: bad-}}
spec:
  entrypoint: main
  templates:
  - name: main
{template}
"""


def test_missing_buckets_are_named(run_workflow, moto_server: str, bucket: str) -> None:
    manifest = _workflow(
        """    steps:
    - - {name: write, template: write, continueOn: {error: true}}
      - {name: read, template: read, continueOn: {error: true}}
  - name: write
    container: {image: busybox, command: [sh, -c, "echo x > /tmp/x"]}
    outputs:
      artifacts:
      - {name: x, path: /tmp/x, s3: {bucket: no-such-bucket-1, key: a/x.tgz}}
  - name: read
    inputs:
      artifacts:
      - {name: y, path: /tmp/y, s3: {bucket: no-such-bucket-2, key: a/y}}
    container: {image: busybox, command: [cat, /tmp/y]}"""
    )
    nodes = nodes_by_name(run_workflow(manifest))
    assert nodes["write"]["phase"] == "Error"
    assert nodes["write"]["message"] == (
        "failed to save outputs: output artifact 'x': failed to upload to s3://no-such-bucket-1/a/x.tgz: "
        "bucket 'no-such-bucket-1' does not exist"
    )
    assert nodes["read"]["phase"] == "Error"
    assert nodes["read"]["message"] == (
        "artifact y failed to load: failed to read s3://no-such-bucket-2/a/y: bucket 'no-such-bucket-2' does not exist"
    )


def test_a_missing_key_is_an_error_unless_optional(run_workflow, bucket: str) -> None:
    manifest = _workflow(
        f"""    inputs:
      artifacts:
      - {{name: y, path: /tmp/y, s3: {{bucket: {bucket}, key: nothing/here}}}}
    container: {{image: busybox, command: [cat, /tmp/y]}}"""
    )
    result = run_workflow(manifest)
    assert result["phase"] == "Error"
    assert (
        result["nodes"][0]["message"]
        == f"artifact y failed to load: s3://{bucket}/nothing/here: the key does not exist"
    )


@pytest.fixture
def moto_auth(moto_server: str):
    """Make the moto server check credentials (every request needs a real IAM key)."""

    def reset(count: str) -> None:
        request = urllib.request.Request(
            f"{moto_server}/moto-api/reset-auth",
            data=count.encode(),
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    reset("0")
    try:
        yield
    finally:
        reset("inf")


def test_wrong_credentials_are_reported(run_workflow, repository: str, moto_auth: None) -> None:
    manifest = _workflow(
        """    container: {image: busybox, command: [sh, -c, "echo x > /tmp/x"]}
    outputs:
      artifacts:
      - {name: x, path: /tmp/x}"""
    )
    result = run_workflow(manifest)
    node = result["nodes"][0]
    assert node["phase"] == "Error"
    assert node["message"].startswith("failed to save outputs: output artifact 'x': failed to upload to s3://")
    assert "the credentials were refused (InvalidAccessKeyId): check the access key and secret key" in node["message"]
    assert "testing" not in node["message"]  # no secret in the message


def test_key_only_artifact_without_repository(run_workflow, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW__ARGO__ARTIFACT_REPOSITORY", raising=False)
    manifest = _workflow(
        """    container: {image: busybox, command: [sh, -c, "echo x > /tmp/x"]}
    outputs:
      artifacts:
      - {name: x, path: /tmp/x, s3: {key: only-a-key}}"""
    )
    result = run_workflow(manifest)
    node = result["nodes"][0]
    # The local backend keeps it in its own store; other backends need a repository.
    assert node["phase"] == "Succeeded"
    assert node["outputs"]["artifacts"]["x"]["local"]["key"] == "only-a-key"

    from airflow_argo_provider.artifacts.resolve import ArtifactError, output_artifacts
    from airflow_argo_provider.plan.model import Plan

    plan = Plan.__new__(Plan)
    plan.artifact_repository = None
    template = {"outputs": {"artifacts": [{"name": "x", "path": "/tmp/x", "s3": {"key": "only-a-key"}}]}}
    with pytest.raises(ArtifactError) as info:
        output_artifacts(plan, template, {})
    assert str(info.value) == (
        "outputs.artifacts.x: the S3 location has no bucket and no artifact repository is configured "
        "(set [argo] artifact_repository, or spec.artifactRepositoryRef)"
    )


MALFORMED = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: malformed-}
spec:
  entrypoint: main
  artifactRepositoryRef: {configMap: my-repos, key: v1}
  templates:
  - name: main
    steps:
    - - name: a
        template: leaf
        arguments:
          artifacts:
          - {name: in, from: "steps.x.outputs.artifacts.y"}
  - name: leaf
    inputs:
      artifacts:
      - name: in
        path: /tmp/in
        s3: {bucket: b, key: k}
        http: {url: "https://example.com/x"}
      - {name: nowhere}
    container: {image: busybox, command: ["true"]}
    outputs:
      artifacts:
      - {name: out, archive: {none: {}, zip: {}}}
      - {name: web, path: /tmp/w, http: {url: "https://example.com/"}}
      - {name: gcs, path: /tmp/g, gcs: {bucket: b, key: k}}
      - {name: oss, path: /tmp/o, oss: {bucket: b, key: k}}
      - {name: src, path: /tmp/s, git: {repo: "https://example.com/r.git"}}
"""


def test_malformed_artifacts_are_reported_with_their_line() -> None:
    mset = load_text(MALFORMED, "malformed.yaml")
    found = {(p.line, p.code, p.message) for p in mset.problems}
    expected = {
        (
            6,
            "AAP031",
            "ConfigMap 'my-repos' is not in the manifests' folder tree; add it (kind: ConfigMap) beside "
            "the workflow, or remove the ref to use [argo] artifact_repository",
        ),
        (
            14,
            "AAP031",
            "`from` must be one reference: {{steps.NAME.outputs.artifacts.ART}}, {{tasks.NAME.outputs."
            "artifacts.ART}}, {{inputs.artifacts.ART}} or {{workflow.outputs.artifacts.ART}}",
        ),
        (21, "AAP031", "an artifact takes one source; this one has s3 and http"),
        (22, "AAP031", "input artifact 'nowhere' needs a `path` to be placed at"),
        (26, "AAP031", "output artifact 'out' needs the `path` it is read from"),
        (26, "AAP031", "archive takes exactly one of none, tar and zip"),
        (29, "AAP107", "oss artifacts are not supported (S3, GCS, Azure Blob, Git, Artifactory, HTTP and raw are)"),
        (30, "AAP107", "git artifacts are inputs only (Argo has no git output)"),
    }
    assert expected <= found, sorted(found - expected)
    # HTTP uploads and GCS outputs are valid
    assert not {line for line, _, _ in found} & {27, 28}, sorted(found)
    assert not mset.manifests[0].ok


def test_only_locations_reach_xcom(run_workflow, repository: str, s3: Any) -> None:
    """A 3 MB output: the node record holds its location (a few hundred bytes), not its bytes."""
    manifest = _workflow(
        """    container: {image: busybox, command: [sh, -c, "head -c 3000000 /dev/urandom > /tmp/big"]}
    outputs:
      artifacts:
      - {name: big, path: /tmp/big, archive: {none: {}}}"""
    )
    result = run_workflow(manifest)
    assert result["phase"] == "Succeeded", result
    record = result["nodes"][0]["outputs"]
    assert len(json.dumps(record)) < 500
    location = record["artifacts"]["big"]["s3"]
    assert s3.head_object(Bucket=location["bucket"], Key=location["key"])["ContentLength"] == 3_000_000
