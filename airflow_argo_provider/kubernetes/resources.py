"""Run-level Kubernetes objects: the volume claims of a run and when its pods are deleted.

``volumeClaimTemplates`` become PersistentVolumeClaims named ``WORKFLOW-NAME-CLAIM`` (Argo's
naming; a workflow with a fixed name also gets the run's suffix, so that two runs of one DAG
never share a claim). They are created by a setup task before the run's first step and
deleted by a teardown task after its last, following ``volumeClaimGC`` (Argo's default
``OnWorkflowSuccess`` keeps them when the workflow did not succeed, for inspection and for a
cleared task to find its data again).

``podGC`` decides when pods are deleted (Argo's default: never, pods stay for inspection):
``OnPodCompletion``/``OnPodSuccess`` delete each pod when its step ends (by the step's task),
``OnWorkflowCompletion``/``OnWorkflowSuccess`` delete the run's pods at its end (by the
teardown task); ``deleteDelayDuration`` postpones deletion to the teardown task, which waits
for the delay after the run's last step; ``labelSelector`` limits deletion to matching pods.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_argo_provider.kubernetes.pod import WORKFLOW_LABEL, label_value
from airflow_argo_provider.manifest.durations import DurationError, parse_duration
from airflow_argo_provider.plan.model import Plan

POD_GC_STRATEGIES = ("OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion", "OnWorkflowSuccess")
CLAIM_GC_STRATEGIES = ("OnWorkflowCompletion", "OnWorkflowSuccess")
PHASE_LABEL = "airflow-argo/phase"
CHECKED_LABEL = "already_checked"  # the Kubernetes operator's "this pod was handled" label


class ResourceError(ValueError):
    pass


@dataclass(frozen=True)
class PodGC:
    strategy: str | None = None
    delay: float = 0.0
    selector: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, plan: Plan) -> PodGC:
        spec = plan.pod_spec.get("podGC") or {}
        strategy = spec.get("strategy") or None
        if strategy is not None and strategy not in POD_GC_STRATEGIES:
            raise ResourceError(f"podGC.strategy {strategy!r} is not one of {', '.join(POD_GC_STRATEGIES)}")
        try:
            delay = parse_duration(spec.get("deleteDelayDuration")) or 0.0
        except DurationError as exc:
            raise ResourceError(f"podGC.deleteDelayDuration: {exc}") from None
        return cls(strategy, delay, spec.get("labelSelector") or None)

    def delete_at_pod_end(self, succeeded: bool) -> bool:
        """Whether the step's own task deletes its pod when the step ends."""
        if self.delay:
            return False
        return self.strategy == "OnPodCompletion" or (self.strategy == "OnPodSuccess" and succeeded)

    @property
    def at_run_end(self) -> bool:
        """Whether the run's teardown task has pods to delete."""
        return self.strategy in ("OnWorkflowCompletion", "OnWorkflowSuccess") or (
            self.strategy in ("OnPodCompletion", "OnPodSuccess") and self.delay > 0
        )

    def delete_at_run_end(self, pod_phase_label: str | None, workflow_succeeded: bool) -> bool:
        """Whether the teardown deletes a pod whose step ended in ``pod_phase_label``."""
        if self.strategy == "OnWorkflowCompletion":
            return True
        if self.strategy == "OnWorkflowSuccess":
            return workflow_succeeded
        if self.strategy == "OnPodCompletion" and self.delay:
            return True
        if self.strategy == "OnPodSuccess" and self.delay:
            return pod_phase_label == "Succeeded"
        return False


def claim_gc(plan: Plan) -> str:
    strategy = (plan.pod_spec.get("volumeClaimGC") or {}).get("strategy") or "OnWorkflowSuccess"
    if strategy not in CLAIM_GC_STRATEGIES:
        raise ResourceError(f"volumeClaimGC.strategy {strategy!r} is not one of {', '.join(CLAIM_GC_STRATEGIES)}")
    return str(strategy)


def claim_templates(plan: Plan) -> list[dict[str, Any]]:
    return [c for c in plan.pod_spec.get("volumeClaimTemplates") or [] if (c.get("metadata") or {}).get("name")]


def run_workflow_name(plan: Plan, run_id: str) -> str:
    from airflow_argo_provider.runtime.context import run_suffix, workflow_name

    name = workflow_name(plan, run_id)
    return name if plan.generate_name else f"{name}-{run_suffix(run_id)}"


def claim_names(plan: Plan, run_id: str) -> dict[str, str]:
    """volumeClaimTemplate name -> the PersistentVolumeClaim of this run."""
    base = run_workflow_name(plan, run_id)
    return {c["metadata"]["name"]: _dns_name(f"{base}-{c['metadata']['name']}") for c in claim_templates(plan)}


def _dns_name(text: str) -> str:
    return text.lower()[:253].rstrip("-.")


def run_labels(dag_id: str, run_id: str) -> dict[str, str]:
    """The labels that mark a run's pods (the Kubernetes operator's own) and claims."""
    from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value

    return {"dag_id": make_safe_label_value(dag_id), "run_id": make_safe_label_value(run_id)}


def claim_manifests(plan: Plan, dag_id: str, run_id: str, workflow_name: str) -> list[dict[str, Any]]:
    """The PersistentVolumeClaims of a run (Kubernetes JSON, without namespace)."""
    names = claim_names(plan, run_id)
    out = []
    for template in claim_templates(plan):
        claim = copy.deepcopy(template)
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        claim.pop("status", None)
        metadata = claim.setdefault("metadata", {})
        metadata["name"] = names[template["metadata"]["name"]]
        labels = metadata.setdefault("labels", {})
        labels[WORKFLOW_LABEL] = label_value(workflow_name)
        labels.update(run_labels(dag_id, run_id))
        out.append(claim)
    return out


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """A Kubernetes label selector (``matchLabels``/``matchExpressions``) as the API's query string."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = ",".join(str(v) for v in expression.get("values") or [])
        if operator == "In":
            parts.append(f"{key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif operator == "Exists":
            parts.append(str(key))
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise ResourceError(f"podGC.labelSelector: unknown operator {operator!r}")
    return ",".join(parts)


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """Whether a pod with ``labels`` matches a label selector (an empty selector matches all)."""
    if not selector:
        return True
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != str(value):
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = [str(v) for v in expression.get("values") or []]
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True
