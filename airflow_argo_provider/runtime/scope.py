"""Argo variables: building the ``{{...}}`` scope of a template invocation.

A scope is a flat mapping from Argo variable names (``inputs.parameters.url``,
``tasks.fetch.outputs.result``, ``workflow.name``) to values, as the expressions module
expects. This module knows which names exist and how Argo fills them; it does no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from airflow_argo_provider.expressions import aggregate_parameters, aggregate_results
from airflow_argo_provider.runtime.records import SUCCEEDED, NodeRecord

# Go's time.Format-like strftime letters Argo exposes on workflow.creationTimestamp.
_STRFTIME_LETTERS = "aAbBcCdDeFgGhHIjklmMnpPrRsStTuUVwWxXyYzZ"


class InputError(Exception):
    """A template input cannot be resolved (missing value, value not in its enum)."""


def workflow_scope(
    *,
    name: str,
    namespace: str,
    uid: str,
    parameters: Mapping[str, str],
    created: datetime,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    service_account: str | None = None,
    scheduled: datetime | None = None,
    entrypoint: str | None = None,
) -> dict[str, Any]:
    """The ``workflow.*`` variables of a run."""
    scope: dict[str, Any] = {
        "workflow.name": name,
        "workflow.namespace": namespace,
        "workflow.uid": uid,
        "workflow.parameters.json": json.dumps(
            [{"name": k, "value": v} for k, v in parameters.items()], separators=(",", ":")
        ),
        "workflow.creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "workflow.creationTimestamp.RFC3339": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "workflow.creationTimestamp.s": str(int(created.timestamp())),
        "workflow.serviceAccountName": service_account or "default",
        "workflow.mainEntrypoint": entrypoint or "",
    }
    for letter in _STRFTIME_LETTERS:
        try:
            scope[f"workflow.creationTimestamp.{letter}"] = created.strftime(f"%{letter}")
        except ValueError:  # pragma: no cover - platform without that directive
            continue
    for key, value in parameters.items():
        scope[f"workflow.parameters.{key}"] = value
    for key, value in labels.items():
        scope[f"workflow.labels.{key}"] = value
    for key, value in annotations.items():
        scope[f"workflow.annotations.{key}"] = value
    if scheduled is not None:
        scope["workflow.scheduledTime"] = scheduled.strftime("%Y-%m-%dT%H:%M:%SZ")
    return scope


def node_output_vars(
    prefix: str, record: NodeRecord | None, children: list[NodeRecord] | None, phase: str | None
) -> dict[str, Any]:
    """``steps.X.*`` / ``tasks.X.*`` for one sibling (``prefix`` is ``steps.X`` or ``tasks.X``).

    A fanned-out sibling's ``outputs.result`` and ``outputs.parameters.Y`` aggregate over its
    succeeded children in loop-index order, exactly as Argo does.
    """
    out: dict[str, Any] = {}
    if phase is not None:
        out[f"{prefix}.status"] = phase
    if children is not None:
        succeeded = sorted((c for c in children if c.phase == SUCCEEDED), key=lambda c: c.index or 0)
        if any(c.result is not None for c in succeeded) or not succeeded:
            out[f"{prefix}.outputs.result"] = aggregate_results(
                [c.result or "" for c in succeeded if c.result is not None]
            )
        names = sorted({n for c in succeeded for n in c.parameters})
        for name in names:
            out[f"{prefix}.outputs.parameters.{name}"] = aggregate_parameters(
                [c.parameters[name] for c in succeeded if name in c.parameters]
            )
        if names:
            out[f"{prefix}.outputs.parameters"] = json.dumps(
                [{n: c.parameters.get(n) for n in names} for c in succeeded], separators=(",", ":")
            )
        return out
    if record is None:
        return out
    if record.result is not None:
        out[f"{prefix}.outputs.result"] = record.result
    if record.exit_code is not None:
        out[f"{prefix}.exitCode"] = record.exit_code
    if record.started_at:
        out[f"{prefix}.startedAt"] = record.started_at
    if record.finished_at:
        out[f"{prefix}.finishedAt"] = record.finished_at
    for key, value in record.parameters.items():
        out[f"{prefix}.outputs.parameters.{key}"] = value
    if record.parameters:
        out[f"{prefix}.outputs.parameters"] = json.dumps(record.parameters, separators=(",", ":"), sort_keys=True)
    for key, artifact in record.artifacts.items():
        out[f"{prefix}.outputs.artifacts.{key}"] = artifact
    return out


def argument_values(arguments: Mapping[str, Any], substitute: Callable[[str], str]) -> dict[str, str]:
    """The parameter arguments of an invocation, resolved in the caller's scope."""
    values: dict[str, str] = {}
    for param in arguments.get("parameters") or []:
        if "value" in param and param["value"] is not None:
            values[param["name"]] = substitute(str(param["value"]))
    return values


def template_inputs(
    template: Mapping[str, Any],
    supplied: Mapping[str, str],
    substitute: Callable[[str], str],
    config_maps: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, str]:
    """The input parameters a template runs with: argument, else its value/default, else valueFrom."""
    values: dict[str, str] = {}
    for param in (template.get("inputs") or {}).get("parameters") or []:
        name = param["name"]
        if name in supplied:
            value = supplied[name]
        elif param.get("value") is not None:
            value = substitute(str(param["value"]))
        elif param.get("default") is not None:
            value = substitute(str(param["default"]))
        elif param.get("valueFrom"):
            value = _value_from(name, param["valueFrom"], config_maps or {}, substitute)
        else:
            raise InputError(f"inputs.parameters.{name} was not supplied")
        enum = param.get("enum")
        if enum and value not in [str(e) for e in enum]:
            raise InputError(f"inputs.parameters.{name} value {value!r} is not one of {list(enum)}")
        values[name] = value
    return values


def _value_from(
    name: str,
    value_from: Mapping[str, Any],
    config_maps: Mapping[str, Mapping[str, str]],
    substitute: Callable[[str], str],
) -> str:
    ref = value_from.get("configMapKeyRef")
    if ref:
        data = config_maps.get(ref.get("name", ""))
        key = ref.get("key", "")
        if data is not None and key in data:
            return str(data[key])
        if value_from.get("default") is not None:
            return substitute(str(value_from["default"]))
        if ref.get("optional"):
            return ""
        raise InputError(f"inputs.parameters.{name}: ConfigMap {ref.get('name')!r} has no key {key!r}")
    if value_from.get("default") is not None:
        return substitute(str(value_from["default"]))
    raise InputError(f"inputs.parameters.{name} was not supplied")


def input_vars(inputs: Mapping[str, str], artifacts: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``inputs.parameters.X`` and ``inputs.parameters`` (JSON) of a template."""
    out: dict[str, Any] = {f"inputs.parameters.{k}": v for k, v in inputs.items()}
    out["inputs.parameters"] = json.dumps([{"name": k, "value": v} for k, v in inputs.items()], separators=(",", ":"))
    for key, path in (artifacts or {}).items():
        out[f"inputs.artifacts.{key}.path"] = path
    return out
