"""Checks of Argo's custom metrics (``metrics.prometheus``) when a manifest loads: what Argo's
validation refuses is an error, what it accepts but could never emit a note. Emitting them is
``airflow_argo_provider.metrics``'s job."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
KINDS = ("counter", "gauge", "histogram")
REALTIME_VALUES = {"duration", "workflow.duration"}
OPERATIONS = ("Set", "Add", "Sub")


def kind_of(spec: Mapping[str, Any]) -> list[str]:
    return [k for k in KINDS if isinstance(spec.get(k), dict)]


def problems(spec: Any, scope: str) -> Iterator[tuple[tuple[str | int, ...], bool, str]]:
    """(relative field path, is an error, message) for one metric: errors are what Argo's
    validation refuses (name, label keys, help, a missing value); the rest are notes about
    metrics Argo accepts but could never emit."""
    if not isinstance(spec, dict):
        yield (), True, "a metric is a mapping"
        return
    name = str(spec.get("name") or "")
    if not NAME.match(name):
        yield ("name",), True, f"metric name {name!r} is invalid: names may only contain alphanumeric characters or '_'"
    if not spec.get("help"):
        yield ("help",), True, f"metric {name!r} must contain a help string under 'help: ' field"
    for i, label in enumerate(spec.get("labels") or []):
        key = str((label or {}).get("key") or "")
        if not NAME.match(key):
            yield (
                ("labels", i, "key"),
                True,
                f"metric label {key!r} is invalid: keys may only contain alphanumeric characters or '_'",
            )
    kinds = kind_of(spec)
    for kind in kinds:
        if not str(spec[kind].get("value") or ""):
            yield (kind,), True, f"metric {name!r}: missing {kind}.value"
    if len(kinds) != 1:
        yield (
            (),
            False,
            f"metric {name!r} has {'no' if not kinds else 'more than one'} counter, gauge or histogram: it is never emitted",
        )
        return
    body = spec[kinds[0]]
    value = str(body.get("value") or "")
    if kinds[0] == "gauge":
        operation = body.get("operation")
        if operation is not None and operation not in OPERATIONS:
            yield ("gauge", "operation"), True, f"gauge operation must be one of {', '.join(OPERATIONS)}"
        if body.get("realtime"):
            wanted = "workflow.duration" if scope == "workflow" else "duration"
            if value.replace(" ", "") != "{{" + wanted + "}}":
                yield (
                    ("gauge", "value"),
                    False,
                    f"a realtime gauge's value must be {{{{{wanted}}}}}: metric {name!r} is never emitted",
                )
    if kinds[0] == "histogram":
        try:
            floats = [float(b) for b in body.get("buckets") or []]
        except (TypeError, ValueError):
            yield ("histogram", "buckets"), True, "histogram buckets must be numbers"
        else:
            if floats != sorted(set(floats)):
                yield ("histogram", "buckets"), True, "histogram buckets must increase"
