"""The package as a user installs it: provider registration, console script, compose file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import yaml

from airflow_argo_provider.get_provider_info import get_provider_info
from tests.conftest import REPO


def test_provider_entry_point_and_info() -> None:
    eps = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_argo_provider")]
    assert len(eps) == 1
    info = eps[0].load()()
    assert info == get_provider_info()
    assert info["package-name"] == "airflow-argo-provider"


def test_airflow_providers_list_shows_the_provider(tmp_path: Path) -> None:
    airflow = Path(sys.executable).parent / "airflow"
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run(
        [str(airflow), "providers", "list", "-o", "plain"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert any(row and row[0] == "airflow-argo-provider" for row in rows), result.stdout


def _interpolate(text: str) -> str:
    """Compose's ``${VAR:-default}`` interpolation (with an empty environment), as `docker compose config` does."""

    def value(match: re.Match[str]) -> str:
        if match.group(2) is None:
            raise AssertionError(f"{match.group(0)} has no default: the file needs a variable to be set")
        return match.group(2)

    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", value, text)


def test_docker_compose_is_a_complete_deployment() -> None:
    compose = yaml.safe_load(_interpolate((REPO / "docker-compose.yaml").read_text()))
    services = compose["services"]
    for name in (
        "postgres",
        "moto",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    ):
        assert name in services, name
    airflow_services = [s for n, s in services.items() if n.startswith("airflow-")]
    for service in airflow_services:
        assert service["image"] == "airflow-argo-provider:local"
        assert "apache/airflow:3." in service["build"]["dockerfile_inline"]
        assert "pip install" in service["build"]["dockerfile_inline"]
        mounts = {v.split(":")[1] for v in service["volumes"]}
        assert "/opt/airflow/dags" in mounts
        assert "/home/airflow/.kube" in mounts
        assert "postgresql" in service["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        for dependency in service["depends_on"]:
            assert dependency in services
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert services["moto"]["image"].startswith("motoserver/moto:")
    assert services["postgres"]["image"].startswith("postgres:")
    # The mounted host folders exist in the repository.
    assert (REPO / "dags").is_dir()
    for name, volume in compose.get("volumes", {}).items():
        assert volume is None or isinstance(volume, dict), name
