"""Artifacts in real Airflow runs with the local backend, against the moto S3 server.

Each test runs a manifest with ``dag.test()``; steps are real processes, S3 is a real HTTP
endpoint (moto), and content is compared byte for byte inside the consuming step (``cmp``,
``diff -r``) and in the bucket.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

from tests.artifacts.conftest import keys
from tests.conftest import nodes_by_name


def _tree(root: Path) -> None:
    (root / "tree" / "sub" / "deeper").mkdir(parents=True)
    (root / "tree" / "a.txt").write_text("alpha\n")
    (root / "tree" / "sub" / "b.bin").write_bytes(os.urandom(70_000))
    (root / "tree" / "sub" / "deeper" / "empty").write_bytes(b"")
    # 9 MiB of random bytes: more than one 8 MiB part even uncompressed (a multipart upload)
    (root / "data.bin").write_bytes(os.urandom(9 * 1024 * 1024))


MODES = {
    "tar-file": ("/tmp/out.bin", None),
    "tar0-dir": ("/tmp/out-tree", {"tar": {"compressionLevel": 0}}),
    "zip-file": ("/tmp/out.bin", {"zip": {}}),
    "zip-dir": ("/tmp/out-tree", {"zip": {}}),
    "none-file": ("/tmp/out.bin", {"none": {}}),
    "none-dir": ("/tmp/out-tree", {"none": {}}),
}


def test_every_archive_mode_round_trips_between_dag_tasks(
    run_workflow, repository: str, s3: Any, shared_dir: Path
) -> None:
    _tree(shared_dir)
    src = shared_dir
    outputs = [
        {"name": name, "path": path, **({"archive": archive} if archive else {})}
        for name, (path, archive) in MODES.items()
    ]
    checks = " && ".join(
        f"cmp /tmp/in/{name} {src}/data.bin" if path.endswith(".bin") else f"diff -r /tmp/in/{name} {src}/tree"
        for name, (path, _) in MODES.items()
    )
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "modes-"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "dag": {
                        "tasks": [
                            {"name": "produce", "template": "produce"},
                            {
                                "name": "consume",
                                "template": "consume",
                                "depends": "produce",
                                "arguments": {
                                    "artifacts": [
                                        {"name": name, "from": f"{{{{tasks.produce.outputs.artifacts.{name}}}}}"}
                                        for name in MODES
                                    ]
                                },
                            },
                        ]
                    },
                },
                {
                    "name": "produce",
                    "container": {
                        "image": "busybox",
                        "command": ["sh", "-c", f"cp -r {src}/tree /tmp/out-tree && cp {src}/data.bin /tmp/out.bin"],
                    },
                    "outputs": {"artifacts": outputs},
                },
                {
                    "name": "consume",
                    "inputs": {"artifacts": [{"name": name, "path": f"/tmp/in/{name}"} for name in MODES]},
                    "container": {"image": "busybox", "command": ["sh", "-c", checks + " && echo identical"]},
                },
            ],
        },
    }
    result = run_workflow(json.dumps(manifest))
    nodes = nodes_by_name(result)
    assert result["phase"] == "Succeeded", result
    assert nodes["consume"]["outputs"]["result"] == "identical"

    # Only locations went to XCom: the keys Argo would use, with the archive recorded.
    recorded = nodes["produce"]["outputs"]["artifacts"]
    prefix = recorded["tar-file"]["s3"]["key"].rsplit("/", 1)[0]
    assert prefix.startswith(result["name"] + "/")  # keyFormat {{workflow.name}}/{{pod.name}}
    expected_keys = {
        "tar-file": "tar-file.tgz",
        "tar0-dir": "tar0-dir.tgz",
        "zip-file": "zip-file.zip",
        "zip-dir": "zip-dir.zip",
        "none-file": "out.bin",
        "none-dir": "out-tree",
    }
    for name, file_name in expected_keys.items():
        assert recorded[name]["s3"]["bucket"] == repository
        assert recorded[name]["s3"]["key"] == f"{prefix}/{file_name}"
    assert recorded["tar0-dir"]["archive"] == {"tar": {"compressionLevel": 0}}
    assert recorded["none-dir"]["archive"] == {"none": {}}
    assert len(json.dumps(recorded)) < 4000

    stored = keys(s3, repository, prefix + "/")
    assert f"{prefix}/out-tree/a.txt" in stored and f"{prefix}/out-tree/sub/deeper/empty" in stored

    def body(key: str) -> bytes:
        return s3.get_object(Bucket=repository, Key=key)["Body"].read()

    data = (src / "data.bin").read_bytes()
    assert body(f"{prefix}/out.bin") == data
    with tarfile.open(fileobj=io.BytesIO(body(f"{prefix}/tar-file.tgz")), mode="r:gz") as tar:
        assert tar.getnames() == ["out.bin"]  # Argo's layout: the path's base name at the root
        assert tar.extractfile("out.bin").read() == data  # type: ignore[union-attr]
    with tarfile.open(fileobj=io.BytesIO(body(f"{prefix}/tar0-dir.tgz")), mode="r:gz") as tar:
        assert "out-tree/sub/b.bin" in tar.getnames()
    with zipfile.ZipFile(io.BytesIO(body(f"{prefix}/zip-dir.zip"))) as archive:
        assert archive.read("out-tree/sub/b.bin") == (src / "tree" / "sub" / "b.bin").read_bytes()


def test_steps_pass_an_artifact_as_argo_example_does(run_workflow, repository: str, argo_examples: Path) -> None:
    result = run_workflow((argo_examples / "artifact-passing.yaml").read_text())
    assert result["phase"] == "Succeeded", result
    assert nodes_by_name(result)["consume-artifact"]["outputs"]["result"] == "hello world"


OPTIONAL = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: optional-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: produce, template: produce}
    - - name: consume
        template: consume
        arguments:
          artifacts:
          - {name: present, from: "{{steps.produce.outputs.artifacts.present}}"}
          - {name: absent, from: "{{steps.produce.outputs.artifacts.absent}}", optional: true}
    - - {name: strict, template: strict, continueOn: {error: true}}
  - name: produce
    container:
      image: busybox
      command: [sh, -c, "echo here > /tmp/present.txt"]
    outputs:
      artifacts:
      - {name: present, path: /tmp/present.txt}
      - {name: absent, path: /tmp/never-written.txt, optional: true}
  - name: consume
    inputs:
      artifacts:
      - {name: present, path: /tmp/present.txt}
      - {name: absent, path: /tmp/absent.txt, optional: true}
      - {name: unsupplied, path: /tmp/unsupplied.txt, optional: true}
    container:
      image: busybox
      command: [sh, -c, "cat /tmp/present.txt; test ! -e /tmp/absent.txt && test ! -e /tmp/unsupplied.txt && echo ok"]
  - name: strict
    container:
      image: busybox
      command: [sh, -c, "echo no file"]
    outputs:
      artifacts:
      - {name: required, path: /tmp/not-there.txt}
"""


def test_optional_artifacts_may_be_missing_and_required_outputs_may_not(run_workflow, repository: str) -> None:
    result = run_workflow(OPTIONAL)
    nodes = nodes_by_name(result)
    assert nodes["produce"]["phase"] == "Succeeded"
    assert set(nodes["produce"]["outputs"]["artifacts"]) == {"present"}  # the optional one is not recorded
    assert nodes["consume"]["phase"] == "Succeeded", nodes["consume"]
    assert nodes["consume"]["outputs"]["result"] == "here\nok"
    strict = nodes["strict"]
    assert strict["phase"] == "Error"
    assert strict["message"] == (
        "failed to save outputs: output artifact 'required': /tmp/not-there.txt: no such file or directory"
    )
    assert result["phase"] == "Succeeded"  # continueOn error


def test_key_only_artifacts_use_the_configured_repository(
    run_workflow, repository: str, s3: Any, argo_examples: Path, tmp_path: Path
) -> None:
    text = (argo_examples / "key-only-artifact.yaml").read_text()
    result = run_workflow(text.replace("/mnt/file", "/tmp/file"))
    assert result["phase"] == "Succeeded", result
    nodes = nodes_by_name(result)
    assert nodes["consume"]["outputs"]["result"] == "hello"
    assert nodes["generate"]["outputs"]["artifacts"]["file"]["s3"] == {"bucket": repository, "key": "my-file"}
    # tar.gz by default, also for a key-only artifact
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=repository, Key="my-file")["Body"].read())) as tar:
        assert tar.getnames() == ["file"]


def test_input_artifacts_from_s3_http_and_raw(run_workflow, bucket: str, s3: Any, moto_server: str) -> None:
    s3.put_object(Bucket=bucket, Key="plain/object.txt", Body=b"from s3\n")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("folder/inner.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"inner\n"))
    s3.put_object(Bucket=bucket, Key="packed.tgz", Body=buffer.getvalue())
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "plain/object.txt"})
    manifest = f"""
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {{generateName: sources-}}
    spec:
      entrypoint: main
      templates:
      - name: main
        inputs:
          artifacts:
          - name: plain
            path: /tmp/plain.txt
            mode: 0600
            s3: {{endpoint: "{moto_server.split("://")[1]}", insecure: true, bucket: {bucket}, key: plain/object.txt}}
          - name: packed
            path: /tmp/unpacked
            s3: {{bucket: {bucket}, key: packed.tgz}}
          - name: web
            path: /tmp/web.txt
            http: {{url: "{url}", headers: [{{name: X-Test, value: "1"}}]}}
          - name: inline
            path: /tmp/inline.txt
            raw: {{data: "raw text"}}
        container:
          image: busybox
          command: [sh, -c, "stat -c %a /tmp/plain.txt; cat /tmp/plain.txt /tmp/unpacked/inner.txt /tmp/web.txt /tmp/inline.txt"]
    """
    result = run_workflow(manifest)
    assert result["phase"] == "Succeeded", result
    # a gzip tar without an archive hint is detected and unpacked, as Argo does
    assert result["nodes"][0]["outputs"]["result"] == "600\nfrom s3\ninner\nfrom s3\nraw text"


def test_artifact_repository_ref_from_a_config_map(run_workflow, bucket: str, s3: Any, argo_examples: Path) -> None:
    config_map = f"""
apiVersion: v1
kind: ConfigMap
metadata:
  name: artifact-repositories
  annotations:
    workflows.argoproj.io/default-artifact-repository: default-v1
data:
  default-v1: |
    s3:
      bucket: not-this-one
  my-key: |
    s3:
      bucket: {bucket}
      keyFormat: "refs/{{{{workflow.name}}}}"
---
"""
    workflow = (argo_examples / "artifact-repository-ref.yaml").read_text()
    result = run_workflow(config_map + workflow)
    assert result["phase"] == "Succeeded", result
    key = result["nodes"][0]["outputs"]["artifacts"]["hello_world"]["s3"]["key"]
    assert key == f"refs/{result['name']}/hello_world.tgz"
    assert keys(s3, bucket) == [key]


NESTED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: nested-}
spec:
  entrypoint: main
  arguments:
    artifacts:
    - {name: seed, raw: {data: "seed text"}}
  templates:
  - name: main
    inputs:
      artifacts: [{name: seed}]
    steps:
    - - name: inner
        template: inner
        arguments:
          artifacts: [{name: seed, from: "{{inputs.artifacts.seed}}"}]
    - - name: use
        template: show
        arguments:
          artifacts: [{name: data, from: "{{steps.inner.outputs.artifacts.result}}"}]
      - name: global
        template: show
        arguments:
          artifacts: [{name: data, from: "{{workflow.outputs.artifacts.made}}"}]
  - name: inner
    inputs:
      artifacts: [{name: seed}]
    steps:
    - - name: make
        template: make
        arguments:
          artifacts: [{name: seed, from: "{{inputs.artifacts.seed}}"}]
    outputs:
      artifacts:
      - name: result
        fromExpression: "steps.make.outputs.artifacts.out"
  - name: make
    inputs:
      artifacts: [{name: seed, path: /tmp/seed}]
    container: {image: busybox, command: [sh, -c, "tr a-z A-Z < /tmp/seed > /tmp/out"]}
    outputs:
      artifacts: [{name: out, path: /tmp/out, globalName: made}]
  - name: show
    inputs:
      artifacts: [{name: data, path: /tmp/data}]
    container: {image: busybox, command: [cat, /tmp/data]}
"""


def test_artifacts_through_templates_globals_and_workflow_arguments(run_workflow, repository: str) -> None:
    """Workflow arguments reach the entrypoint, ``{{inputs.artifacts.X}}`` passes an enclosing
    template's input down, a steps template's ``fromExpression`` output and a ``globalName``
    are readable by later steps."""
    result = run_workflow(NESTED)
    assert result["phase"] == "Succeeded", result
    nodes = nodes_by_name(result)
    assert nodes["use"]["outputs"]["result"] == "SEED TEXT"
    assert nodes["global"]["outputs"]["result"] == "SEED TEXT"
