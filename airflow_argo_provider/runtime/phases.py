"""Argo's rules for the phase of a fan-out, a steps template, a DAG template and a workflow.

Pure functions over child phases: no Airflow, no I/O. ``None`` as a phase means the node
was never created (Argo shows no node at all), which is different from Skipped and Omitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from airflow_argo_provider.runtime.records import (
    ERROR,
    FAILED,
    OMITTED,
    SKIPPED,
    SUCCEEDED,
    NodeRecord,
    failed_or_error,
)


@dataclass(frozen=True)
class ContinueOn:
    failed: bool = False
    error: bool = False

    def covers(self, phase: str | None) -> bool:
        return (phase == FAILED and self.failed) or (phase == ERROR and self.error)


def fulfilled(phase: str | None) -> bool:
    return phase in (SUCCEEDED, FAILED, ERROR, SKIPPED, OMITTED)


def fanout_phase(children: Sequence[NodeRecord]) -> tuple[str, str]:
    """The phase of the parent node of a fan-out (Argo's TaskGroup node), from its children.

    No children: Skipped ("Skipped, empty params"). Otherwise Succeeded, unless a child failed
    or errored: then the phase of the last such child in item order. ``continueOn`` does not
    matter here (it matters to the dependents and to the DAG's phase).
    """
    if not children:
        return SKIPPED, "Skipped, empty params"
    phase, message = SUCCEEDED, ""
    for child in sorted(children, key=lambda c: c.index or 0):
        if failed_or_error(child.phase):
            phase, message = child.phase, f"child '{child.display_name}' {child.phase.lower()}"
    return phase, message


@dataclass(frozen=True)
class StepState:
    name: str
    phase: str | None
    continue_on: ContinueOn = ContinueOn()


def steps_phase(groups: Sequence[Sequence[StepState]]) -> tuple[str | None, str]:
    """The phase of a steps template from its step groups, in order.

    A group whose steps all succeeded (or were skipped, or failed with ``continueOn``) lets the
    next group run. The first step that failed without ``continueOn`` fails the template
    (always Failed, as in Argo, even when the step errored) and the later groups never run.
    (A fanned-out step is given as one state per child, each with the step's ``continueOn``.)
    """
    for group in groups:
        for step in group:
            if step.phase is None:
                return FAILED, f"step '{step.name}' did not run"
        for step in group:
            if failed_or_error(step.phase) and not step.continue_on.covers(step.phase):
                return FAILED, f"child '{step.name}' failed"
    return SUCCEEDED, ""


def group_allows_next(group: Sequence[StepState]) -> bool:
    """Whether the step group after ``group`` starts."""
    return all(
        step.phase is not None and (not failed_or_error(step.phase) or step.continue_on.covers(step.phase))
        for step in group
    )


@dataclass(frozen=True)
class TaskState:
    name: str
    phase: str | None
    dependencies: tuple[str, ...] = ()
    continue_on: ContinueOn = ContinueOn()


def dag_phase(
    tasks: Mapping[str, TaskState], targets: Sequence[str] | None = None, fail_fast: bool = True
) -> tuple[str, str]:
    """Argo's ``assessDAGPhase``: the DAG's phase is decided by its target tasks.

    Without ``target`` the targets are the tasks no other task depends on, sorted by name.
    Walking from the roots along dependencies, each branch carries the phase of the last node
    that completed (Succeeded, Failed, Error); a target that was skipped or omitted takes the
    phase of its branch, and once a branch marked it Failed or Error it stays so. Then the
    targets are tallied in order: a failed one whose ``continueOn`` covers its phase does not
    count; with ``failFast`` (the default) the first failing target decides, without it the
    last one does. A DAG whose message Argo leaves empty gets none here either.
    """
    dependents: dict[str, list[str]] = {name: [] for name in tasks}
    for task in tasks.values():
        for dep in task.dependencies:
            if dep in dependents:
                dependents[dep].append(task.name)
    if targets is None:
        targets = sorted(name for name, children in dependents.items() if not children)
    target_set = set(targets)
    branch: dict[str, str] = {}
    queue: list[tuple[str, str]] = [(name, SUCCEEDED) for name, t in tasks.items() if not t.dependencies]
    seen: set[tuple[str, str]] = set()
    while queue:
        name, inherited = queue.pop(0)
        if (name, inherited) in seen:
            continue
        seen.add((name, inherited))
        task = tasks[name]
        if task.phase is None:
            continue  # never created: Argo's walk does not see it
        phase = task.phase if task.phase in (SUCCEEDED, FAILED, ERROR) else inherited
        if name in target_set and not failed_or_error(branch.get(name)):
            branch[name] = phase
        for child in dependents[name]:
            queue.append((child, phase))
    result, message = SUCCEEDED, ""
    for name in targets:
        reached = branch.get(name)
        if reached is None:
            if result == SUCCEEDED:
                message = f"target task '{name}' did not run"
                result = FAILED
            continue
        if not failed_or_error(reached):
            continue
        target = tasks.get(name)
        if target is not None and target.continue_on.covers(reached):
            continue
        result, message = reached, ""
        if fail_fast:
            break
    return result, message


def workflow_phase(main: str | None, exit_handler: str | None) -> str:
    """The workflow's phase: the entrypoint's (Skipped/Omitted count as Succeeded); when the
    entrypoint succeeded, a Failed or Error exit handler makes the workflow Failed or Error."""
    if main in (FAILED, ERROR):
        return main
    phase = SUCCEEDED if main in (SUCCEEDED, SKIPPED, OMITTED) else FAILED
    if phase == SUCCEEDED and failed_or_error(exit_handler):
        return exit_handler or FAILED
    return phase
