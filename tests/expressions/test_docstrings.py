"""The examples in the public docstrings are run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["exprlang", "when", "depends", "template"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"airflow_argo_provider.expressions.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
