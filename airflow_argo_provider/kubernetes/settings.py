"""The Kubernetes backend's settings: ``[argo] kubernetes_*`` (or ``AIRFLOW__ARGO__KUBERNETES_*``).

- ``kubernetes_conn_id``: the Airflow Kubernetes connection (default ``kubernetes_default``);
- ``kubernetes_deferrable``: ``fanout`` (default), ``always``/``true`` or ``never``/``false``;
- ``kubernetes_executor_image``: image of the init container and the XCom sidecar
  (default ``busybox:musl``: its ``/bin/busybox`` is static), and
  ``kubernetes_executor_image_pull_policy``;
- ``kubernetes_image_commands``: a JSON object of image -> entrypoint (a list), for templates
  that set no ``command``;
- ``kubernetes_startup_timeout``: seconds a pod may take to be scheduled, and then to start (600);
- ``kubernetes_artifact_image`` (and ``kubernetes_artifact_image_pull_policy``): the image of the
  artifact agent (init container ``argo-artifacts``, sidecar ``argo-wait``): Python, boto3 and
  this package, for example the Airflow worker image. Needed by steps with artifacts.
"""

from __future__ import annotations

import json

from airflow_argo_provider.kubernetes.pod import KNOWN_IMAGE_COMMANDS, PodBuildError, PodSettings
from airflow_argo_provider.settings import setting

__all__ = ["pod_settings", "setting"]


def pod_settings(*, airflow_config: bool = True) -> PodSettings:
    """The pod layout settings; raises :class:`PodBuildError` for an unreadable image table."""
    commands: dict[str, list[str]] = dict(KNOWN_IMAGE_COMMANDS)
    extra = setting("kubernetes_image_commands", airflow_config=airflow_config)
    if extra:
        try:
            data = json.loads(extra)
        except ValueError as exc:
            raise PodBuildError(f"[argo] kubernetes_image_commands is not JSON: {exc}") from None
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise PodBuildError("[argo] kubernetes_image_commands must map image names to lists of strings")
        commands.update({str(k): [str(x) for x in v] for k, v in data.items()})
    startup = setting("kubernetes_startup_timeout", airflow_config=airflow_config)
    return PodSettings(
        executor_image=setting("kubernetes_executor_image", airflow_config=airflow_config)
        or PodSettings.executor_image,
        executor_image_pull_policy=setting("kubernetes_executor_image_pull_policy", airflow_config=airflow_config),
        image_commands=commands,
        artifact_image=setting("kubernetes_artifact_image", airflow_config=airflow_config),
        artifact_image_pull_policy=setting("kubernetes_artifact_image_pull_policy", airflow_config=airflow_config),
        agent_start_timeout=int(startup) if startup and startup.isdigit() else PodSettings.agent_start_timeout,
    )
