"""Property tests: arbitrary input never raises anything but ExpressionError, and never runs long."""

from __future__ import annotations

import math
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_argo_provider.expressions import (
    ExpressionError,
    check_template,
    depends_task_names,
    evaluate,
    evaluate_depends,
    evaluate_when,
    substitute,
    template_variables,
)
from airflow_argo_provider.expressions.gofmt import format_float_json, format_float_v, go_json
from airflow_argo_provider.expressions.regex import Regex

BOUND = 1.0
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOKENS = [
    "1",
    "2.5",
    "-",
    "+",
    "*",
    "/",
    "%",
    "**",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "?",
    "??",
    "?.",
    ".",
    "..",
    "==",
    "!=",
    "<",
    ">",
    "&&",
    "||",
    "!",
    "not",
    "in",
    "matches",
    "contains",
    "#",
    "a",
    "b",
    "x.y",
    "'s'",
    '"t"',
    "nil",
    "true",
    "len(",
    "filter(",
    "map(",
    "sprig.add(",
    "toJson(",
    "fromJSON(",
    "let",
    "=",
    ";",
    "|",
    "1..5",
    "'(a+)+$'",
    "`r`",
    "upper(",
    " ",
]
ENV: dict[str, Any] = {"a": [1, 2, 3], "b": {"c": "d"}, "x": {"y": 5}, "s": "text"}


def _timed(call: Any) -> None:
    start = time.monotonic()
    try:
        call()
    except ExpressionError:
        pass
    assert time.monotonic() - start < BOUND


@SETTINGS
@given(st.text(max_size=200))
def test_evaluate_random_text(text: str) -> None:
    _timed(lambda: evaluate(text, ENV))


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_evaluate_token_soup(text: str) -> None:
    _timed(lambda: evaluate(text, ENV))


@SETTINGS
@given(st.text(max_size=200))
def test_when_random_text(text: str) -> None:
    _timed(lambda: evaluate_when(text))


@SETTINGS
@given(
    st.lists(
        st.sampled_from(
            [
                "a",
                "b",
                "1",
                "'x'",
                "==",
                "!=",
                "<",
                "=~",
                "&&",
                "||",
                "!",
                "(",
                ")",
                ",",
                "in",
                "-",
                "+",
                "?",
                ":",
                "'2024-01-01'",
                "0x1f",
                "[p]",
                " ",
            ]
        ),
        max_size=30,
    ).map(" ".join)
)
def test_when_token_soup(text: str) -> None:
    _timed(lambda: evaluate_when(text))


@SETTINGS
@given(
    st.text(max_size=200),
    st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=5),
    st.booleans(),
)
def test_substitute_random_text(text: str, scope: dict[str, str], strict: bool) -> None:
    _timed(lambda: substitute(text, scope, strict=strict))
    _timed(lambda: check_template(text))
    try:
        template_variables(text)
    except ExpressionError:
        pass


@SETTINGS
@given(
    st.text(max_size=100),
    st.dictionaries(
        st.text(max_size=10),
        st.sampled_from(["Succeeded", "Failed", "Error", "Skipped", "Omitted", "Daemoned", "Running"]),
        max_size=4,
    ),
)
def test_depends_random_text(text: str, results: dict[str, str]) -> None:
    _timed(lambda: evaluate_depends(text, results))
    _timed(lambda: depends_task_names(text))


@SETTINGS
@given(st.text(alphabet="ab()|*+?.[]^$\\{},0-9", max_size=30), st.text(alphabet="ab01", max_size=300))
def test_regex_never_blows_up(pattern: str, text: str) -> None:
    try:
        regex = Regex(pattern)
    except ExpressionError:
        return
    start = time.monotonic()
    regex.search(text)
    regex.find_all(text)
    assert time.monotonic() - start < BOUND


@SETTINGS
@given(st.integers(-(2**40), 2**40), st.integers(-(2**40), 2**40), st.sampled_from(["+", "-", "*"]))
def test_integer_arithmetic_matches_python(a: int, b: int, op: str) -> None:
    expected = {"+": a + b, "-": a - b, "*": a * b}[op]
    expected = (expected + 2**63) % 2**64 - 2**63
    assert evaluate(f"x {op} y", {"x": a, "y": b}) == expected


@SETTINGS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_formats_round_trip(value: float) -> None:
    assert float(format_float_json(value)) == value
    assert float(format_float_v(value)) == value
    if math.isfinite(value) and abs(value) < 1e21 and value == int(value):
        assert "e" not in format_float_json(value)


@SETTINGS
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=10),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
        max_leaves=20,
    )
)
def test_go_json_is_valid_json_with_sorted_keys(value: Any) -> None:
    import json

    encoded = go_json(value)
    assert json.loads(encoded) == value
    assert "<" not in encoded and ">" not in encoded and "&" not in encoded
