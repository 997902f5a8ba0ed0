"""The example dags folder (dags/): every file loads in Airflow with no import error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

DAGS = REPO / "dags"


def test_every_example_loads_as_a_dag() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS))
    assert not bag.import_errors, bag.import_errors
    assert {
        "deal-aggregator",  # dags/argo/deal-aggregator.yaml (seed 001)
        "deal_aggregator",  # dags/deal_aggregator.py, the same with the Python API
        "fanout-etl",  # seed 000
        "fanout_etl",
        "product-categorization",  # seed 003
        "burst-uploads",  # seed 002: the dispatcher of S3 uploads (EventSource + Sensor)
        "burst-file",  # seed 002: one run per uploaded file
        "burst-processing",
        "hello-world",
        "diamond",
    } <= set(bag.dag_ids)
    # The deal aggregator: the HTTP fan-out, the validation, the announcement and the exit handler.
    dag = bag.dags["deal-aggregator"]
    assert set(dag.params) == {"count", "apiUrl", "bucket", "snsTopicArn"}
    assert {"fetch-all_items", "fetch-all", "save-results", "notify-sns", "on_exit", "workflow_phase"} <= set(
        dag.task_dict
    )
    assert type(dag.task_dict["fetch-all"]).__name__ == "MappedOperator"  # one instance per post


def test_the_example_manifests_validate() -> None:
    cli = Path(sys.executable).parent / "airflow-argo"
    done = subprocess.run([str(cli), "validate", str(DAGS)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
