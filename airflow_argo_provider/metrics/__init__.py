"""Argo's Prometheus metrics through OpenTelemetry: the ``metrics.prometheus`` of templates and
workflows, and the controller's built-in workflow and pod metrics (see docs/metrics.md).

- :mod:`.spec`: checking a metric and turning it into a sample (no Airflow, no OpenTelemetry);
- :mod:`.otel`: the meter provider, configured like Airflow's own OpenTelemetry metrics;
- :mod:`.emit`: when each metric is emitted, with which variables.
"""
