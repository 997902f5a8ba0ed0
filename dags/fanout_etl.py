"""Fan-out ETL written in Python with airflow-argo-provider's API: the pipeline of argo/fanout-etl.yaml.

    ingest >> [clean, customer_metrics, features] >> merge >> aggregate >> [load, cleanup]

Each step but the load is an Argo script step in a task group of its own (``argo_task_group``): a
pod on Kubernetes, a local process in the local backend. The step programs are the manifest's
(read from ``argo/fanout-etl.yaml`` when the DAG is parsed), so both versions compute the same
thing; what this file shows is the same pipeline put together in Python: retry strategies on an
Argo step and on a plain Airflow task, steps running in parallel, and the aggregate's result
(``aggregate.output``) handed to an ordinary ``@task`` that loads it with Airflow's postgres
provider.

The steps share files through an existing volume claim (``fanout-etl-data``, ReadWriteMany on a
cluster with more than one node; a folder of the local backend's work directory otherwise), each
run in its own folder ``runs/<workflow uid>``, removed by the ``cleanup`` step after the aggregate
(a failed run keeps its files for inspection).

Trigger with ``{"source-url": "https://.../orders.csv"}``; ``postgres-conn-id`` and ``table`` have
defaults.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from airflow.sdk import DAG, Param, get_current_context, task

from airflow_argo_provider import Backoff, Container, RetryStrategy, Script, argo_task_group

MANIFEST = Path(__file__).resolve().parent / "argo" / "fanout-etl.yaml"
CLAIM = "fanout-etl-data"
VOLUMES = {"volumes": [{"name": "work", "persistentVolumeClaim": {"claimName": CLAIM}}]}
RUN_FOLDER = "runs/{{workflow.uid}}"
COLUMNS = [
    "region",
    "month",
    "orders",
    "units",
    "revenue",
    "customers",
    "avg_order_value",
    "high_value_orders",
    "weekend_orders",
]


def _manifest_scripts() -> dict[str, dict[str, Any]]:
    """The ``script`` of every template of the manifest, by template name."""
    with MANIFEST.open(encoding="utf-8") as handle:
        workflow = yaml.safe_load(handle)
    return {t["name"]: t["script"] for t in workflow["spec"]["templates"] if "script" in t}


SCRIPTS = _manifest_scripts()


def step(name: str, env: dict[str, str] | None = None) -> Script:
    """The manifest's step ``name`` working in this run's folder of the claim (mounted at /mnt/data)."""
    script = SCRIPTS[name]
    return Script(
        image=script["image"],
        command=script["command"],
        source=script["source"],
        env=env,
        resources=script.get("resources"),
        volume_mounts=[{"name": "work", "mountPath": "/mnt/data", "subPath": RUN_FOLDER}],
        extra=VOLUMES,
    )


with DAG(
    "fanout_etl",
    schedule=None,
    catchup=False,
    tags=["argo", "example", "python-api"],
    doc_md=__doc__,
    params={
        "source-url": Param("", type="string", description="HTTP(S) URL of the orders CSV to ingest"),
        "postgres-conn-id": Param("postgres_default", type="string", description="Airflow PostgreSQL connection"),
        "table": Param("etl_region_month", type="string", description="table that receives the aggregate"),
    },
):
    # Exit code 75 means "try again later" (connection errors, HTTP 408/429/5xx): only that is retried.
    ingest = argo_task_group(
        "ingest",
        step("ingest", env={"SOURCE_URL": "{{workflow.parameters.source-url}}"}),
        parameters={"source-url": ""},
        retry_strategy=RetryStrategy(
            limit=3, policy="Always", expression="asInt(lastRetry.exitCode) == 75", backoff=Backoff("2s", 2)
        ),
    )
    transformers = [argo_task_group(name, step(name)) for name in ("clean", "customer-metrics", "features")]
    merge = argo_task_group("merge", step("merge"))
    aggregate = argo_task_group("aggregate", step("aggregate"))
    cleanup = argo_task_group(
        "cleanup",
        Container(
            image="busybox:1.36",
            command=["rm", "-rf", f"/mnt/claim/{RUN_FOLDER}"],
            volume_mounts=[{"name": "work", "mountPath": "/mnt/claim"}],
            extra=VOLUMES,
        ),
    )

    @task(**RetryStrategy(limit=2, backoff=Backoff("5s")).airflow_kwargs())
    def load(rows: list[dict[str, Any]]) -> dict[str, Any]:
        """The aggregate (``aggregate.output``) into PostgreSQL, replacing what this run loaded before."""
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        context = get_current_context()
        params = context["params"]
        table = str(params["table"]).strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", table):
            raise ValueError(f"table must be NAME or SCHEMA.NAME (letters, digits, _), not {table!r}")
        quoted = ".".join(f'"{part}"' for part in table.split("."))
        workflow = f"{context['dag'].dag_id}/{context['run_id']}"
        hook = PostgresHook(postgres_conn_id=params["postgres-conn-id"])
        hook.run(
            f"""CREATE TABLE IF NOT EXISTS {quoted} (
                region text NOT NULL, month text NOT NULL, orders integer NOT NULL, units integer NOT NULL,
                revenue numeric(14, 2) NOT NULL, customers integer NOT NULL, avg_order_value numeric(14, 2) NOT NULL,
                high_value_orders integer NOT NULL, weekend_orders integer NOT NULL,
                workflow text NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (workflow, region, month))"""
        )
        hook.run(f"DELETE FROM {quoted} WHERE workflow = %s", parameters=(workflow,))
        hook.insert_rows(
            table=quoted,
            rows=[[row[c] for c in COLUMNS] + [workflow] for row in rows],
            target_fields=[*COLUMNS, "workflow"],
        )
        return {"table": table, "rows": len(rows), "workflow": workflow}

    loaded = load(aggregate.output)

    for transformer in transformers:
        ingest >> transformer >> merge
    merge >> aggregate >> cleanup
