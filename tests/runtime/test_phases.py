"""Argo's phase rules for fan-outs, steps, DAGs and workflows."""

from __future__ import annotations

from airflow_argo_provider.runtime.phases import (
    ContinueOn,
    StepState,
    TaskState,
    dag_phase,
    fanout_phase,
    group_allows_next,
    steps_phase,
    workflow_phase,
)
from airflow_argo_provider.runtime.records import NodeRecord


def child(index: int, phase: str) -> NodeRecord:
    return NodeRecord(phase, index=index, item=index, display_name=f"x({index}:{index})")


def test_fanout_phase() -> None:
    assert fanout_phase([]) == ("Skipped", "Skipped, empty params")
    assert fanout_phase([child(0, "Succeeded"), child(1, "Skipped")])[0] == "Succeeded"
    # The last failed child (in item order) decides, Error or Failed.
    assert fanout_phase([child(1, "Error"), child(0, "Failed"), child(2, "Succeeded")])[0] == "Error"
    assert fanout_phase([child(1, "Failed"), child(0, "Error")]) == ("Failed", "child 'x(1:1)' failed")


def test_steps_phase_and_order() -> None:
    ok = [StepState("a", "Succeeded"), StepState("b", "Skipped")]
    failed = [StepState("c", "Error")]
    covered = [StepState("c", "Failed", ContinueOn(failed=True))]
    assert group_allows_next(ok)
    assert not group_allows_next(failed)
    assert group_allows_next(covered)
    assert not group_allows_next([StepState("d", None)])
    assert steps_phase([ok, covered]) == ("Succeeded", "")
    # A steps template fails as Failed even when its step errored.
    assert steps_phase([ok, failed]) == ("Failed", "child 'c' failed")


def test_dag_phase_targets_and_omitted_leaves() -> None:
    tasks = {
        "A": TaskState("A", "Failed"),
        "B": TaskState("B", "Omitted", ("A",)),
    }
    # The omitted leaf inherits the failed branch.
    assert dag_phase(tasks)[0] == "Failed"
    handler = {
        "A": TaskState("A", "Failed", (), ContinueOn(failed=True)),
        "B": TaskState("B", "Succeeded", ("A",)),
    }
    assert dag_phase(handler)[0] == "Succeeded"
    skipped_leaf = {"A": TaskState("A", "Succeeded"), "B": TaskState("B", "Skipped", ("A",))}
    assert dag_phase(skipped_leaf)[0] == "Succeeded"
    # A leaf that continues on failure does not fail the DAG.
    assert dag_phase({"A": TaskState("A", "Failed", (), ContinueOn(failed=True))})[0] == "Succeeded"


def test_dag_phase_fail_fast_tally_order() -> None:
    tasks = {"a": TaskState("a", "Error"), "b": TaskState("b", "Failed")}
    assert dag_phase(tasks, fail_fast=True)[0] == "Error"  # first failing target, by name
    assert dag_phase(tasks, fail_fast=False)[0] == "Failed"  # last failing target
    assert dag_phase(tasks, targets=["b"])[0] == "Failed"


def test_workflow_phase() -> None:
    assert workflow_phase("Succeeded", None) == "Succeeded"
    assert workflow_phase("Omitted", None) == "Succeeded"
    assert workflow_phase("Succeeded", "Failed") == "Failed"
    assert workflow_phase("Succeeded", "Error") == "Error"
    assert workflow_phase("Failed", "Succeeded") == "Failed"
    assert workflow_phase("Error", "Failed") == "Error"
