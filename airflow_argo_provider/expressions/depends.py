"""DAG ``depends`` logic, as Argo's ``workflow/common/dependencies.go`` and ``controller/dag.go`` do it.

Task names are found with Argo's regular expressions; a bare name ``A`` is expanded to
``(A.Succeeded || A.Skipped || A.Daemoned)`` plus ``|| A.Errored`` / ``|| A.Failed`` when task A has
``continueOn.error`` / ``continueOn.failed`` (the same expansion ``dependencies: [A]`` gets); the
result is evaluated with expr-lang against one record of booleans per task.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

from .errors import ExpressionError
from .exprlang import compile_expression, run

__all__ = ["dependencies_to_depends", "depends_task_names", "evaluate_depends"]

# Argo's taskNameRegex / taskResultRegex.
_TASK_NAME = re.compile(r"([a-zA-Z0-9][-a-zA-Z0-9]*?\.[A-Z][a-zA-Z]+)|([a-zA-Z0-9][-a-zA-Z0-9]*)")
_RESULTS = ("Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed")
_PHASES = ("Succeeded", "Failed", "Error", "Skipped", "Omitted", "Daemoned")

ContinueOn = Mapping[str, tuple[bool, bool]]


def _expand(name: str, continue_on: ContinueOn | None) -> str:
    parts = [f"{name}.Succeeded", f"{name}.Skipped", f"{name}.Daemoned"]
    failed, error = (continue_on or {}).get(name, (False, False))
    if error:
        parts.append(f"{name}.Errored")
    if failed:
        parts.append(f"{name}.Failed")
    return "(" + " || ".join(parts) + ")"


def dependencies_to_depends(names: Sequence[str], continue_on: ContinueOn | None = None) -> str:
    """Argo's conversion of ``dependencies: [A, B]`` into a ``depends`` expression.

    ``continue_on`` maps a dependency's name to ``(continueOn.failed, continueOn.error)`` of that
    dependency task.

    >>> dependencies_to_depends(["A", "B"])
    '(A.Succeeded || A.Skipped || A.Daemoned) && (B.Succeeded || B.Skipped || B.Daemoned)'
    >>> dependencies_to_depends(["A"], {"A": (True, True)})
    '(A.Succeeded || A.Skipped || A.Daemoned || A.Errored || A.Failed)'
    """
    return " && ".join(_expand(name, continue_on) for name in names)


def _scan(expression: str) -> list[tuple[str, str | None, int, int]]:
    """(task, result or None, start, end) for every task reference, in order."""
    refs: list[tuple[str, str | None, int, int]] = []
    for match in _TASK_NAME.finditer(expression):
        if match.group(1):
            task, result = match.group(1).split(".", 1)
            refs.append((task, result, match.start(1), match.end(1)))
        else:
            refs.append((match.group(2), None, match.start(2), match.end(2)))
    return refs


def _validated(expression: str) -> list[tuple[str, str | None, int, int]]:
    if not isinstance(expression, str):
        raise ExpressionError(f"depends must be a string, not {type(expression).__name__}")
    refs = _scan(expression)
    for task, result, start, _end in refs:
        if result is not None and result not in _RESULTS:
            raise ExpressionError(f"task result '{result}' for task '{task}' is invalid", expression, start)
    return refs


def depends_task_names(expression: str) -> list[str]:
    """Task names a ``depends`` expression mentions, in order of first appearance.

    >>> depends_task_names("(fetch-a.Succeeded || fetch-b) && !cleanup.Failed")
    ['fetch-a', 'fetch-b', 'cleanup']

    Raises :class:`ExpressionError` for an invalid result (``A.Finished``) or bad syntax.
    """
    return list(_task_names(expression))


@functools.lru_cache(maxsize=4096)
def _task_names(expression: str) -> tuple[str, ...]:
    refs = _validated(expression)
    names: list[str] = []
    for task, _result, _start, _end in refs:
        if task not in names:
            names.append(task)
    _compile(expression, refs, None)
    return tuple(names)


def _ident(task: str) -> str:
    # Argo replaces "-" by "_"; a hex form is collision-free and valid even for names starting with a digit.
    return "t" + task.encode("utf-8").hex()


def _compile(expression: str, refs: list[tuple[str, str | None, int, int]], continue_on: ContinueOn | None) -> str:
    out: list[str] = []
    last = 0
    for task, result, start, end in refs:
        out.append(expression[last:start])
        if result is None:
            expanded = _expand(task, continue_on)
            out.append(re.sub(r"([a-zA-Z0-9][-a-zA-Z0-9]*)\.", lambda m: _ident(m.group(1)) + ".", expanded))
        else:
            out.append(f"{_ident(task)}.{result}")
        last = end
    out.append(expression[last:])
    rewritten = "".join(out)
    try:
        compile_expression(rewritten)
    except ExpressionError as exc:
        raise ExpressionError(f"invalid depends expression: {exc.message}", expression) from None
    return rewritten


def _task_results(task: str, value: str | Sequence[str], expression: str) -> dict[str, bool]:
    if isinstance(value, str):
        phase = value
        any_succeeded = all_failed = False
    else:
        children = list(value)
        for child in children:
            if child not in _PHASES:
                raise ExpressionError(
                    f"task '{task}' has a child in phase {child!r}, which is not finished", expression
                )
        if not children:
            phase = "Skipped"  # Argo: "Skipped, empty params"
        else:
            phase = "Succeeded"
            for child in children:
                if child in ("Failed", "Error"):
                    phase = child  # the last failed or errored child decides, as in Argo's executeDAGTask
        any_succeeded = any(child == "Succeeded" for child in children)
        all_failed = bool(children) and all(child == "Failed" for child in children)
    if phase not in _PHASES:
        raise ExpressionError(f"task '{task}' is in phase {phase!r}, which is not finished", expression)
    return {
        "Succeeded": phase == "Succeeded",
        "Failed": phase == "Failed",
        "Errored": phase == "Error",
        "Skipped": phase == "Skipped",
        "Omitted": phase == "Omitted",
        "Daemoned": phase == "Daemoned",
        "AnySucceeded": any_succeeded,
        "AllFailed": all_failed,
    }


def evaluate_depends(
    expression: str,
    results: Mapping[str, str | Sequence[str]],
    continue_on: ContinueOn | None = None,
) -> bool:
    """Whether a DAG task whose ``depends`` is ``expression`` should run, given its dependencies' results.

    ``results`` maps a task name to its node phase (``Succeeded``, ``Failed``, ``Error``, ``Skipped``,
    ``Omitted``, ``Daemoned``) or, for a fanned-out task, to the list of its children's phases.
    ``continue_on`` (optional) maps a task name to ``(continueOn.failed, continueOn.error)``: it widens
    a bare name exactly as Argo does.

    >>> evaluate_depends("A && B.Failed", {"A": "Skipped", "B": "Failed"})
    True
    >>> evaluate_depends("fan.AnySucceeded", {"fan": ["Failed", "Succeeded"]})
    True

    Every task mentioned must be in ``results`` (Argo waits until it is finished): a missing one
    raises :class:`ExpressionError`, as does a phase that is not finished.
    """
    refs = _validated(expression)
    rewritten = _compile(expression, refs, continue_on)
    env: dict[str, dict[str, bool]] = {}
    for task, _result, start, _end in refs:
        ident = _ident(task)
        if ident in env:
            continue
        if task not in results:
            raise ExpressionError(f"task '{task}' has no result (it has not finished)", expression, start)
        env[ident] = _task_results(task, results[task], expression)
    try:
        value = run(compile_expression(rewritten), rewritten, env)
    except ExpressionError as exc:
        raise ExpressionError(exc.message, expression) from None
    if not isinstance(value, bool):
        raise ExpressionError(f"depends expression must give a bool, not {value!r}", expression)
    return value
