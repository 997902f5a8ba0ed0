"""Load an artifact from its location, or store one, whatever the store: S3, GCS, Azure Blob,
HTTP, Artifactory, Git (inputs) or raw.

:class:`Stores` is what the staging code and the in-pod agent use; it dispatches to
:mod:`.s3` (boto3), :mod:`.objects` (GCS and Azure Blob through Airflow's
``ObjectStoragePath``), :mod:`.http` (HTTP and Artifactory), :mod:`.git` and handles ``raw``
itself. Saving takes either a path on disk
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
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO, Any

from airflow_argo_provider.artifacts import objects
from airflow_argo_provider.artifacts import s3 as s3store
from airflow_argo_provider.artifacts.archive import (
    CHUNK,
    NONE,
    TAR,
    ArchiveError,
    _Producer,
    packed,
    place,
)
from airflow_argo_provider.artifacts.clients import ClientCache, SecretReader, SessionFactory, encryption_args
from airflow_argo_provider.artifacts.model import ArtifactNotFound, OutputArtifact, StoreError, store_of
from airflow_argo_provider.artifacts.objects import OBJECT_STORES


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
        if store in ("http", "artifactory"):
            from airflow_argo_provider.artifacts import http

            spec = location["http"] if store == "http" else http.artifactory_spec(location["artifactory"])
            http.download(spec, dest, archive, self.secret)
            return
        if store in OBJECT_STORES:
            objects.download(objects.object_path(store, location[store], self.secret), dest, archive)
            return
        if store == "git":
            from airflow_argo_provider.artifacts import git

            git.clone(location["git"], dest, self.secret)
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
        store = store_of(artifact.destination)
        if store in OBJECT_STORES:
            path = objects.object_path(store, artifact.destination[store], self.secret)
            if artifact.strategy.mode == NONE and source.is_dir():
                objects.upload_directory(path, source)
            elif artifact.strategy.mode == NONE:
                with source.open("rb") as handle:
                    objects.upload_stream(path, handle)
            else:
                with packed(source, artifact.strategy) as (stream, check):
                    objects.upload_stream(path, stream, check)
            return artifact.location()
        if store in ("http", "artifactory"):
            self._upload_http(artifact, store, lambda: _path_body(source, artifact))
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

    def _upload_http(self, artifact: OutputArtifact, store: str, opener: Any) -> None:
        from airflow_argo_provider.artifacts import http

        spec = artifact.destination[store]
        http.upload(spec if store == "http" else http.artifactory_spec(spec), opener, self.secret)

    def save_tar(self, artifact: OutputArtifact, tar_stream: IO[bytes]) -> dict[str, Any]:
        """Store the artifact from an uncompressed tar of its path (one root entry)."""
        store = store_of(artifact.destination)
        if store != "s3":
            return self._save_tar_elsewhere(artifact, store, tar_stream)
        client, bucket, key, put_extra, part_extra = self._prepare_save(artifact)
        strategy = artifact.strategy
        if strategy.mode != NONE:
            with _tar_repacked(tar_stream, strategy) as (stream, check):
                s3store.upload_stream(client, bucket, key, stream, extra=put_extra, part_extra=part_extra, check=check)
        else:
            base = key.rstrip("/")

            def put(rel: str, stream: IO[bytes]) -> None:
                target = f"{base}/{rel}" if rel else key
                s3store.upload_stream(client, bucket, target, stream, extra=put_extra, part_extra=part_extra)

            _tar_to_objects(tar_stream, put)
        return artifact.location()

    def _save_tar_elsewhere(self, artifact: OutputArtifact, store: str | None, tar_stream: IO[bytes]) -> dict[str, Any]:
        """``save_tar`` for GCS, Azure, HTTP and Artifactory: the packed stream, or (``none``)
        the tar's files one by one."""
        strategy = artifact.strategy
        if store in OBJECT_STORES:
            path = objects.object_path(store, artifact.destination[store], self.secret)
            if strategy.mode == NONE:
                _tar_to_objects(
                    tar_stream, lambda rel, stream: objects.upload_stream(path / rel if rel else path, stream)
                )
            else:
                with _tar_repacked(tar_stream, strategy) as (stream, check):
                    objects.upload_stream(path, stream, check)
            return artifact.location()
        if store in ("http", "artifactory"):
            if strategy.mode == NONE:

                def put(rel: str, stream: IO[bytes]) -> None:
                    if rel:
                        raise StoreError(
                            f"output artifact {artifact.name!r}: {artifact.path} is a directory; an HTTP upload "
                            "needs an archive (tar or zip)"
                        )
                    self._upload_http(artifact, store, lambda: nullcontext((stream, None, None)))

                _tar_to_objects(tar_stream, put)
                return artifact.location()

            @contextmanager
            def body() -> Iterator[tuple[IO[bytes], int | None, Any]]:
                with _tar_repacked(tar_stream, strategy) as (stream, check):
                    yield stream, None, check

            self._upload_http(artifact, store, body)
            return artifact.location()
        raise StoreError(f"output artifact {artifact.name!r}: unsupported destination {sorted(artifact.destination)}")


@contextmanager
def _path_body(source: Path, artifact: OutputArtifact) -> Iterator[tuple[IO[bytes], int | None, Any]]:
    """The body of an HTTP upload: the file itself (``none``), or its archive as a stream."""
    if artifact.strategy.mode == NONE:
        if source.is_dir():
            raise StoreError(
                f"output artifact {artifact.name!r}: {artifact.path} is a directory; an HTTP upload needs "
                "an archive (tar or zip)"
            )
        with source.open("rb") as handle:
            yield handle, source.stat().st_size, None
        return
    with packed(source, artifact.strategy) as (stream, check):
        yield stream, None, check


@contextmanager
def _tar_repacked(tar_stream: IO[bytes], strategy: Any) -> Iterator[tuple[IO[bytes], Any]]:
    """A tar stream of the step's output packed per ``strategy`` (gzip, or zip)."""
    if strategy.mode == TAR:

        def gzip_it(sink: Any) -> None:
            with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=strategy.level, mtime=0) as out:
                shutil.copyfileobj(tar_stream, out, CHUNK)

        producer = _Producer(gzip_it)
    else:
        producer = _Producer(lambda sink: _tar_to_zip(tar_stream, sink))
    try:
        yield producer.reader, producer.check
    finally:
        producer.close()


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


def _tar_to_objects(tar_stream: IO[bytes], put: Any) -> None:
    """``archive: none``: ``put("", stream)`` for a single file, ``put(RELATIVE/PATH, stream)``
    for each file of a directory."""
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
                        put("", source)
                    return
                continue
            if not member.isreg():
                continue
            rel = name[len(root) + 1 :] if name.startswith(root + "/") else name
            source = tar.extractfile(member)
            assert source is not None
            with source:
                put(rel, source)
    if root is None:
        raise ArchiveError("the step's output archive is empty")
