"""Turn a :class:`~airflow_argo_provider.plan.model.Plan` into an Airflow DAG.

Steps and DAG templates become task groups named after the step or task; leaves become
operators chosen by :mod:`airflow_argo_provider.render.backends`; a fan-out becomes an
``NAME_items`` task followed by a mapped task (or, for a fanned-out steps/dag template, a
mapped task group). Every task runs whatever its upstreams ended in (``all_done``): Argo's
``depends``, ``when`` and step order are decided by the tasks themselves at run time, so
skips do not propagate the Airflow way. The last task, ``workflow_phase``, turns the
workflow's Argo phase into the DAG run's state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Param, TaskGroup, TriggerRule, task_group

from airflow_argo_provider.expressions import depends_task_names
from airflow_argo_provider.operators.base import MAP_INDEX_TEMPLATE
from airflow_argo_provider.operators.items import ArgoItemsOperator
from airflow_argo_provider.operators.retry import ArgoRetryPolicy, supports_retry_policy
from airflow_argo_provider.operators.workflow import ArgoWorkflowPhaseOperator
from airflow_argo_provider.plan.model import ITEMS_SUFFIX, WORKFLOW_PHASE_ID, Node, Plan, Schedule
from airflow_argo_provider.render.backends import default_backend, operator_class, run_extension
from airflow_argo_provider.runtime.retry import RetrySettings

ALL_DONE = TriggerRule.ALL_DONE


@dataclass
class Segment:
    """The Airflow objects a node became: where edges into it land and where edges leave from."""

    roots: list[Any] = field(default_factory=list)
    leaves: list[Any] = field(default_factory=list)


def _link(upstream: list[Any], downstream: list[Any]) -> None:
    for up in upstream:
        for down in downstream:
            up >> down


def retry_arguments(template: dict[str, Any]) -> dict[str, Any]:
    """Airflow retry arguments for a leaf template's ``retryStrategy``."""
    settings = RetrySettings.from_template(template.get("retryStrategy"))
    if settings is None:
        return {"retries": 0}
    out: dict[str, Any] = {"retries": settings.airflow_retries}
    if supports_retry_policy():
        out["retry_policy"] = ArgoRetryPolicy(settings)
        out["retry_delay"] = timedelta(seconds=settings.duration or 0)
    else:  # pragma: no cover - Airflow before 3.3: Airflow's own exponential backoff
        out["retry_delay"] = timedelta(seconds=settings.duration or 0)
        if settings.factor and settings.factor > 1:
            out["retry_exponential_backoff"] = True
    return out


class _Renderer:
    def __init__(self, plan: Plan, backend: str, cleanup: Any, external_items: dict[str, Any] | None = None) -> None:
        self.plan = plan
        self.backend = backend
        self.cleanup = cleanup
        self.external_items = external_items or {}
        self._retry: dict[str, dict[str, Any]] = {}  # per template: one retry policy object shared

    def leaf_kwargs(self, node: Node) -> dict[str, Any]:
        template = self.plan.template(node.template)
        kwargs: dict[str, Any] = {"plan": self.plan, "argo_node_id": node.id, "trigger_rule": ALL_DONE}
        retry = self._retry.get(node.template)
        if retry is None:
            retry = self._retry[node.template] = retry_arguments(template)
        kwargs.update(retry)
        parent = self.plan.parent_of(node.id)
        limit = self.plan.template(parent.template).get("parallelism") if parent is not None else None
        if limit and node.loop is not None:
            kwargs["max_active_tis_per_dagrun"] = int(limit)
        kwargs["doc_md"] = f"Argo template `{template.get('name', '')}` ({node.body})"
        if node.lock:
            kwargs["pool"] = node.lock["pool"]
        return kwargs

    def node(self, node: Node, mapped_item: Any = None) -> Segment:
        segment = self._body(node, mapped_item)
        if node.exit_hook is not None:
            hook = self.node(node.exit_hook, mapped_item)
            _link(segment.leaves, hook.roots)
            segment = Segment(segment.roots, hook.leaves)
        return segment

    def finish(self, main: Segment, **phase_kwargs: Any) -> ArgoWorkflowPhaseOperator:
        """After the workflow's tasks ``main``: its exit handler (if any), then the ``workflow_phase`` task."""
        last = main.leaves
        if self.plan.on_exit is not None:
            exit_segment = self.node(self.plan.on_exit)
            _link(main.leaves, exit_segment.roots)
            last = exit_segment.leaves
        phase = ArgoWorkflowPhaseOperator(
            task_id=WORKFLOW_PHASE_ID, plan=self.plan, trigger_rule=ALL_DONE, cleanup=self.cleanup, **phase_kwargs
        )
        _link(last, [phase])
        return phase

    def _local_id(self, node: Node) -> str:
        return node.id.rsplit(".", 1)[-1]

    def _body(self, node: Node, mapped_item: Any) -> Segment:
        if node.is_group:
            return self._group(node, mapped_item)
        cls = operator_class(self.backend, node.body)
        kwargs = self.leaf_kwargs(node)
        if node.loop is None or node.inline_loop:
            if mapped_item is not None:
                kwargs["map_index_template"] = MAP_INDEX_TEMPLATE
            op = cls(task_id=self._local_id(node), mapped_item=mapped_item, **kwargs)
            return Segment([op], [op])
        per_task = getattr(cls, "items_per_task", 1)
        if per_task > 1 and (kwargs.get("max_active_tis_per_dagrun") or self.plan.parallelism):
            # Each chunk runs its items up to the parallelism limit itself: one chunk at a time.
            kwargs["max_active_tis_per_dagrun"] = 1
        items = ArgoItemsOperator(
            task_id=self._local_id(node) + ITEMS_SUFFIX,
            plan=self.plan,
            argo_node_id=node.id,
            trigger_rule=ALL_DONE,
            items_per_task=per_task,
            items_from=self.external_items.get(node.id),
        )
        mapped = cls.partial(task_id=self._local_id(node), map_index_template=MAP_INDEX_TEMPLATE, **kwargs).expand(
            batch=items.output
        )
        items >> mapped
        return Segment([items], [mapped])

    def _group(self, node: Node, mapped_item: Any) -> Segment:
        if node.loop is not None and not node.inline_loop:
            items = ArgoItemsOperator(
                task_id=self._local_id(node) + ITEMS_SUFFIX,
                plan=self.plan,
                argo_node_id=node.id,
                trigger_rule=ALL_DONE,
                items_from=self.external_items.get(node.id),
            )

            def body(mapped_item: Any) -> None:
                self._children(node, mapped_item)

            mapped_group = task_group(group_id=self._local_id(node))(body).expand(mapped_item=items.output)
            items >> mapped_group
            return Segment([items], [mapped_group])
        context: contextlib.AbstractContextManager[Any]
        if node.id:
            context = TaskGroup(group_id=self._local_id(node), tooltip=f"{node.kind} template", prefix_group_id=True)
        else:
            context = contextlib.nullcontext()
        group: Any
        with context as group:
            inner = self._children(node, mapped_item)
        if group is None:
            return inner
        return Segment([group], [group])

    def _children(self, node: Node, mapped_item: Any) -> Segment:
        segments = {child.name: self.node(child, mapped_item) for child in node.children}
        if node.kind == "steps":
            groups: dict[int, list[Node]] = {}
            for child in node.children:
                groups.setdefault(child.step_group or 0, []).append(child)
            ordered = [groups[k] for k in sorted(groups)]
            for before, after in zip(ordered, ordered[1:]):
                _link(
                    [leaf for c in before for leaf in segments[c.name].leaves],
                    [root for c in after for root in segments[c.name].roots],
                )
            first = ordered[0] if ordered else []
            last = ordered[-1] if ordered else []
            return Segment(
                [r for c in first for r in segments[c.name].roots],
                [leaf for c in last for leaf in segments[c.name].leaves],
            )
        has_dependents: set[str] = set()
        roots: list[Any] = []
        names = {c.name for c in node.children}
        for child in node.children:
            deps = _dependency_names(names, child)
            if not deps:
                roots.extend(segments[child.name].roots)
            for dep in deps:
                has_dependents.add(dep)
                _link(segments[dep].leaves, segments[child.name].roots)
        leaves = [leaf for c in node.children if c.name not in has_dependents for leaf in segments[c.name].leaves]
        return Segment(roots, leaves)


def _dependency_names(names: set[str], child: Node) -> list[str]:
    if not child.depends:
        return []
    return [n for n in dict.fromkeys(depends_task_names(child.depends)) if n in names]


def _timetable(schedule: Schedule | None) -> Any:
    if schedule is None:
        return None
    from airflow.sdk import CronTriggerTimetable, MultipleCronTriggerTimetable

    timezone = schedule.timezone or "UTC"
    if len(schedule.crons) == 1:
        return CronTriggerTimetable(schedule.crons[0], timezone=timezone)
    return MultipleCronTriggerTimetable(*schedule.crons, timezone=timezone)


def _params(plan: Plan) -> dict[str, Param]:
    params: dict[str, Param] = {}
    for spec in plan.parameters:
        kwargs: dict[str, Any] = {"type": "string"}
        if spec.enum:
            kwargs["enum"] = [str(v) for v in spec.enum]
        if spec.description:
            kwargs["description"] = spec.description
        if spec.value is not None:
            params[spec.name] = Param(spec.value, **kwargs)
        elif spec.value_from:  # filled in at run time (a ConfigMap key, or its default)
            params[spec.name] = Param(None, **{**kwargs, "type": ["null", "string"]})
        else:
            params[spec.name] = Param(**kwargs)
    return params


def _doc(plan: Plan) -> str:
    lines = [f"**Argo {plan.kind}** `{plan.workflow_name}`", "", f"Source: `{plan.source}`"]
    if plan.description:
        lines += ["", plan.description]
    return "\n".join(lines)


def render_dag(plan: Plan, backend: str | None = None, *, fileloc: str | None = None) -> DAG:
    """The Airflow DAG of ``plan``; leaves run on ``backend`` (default: ``[argo] backend``)."""
    from airflow_argo_provider.operators.local import cleanup_run

    backend = backend or default_backend()
    schedule = plan.schedule
    kwargs: dict[str, Any] = {}
    if plan.parallelism:
        kwargs["max_active_tasks"] = plan.parallelism
    if schedule is not None and schedule.concurrency_policy in ("Forbid", "Replace"):
        kwargs["max_active_runs"] = 1
    if plan.workflow_lock:
        kwargs["max_active_runs"] = min(
            kwargs.get("max_active_runs", plan.workflow_lock["slots"]), plan.workflow_lock["slots"]
        )
    if schedule is not None and schedule.suspend:
        kwargs["is_paused_upon_creation"] = True
    dag = DAG(
        dag_id=plan.dag_id,
        description=plan.description or f"Argo {plan.kind} {plan.workflow_name}",
        schedule=_timetable(schedule),
        catchup=False,
        params=_params(plan),
        tags=["argo", plan.kind],
        doc_md=_doc(plan),
        default_args={"owner": "argo"},
        **kwargs,
    )
    if fileloc:
        dag.fileloc = fileloc
    renderer = _Renderer(plan, backend, cleanup_run if backend == "local" else None)
    with dag:
        phase = renderer.finish(renderer.node(plan.root))
        extend = run_extension(backend)
        if extend is not None:
            extend(dag, plan, phase)
    return dag


def iter_task_ids(dag: DAG) -> Iterator[str]:
    yield from (t.task_id for t in dag.tasks)


def render_group(
    plan: Plan,
    group_id: str,
    backend: str | None = None,
    *,
    external_items: dict[str, Any] | None = None,
    result: str = "outputs",
) -> tuple[Any, Any]:
    """Render ``plan`` as a task group of the DAG being defined (the Python API).

    The plan must have been built with ``root_id`` equal to the group's full id. The group ends
    with a ``workflow_phase`` task that fails when the workflow Failed or Errored and returns
    ``result``: ``"outputs"`` (the workflow's output parameters) or ``"result:NODE_ID"`` (that
    node's ``outputs.result``, a fan-out's aggregate, as a Python value). Returns
    ``(task_group, phase_task)``.
    """
    from airflow_argo_provider.operators.local import cleanup_run

    backend = backend or default_backend()
    renderer = _Renderer(plan, backend, cleanup_run if backend == "local" else None, external_items)
    with TaskGroup(group_id=group_id, tooltip="Argo workflow") as group:
        root = plan.root
        main = renderer._children(root, None) if root.is_group and root.loop is None else renderer.node(root)
        phase = renderer.finish(main, result=result)
    return group, phase
