"""Table-driven conformance suite: the cases live in ``cases/*.yaml``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_argo_provider.expressions import (
    ExpressionError,
    aggregate_parameters,
    aggregate_results,
    dependencies_to_depends,
    depends_task_names,
    evaluate,
    evaluate_depends,
    evaluate_when,
    substitute,
    template_variables,
)

CASES = Path(__file__).parent / "cases"


def _load(name: str) -> dict[str, Any]:
    with (CASES / name).open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    assert isinstance(data, dict)
    return data


def _params(name: str) -> list[Any]:
    data = _load(name)
    return [
        pytest.param(case, data.get("env") or data.get("scope") or {}, id=f"{i}")
        for i, case in enumerate(data["cases"])
    ]


def _same(actual: Any, expected: Any) -> bool:
    """Equality that also tells ints from floats and bools from numbers."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, float):
        if not isinstance(actual, float):
            return False
        return actual == expected or (math.isnan(actual) and math.isnan(expected))
    if isinstance(expected, int):
        return type(actual) is int and actual == expected
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_same(a, e) for a, e in zip(actual, expected))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(_same(actual[k], v) for k, v in expected.items())
        )
    return bool(actual == expected)


def _check(case: dict[str, Any], call: Any) -> None:
    if "error" in case:
        with pytest.raises(ExpressionError) as info:
            call()
        assert case["error"] in str(info.value), str(info.value)
    else:
        result = call()
        assert _same(result, case["expect"]), f"got {result!r}, expected {case['expect']!r}"


@pytest.mark.parametrize(("case", "env"), _params("expr.yaml"))
def test_expr(case: dict[str, Any], env: dict[str, Any]) -> None:
    merged = {**env, **case.get("env", {})}
    _check(case, lambda: evaluate(case["expr"], merged))


@pytest.mark.parametrize(("case", "env"), _params("when.yaml"))
def test_when(case: dict[str, Any], env: dict[str, Any]) -> None:
    text = case["when"]
    if "scope" in case:
        text = substitute(text, case["scope"])
    _check(case, lambda: evaluate_when(text))


@pytest.mark.parametrize(("case", "env"), _params("depends.yaml"))
def test_depends(case: dict[str, Any], env: dict[str, Any]) -> None:
    continue_on = {k: tuple(v) for k, v in case.get("continue_on", {}).items()}
    if "dependencies" in case:
        _check(case, lambda: dependencies_to_depends(case["dependencies"], continue_on or None))
    elif "names_of" in case:
        _check(case, lambda: depends_task_names(case["names_of"]))
    else:
        _check(case, lambda: evaluate_depends(case["depends"], case.get("results", {}), continue_on or None))


@pytest.mark.parametrize(("case", "scope"), _params("substitute.yaml"))
def test_substitute(case: dict[str, Any], scope: dict[str, Any]) -> None:
    merged = {**scope, **case.get("scope", {})}
    if "variables_of" in case:
        _check(case, lambda: template_variables(case["variables_of"]))
        return
    _check(case, lambda: substitute(case["text"], merged, strict=case.get("strict", True)))


@pytest.mark.parametrize(("case", "env"), _params("aggregate.yaml"))
def test_aggregate(case: dict[str, Any], env: dict[str, Any]) -> None:
    if "results" in case:
        _check(case, lambda: aggregate_results(case["results"]))
    else:
        _check(case, lambda: aggregate_parameters(case["parameters"]))
