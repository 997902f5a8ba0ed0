"""Argo's custom metrics (``metrics.prometheus``): checking them when a manifest loads, and
turning one into a sample when its node (or workflow) ends. No Airflow, no OpenTelemetry.

A metric has a ``name`` and ``help`` (both required, Prometheus-valid names), ``labels``
(``key``/``value``), an optional ``when`` and exactly one of ``counter: {value}``,
``gauge: {value, realtime, operation}`` or ``histogram: {value, buckets}``. As in Argo's
controller, ``name``, ``help``, label values and ``when`` are substituted first (``{{...}}``,
Argo's substitution, never Jinja), ``when`` is evaluated as a step's ``when`` is, then the value
is substituted and parsed as a number. A realtime gauge's value must be ``{{duration}}``
(template) or ``{{workflow.duration}}`` (workflow): it is observed while the node runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_argo_provider.expressions import ExpressionError, evaluate_when, substitute
from airflow_argo_provider.manifest.metrics import NAME, kind_of


class MetricError(ValueError):
    """A metric cannot be emitted (Argo reports it as a workflow condition; here: a warning)."""


@dataclass
class Sample:
    """One emission of a metric."""

    name: str
    help: str
    kind: str  # counter | gauge | histogram
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    buckets: tuple[float, ...] = ()
    operation: str = "Set"  # gauges: Set, Add, Sub
    realtime: bool = False


def sample(spec: Mapping[str, Any], scope: Mapping[str, Any], realtime_value: float | None = None) -> Sample | None:
    """The sample of ``spec`` in ``scope`` (None when its ``when`` is false). Raises MetricError."""

    def sub(text: Any, what: str) -> str:
        try:
            return substitute(str(text), scope)
        except ExpressionError as exc:
            raise MetricError(
                f"unable to substitute parameters for metric {spec.get('name')!r} ({what}): {exc}"
            ) from None

    name = sub(spec.get("name") or "", "name")
    if not NAME.match(name):
        raise MetricError(f"metric name {name!r} is not a valid Prometheus name")
    when = spec.get("when")
    if when:
        try:
            if not evaluate_when(sub(when, "when")):
                return None
        except ExpressionError as exc:
            raise MetricError(f"unable to compute 'when' clause for metric {name!r}: {exc}") from None
    labels = {str(label.get("key")): sub(label.get("value", ""), "labels") for label in spec.get("labels") or []}
    kinds = kind_of(spec)
    if len(kinds) != 1:
        raise MetricError(f"metric {name!r} needs exactly one of counter, gauge and histogram")
    kind = kinds[0]
    body = spec[kind]
    realtime = kind == "gauge" and bool(body.get("realtime"))
    if realtime and realtime_value is not None:
        value = realtime_value
    else:
        text = sub(body.get("value") or "", "value")
        try:
            value = float(text.strip())
        except ValueError:
            raise MetricError(f"metric {name!r}: value {text[:80]!r} is not a number") from None
    return Sample(
        name=name,
        help=sub(spec.get("help") or "", "help"),
        kind=kind,
        value=value,
        labels=labels,
        buckets=tuple(float(b) for b in body.get("buckets") or ()) if kind == "histogram" else (),
        operation=str(body.get("operation") or "Set") if kind == "gauge" else "Set",
        realtime=realtime,
    )


def template_scope(
    workflow: Mapping[str, Any],
    *,
    status: str,
    duration: float,
    inputs: Mapping[str, Any] | None = None,
    result: str | None = None,
    exit_code: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    retries: int | None = None,
) -> dict[str, Any]:
    """The variables of a template-level metric (Argo's ``prepareMetricScope``)."""
    scope = {k: v for k, v in workflow.items() if isinstance(k, str) and k.startswith("workflow.")}
    scope.update(
        {
            "status": status,
            "duration": f"{duration:f}",
            "resourcesDuration.cpu": "0",
            "resourcesDuration.memory": "0",
        }
    )
    if retries is not None:
        scope["retries"] = str(retries)
    for key, value in (inputs or {}).items():
        scope[f"inputs.parameters.{key}"] = "" if value is None else str(value)
    if result is not None:
        scope["outputs.result"] = result
    if exit_code is not None:
        scope["exitCode"] = str(exit_code)
    for key, value in (parameters or {}).items():
        scope[f"outputs.parameters.{key}"] = "" if value is None else str(value)
    return scope
