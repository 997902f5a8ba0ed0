"""The README's first command runs scripts/demo.py: it must run the deal aggregator and show its results."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_the_demo_runs_the_deal_aggregator_and_shows_the_artifact_and_the_messages(airflow_db: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py"), "--count", "3"],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
    )
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-4000:]
    # The run: progress, the node table with the retried post, the final phase.
    assert re.search(r"^fetch-all\(1:2\)\s+Succeeded", out, re.MULTILINE), out
    assert re.search(r"^deal-aggregator-\w+: Succeeded$", out, re.MULTILINE), out
    # Where the artifact went, with a summary of its content.
    assert re.search(r"s3://deal-aggregator/deal-aggregator-\w+/api-responses\.json", out), out
    assert "3 posts, ids 1..3, from users [1]" in out
    # Both SNS messages came back through the SQS subscription.
    assert "[aggregate-ready] subject: deal-aggregator-" in out
    assert re.search(r"\[run-finished\] subject: deal-aggregator-\w+ Succeeded", out), out
    # And how to open the same DAG in the Airflow UI.
    assert "airflow standalone" in out and "deal-aggregator" in out.split("Airflow UI", 1)[1]
