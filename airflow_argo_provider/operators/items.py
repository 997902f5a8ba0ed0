"""The ``_items`` task of a fan-out: decides whether the fan-out runs and lists its items.

It evaluates the node's ``depends`` (and the other gates) once, expands
``withItems``/``withSequence``/``withParam`` in the caller's scope, and returns the items the
mapped task (or mapped task group) expands over: one item per task instance, or chunks of
items when the list is longer than Airflow's ``[core] max_map_length``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from airflow_argo_provider.expressions import ExpressionError
from airflow_argo_provider.operators.base import fail, skip
from airflow_argo_provider.plan.model import Node, Plan
from airflow_argo_provider.runtime.context import workflow_vars
from airflow_argo_provider.runtime.gates import decide
from airflow_argo_provider.runtime.loops import LoopError, batches, child_name, expand_items
from airflow_argo_provider.runtime.phases import fanout_phase
from airflow_argo_provider.runtime.records import ERROR, OMITTED, XCOM_KEY, NodeRecord, Payload
from airflow_argo_provider.runtime.store import XComStore
from airflow_argo_provider.runtime.view import RunView


def external_items(value: Any) -> list[Any]:
    """Items given by an upstream task: a list, or a JSON list in a string."""
    import json

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise LoopError(f"the items are not a JSON list: {value[:120]!r}") from None
    if isinstance(value, (list, tuple)):
        return list(value)
    raise LoopError(f"the items must be a list, got {type(value).__name__}")


def max_map_length() -> int:
    from airflow.configuration import conf

    return conf.getint("core", "max_map_length", fallback=1024)


class ArgoItemsOperator(BaseOperator):
    """Expands the items of one fan-out node at run time."""

    template_fields: Sequence[str] = ()
    ui_color = "#f4f4f4"

    def __init__(
        self, *, plan: Plan, argo_node_id: str, items_per_task: int = 1, items_from: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.argo_node_id = argo_node_id
        self.items_per_task = items_per_task
        # Python API: an upstream task's output (XComArg) to fan out over, resolved at run time.
        self.items_from = items_from
        if items_from is not None and hasattr(items_from, "operator"):
            items_from.operator >> self

    @property
    def node(self) -> Node:
        return self.plan.node(self.argo_node_id)

    def execute(self, context: Any) -> list[Any]:
        ti = context["ti"]
        node = self.node
        view = RunView(self.plan, XComStore(ti), workflow_vars(self.plan, context))

        def push(payload: Payload) -> None:
            ti.xcom_push(key=XCOM_KEY, value=payload.to_json())

        decision = decide(view, node)
        if decision.action == "not_run":
            push(Payload(not_run=decision.message))
            skip(decision.message)
        if decision.action in ("omit", "error"):
            phase = OMITTED if decision.action == "omit" else ERROR
            push(Payload(node=NodeRecord(phase, decision.message, display_name=node.name)))
            (skip if phase == OMITTED else fail)(decision.message)
        assert node.loop is not None
        try:
            if self.items_from is not None:
                items = external_items(self.items_from.resolve(context))
            else:
                items = expand_items(node.loop, lambda text: view.substitute(text, node))
        except (LoopError, ExpressionError) as exc:
            push(Payload(node=NodeRecord(ERROR, str(exc), display_name=node.name)))
            fail(str(exc))
        if not items:
            phase, message = fanout_phase([])
            push(Payload(node=NodeRecord(phase, message, display_name=node.name)))
            skip(message)
        entries = [
            NodeRecord("Pending", index=i, item=item, display_name=child_name(node.name, i, item))
            for i, item in enumerate(items)
        ]
        push(Payload(children=entries))
        limit = max_map_length()
        if node.is_group:
            if len(items) > limit:
                message = (
                    f"{node.name} fans out over {len(items)} items, more than [core] max_map_length "
                    f"({limit}); a fanned-out steps/dag template cannot be split into chunks: raise the limit"
                )
                push(Payload(node=NodeRecord(ERROR, message, display_name=node.name)))
                fail(message)
            return [{"index": i, "item": item} for i, item in enumerate(items)]
        return batches(items, limit, self.items_per_task)
