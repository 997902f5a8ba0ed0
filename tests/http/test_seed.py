"""Seed document 001's fan-out (fetch, validate, retry, aggregate) under ``airflow-argo run``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.http_server import TestServer, post

# The `fetch-all` and `save-results` part of the seed's workflow, pointed at a local server
# (the S3 artifact and the SNS step belong to other issues). The backoff is 1 s instead of 5 s,
# and the validation script also prints the ids it saw.
SEED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: dynamic-deal-aggregator-
spec:
  entrypoint: main
  arguments:
    parameters:
    - name: count
      value: "5"
  templates:
  - name: main
    dag:
      tasks:
      - name: fetch-all
        template: call-api
        withSequence:
          count: "{{workflow.parameters.count}}"
          start: 1
        arguments:
          parameters:
          - name: url
            value: "SERVER/posts/{{item}}"
      - name: save-results
        dependencies: [fetch-all]
        template: save-api-results
        arguments:
          parameters:
          - name: results
            value: "{{tasks.fetch-all.outputs.result}}"
          - name: expectedCount
            value: "{{workflow.parameters.count}}"
  - name: call-api
    retryStrategy:
      limit: 3
      retryPolicy: OnTransientError
      backoff:
        duration: "1s"
        factor: 2
    inputs:
      parameters:
      - name: url
    http:
      url: "{{inputs.parameters.url}}"
      method: GET
      timeoutSeconds: 60
      successCondition: "response.statusCode == 200 && response.body contains \\"userId\\" && response.body contains \\"id\\""
  - name: save-api-results
    inputs:
      parameters:
      - name: results
      - name: expectedCount
    script:
      image: python:3.9
      command: [python]
      env:
      - name: RESULTS
        value: "{{inputs.parameters.results}}"
      - name: EXPECTED_COUNT
        value: "{{inputs.parameters.expectedCount}}"
      source: |
        import json
        import os
        import sys

        raw = os.environ["RESULTS"]
        expected = int(os.environ["EXPECTED_COUNT"])
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as e:
            print(f"validation: aggregated results are not valid JSON: {e}", file=sys.stderr)
            sys.exit(1)
        if not isinstance(data, list):
            print("validation: aggregated results must be a JSON array", file=sys.stderr)
            sys.exit(1)
        if len(data) != expected:
            print(f"validation: expected {expected} responses, got {len(data)}", file=sys.stderr)
            sys.exit(1)
        for i, obj in enumerate(data):
            if not isinstance(obj, dict) or "id" not in obj or "userId" not in obj:
                print(f"validation: item {i} missing required keys id or userId", file=sys.stderr)
                sys.exit(1)
        print(json.dumps([obj["id"] for obj in data]))
"""


class SeedServer(TestServer):
    """jsonplaceholder's ``/posts/ID``; every seventh post answers 503 the first time."""

    async def respond(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Any:
        if target.startswith("/posts/"):
            ident = int(target.rsplit("/", 1)[1])
            self._counts[target] += 1
            if ident % 7 == 0 and self._counts[target] == 1:
                return 503, [], b"try again"
        return await super().respond(method, target, headers, body)


def test_seed_001_fan_out_runs_under_airflow_argo_run(tmp_path: Path) -> None:
    server = SeedServer().start()
    try:
        (tmp_path / "seed.yaml").write_text(SEED.replace("SERVER", server.url))
        cli = Path(sys.executable).parent / "airflow-argo"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__CORE__DAGS_FOLDER")}
        done = subprocess.run(
            [str(cli), "run", "seed.yaml", "-p", "count=30", "-o", "json"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stdout[-6000:]
    result = json.loads(done.stdout)
    assert result["phase"] == "Succeeded"
    nodes = {n["displayName"]: n for n in result["nodes"]}
    children = [n for n in result["nodes"] if n["displayName"].startswith("fetch-all(")]
    assert [n["displayName"] for n in children] == [f"fetch-all({i}:{i + 1})" for i in range(30)]
    for node in children:
        ident = json.loads(node["outputs"]["result"])["id"]
        assert node["phase"] == "Succeeded" and node["type"] == "HTTP"
        assert node["retries"] == (1 if ident % 7 == 0 else 0)
        assert json.loads(node["outputs"]["result"]) == post(ident)
    assert nodes["fetch-all"]["type"] == "TaskGroup" and nodes["fetch-all"]["phase"] == "Succeeded"
    # The aggregate the script validated: 30 posts, in loop-index order, each once.
    assert json.loads(nodes["save-results"]["outputs"]["result"]) == list(range(1, 31))
    assert len(server.seen("/posts/")) == 30 + len([i for i in range(1, 31) if i % 7 == 0])
