"""GCS and Azure Blob artifacts through Airflow's object storage (``ObjectStoragePath``).

A location in Argo's fields becomes an :class:`airflow.sdk.ObjectStoragePath`:

- ``gcs: {bucket, key, serviceAccountKeySecret}``: ``gs://BUCKET/KEY``. The service account
  key (the JSON key file, from the Kubernetes Secret) is the credential; without one, the
  Airflow connection ``connId`` (the google provider's filesystem), else Google's default
  credentials. ``STORAGE_EMULATOR_HOST`` points the client at an emulator (anonymous then).
- ``azure: {endpoint, container, blob, accountKeySecret, useSDKCreds}``:
  ``abfs://CONTAINER/BLOB`` on the account of ``endpoint`` (``https://ACCOUNT.blob.core.
  windows.net``, or ``http://HOST:PORT/ACCOUNT`` for Azurite). The account key (from the
  Secret) is the credential; ``useSDKCreds`` takes Azure's default credential chain; without
  either, the Airflow connection ``connId`` (the microsoft-azure provider's filesystem), else
  anonymous access (public containers).

The filesystems are fsspec's (``gcsfs``, ``adlfs``), attached to Airflow's object storage under
an alias derived from the location's settings (never its secret values). Everything streams:
reads go block by block into :func:`~.archive.place`, writes are the filesystems' chunked
uploads (GCS resumable uploads, Azure staged blocks), committed only when the producer of the
stream succeeded. A key that is not an object but a prefix with objects below it is a
directory, as for S3.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_argo_provider.artifacts.archive import CHUNK, ArchiveError, place
from airflow_argo_provider.artifacts.model import ArtifactNotFound, StoreError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

SecretReader = Callable[[str, str], str]
OBJECT_STORES = ("gcs", "azure")
BLOCK_SIZE = 8 * 1024 * 1024
EXTRAS = {"gcs": ("gcsfs", "google"), "azure": ("adlfs", "azure")}
# The providers whose filesystems serve a location's ``connId``.
PROVIDERS = {"gcs": "apache-airflow-providers-google", "azure": "apache-airflow-providers-microsoft-azure"}

for _noisy in ("azure.core.pipeline.policies.http_logging_policy", "azure.identity"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


def _secret(spec: dict[str, Any], field: str, secret: SecretReader, store: str) -> str | None:
    ref = spec.get(field)
    if ref is None:
        return None
    if not isinstance(ref, dict) or not ref.get("name") or not ref.get("key"):
        raise StoreError(f"{store} artifact: {field} must name a secret and its key")
    try:
        return secret(str(ref["name"]), str(ref["key"]))
    except Exception as exc:
        raise StoreError(f"{store} artifact credentials: {exc}") from None


def _alias(store: str, spec: dict[str, Any], keep: tuple[str, ...]) -> str:
    settings = {k: spec.get(k) for k in keep if spec.get(k) not in (None, "")}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"argo-{store}-{digest}"


def _missing_library(store: str, exc: ImportError) -> StoreError:
    library, extra = EXTRAS[store]
    return StoreError(
        f"{store} artifacts need the {library} package ({exc}); install it with "
        f"pip install 'airflow-argo-provider[{extra}]'"
    )


def _attach(protocol: str, alias: str, make_fs: Callable[[], Any]) -> None:
    from airflow.sdk.io.store import _STORE_CACHE, attach

    if f"{protocol}-{alias}" not in _STORE_CACHE:
        attach(protocol=protocol, conn_id=alias, fs=make_fs())


def _connection_path(store: str, protocol: str, url: str, conn_id: str) -> ObjectStoragePath:
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import has_fs

    if not has_fs(protocol):
        raise StoreError(
            f"{store} artifact: connId {conn_id!r} needs the Airflow provider {PROVIDERS[store]} "
            f"(its filesystem for {protocol}://); install it, or give the credentials as a secret"
        )
    return ObjectStoragePath(url, conn_id=conn_id)


# -- GCS -------------------------------------------------------------------------------------------
def gcs_path(spec: dict[str, Any], secret: SecretReader) -> ObjectStoragePath:
    """``gs://BUCKET/KEY`` with the location's credentials."""
    from airflow.sdk import ObjectStoragePath

    bucket = str(spec.get("bucket") or "")
    if not bucket:
        raise StoreError("gcs artifact has no bucket")
    url = f"gs://{bucket}/{str(spec.get('key') or '').lstrip('/')}"
    key_json = _secret(spec, "serviceAccountKeySecret", secret, "gcs")
    if key_json is None and spec.get("connId"):
        return _connection_path("gcs", "gs", url, str(spec["connId"]))
    alias = _alias("gcs", spec, ("serviceAccountKeySecret",))

    def make_fs() -> Any:
        try:
            from gcsfs.core import GCSFileSystem  # the JSON API client (no gRPC bucket probing)
        except ImportError as exc:
            raise _missing_library("gcs", exc) from None
        token: Any = None
        if key_json is not None:
            try:
                token = json.loads(key_json)
            except ValueError:
                raise StoreError("gcs artifact: serviceAccountKeySecret is not a JSON service account key") from None
        elif os.environ.get("STORAGE_EMULATOR_HOST"):
            token = "anon"
        return GCSFileSystem(token=token, block_size=BLOCK_SIZE)

    _attach("gs", alias, make_fs)
    return ObjectStoragePath(url, conn_id=alias)


# -- Azure Blob ------------------------------------------------------------------------------------
def azure_account(endpoint: str) -> tuple[str, str]:
    """(account name, blob endpoint URL) of an Argo ``endpoint``.

    ``https://ACCOUNT.blob.core.windows.net`` names the account in its host; an emulator's
    ``http://127.0.0.1:10000/ACCOUNT`` in its path.
    """
    url = endpoint.strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    host = parts.hostname or ""
    segments = [s for s in parts.path.split("/") if s]
    if segments:
        return segments[0], url
    if ".blob." in host:
        return host.split(".", 1)[0], url
    raise StoreError(
        f"azure artifact: cannot tell the storage account from endpoint {endpoint!r} "
        "(expected https://ACCOUNT.blob.core.windows.net or http://HOST:PORT/ACCOUNT)"
    )


def azure_path(spec: dict[str, Any], secret: SecretReader) -> ObjectStoragePath:
    """``abfs://CONTAINER/BLOB`` on the endpoint's account with the location's credentials."""
    from airflow.sdk import ObjectStoragePath

    container = str(spec.get("container") or "")
    if not container:
        raise StoreError("azure artifact has no container")
    url = f"abfs://{container}/{str(spec.get('blob') or '').lstrip('/')}"
    account_key = _secret(spec, "accountKeySecret", secret, "azure")
    if account_key is None and not spec.get("useSDKCreds") and spec.get("connId"):
        return _connection_path("azure", "abfs", url, str(spec["connId"]))
    endpoint = str(spec.get("endpoint") or "")
    if not endpoint:
        raise StoreError("azure artifact has no endpoint")
    account, blob_endpoint = azure_account(endpoint)
    alias = _alias("azure", spec, ("endpoint", "accountKeySecret", "useSDKCreds"))

    def make_fs() -> Any:
        try:
            from adlfs import AzureBlobFileSystem
        except ImportError as exc:
            raise _missing_library("azure", exc) from None
        if account_key is not None:
            scheme = urlsplit(blob_endpoint).scheme
            connection = (
                f"DefaultEndpointsProtocol={scheme};AccountName={account};AccountKey={account_key};"
                f"BlobEndpoint={blob_endpoint};"
            )
            return AzureBlobFileSystem(connection_string=connection, blocksize=BLOCK_SIZE)
        host = urlsplit(blob_endpoint).netloc
        if spec.get("useSDKCreds"):
            return AzureBlobFileSystem(account_name=account, account_host=host, anon=False, blocksize=BLOCK_SIZE)
        return AzureBlobFileSystem(account_name=account, account_host=host, anon=True, blocksize=BLOCK_SIZE)

    _attach("abfs", alias, make_fs)
    return ObjectStoragePath(url, conn_id=alias)


def object_path(store: str, spec: dict[str, Any], secret: SecretReader) -> ObjectStoragePath:
    if store == "gcs":
        return gcs_path(spec, secret)
    if store == "azure":
        return azure_path(spec, secret)
    raise StoreError(f"{store} is not an object store")


# -- operations ------------------------------------------------------------------------------------
def _explain(exc: BaseException, place: str, action: str) -> StoreError:
    name = type(exc).__name__
    text = str(exc).splitlines()[0][:300] if str(exc) else name
    if isinstance(exc, FileNotFoundError) and action != "read":
        text = "the bucket or container does not exist"
    elif isinstance(exc, PermissionError) or "403" in text or "AuthorizationFailure" in text:
        text = f"access denied: the credentials may not {action} {place} ({text})"
    elif "NoSuchBucket" in text or "ContainerNotFound" in text or "bucket does not exist" in text.lower():
        text = f"the bucket or container does not exist ({text})"
    else:
        text = f"{name}: {text}"
    return StoreError(f"failed to {action} {place}: {text}")


def where(path: ObjectStoragePath) -> str:
    """The path as a URL, without the alias of its filesystem."""
    return f"{path.protocol}://{path.path}"


def _is_file(path: ObjectStoragePath) -> bool:
    try:
        return bool(path.is_file())
    except FileNotFoundError:
        return False


def download(path: ObjectStoragePath, dest: Path, archive: str | None) -> None:
    """Place the object at ``dest`` (unpacked per ``archive``), or every object below the key
    as a directory; raises :class:`ArtifactNotFound` when neither exists."""
    place_where = where(path)
    key = path.path.rstrip("/")
    try:
        if not path.path.endswith("/") and _is_file(path):
            with path.open("rb", block_size=BLOCK_SIZE, cache_type="readahead") as stream:
                try:
                    place(stream, dest, archive)
                except ArchiveError as exc:
                    raise StoreError(f"{place_where}: {exc}") from None
            return
        names = [n for n in path.fs.find(key) if n.startswith(key + "/")]
    except (StoreError, ArtifactNotFound):
        raise
    except FileNotFoundError:
        names = []
    except Exception as exc:
        raise _explain(exc, place_where, "read") from None
    if not names:
        raise ArtifactNotFound(f"{place_where}: the key does not exist")
    _download_tree(path, key, sorted(names), dest, place_where)


def _download_tree(path: ObjectStoragePath, key: str, names: list[str], dest: Path, place: str) -> None:
    root = dest.parent / f".{dest.name}.tmpdir"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    try:
        for name in names:
            rel = os.path.normpath("/" + name[len(key) + 1 :]).lstrip("/")
            if not rel or rel.startswith(".."):
                raise StoreError(f"illegal object name below the prefix: {name!r}")
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with (
                path.fs.open(name, "rb", block_size=BLOCK_SIZE, cache_type="readahead") as src,
                target.open("wb") as out,
            ):
                shutil.copyfileobj(src, out, CHUNK)
    except StoreError:
        shutil.rmtree(root, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise _explain(exc, place, "read") from None
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)
    elif dest.exists() or dest.is_symlink():
        dest.unlink()
    os.replace(root, dest)


def _abort(handle: Any) -> None:
    """Throw an unfinished upload away: nothing is committed."""
    handle = getattr(handle, "_obj", handle)  # the file behind ObjectStoragePath's lineage wrapper
    try:
        handle.discard()
    except Exception:
        pass
    handle.closed = True


def upload_stream(path: ObjectStoragePath, stream: IO[bytes], check: Callable[[], None] | None = None) -> int:
    """Write everything ``stream`` yields to ``path``; ``check`` runs before the commit."""
    target = where(path)
    total = 0
    try:
        handle = path.open("wb", block_size=BLOCK_SIZE)
    except Exception as exc:
        raise _explain(exc, target, "upload to") from None
    try:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            handle.write(chunk)
            total += len(chunk)
        if check is not None:
            check()
        handle.close()
    except BaseException as exc:
        _abort(handle)
        if isinstance(exc, (ArchiveError, StoreError)) or not isinstance(exc, Exception):
            raise
        raise _explain(exc, target, "upload to") from None
    return total


def upload_directory(path: ObjectStoragePath, root: Path) -> int:
    """Each file under ``root`` as ``KEY/RELATIVE/PATH`` (Argo's ``archive: none`` directory)."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            source = Path(dirpath) / name
            if not source.is_file():
                continue
            with source.open("rb") as handle:
                upload_stream(path / source.relative_to(root).as_posix(), handle)
            count += 1
    return count
