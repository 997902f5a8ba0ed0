"""Every function that builds strings or lists checks the size it is about to build before building it.

Each expr-lang builtin and each sprig function is called with large arguments (long strings with many
lines, huge counts, long lists): every call ends within the evaluation's time budget with a value or an
``ExpressionError``, and never allocates much more than the limits allow.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from airflow_argo_provider.expressions import ExpressionError, evaluate
from airflow_argo_provider.expressions.functions import _BUILTINS, _SPRIG_SPECS
from airflow_argo_provider.expressions.limits import MAX_SECONDS

LARGE: dict[str, Any] = {
    "text": ("line of text\n" * 30_000)[:300_000],  # well under the string limit, many newlines
    "count": 1_000_000_000,
    "items": list(range(50_000)),
    "words": ["word"] * 50_000,
    "small": "ab",
}
ARGUMENTS = sorted(LARGE)
SLACK = 1.5  # seconds over the evaluation budget for the harness itself
MEMORY_MB = 300


def _rss_peak_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# Argument lists that reach every way a function builds: long text first or second, a huge count with
# text, long lists, and the three-argument forms (sprig's order puts the text last).
_SHAPES = [
    ("text",),
    ("count",),
    ("items",),
    ("words",),
    ("count", "text"),
    ("text", "count"),
    ("text", "text"),
    ("small", "text"),
    ("text", "small"),
    ("items", "items"),
    ("words", "small"),
    ("small", "words"),
    ("count", "count"),
    ("count", "count", "text"),
    ("small", "text", "text"),
    ("text", "small", "count"),
    ("text", "text", "text"),
]


def _calls(name: str, predicate: bool) -> list[str]:
    if predicate:
        return [f"{name}(items, {{# + 1}})", f"{name}(words, {{# + small}})"]
    return [f"{name}({', '.join(shape)})" for shape in _SHAPES]


FUNCTIONS = sorted(
    [(name, spec.predicate) for name, spec in _BUILTINS.items() if name not in ("now",)]
    + [(f"sprig.{name}", False) for name in _SPRIG_SPECS]
)


@pytest.mark.parametrize(("name", "predicate"), FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_functions_stay_within_their_limits_whatever_the_arguments(name: str, predicate: bool) -> None:
    measurable = _reset_peak()
    before = _rss_peak_mb() if measurable else None
    slow: list[str] = []
    for call in _calls(name, predicate):
        start = time.monotonic()
        try:
            evaluate(call, LARGE)
        except ExpressionError:
            pass
        elapsed = time.monotonic() - start
        if elapsed > MAX_SECONDS + SLACK:
            slow.append(f"{call}: {elapsed:.2f} s")
    assert not slow, slow
    if measurable and before is not None:
        peak = _rss_peak_mb()
        assert peak is not None and peak - before < MEMORY_MB, f"{name}: {peak - before:.0f} MB"


def test_indent_checks_the_size_before_building() -> None:
    """sprig.indent/nindent once built a 1.9 GB string (2.8 s) before the size check."""
    start = time.monotonic()
    for fn in ("indent", "nindent"):
        with pytest.raises(ExpressionError, match="exceeds the limit"):
            evaluate(f"sprig.{fn}(count, text)", LARGE)
    assert time.monotonic() - start < MAX_SECONDS


def test_sprig_round_is_gos() -> None:
    """math.Pow(10, places) is a float (a huge ``places`` once computed a billion-digit integer), and
    the fractional part decides the rounding, as in sprig."""
    assert evaluate("sprig.round(3.14159, 2)", {}) == 3.14
    assert evaluate("sprig.round(123.5555, 3)", {}) == 123.556
    assert evaluate("sprig.round(-3.7, 0)", {}) == -4.0
    start = time.monotonic()
    evaluate("sprig.round(1.5, 1000000000)", {})
    assert time.monotonic() - start < 0.1
