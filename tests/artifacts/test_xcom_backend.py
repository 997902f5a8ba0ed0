"""Large step outputs through Airflow's object-storage XCom backend (common-io provider).

Artifacts are the way to pass files; ``outputs.result`` and output parameters travel through
XCom. With ``[core] xcom_backend = ...XComObjectStorageBackend``, values above
``[common.io] xcom_objectstorage_threshold`` bytes are stored under
``xcom_objectstorage_path`` (here a bucket of the moto S3 server) and only a reference stays
in the metadata database; downstream steps read them back transparently. The run happens in
a separate process because Airflow resolves its XCom backend once, at import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.artifacts.conftest import keys
from tests.conftest import REPO

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: large-result-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: produce, template: produce}
    - - name: consume
        template: consume
        arguments:
          parameters: [{name: text, value: "{{steps.produce.outputs.result}}"}]
  - name: produce
    script:
      image: python:3.12
      command: [python3]
      source: |
        print("0123456789" * 6000)
  - name: consume
    inputs:
      parameters: [{name: text}]
    container:
      image: busybox
      command: [sh, -c, "printf %s '{{inputs.parameters.text}}' | sha256sum | cut -c1-64"]
"""


def test_results_above_the_threshold_go_to_the_bucket(
    airflow_db: Path, moto_server: str, s3: Any, tmp_path: Path
) -> None:
    import hashlib

    bucket = f"xcom-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    manifest = tmp_path / "large-result.yaml"
    manifest.write_text(WORKFLOW)
    env = {
        **os.environ,
        "AIRFLOW__CORE__XCOM_BACKEND": "airflow.providers.common.io.xcom.backend.XComObjectStorageBackend",
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH": f"s3://aws_default@{bucket}/xcom",
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD": "4096",
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "airflow-argo"), "run", str(manifest), "--airflow-home", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    nodes = {n["displayName"]: n for n in result["nodes"]}
    text = "0123456789" * 6000
    assert nodes["produce"]["outputs"]["result"] == text
    assert nodes["consume"]["outputs"]["result"] == hashlib.sha256(text.encode()).hexdigest()

    # The produce step's record (60 kB of result) went to the bucket; small records stayed in the database.
    stored = keys(s3, bucket, "xcom/")
    produced = [k for k in stored if "/produce/" in k]
    assert len(produced) == 1, stored
    body = s3.get_object(Bucket=bucket, Key=produced[0])["Body"].read()
    assert len(body) > 60_000 and b"0123456789" in body
    assert not [k for k in stored if "/workflow_phase/" in k]
