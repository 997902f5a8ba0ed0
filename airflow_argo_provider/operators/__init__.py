"""Airflow operators that run the nodes of Argo workflows."""
