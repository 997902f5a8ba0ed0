"""Argo Events' role: SQS messages (S3 event notifications, ...) start workflow runs, one run per message.

* Manifests: an ``EventSource`` (``sqs``) and a ``Sensor`` under a folder given to
  ``load_workflows`` become a dispatcher DAG (see :mod:`airflow_argo_provider.events.plan`).
* Python: :func:`sqs_trigger` builds the same dispatcher DAG (see :mod:`.api`).

The plan (:mod:`.model`), the languages (:mod:`.gjson` paths, :mod:`.gotemplate` templates) and
the per-message decisions (:mod:`.messages`) import nothing of Airflow; importing this package
does not either.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "sqs_trigger": "airflow_argo_provider.events.api",
    "sqs_dispatch": "airflow_argo_provider.events.api",
    "S3_BUCKET": "airflow_argo_provider.events.api",
    "S3_KEY": "airflow_argo_provider.events.api",
    "S3_EVENT_NAME": "airflow_argo_provider.events.api",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'airflow_argo_provider.events' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
