"""From a plan to Airflow objects: the DAG, its task groups, and the operators per backend."""
