"""Safety limits shared by every evaluator of the package.

Manifests and run-time parameters are untrusted, so every evaluation is bounded in size and in time.
The numbers are module constants so that a deployment can read them (and tests can refer to them);
they are deliberately generous for real workflows and small enough to keep one evaluation well under
a second.
"""

from __future__ import annotations

import time

from .errors import ExpressionError

#: Longest expression text accepted by ``evaluate``/``evaluate_when``/``evaluate_depends`` (characters).
MAX_EXPRESSION_LENGTH = 20_000
#: Deepest nesting of brackets/parentheses/braces in an expression, and of the parsed syntax tree
#: once associative chains such as ``a && b && c`` are flattened.
MAX_NESTING_DEPTH = 64
#: Longest string an evaluation may build (concatenation, ``repeat``, ``join``, JSON encoding...).
MAX_STRING_LENGTH = 1_000_000
#: Largest list or map an evaluation may build (ranges, concatenation, ``split``...).
MAX_COLLECTION_SIZE = 100_000
#: Deepest JSON document accepted by ``fromJSON``/``jsonpath``/``sprig.fromJson`` and produced by ``toJSON``.
MAX_JSON_DEPTH = 64
#: Longest regular-expression pattern (characters).
MAX_REGEX_PATTERN_LENGTH = 1_000
#: Longest text a regular expression is run against (characters).
MAX_REGEX_INPUT_LENGTH = 100_000
#: Largest compiled regular-expression program (instructions, after expanding ``{n,m}``).
MAX_REGEX_PROGRAM_SIZE = 5_000
#: Work units (loop iterations, regex steps, element copies) one evaluation may spend.
MAX_STEPS = 2_000_000
#: Wall-clock budget of one evaluation, in seconds.
MAX_SECONDS = 0.75
#: Number of parsed expressions kept in the LRU cache.
CACHE_SIZE = 2048


class Budget:
    """Counts the work of one evaluation and stops it when a limit is exceeded."""

    __slots__ = ("deadline", "expression", "steps")

    def __init__(self, expression: str = "") -> None:
        self.steps = 0
        self.deadline = time.monotonic() + MAX_SECONDS
        self.expression = expression

    def spend(self, units: int = 1) -> None:
        """Account for ``units`` of work; raise when the step or time budget is exhausted."""
        self.steps += units
        if self.steps > MAX_STEPS:
            raise ExpressionError(f"evaluation exceeded the work limit of {MAX_STEPS} steps", self.expression)
        if self.steps & 0x3FF == 0 or units > 1000:
            self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise ExpressionError(f"evaluation exceeded the time limit of {MAX_SECONDS} s", self.expression)


def check_string(value: str, what: str = "string", expression: str = "") -> str:
    """Return ``value`` unless it is longer than :data:`MAX_STRING_LENGTH`."""
    if len(value) > MAX_STRING_LENGTH:
        raise ExpressionError(f"{what} of {len(value)} characters exceeds the limit of {MAX_STRING_LENGTH}", expression)
    return value


def check_size(size: int, what: str = "collection", expression: str = "") -> None:
    """Raise unless a collection of ``size`` elements is within :data:`MAX_COLLECTION_SIZE`."""
    if size > MAX_COLLECTION_SIZE:
        raise ExpressionError(f"{what} of {size} elements exceeds the limit of {MAX_COLLECTION_SIZE}", expression)
