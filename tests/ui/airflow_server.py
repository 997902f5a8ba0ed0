"""A real Airflow 3 deployment on 127.0.0.1 for the UI test: api-server, scheduler and
dag-processor as separate processes, LocalExecutor, SQLite in a temporary Airflow home, the
repository's ``dags/`` folder and the simple auth manager with one admin user.

The processes run in their own sessions so that stopping them (their process groups) also stops
the executor's worker processes; their output goes to log files whose tails are shown when the
test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

USER, PASSWORD = "admin", "admin"
PROCESSES = ("api-server", "scheduler", "dag-processor")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class AirflowServer:
    """Start with :meth:`start`, stop with :meth:`stop`; :attr:`url` is the UI and REST API."""

    def __init__(self, home: Path, dags: Path, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.dags = dags
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = home / "process-logs"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._token: str | None = None
        self.env = self._environment(extra_env or {})

    def _environment(self, extra: dict[str, str]) -> dict[str, str]:
        passwords = self.home / "passwords.json"
        self.home.mkdir(parents=True, exist_ok=True)
        passwords.write_text(json.dumps({USER: PASSWORD}))
        bin_dir = str(Path(sys.executable).parent)
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW__")}
        env.update(
            {
                "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            }
        )
        env.update(extra)
        return env

    def airflow(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["airflow", *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def start(self) -> AirflowServer:
        self.logs.mkdir(parents=True, exist_ok=True)
        done = self.airflow("db", "migrate")
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        for name in PROCESSES:
            args = [name, "--port", str(self.port)] if name == "api-server" else [name]
            with (self.logs / f"{name}.log").open("wb") as log:
                self.processes[name] = subprocess.Popen(
                    ["airflow", *args],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
        try:
            self.wait_healthy()
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{self.log_tails()}") from None
        return self

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as response:
                    health = json.load(response)
                if health.get("metadatabase", {}).get("status") == "healthy":
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the api-server did not answer on {self.url} within {timeout:.0f} s")

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"airflow {name} exited with status {process.returncode}\n{self.log_tails()}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        # Whatever is left of each group (the executor's workers, task runners) is killed.
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)

    def log_tails(self, lines: int = 60) -> str:
        parts = []
        for name in PROCESSES:
            path = self.logs / f"{name}.log"
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"----- airflow {name} (last {len(tail)} lines of {path}) -----\n" + "\n".join(tail))
        return "\n".join(parts)

    # The REST API, for waiting and checking (the test drives the UI itself through the browser).

    def _request(self, request: urllib.request.Request, attempts: int = 4) -> Any:
        """Send ``request`` and parse its JSON answer; a timeout or a refused connection (a busy
        machine, a restarting worker) is tried again, an HTTP error is raised at once."""
        for attempt in range(1, attempts + 1):
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return json.load(response)
            except urllib.error.HTTPError as exc:
                raise RuntimeError(
                    f"{request.get_method()} {request.full_url}: HTTP {exc.code}: {exc.read()[:2000]!r}"
                ) from None
            except (urllib.error.URLError, OSError):
                if attempt == attempts:
                    raise
                time.sleep(2)
        raise AssertionError("unreachable")

    def token(self) -> str:
        if self._token is None:
            body = json.dumps({"username": USER, "password": PASSWORD}).encode()
            request = urllib.request.Request(
                f"{self.url}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            self._token = str(self._request(request)["access_token"])
        return self._token

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/api/v2/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"},
        )
        return self._request(request)

    def wait_for_dag(self, dag_id: str, timeout: float = 90) -> dict[str, Any]:
        """The DAG once the dag-processor has parsed and serialized it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            found = self.api(f"dags?dag_id_pattern={dag_id}")
            for dag in found.get("dags", []):
                if dag["dag_id"] == dag_id:
                    return dict(dag)
            time.sleep(1)
        errors = self.api("importErrors")
        raise RuntimeError(f"DAG {dag_id} did not appear within {timeout:.0f} s; import errors: {errors}")

    def wait_for_run(self, dag_id: str, timeout: float) -> dict[str, Any]:
        """The DAG's only run once it finished (success or failed); fails if there is more than one."""
        deadline = time.monotonic() + timeout
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            self.check_alive()
            runs = self.api(f"dags/{dag_id}/dagRuns")["dag_runs"]
            if len(runs) > 1:
                raise RuntimeError(f"expected one run of {dag_id}, found {len(runs)}: {runs}")
            if runs and runs[0]["state"] in ("success", "failed"):
                return dict(runs[0])
            time.sleep(1)
        raise RuntimeError(f"no finished run of {dag_id} within {timeout:.0f} s: {runs}")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, list[str]]:
        found = self.api(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")
        states: dict[str, list[str]] = {}
        for ti in found["task_instances"]:
            states.setdefault(ti["task_id"], []).append(str(ti["state"]))
        return states
