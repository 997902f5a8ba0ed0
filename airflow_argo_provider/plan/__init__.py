"""The plan: a workflow as plain data (no Airflow), between the manifest and the DAG."""

from airflow_argo_provider.plan.build import build_plan
from airflow_argo_provider.plan.model import Loop, Node, ParamSpec, Plan, Schedule

__all__ = ["Loop", "Node", "ParamSpec", "Plan", "Schedule", "build_plan"]
