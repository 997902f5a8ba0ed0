"""The ``airflow-argo`` command line."""
