"""Run Argo Workflows manifests as Apache Airflow 3 DAGs.

``load_workflows`` (and the Python API) are imported lazily: importing the package itself
never imports Airflow.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_workflows": "airflow_argo_provider.dagfolder",
    "ArgoGroup": "airflow_argo_provider.api",
    "ArgoSnsNotifier": "airflow_argo_provider.notifiers.sns",
    "Backoff": "airflow_argo_provider.api",
    "Container": "airflow_argo_provider.api",
    "Http": "airflow_argo_provider.api",
    "RetryStrategy": "airflow_argo_provider.api",
    "Script": "airflow_argo_provider.api",
    "argo_task_group": "airflow_argo_provider.api",
    "manifest_task_group": "airflow_argo_provider.api",
    "notify_on_exit": "airflow_argo_provider.notifiers.sns",
    "with_sequence": "airflow_argo_provider.api",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'airflow_argo_provider' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
