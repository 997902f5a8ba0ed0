"""The plan: a workflow as plain data (no Airflow), between the manifest and the DAG.

``plan.model`` holds the dataclasses, ``plan.build`` makes a plan from a checked manifest,
``plan.cache`` keeps compiled plans between DAG-file parses (Argo's synchronization as Airflow
pools is ``manifest.locks``, shared with the checks), ``plan.printer`` prints a plan as a tree.
"""
