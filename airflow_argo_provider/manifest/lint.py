"""Values ``argo lint`` rejects, checked the way Argo's ``workflow/validate`` checks them.

Enumerations (``retryStrategy.retryPolicy``, ``podGC.strategy``, a CronWorkflow's
``concurrencyPolicy``), literal ``withSequence`` numbers (Argo reads them with ``strconv.Atoi``),
CronWorkflow schedules (robfig/cron's standard five fields or a descriptor, as Argo parses them, and
what Airflow's cron timetable can run), time zones and ``startingDeadlineSeconds``. A value written as
a ``{{...}}`` tag is left to run time, as Argo leaves it. Each finding keeps a did-you-mean suggestion.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from airflow_argo_provider.manifest.yaml_source import Path

Finding = tuple[Path, str, str]

RETRY_POLICIES = ("Always", "OnError", "OnFailure", "OnTransientError")
POD_GC_STRATEGIES = ("OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion", "OnWorkflowSuccess")
CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
# robfig/cron's standard fields: (name, lowest, highest, names).
_MONTHS = {
    m: i + 1 for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
_INTEGER = re.compile(r"^[+-]?\d+$")


def _suggest(value: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.5)
    return f"; did you mean {close[0]}?" if close else ""


def _enum(value: Any, known: tuple[str, ...], what: str, path: Path) -> Iterator[Finding]:
    if value in (None, "") or (isinstance(value, str) and "{{" in value):
        return
    if value not in known:
        yield (
            path,
            "AAP033",
            f"{value!r} is not a valid {what} (one of {', '.join(known)}){_suggest(str(value), known)}",
        )


def _templates(spec: Mapping[str, Any], spec_path: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    pending: list[tuple[Any, Path]] = [
        (t, (*spec_path, "templates", i)) for i, t in enumerate(spec.get("templates") or [])
    ]
    if isinstance(spec.get("templateDefaults"), dict):
        pending.append((spec["templateDefaults"], (*spec_path, "templateDefaults")))
    while pending:
        template, path = pending.pop(0)
        if not isinstance(template, dict):
            continue
        yield template, path
        for invocation, at in invocations(template, path):
            if isinstance(invocation.get("inline"), dict):
                pending.append((invocation["inline"], (*at, "inline")))


def invocations(template: Mapping[str, Any], path: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """The steps and DAG tasks of a template (raw), with their paths."""
    for g, group in enumerate(template.get("steps") or []):
        for s, step in enumerate(group if isinstance(group, list) else []):
            if isinstance(step, dict):
                yield step, (*path, "steps", g, s)
    dag = template.get("dag")
    for t, task in enumerate((dag.get("tasks") or []) if isinstance(dag, dict) else []):
        if isinstance(task, dict):
            yield task, (*path, "dag", "tasks", t)


def _sequence(sequence: Any, path: Path) -> Iterator[Finding]:
    if not isinstance(sequence, dict):
        return
    for key in ("count", "start", "end"):
        value = sequence.get(key)
        if value is None or isinstance(value, str) and "{{" in value:
            continue
        text = str(value).strip() if not isinstance(value, bool) else "bool"
        if isinstance(value, float) or not _INTEGER.match(text):
            yield (*path, key), "AAP030", f"withSequence.{key} must be a whole number (got {value!r})"
        elif key == "count" and int(text) < 0:
            yield (*path, key), "AAP030", f"withSequence.count cannot be negative (got {value!r})"


def spec_findings(spec: Mapping[str, Any], spec_path: Path) -> Iterator[Finding]:
    """Findings of a workflow spec: retry policies, pod GC strategy, literal sequences."""
    if isinstance(spec.get("retryStrategy"), dict):
        yield from _enum(
            spec["retryStrategy"].get("retryPolicy"),
            RETRY_POLICIES,
            "retryPolicy",
            (*spec_path, "retryStrategy", "retryPolicy"),
        )
    if isinstance(spec.get("podGC"), dict):
        yield from _enum(
            spec["podGC"].get("strategy"), POD_GC_STRATEGIES, "podGC.strategy", (*spec_path, "podGC", "strategy")
        )
    for template, path in _templates(spec, spec_path):
        retry = template.get("retryStrategy")
        if isinstance(retry, dict):
            yield from _enum(
                retry.get("retryPolicy"), RETRY_POLICIES, "retryPolicy", (*path, "retryStrategy", "retryPolicy")
            )
        for invocation, at in invocations(template, path):
            yield from _sequence(invocation.get("withSequence"), (*at, "withSequence"))


def cron_findings(cron: Mapping[str, Any], path: Path) -> Iterator[Finding]:
    """A CronWorkflow's own settings (``path`` is its ``spec``)."""
    schedules = cron.get("schedules")
    if not isinstance(schedules, list) or not schedules:
        yield (*path, "schedules"), "AAP035", "a CronWorkflow needs at least one schedule"
        schedules = []
    for index, schedule in enumerate(schedules):
        error = schedule_error(schedule)
        if error:
            yield (*path, "schedules", index), "AAP035", f"cron schedule {schedule!r} is malformed: {error}"
    zone = cron.get("timezone")
    if zone not in (None, ""):
        error = timezone_error(str(zone))
        if error:
            yield (*path, "timezone"), "AAP035", f"invalid timezone {zone!r}: {error}"
    yield from _enum(
        cron.get("concurrencyPolicy"), CONCURRENCY_POLICIES, "concurrencyPolicy", (*path, "concurrencyPolicy")
    )
    deadline = cron.get("startingDeadlineSeconds")
    if isinstance(deadline, int) and not isinstance(deadline, bool) and deadline < 0:
        yield (*path, "startingDeadlineSeconds"), "AAP033", "startingDeadlineSeconds must be positive"


def timezone_error(zone: str) -> str | None:
    import zoneinfo

    if zone in ("UTC", "Local"):
        return None
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        return f"unknown time zone ({type(exc).__name__})"
    return None


def schedule_error(schedule: Any) -> str | None:
    """Why robfig/cron's ``ParseStandard`` (or Airflow's cron timetable) would refuse ``schedule``."""
    if not isinstance(schedule, str) or not schedule.strip():
        return "empty schedule"
    text = schedule.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        zone, _, text = text.partition(" ")
        error = timezone_error(zone.split("=", 1)[1])
        if error:
            return error
        return "a time zone inside the schedule is not supported here: use spec.timezone"
    if text.startswith("@"):
        if text in _DESCRIPTORS:
            return None
        if text.startswith("@every"):
            return "@every schedules are not supported by Airflow's cron timetable; use five cron fields"
        return f"unrecognized descriptor {text!r} (one of {', '.join(_DESCRIPTORS)})"
    fields = text.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: {text!r}"
    for value, (name, low, high, names) in zip(fields, _FIELDS):
        error = _field_error(value, name, low, high, names)
        if error:
            return error
    return None


def _number(text: str, names: Mapping[str, int], name: str) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ValueError(f"failed to parse {text!r} in the {name} field")
    return int(text)


def _field_error(value: str, name: str, low: int, high: int, names: Mapping[str, int]) -> str | None:
    for part in value.split(","):
        body, _, step = part.partition("/")
        try:
            if step and (not step.isdigit() or int(step) == 0):
                return f"step {step!r} in the {name} field must be a positive number"
            if body in ("*", "?"):
                continue
            start_text, dash, end_text = body.partition("-")
            start = _number(start_text, names, name)
            end = _number(end_text, names, name) if dash else start
        except ValueError as exc:
            return str(exc)
        if start < low or end > high:
            return f"{name} {body!r} is outside {low}-{high}"
        if start > end:
            return f"{name} range {body!r} starts after it ends"
    return None
