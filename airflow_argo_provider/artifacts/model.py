"""What an artifact of one invocation is once resolved: where it comes from or goes to.

A *location* is a plain dictionary in Argo's field names, as Argo records it in a node's
outputs: ``{"s3": {"bucket": ..., "key": ..., "endpoint": ..., "region": ...}}`` (with an
``"archive"`` entry saying how the object was packed), ``{"gcs": {"bucket", "key"}}``,
``{"azure": {"endpoint", "container", "blob"}}``, ``{"http": {"url": ...}}``,
``{"artifactory": {"url": ...}}``, ``{"git": {"repo", "revision"}}`` or ``{"raw": {"data": ...}}``. Locations hold references to Kubernetes Secrets
(``accessKeySecret: {name, key}``), never secret values, so they may travel through XCom.

:class:`InputArtifact` and :class:`OutputArtifact` are what a backend needs to stage one
invocation's artifacts; both convert to and from JSON for the in-pod agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_argo_provider.artifacts.archive import Strategy

# "local": the local backend's own store (a folder on this machine), used when no artifact
# repository is configured; never written in manifests.
STORES = ("s3", "gcs", "azure", "http", "artifactory", "git", "raw", "local")
# Stores an output artifact can be saved to (git is input only, raw has nothing to write to).
OUTPUT_STORES = ("s3", "gcs", "azure", "http", "artifactory")


class ArtifactError(ValueError):
    """An artifact of an invocation cannot be resolved (the node is an Error, as in Argo)."""


class ArtifactNotFound(Exception):
    """The artifact's object (or path) does not exist: fine for an ``optional`` artifact."""


class StoreError(Exception):
    """The store refused or failed an operation (the message says what and where)."""


def store_of(location: dict[str, Any] | None) -> str | None:
    """The store a location names (``s3``, ``http``, ``raw``), or None."""
    for store in STORES:
        if isinstance(location, dict) and isinstance(location.get(store), dict):
            return store
    return None


def describe(location: dict[str, Any] | None) -> str:
    """A short human description of a location (for messages; never a secret)."""
    store = store_of(location)
    if store is None or location is None:
        return "no location"
    spec = location[store]
    if store == "s3":
        return f"s3://{spec.get('bucket', '?')}/{spec.get('key', '')}"
    if store == "gcs":
        return f"gs://{spec.get('bucket', '?')}/{spec.get('key', '')}"
    if store == "azure":
        return f"azure://{spec.get('container', '?')}/{spec.get('blob', '')} at {spec.get('endpoint', '?')}"
    if store in ("http", "artifactory"):
        return str(spec.get("url", "?")).split("?", 1)[0]
    if store == "git":
        revision = spec.get("revision") or spec.get("branch")
        return f"git {spec.get('repo', '?')}" + (f" at {revision}" if revision else "")
    if store == "local":
        return f"local artifact store: {spec.get('key', '')}"
    return "raw data"


@dataclass
class InputArtifact:
    """An input artifact to place at ``path`` before the step starts."""

    name: str
    path: str
    source: dict[str, Any] | None  # a location; None: optional and not supplied
    archive: str | None = None  # none | tar | zip; None: detect a tar.gz as Argo does
    mode: int | None = None
    recurse_mode: bool = False
    optional: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "source": self.source,
            "archive": self.archive,
            "mode": self.mode,
            "recurseMode": self.recurse_mode,
            "optional": self.optional,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InputArtifact:
        return cls(
            name=str(data["name"]),
            path=str(data["path"]),
            source=data.get("source"),
            archive=data.get("archive"),
            mode=data.get("mode"),
            recurse_mode=bool(data.get("recurseMode")),
            optional=bool(data.get("optional")),
        )


@dataclass
class OutputArtifact:
    """An output artifact to read from ``path`` after the step and store at ``destination``."""

    name: str
    path: str
    destination: dict[str, Any]  # a location in one of OUTPUT_STORES (or the local store)
    strategy: Strategy = field(default_factory=Strategy)
    optional: bool = False
    global_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "destination": self.destination,
            "archive": self.strategy.to_json(),
            "optional": self.optional,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutputArtifact:
        from airflow_argo_provider.artifacts.archive import strategy_of

        return cls(
            name=str(data["name"]),
            path=str(data["path"]),
            destination=dict(data["destination"]),
            strategy=strategy_of(data.get("archive")) or Strategy(),
            optional=bool(data.get("optional")),
        )

    def location(self) -> dict[str, Any]:
        """What the node records once the artifact is stored."""
        out = {k: dict(v) if isinstance(v, dict) else v for k, v in self.destination.items()}
        out["archive"] = self.strategy.to_json()
        return out


@dataclass
class StepArtifacts:
    """The artifacts of one invocation."""

    inputs: list[InputArtifact] = field(default_factory=list)
    outputs: list[OutputArtifact] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.inputs or self.outputs)

    def to_json(self) -> dict[str, Any]:
        return {"inputs": [a.to_json() for a in self.inputs], "outputs": [a.to_json() for a in self.outputs]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepArtifacts:
        return cls(
            inputs=[InputArtifact.from_json(a) for a in data.get("inputs") or []],
            outputs=[OutputArtifact.from_json(a) for a in data.get("outputs") or []],
        )


@dataclass
class SaveReport:
    """What happened to a step's output artifacts."""

    saved: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> location
    missing: list[str] = field(default_factory=list)  # names whose path did not exist
    errors: list[str] = field(default_factory=list)  # messages of failed saves

    def to_json(self) -> dict[str, Any]:
        return {"saved": self.saved, "missing": self.missing, "errors": self.errors}

    @classmethod
    def from_json(cls, data: Any) -> SaveReport:
        if not isinstance(data, dict):
            return cls(errors=["the artifact report is not an object"])
        if data.get("error"):
            return cls(errors=[str(data["error"])])
        return cls(
            saved={str(k): dict(v) for k, v in (data.get("saved") or {}).items() if isinstance(v, dict)},
            missing=[str(n) for n in data.get("missing") or []],
            errors=[str(e) for e in data.get("errors") or []],
        )
