"""What compiled workflows do while they run: Argo's semantics, without Airflow specifics."""
