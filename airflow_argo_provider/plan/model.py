"""The plan: what a workflow runs, as plain data (no Airflow objects).

A :class:`Plan` is a tree of :class:`Node` s that mirrors Argo's node tree: the entrypoint
invocation at the root, steps and DAG templates as groups, container/script/http/suspend/plugin
templates as leaves. Templates are kept as plain dictionaries (Argo's JSON field names), so
the plan can be printed, compared in tests, cached as JSON, and read by the operators at run
time without touching the manifest again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

NodeKind = Literal["leaf", "steps", "dag"]
LoopKind = Literal["items", "sequence", "param"]

# Suffixes of the Airflow tasks the compiler adds next to a node. Argo names may only hold
# letters, digits and "-", so an "_" can never collide with a step or task name.
ITEMS_SUFFIX = "_items"
EXIT_SUFFIX = "_onexit"
ON_EXIT_ID = "on_exit"
WORKFLOW_PHASE_ID = "workflow_phase"


@dataclass
class Loop:
    """A fan-out: ``withItems`` (literal values), ``withSequence`` or ``withParam``."""

    kind: LoopKind
    items: list[Any] | None = None
    sequence: dict[str, str] | None = None
    param: str | None = None
    # Python API: the items come from an Airflow task's output (an XComArg given when rendering).
    external: bool = False


@dataclass
class Node:
    """One invocation of a template: the entrypoint, a step, a DAG task or an exit handler.

    ``id`` is the Airflow task id (leaves) or task-group id (groups); ``name`` is the step or
    task name users wrote. For DAG tasks ``depends`` holds the ``depends`` expression, with
    ``dependencies`` already converted to one. For steps ``step_group`` is the index of the
    parallel group the step belongs to.
    """

    id: str
    name: str
    kind: NodeKind
    body: str
    template: str
    arguments: dict[str, Any] = field(default_factory=dict)
    when: str | None = None
    depends: str | None = None
    loop: Loop | None = None
    continue_on_failed: bool = False
    continue_on_error: bool = False
    step_group: int | None = None
    children: list[Node] = field(default_factory=list)
    exit_hook: Node | None = None
    # Set for a DAG template: its target tasks (names) and whether failFast is on.
    targets: list[str] | None = None
    dynamic_target: str | None = None
    fail_fast: bool = True
    # Template-level ``failFast: true``: once a child failed, no new children start.
    stop_on_failure: bool = False
    # True when this fan-out runs all its items inside one task (it sits in a fanned-out group).
    inline_loop: bool = False
    # The Airflow pool of the template's mutex or semaphore: {"pool", "slots", "description"}.
    lock: dict[str, Any] | None = None

    @property
    def is_group(self) -> bool:
        return self.kind != "leaf"

    def walk(self) -> list[Node]:
        """This node and every node below it (children and exit hooks), depth first."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        if self.exit_hook is not None:
            out.extend(self.exit_hook.walk())
        return out

    def child(self, name: str) -> Node:
        for node in self.children:
            if node.name == name:
                return node
        raise KeyError(name)


@dataclass
class ParamSpec:
    name: str
    value: str | None = None
    enum: list[str] | None = None
    description: str | None = None
    # ``valueFrom`` of a workflow argument (for example a ConfigMap key), used when no value is given.
    value_from: dict[str, Any] | None = None


@dataclass
class Schedule:
    """A CronWorkflow's schedule."""

    crons: list[str]
    timezone: str | None = None
    concurrency_policy: str = "Allow"
    suspend: bool = False
    starting_deadline_seconds: int | None = None


@dataclass
class Plan:
    """Everything needed to build one Airflow DAG from one Argo workflow."""

    dag_id: str
    workflow_name: str
    kind: str
    source: str
    root: Node
    templates: dict[str, dict[str, Any]]
    parameters: list[ParamSpec] = field(default_factory=list)
    on_exit: Node | None = None
    namespace: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    parallelism: int | None = None
    active_deadline_seconds: int | None = None
    schedule: Schedule | None = None
    # Workflow-level pod settings (volumes, nodeSelector, podGC, ...) in Argo's JSON names,
    # without templates/arguments: the Kubernetes backend merges them into each pod.
    pod_spec: dict[str, Any] = field(default_factory=dict)
    # ConfigMaps and Secrets found beside the manifest, for the local backend.
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    description: str | None = None
    # True when the name came from ``generateName``: each run then gets a suffix, as in Argo.
    generate_name: bool = False
    entrypoint: str | None = None
    # The workflow's own mutex or semaphore (it limits concurrent runs).
    workflow_lock: dict[str, Any] | None = None
    # globalName -> ids of the nodes whose output parameter carries it.
    global_outputs: dict[str, list[str]] = field(default_factory=dict)
    # The artifact repository of ``artifactRepositoryRef`` (or the folder's default ConfigMap),
    # resolved at build time (see airflow_argo_provider.artifacts.repository); None: the deployment's.
    artifact_repository: dict[str, Any] | None = None
    # The workflow's ``metrics.prometheus`` (see airflow_argo_provider.metrics).
    metrics: list[dict[str, Any]] = field(default_factory=list)
    # The WorkflowTemplate a ``workflowTemplateRef`` runs: {"name", "clusterScope"}; None otherwise.
    workflow_template: dict[str, Any] | None = None

    def nodes(self) -> list[Node]:
        out = self.root.walk()
        if self.on_exit is not None:
            out.extend(self.on_exit.walk())
        return out

    def node(self, node_id: str) -> Node:
        index = self.__dict__.get("_index")
        if index is None:
            index = {n.id: n for n in self.nodes()}
            self.__dict__["_index"] = index
        return index[node_id]

    def parent_of(self, node_id: str) -> Node | None:
        parents = self.__dict__.get("_parents")
        if parents is None:
            parents = {}
            for node in self.nodes():
                for child in node.children:
                    parents[child.id] = node
                if node.exit_hook is not None:
                    parents[node.exit_hook.id] = node
            self.__dict__["_parents"] = parents
        return parents.get(node_id)

    def ancestors(self, node_id: str) -> list[Node]:
        """Groups enclosing the node, outermost first (the root included)."""
        chain: list[Node] = []
        parent = self.parent_of(node_id)
        while parent is not None:
            chain.append(parent)
            parent = self.parent_of(parent.id)
        return list(reversed(chain))

    def template(self, key: str) -> dict[str, Any]:
        return self.templates[key]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return data


def node_from_dict(data: dict[str, Any]) -> Node:
    fields = dict(data)
    fields["loop"] = Loop(**fields["loop"]) if fields.get("loop") else None
    fields["children"] = [node_from_dict(c) for c in fields.get("children") or []]
    fields["exit_hook"] = node_from_dict(fields["exit_hook"]) if fields.get("exit_hook") else None
    return Node(**fields)


def plan_from_dict(data: dict[str, Any]) -> Plan:
    """The inverse of :meth:`Plan.to_dict` (used by the plan cache)."""
    fields = dict(data)
    fields["root"] = node_from_dict(fields["root"])
    fields["on_exit"] = node_from_dict(fields["on_exit"]) if fields.get("on_exit") else None
    fields["parameters"] = [ParamSpec(**p) for p in fields.get("parameters") or []]
    fields["schedule"] = Schedule(**fields["schedule"]) if fields.get("schedule") else None
    return Plan(**fields)
