"""The Airflow operator behind every Argo leaf node, whatever runs it.

:class:`ArgoNodeOperator` carries out Argo's run-time semantics around one leaf invocation
(or a batch of fan-out items): decide whether the node runs (step order, ``depends``,
``failFast``, ``target``), evaluate ``when``, resolve inputs and ``{{...}}`` tags, let the
backend run it, compute the outputs, report the node to XCom, and end in the Airflow state
that matches the Argo phase. Backends (local processes, Kubernetes pods, HTTP requests,
SNS) subclass it and implement :meth:`run_invocation` only.

Argo strings never go through Jinja: ``template_fields`` is empty.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import BaseOperator

from airflow_argo_provider.expressions import ExpressionError
from airflow_argo_provider.metrics.emit import begin_attempt
from airflow_argo_provider.operators.retry import forget_first_attempt
from airflow_argo_provider.plan.model import Node, Plan
from airflow_argo_provider.runtime.context import workflow_vars
from airflow_argo_provider.runtime.gates import decide
from airflow_argo_provider.runtime.loops import LoopError, batch_label, child_name, expand_items
from airflow_argo_provider.runtime.phases import fanout_phase
from airflow_argo_provider.runtime.records import (
    ERROR,
    FAILED,
    OMITTED,
    SKIPPED,
    XCOM_KEY,
    NodeRecord,
    Payload,
    failed_or_error,
)
from airflow_argo_provider.runtime.retry import Failure, NodeFailure, RetrySettings
from airflow_argo_provider.runtime.step import Invocation, RawOutcome, Skip, Unresolvable, finish, now_iso, prepare
from airflow_argo_provider.runtime.store import XComStore
from airflow_argo_provider.runtime.view import NOT_LOADED, RunView

log = logging.getLogger(__name__)

LABEL_KEY = "argo_node"
MAP_INDEX_TEMPLATE = "{{ argo_node }}"
DEFAULT_BATCH_CONCURRENCY = 8


def resolve_mapped(value: Any, context: Any) -> Any:
    """Values handed to tasks inside a mapped task group arrive unresolved; resolve them."""
    resolve = getattr(value, "resolve", None)
    if resolve is not None and not isinstance(value, (dict, list, str)):
        return resolve(context)
    return value


def skip(message: str) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    raise AirflowSkipException(message)


def fail(message: str) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(message)


class ArgoNodeOperator(BaseOperator):
    """Runs one Argo leaf node (or a batch of fan-out items) of a compiled workflow."""

    template_fields: Sequence[str] = ()
    ui_color = "#e0f0ff"
    # How many fan-out items one task instance runs. 1: a mapped task instance per item (each
    # retried by Airflow). Backends whose items are cheap (HTTP requests) run many per task.
    items_per_task: int = 1
    # Items of a batch running at once when no ``parallelism`` limits them.
    default_batch_concurrency: int = DEFAULT_BATCH_CONCURRENCY

    def __init__(
        self,
        *,
        plan: Plan,
        argo_node_id: str,
        batch: Any = None,
        mapped_item: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.argo_node_id = argo_node_id
        self.batch = batch
        self.mapped_item = mapped_item

    @property
    def node(self) -> Node:
        return self.plan.node(self.argo_node_id)

    # -- to be provided by backends --------------------------------------------------------------
    def run_invocation(self, invocation: Invocation, context: Any, timeout: float | None) -> RawOutcome:
        raise NotImplementedError

    def run_invocations(
        self, invocations: list[Invocation], context: Any, concurrency: int, timeout: float | None
    ) -> list[NodeRecord]:
        """Run a batch of items (with their retries) concurrently; backends may do better."""
        settings = self.retry_settings()
        lock = threading.Lock()

        def one(invocation: Invocation) -> NodeRecord:
            return self._with_inline_retries(invocation, context, settings, timeout, lock)

        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(invocations)))) as pool:
            return list(pool.map(one, invocations))

    # -- the flow -----------------------------------------------------------------------------------------
    def execute(self, context: Any) -> Any:
        ti = context["ti"]
        node = self.node
        view = self.make_view(context)
        batch = resolve_mapped(self.batch, context)
        if batch is not None:
            entries = list(batch)
            context[LABEL_KEY] = batch_label(node.name, entries)
            if len(entries) == 1:
                return self._run_single(context, view, node, entries[0]["index"], entries[0]["item"])
            return self._run_batch(context, view, node, entries)
        if self.mapped_item is not None:
            entry = resolve_mapped(self.mapped_item, context)
            group = view.mapped_group(node)
            if isinstance(entry, dict) and group is not None:
                context[LABEL_KEY] = child_name(group.name, entry.get("index", 0), entry.get("item"))
        decision = decide(view, node)
        if decision.action == "not_run":
            self.push(ti, Payload(map_index=ti.map_index, not_run=decision.message))
            skip(decision.message)
        if decision.action == "omit":
            self.push(
                ti, Payload(map_index=ti.map_index, node=NodeRecord(OMITTED, decision.message, display_name=node.name))
            )
            skip(decision.message)
        if decision.action == "error":
            self.push(
                ti, Payload(map_index=ti.map_index, node=NodeRecord(ERROR, decision.message, display_name=node.name))
            )
            fail(decision.message)
        if node.inline_loop:
            return self._run_inline_loop(context, view, node)
        return self._run_single(context, view, node, None, NOT_LOADED)

    def make_view(self, context: Any) -> RunView:
        ti = context["ti"]
        mapped_index = ti.map_index if ti.map_index is not None and ti.map_index >= 0 else None
        item = NOT_LOADED
        if self.mapped_item is not None:
            entry = resolve_mapped(self.mapped_item, context)
            if isinstance(entry, dict) and "item" in entry:
                item = entry["item"]
        if self.batch is not None:
            mapped_index = None  # a fanned-out leaf's own mapping is not a group instance
        return RunView(
            self.plan, XComStore(ti), workflow_vars(self.plan, context), mapped_index=mapped_index, mapped_item=item
        )

    def push(self, ti: Any, payload: Payload) -> None:
        ti.xcom_push(key=XCOM_KEY, value=payload.to_json())

    def timeout_for(self, invocation: Invocation, context: Any) -> tuple[float | None, str]:
        """Seconds the step may run, and the message when it runs out (template or workflow deadline)."""
        from airflow_argo_provider.runtime.retry import parse_duration

        template = invocation.template
        limits: list[tuple[float, str]] = []
        for key in ("activeDeadlineSeconds", "timeout"):
            if template.get(key) not in (None, ""):
                try:
                    seconds = parse_duration(template[key])
                except ValueError:
                    continue
                if seconds is not None:
                    limits.append(
                        (
                            seconds,
                            "Pod was active on the node longer than the specified deadline"
                            if key == "activeDeadlineSeconds"
                            else "timeout",
                        )
                    )
        deadline = self.plan.active_deadline_seconds
        on_exit = self.plan.on_exit
        in_exit_handler = on_exit is not None and (
            invocation.node.id == on_exit.id or invocation.node.id.startswith(on_exit.id + ".")
        )
        if deadline and not in_exit_handler:  # exit handlers run past the workflow's deadline
            started = context.get("dag_run").start_date if context.get("dag_run") is not None else None
            if started is not None:
                remaining = started.timestamp() + deadline - time.time()
                limits.append((max(remaining, 0.0), "Step exceeded its deadline"))
        if not limits:
            return None, ""
        return min(limits)

    def _attempt(self, invocation: Invocation, context: Any) -> NodeRecord:
        timeout, message = self.timeout_for(invocation, context)
        if timeout is not None and timeout <= 0:
            return self.deadline_record(invocation, message)
        started = now_iso()
        metrics = begin_attempt(invocation)  # realtime gauges are observed while it runs
        try:
            raw = self.run_invocation(invocation, context, timeout)
        except Exception as exc:
            log.exception("step %s failed to run", invocation.display_name)
            raw = RawOutcome(exit_code=None, message=f"{type(exc).__name__}: {exc}", error=True)
        return self.attempt_record(invocation, raw, started, message, metrics)

    @staticmethod
    def deadline_record(invocation: Invocation, message: str) -> NodeRecord:
        """The record of an attempt that could not start: its deadline has passed."""
        return NodeRecord(
            FAILED,
            message,
            display_name=invocation.display_name,
            index=invocation.index,
            item=invocation.item,
            finished_at=now_iso(),
            retries=invocation.retries,
        )

    @staticmethod
    def attempt_record(
        invocation: Invocation, raw: RawOutcome, started: str, deadline_message: str, metrics: Any = None
    ) -> NodeRecord:
        """The record of a finished attempt (``deadline_message`` when it ran out of time); the
        template's metrics are emitted (``metrics``: those begun with the attempt)."""
        raw.started_at = raw.started_at or started
        record = finish(invocation, raw)
        if raw.timed_out:
            record.phase, record.message = FAILED, deadline_message
        metrics = metrics or begin_attempt(invocation, started_at=raw.started_at)
        if metrics is not None:
            metrics.finish(record)
        return record

    @staticmethod
    def failure_of(record: NodeRecord, invocation: Invocation | None = None) -> Failure:
        """How a failed attempt looks to the retry rules (with the invocation's retry expression,
        whose ``{{inputs...}}`` were substituted)."""
        template = invocation.template if invocation is not None else {}
        return Failure(
            record.phase,
            record.message,
            record.exit_code,
            _duration(record.started_at, record.finished_at),
            transient=record.transient,
            expression=(template.get("retryStrategy") or {}).get("expression"),
        )

    def _prepare(
        self, view: RunView, node: Node, index: int | None, item: Any, retries: int
    ) -> Invocation | NodeRecord:
        try:
            return prepare(view, node, index=index, item=item, retries=retries)
        except (Skip, Unresolvable) as exc:
            return exc.record

    def _run_single(self, context: Any, view: RunView, node: Node, index: int | None, item: Any) -> Any:
        ti = context["ti"]
        retries = max(int(ti.try_number or 1) - 1, 0)
        prepared = self._prepare(view, node, index, item, retries)
        record = prepared if isinstance(prepared, NodeRecord) else self._attempt(prepared, context)
        record.retries = retries
        payload = Payload(
            map_index=ti.map_index,
            node=record if index is None else None,
            children=[record] if index is not None else [],
        )
        self.push(ti, payload)
        if record.phase == SKIPPED:
            skip(record.message)
        if failed_or_error(record.phase):
            if isinstance(prepared, NodeRecord):
                fail(record.message)  # not retried: the invocation itself is invalid
            raise NodeFailure(self.failure_of(record, prepared if isinstance(prepared, Invocation) else None))
        if retries and self.plan.template(node.template).get("retryStrategy", {}).get("backoff", {}).get("maxDuration"):
            forget_first_attempt(ti)
        return None

    def _run_batch(self, context: Any, view: RunView, node: Node, entries: list[dict[str, Any]]) -> Any:
        ti = context["ti"]
        records = self._run_items(context, view, node, [(e["index"], e["item"]) for e in entries])
        self.push(ti, Payload(map_index=ti.map_index, children=records))
        return self._end_batch(records)

    def _run_inline_loop(self, context: Any, view: RunView, node: Node) -> Any:
        ti = context["ti"]
        assert node.loop is not None
        try:
            items = expand_items(node.loop, lambda text: view.substitute(text, node))
        except (LoopError, ExpressionError) as exc:
            record = NodeRecord(ERROR, str(exc), display_name=node.name)
            self.push(ti, Payload(map_index=ti.map_index, node=record))
            fail(record.message)
        records = self._run_items(context, view, node, list(enumerate(items)))
        if not records:
            phase, message = fanout_phase([])
            self.push(ti, Payload(map_index=ti.map_index, node=NodeRecord(phase, message, display_name=node.name)))
            skip(message)
        self.push(ti, Payload(map_index=ti.map_index, children=records))
        return self._end_batch(records)

    def _run_items(self, context: Any, view: RunView, node: Node, entries: list[tuple[int, Any]]) -> list[NodeRecord]:
        prepared: list[Invocation] = []
        done: dict[int, NodeRecord] = {}
        for index, item in entries:
            result = self._prepare(view, node, index, item, 0)
            if isinstance(result, NodeRecord):
                done[index] = result
            else:
                prepared.append(result)
        concurrency = self.batch_concurrency()
        timeout = None
        if prepared:
            for record in self.run_invocations(prepared, context, concurrency, timeout):
                done[record.index or 0] = record
        records = [done[index] for index, _ in entries]
        for record in records:
            log.info("%s %s %s", record.display_name, record.phase, record.message)
        return records

    def parallelism_limit(self) -> int | None:
        """The enclosing template's ``parallelism``, else the workflow's (None: unlimited)."""
        parent = self.plan.parent_of(self.argo_node_id)
        template = self.plan.template(parent.template) if parent is not None else {}
        limit = template.get("parallelism") or self.plan.parallelism
        return int(limit) if limit else None

    def batch_concurrency(self) -> int:
        return self.parallelism_limit() or self.default_batch_concurrency

    def retry_settings(self) -> RetrySettings | None:
        """The node template's ``retryStrategy`` (None without one)."""
        return RetrySettings.from_template(self.plan.template(self.node.template).get("retryStrategy"))

    def next_retry(
        self, record: NodeRecord, invocation: Invocation, settings: RetrySettings | None, retries: int, first: float
    ) -> tuple[float, str] | None:
        """After attempt ``retries`` (0 for the first) of an item retried in this task, whose first
        attempt started at ``first`` (``time.monotonic()``): the wait before the next attempt and
        why, or None when ``record`` is the item's last."""
        record.retries = retries
        if not failed_or_error(record.phase) or settings is None:
            return None
        again, delay, reason = settings.decide(self.failure_of(record, invocation), retries, time.monotonic() - first)
        return (delay, reason) if again else None

    def _with_inline_retries(
        self,
        invocation: Invocation,
        context: Any,
        settings: RetrySettings | None,
        timeout: float | None,
        lock: threading.Lock,
    ) -> NodeRecord:
        first = time.monotonic()
        retries = 0
        while True:
            record = self._attempt(invocation, context)
            retry = self.next_retry(record, invocation, settings, retries, first)
            if retry is None:
                return record
            delay, reason = retry
            with lock:
                log.info("%s: %s", invocation.display_name, reason)
            time.sleep(delay)
            retries += 1
            invocation.retries = retries

    def _end_batch(self, records: list[NodeRecord]) -> Any:
        failed = [r for r in records if failed_or_error(r.phase)]
        if failed:
            fail(
                f"{len(failed)} of {len(records)} items failed: "
                + "; ".join(f"{r.display_name}: {r.message}" for r in failed[:5])
            )
        if records and all(r.phase == SKIPPED for r in records):
            skip("every item was skipped")
        return None


def _duration(started: str | None, finished: str | None) -> float:
    try:
        if started and finished:
            a = datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            b = datetime.strptime(finished, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            return (b - a).total_seconds()
    except ValueError:
        pass
    return 0.0
