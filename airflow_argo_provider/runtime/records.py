"""What a task reports about the Argo nodes it ran: phase, message, outputs, timing.

Every task of a compiled workflow pushes one :class:`Payload` to XCom under the key
:data:`XCOM_KEY`. A plain step reports its own node; a fan-out task reports the children it
ran (one per item normally, many for a chunk); a fan-out's ``_items`` task reports the parent
node when it decided the parent's phase itself (Omitted, Skipped for an empty list, Error for
a bad list). Downstream tasks, exit handlers and ``airflow-argo run`` read these payloads back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

XCOM_KEY = "argo"

SUCCEEDED = "Succeeded"
FAILED = "Failed"
ERROR = "Error"
SKIPPED = "Skipped"
OMITTED = "Omitted"
RUNNING = "Running"

PHASES = (SUCCEEDED, FAILED, ERROR, SKIPPED, OMITTED)


def failed_or_error(phase: str | None) -> bool:
    return phase in (FAILED, ERROR)


@dataclass
class NodeRecord:
    """One Argo node's outcome."""

    phase: str
    message: str = ""
    result: str | None = None
    exit_code: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None
    retries: int = 0
    # For fan-out children: the loop index, the item and the Argo display name.
    index: int | None = None
    item: Any = None
    display_name: str | None = None
    # How the retry rules classify a failure (``RawOutcome.transient``); kept in the task, not in XCom.
    transient: bool | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"phase": self.phase}
        for key in ("message", "result", "exit_code", "started_at", "finished_at", "display_name"):
            value = getattr(self, key)
            if value not in (None, ""):
                out[key] = value
        if self.parameters:
            out["parameters"] = self.parameters
        if self.artifacts:
            out["artifacts"] = self.artifacts
        if self.retries:
            out["retries"] = self.retries
        if self.index is not None:
            out["index"] = self.index
            out["item"] = self.item
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeRecord:
        return cls(
            phase=data["phase"],
            message=data.get("message", ""),
            result=data.get("result"),
            exit_code=data.get("exit_code"),
            parameters=dict(data.get("parameters") or {}),
            artifacts=dict(data.get("artifacts") or {}),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            retries=int(data.get("retries", 0)),
            index=data.get("index"),
            item=data.get("item"),
            display_name=data.get("display_name"),
        )


@dataclass
class Payload:
    """What one task instance pushes: its own node, and/or the fan-out children it ran."""

    map_index: int = -1
    node: NodeRecord | None = None
    children: list[NodeRecord] = field(default_factory=list)
    # Set when the task decided that its node does not run at all (Argo creates no node):
    # a later step group after a failure, failFast, or outside a DAG's target.
    not_run: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"map_index": self.map_index}
        if self.node is not None:
            out["node"] = self.node.to_json()
        if self.children:
            out["children"] = [c.to_json() for c in self.children]
        if self.not_run is not None:
            out["not_run"] = self.not_run
        return out

    @classmethod
    def from_json(cls, data: Any) -> Payload:
        if not isinstance(data, dict):
            return cls()
        return cls(
            map_index=int(data.get("map_index", -1)),
            node=NodeRecord.from_json(data["node"]) if data.get("node") else None,
            children=[NodeRecord.from_json(c) for c in data.get("children") or []],
            not_run=data.get("not_run"),
        )
