"""Packing and unpacking artifacts the way Argo's executor does, as streams.

Argo packs an output artifact according to its ``archive`` strategy:

- ``tar`` (the default): a gzip-compressed tar whose single root entry is the path's base
  name (``hello_world.txt``, or ``tmp/`` with everything below it); ``compressionLevel``
  sets gzip's level (0 still writes a gzip stream, uncompressed);
- ``zip``: a zip file with the same layout;
- ``none``: the file as it is, or a directory as one object per file.

On input, an explicit ``archive`` decides; otherwise a gzip-compressed tar is detected and
unpacked, anything else is placed as it is (Argo does not detect zip files). Unpacking
extracts into a temporary folder beside the destination and then renames: a single root
entry becomes the destination itself, several become the destination folder's content.

Everything here streams: :func:`pack` writes to any writable binary stream, :func:`packed`
turns that into a readable stream (a pipe fed by a thread), :func:`unpack_stream` reads a
tar from a non-seekable stream. Only a zip is spooled to disk first (its index is at the
end). Paths inside archives are checked: nothing is written outside the destination, and
links may not point outside it. Standard library only (the in-pod agent uses it too).
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import tarfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

NONE = "none"
TAR = "tar"
ZIP = "zip"
MODES = (NONE, TAR, ZIP)
DEFAULT_LEVEL = 6  # gzip's default, as Go's gzip.DefaultCompression
CHUNK = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"


class ArchiveError(Exception):
    """An archive cannot be written or read (or would write outside its destination)."""


@dataclass(frozen=True)
class Strategy:
    """How an artifact is archived: ``mode`` (none, tar, zip) and the gzip level of a tar."""

    mode: str = TAR
    level: int = DEFAULT_LEVEL

    @property
    def suffix(self) -> str:
        """The file name suffix Argo gives the object (``NAME.tgz``, ``NAME.zip``)."""
        return {TAR: ".tgz", ZIP: ".zip"}.get(self.mode, "")

    def to_json(self) -> dict[str, Any]:
        if self.mode == TAR:
            return {"tar": {"compressionLevel": self.level}} if self.level != DEFAULT_LEVEL else {"tar": {}}
        return {self.mode: {}}


def strategy_of(archive: Any, default: str | None = TAR) -> Strategy | None:
    """The strategy of an Argo ``archive`` field (``None`` when absent and no default)."""
    if not isinstance(archive, dict) or not archive:
        return Strategy(default) if default else None
    if archive.get("none") is not None:
        return Strategy(NONE)
    if archive.get("zip") is not None:
        return Strategy(ZIP)
    tar = archive.get("tar")
    if tar is not None:
        level = (tar or {}).get("compressionLevel")
        if level is None:
            return Strategy(TAR)
        try:
            value = int(level)
        except (TypeError, ValueError):
            raise ArchiveError(f"archive.tar.compressionLevel must be a number from 0 to 9, not {level!r}") from None
        if not 0 <= value <= 9:
            raise ArchiveError(f"archive.tar.compressionLevel must be from 0 to 9, not {value}")
        return Strategy(TAR, value)
    return Strategy(default) if default else None


# -- packing --------------------------------------------------------------------------------
def pack(source: Path, strategy: Strategy, sink: IO[bytes]) -> None:
    """Write ``source`` (a file or a directory) to ``sink`` as a tar.gz or a zip."""
    if not (source.exists() or source.is_symlink()):
        raise FileNotFoundError(f"{source}: no such file or directory")
    root = source.name or "artifact"
    if strategy.mode == TAR:
        with (
            gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=strategy.level, mtime=0) as compressed,
            tarfile.open(fileobj=compressed, mode="w|", format=tarfile.PAX_FORMAT) as tar,
        ):
            tar.add(str(source), arcname=root, recursive=True)
    elif strategy.mode == ZIP:
        with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            for path, name in _walk(source, root):
                if path.is_dir() and not path.is_symlink():
                    archive.writestr(zipfile.ZipInfo.from_file(path, name + "/"), b"")
                    continue
                info = zipfile.ZipInfo.from_file(path, name)
                info.compress_type = zipfile.ZIP_DEFLATED
                with path.open("rb") as src, archive.open(info, "w", force_zip64=True) as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
    else:
        raise ArchiveError(f"cannot pack with strategy {strategy.mode!r}")


def _walk(source: Path, root: str) -> Iterator[tuple[Path, str]]:
    yield source, root
    if source.is_dir() and not source.is_symlink():
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames.sort()
            rel = Path(dirpath).relative_to(source)
            for name in sorted(dirnames):
                yield Path(dirpath) / name, (Path(root) / rel / name).as_posix()
            for name in sorted(filenames):
                yield Path(dirpath) / name, (Path(root) / rel / name).as_posix()


class _Producer:
    """Runs ``write(pipe)`` in a thread; the caller reads the other end of the pipe."""

    def __init__(self, write: Callable[[BinaryIO], None]) -> None:
        read_fd, write_fd = os.pipe()
        self.reader: BinaryIO = os.fdopen(read_fd, "rb", buffering=CHUNK)
        self._writer: BinaryIO = os.fdopen(write_fd, "wb", buffering=CHUNK)
        self._write = write
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._write(self._writer)
        except BaseException as exc:  # handed to the reading side
            self.error = exc
        finally:
            try:
                self._writer.close()
            except OSError:
                pass

    def check(self) -> None:
        """Wait for the writer and raise what it raised (call after reading to the end)."""
        self._thread.join()
        if self.error is not None:
            raise ArchiveError(str(self.error)) from self.error

    def close(self) -> None:
        self.reader.close()  # a writer still blocked on the pipe gets EPIPE and stops
        self._thread.join(timeout=30)


@contextmanager
def packed(source: Path, strategy: Strategy) -> Iterator[tuple[BinaryIO, Callable[[], None]]]:
    """A readable stream of ``source`` packed with ``strategy`` and a ``check()`` to call
    after reading it to the end (it raises when packing failed, so a partial archive is
    never taken for a whole one)."""
    producer = _Producer(lambda sink: pack(source, strategy, sink))
    try:
        yield producer.reader, producer.check
    finally:
        producer.close()


# -- unpacking ------------------------------------------------------------------------------
def _inside(root: Path, target: Path) -> bool:
    root = Path(os.path.normpath(root))
    target = Path(os.path.normpath(target))
    return target == root or root in target.parents


def _safe_member_path(dest: Path, name: str) -> Path:
    if os.path.isabs(name) or ".." in Path(name).parts:
        raise ArchiveError(f"illegal file path in archive: {name!r}")
    cleaned = os.path.normpath("/" + name).lstrip("/")
    if not cleaned or cleaned == ".":
        raise ArchiveError(f"illegal file path in archive: {name!r}")
    target = dest / cleaned
    if not _inside(dest, target) or target == dest:
        raise ArchiveError(f"illegal file path in archive: {name!r}")
    return target


def _check_parent(dest: Path, target: Path) -> None:
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    if not _inside(dest.resolve(), parent.resolve()):
        raise ArchiveError(f"illegal file path after symlink resolution: {target.relative_to(dest)}")


def _extract_tar(tar: tarfile.TarFile, dest: Path) -> None:
    for member in tar:
        target = _safe_member_path(dest, member.name)
        if member.isdir():
            _check_parent(dest, target)
            target.mkdir(exist_ok=True)
            os.chmod(target, (member.mode & 0o7777) | stat.S_IRWXU)
        elif member.issym():
            link = member.linkname
            resolved = Path(link) if os.path.isabs(link) else target.parent / link
            if not _inside(dest, resolved):
                raise ArchiveError(f"illegal symlink target: {member.name} -> {link}")
            _check_parent(dest, target)
            os.symlink(link, target)
        elif member.isreg():
            _check_parent(dest, target)
            source = tar.extractfile(member)
            assert source is not None
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
            os.chmod(target, member.mode & 0o7777)
            os.utime(target, (member.mtime, member.mtime))
        # hard links, devices and fifos are skipped, as Argo's executor skips them


def _extract_zip(path: Path, dest: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            target = _safe_member_path(dest, info.filename)
            mode = (info.external_attr >> 16) & 0o7777
            if info.is_dir():
                _check_parent(dest, target)
                target.mkdir(exist_ok=True)
                continue
            _check_parent(dest, target)
            with archive.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            if mode:
                os.chmod(target, mode)


def _settle(tmp: Path, dest: Path) -> None:
    """Argo's rule: one root entry becomes ``dest``; several make ``dest`` a folder."""
    entries = list(tmp.iterdir())
    _clear(dest)
    if len(entries) == 1:
        os.replace(entries[0], dest)
        tmp.rmdir()
    else:
        os.replace(tmp, dest)


def _clear(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _tmp_dir(dest: Path) -> Path:
    tmp = dest.parent / f".{dest.name}.tmpdir"
    _clear(tmp)
    tmp.mkdir(parents=True)
    return tmp


def unpack_tar_stream(stream: IO[bytes], dest: Path) -> None:
    """Extract a tar.gz read from a (non-seekable) stream to ``dest``."""
    tmp = _tmp_dir(dest)
    try:
        with tarfile.open(fileobj=stream, mode="r|gz") as tar:
            _extract_tar(tar, tmp)
        _settle(tmp, dest)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"cannot unpack the tar archive: {exc}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def unpack_zip_file(path: Path, dest: Path) -> None:
    tmp = _tmp_dir(dest)
    try:
        _extract_zip(path, tmp)
        _settle(tmp, dest)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"cannot unpack the zip archive: {exc}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def is_tarball(path: Path) -> bool:
    """Argo's detection: a gzip stream whose first tar header reads."""
    try:
        with path.open("rb") as handle:
            if handle.read(2) != GZIP_MAGIC:
                return False
            handle.seek(0)
            with tarfile.open(fileobj=handle, mode="r|gz") as tar:
                return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError):
        return False


def write_stream(stream: IO[bytes], dest: Path) -> int:
    """Copy a stream to the file ``dest`` (replacing it); returns the number of bytes."""
    _clear(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with open(dest, "wb") as out:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            out.write(chunk)
            size += len(chunk)
    return size


def place(stream: IO[bytes], dest: Path, archive: str | None) -> None:
    """Put a downloaded object at ``dest``: unpacked per ``archive`` (None: detect a tar.gz)."""
    if archive == TAR:
        unpack_tar_stream(stream, dest)
        return
    if archive == NONE:
        write_stream(stream, dest)
        return
    spool = dest.parent / f".{dest.name}.download"
    try:
        write_stream(stream, spool)
        if archive == ZIP:
            unpack_zip_file(spool, dest)
        elif is_tarball(spool):
            with spool.open("rb") as handle:
                unpack_tar_stream(handle, dest)
        else:
            _clear(dest)
            os.replace(spool, dest)
    finally:
        if spool.exists():
            spool.unlink()


def chmod(path: Path, mode: int, recurse: bool) -> None:
    """``mode`` (and ``recurseMode``) of an input artifact; links are left alone."""
    os.chmod(path, mode)
    if recurse and path.is_dir() and not path.is_symlink():
        for dirpath, dirnames, filenames in os.walk(path):
            for name in [*dirnames, *filenames]:
                entry = os.path.join(dirpath, name)
                if not os.path.islink(entry):
                    os.chmod(entry, mode)
