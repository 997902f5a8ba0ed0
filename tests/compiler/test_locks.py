"""Argo synchronization as Airflow pools."""

from __future__ import annotations

import pytest

from airflow_argo_provider.manifest import load_text
from airflow_argo_provider.manifest.locks import LockError, lock_of
from airflow_argo_provider.plan.build import build_plan

MANIFEST = """
apiVersion: v1
kind: ConfigMap
metadata: {name: my-config}
data: {workflow: "2", template: "3"}
---
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: locks}
spec:
  entrypoint: main
  synchronization:
    semaphores:
    - configMapKeyRef: {name: my-config, key: workflow}
  templates:
  - name: main
    steps:
    - - {name: a, template: mutexed}
      - {name: b, template: limited, withItems: [1, 2, 3, 4]}
  - name: mutexed
    synchronization: {mutexes: [{name: welcome}]}
    container: {image: busybox, command: [echo, a]}
  - name: limited
    synchronization: {semaphores: [{configMapKeyRef: {name: my-config, key: template}}]}
    container: {image: busybox, command: [echo, b]}
"""


def test_locks_become_pools_and_run_limits() -> None:
    mset = load_text(MANIFEST)
    assert mset.errors == []
    plan = build_plan(mset.by_kind("Workflow")[0], mset)
    assert plan.root.child("a").lock == {
        "pool": "argo-mutex-welcome",
        "slots": 1,
        "description": "Argo mutex 'welcome'",
    }
    assert plan.root.child("b").lock["pool"] == "argo-semaphore-my-config-template"
    assert plan.root.child("b").lock["slots"] == 3
    assert plan.workflow_lock["slots"] == 2

    from airflow_argo_provider.render.dag import render_dag

    dag = render_dag(plan, "local")
    assert dag.get_task("a").pool == "argo-mutex-welcome"
    assert dag.get_task("b").partial_kwargs["pool"] == "argo-semaphore-my-config-template"
    assert dag.max_active_runs == 2


def test_lock_errors_are_reported_at_load_time() -> None:
    two = MANIFEST.replace(
        "synchronization: {mutexes: [{name: welcome}]}", "synchronization: {mutexes: [{name: x}, {name: y}]}"
    )
    problems = [p.format() for p in load_text(two, "wf.yaml").problems]
    assert problems == [
        "wf.yaml:21: AAP105 spec.templates[1].synchronization: synchronization: more than one lock: "
        "an Airflow task runs in a single pool"
    ]
    with pytest.raises(LockError, match="needs a name"):
        lock_of({"mutexes": [{}]}, {})
    group = MANIFEST.replace(
        "  - name: main\n    steps:", "  - name: main\n    synchronization: {mutexes: [{name: g}]}\n    steps:"
    )
    assert [p.code for p in load_text(group).problems] == ["AAP105"]


def test_locked_workflow_runs_and_creates_its_pools(run_workflow) -> None:
    from airflow.models.pool import Pool

    result = run_workflow(
        MANIFEST.split("---\n", 1)[1].replace(
            "configMapKeyRef: {name: my-config, key: workflow}", "database: {key: wf}"
        )
    )
    assert result["phase"] == "Succeeded"
    assert Pool.get_pool("argo-mutex-welcome").slots == 1
