"""Every Argo manifest under dags/argo/ as an Airflow DAG (see README: "Running in Airflow")."""

from airflow_argo_provider import load_workflows

globals().update(load_workflows("argo/"))
