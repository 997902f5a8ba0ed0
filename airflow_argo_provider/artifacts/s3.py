"""S3 operations on artifacts, streamed: multipart uploads from any stream, downloads to disk.

Works on a boto3 S3 client (the local backend gets one from the amazon provider's ``S3Hook``
session, the in-pod agent from boto3's default chain or the step's secret references; see
:mod:`.clients`). Memory stays bounded by one part (8 MiB, growing only for streams above
80 GiB to stay within S3's 10,000 parts); nothing is read whole.

A key that is not an object but a prefix with objects below it is a directory (Argo's
``archive: none`` directories and key-only prefixes such as ``{{workflow.name}}/results``).
Errors are turned into messages that name the bucket and key and say what to check.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from airflow_argo_provider.artifacts.archive import CHUNK, ArchiveError, place
from airflow_argo_provider.artifacts.model import ArtifactNotFound, StoreError

PART_SIZE = 8 * 1024 * 1024
MAX_PARTS = 10_000


def _read_full(stream: IO[bytes], size: int) -> bytes:
    """Up to ``size`` bytes (fewer only at the end of the stream)."""
    parts: list[bytes] = []
    want = size
    while want > 0:
        chunk = stream.read(min(want, CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        want -= len(chunk)
    return b"".join(parts)


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code = str(error.get("Code") or "")
        if code:
            return code
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if status:
            return str(status)
    return ""


def explain(exc: BaseException, bucket: str, key: str, action: str) -> StoreError:
    """A clear message for a failed S3 call."""
    code = _code(exc)
    where = f"s3://{bucket}/{key}"
    if code == "NoSuchBucket":
        text = f"bucket {bucket!r} does not exist"
    elif code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId", "ExpiredToken"):
        text = f"the credentials were refused ({code}): check the access key and secret key"
    elif code in ("AccessDenied", "403", "AllAccessDisabled"):
        text = f"access denied ({code}): the credentials may not {action} {where}"
    elif type(exc).__name__ in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"):
        text = f"cannot reach the S3 endpoint: {exc}"
    elif type(exc).__name__ in ("NoCredentialsError", "PartialCredentialsError"):
        text = f"no credentials: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return StoreError(f"failed to {action} {where}: {text}")


def upload_stream(
    client: Any,
    bucket: str,
    key: str,
    stream: IO[bytes],
    *,
    extra: dict[str, Any] | None = None,
    part_extra: dict[str, Any] | None = None,
    check: Callable[[], None] | None = None,
    part_size: int = PART_SIZE,
) -> int:
    """Upload everything ``stream`` yields to ``bucket/key``; returns the byte count.

    Small streams are one ``PutObject``; larger ones a multipart upload, one part in memory
    at a time. ``check`` is called after the stream ended and before the object is
    committed: if it raises (the producer of the stream failed), nothing is stored.
    """
    extra = dict(extra or {})
    part_extra = dict(part_extra or {})
    try:
        chunk = _read_full(stream, part_size)
        if len(chunk) < part_size:
            if check is not None:
                check()
            client.put_object(Bucket=bucket, Key=key, Body=chunk, **extra)
            return len(chunk)
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]
    except (ArchiveError, StoreError):
        raise
    except Exception as exc:
        raise explain(exc, bucket, key, "upload to") from None
    parts: list[dict[str, Any]] = []
    total = 0
    number = 1
    try:
        while chunk:
            response = client.upload_part(
                Bucket=bucket, Key=key, PartNumber=number, UploadId=upload_id, Body=chunk, **part_extra
            )
            parts.append({"ETag": response["ETag"], "PartNumber": number})
            total += len(chunk)
            number += 1
            if number % (MAX_PARTS // 10) == 0:
                part_size *= 2  # S3 allows 10,000 parts: grow them for very large streams
            chunk = _read_full(stream, part_size)
        if check is not None:
            check()
        client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    except BaseException as exc:
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception:
            pass
        if isinstance(exc, (ArchiveError, StoreError)) or not isinstance(exc, Exception):
            raise
        raise explain(exc, bucket, key, "upload to") from None
    return total


def upload_directory(client: Any, bucket: str, prefix: str, root: Path, *, extra: dict[str, Any] | None = None) -> int:
    """Each file under ``root`` as ``prefix/RELATIVE/PATH`` (Argo's ``archive: none`` directory)."""
    base = prefix.rstrip("/")
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not path.is_file():
                continue  # broken links, sockets, devices: not files to store (as tar skips them too)
            rel = path.relative_to(root).as_posix()
            with path.open("rb") as handle:
                upload_stream(client, bucket, f"{base}/{rel}" if base else rel, handle, extra=extra)
            count += 1
    return count


def _is_missing(exc: BaseException) -> bool:
    return _code(exc) in ("NoSuchKey", "404", "NotFound")


def download(
    client: Any,
    bucket: str,
    key: str,
    dest: Path,
    archive: str | None,
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    """Place the object ``bucket/key`` at ``dest`` (unpacked per ``archive``), or, when the
    key is a prefix, every object below it as a directory. Raises :class:`ArtifactNotFound`
    when neither exists."""
    extra = dict(extra or {})
    if key and not key.endswith("/"):
        try:
            response = client.get_object(Bucket=bucket, Key=key, **extra)
        except Exception as exc:
            if not _is_missing(exc):
                raise explain(exc, bucket, key, "read") from None
        else:
            body = response["Body"]
            try:
                place(body, dest, archive)
            except ArchiveError as exc:
                raise StoreError(f"s3://{bucket}/{key}: {exc}") from None
            except Exception as exc:
                raise explain(exc, bucket, key, "read") from None
            finally:
                body.close()
            return
    if not download_prefix(client, bucket, key, dest, extra=extra):
        raise ArtifactNotFound(f"s3://{bucket}/{key}: the key does not exist")


def download_prefix(client: Any, bucket: str, key: str, dest: Path, *, extra: dict[str, Any] | None = None) -> bool:
    """Every object below ``key/`` into the directory ``dest``; False when there is none."""
    prefix = key.rstrip("/") + "/" if key else ""
    found = False
    root = dest.parent / f".{dest.name}.tmpdir"
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents") or []:
                name = entry["Key"][len(prefix) :]
                if not name or name.endswith("/"):
                    continue
                target = _inside(root, name)
                if not found:
                    if root.exists():
                        shutil.rmtree(root)
                    root.mkdir(parents=True)
                    found = True
                target.parent.mkdir(parents=True, exist_ok=True)
                body = client.get_object(Bucket=bucket, Key=entry["Key"], **(extra or {}))["Body"]
                try:
                    with open(target, "wb") as out:
                        for chunk in body.iter_chunks(CHUNK):
                            out.write(chunk)
                finally:
                    body.close()
    except StoreError:
        raise
    except Exception as exc:
        raise explain(exc, bucket, prefix, "read") from None
    if found:
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        elif dest.exists() or dest.is_symlink():
            dest.unlink()
        os.replace(root, dest)
    return found


def _inside(root: Path, name: str) -> Path:
    cleaned = os.path.normpath("/" + name).lstrip("/")
    if not cleaned or cleaned.startswith(".."):
        raise StoreError(f"illegal object name below the prefix: {name!r}")
    return root / cleaned


def ensure_bucket(client: Any, bucket: str, region: str | None, object_locking: bool) -> None:
    """``createBucketIfNotPresent``: create the bucket when it does not exist yet."""
    try:
        client.head_bucket(Bucket=bucket)
        return
    except Exception as exc:
        if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise explain(exc, bucket, "", "check") from None
    args: dict[str, Any] = {"Bucket": bucket}
    if region and region != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": region}
    if object_locking:
        args["ObjectLockEnabledForBucket"] = True
    try:
        client.create_bucket(**args)
    except Exception as exc:
        if _code(exc) not in ("BucketAlreadyOwnedByYou",):
            raise explain(exc, bucket, "", "create the bucket") from None
