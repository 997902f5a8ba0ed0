"""Packing and unpacking as Argo's executor does, without a store: layout, detection, safety."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from airflow_argo_provider.artifacts.archive import (
    NONE,
    TAR,
    ZIP,
    ArchiveError,
    Strategy,
    pack,
    packed,
    place,
    strategy_of,
)


def _tree(root: Path) -> Path:
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "dir" / "a.txt").write_text("a")
    (root / "dir" / "sub" / "b.txt").write_text("b")
    (root / "one.txt").write_text("one")
    return root


def test_strategies_follow_argos_fields() -> None:
    assert strategy_of(None) == Strategy(TAR)
    assert strategy_of({"none": {}}) == Strategy(NONE)
    assert strategy_of({"zip": {}}) == Strategy(ZIP)
    assert strategy_of({"tar": {"compressionLevel": 0}}) == Strategy(TAR, 0)
    assert strategy_of({"tar": {"compressionLevel": 0}}).to_json() == {"tar": {"compressionLevel": 0}}  # type: ignore[union-attr]
    assert strategy_of(None, default=None) is None
    with pytest.raises(ArchiveError):
        strategy_of({"tar": {"compressionLevel": 12}})


@pytest.mark.parametrize("name", ["one.txt", "dir"])
@pytest.mark.parametrize("mode", [TAR, ZIP])
def test_pack_and_place_round_trip(tmp_path: Path, name: str, mode: str) -> None:
    src = _tree(tmp_path / "src") / name
    with packed(src, Strategy(mode, 1)) as (stream, check):
        data = stream.read()
        check()
    dest = tmp_path / "out" / "placed"
    dest.parent.mkdir()
    place(io.BytesIO(data), dest, mode)
    if name == "one.txt":
        assert dest.read_text() == "one"
    else:
        assert (dest / "a.txt").read_text() == "a" and (dest / "sub" / "b.txt").read_text() == "b"
    if mode == TAR:  # Argo's layout: the base name at the root
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            assert tar.getnames()[0] == name
    else:
        assert zipfile.ZipFile(io.BytesIO(data)).namelist()[0].rstrip("/") == name


def test_detection_unpacks_gzip_tars_only(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    pack(_tree(tmp_path / "src") / "one.txt", Strategy(TAR), buffer)
    place(io.BytesIO(buffer.getvalue()), tmp_path / "auto", None)
    assert (tmp_path / "auto").read_text() == "one"
    zipped = io.BytesIO()
    pack(tmp_path / "src" / "one.txt", Strategy(ZIP), zipped)
    place(io.BytesIO(zipped.getvalue()), tmp_path / "kept", None)  # Argo does not detect zips
    assert (tmp_path / "kept").read_bytes() == zipped.getvalue()
    place(io.BytesIO(b"\x1f\x8bnot really gzip"), tmp_path / "odd", None)
    assert (tmp_path / "odd").read_bytes() == b"\x1f\x8bnot really gzip"


def _tar_with(member: tarfile.TarInfo, data: bytes = b"") -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize(
    "member",
    [
        tarfile.TarInfo("../escape.txt"),
        tarfile.TarInfo("/etc/passwd-copy"),
    ],
)
def test_archives_cannot_write_outside_the_destination(tmp_path: Path, member: tarfile.TarInfo) -> None:
    with pytest.raises(ArchiveError):
        place(_tar_with(member, b"x"), tmp_path / "dest" / "placed", TAR)
    assert not (tmp_path / "escape.txt").exists()


def test_links_may_not_point_outside(tmp_path: Path) -> None:
    link = tarfile.TarInfo("root/link")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc"
    with pytest.raises(ArchiveError, match="illegal symlink target"):
        place(_tar_with(link), tmp_path / "dest", TAR)


def test_a_failed_pack_is_not_taken_for_a_whole_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        pack(tmp_path / "missing", Strategy(TAR), io.BytesIO())
    with packed(tmp_path / "missing", Strategy(TAR)) as (stream, check):
        stream.read()
        with pytest.raises(ArchiveError):
            check()
