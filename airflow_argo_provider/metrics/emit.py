"""When metrics are emitted, and with which variables, as Argo's controller does.

- A leaf's template metrics: when each attempt ends (every retry emits, with its own
  ``status``), in the task that ran it; realtime gauges (``{{duration}}``) are observed while
  it runs. The built-in ``pods_total_count{phase, namespace}`` counts pods entering Running
  and their final phase.
- Steps/DAG templates' metrics, the workflow's ``spec.metrics`` and the built-in workflow
  metrics: when the workflow ends, in its ``workflow_phase`` task. Built-ins:
  ``total_count{phase, namespace}`` (Running, then the final phase),
  ``workflowtemplate_triggered_total{name, namespace, cluster_scope, phase}`` and the
  ``workflowtemplate_runtime`` histogram for workflows run from a ``workflowTemplateRef``, and
  ``cronworkflows_triggered_total{name, namespace}`` for scheduled runs of a CronWorkflow.

A metric that cannot be emitted (a variable that does not resolve, a value that is not a
number) is logged as a warning and skipped, like Argo's metric emission errors: it never
changes a node's phase.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_argo_provider.metrics.spec import MetricError, Sample, sample, template_scope

if TYPE_CHECKING:
    from airflow_argo_provider.metrics.otel import Recorder
    from airflow_argo_provider.plan.model import Node, Plan
    from airflow_argo_provider.runtime.records import NodeRecord
    from airflow_argo_provider.runtime.step import Invocation
    from airflow_argo_provider.runtime.view import RunView

log = logging.getLogger(__name__)
POD_BODIES = ("container", "script", "containerSet", "resource")
# Argo's buckets of workflowtemplate_runtime (seconds).
RUNTIME_BUCKETS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0, 180.0)


def _specs(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(((template.get("metrics") or {}).get("prometheus")) or [])


def _record(recorder: Recorder, specs: list[dict[str, Any]], scope: Mapping[str, Any], realtime: float | None) -> None:
    for spec in specs:
        try:
            found = sample(spec, scope, realtime_value=realtime)
        except MetricError as exc:
            log.warning("metric not emitted: %s", exc)
            continue
        if found is not None:
            recorder.record(found)


def _builtin(name: str, kind: str, value: float, labels: dict[str, str], help_text: str) -> Sample:
    buckets = RUNTIME_BUCKETS if kind == "histogram" else ()
    return Sample(name=name, help=help_text, kind=kind, value=value, labels=labels, buckets=buckets)


class Attempt:
    """The metrics of one attempt of a leaf, from its start to its end."""

    def __init__(self, recorder: Recorder, invocation: Invocation, specs: list[dict[str, Any]]) -> None:
        self.recorder = recorder
        self.invocation = invocation
        self.specs = specs
        self.started = time.monotonic()
        self.ended: float | None = None
        running = template_scope(
            invocation.workflow, status="Running", duration=0.0, inputs=invocation.inputs, retries=invocation.retries
        )
        for spec in specs:
            if not ((spec.get("gauge") or {}).get("realtime")):
                continue
            try:
                found = sample(spec, running, realtime_value=0.0)
            except MetricError as exc:
                log.warning("metric not emitted: %s", exc)
                continue
            if found is not None:
                recorder.record(found, realtime=self.elapsed)

    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else time.monotonic()) - self.started

    def finish(self, record: NodeRecord) -> None:
        self.ended = time.monotonic()
        duration = self.ended - self.started
        scope = template_scope(
            self.invocation.workflow,
            status=record.phase,
            duration=duration,
            inputs=self.invocation.inputs,
            result=record.result,
            exit_code=record.exit_code,
            parameters=record.parameters,
            retries=self.invocation.retries,
        )
        _record(self.recorder, self.specs, scope, duration)
        if self.invocation.body in POD_BODIES:
            namespace = str(self.invocation.workflow.get("workflow.namespace") or "default")
            final = "Succeeded" if record.phase == "Succeeded" else "Failed"
            for phase in ("Running", final):
                self.recorder.record(
                    _builtin(
                        "pods_total_count",
                        "counter",
                        1,
                        {"phase": phase, "namespace": namespace},
                        "Total number of Pods",
                    )
                )
        self.recorder.flush()


def begin_attempt(invocation: Invocation, started_at: str | None = None) -> Attempt | None:
    """The metrics of an attempt about to run, or (``started_at``) that started then; None
    when metrics are off."""
    from airflow_argo_provider.metrics.otel import recorder

    active = recorder()
    if active is None:
        return None
    try:
        attempt = Attempt(active, invocation, _specs(invocation.template))
        began = _parse(started_at)
        if began is not None:
            attempt.started -= max((datetime.now(timezone.utc) - began).total_seconds(), 0.0)
        return attempt
    except Exception as exc:  # metrics never break a step
        log.warning("metrics of %s not emitted: %s", invocation.display_name, exc)
        return None


def _parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _span(view: RunView, node: Node) -> tuple[datetime | None, datetime | None]:
    """When a node started and ended: its record, or the span of what ran below it."""
    status = view.status(node)
    records = list(status.children or []) + ([status.record] if status.record is not None else [])
    starts = [t for r in records if (t := _parse(r.started_at))]
    ends = [t for r in records if (t := _parse(r.finished_at))]
    if node.is_group and not status.children:
        for child in node.children:
            start, end = _span(view, child)
            starts += [start] if start else []
            ends += [end] if end else []
    return (min(starts) if starts else None, max(ends) if ends else None)


def workflow_end(plan: Plan, view: RunView, phase: str, started: datetime, context: Any = None) -> None:
    """Emit the metrics due when a workflow ends (see the module's list)."""
    from airflow_argo_provider.metrics.otel import recorder

    active = recorder()
    if active is None:
        return
    try:
        _workflow_end(active, plan, view, phase, started, context)
    except Exception as exc:  # metrics never change the workflow's phase
        log.warning("workflow metrics not emitted: %s", exc)
    active.flush()


def _workflow_end(active: Recorder, plan: Plan, view: RunView, phase: str, started: datetime, context: Any) -> None:
    now = datetime.now(timezone.utc)
    duration = max((now - started).total_seconds(), 0.0)
    workflow = dict(view.workflow)
    for node in plan.nodes():
        if not node.is_group or node.loop is not None:
            continue
        specs = _specs(plan.template(node.template))
        status = view.status(node)
        if not specs or status.phase is None:
            continue
        start, end = _span(view, node)
        spent = (end - start).total_seconds() if start and end else 0.0
        scope = template_scope(workflow, status=status.phase, duration=spent, inputs=view.group_inputs(node))
        _record(active, specs, scope, spent)
    if plan.metrics:
        root = view.status(plan.root)
        scope = template_scope(
            workflow,
            status=root.phase or phase,
            duration=duration,
            result=root.record.result if root.record is not None else None,
            parameters=root.record.parameters if root.record is not None else None,
        )
        scope["workflow.status"] = phase
        scope["workflow.duration"] = f"{duration:f}"
        _record(active, plan.metrics, scope, duration)
    namespace = str(workflow.get("workflow.namespace") or "default")
    for entered in ("Running", phase):
        active.record(
            _builtin(
                "total_count",
                "counter",
                1,
                {"phase": entered, "namespace": namespace},
                "Total number of workflows that have entered each phase",
            )
        )
    if plan.workflow_template:
        labels = {
            "name": str(plan.workflow_template["name"]),
            "namespace": namespace,
            "cluster_scope": "true" if plan.workflow_template.get("clusterScope") else "false",
        }
        for entered in ("Running", phase):
            active.record(
                _builtin(
                    "workflowtemplate_triggered_total",
                    "counter",
                    1,
                    {**labels, "phase": entered},
                    "Total number of times a WorkflowTemplate or ClusterWorkflowTemplate has been triggered",
                )
            )
        active.record(
            _builtin(
                "workflowtemplate_runtime",
                "histogram",
                duration,
                labels,
                "A histogram of the duration of workflows using workflowTemplateRef",
            )
        )
    run_type = str(getattr((context or {}).get("dag_run"), "run_type", "") or "")
    if plan.schedule is not None and run_type.endswith("scheduled"):
        active.record(
            _builtin(
                "cronworkflows_triggered_total",
                "counter",
                1,
                {"name": plan.workflow_name, "namespace": namespace},
                "Total number of cron workflows triggered",
            )
        )
