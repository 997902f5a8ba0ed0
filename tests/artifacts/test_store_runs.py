"""The upstream Argo examples that use GCS, Azure Blob, Git and Artifactory artifacts, run with
the local backend against real local servers.

Only the addresses are changed (the emulator's or local server's instead of the cloud's); the
Kubernetes Secrets the examples name are Airflow Variables, as the local backend reads them.
"""

from __future__ import annotations

import json
import tarfile
import threading
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.artifacts import servers
from tests.artifacts.test_stores import _bucket, _container, _TokenServer, service_account_key
from tests.artifacts.test_stores import azure as azure
from tests.artifacts.test_stores import gcs as gcs
from tests.conftest import nodes_by_name


def _example(argo_examples: Path, name: str, tmp_path: Path, **replace: str) -> Path:
    text = (argo_examples / name).read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


def _succeeded(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nodes = nodes_by_name(result)
    assert result["phase"] == "Succeeded", json.dumps(result["nodes"], indent=1)[:3000]
    return nodes


def test_artifactory_example(
    run_workflow, argo_examples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with servers.put_server(tmp_path / "served") as server:
        monkeypatch.setenv(
            "AIRFLOW_VAR_MY-ARTIFACTORY-CREDENTIALS", json.dumps({"username": server.user, "password": server.password})
        )
        path = _example(argo_examples, "artifactory-artifact.yaml", tmp_path, **{"http://artifactory:8081": server.url})
        result = run_workflow(path)
        nodes = _succeeded(result)
        stored = server.file("/artifactory/generic-local/hello_world.tgz")
        with tarfile.open(stored) as archive:
            member = archive.extractfile("hello_world.txt")
            assert member is not None and member.read() == b"hello world\n"
        assert nodes["consume-artifact"]["outputs"]["result"] == "hello world"
        art = nodes["generate-artifact"]["outputs"]["artifacts"]["hello-art"]
        assert art["artifactory"]["url"].endswith("/generic-local/hello_world.tgz")
        assert server.password not in json.dumps(result)  # locations hold secret references only


def test_git_example(run_workflow, argo_examples: Path, tmp_path: Path) -> None:
    folder = tmp_path / "git"
    servers.make_repository(folder)
    import subprocess

    # the example checks out tag v2.1.1 and prints VERSION
    subprocess.run(["git", "-C", str(folder / "repo.git"), "tag", "v2.1.1", "v1"], check=True)
    path = _example(
        argo_examples,
        "input-artifact-git.yaml",
        tmp_path,
        **{"https://github.com/argoproj/argo-workflows.git": f"file://{folder / 'repo.git'}"},
    )
    nodes = _succeeded(run_workflow(path))
    result = nodes[next(iter(nodes))]["outputs"]["result"]
    assert "HEAD detached at v2.1.1" in result and result.endswith("1.0")


def test_gcs_examples(
    run_workflow, gcs: str, argo_examples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _TokenServer)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        key = service_account_key(f"http://127.0.0.1:{httpd.server_address[1]}/token")
        monkeypatch.setenv("AIRFLOW_VAR_MY-GCS-CREDENTIALS", json.dumps({"serviceAccountKey": key}))
        out_bucket = _bucket(gcs)
        path = _example(
            argo_examples, "output-artifact-gcs.yaml", tmp_path, **{"bucket: my-bucket\n": f"bucket: {out_bucket}\n"}
        )
        nodes = _succeeded(run_workflow(path))
        recorded = nodes[next(iter(nodes))]["outputs"]["artifacts"]["message"]
        assert recorded["gcs"]["key"] == "path/in/bucket/hello_world.txt.tgz"
        # the object is Argo's tgz of /tmp: read it back with the emulator's own API
        url = f"http://{gcs}/download/storage/v1/b/{out_bucket}/o/path%2Fin%2Fbucket%2Fhello_world.txt.tgz?alt=media"
        (tmp_path / "obj.tgz").write_bytes(urllib.request.urlopen(url, timeout=30).read())
        with tarfile.open(tmp_path / "obj.tgz") as archive:
            member = archive.extractfile("tmp/hello_world.txt")
            assert member is not None and member.read() == b"hello world\n"
        # the input example reads a key of another bucket (a file here, placed first)
        in_bucket = _bucket(gcs)
        upload = urllib.request.Request(
            f"http://{gcs}/upload/storage/v1/b/{in_bucket}/o?uploadType=media&name=path/in/bucket",
            data=b"gcs input\n",
            method="POST",
        )
        urllib.request.urlopen(upload, timeout=30).close()
        path = _example(argo_examples, "input-artifact-gcs.yaml", tmp_path, **{"my-bucket-name": in_bucket})
        nodes = _succeeded(run_workflow(path))
        assert "10 " in nodes[next(iter(nodes))]["outputs"]["result"]  # ls -l of a 10-byte file
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_azure_examples(
    run_workflow, azure: str, argo_examples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.storage.blob import BlobServiceClient

    monkeypatch.setenv("AIRFLOW_VAR_MY-AZURE-CREDENTIALS", json.dumps({"accountKey": servers.AZURITE_KEY}))
    container = _container(azure)
    endpoint = "https://myazurestorageaccountname.blob.core.windows.net"
    path = _example(
        argo_examples, "output-artifact-azure.yaml", tmp_path, **{endpoint: azure, "my-container": container}
    )
    nodes = _succeeded(run_workflow(path))
    assert (
        nodes[next(iter(nodes))]["outputs"]["artifacts"]["message"]["azure"]["blob"]
        == "path/in/container/hello_world.txt.tgz"
    )
    client = BlobServiceClient(
        account_url=azure, credential={"account_name": servers.AZURITE_ACCOUNT, "account_key": servers.AZURITE_KEY}
    )
    blob = client.get_blob_client(container, "path/in/container/hello_world.txt.tgz")
    (tmp_path / "obj.tgz").write_bytes(blob.download_blob().readall())
    with tarfile.open(tmp_path / "obj.tgz") as archive:
        member = archive.extractfile("tmp/hello_world.txt")
        assert member is not None and member.read() == b"hello world\n"
    # the input example lists the blob it placed at /my-artifact (a file, written here first)
    client.get_blob_client(container, "path/in/container").upload_blob(b"azure input\n")
    path = _example(
        argo_examples, "input-artifact-azure.yaml", tmp_path, **{endpoint: azure, "my-container": container}
    )
    nodes = _succeeded(run_workflow(path))
    assert " 12 " in nodes[next(iter(nodes))]["outputs"]["result"]  # ls -l of the 12-byte blob
