"""Load an artifact from its location, or store one, whatever the store: S3, HTTP or raw.

:class:`Stores` is what the staging code and the in-pod agent use; it dispatches to
:mod:`.s3` and :mod:`.http` and handles ``raw`` itself. Saving takes either a path on disk
(the local backend reads the step's files directly) or a tar stream of that path (in a pod
the main container hands its outputs over as an uncompressed tar, as Argo's emissary does),
and packs it per the artifact's archive strategy on the way to S3 without unpacking to disk.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import IO, Any

from airflow_argo_provider.artifacts import s3 as s3store
from airflow_argo_provider.artifacts.archive import (
    CHUNK,
    NONE,
    TAR,
    ZIP,
    ArchiveError,
    _Producer,
    packed,
    place,
)
from airflow_argo_provider.artifacts.clients import ClientCache, SecretReader, SessionFactory, encryption_args
from airflow_argo_provider.artifacts.model import ArtifactNotFound, OutputArtifact, StoreError, store_of


class Stores:
    def __init__(self, secret: SecretReader, sessions: SessionFactory) -> None:
        self.secret = secret
        self.clients = ClientCache(secret, sessions)

    # -- loading --------------------------------------------------------------------------------
    def load(self, location: dict[str, Any], dest: Path, archive: str | None) -> None:
        """Place the artifact at ``dest``; raises ArtifactNotFound / StoreError."""
        store = store_of(location)
        if archive is None:
            hint = location.get("archive")
            if isinstance(hint, dict) and hint:
                archive = next(iter(hint))
        dest.parent.mkdir(parents=True, exist_ok=True)
        if store == "raw":
            data = location["raw"].get("data")
            if data is None:
                raise StoreError("raw artifact has no data")
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            dest.write_bytes(str(data).encode("utf-8"))
            return
        if store == "http":
            from airflow_argo_provider.artifacts import http

            http.download(location["http"], dest, archive, self.secret)
            return
        if store == "local":
            _load_local(location["local"], dest, archive)
            return
        if store == "s3":
            spec = location["s3"]
            bucket, key = self._bucket_key(spec)
            _, get_extra = encryption_args(spec, self.secret)
            s3store.download(self.clients.client(spec), bucket, key, dest, archive, extra=get_extra)
            return
        raise StoreError(f"unsupported artifact location: {sorted(location)}")

    @staticmethod
    def _bucket_key(spec: dict[str, Any]) -> tuple[str, str]:
        bucket = str(spec.get("bucket") or "")
        if not bucket:
            raise StoreError("s3 artifact has no bucket (and no artifact repository supplies one)")
        return bucket, str(spec.get("key") or "")

    # -- saving ---------------------------------------------------------------------------------
    def _prepare_save(self, artifact: OutputArtifact) -> tuple[Any, str, str, dict[str, Any], dict[str, Any]]:
        spec = artifact.destination.get("s3")
        if not isinstance(spec, dict):
            raise StoreError(f"output artifact {artifact.name!r}: only S3 destinations are supported")
        bucket, key = self._bucket_key(spec)
        if not key:
            raise StoreError(f"output artifact {artifact.name!r} has no key")
        client = self.clients.client(spec)
        if spec.get("createBucketIfNotPresent") is not None:
            locking = bool((spec.get("createBucketIfNotPresent") or {}).get("objectLocking"))
            s3store.ensure_bucket(client, bucket, spec.get("region"), locking)
        put_extra, part_extra = encryption_args(spec, self.secret)
        return client, bucket, key, put_extra, part_extra

    def save_path(self, artifact: OutputArtifact, source: Path) -> dict[str, Any]:
        """Store the file or directory ``source``; returns the location to record."""
        if not (source.exists() or source.is_symlink()):
            raise ArtifactNotFound(f"{artifact.path}: no such file or directory")
        if "local" in artifact.destination:
            _save_local(artifact, source)
            return artifact.location()
        client, bucket, key, put_extra, part_extra = self._prepare_save(artifact)
        strategy = artifact.strategy
        if strategy.mode == NONE:
            if source.is_dir():
                s3store.upload_directory(client, bucket, key, source, extra=put_extra)
            else:
                with source.open("rb") as handle:
                    s3store.upload_stream(client, bucket, key, handle, extra=put_extra, part_extra=part_extra)
        else:
            with packed(source, strategy) as (stream, check):
                s3store.upload_stream(client, bucket, key, stream, extra=put_extra, part_extra=part_extra, check=check)
        return artifact.location()

    def save_tar(self, artifact: OutputArtifact, tar_stream: IO[bytes]) -> dict[str, Any]:
        """Store the artifact from an uncompressed tar of its path (one root entry)."""
        client, bucket, key, put_extra, part_extra = self._prepare_save(artifact)
        strategy = artifact.strategy
        if strategy.mode == TAR:

            def gzip_it(sink: Any) -> None:
                with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=strategy.level, mtime=0) as out:
                    shutil.copyfileobj(tar_stream, out, CHUNK)

            producer = _Producer(gzip_it)
            try:
                s3store.upload_stream(
                    client, bucket, key, producer.reader, extra=put_extra, part_extra=part_extra, check=producer.check
                )
            finally:
                producer.close()
        elif strategy.mode == ZIP:
            producer = _Producer(lambda sink: _tar_to_zip(tar_stream, sink))
            try:
                s3store.upload_stream(
                    client, bucket, key, producer.reader, extra=put_extra, part_extra=part_extra, check=producer.check
                )
            finally:
                producer.close()
        else:
            _tar_to_objects(tar_stream, client, bucket, key, put_extra, part_extra)
        return artifact.location()


def _local_path(spec: dict[str, Any]) -> Path:
    root = Path(str(spec.get("root") or ""))
    target = (root / str(spec.get("key") or "")).resolve()
    if not str(target).startswith(str(root.resolve()) + os.sep):
        raise StoreError(f"local artifact key {spec.get('key')!r} leaves the store")
    return target


def _load_local(spec: dict[str, Any], dest: Path, archive: str | None) -> None:
    """An artifact of the local backend's store (a file, or a folder for ``archive: none``)."""
    source = _local_path(spec)
    if source.is_dir():
        if dest.exists():
            shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
        shutil.copytree(source, dest, symlinks=True)
        return
    if not source.is_file():
        raise ArtifactNotFound(f"local artifact store: {spec.get('key')}: no such artifact")
    with source.open("rb") as stream:
        try:
            place(stream, dest, archive)
        except ArchiveError as exc:
            raise StoreError(f"local artifact store: {spec.get('key')}: {exc}") from None


def _save_local(artifact: OutputArtifact, source: Path) -> None:
    target = _local_path(artifact.destination["local"])
    target.parent.mkdir(parents=True, exist_ok=True)
    if artifact.strategy.mode == NONE:
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
        return
    partial = target.with_name(target.name + ".partial")
    with packed(source, artifact.strategy) as (stream, check), partial.open("wb") as out:
        shutil.copyfileobj(stream, out, CHUNK)
        check()
    os.replace(partial, target)


def _members(tar_stream: IO[bytes]) -> tarfile.TarFile:
    try:
        return tarfile.open(fileobj=tar_stream, mode="r|")
    except tarfile.TarError as exc:
        raise ArchiveError(f"the step's output could not be read: {exc}") from None


def _tar_to_zip(tar_stream: IO[bytes], sink: Any) -> None:
    with _members(tar_stream) as tar, zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for member in tar:
            name = member.name.lstrip("/")
            if member.isdir():
                info = zipfile.ZipInfo(name.rstrip("/") + "/")
                info.external_attr = ((member.mode & 0o7777) | 0o040000) << 16
                archive.writestr(info, b"")
            elif member.isreg():
                info = zipfile.ZipInfo(name)
                info.external_attr = (member.mode & 0o7777) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                source = tar.extractfile(member)
                assert source is not None
                with source, archive.open(info, "w", force_zip64=True) as dst:
                    shutil.copyfileobj(source, dst, CHUNK)


def _tar_to_objects(
    tar_stream: IO[bytes], client: Any, bucket: str, key: str, put_extra: dict[str, Any], part_extra: dict[str, Any]
) -> None:
    """``archive: none``: the single file as ``key``, a directory's files below ``key/``."""
    base = key.rstrip("/")
    root: str | None = None
    with _members(tar_stream) as tar:
        for member in tar:
            name = os.path.normpath(member.name.lstrip("/"))
            if root is None:
                root = name.split("/", 1)[0]
                if member.isreg():
                    source = tar.extractfile(member)
                    assert source is not None
                    with source:
                        s3store.upload_stream(client, bucket, key, source, extra=put_extra, part_extra=part_extra)
                    return
                continue
            if not member.isreg():
                continue
            rel = name[len(root) + 1 :] if name.startswith(root + "/") else name
            source = tar.extractfile(member)
            assert source is not None
            with source:
                s3store.upload_stream(client, bucket, f"{base}/{rel}", source, extra=put_extra, part_extra=part_extra)
    if root is None:
        raise ArchiveError("the step's output archive is empty")
