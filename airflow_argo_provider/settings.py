"""The provider's ``[argo]`` settings: the environment (``AIRFLOW__ARGO__KEY``) first, then Airflow's
configuration."""

from __future__ import annotations

import os


def setting(key: str, default: str | None = None, *, airflow_config: bool = True) -> str | None:
    """``[argo] KEY``: the environment first, then (unless told not to) Airflow's configuration.

    An empty value counts as unset (``default``); ``airflow_config=False`` reads the environment
    only (commands that must not need Airflow's configuration, such as ``airflow-argo render``).
    """
    value = os.environ.get(f"AIRFLOW__ARGO__{key.upper()}")
    if value is None and airflow_config:
        try:
            from airflow.configuration import conf

            value = conf.get("argo", key, fallback=None)
        except Exception:
            value = None
    return value if value not in (None, "") else default
