"""The stores beyond S3 against real local servers: GCS (emulator), Azure Blob (Azurite), Git
(``git http-backend`` and ``file://``), HTTP and Artifactory (a PUT/GET server).

Each test saves through :class:`Stores` the way a step's outputs are saved and loads the result
back the way the next step's inputs are placed, comparing bytes; credentials come from a secret
reader, as the backends give them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tarfile
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_argo_provider.artifacts.archive import NONE, TAR, ZIP, Strategy
from airflow_argo_provider.artifacts.clients import default_sessions
from airflow_argo_provider.artifacts.model import ArtifactNotFound, OutputArtifact, StoreError
from airflow_argo_provider.artifacts.stores import Stores
from tests.artifacts import servers

SECRETS: dict[tuple[str, str], str] = {}


def read_secret(name: str, key: str) -> str:
    if (name, key) not in SECRETS:
        raise KeyError(f"secret {name}/{key} is not set")
    return SECRETS[(name, key)]


@pytest.fixture
def stores() -> Stores:
    return Stores(read_secret, default_sessions)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "tree" / "sub").mkdir(parents=True)
    (root / "tree" / "a.txt").write_text("alpha\n")
    (root / "tree" / "sub" / "b.bin").write_bytes(os.urandom(50_000))
    # more than one 8 MiB upload block: a multi-part (resumable / staged-block) upload
    (root / "big.bin").write_bytes(os.urandom(9 * 1024 * 1024 + 123))
    return root


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _same_tree(a: Path, b: Path) -> None:
    files_a = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for name in files_a:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _round_trip(stores: Stores, store: str, location: dict[str, Any], tree: Path, out: Path) -> None:
    """Every archive mode, file and directory, saved and loaded back; a missing key is not found."""
    key_field = {"gcs": "key", "azure": "blob"}[store]
    base = f"run-{uuid.uuid4().hex[:8]}"
    cases = [
        ("big.bin", Strategy(TAR)),
        ("tree", Strategy(TAR, 1)),
        ("big.bin", Strategy(ZIP)),
        ("tree", Strategy(ZIP)),
        ("big.bin", Strategy(NONE)),
        ("tree", Strategy(NONE)),
    ]
    for index, (name, strategy) in enumerate(cases):
        destination = {store: {**location, key_field: f"{base}/{index}/{name}{strategy.suffix}"}}
        artifact = OutputArtifact(name=f"a{index}", path=f"/tmp/{name}", destination=destination, strategy=strategy)
        recorded = stores.save_path(artifact, tree / name)
        assert recorded[store][key_field] == destination[store][key_field]
        dest = out / f"case{index}" / name
        stores.load(recorded, dest, None)
        if name == "tree":
            _same_tree(tree / "tree", dest)
        else:
            assert _digest(dest) == _digest(tree / "big.bin")
    # the tar of a directory is what Argo writes: one root entry named after the path
    tgz = out / "raw.tgz"
    stores.load({store: {**location, key_field: f"{base}/1/tree.tgz"}}, tgz, NONE)
    with tarfile.open(tgz) as archive:
        assert {m.name.split("/", 1)[0] for m in archive.getmembers()} == {"tree"}
    # a prefix is a directory (archive: none of a folder, read as a whole)
    stores.load({store: {**location, key_field: f"{base}/5/tree"}}, out / "prefix", None)
    _same_tree(tree / "tree", out / "prefix")
    with pytest.raises(ArtifactNotFound):
        stores.load({store: {**location, key_field: f"{base}/nothing-here"}}, out / "missing", None)


# -- GCS -------------------------------------------------------------------------------------------
class _TokenServer(BaseHTTPRequestHandler):
    """Google's OAuth token endpoint for a service account key: a signed JWT in, a token out."""

    grants: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        type(self).grants.append(body)
        payload = json.dumps({"access_token": "token-" + uuid.uuid4().hex, "expires_in": 3600, "token_type": "Bearer"})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload.encode())


@pytest.fixture(scope="module")
def gcs() -> Iterator[str]:
    pytest.importorskip("gcp_storage_emulator", reason="gcp-storage-emulator is not installed (dev extra)")
    with servers.gcs_emulator() as host:
        saved = os.environ.get("STORAGE_EMULATOR_HOST")
        os.environ["STORAGE_EMULATOR_HOST"] = host
        try:
            yield host
        finally:
            if saved is None:
                os.environ.pop("STORAGE_EMULATOR_HOST", None)
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = saved


def _bucket(fs_host: str) -> str:
    import urllib.request

    name = f"bkt-{uuid.uuid4().hex[:10]}"
    request = urllib.request.Request(
        f"http://{fs_host}/storage/v1/b?project=test",
        data=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=30).close()
    return name


def service_account_key(token_uri: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "test",
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": "argo@test.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": token_uri,
        }
    )


def test_gcs_round_trip_with_a_service_account_key(gcs: str, stores: Stores, tree: Path, tmp_path: Path) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _TokenServer)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        SECRETS[("gcs-creds", "serviceAccountKey")] = service_account_key(
            f"http://127.0.0.1:{httpd.server_address[1]}/token"
        )
        location = {
            "bucket": _bucket(gcs),
            "serviceAccountKeySecret": {"name": "gcs-creds", "key": "serviceAccountKey"},
        }
        _round_trip(stores, "gcs", location, tree, tmp_path / "out")
        # the key signed a JWT grant that was exchanged for a token (the key was really used)
        assert any("grant_type=urn" in grant and "assertion=" in grant for grant in _TokenServer.grants)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_gcs_errors_are_clear(gcs: str, stores: Stores, tree: Path, tmp_path: Path) -> None:
    SECRETS[("gcs-bad", "serviceAccountKey")] = "not json"
    bad = {"bucket": "b", "key": "k", "serviceAccountKeySecret": {"name": "gcs-bad", "key": "serviceAccountKey"}}
    with pytest.raises(StoreError, match="not a JSON service account key"):
        stores.load({"gcs": bad}, tmp_path / "x", None)
    missing = {"bucket": "b", "key": "k", "serviceAccountKeySecret": {"name": "absent", "key": "k"}}
    with pytest.raises(StoreError, match="gcs artifact credentials: .*absent"):
        stores.load({"gcs": missing}, tmp_path / "x", None)
    no_bucket = OutputArtifact(
        name="o", path="/tmp/big.bin", destination={"gcs": {"bucket": "nope-" + uuid.uuid4().hex[:6], "key": "k"}}
    )
    with pytest.raises(StoreError, match="failed to upload to gs://nope-.*: the bucket or container does not exist"):
        stores.save_path(no_bucket, tree / "big.bin")


def test_gcs_connection_needs_the_google_provider(stores: Stores, tmp_path: Path) -> None:
    from airflow.sdk.io import has_fs

    if has_fs("gs"):
        pytest.skip("the google provider is installed: connId is served by its filesystem")
    with pytest.raises(StoreError, match="connId 'my_gcp' needs the Airflow provider apache-airflow-providers-google"):
        stores.load({"gcs": {"bucket": "b", "key": "k", "connId": "my_gcp"}}, tmp_path / "x", None)


# -- Azure -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def azure() -> Iterator[str]:
    pytest.importorskip("adlfs", reason="adlfs is not installed (dev extra)")
    command = servers.azurite_command()
    if command is None:
        pytest.skip("npm is not installed: Azurite (the Azure Blob emulator) cannot be installed")
    with servers.azurite(command) as endpoint:
        yield endpoint


def _container(endpoint: str) -> str:
    from azure.storage.blob import BlobServiceClient

    name = f"ctr-{uuid.uuid4().hex[:10]}"
    client = BlobServiceClient(
        account_url=endpoint, credential={"account_name": servers.AZURITE_ACCOUNT, "account_key": servers.AZURITE_KEY}
    )
    client.create_container(name)
    return name


def test_azure_round_trip_with_an_account_key(azure: str, stores: Stores, tree: Path, tmp_path: Path) -> None:
    SECRETS[("az-creds", "accountKey")] = servers.AZURITE_KEY
    location = {
        "endpoint": azure,
        "container": _container(azure),
        "accountKeySecret": {"name": "az-creds", "key": "accountKey"},
    }
    _round_trip(stores, "azure", location, tree, tmp_path / "out")


def test_azure_refuses_a_wrong_key(azure: str, stores: Stores, tree: Path, tmp_path: Path) -> None:
    SECRETS[("az-wrong", "accountKey")] = base64.b64encode(b"0" * 64).decode()
    location = {
        "endpoint": azure,
        "container": _container(azure),
        "blob": "x.tgz",
        "accountKeySecret": {"name": "az-wrong", "key": "accountKey"},
    }
    artifact = OutputArtifact(name="o", path="/tmp/big.bin", destination={"azure": location})
    with pytest.raises(StoreError, match=r"failed to upload to abfs://ctr-.*"):
        stores.save_path(artifact, tree / "big.bin")


def test_azure_account_of_an_endpoint() -> None:
    from airflow_argo_provider.artifacts.objects import azure_account

    assert azure_account("https://myaccount.blob.core.windows.net") == (
        "myaccount",
        "https://myaccount.blob.core.windows.net",
    )
    assert azure_account("http://127.0.0.1:10000/devstoreaccount1/")[0] == "devstoreaccount1"
    with pytest.raises(StoreError, match="cannot tell the storage account"):
        azure_account("https://example.com")


# -- Git -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def git_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("git")
    return folder, servers.make_repository(folder)


def test_git_clones_a_revision_a_branch_and_shallow(stores: Stores, git_repo: Any, tmp_path: Path) -> None:
    folder, commits = git_repo
    repo = f"file://{folder / 'repo.git'}"
    stores.load({"git": {"repo": repo, "revision": "v1"}}, tmp_path / "tag", None)
    assert (tmp_path / "tag" / "VERSION").read_text() == "1.0\n"
    stores.load({"git": {"repo": repo, "revision": commits["second"][:7]}}, tmp_path / "sha", None)
    assert (tmp_path / "sha" / "VERSION").read_text() == "2.0\n"
    stores.load({"git": {"repo": repo, "revision": "feature"}}, tmp_path / "branch", None)
    assert (tmp_path / "branch" / "FEATURE").exists()
    stores.load(
        {"git": {"repo": repo, "singleBranch": True, "branch": "feature", "depth": 1}}, tmp_path / "single", None
    )
    assert (tmp_path / "single" / "FEATURE").exists()
    import subprocess

    log = subprocess.run(["git", "-C", str(tmp_path / "single"), "log", "--oneline"], capture_output=True, text=True)
    assert len(log.stdout.splitlines()) == 1  # depth 1
    stores.load({"git": {"repo": repo}}, tmp_path / "head", None)
    assert (tmp_path / "head" / "VERSION").read_text() == "2.0\n"
    with pytest.raises(StoreError, match="git checkout of .* failed"):
        stores.load({"git": {"repo": repo, "revision": "no-such-rev"}}, tmp_path / "bad", None)


def test_git_over_http_with_credentials_from_secrets(stores: Stores, git_repo: Any, tmp_path: Path) -> None:
    folder, _ = git_repo
    SECRETS[("git-creds", "username")] = "gituser"
    SECRETS[("git-creds", "password")] = "gitpass"
    SECRETS[("git-wrong", "password")] = "nope"
    with servers.git_http_server(folder) as base:
        spec = {
            "repo": f"{base}/repo.git",
            "revision": "v1",
            "usernameSecret": {"name": "git-creds", "key": "username"},
            "passwordSecret": {"name": "git-creds", "key": "password"},
        }
        stores.load({"git": spec}, tmp_path / "clone", None)
        assert (tmp_path / "clone" / "VERSION").read_text() == "1.0\n"
        # the password never lands in the clone's configuration
        assert "gitpass" not in (tmp_path / "clone" / ".git" / "config").read_text()
        wrong = {**spec, "passwordSecret": {"name": "git-wrong", "key": "password"}}
        with pytest.raises(StoreError, match="git clone of .* failed"):
            stores.load({"git": wrong}, tmp_path / "denied", None)


# -- HTTP and Artifactory --------------------------------------------------------------------------
@pytest.fixture
def put(tmp_path: Path) -> Iterator[servers.PutServer]:
    with servers.put_server(tmp_path / "served") as server:
        yield server


def test_artifactory_upload_and_download_with_basic_auth(
    stores: Stores, put: servers.PutServer, tree: Path, tmp_path: Path
) -> None:
    SECRETS[("rt", "username")] = put.user
    SECRETS[("rt", "password")] = put.password
    spec = {
        "url": f"{put.url}/artifactory/generic-local/tree.tgz",
        "usernameSecret": {"name": "rt", "key": "username"},
        "passwordSecret": {"name": "rt", "key": "password"},
    }
    artifact = OutputArtifact(name="t", path="/tmp/tree", destination={"artifactory": spec})
    recorded = stores.save_path(artifact, tree / "tree")
    assert recorded["artifactory"]["url"] == spec["url"] and recorded["archive"] == {"tar": {}}
    with tarfile.open(put.file("/artifactory/generic-local/tree.tgz")) as archive:
        assert "tree/sub/b.bin" in archive.getnames()
    method, _, headers = put.requests[-1]
    assert method == "PUT" and headers.get("Transfer-Encoding") == "chunked"  # streamed, not buffered
    stores.load(recorded, tmp_path / "back", None)
    _same_tree(tree / "tree", tmp_path / "back")
    SECRETS[("rt-bad", "password")] = "wrong"
    denied = {**spec, "passwordSecret": {"name": "rt-bad", "key": "password"}}
    with pytest.raises(StoreError, match="HTTP 401"):
        stores.save_path(OutputArtifact(name="t", path="/tmp/tree", destination={"artifactory": denied}), tree / "tree")


def test_http_upload_of_a_file_follows_a_redirect(
    stores: Stores, put: servers.PutServer, tree: Path, tmp_path: Path
) -> None:
    SECRETS[("web", "user")] = put.user
    SECRETS[("web", "pass")] = put.password
    put.redirect.add("/webhdfs/v1/big.bin")
    spec = {
        "url": f"{put.url}/webhdfs/v1/big.bin?op=CREATE&overwrite=true",
        "headers": [{"name": "X-Custom", "value": "yes"}],
        "auth": {
            "basicAuth": {
                "usernameSecret": {"name": "web", "key": "user"},
                "passwordSecret": {"name": "web", "key": "pass"},
            }
        },
    }
    artifact = OutputArtifact(name="f", path="/tmp/big.bin", destination={"http": spec}, strategy=Strategy(NONE))
    stores.save_path(artifact, tree / "big.bin")
    assert _digest(put.file("/webhdfs/v1/big.bin.redirected")) == _digest(tree / "big.bin")
    puts = [(path, headers) for method, path, headers in put.requests if method == "PUT"]
    assert [p.split("?")[0] for p, _ in puts] == ["/webhdfs/v1/big.bin", "/webhdfs/v1/big.bin.redirected"]
    assert all(h.get("X-Custom") == "yes" and h.get("Content-Length") == str(9 * 1024 * 1024 + 123) for _, h in puts)
    # a directory cannot go over HTTP unarchived
    with pytest.raises(StoreError, match="needs an archive"):
        stores.save_path(
            OutputArtifact(name="d", path="/tmp/tree", destination={"http": spec}, strategy=Strategy(NONE)),
            tree / "tree",
        )
    # the pod agent's path: the step's output as a tar stream, packed on the way
    import io

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(tree / "tree", arcname="tree")
    buffer.seek(0)
    public = OutputArtifact(name="p", path="/tmp/tree", destination={"http": {"url": f"{put.url}/public/tree.tgz"}})
    stores.save_tar(public, buffer)
    stores.load({"http": {"url": f"{put.url}/public/tree.tgz"}}, tmp_path / "from-tar", None)
    _same_tree(tree / "tree", tmp_path / "from-tar")
