"""Shared fixtures: the repository layout, the upstream Argo example corpus, and a real Airflow.

Each test process gets its own Airflow home (SQLite) before anything imports Airflow, so
parallel test workers never share a metadata database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent

_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
AIRFLOW_HOME = Path(tempfile.gettempdir()) / f"airflow-argo-tests-{os.getpid()}-{_WORKER}"
DAGS = AIRFLOW_HOME / "dags"
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
os.environ.pop("AIRFLOW__ARGO__BACKEND", None)


def _find_examples() -> Path:
    """The upstream Argo Workflows examples (Apache-2.0): ``shared/argo-examples`` beside the
    repository (or beside one of its parent folders). They are read, never copied or edited.
    ARGO_EXAMPLES overrides the location."""
    if os.environ.get("ARGO_EXAMPLES"):
        return Path(os.environ["ARGO_EXAMPLES"]).resolve()
    for folder in REPO.parents:
        candidate = folder / "shared" / "argo-examples"
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "argo-examples"


ARGO_EXAMPLES = _find_examples()


@pytest.fixture(scope="session")
def argo_examples() -> Path:
    if not ARGO_EXAMPLES.is_dir():
        pytest.fail(f"the Argo example corpus is missing at {ARGO_EXAMPLES} (set ARGO_EXAMPLES)")
    return ARGO_EXAMPLES


@pytest.fixture
def write_manifest(tmp_path: Path):
    """Write YAML text to a file under tmp_path and return its path."""

    def write(text: str, name: str = "wf.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return write


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated metadata database for this test process; returns the dags folder."""
    DAGS.mkdir(parents=True, exist_ok=True)
    marker = AIRFLOW_HOME / ".migrated"
    if not marker.exists():
        airflow = Path(sys.executable).parent / "airflow"
        done = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, env=dict(os.environ))
        assert done.returncode == 0, done.stderr[-3000:]
        marker.write_text("ok")
    return DAGS


@pytest.fixture
def run_workflow(airflow_db: Path, tmp_path: Path):
    """Run a manifest (YAML text or a path) once through Airflow; return the run's report."""
    from airflow_argo_provider.cli.run import execute_manifest

    def run(manifest: str | Path, params: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
        if isinstance(manifest, Path):
            path = manifest
        else:
            path = tmp_path / "workflow.yaml"
            path.write_text(textwrap.dedent(manifest))
        return execute_manifest(path, params or {}, dags=airflow_db, **kwargs)

    return run


def run_python_dag(
    folder: Path,
    name: str,
    source: str,
    conf: dict[str, Any] | None = None,
    beside: dict[str, Path] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Write a DAG file into the dags folder, run its DAG once with dag.test(); return the run and XComs.

    ``beside`` maps paths relative to the dags folder to files copied there for the run (the files
    a DAG file reads, such as its manifests).
    """
    import shutil

    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    path = folder / f"api_{name}.py"
    text = textwrap.dedent(source)
    if not text.startswith('"""'):  # Airflow only reads files that mention "airflow" and "dag"
        text = '"""A hand-written Airflow DAG using the Argo Python API."""\n' + text
    path.write_text(text)
    copies = []
    for relative, original in (beside or {}).items():
        copy = folder / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, copy)
        copies.append(copy)
    try:
        bag = DagBag(str(path))
        assert not bag.import_errors, bag.import_errors
        dag = bag.dags[name]
        run = dag.test(run_conf=conf)
        with create_session() as session:
            rows = session.scalars(
                select(XComModel).where(XComModel.dag_id == name, XComModel.run_id == run.run_id)
            ).all()
            xcoms = {(r.task_id, r.map_index, r.key): r.value for r in rows}
        return run, xcoms
    finally:
        path.unlink()
        for copy in copies:
            copy.unlink()


def nodes_by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["displayName"]: node for node in result["nodes"]}


@pytest.fixture(scope="session")
def moto_server():
    """A real S3/SNS/SQS endpoint over HTTP (moto's server) on 127.0.0.1, for the whole session.

    The standard AWS environment variables and Airflow's ``aws_default`` connection point at it.
    Yields the endpoint URL.
    """
    import json as _json
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    settings = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AIRFLOW_CONN_AWS_DEFAULT": _json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            }
        ),
    }
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
