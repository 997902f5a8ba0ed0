"""Argo's expression languages and ``{{...}}`` substitution, exact and safe.

This package is a leaf of the provider: it imports nothing from Airflow (only the standard library and
``lark``). Everything that evaluates Argo text goes through it:

* :func:`evaluate` - expr-lang (the language of ``{{=...}}`` tags, ``depends``, lifecycle hooks, retry
  ``expression``, ``valueFrom.expression`` and HTTP ``successCondition``);
* :func:`evaluate_when` - ``when:`` conditions, with govaluate's semantics as Argo applies them;
* :func:`evaluate_depends`, :func:`dependencies_to_depends`, :func:`depends_task_names` - DAG dependencies;
* :func:`substitute`, :func:`template_variables`, :func:`check_template` - ``{{...}}`` tags;
* :func:`aggregate_results`, :func:`aggregate_parameters` - fan-in of fanned-out tasks' outputs.

Every failure raises :class:`ExpressionError` and nothing else. See ``docs/expressions.md``.
"""

from __future__ import annotations

from .depends import dependencies_to_depends, depends_task_names, evaluate_depends
from .errors import ExpressionError
from .exprlang import evaluate
from .gofmt import render_value
from .template import aggregate_parameters, aggregate_results, check_template, substitute, template_variables
from .when import evaluate_when

__all__ = [
    "ExpressionError",
    "aggregate_parameters",
    "aggregate_results",
    "check_template",
    "dependencies_to_depends",
    "depends_task_names",
    "evaluate",
    "evaluate_depends",
    "evaluate_when",
    "render_value",
    "substitute",
    "template_variables",
]
