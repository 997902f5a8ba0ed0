"""The dispatcher: one workflow run per SQS message of the asset events that started this run.

A dispatcher DAG is scheduled by the asset its SQS queue's ``MessageQueueTrigger`` feeds. One
asset event carries a batch of messages, and one dispatcher run consumes every asset event queued
since the previous run, so :class:`ArgoEventDispatchOperator` handles every message of every
event, in order:

* a message the Sensor's filters reject is logged and deleted (Argo Events acknowledges it too);
* otherwise each trigger's workflow DAG gets a run whose id is derived from the message id, with
  the parameters taken from the message as ``conf``. Creating a run that already exists is a
  no-op: a message delivered twice (SQS is at-least-once, and the trigger does not delete what it
  receives) starts its workflow once. The message is deleted once all its runs exist;
* a message that cannot be dispatched (a body that is not JSON with ``jsonBody``, too large or
  too deeply nested, a filter that cannot be evaluated on it, a parameter the message does not
  have, a workflow DAG that does not exist) is reported on one log line and left in the queue
  (each message is decided on its own, so one poisonous message never stops the others): it becomes visible again after the visibility timeout, and after the queue's
  ``maxReceiveCount`` receptions SQS moves it to the dead-letter queue. The task then fails,
  listing each such message and why, after every other message was handled.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import BaseOperator

from airflow_argo_provider.events.messages import (
    Decision,
    MessageError,
    PlannedRun,
    decide_all,
    messages_from_event,
)
from airflow_argo_provider.events.model import Dispatch

log = logging.getLogger(__name__)

DELETE_BATCH = 10  # SQS's limit per DeleteMessageBatch
SUMMARY_KEY = "summary"  # XCom: message counts, run ids created, duplicates, filtered, failed


class RunCreationError(Exception):
    pass


def create_run(run: PlannedRun) -> bool:
    """Create the DAG run through the task SDK (as TriggerDagRunOperator does); False if it exists."""
    from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse, TriggerDagRun
    from airflow.sdk.execution_time.task_runner import SUPERVISOR_COMMS

    request = TriggerDagRun(
        dag_id=run.dag_id,
        run_id=run.run_id,
        conf=dict(run.conf),
        logical_date=None,
        run_after=datetime.now(timezone.utc),
        note=f"started by the Sensor trigger {run.trigger}",
    )
    try:
        response = SUPERVISOR_COMMS.send(request)
    except AirflowRuntimeError as exc:
        if exc.error.error == ErrorType.DAGRUN_ALREADY_EXISTS:
            return False
        detail = exc.error.detail or {}
        inner = detail.get("detail") if isinstance(detail, dict) else None
        reason = inner.get("message") if isinstance(inner, dict) else None
        raise RunCreationError(str(reason or detail or exc)) from None
    except Exception as exc:  # the API's answer, when the supervisor runs in this process (dag.test())
        answer = getattr(exc, "detail", None)
        message = answer.get("message") if isinstance(answer, dict) else None
        raise RunCreationError(str(message or exc).strip()) from None
    if isinstance(response, ErrorResponse):
        if response.error == ErrorType.DAGRUN_ALREADY_EXISTS:
            return False
        raise RunCreationError(f"{response.error.value}: {response.detail}")
    return True


class ArgoEventDispatchOperator(BaseOperator):
    """Starts one run of each target workflow DAG per SQS message of the triggering asset events."""

    template_fields: Sequence[str] = ()
    ui_color = "#f3e6ff"

    def __init__(self, *, dispatch: Dispatch, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dispatch = dispatch

    # -- input ----------------------------------------------------------------------------------------
    def collect(self, context: Any) -> tuple[list[dict[str, Any]], list[str]]:
        """Every message of the asset events of this run (oldest event first), and unusable events."""
        events = context.get("triggering_asset_events") or {}
        wanted = self.dispatch.source.asset_name
        found: list[Any] = []
        for asset in events:
            if getattr(asset, "name", None) == wanted:
                found.extend(events[asset])
        found.sort(key=lambda e: getattr(e, "timestamp", None) or datetime.min.replace(tzinfo=timezone.utc))
        messages: list[dict[str, Any]] = []
        unusable: list[str] = []
        for event in found:
            try:
                messages.extend(messages_from_event(getattr(event, "extra", None)))
            except MessageError as exc:
                unusable.append(f"asset event of {getattr(event, 'timestamp', '?')}: {exc}")
        return messages, unusable

    # -- the run ---------------------------------------------------------------------------------------
    def execute(self, context: Any) -> None:
        from airflow.sdk.exceptions import AirflowException

        messages, unusable = self.collect(context)
        decisions = decide_all(messages, self.dispatch)
        log.info(
            "%d messages (%d distinct) from %s for %d trigger(s)",
            len(messages),
            len(decisions),
            self.dispatch.source.queue_url,
            len(self.dispatch.targets),
        )
        summary: dict[str, Any] = {
            "messages": len(decisions),
            "created": [],
            "duplicates": [],
            "filtered": [],
            "failed": [],
            "not_deleted": [],
        }
        done: list[Decision] = []
        for decision in decisions:
            if decision.action == "filtered":
                log.info("message %s filtered out: %s", decision.message_id, decision.reason)
                summary["filtered"].append(decision.message_id)
                done.append(decision)
                continue
            if decision.action == "trigger":
                self._create_runs(decision, summary)
            if decision.action == "error":
                log.error(
                    "message %s cannot be dispatched: %s; it stays in the queue (its redrive policy moves it "
                    "to the dead-letter queue)",
                    decision.message_id,
                    decision.reason,
                )
                summary["failed"].append({"message_id": decision.message_id, "reason": decision.reason})
            else:
                done.append(decision)
        summary["not_deleted"] = self.delete(done)
        summary["unusable_events"] = unusable
        # What happened to each message, for the UI and for whoever looks into a failure.
        context["ti"].xcom_push(key=SUMMARY_KEY, value=summary)
        problems = [f"{f['message_id']}: {f['reason']}" for f in summary["failed"]] + unusable
        if problems:
            shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
            raise AirflowException(
                f"{len(problems)} of {len(decisions) + len(unusable)} messages could not be dispatched "
                f"(they stay in the queue): {shown}"
            )

    def _create_runs(self, decision: Decision, summary: dict[str, Any]) -> None:
        for run in decision.runs:
            try:
                created = create_run(run)
            except Exception as exc:  # RunCreationError, or anything else: this message only
                decision.action = "error"
                decision.reason = f"trigger {run.trigger!r}: could not start a run of {run.dag_id}: {exc}"
                return
            if created:
                log.info("message %s: started %s run %s %s", decision.message_id, run.dag_id, run.run_id, run.conf)
                summary["created"].append(run.run_id)
            else:
                log.info(
                    "message %s: %s run %s already exists (a redelivered message); not started again",
                    decision.message_id,
                    run.dag_id,
                    run.run_id,
                )
                summary["duplicates"].append(run.run_id)

    # -- acknowledging ------------------------------------------------------------------------------------
    def delete(self, decisions: list[Decision]) -> list[str]:
        """Delete the handled messages from the queue; returns the ids whose deletion failed (they
        will come back and be recognised as duplicates)."""
        entries = [
            (decision.message_id, handle) for decision in decisions for handle in decision.receipt_handles if handle
        ]
        if not entries:
            return []
        from airflow.providers.amazon.aws.hooks.sqs import SqsHook

        source = self.dispatch.source
        failed: set[str] = set()
        try:
            client = SqsHook(aws_conn_id=source.aws_conn_id, region_name=source.region).get_conn()
            for start in range(0, len(entries), DELETE_BATCH):
                chunk = entries[start : start + DELETE_BATCH]
                response = client.delete_message_batch(
                    QueueUrl=source.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": handle} for i, (_, handle) in enumerate(chunk)],
                )
                for failure in response.get("Failed") or []:
                    message_id = chunk[int(failure["Id"])][0]
                    failed.add(message_id)
                    log.warning(
                        "message %s was handled but not deleted (%s: %s); when it comes back its runs exist "
                        "already, so it is deleted then",
                        message_id,
                        failure.get("Code"),
                        failure.get("Message"),
                    )
        except Exception as exc:
            ids = sorted({message_id for message_id, _ in entries})
            log.warning(
                "could not delete %d handled messages from %s (%s); when they come back their runs exist "
                "already, so they are deleted then",
                len(ids),
                source.queue_url,
                exc,
            )
            return ids
        return sorted(failed)
