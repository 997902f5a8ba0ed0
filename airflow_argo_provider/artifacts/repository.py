"""The default artifact repository: where artifacts without a full location are stored.

Argo's order, first match wins:

1. the template's ``archiveLocation.s3`` (its fields over the repository's);
2. the workflow's ``artifactRepositoryRef: {configMap, key}``, read from a ConfigMap in the
   manifests' folder tree (``configMap`` defaults to ``artifact-repositories``, ``key`` to
   that ConfigMap's annotation ``workflows.argoproj.io/default-artifact-repository``); without
   a ref, the ConfigMap ``artifact-repositories`` when the folder has one with that annotation;
3. the deployment's repository, configured once: ``[argo] artifact_repository``
   (``AIRFLOW__ARGO__ARTIFACT_REPOSITORY``), a JSON object in Argo's format
   (``{"s3": {"bucket": ..., "endpoint": ..., "region": ..., "insecure": ..., "keyFormat": ...,
   "accessKeySecret": ..., "secretKeySecret": ...}}``, or the same fields without the ``s3``
   level), plus ``connId``: the Airflow AWS connection the local backend uses (default
   ``aws_default``). Without that option, the Airflow connection ``argo_artifacts`` (if it
   exists) is the repository: its extra holds ``bucket`` and optionally ``keyFormat``, and its
   credentials, endpoint and region are used.

A repository is kept as ``{"s3": {...}, "keyFormat": ..., "source": ...}``; ``keyFormat`` (default
``{{workflow.name}}/{{pod.name}}``) is substituted per step, and an output artifact without a key
is stored as ``KEYFORMAT/NAME.tgz`` (``NAME.zip`` for zip, the path's base name for ``none``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_argo_provider.manifest.artifact_repository import (
    _NOT_LOCATION,
    DEFAULT_KEY_FORMAT,
    RepositoryError,
    parse,
)
from airflow_argo_provider.settings import setting

__all__ = ["DEFAULT_KEY_FORMAT", "RepositoryError", "configured", "effective", "parse"]

CONNECTION_REPOSITORY = "argo_artifacts"

_CONFIGURED: dict[str, dict[str, Any] | None] = {}


def configured(airflow_config: bool = True) -> dict[str, Any] | None:
    """The deployment's repository: ``[argo] artifact_repository``, else the connection
    ``argo_artifacts``; None when neither is set. Raises RepositoryError when malformed.
    ``airflow_config=False`` reads the environment only (``airflow-argo render``)."""
    text = setting("artifact_repository", airflow_config=airflow_config)
    if text:
        cached = _CONFIGURED.get(text)
        if cached is None:
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise RepositoryError(f"[argo] artifact_repository is not JSON: {exc}") from None
            cached = parse(data, "[argo] artifact_repository")
            _CONFIGURED[text] = cached
        return cached
    return _from_connection() if airflow_config else None


def _from_connection() -> dict[str, Any] | None:
    try:
        from airflow.sdk import Connection

        conn = Connection.get(CONNECTION_REPOSITORY)
    except Exception:
        return None
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    data = dict(extra.get("artifact_repository") or extra)
    s3 = dict(data.get("s3") or data)
    s3 = {k: v for k, v in s3.items() if k in ("bucket", "keyFormat", "keyPrefix", "insecure", "endpoint", "region")}
    s3["connId"] = CONNECTION_REPOSITORY
    return parse({"s3": s3}, f"Airflow connection {CONNECTION_REPOSITORY!r}")


def effective(
    plan_repository: Mapping[str, Any] | None, template: Mapping[str, Any], airflow_config: bool = True
) -> dict[str, Any] | None:
    """The repository for a template's artifacts (see the module's order)."""
    base = dict(plan_repository) if plan_repository else configured(airflow_config)
    location = (template.get("archiveLocation") or {}).get("s3")
    if not isinstance(location, Mapping):
        return base
    s3 = {**((base or {}).get("s3") or {}), **{k: v for k, v in location.items() if k not in ("key", *_NOT_LOCATION)}}
    key_format = location.get("key") or location.get("keyFormat") or (base or {}).get("keyFormat")
    return {
        "s3": s3,
        "keyFormat": str(key_format or DEFAULT_KEY_FORMAT),
        "source": f"template {template.get('name', '')!r} archiveLocation",
    }
