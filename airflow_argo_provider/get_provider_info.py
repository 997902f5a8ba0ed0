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
                "python-modules": [
                    "airflow_argo_provider.operators.kubernetes",
                    "airflow_argo_provider.operators.http",
                    "airflow_argo_provider.operators.sns",
                    "airflow_argo_provider.operators.dispatch",
                ],
            }
        ],
        "notifications": ["airflow_argo_provider.notifiers.sns.ArgoSnsNotifier"],
        "config": {
            "argo": {
                "description": "Settings of airflow-argo-provider.",
                "options": {
                    "kubernetes_conn_id": {
                        "description": "The Kubernetes connection the kubernetes backend creates pods with.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": None,
                        "default": "kubernetes_default",
                    },
                    "kubernetes_deferrable": {
                        "description": "When pods are waited on in the triggerer: fanout (fan-out items only), "
                        "always or never. The workflow annotation airflow-argo/deferrable overrides it.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "always",
                        "default": "fanout",
                    },
                    "kubernetes_executor_image": {
                        "description": "Image of the init container and XCom sidecar of every pod; its "
                        "/bin/busybox must be a static BusyBox.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "registry.example.com/mirror/busybox:musl",
                        "default": "busybox:musl",
                    },
                    "kubernetes_image_commands": {
                        "description": "JSON object of image -> entrypoint (a list), for templates without a command.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": '{"my/image:1": ["/entrypoint"]}',
                        "default": None,
                    },
                    "kubernetes_artifact_image": {
                        "description": "Image of the artifact agent of the kubernetes backend (init container "
                        "argo-artifacts, sidecar argo-wait): Python, boto3 and airflow-argo-provider, for example "
                        "the Airflow worker image. Needed by steps with artifacts.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "registry.example.com/airflow:3.3.2-argo",
                        "default": None,
                    },
                    "kubernetes_artifact_image_pull_policy": {
                        "description": "Pull policy of the artifact agent's image.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "IfNotPresent",
                        "default": None,
                    },
                    "artifact_repository": {
                        "description": "The default artifact repository, as JSON in Argo's format "
                        '({"s3": {"bucket": ..., "endpoint": ..., "region": ..., "insecure": ..., "keyFormat": ...}}), '
                        "plus connId: the Airflow AWS connection of the local backend (default aws_default).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": '{"s3": {"bucket": "my-artifacts", "keyFormat": "{{workflow.name}}/{{pod.name}}"}}',
                        "default": None,
                    },
                    "artifact_endpoint_override": {
                        "description": "Replaces the endpoint of every S3 artifact (local development against "
                        "MinIO or moto).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "http://127.0.0.1:9000",
                        "default": None,
                    },
                    "metrics_prefix": {
                        "description": "Prefix of the names of Argo's metrics sent through OpenTelemetry when "
                        "[metrics] otel_on is set (docs/metrics.md): argo_workflows_ gives the names of Argo's "
                        "Prometheus endpoint; none gives the bare names Argo sends over OTLP.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "none",
                        "default": "argo_workflows_",
                    },
                    "kubernetes_startup_timeout": {
                        "description": "Seconds a pod may take to be scheduled, and then to start.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": None,
                        "default": "600",
                    },
                },
            }
        },
        "hooks": [
            {
                "integration-name": "Argo Workflows",
                "python-modules": ["airflow_argo_provider.hooks.secrets"],
            }
        ],
    }
