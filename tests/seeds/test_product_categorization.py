"""Seed 003, product categorization: import jobs in PostgreSQL, run by UUID, end to end with the local backend.

The product files are served over HTTP from 127.0.0.1. A trigger on the test's jobs table records
every status change, so the tests see the transitions the workflow makes, not only where it ends.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.conftest import REPO, nodes_by_name
from tests.http_server import TestServer
from tests.seeds.conftest import CONN_ID, Postgres

MANIFEST = REPO / "dags" / "argo" / "product-categorization.yaml"

# Lines 2-15 of the file. Three are rejected: no sku (line 12), a duplicate sku (13), a bad price (15).
PRODUCTS = """\
sku,name,brand,size,price
KET-001,Organic Tomato Ketchup,Heinz,500 g,2.49
MLK-002,British Semi-Skimmed  Milk,Arla,1 l,1.15
SAL-003,Atlantic Salmon Fillets,,240g,4.50
BRD-004,Sourdough Loaf,Bakery Co,800g,2.20
PAS-005,Penne Rigate,Barilla,500g,1.10
CRS-006,Sea Salt Crisps,Tyrrells,6 x 25g,2.00
jce-007,Cloudy Apple Juice,,1.5 l,1.80
OAT-008,Jumbo Porridge Oats,Quaker,1kg,1.99
LMB-009,Lamb Leg Steaks,,400g,5.25
BAN-010,Ripe Bananas,,5 pack,0.99
,Mystery Product,,,1.00
KET-001,Tomato Ketchup Again,Heinz,500 g,2.49
EGG-013,Free Range Eggs,,12,2.10
CHO-014,Chocolate Digestives,McVities,400g,abc
"""

# Products none of whose names is in the training list, and the category each belongs to.
KNOWN = {
    "KET-001": "sauces-condiments",
    "MLK-002": "dairy-eggs",
    "SAL-003": "fish-seafood",
    "BRD-004": "bakery",
    "PAS-005": "pasta-rice-grains",
    "CRS-006": "snacks-sweets",
    "JCE-007": "beverages",
    "OAT-008": "breakfast-cereals",
    "LMB-009": "meat-poultry",
    "BAN-010": "fruit-vegetables",
    "EGG-013": "dairy-eggs",
}


def make_tables(postgres: Postgres) -> tuple[str, str, str]:
    """A jobs table as the manifest documents it, a results table name, and a log of status changes."""
    jobs, results, history = postgres.table("jobs"), postgres.table("results"), postgres.table("history")
    postgres.execute(
        f"""CREATE TABLE "{jobs}" (
            id uuid PRIMARY KEY, status text NOT NULL DEFAULT 'pending', file_location text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
            workflow text, products integer, categorized integer, rejected integer, error text)"""
    )
    postgres.execute(f'CREATE TABLE "{history}" (n serial PRIMARY KEY, job uuid, before text, after text)')
    postgres.execute(
        f"""CREATE FUNCTION "{history}_log"() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.status IS DISTINCT FROM OLD.status THEN
                    INSERT INTO "{history}" (job, before, after) VALUES (NEW.id, OLD.status, NEW.status);
                END IF;
                RETURN NEW;
            END $$"""
    )
    postgres.execute(
        f'CREATE TRIGGER status_log AFTER UPDATE ON "{jobs}" FOR EACH ROW EXECUTE FUNCTION "{history}_log"()'
    )
    postgres.teardown.append(f'DROP FUNCTION IF EXISTS "{history}_log"() CASCADE')
    return jobs, results, history


def new_job(postgres: Postgres, jobs: str, location: str) -> str:
    job = str(uuid.uuid4())
    postgres.execute(
        f"""INSERT INTO "{jobs}" (id, file_location, created_at, updated_at)
            VALUES (%s, %s, now() - interval '1 minute', now() - interval '1 minute')""",
        (job, location),
    )
    return job


def job_row(postgres: Postgres, jobs: str, job: str) -> dict[str, Any]:
    keys = ["status", "workflow", "products", "categorized", "rejected", "error", "updated_after_created"]
    row = postgres.rows(
        f'SELECT status, workflow, products, categorized, rejected, error, updated_at > created_at FROM "{jobs}" '
        "WHERE id = %s",
        (job,),
    )[0]
    return dict(zip(keys, row))


def transitions(postgres: Postgres, history: str, job: str) -> list[tuple[str, str]]:
    return [
        (b, a) for b, a in postgres.rows(f'SELECT before, after FROM "{history}" WHERE job = %s ORDER BY n', (job,))
    ]


def run_job(run_workflow: Any, job: str, jobs: str, results: str, batch_size: int = 4) -> dict[str, Any]:
    return run_workflow(
        MANIFEST,
        {
            "job-id": job,
            "postgres-conn-id": CONN_ID,
            "jobs-table": jobs,
            "results-table": results,
            "batch-size": str(batch_size),
        },
    )


def test_a_job_is_parsed_validated_categorized_in_batches_and_saved(
    run_workflow: Any, postgres: Postgres, files: TestServer
) -> None:
    jobs, results, history = make_tables(postgres)
    files.files["/uploads/products.csv"] = PRODUCTS.encode()
    job = new_job(postgres, jobs, files.url + "/uploads/products.csv")

    result = run_job(run_workflow, job, jobs, results)
    nodes = nodes_by_name(result)
    assert result["phase"] == "Succeeded", [(n["displayName"], n["phase"], n["message"]) for n in result["nodes"]]

    # pending -> running -> done, by this workflow, with the counts.
    assert transitions(postgres, history, job) == [("pending", "running"), ("running", "done")]
    assert job_row(postgres, jobs, job) == {
        "status": "done",
        "workflow": result["name"],
        "products": 14,
        "categorized": 11,
        "rejected": 3,
        "error": None,
        "updated_after_created": True,
    }
    assert json.loads(nodes["start"]["outputs"]["result"])["from"] == "pending"
    assert json.loads(nodes["parse"]["outputs"]["result"]) == {"format": "csv", "products": 14}
    assert json.loads(nodes["validate"]["outputs"]["result"]) == {"valid": 11, "rejected": 3}
    assert json.loads(nodes["transform"]["outputs"]["result"]) == [
        {"batch": "000", "products": 4},
        {"batch": "001", "products": 4},
        {"batch": "002", "products": 3},
    ]
    # One categorize step per batch, run from the transform's result (withParam).
    batches = [
        nodes[f"categorize({i}:batch:{b},products:{n})"]
        for i, (b, n) in enumerate([("000", 4), ("001", 4), ("002", 3)])
    ]
    assert [json.loads(b["outputs"]["result"])["products"] for b in batches] == [4, 4, 3]
    assert nodes["onExit"]["phase"] == "Succeeded"
    assert nodes["mark-failed"]["phase"] == "Skipped"  # the exit handler leaves a successful job alone

    rows = postgres.rows(
        f"SELECT line, sku, name, brand, size_value, size_unit, price, category, confidence, status, reason, workflow "
        f'FROM "{results}" WHERE job_id = %s ORDER BY line',
        (job,),
    )
    assert [r[0] for r in rows] == list(range(2, 16))
    by_sku = {r[1]: r for r in rows if r[9] == "categorized"}
    assert {sku: r[7] for sku, r in by_sku.items()} == KNOWN
    assert all(0.1 < r[8] <= 1 for r in by_sku.values())
    assert {r[11] for r in rows} == {result["name"]}
    # Transformed fields: names without doubled spaces, sizes in g/ml/pcs, prices, upper-case skus.
    assert by_sku["MLK-002"][2:7] == ("British Semi-Skimmed Milk", "Arla", 1000.0, "ml", Decimal("1.15"))
    assert by_sku["CRS-006"][4:6] == (150.0, "g")
    assert by_sku["BAN-010"][4:6] == (5.0, "pcs")
    assert by_sku["JCE-007"][3:6] == (None, 1500.0, "ml")
    rejected = {r[0]: (r[1], r[7], r[10]) for r in rows if r[9] == "rejected"}
    assert rejected == {
        12: (None, None, "no sku"),
        13: ("KET-001", None, "duplicate sku (first on line 2)"),
        15: ("CHO-014", None, "price 'abc' is not an amount"),
    }


def test_a_bad_product_file_marks_the_job_failed_with_the_reason(
    run_workflow: Any, postgres: Postgres, files: TestServer
) -> None:
    jobs, results, history = make_tables(postgres)
    files.files["/uploads/wrong.csv"] = b"id,title,cost\n1,Tomato Ketchup,2.49\n"
    job = new_job(postgres, jobs, files.url + "/uploads/wrong.csv")

    result = run_job(run_workflow, job, jobs, results)
    nodes = nodes_by_name(result)
    assert result["phase"] == "Failed"
    assert nodes["parse"]["phase"] == "Failed"
    assert nodes["validate"]["phase"] == "Omitted" and nodes["save"]["phase"] == "Omitted"
    assert nodes["mark-failed"]["phase"] == "Succeeded"

    assert transitions(postgres, history, job) == [("pending", "running"), ("running", "failed")]
    row = job_row(postgres, jobs, job)
    assert row["status"] == "failed" and row["workflow"] == result["name"]
    assert row["error"] == "parse: the product file has no column sku or name (its header: id,title,cost)"
    assert row["products"] is None
    assert not postgres.exists(results)  # nothing was saved


def test_a_json_product_file_and_a_job_that_is_already_done(
    run_workflow: Any, postgres: Postgres, files: TestServer
) -> None:
    jobs, results, history = make_tables(postgres)
    products = [
        {"sku": "A1", "name": "Smoked Haddock Fillets", "size": "2 x 200g", "price": 3.5},
        {"sku": "A2", "name": "Wholemeal Bread Rolls", "brand": "Village Bakery"},
    ]
    files.files["/uploads/products.json"] = json.dumps(products).encode()
    job = new_job(postgres, jobs, files.url + "/uploads/products.json")

    first = run_job(run_workflow, job, jobs, results, batch_size=25)
    assert first["phase"] == "Succeeded"
    assert json.loads(nodes_by_name(first)["parse"]["outputs"]["result"]) == {"format": "json", "products": 2}
    saved = postgres.rows(
        f'SELECT sku, category, size_value, size_unit, price FROM "{results}" WHERE job_id = %s ORDER BY line', (job,)
    )
    assert [tuple(r[:4]) for r in saved] == [("A1", "fish-seafood", 400.0, "g"), ("A2", "bakery", None, None)]
    assert float(saved[0][4]) == 3.5

    # Running a job that is done fails at the start and leaves the job as it was.
    second = run_job(run_workflow, job, jobs, results)
    nodes = nodes_by_name(second)
    assert second["phase"] == "Failed" and nodes["start"]["phase"] == "Failed"
    assert nodes["mark-failed"]["phase"] == "Succeeded"
    assert json.loads(nodes["mark-failed"]["outputs"]["result"])["status"] == "unchanged"
    assert transitions(postgres, history, job) == [("pending", "running"), ("running", "done")]
    row = job_row(postgres, jobs, job)
    assert (row["status"], row["workflow"], row["products"]) == ("done", first["name"], 2)


def test_an_unknown_job_fails_with_a_clear_message(run_workflow: Any, postgres: Postgres, tmp_path: Path) -> None:
    jobs, results, _ = make_tables(postgres)
    missing = str(uuid.uuid4())
    result = run_job(run_workflow, missing, jobs, results)
    nodes = nodes_by_name(result)
    assert result["phase"] == "Failed"
    mark = json.loads(nodes["mark-failed"]["outputs"]["result"])
    assert mark["status"] == "unchanged"
    assert mark["error"] == f"start: there is no import job {missing} in {jobs}"
