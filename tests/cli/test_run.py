"""``airflow-argo run``: the node table it prints, and a clean terminal."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from airflow_argo_provider.cli.run import print_table


def _node(name: str, phase: str = "Succeeded", message: str = "", result: str | None = None, retries: int = 0) -> Any:
    outputs = {"result": result} if result is not None else {}
    return {"displayName": name, "phase": phase, "message": message, "outputs": outputs, "retries": retries}


def table(*nodes: dict[str, Any], message: str = "") -> list[str]:
    out = io.StringIO()
    result = {"name": "wf", "phase": "Succeeded", "message": message, "outputs": {"parameters": {}}, "nodes": nodes}
    print_table(result, out)
    return out.getvalue().splitlines()


def test_results_show_on_one_line_and_are_cut() -> None:
    long = json.dumps({"items": list(range(40))}, indent=2)
    lines = table(
        _node("short", result='{\n  "a": 1,\n  "b":   "x y"\n}'),
        _node("long", result=long),
    )
    assert lines[1] == "NODE   PHASE       MESSAGE"
    assert lines[2] == 'short  Succeeded   result: { "a": 1, "b": "x y" }'
    flat = " ".join(long.split())
    assert lines[3] == f"long   Succeeded   result: {flat[:57]}..."
    assert len(lines[3]) == len("long   Succeeded   result: ") + 60


def test_messages_show_on_one_line() -> None:
    lines = table(_node("a", "Failed", message="exit code 1:\nTraceback\n  boom"), message="child 'a'\nfailed")
    assert lines[2] == "a     Failed      exit code 1: Traceback boom"
    assert lines[4] == "wf: Succeeded (child 'a' failed)"


def test_retried_nodes_say_how_often() -> None:
    lines = table(
        _node("once", result="ok", retries=1),
        _node("twice", "Failed", message="exit code 3", retries=2),
        _node("silent", retries=3),
        _node("first-time", result="ok"),
    )
    assert lines[2:6] == [
        "once        Succeeded   result: ok (after 1 retry)",
        "twice       Failed      exit code 3 (after 2 retries)",
        "silent      Succeeded   after 3 retries",
        "first-time  Succeeded   result: ok",
    ]


FLAKY = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: flaky-}
spec:
  entrypoint: flaky
  volumeClaimTemplates:
  - metadata: {name: state}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}
  templates:
  - name: flaky
    retryStrategy: {limit: "2", retryPolicy: OnFailure, backoff: {duration: "1s"}}
    script:
      image: python:alpine3.23
      command: [python]
      volumeMounts: [{name: state, mountPath: /state}]
      source: |
        import json, os, sys
        if not os.path.exists("/state/attempted"):
            open("/state/attempted", "w").close()
            sys.exit(1)
        print(json.dumps({"attempt": 2, "done": True}, indent=2))
"""


def test_run_prints_a_one_line_result_with_its_retries_and_no_warnings(tmp_path: Path) -> None:
    (tmp_path / "flaky.yaml").write_text(FLAKY)
    cli = Path(sys.executable).parent / "airflow-argo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__CORE__DAGS_FOLDER")}
    done = subprocess.run(
        [str(cli), "run", "flaky.yaml"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    rows = [line.split(None, 2) for line in done.stdout.splitlines() if line.startswith("flaky-")]
    assert rows[0][1:] == ["Succeeded", 'result: { "attempt": 2, "done": true } (after 1 retry)']
    # Python warnings reach the terminal through the logging of "py.warnings".
    assert "py.warnings" not in done.stderr and "starlette" not in done.stderr, done.stderr
