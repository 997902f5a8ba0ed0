"""From an Airflow task context to the Argo run it belongs to.

The workflow's name, uid, parameters and creation time are derived from the DAG run, the
same for every task of the run, so that ``{{workflow.name}}`` is one stable value per run.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_argo_provider.expressions import render_value
from airflow_argo_provider.plan.model import Plan
from airflow_argo_provider.runtime.scope import workflow_scope

_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def run_suffix(run_id: str) -> str:
    """Five characters derived from the run id, like the suffix Argo adds to a ``generateName``."""
    digest = int(hashlib.sha256(run_id.encode()).hexdigest(), 16)
    out = ""
    for _ in range(5):
        digest, rem = divmod(digest, len(_SUFFIX_CHARS))
        out += _SUFFIX_CHARS[rem]
    return out


def workflow_name(plan: Plan, run_id: str) -> str:
    return f"{plan.workflow_name}-{run_suffix(run_id)}" if plan.generate_name else plan.workflow_name


def workflow_uid(dag_id: str, run_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"airflow-argo-provider/{dag_id}/{run_id}"))


def parameter_values(plan: Plan, params: Any) -> dict[str, str]:
    """Workflow parameters: the run's conf or params, as the strings Argo passes around."""
    values: dict[str, str] = {}
    for spec in plan.parameters:
        value = params.get(spec.name) if params is not None else None
        if value is None:
            value = spec.value
        if value is None and spec.value_from:
            value = _value_from(plan, spec.value_from)
        if value is None:
            continue
        values[spec.name] = value if isinstance(value, str) else render_value(value)
    return values


def _value_from(plan: Plan, value_from: dict[str, Any]) -> str | None:
    """A workflow argument's ``valueFrom``: a ConfigMap key (from the manifests' folder), else its default."""
    ref = value_from.get("configMapKeyRef") or {}
    data = plan.config_maps.get(ref.get("name", ""), {})
    if ref and ref.get("key") in data:
        return str(data[ref["key"]])
    default = value_from.get("default")
    return str(default) if default is not None else None


def run_started(context: Any) -> datetime:
    dag_run = context.get("dag_run")
    for attr in ("start_date", "run_after", "logical_date"):
        value = getattr(dag_run, attr, None) if dag_run is not None else None
        if value is not None:
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc)


def workflow_vars(plan: Plan, context: Any) -> dict[str, Any]:
    """The ``workflow.*`` scope of the run a task belongs to."""
    run_id = str(context["run_id"])
    params = context.get("params")
    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) or {}
    merged = dict(params) if params is not None else {}
    merged.update({k: v for k, v in conf.items() if isinstance(k, str)})
    scheduled = context.get("logical_date") if plan.schedule is not None else None
    return workflow_scope(
        name=workflow_name(plan, run_id),
        namespace=plan.namespace or "default",
        uid=workflow_uid(plan.dag_id, run_id),
        parameters=parameter_values(plan, merged),
        created=run_started(context),
        labels=plan.labels,
        annotations=plan.annotations,
        service_account=plan.pod_spec.get("serviceAccountName"),
        scheduled=scheduled,
        entrypoint=plan.entrypoint,
    )


def work_dir() -> Path:
    """Where the local backend keeps run and step directories (``[argo] local_work_dir``)."""
    configured = os.environ.get("AIRFLOW__ARGO__LOCAL_WORK_DIR")
    if not configured:
        try:
            from airflow.configuration import conf

            configured = conf.get("argo", "local_work_dir", fallback=None)
        except Exception:
            configured = None
    if configured:
        return Path(configured)
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return Path(home) / "argo-local"


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:120]


def run_dir(plan: Plan, run_id: str) -> Path:
    return work_dir() / "runs" / safe_name(plan.dag_id) / safe_name(run_id)
