"""Annotations of this provider that manifests may carry (read when they are checked and when they run)."""

from __future__ import annotations

# Annotations of EventSources (and of templates, for SNS steps): the Airflow AWS connection, and the
# visibility timeout the trigger sets on the messages it receives.
AWS_CONN_ANNOTATION = "airflow-argo-provider/aws-conn-id"
VISIBILITY_ANNOTATION = "airflow-argo-provider/visibility-timeout"
