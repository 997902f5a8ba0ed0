"""Read the payloads and Airflow states of a run's tasks.

The run-time logic (phases, scopes, gates) reads through a :class:`RecordStore` so that it
does not care where the data comes from: XCom through the task SDK while a task runs, the
metadata database after a run (``airflow-argo run``, :func:`database_store`), or a dictionary
in unit tests.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from types import SimpleNamespace
from typing import Any, Protocol

from airflow_argo_provider.runtime.records import XCOM_KEY, Payload


class RecordStore(Protocol):
    def payloads(self, task_id: str) -> list[Payload]:
        """Every payload the task pushed, one per map index that pushed one."""

    def states(self, task_ids: Iterable[str]) -> dict[tuple[str, int], str]:
        """Airflow states of the tasks' instances, by ``(task_id, map_index)``."""


class MemoryStore:
    """A store over plain dictionaries (tests, and results read back from the database)."""

    def __init__(
        self,
        payloads: Mapping[str, list[dict[str, Any]]] | None = None,
        states: Mapping[tuple[str, int], str] | None = None,
    ) -> None:
        self._payloads = {k: [Payload.from_json(p) for p in v] for k, v in (payloads or {}).items()}
        self._states = dict(states or {})

    def put(self, task_id: str, payload: Payload, state: str | None = None) -> None:
        existing = [p for p in self._payloads.get(task_id, []) if p.map_index != payload.map_index]
        self._payloads[task_id] = sorted([*existing, payload], key=lambda p: p.map_index)
        if state is not None:
            self._states[(task_id, payload.map_index)] = state

    def set_state(self, task_id: str, map_index: int, state: str) -> None:
        self._states[(task_id, map_index)] = state

    def payloads(self, task_id: str) -> list[Payload]:
        return list(self._payloads.get(task_id, []))

    def states(self, task_ids: Iterable[str]) -> dict[tuple[str, int], str]:
        wanted = set(task_ids)
        return {k: v for k, v in self._states.items() if k[0] in wanted}


class XComStore:
    """The store of a running task instance: XCom and task states through the task SDK."""

    def __init__(self, ti: Any) -> None:
        self.ti = ti
        self._payloads: dict[str, list[Payload]] = {}

    def payloads(self, task_id: str) -> list[Payload]:
        cached = self._payloads.get(task_id)
        if cached is None:
            raw = self.ti.xcom_pull(task_ids=[task_id], key=XCOM_KEY)
            values = raw if isinstance(raw, list) else ([raw] if raw is not None else [])
            cached = sorted((Payload.from_json(v) for v in values if v), key=lambda p: p.map_index)
            self._payloads[task_id] = cached
        return list(cached)

    def states(self, task_ids: Iterable[str]) -> dict[tuple[str, int], str]:
        ids = list(task_ids)
        if not ids:
            return {}
        found = self.ti.get_task_states(dag_id=self.ti.dag_id, run_ids=[self.ti.run_id], task_ids=ids)
        out: dict[tuple[str, int], str] = {}
        for key, state in (found.get(self.ti.run_id) or {}).items():
            task_id, map_index = _split_state_key(key, ids)
            out[(task_id, map_index)] = str(state) if state is not None else "none"
        return out

    def forget(self, task_id: str) -> None:
        self._payloads.pop(task_id, None)


def _split_state_key(key: str, ids: list[str]) -> tuple[str, int]:
    """``get_task_states`` names mapped instances ``task_id_3``."""
    if key in ids:
        return key, -1
    head, _, tail = key.rpartition("_")
    if head in ids and tail.isdigit():
        return head, int(tail)
    return key, -1


def database_store(dag_id: str, run_id: str) -> MemoryStore:
    """The payloads and task states of a finished (or running) DAG run, read from the metadata
    database: after ``airflow-argo run``, or where a callback runs without the task SDK's channel."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    payloads: dict[str, list[dict[str, Any]]] = {}
    states: dict[tuple[str, int], str] = {}
    backend = _custom_xcom_backend()
    with create_session() as session:
        for row in session.scalars(
            select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.key == XCOM_KEY)
        ):
            value = row.value
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            if backend is not None:
                # A custom XCom backend (e.g. object storage for large values) keeps only a reference here.
                value = backend.deserialize_value(SimpleNamespace(value=value))
            payloads.setdefault(row.task_id, []).append(value)
        for task_id, map_index, state in session.execute(
            select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
            )
        ):
            states[(task_id, map_index)] = str(state)
    return MemoryStore(payloads, states)


def _custom_xcom_backend() -> Any:
    """The configured ``[core] xcom_backend`` when it is not Airflow's default, else None."""
    from airflow.sdk.bases.xcom import BaseXCom
    from airflow.sdk.execution_time.xcom import resolve_xcom_backend

    backend = resolve_xcom_backend()
    return None if backend is BaseXCom else backend
