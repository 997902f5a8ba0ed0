"""Seed 000, the fan-out ETL: the manifest and the Python DAG, end to end with the local backend.

A CSV of orders is served over HTTP from 127.0.0.1; the aggregate lands in the local PostgreSQL.
The expected values below were worked out by hand from ORDERS.
"""

from __future__ import annotations

import importlib.util
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.conftest import REPO, nodes_by_name, run_python_dag
from tests.http_server import TestServer
from tests.seeds.conftest import CONN_ID, Postgres

MANIFEST = REPO / "dags" / "argo" / "fanout-etl.yaml"
DAG_FILE = REPO / "dags" / "fanout_etl.py"

# 14 rows: 9 valid orders, one duplicate, one without customer, two bad quantities, one bad date.
ORDERS = """\
order_id,customer_id,region,product,quantity,unit_price,order_date
1001,c01,north,Widget,2,10.00,2024-01-06
1002,c02,North , Gadget ,1,45.50,2024-01-08
1003,c01,south,widget,5,10.00,2024-01-15
1004,c03,south,Gizmo,12,2.50,2024-01-20
1002,c02,north,Gadget,1,45.50,2024-01-08
1005,,north,Widget,1,10.00,2024-01-09
1006,c04,east,Widget,two,10.00,2024-01-10
1007,c04,east,Doohickey,3,99.99,2024-02-30
1008,c04,EAST,Doohickey,1,120.00,2024-02-03
1009,c02,north,Gizmo,4,2.50,2024-02-05
1010,c05,south,Widget,3,10.00,2024-02-11
1011,c01,north,Gadget,2,45.50,2024-02-12
1012,c03,south,Widget,0,10.00,2024-02-13
1013,c06,,Gizmo,2,2.50,2024-02-14
"""


def _group(
    region: str, month: str, orders: int, units: int, revenue: str, customers: int, aov: str, high: int, weekend: int
) -> dict[str, Any]:
    return {
        "region": region,
        "month": month,
        "orders": orders,
        "units": units,
        "revenue": revenue,
        "customers": customers,
        "avg_order_value": aov,
        "high_value_orders": high,
        "weekend_orders": weekend,
    }


# Customers: C01 161.00 and C04 120.00 are "high" (>= 100), C02 55.50, C03 30.00, C05 30.00 "medium", C06 5.00 "low".
EXPECTED = [
    _group("East", "2024-02", 1, 1, "120.00", 1, "120.00", 1, 1),
    _group("North", "2024-01", 2, 3, "65.50", 2, "32.75", 1, 1),
    _group("North", "2024-02", 2, 6, "101.00", 2, "50.50", 1, 0),
    _group("South", "2024-01", 2, 17, "80.00", 2, "40.00", 1, 1),
    _group("South", "2024-02", 1, 3, "30.00", 1, "30.00", 0, 1),
    _group("Unknown", "2024-02", 1, 2, "5.00", 1, "5.00", 0, 0),
]

SPARK_ENGINE = "spark" if importlib.util.find_spec("pyspark") else "python-fallback"


def loaded_rows(postgres: Postgres, table: str) -> list[dict[str, Any]]:
    rows = postgres.rows(
        f"SELECT region, month, orders, units, revenue, customers, avg_order_value, high_value_orders, "
        f'weekend_orders, workflow FROM "{table}" ORDER BY region, month'
    )
    keys = [*EXPECTED[0], "workflow"]
    out = [dict(zip(keys, row)) for row in rows]
    for row in out:
        row["revenue"] = f"{row['revenue']:.2f}"
        row["avg_order_value"] = f"{row['avg_order_value']:.2f}"
    return out


def serve_orders(files: TestServer, failures: int = 0) -> str:
    files.files["/exports/orders.csv"] = ORDERS.encode()
    files.file_failures["/exports/orders.csv"] = failures
    return files.url + "/exports/orders.csv"


def test_the_manifest_ingests_fans_out_merges_aggregates_and_loads(
    run_workflow: Any, postgres: Postgres, files: TestServer
) -> None:
    table = postgres.table("etl")
    url = serve_orders(files, failures=1)  # the first download gets a 503: retried
    result = run_workflow(MANIFEST, {"source-url": url, "postgres-conn-id": CONN_ID, "table": table})
    nodes = nodes_by_name(result)
    assert result["phase"] == "Succeeded", [(n["displayName"], n["phase"], n["message"]) for n in result["nodes"]]

    assert nodes["ingest"]["retries"] == 1
    assert len(files.seen("/exports/orders.csv")) == 2
    assert json.loads(nodes["ingest"]["outputs"]["result"]) == {"bytes": len(ORDERS), "rows": 14}
    assert json.loads(nodes["clean"]["outputs"]["result"]) == {
        "rows": 14,
        "clean": 9,
        "dropped": {
            "duplicate order_id": 1,
            "no customer_id": 1,
            "quantity is not a whole number > 0": 2,
            "order_date is not a YYYY-MM-DD date": 1,
        },
    }
    # The Spark step says which engine ran it: pyspark when installed, else the pure-Python fallback.
    assert json.loads(nodes["customer-metrics"]["outputs"]["result"]) == {
        "engine": SPARK_ENGINE,
        "customers": 6,
        "segments": {"high": 2, "low": 1, "medium": 3},
    }
    assert json.loads(nodes["features"]["outputs"]["result"]) == {"orders": 9, "weekend": 4}
    assert json.loads(nodes["merge"]["outputs"]["result"]) == {"rows": 9, "columns": 16}
    assert json.loads(nodes["aggregate"]["outputs"]["result"]) == EXPECTED
    # The three transformers ran after the ingest and before the merge.
    for name in ("clean", "customer-metrics", "features"):
        assert nodes["ingest"]["finishedAt"] <= nodes[name]["startedAt"] <= nodes["merge"]["startedAt"]

    rows = loaded_rows(postgres, table)
    assert [{k: v for k, v in row.items() if k != "workflow"} for row in rows] == EXPECTED
    assert {row["workflow"] for row in rows} == {result["name"]}
    assert sum(Decimal(row["revenue"]) for row in rows) == Decimal("401.50")
    assert json.loads(result["outputs"]["parameters"]["loaded"]) == {"table": table, "rows": 6}


def test_a_missing_source_fails_the_ingest_at_once_and_loads_nothing(
    run_workflow: Any, postgres: Postgres, files: TestServer
) -> None:
    table = postgres.table("etl")
    result = run_workflow(
        MANIFEST, {"source-url": files.url + "/exports/missing.csv", "postgres-conn-id": CONN_ID, "table": table}
    )
    nodes = nodes_by_name(result)
    assert result["phase"] == "Failed"
    assert nodes["ingest"]["phase"] == "Failed" and nodes["ingest"]["retries"] == 0  # a 404 is not retried
    assert len(files.seen("/exports/missing.csv")) == 1
    # As in Argo, the tasks that depend on it are Omitted: nothing ran after the ingest.
    assert {nodes[name]["phase"] for name in ("clean", "customer-metrics", "features", "merge", "load")} == {"Omitted"}
    assert not postgres.exists(table)


def test_the_python_dag_loads_the_same_aggregate(airflow_db: Path, postgres: Postgres, files: TestServer) -> None:
    table = postgres.table("etl_api")
    url = serve_orders(files)
    run, xcoms = run_python_dag(
        airflow_db,
        "fanout_etl",
        DAG_FILE.read_text(),
        {"source-url": url, "postgres-conn-id": CONN_ID, "table": table},
        beside={"argo/fanout-etl.yaml": MANIFEST},
    )
    assert str(run.state) == "success"
    assert xcoms[("aggregate.workflow_phase", -1, "return_value")] == EXPECTED
    assert json.loads(xcoms[("customer-metrics.customer-metrics", -1, "argo")]["node"]["result"])["engine"] == (
        SPARK_ENGINE
    )
    workflow = f"fanout_etl/{run.run_id}"
    assert xcoms[("load", -1, "return_value")] == {"table": table, "rows": 6, "workflow": workflow}
    rows = loaded_rows(postgres, table)
    assert [{k: v for k, v in row.items() if k != "workflow"} for row in rows] == EXPECTED
    assert {row["workflow"] for row in rows} == {workflow}
    # The cleanup step removed the run's folder from the claim.
    assert xcoms[("cleanup.workflow_phase", -1, "argo")]["node"]["phase"] == "Succeeded"
