"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    from airflow_argo_provider import __version__

    return {
        "package-name": "airflow-argo-provider",
        "name": "Argo Workflows",
        "description": "Run Argo Workflows manifests, and the same patterns written in Python, as Airflow DAGs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Argo Workflows",
                "external-doc-url": "https://argo-workflows.readthedocs.io/",
                "tags": ["software"],
            }
        ],
        "operators": [
            {
                "integration-name": "Argo Workflows",
                "python-modules": ["airflow_argo_provider.operators.http"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Argo Workflows",
                "python-modules": ["airflow_argo_provider.hooks.secrets"],
            }
        ],
    }
