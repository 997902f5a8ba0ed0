"""An exit notifier: publish a workflow run's outcome to an SNS topic as JSON.

:class:`ArgoSnsNotifier` follows Airflow 3's notifier conventions (like the amazon provider's
``SnsNotifier``): use it as a DAG's ``on_success_callback``/``on_failure_callback`` (or call it
from an exit handler with a task context). It publishes::

    {"workflow": "etl-x7k2p", "status": "Failed", "uid": "...", "duration": 12.5,
     "failures": [{"displayName": "load", "message": "Error (exit code 1)", "templateName": "load",
                   "phase": "Failed", "podName": "load", "finishedAt": "2026-01-02T03:04:05Z"}]}

For a DAG compiled from an Argo workflow, ``workflow`` is the workflow's name (``generateName``
suffix included), ``status`` its Argo phase (Succeeded, Failed or Error, exit handler included)
and ``failures`` the failed nodes, as ``{{workflow.failures}}`` lists them; ``uid`` is
``{{workflow.uid}}`` and ``duration`` the run's seconds. Any other DAG reports its DAG id, the
run's state as a phase, and no failures. The message attributes ``workflow`` and ``status`` let
SNS subscription filter policies pick, for example, failures only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)

_PHASES = {"success": "Succeeded", "failed": "Failed"}


def _plan_of(dag: Any) -> Any:
    for task in getattr(dag, "tasks", None) or []:
        plan = getattr(task, "plan", None)
        if plan is not None:
            return plan
    return None


def _seconds(dag_run: Any) -> float:
    start = getattr(dag_run, "start_date", None)
    if start is None:
        return 0.0
    end = getattr(dag_run, "end_date", None) or datetime.now(timezone.utc)
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    if end.tzinfo is None:
        end = end.replace(tzinfo=timezone.utc)
    return round(max((end - start).total_seconds(), 0.0), 3)


def _airflow_phase(context: Any) -> str:
    dag_run = context.get("dag_run")
    state = str(getattr(dag_run, "state", "") or "").lower()
    if state in _PHASES:
        return _PHASES[state]
    reason = str(context.get("reason") or "")
    return "Succeeded" if reason == "success" else "Failed"


def _store(plan: Any, context: Any) -> Any:
    """Where the run's node records are read from: XCom through the task SDK (in a task, or in the
    DAG processor that runs DAG callbacks), else the metadata database (``dag.test()`` runs DAG
    callbacks in its own process, without the task SDK's channel)."""
    from airflow_argo_provider.runtime.store import XComStore, database_store

    ti = context.get("ti")
    if ti is not None:
        try:
            from airflow.sdk.execution_time import task_runner

            if getattr(task_runner, "SUPERVISOR_COMMS", None) is not None:
                return XComStore(ti)
        except ImportError:  # pragma: no cover - an Airflow without the task SDK runner
            pass
    return database_store(plan.dag_id, str(context["run_id"]))


def _workflow_outcome(plan: Any, context: Any) -> tuple[str, list[dict[str, Any]]]:
    from airflow_argo_provider.plan.model import WORKFLOW_PHASE_ID
    from airflow_argo_provider.runtime.context import workflow_vars
    from airflow_argo_provider.runtime.view import RunView

    store = _store(plan, context)
    view = RunView(plan, store, workflow_vars(plan, context))
    final = next((p.node for p in store.payloads(WORKFLOW_PHASE_ID) if p.node is not None), None)
    phase = final.phase if final is not None and final.phase else view.status(plan.root).phase
    failures = [
        {
            "displayName": name,
            "message": record.message,
            "templateName": template,
            "phase": record.phase,
            "podName": name,
            "finishedAt": record.finished_at,
        }
        for name, template, record in view.failed_nodes()
    ]
    return phase or _airflow_phase(context), failures


def exit_payload(context: Any, plans: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document the notifier publishes for the run of ``context``.

    ``plans`` (DAG id -> plan) names the compiled workflows when the context's DAG is the
    scheduler's serialized copy, whose tasks no longer carry their plan (``dag.test()``).
    """
    from airflow_argo_provider.runtime.context import workflow_name, workflow_uid

    dag = context.get("dag")
    dag_run = context.get("dag_run")
    run_id = str(context.get("run_id") or getattr(dag_run, "run_id", ""))
    dag_id = str(getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", ""))
    plan = _plan_of(dag) or (plans or {}).get(dag_id)
    if plan is None:
        return {
            "workflow": dag_id,
            "status": _airflow_phase(context),
            "uid": workflow_uid(dag_id, run_id),
            "duration": _seconds(dag_run),
            "failures": [],
        }
    try:
        status, failures = _workflow_outcome(plan, context)
    except Exception:
        log.exception("could not read the workflow's node records; reporting the run's Airflow state")
        status, failures = _airflow_phase(context), []
    return {
        "workflow": workflow_name(plan, run_id),
        "status": status,
        "uid": workflow_uid(plan.dag_id, run_id),
        "duration": _seconds(dag_run),
        "failures": failures,
    }


class ArgoSnsNotifier(BaseNotifier):
    """Publish ``{"workflow", "status", "uid", "duration", "failures"}`` of a run to an SNS topic.

    :param target_arn: the topic (or endpoint) ARN.
    :param aws_conn_id: the Airflow AWS connection (credentials, region, ``endpoint_url``).
    :param region_name: overrides the connection's region.
    :param subject: the message subject (default: ``"WORKFLOW STATUS"``).
    :param message_attributes: more message attributes, next to ``workflow`` and ``status``.
    """

    template_fields: Sequence[str] = ("target_arn", "subject", "aws_conn_id", "region_name")

    def __init__(
        self,
        *,
        target_arn: str,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        subject: str | None = None,
        message_attributes: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.target_arn = target_arn
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.subject = subject
        self.message_attributes = dict(message_attributes or {})
        # DAG id -> plan of the compiled workflows this notifier was attached to (notify_on_exit).
        self.plans: dict[str, Any] = {}

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        # dag.test() hands DAG callbacks the scheduler's serialized DAG, which has no Jinja environment.
        if jinja_env is None and not hasattr(context.get("dag"), "get_template_env"):
            jinja_env = self.get_template_env()
        super().render_template_fields(context, jinja_env)

    def notify(self, context: Any) -> None:
        from airflow.providers.amazon.aws.hooks.sns import SnsHook

        payload = exit_payload(context, self.plans)
        attributes = {"workflow": payload["workflow"], "status": payload["status"], **self.message_attributes}
        hook = SnsHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)
        response = hook.publish_to_target(
            target_arn=self.target_arn,
            message=json.dumps(payload, sort_keys=False),
            subject=self.subject or f"{payload['workflow']} {payload['status']}"[:100],
            message_attributes=attributes,
        )
        log.info(
            "published %s %s to %s (message %s)",
            payload["workflow"],
            payload["status"],
            self.target_arn,
            (response or {}).get("MessageId"),
        )


def notify_on_exit(dags: Any, notifier: Any) -> Any:
    """Make ``notifier`` the success and failure callback of ``dags`` (a DAG, or a dict of them as
    ``load_workflows`` returns); returns ``dags``.

    Airflow records whether a DAG has callbacks when the DAG is created, so callbacks added to a
    DAG afterwards (as here) must set that record too.
    """
    targets = dags.values() if isinstance(dags, dict) else [dags]
    for dag in targets:
        if not hasattr(dag, "on_success_callback"):
            continue
        dag.on_success_callback = notifier
        dag.on_failure_callback = notifier
        dag.has_on_success_callback = True
        dag.has_on_failure_callback = True
        plan = _plan_of(dag)
        if plan is not None and isinstance(getattr(notifier, "plans", None), dict):
            notifier.plans[dag.dag_id] = plan
    return dags
