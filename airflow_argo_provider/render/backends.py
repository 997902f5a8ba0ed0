"""Which operator runs which kind of leaf, per backend: a table, not branches.

``local`` runs container and script templates as processes on the worker; ``kubernetes``
runs them as pods. HTTP, suspend and SNS plugin steps run the same way in both backends.
``resource`` templates run ``kubectl`` locally and use the Kubernetes object API on Kubernetes;
``containerSet`` templates run as processes in dependency order locally and as one pod on Kubernetes.
The default backend is ``[argo] backend`` (``AIRFLOW__ARGO__BACKEND``), else ``local``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

BACKENDS = ("local", "kubernetes")

# (backend, template body) -> "module:Class"; "*" matches every backend.
OPERATORS: dict[tuple[str, str], str] = {
    ("local", "container"): "airflow_argo_provider.operators.local:ArgoLocalOperator",
    ("local", "script"): "airflow_argo_provider.operators.local:ArgoLocalOperator",
    ("*", "suspend"): "airflow_argo_provider.operators.suspend:ArgoSuspendOperator",
    ("kubernetes", "container"): "airflow_argo_provider.operators.kubernetes:ArgoKubernetesPodOperator",
    ("kubernetes", "script"): "airflow_argo_provider.operators.kubernetes:ArgoKubernetesPodOperator",
    # The same requests everywhere; only where secretKeyRef headers are read from differs.
    ("local", "http"): "airflow_argo_provider.operators.http:ArgoHttpOperator",
    ("kubernetes", "http"): "airflow_argo_provider.operators.http:ArgoKubernetesHttpOperator",
    # Resource templates: kubectl in the local backend, the Kubernetes object API in the kubernetes one.
    ("local", "resource"): "airflow_argo_provider.operators.resource:ArgoKubectlResourceOperator",
    ("kubernetes", "resource"): "airflow_argo_provider.operators.resource:ArgoKubernetesResourceOperator",
    # Container sets: processes in dependency order locally, one pod with a container each on Kubernetes.
    ("local", "containerSet"): "airflow_argo_provider.operators.local:ArgoLocalContainerSetOperator",
    ("kubernetes", "containerSet"): "airflow_argo_provider.operators.kubernetes:ArgoKubernetesPodOperator",
    # Executor plugins run natively in the worker (only sns passes the manifest checks).
    ("*", "plugin"): "airflow_argo_provider.operators.sns:ArgoSnsOperator",
}

# backend -> "module:function(dag, plan, last_task)" adding run-level tasks around the workflow
# (the kubernetes backend's volume claims and pod clean-up, as setup/teardown tasks).
RUN_EXTENSIONS: dict[str, str] = {
    "kubernetes": "airflow_argo_provider.operators.kubernetes:add_run_resources",
}


class BackendError(ValueError):
    pass


def default_backend() -> str:
    value = os.environ.get("AIRFLOW__ARGO__BACKEND")
    if not value:
        try:
            from airflow.configuration import conf

            value = conf.get("argo", "backend", fallback=None)
        except Exception:
            value = None
    return (value or "local").strip().lower()


def operator_class(backend: str, body: str) -> type[Any]:
    """The operator class for a leaf whose template body is ``body`` (container, script, ...)."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r} (choose one of {', '.join(BACKENDS)})")
    path = OPERATORS.get((backend, body)) or OPERATORS.get(("*", body))
    if path is None:
        raise BackendError(f"the {backend} backend cannot run {body} templates")
    module, _, name = path.partition(":")
    cls: type[Any] = getattr(importlib.import_module(module), name)
    return cls


def run_extension(backend: str) -> Callable[..., None] | None:
    """The function that adds a backend's run-level tasks to a rendered DAG, if it has one."""
    path = RUN_EXTENSIONS.get(backend)
    if path is None:
        return None
    module, _, name = path.partition(":")
    function: Callable[..., None] = getattr(importlib.import_module(module), name)
    return function
