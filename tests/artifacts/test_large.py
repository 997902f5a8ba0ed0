"""A 200 MB artifact round trip with bounded memory.

The run happens in a fresh interpreter (``dag.test()`` runs the tasks in that process), so
its peak resident memory is the worker's. A small round trip first brings every code path
and import in; the growth of the peak during the 200 MB round trip is what streaming keeps
small (one 8 MiB part and a few 1 MiB buffers), far below the file's size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REPO

SIZE = 200 * 1000 * 1000

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{generateName: {name}-}}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {{name: produce, template: produce}}
    - - name: consume
        template: consume
        arguments:
          parameters: [{{name: digest, value: "{{{{steps.produce.outputs.parameters.digest}}}}"}}]
          artifacts: [{{name: blob, from: "{{{{steps.produce.outputs.artifacts.blob}}}}"}}]
  - name: produce
    container:
      image: busybox
      command: [sh, -c, "head -c {size} /dev/urandom > /tmp/blob && sha256sum /tmp/blob | cut -c1-64 > /tmp/digest"]
    outputs:
      parameters: [{{name: digest, valueFrom: {{path: /tmp/digest}}}}]
      artifacts: [{{name: blob, path: /tmp/blob, archive: {{tar: {{compressionLevel: 1}}}}}}]
  - name: consume
    inputs:
      parameters: [{{name: digest}}]
      artifacts: [{{name: blob, path: /tmp/received}}]
    container:
      image: busybox
      command: [sh, -c, "test $(stat -c %s /tmp/received) = {size} && test $(sha256sum /tmp/received | cut -c1-64) = {{{{inputs.parameters.digest}}}} && echo same"]
"""

SCRIPT = textwrap.dedent(
    """
    import json, os, resource, sys, time
    from pathlib import Path
    from airflow_argo_provider.cli.run import execute_manifest

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    small = execute_manifest(Path(sys.argv[1]), {}, dags=dags)
    before = peak()
    started = time.time()
    big = execute_manifest(Path(sys.argv[2]), {}, dags=dags)
    print(json.dumps({
        "small": small["phase"], "big": big["phase"], "before": before, "after": peak(),
        "seconds": time.time() - started,
        "nodes": {n["displayName"]: [n["phase"], n["message"], n["outputs"].get("result")] for n in big["nodes"]},
    }))
    """
)


def test_200_mb_round_trip_streams(airflow_db: Path, repository: str, tmp_path: Path) -> None:
    small = tmp_path / "small.yaml"
    small.write_text(WORKFLOW.format(name="small", size=1000))
    big = tmp_path / "big.yaml"
    big.write_text(WORKFLOW.format(name="big", size=SIZE))
    script = tmp_path / "measure.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(small), str(big)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout.strip().splitlines()[-1])
    assert data["small"] == "Succeeded" and data["big"] == "Succeeded", data
    assert data["nodes"]["consume"] == ["Succeeded", "", "same"], data
    growth = data["after"] - data["before"]
    print(
        f"peak RSS {data['before'] / 2**20:.0f} MiB -> {data['after'] / 2**20:.0f} MiB "
        f"(+{growth / 2**20:.1f} MiB) for a {SIZE / 1e6:.0f} MB round trip in {data['seconds']:.1f} s"
    )
    assert growth < 64 * 2**20, data  # measured here: about 45 MiB (one 8 MiB part, its copies, buffers)
