"""Argo Events manifests (EventSource, Sensor) read into manifests, and the lookups between them.

Each document is validated against hera's generated Argo Events models (unknown fields reported with
suggestions). The Workflow a Sensor's trigger submits (``source.resource``, or ``source.inline`` YAML)
becomes a manifest of its own: an :class:`EmbeddedManifest` of kind Workflow, checked and compiled
like any Workflow of the folder, its problems pointing into the Sensor's file with the full field
path. The checks that need the whole folder are in :mod:`.events`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hera.events import models as em

from airflow_argo_provider.manifest.loader import (
    ARGO_API_VERSION,
    Manifest,
    ManifestSet,
    _workflow_name,
    header_problems,
)
from airflow_argo_provider.manifest.problems import Problem
from airflow_argo_provider.manifest.schema import any_string, normalise, validate_model
from airflow_argo_provider.manifest.yaml_source import (
    Path,
    YamlDocument,
    YamlSyntaxError,
    format_path,
    read_documents,
)

EVENT_MODELS: dict[str, Any] = {"EventSource": em.EventSource, "Sensor": em.Sensor}


# EventSource spec fields that are not event source types.
_EVENT_SOURCE_SETTINGS = {
    "eventBusName": "has no effect: events go from the queue to the dispatcher DAG, not through an event bus",
    "replicas": "has no effect: Airflow's triggerer polls the queue",
    "service": "has no effect: no service is created",
    "template": "has no effect: no event source pod is created (Airflow's triggerer polls the queue)",
}


class EmbeddedManifest(Manifest):
    """A Workflow written inside a Sensor's trigger: its problems point into the Sensor's file."""

    prefix: Path = ()
    sensor: Manifest | None = None
    trigger: str = ""

    def problem(self, code: str, message: str, path: Path = ()) -> Problem:
        return Problem(code, message, self.file, self.line_of(path), format_path((*self.prefix, *path)))


@dataclass
class _Found:
    path: Path
    resource: Any  # a dict (source.resource) or YAML text (source.inline)
    trigger_name: str
    problems: list[Problem] = field(default_factory=list)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _normalise(kind: str, value: dict[str, Any]) -> dict[str, Any]:
    """The document as Argo Events reads it: int64 and string fields written as YAML scalars become
    strings where the generated models expect them; ``apiVersion``/``kind`` are left out (the
    models do not have them); trigger sources are taken out (checked as Workflows of their own)."""
    import copy

    data = copy.deepcopy({k: v for k, v in value.items() if k not in ("apiVersion", "kind")})
    spec = data.get("spec")
    if not isinstance(spec, dict):
        return data
    if kind == "EventSource":
        for entry in (spec.get("sqs") or {}).values() if isinstance(spec.get("sqs"), dict) else ():
            if isinstance(entry, dict) and "waitTimeSeconds" in entry:
                entry["waitTimeSeconds"] = any_string(entry["waitTimeSeconds"])
        # Other event source types are rejected as a whole (AAP120), not field by field.
        for key in event_source_types():
            if key != "sqs":
                spec.pop(key, None)
        return data
    for dep in _list(spec.get("dependencies")):
        filters = dep.get("filters") if isinstance(dep, dict) else None
        for flt in (filters.get("data") or []) if isinstance(filters, dict) else []:
            if isinstance(flt, dict) and isinstance(flt.get("value"), list):
                flt["value"] = [any_string(v) for v in flt["value"]]
    for trigger in _list(spec.get("triggers")):
        template = trigger.get("template") if isinstance(trigger, dict) else None
        if not isinstance(template, dict):
            continue
        for kind_name in ("argoWorkflow", "k8s"):
            body = template.get(kind_name)
            if not isinstance(body, dict):
                continue
            for param in _list(body.get("parameters")):
                src = param.get("src") if isinstance(param, dict) else None
                if isinstance(src, dict) and "value" in src:
                    src["value"] = any_string(src["value"])
            source = body.get("source")
            if isinstance(source, dict) and "resource" in source:
                source.pop("resource")
    return data


def event_source_types() -> list[str]:
    """Every event source type an EventSource spec may hold (webhook, kafka, sqs, ...)."""
    fields = em.EventSourceSpec.model_fields
    names = [info.alias or name for name, info in fields.items()]
    return [n for n in names if n not in _EVENT_SOURCE_SETTINGS]


def _trigger_sources(value: dict[str, Any]) -> Iterator[tuple[Path, Any, str]]:
    """``(path of the source, resource dict or inline text, trigger name)`` of every Workflow source."""
    spec = value.get("spec")
    triggers = spec.get("triggers") if isinstance(spec, dict) else None
    for index, trigger in enumerate(triggers if isinstance(triggers, list) else []):
        template = trigger.get("template") if isinstance(trigger, dict) else None
        if not isinstance(template, dict):
            continue
        name = str(template.get("name") or f"trigger-{index}")
        for kind_name in ("argoWorkflow", "k8s"):
            body = template.get(kind_name)
            source = body.get("source") if isinstance(body, dict) else None
            if not isinstance(source, dict):
                continue
            base: Path = ("spec", "triggers", index, "template", kind_name, "source")
            if isinstance(source.get("resource"), dict):
                yield (*base, "resource"), source["resource"], name
            elif isinstance(source.get("inline"), str):
                yield (*base, "inline"), source["inline"], name


def _sub_document(doc: YamlDocument, prefix: Path, value: Any) -> YamlDocument:
    n = len(prefix)
    sub = YamlDocument(value=value, index=doc.index, line=doc.line_of(prefix))
    sub.lines = {path[n:]: line for path, line in doc.lines.items() if path[:n] == prefix and len(path) > n}
    sub.duplicate_keys = [(path[n:], line) for path, line in doc.duplicate_keys if path[:n] == prefix]
    return sub


def _inline_document(doc: YamlDocument, prefix: Path, text: str, file: str) -> YamlDocument | Problem:
    """``source.inline`` YAML as a document whose lines are lines of the Sensor's file."""
    offset = doc.line_of(prefix)
    try:
        docs = list(read_documents(text))
    except YamlSyntaxError as exc:
        return Problem(exc.code, f"source.inline: {exc.message}", file, offset + exc.line, format_path(prefix))
    if len(docs) != 1 or not isinstance(docs[0].value, dict):
        return Problem("AAP002", "source.inline must hold exactly one Workflow", file, offset, format_path(prefix))
    inner = docs[0]
    inner.index = doc.index
    inner.line = offset + inner.line
    inner.lines = {path: offset + line for path, line in inner.lines.items()}
    inner.duplicate_keys = [(path, offset + line) for path, line in inner.duplicate_keys]
    return inner


def read_event_document(doc: YamlDocument, file: str, into: ManifestSet) -> None:
    """Read one EventSource or Sensor (and the Workflows a Sensor's triggers submit) into ``into``."""
    value = doc.value
    kind = value["kind"]
    problems = header_problems(doc, file)
    data = _normalise(kind, value)
    model, schema_problems = validate_model(kind, doc, file, data, model_cls=EVENT_MODELS[kind])
    problems.extend(schema_problems)
    named = _workflow_name(doc)
    if named is None:
        problems.append(Problem("AAP012", "metadata.name is required", file, doc.line_of(("metadata",)), "metadata"))
    manifest = Manifest(
        kind=kind, name=named[0] if named else "", model=model, doc=doc, file=file, data=data, problems=problems
    )
    into.manifests.append(manifest)
    if kind != "Sensor":
        return
    for prefix, resource, trigger_name in _trigger_sources(value):
        sub = (
            _sub_document(doc, prefix, resource)
            if isinstance(resource, dict)
            else _inline_document(doc, prefix, resource, file)
        )
        if isinstance(sub, Problem):
            manifest.problems.append(sub)
            continue
        _read_embedded(sub, prefix, file, manifest, trigger_name, into)


def _read_embedded(
    sub: YamlDocument, prefix: Path, file: str, sensor: Manifest, trigger_name: str, into: ManifestSet
) -> None:
    value = sub.value
    if value.get("kind") != "Workflow":
        sensor.problems.append(
            sensor.problem(
                "AAP121",
                f"the trigger submits a {value.get('kind')!r}; only Workflows are run",
                (*prefix, "kind") if isinstance(sensor.doc.value, dict) else prefix,
            )
        )
        return
    shown = format_path(prefix)
    problems: list[Problem] = []
    if value.get("apiVersion") != ARGO_API_VERSION:
        problems.append(
            Problem(
                "AAP002",
                f"apiVersion must be {ARGO_API_VERSION} (got {value.get('apiVersion')!r})",
                file,
                sub.line_of(("apiVersion",)),
                f"{shown}.apiVersion",
            )
        )
    for path, line in sub.duplicate_keys:
        problems.append(Problem("AAP003", "key appears more than once", file, line, format_path((*prefix, *path))))
    data = normalise("Workflow", value)
    model, schema_problems = validate_model("Workflow", sub, file, data)
    for p in schema_problems:
        joined = shown + ("" if not p.path else p.path if p.path.startswith("[") else "." + p.path)
        problems.append(Problem(p.code, p.message, p.file, p.line, joined))
    named = _workflow_name(sub)
    if named is None:
        problems.append(
            Problem(
                "AAP012",
                "metadata.name or metadata.generateName is required",
                file,
                sub.line_of(("metadata",)),
                f"{shown}.metadata",
            )
        )
    embedded = EmbeddedManifest(
        kind="Workflow",
        name=named[0] if named else "",
        model=model,
        doc=sub,
        file=file,
        data=data,
        problems=problems,
    )
    embedded.prefix = prefix
    embedded.sensor = sensor
    embedded.trigger = trigger_name
    into.manifests.append(embedded)


# -- checks that need the whole folder -----------------------------------------------------------------------
def annotations_of(manifest: Manifest) -> dict[str, Any]:
    meta = manifest.raw.get("metadata")
    found = meta.get("annotations") if isinstance(meta, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def queue_is_url(queue: str) -> bool:
    return queue.startswith(("https://", "http://"))


def sqs_events(mset: ManifestSet) -> dict[tuple[str, str], tuple[Manifest, str]]:
    """``(EventSource name, event name) -> (EventSource manifest, event name)`` for every sqs entry."""
    out: dict[tuple[str, str], tuple[Manifest, str]] = {}
    for manifest in mset.by_kind("EventSource"):
        spec = manifest.raw.get("spec")
        sqs = spec.get("sqs") if isinstance(spec, dict) else None
        for name in sqs if isinstance(sqs, dict) else {}:
            out.setdefault((manifest.name, str(name)), (manifest, str(name)))
    return out


def embedded_workflows(mset: ManifestSet, sensor: Manifest) -> dict[str, EmbeddedManifest]:
    """Trigger name -> the Workflow it submits, for one Sensor."""
    return {
        m.trigger: m for m in mset.manifests if isinstance(m, EmbeddedManifest) and m.sensor is sensor and m.trigger
    }


def _workflow_parameters(workflow: Manifest | None) -> list[str]:
    """Names of ``spec.arguments.parameters`` of the Workflow a trigger submits (its own list)."""
    if workflow is None:
        return []
    spec = workflow.data.get("spec") if isinstance(workflow.data, dict) else None
    arguments = spec.get("arguments") if isinstance(spec, dict) else None
    params = arguments.get("parameters") if isinstance(arguments, dict) else None
    return [str(p.get("name") or "") for p in _list(params) if isinstance(p, dict)]


def workflow_parameter_list(workflow: Manifest) -> list[dict[str, Any]]:
    spec = workflow.data.get("spec") if isinstance(workflow.data, dict) else None
    arguments = spec.get("arguments") if isinstance(spec, dict) else None
    params = arguments.get("parameters") if isinstance(arguments, dict) else None
    return [p for p in _list(params) if isinstance(p, dict)]
