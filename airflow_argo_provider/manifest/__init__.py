"""Manifest front end: read Argo YAML into hera models, strictly checked.

>>> from airflow_argo_provider.manifest import load_paths
>>> mset = load_paths("dags/argo")            # doctest: +SKIP
>>> [p.format() for p in mset.errors]         # doctest: +SKIP
"""

from __future__ import annotations

from airflow_argo_provider.manifest.loader import Manifest, ManifestSet, load_paths, load_text
from airflow_argo_provider.manifest.problems import CODES, Code, ManifestError, Problem

__all__ = ["CODES", "Code", "Manifest", "ManifestError", "ManifestSet", "Problem", "load_paths", "load_text"]
