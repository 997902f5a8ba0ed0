"""Check a manifest against the Argo schema, strictly.

The Argo object model comes from hera's generated pydantic models; the schema is not
rewritten here. Those models silently drop fields they do not know (a misspelled
``withItem`` would vanish), so after validation the raw document is walked alongside the
model and every key the model did not keep is reported, with a suggestion.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import cache
from typing import Any

import pydantic
from hera.workflows import models as m

from airflow_argo_provider.manifest.problems import Problem
from airflow_argo_provider.manifest.support import NEWER_ARGO_FIELDS
from airflow_argo_provider.manifest.yaml_source import Path, YamlDocument, format_path

KIND_MODELS: dict[str, type[pydantic.BaseModel]] = {
    "Workflow": m.Workflow,
    "WorkflowTemplate": m.WorkflowTemplate,
    "ClusterWorkflowTemplate": m.ClusterWorkflowTemplate,
    "CronWorkflow": m.CronWorkflow,
}

# Fields whose content is free-form in Argo's schema (x-kubernetes-preserve-unknown-fields).
_FREE_FORM: frozenset[str] = frozenset({"plugin"})
# Argo's AnyString: parameter values written as YAML numbers or booleans are strings to Argo.
_ANY_STRING_FIELDS = ("value", "default")


def any_string(value: Any) -> Any:
    """A scalar of Argo's AnyString as the string Go reads (YAML numbers and booleans); other values as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _normalise_parameters(node: Any, parent_key: str | None = None) -> Any:
    """Copy of ``node`` where parameter values/defaults/enums given as scalars become strings."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "parameters" and parent_key in {"arguments", "inputs", "outputs"} and isinstance(value, list):
                out[key] = [_normalise_parameter(p) for p in value]
            else:
                out[key] = _normalise_parameters(value, key if isinstance(key, str) else None)
        return out
    if isinstance(node, list):
        return [_normalise_parameters(v, parent_key) for v in node]
    return node


def _normalise_parameter(param: Any) -> Any:
    if not isinstance(param, dict):
        return param
    out = dict(param)
    for key in _ANY_STRING_FIELDS:
        if key in out:
            out[key] = any_string(out[key])
    if isinstance(out.get("enum"), list):
        out["enum"] = [any_string(v) for v in out["enum"]]
    if isinstance(out.get("valueFrom"), dict) and "default" in out["valueFrom"]:
        out["valueFrom"] = {**out["valueFrom"], "default": any_string(out["valueFrom"]["default"])}
    return out


def _normalise_cron(data: Any) -> Any:
    """Argo still accepts the deprecated ``spec.schedule``: it means ``schedules: [schedule]``."""
    spec = data.get("spec") if isinstance(data, dict) else None
    if isinstance(spec, dict) and "schedule" in spec:
        spec = dict(spec)
        schedule = spec.pop("schedule")
        spec.setdefault("schedules", [schedule])
        data = {**data, "spec": spec}
    return data


def _raw_path(raw: Any, loc: tuple[Any, ...]) -> Path:
    """Turn a pydantic error location into a path through the raw document.

    Pydantic puts union branch names (``str``, ``int``, ``function-after[...]``) in the
    location; keep only the parts that really navigate the document.
    """
    path: list[str | int] = []
    node = raw
    for part in loc:
        if (
            isinstance(node, dict)
            and part in node
            or isinstance(node, list)
            and isinstance(part, int)
            and 0 <= part < len(node)
            or isinstance(node, dict)
            and isinstance(part, str)
            and not part.islower()
            and part in node
        ):
            path.append(part)
            node = node[part]
    return tuple(path)


def _type_message(err: Any) -> str:
    msg = str(err.get("msg", "invalid value"))
    kind = err.get("type", "")
    value = err.get("input")
    if kind == "missing":
        return "required field is missing"
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{msg[0].lower()}{msg[1:]} (got {shown})"


def normalise(kind: str, value: Any) -> Any:
    """The document as Argo reads it: scalar parameter values as strings, deprecated spellings mapped."""
    data = _normalise_parameters(value)
    if kind == "CronWorkflow":
        data = _normalise_cron(data)
    return data


def validate_model(
    kind: str, doc: YamlDocument, file: str, data: Any, model_cls: type[pydantic.BaseModel] | None = None
) -> tuple[pydantic.BaseModel | None, list[Problem]]:
    """Validate one (normalised) document against the model of its kind (or ``model_cls``);
    return it with its problems."""
    model_cls = model_cls or KIND_MODELS[kind]
    try:
        model = model_cls.model_validate(data)
    except pydantic.ValidationError as exc:
        problems: list[Problem] = []
        seen: set[Path] = set()
        for err in exc.errors():
            path = _raw_path(doc.value, tuple(err.get("loc", ())))
            if err.get("type") == "missing":
                field = err["loc"][-1] if err.get("loc") else ""
                path = (*path, field) if isinstance(field, str) and field not in path[-1:] else path
            if path in seen:  # one message per field, even when several union branches failed
                continue
            seen.add(path)
            problems.append(Problem("AAP010", _type_message(err), file, doc.line_of(path), format_path(path)))
        return None, problems
    problems = [
        Problem("AAP011", message, file, doc.line_of(path), format_path(path))
        for path, message in unknown_fields(model, data, ())
    ]
    return model, problems


@cache
def _aliases(model_cls: type[pydantic.BaseModel]) -> dict[str, str]:
    """JSON name (alias) -> Python attribute name, for the fields of a model class."""
    return {(info.alias or name): name for name, info in model_cls.model_fields.items()}


def unknown_fields(model: Any, raw: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """Yield ``(path, message)`` for each key of ``raw`` that ``model`` did not keep."""
    if isinstance(model, pydantic.RootModel):
        yield from unknown_fields(model.root, raw, path)
        return
    if isinstance(model, pydantic.BaseModel):
        if not isinstance(raw, dict):
            return
        aliases = _aliases(type(model))
        for key, value in raw.items():
            if not isinstance(key, str) or key not in aliases:
                if key not in NEWER_ARGO_FIELDS:  # those are reported as unsupported features
                    yield (*path, key), _unknown_message(key, aliases)
                continue
            if key in _FREE_FORM:
                continue
            yield from unknown_fields(getattr(model, aliases[key]), value, (*path, key))
    elif isinstance(model, list) and isinstance(raw, list):
        for index, (item, raw_item) in enumerate(zip(model, raw)):
            yield from unknown_fields(item, raw_item, (*path, index))
    elif isinstance(model, dict) and isinstance(raw, dict):
        for key, value in raw.items():
            if key in model:
                yield from unknown_fields(model[key], value, (*path, key))


def _unknown_message(key: Any, aliases: dict[str, str]) -> str:
    names = sorted(aliases)
    # A snake_case spelling of a real field (with_items) is a common slip.
    camel = "".join(w if i == 0 else w[:1].upper() + w[1:] for i, w in enumerate(str(key).split("_")))
    if camel in aliases and camel != key:
        return f"unknown field; did you mean {camel}?"
    close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
    if not close:
        lowered = {n.lower(): n for n in names}
        hit = lowered.get(str(key).lower())
        close = [hit] if hit else []
    if close:
        return f"unknown field; did you mean {close[0]}?"
    return "unknown field"
