"""Argo ``synchronization`` (mutexes and semaphores) as Airflow pools.

A template-level lock becomes the Airflow pool its tasks run in: a mutex is a pool of one slot
(``argo-mutex-NAME``), a semaphore a pool whose size is the semaphore's limit
(``argo-semaphore-CONFIGMAP-KEY`` from the ConfigMap key, or ``argo-semaphore-db-KEY`` for a
database semaphore, whose limit an administrator sets on the pool). Like Argo's locks, pools are
shared by every workflow that names them. A workflow-level lock limits the workflow's concurrent
runs (``max_active_runs``). Airflow gives a task one pool, so a template may hold one lock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Lock:
    pool: str
    slots: int
    description: str


class LockError(ValueError):
    pass


def _pool_name(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "argo-" + "-".join(parts))[:256]


def _entries(sync: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    out: list[tuple[str, Mapping[str, Any]]] = [("mutex", m) for m in sync.get("mutexes") or []]
    out += [("semaphore", s) for s in sync.get("semaphores") or []]
    return out


def lock_of(sync: Mapping[str, Any] | None, config_maps: Mapping[str, Mapping[str, str]]) -> Lock | None:
    """The lock a ``synchronization`` block asks for (None when there is none)."""
    if not sync:
        return None
    entries = _entries(sync)
    if not entries:
        return None
    if len(entries) > 1:
        raise LockError("more than one lock: an Airflow task runs in a single pool")
    kind, spec = entries[0]
    if kind == "mutex":
        name = str(spec.get("name", ""))
        if not name:
            raise LockError("a mutex needs a name")
        return Lock(_pool_name("mutex", name), 1, f"Argo mutex {name!r}")
    if spec.get("configMapKeyRef"):
        ref = spec["configMapKeyRef"]
        cm, key = str(ref.get("name", "")), str(ref.get("key", ""))
        raw = (config_maps.get(cm) or {}).get(key)
        try:
            limit = int(raw) if raw is not None else 1
        except ValueError:
            raise LockError(f"semaphore limit {raw!r} in ConfigMap {cm!r} key {key!r} is not a number") from None
        return Lock(_pool_name("semaphore", cm, key), max(limit, 1), f"Argo semaphore {cm}/{key}")
    database = spec.get("database")
    if isinstance(database, Mapping) and database.get("key"):
        key = str(database["key"])
        return Lock(_pool_name("semaphore", "db", key), 1, f"Argo database semaphore {key!r}")
    raise LockError("a semaphore needs configMapKeyRef or database.key")


def locks_in(data: Any) -> list[Lock]:
    """Every distinct lock of a plan (template locks and the workflow's), for creating pools."""
    found: dict[str, Lock] = {}
    for lock in data:
        found.setdefault(lock.pool, lock)
    return list(found.values())
