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

from airflow_argo_provider.settings import setting

DEFAULT_KEY_FORMAT = "{{workflow.name}}/{{pod.name}}"
DEFAULT_CONFIG_MAP = "artifact-repositories"
DEFAULT_KEY_ANNOTATION = "workflows.argoproj.io/default-artifact-repository"
CONNECTION_REPOSITORY = "argo_artifacts"
OTHER_STORES = ("gcs", "azure", "oss", "hdfs", "artifactory", "git", "http", "raw")
# Fields of an s3 repository that are not part of an artifact's location.
_NOT_LOCATION = ("keyFormat", "keyPrefix")


class RepositoryError(ValueError):
    """An artifact repository is missing or malformed; ``code`` is the problem code."""

    def __init__(self, message: str, code: str = "AAP031") -> None:
        super().__init__(message)
        self.code = code


def parse(value: Any, source: str) -> dict[str, Any]:
    """A repository from Argo's format (YAML text or a mapping)."""
    if isinstance(value, str):
        import yaml

        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise RepositoryError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(value, Mapping):
        raise RepositoryError(f"{source}: an artifact repository must be a mapping with an `s3` entry")
    other = [k for k in OTHER_STORES if value.get(k) is not None]
    if value.get("s3") is None and other:
        raise RepositoryError(f"{source}: {other[0]} artifact repositories are not supported (S3 is)", "AAP107")
    s3 = value.get("s3") if value.get("s3") is not None else {k: v for k, v in value.items() if k != "connId"}
    if not isinstance(s3, Mapping):
        raise RepositoryError(f"{source}: `s3` must be a mapping")
    s3 = dict(s3)
    if value.get("connId") and "connId" not in s3:
        s3["connId"] = value["connId"]
    if not s3.get("bucket"):
        raise RepositoryError(f"{source}: the s3 repository has no `bucket`")
    key_format = s3.get("keyFormat")
    if not key_format and s3.get("keyPrefix"):
        key_format = str(s3["keyPrefix"]).rstrip("/") + "/" + DEFAULT_KEY_FORMAT
    for name in ("accessKeySecret", "secretKeySecret", "sessionTokenSecret"):
        ref = s3.get(name)
        if ref is not None and not (isinstance(ref, Mapping) and ref.get("name") and ref.get("key")):
            raise RepositoryError(f"{source}: s3.{name} must have `name` and `key`")
    return {
        "s3": {k: v for k, v in s3.items() if k not in _NOT_LOCATION},
        "keyFormat": str(key_format or DEFAULT_KEY_FORMAT),
        "source": source,
    }


def from_config_maps(
    config_maps: Mapping[str, Mapping[str, Any]], ref: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The repository named by ``artifactRepositoryRef`` (or the folder's default ConfigMap).

    ``config_maps`` maps names to whole ConfigMap objects (``metadata`` and ``data``).
    Raises :class:`RepositoryError` when the ref cannot be resolved.
    """
    if ref is None:
        default = config_maps.get(DEFAULT_CONFIG_MAP)
        key = _annotation(default) if default is not None else None
        if default is None or not key:
            return None
        ref = {"configMap": DEFAULT_CONFIG_MAP, "key": key}
    if not isinstance(ref, Mapping):
        raise RepositoryError("artifactRepositoryRef must be a mapping with `configMap` and `key`")
    name = str(ref.get("configMap") or DEFAULT_CONFIG_MAP)
    obj = config_maps.get(name)
    if obj is None:
        raise RepositoryError(
            f"ConfigMap {name!r} is not in the manifests' folder tree; add it "
            "(kind: ConfigMap) beside the workflow, or remove the ref to use [argo] artifact_repository"
        )
    key = ref.get("key") or _annotation(obj)
    if not key:
        raise RepositoryError(
            f"artifactRepositoryRef names no key, and ConfigMap {name!r} has no annotation {DEFAULT_KEY_ANNOTATION}"
        )
    data = obj.get("data") or {}
    if key not in data:
        keys = ", ".join(sorted(map(str, data))) or "none"
        raise RepositoryError(f"ConfigMap {name!r} has no key {key!r} (it has: {keys})")
    return parse(data[key], f"ConfigMap {name!r} key {key!r}")


def _annotation(obj: Mapping[str, Any] | None) -> str | None:
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    value = annotations.get(DEFAULT_KEY_ANNOTATION)
    return str(value) if value else None


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
