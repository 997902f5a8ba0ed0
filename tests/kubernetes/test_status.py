"""From a pod's last status to Argo's phase (unit level; the full path is in test_execution)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client import ApiClient

from airflow_argo_provider.kubernetes.capture import encode_captured
from airflow_argo_provider.kubernetes.resources import PodGC, ResourceError, selector_matches, selector_string
from airflow_argo_provider.kubernetes.status import outcome_of
from airflow_argo_provider.plan.model import Node, Plan
from airflow_argo_provider.runtime.records import ERROR, FAILED, SUCCEEDED
from airflow_argo_provider.runtime.step import Invocation, finish


class _Response:
    def __init__(self, data: str) -> None:
        self.data = data


def pod(phase: str, containers: list[tuple[str, dict[str, Any]]], **status: Any) -> Any:
    body = {
        "metadata": {"name": "p", "namespace": "ns"},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {"name": name, "image": "i", "imageID": "", "ready": False, "restartCount": 0, "state": state}
                for name, state in containers
            ],
            **status,
        },
    }
    return ApiClient().deserialize(_Response(json.dumps(body)), "V1Pod")


def ended(code: int, reason: str = "Error", message: str = "") -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": reason, "message": message}}


RUNNING = {"running": {}}
SIDECAR = ("airflow-xcom-sidecar", RUNNING)


def phase_of(p: Any, document: dict[str, Any] | None = None, paths: list[str] | None = None) -> tuple[str, str]:
    node = Node(id="n", name="n", kind="leaf", body="container", template="t")
    invocation = Invocation(node, {"name": "t"}, {}, "n", "wf.n", "p", 0, {})
    record = finish(invocation, outcome_of(p, document, paths or []))
    return record.phase, record.message


def doc(code: int, out: bytes = b"", files: list[bytes | None] | None = None) -> dict[str, Any]:
    return json.loads(encode_captured(code, out, files or []))


def test_main_exit_code_decides() -> None:
    assert phase_of(pod("Running", [("main", ended(0, "Completed")), SIDECAR]), doc(0, b"ok\n")) == (SUCCEEDED, "")
    assert phase_of(pod("Running", [("main", ended(2)), SIDECAR]), doc(2)) == (FAILED, "Error (exit code 2)")
    # without the document (the wrapper was killed): the container status still tells
    assert phase_of(pod("Failed", [("main", ended(137, "OOMKilled")), ("airflow-xcom-sidecar", ended(0))])) == (
        FAILED,
        "OOMKilled (exit code 137)",
    )
    assert phase_of(pod("Succeeded", [("main", ended(0, "Completed")), ("airflow-xcom-sidecar", ended(0))]))[0] == ERROR


def test_pod_level_failures() -> None:
    evicted = pod("Failed", [("main", ended(137))], reason="Evicted", message="The node was low on resource: memory.")
    assert phase_of(evicted) == (FAILED, "The node was low on resource: memory.")
    deadline = outcome_of(
        pod("Failed", [("main", ended(143))], reason="DeadlineExceeded", message="Pod was active on the node longer"),
        None,
        [],
    )
    assert deadline.timed_out and deadline.failed
    waiting = pod("Failed", [("main", {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}})])
    assert phase_of(waiting) == (ERROR, "Pod failed before main container starts due to ImagePullBackOff: not found")


def test_init_containers_and_sidecars() -> None:
    init = [
        {"name": "argo-init", "image": "i", "imageID": "", "ready": False, "restartCount": 0, "state": ended(1)},
    ]
    assert phase_of(
        pod("Failed", [("main", {"waiting": {"reason": "PodInitializing"}})], initContainerStatuses=init)
    ) == (
        ERROR,
        "argo-init: Error (exit code 1)",
    )
    init[0]["name"] = "user-init"
    assert phase_of(
        pod("Failed", [("main", {"waiting": {"reason": "PodInitializing"}})], initContainerStatuses=init)
    ) == (
        FAILED,
        "user-init: Error (exit code 1)",
    )
    # a sidecar that failed on its own fails the node; one stopped by a signal does not
    failed_side = pod("Running", [("main", ended(0)), ("db", ended(1)), SIDECAR])
    assert phase_of(failed_side, doc(0)) == (FAILED, "db: Error (exit code 1)")
    stopped_side = pod("Running", [("main", ended(0)), ("db", ended(143)), SIDECAR])
    assert phase_of(stopped_side, doc(0))[0] == SUCCEEDED


def test_outputs_from_the_document() -> None:
    p = pod("Running", [("main", ended(0)), SIDECAR])
    outcome = outcome_of(p, doc(0, b"x" * 10 + b"\n", [b"value", None]), ["/a", "/b"])
    assert outcome.stdout == "xxxxxxxxxx\n"
    assert outcome.files == {"/a": "value", "/b": None}
    assert phase_of(p, {"exitCode": "zero"}) == (
        ERROR,
        "the step's output document is malformed: invalid literal for int() with base 10: 'zero'",
    )


def test_pod_gc_rules() -> None:
    def plan(pod_gc: dict[str, Any] | None) -> Plan:
        root = Node(id="", name="wf", kind="steps", body="steps", template="t")
        return Plan("d", "wf", "Workflow", "f", root, {}, pod_spec={"podGC": pod_gc} if pod_gc else {})

    assert PodGC.of(plan(None)) == PodGC()
    assert not PodGC().delete_at_pod_end(True) and not PodGC().at_run_end
    on_success = PodGC.of(plan({"strategy": "OnPodSuccess"}))
    assert on_success.delete_at_pod_end(True) and not on_success.delete_at_pod_end(False)
    delayed = PodGC.of(plan({"strategy": "OnPodCompletion", "deleteDelayDuration": "30s"}))
    assert delayed.delay == 30 and not delayed.delete_at_pod_end(True) and delayed.at_run_end
    wf_success = PodGC.of(plan({"strategy": "OnWorkflowSuccess"}))
    assert wf_success.delete_at_run_end("Failed", True) and not wf_success.delete_at_run_end("Succeeded", False)
    with pytest.raises(ResourceError, match="podGC.strategy 'Sometimes'"):
        PodGC.of(plan({"strategy": "Sometimes"}))


def test_label_selectors() -> None:
    selector = {
        "matchLabels": {"app": "x"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "skip", "operator": "DoesNotExist"},
        ],
    }
    assert selector_string(selector) == "app=x,tier in (a,b),!skip"
    assert selector_matches(selector, {"app": "x", "tier": "b"})
    assert not selector_matches(selector, {"app": "x", "tier": "c"})
    assert not selector_matches(selector, {"app": "x", "tier": "a", "skip": "1"})
    assert selector_matches(None, {})
