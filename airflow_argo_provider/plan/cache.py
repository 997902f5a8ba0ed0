"""A cache of compiled plans, so that re-parsing an unchanged dags folder is cheap.

Airflow's DAG processor re-runs every DAG file periodically. Reading, validating and planning
manifests is the expensive part of ``load_workflows``; its result depends only on the
manifest files' contents and on this package's version, so it is kept on disk as JSON
(never pickle) under ``[argo] cache_dir`` (default ``$AIRFLOW_HOME/argo-cache``), keyed by a
hash of both. Any change to any file of the folder makes a new entry; old entries are pruned.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from airflow_argo_provider import __version__
from airflow_argo_provider.manifest.problems import Problem
from airflow_argo_provider.plan.model import Plan, plan_from_dict

KEEP = 64
FORMAT = 1


def cache_dir() -> Path | None:
    configured = os.environ.get("AIRFLOW__ARGO__CACHE_DIR")
    if configured is None:
        try:
            from airflow.configuration import conf

            configured = conf.get("argo", "cache_dir", fallback=None)
        except Exception:
            configured = None
    if configured == "":
        return None  # caching disabled
    if configured:
        return Path(configured)
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return Path(home) / "argo-cache"


def _code_fingerprint() -> str:
    """Changes when the code that reads and plans manifests changes (not only on releases)."""
    cached = getattr(_code_fingerprint, "_value", None)
    if cached is None:
        package = Path(__file__).resolve().parent.parent
        digest = hashlib.sha256()
        for sub in ("manifest", "plan", "expressions"):
            for source in sorted((package / sub).glob("*.py")):
                stat = source.stat()
                digest.update(f"{source.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
        cached = digest.hexdigest()[:16]
        _code_fingerprint._value = cached  # type: ignore[attr-defined]
    return str(cached)


def key_for(files: list[str], extra: str = "") -> str:
    digest = hashlib.sha256(f"{FORMAT}:{__version__}:{_code_fingerprint()}:{extra}".encode())
    for file in sorted(files):
        digest.update(file.encode() + b"\0")
        try:
            digest.update(Path(file).read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
        digest.update(b"\0")
    return digest.hexdigest()


def load(key: str) -> tuple[list[Plan], list[Problem]] | None:
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / f"{key}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    try:
        plans = [plan_from_dict(p) for p in data["plans"]]
        problems = [Problem(**p) for p in data["problems"]]
    except (KeyError, TypeError, ValueError):
        return None
    return plans, problems


def store(key: str, plans: list[Plan], problems: list[Problem]) -> None:
    folder = cache_dir()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        payload = {
            "plans": [p.to_dict() for p in plans],
            "problems": [p.__dict__ for p in problems],
        }
        # Write atomically: parallel DAG processors may read the same entry.
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            json.dump(payload, out)
        os.replace(tmp, folder / f"{key}.json")
        _prune(folder)
    except OSError:
        return


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in entries[KEEP:]:
        try:
            stale.unlink()
        except OSError:
            pass


def clear() -> None:
    folder = cache_dir()
    if folder is None or not folder.is_dir():
        return
    for entry in folder.glob("*.json"):
        try:
            entry.unlink()
        except OSError:
            pass
