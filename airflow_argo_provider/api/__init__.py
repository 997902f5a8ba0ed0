"""The Python API: Argo patterns (fan-outs, retries, success conditions, manifests) in hand-written DAGs.

See ``docs/python-api.md``. Everything here is also importable from ``airflow_argo_provider``.
"""

from airflow_argo_provider.api.groups import ArgoGroup, argo_task_group, manifest_task_group, with_sequence
from airflow_argo_provider.api.retry import Backoff, RetryStrategy
from airflow_argo_provider.api.templates import Container, Http, Script

__all__ = [
    "ArgoGroup",
    "Backoff",
    "Container",
    "Http",
    "RetryStrategy",
    "Script",
    "argo_task_group",
    "manifest_task_group",
    "with_sequence",
]
