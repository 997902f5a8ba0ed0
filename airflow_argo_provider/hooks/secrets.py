"""Kubernetes Secrets that steps read (``secretKeyRef``), wherever the step runs.

* The kubernetes backend reads the cluster's Secret through the cncf.kubernetes provider's
  :class:`~airflow.providers.cncf.kubernetes.hooks.kubernetes.KubernetesHook` (connection
  ``[argo] kubernetes_conn_id``, default ``kubernetes_default``), in the workflow's namespace.
* The local backend has no cluster: a Secret ``NAME`` is the Airflow Variable ``NAME`` holding a
  JSON object of ``key: value`` (so any Airflow secrets backend can serve it, and
  ``AIRFLOW_VAR_NAME`` works too).

Values are registered with Airflow's secrets masker, so they never show in task logs.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from airflow_argo_provider.local.runner import MissingValueError

DEFAULT_KUBERNETES_CONN_ID = "kubernetes_default"


class SecretNotFound(MissingValueError):
    """A Secret (or one of its keys) a step needs does not exist."""


def _mask(value: str) -> None:
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - outside a task SDK
        return
    mask_secret(value)


def local_secret(name: str, key: str) -> str:
    """A Kubernetes secret's key, for the local backend: Airflow Variable ``NAME`` holding a JSON map.

    ``key=""`` returns the whole map as JSON (for ``envFrom.secretRef``).
    """
    from airflow.sdk import Variable

    value = Variable.get(name, default=None)
    if value is None:
        raise SecretNotFound(
            f"secret {name!r}: the local backend reads Kubernetes secrets from the Airflow Variable {name!r} "
            "(a JSON object of key: value); it is not set"
        )
    try:
        data = json.loads(value)
    except ValueError:
        if not key:
            return str(value)
        raise SecretNotFound(f"secret {name!r}: Airflow Variable {name!r} is not a JSON object") from None
    if not key:
        for item in data.values() if isinstance(data, dict) else ():
            _mask(str(item))
        return str(value)
    if not isinstance(data, dict) or key not in data:
        raise SecretNotFound(f"secret {name!r} has no key {key!r} (Airflow Variable {name!r})")
    secret = str(data[key])
    _mask(secret)
    return secret


def kubernetes_conn_id() -> str:
    """The Airflow connection of the cluster: ``[argo] kubernetes_conn_id`` or ``kubernetes_default``."""
    value = os.environ.get("AIRFLOW__ARGO__KUBERNETES_CONN_ID")
    if not value:
        try:
            from airflow.configuration import conf

            value = conf.get("argo", "kubernetes_conn_id", fallback=None)
        except Exception:
            value = None
    return value or DEFAULT_KUBERNETES_CONN_ID


def kubernetes_secret(name: str, key: str, *, namespace: str | None = None, conn_id: str | None = None) -> str:
    """A key of the cluster's Secret ``name`` (``key=""``: the whole Secret as a JSON object)."""
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
    from kubernetes.client.exceptions import ApiException

    hook = KubernetesHook(conn_id=conn_id or kubernetes_conn_id())
    namespace = namespace or hook.get_namespace() or "default"
    try:
        secret: Any = hook.core_v1_client.read_namespaced_secret(name=name, namespace=namespace)
    except ApiException as exc:
        if exc.status == 404:
            raise SecretNotFound(f"secret {name!r} not found in namespace {namespace!r}") from None
        raise
    data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (secret.data or {}).items()}
    if not key:
        for item in data.values():
            _mask(item)
        return json.dumps(data)
    if key not in data:
        raise SecretNotFound(f"secret {name!r} (namespace {namespace!r}) has no key {key!r}")
    _mask(data[key])
    return data[key]
