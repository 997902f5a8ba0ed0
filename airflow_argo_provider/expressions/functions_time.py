"""Go methods of time values callable in expressions (``.Seconds()``, ``.Format(layout)``, ``.Add()``...)."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from typing import Any

from .functions_builtin import _round, _str
from .gofmt import format_duration, type_name
from .gotime import UTC, format_layout
from .values import Fail, is_map

_DURATION_METHODS: dict[str, Callable[[_dt.timedelta], Any]] = {
    "Seconds": lambda d: d.total_seconds(),
    "Minutes": lambda d: d.total_seconds() / 60,
    "Hours": lambda d: d.total_seconds() / 3600,
    "Milliseconds": lambda d: (d.days * 86_400 + d.seconds) * 1000 + d.microseconds // 1000,
    "Microseconds": lambda d: (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds,
    "Nanoseconds": lambda d: ((d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds) * 1000,
    "String": format_duration,
}


_TIME_METHODS: dict[str, Callable[[_dt.datetime], Any]] = {
    "Unix": lambda t: int(_aware(t).timestamp()),
    "UnixMilli": lambda t: int(_aware(t).timestamp() * 1000),
    "Year": lambda t: t.year,
    "Month": lambda t: t.month,
    "Day": lambda t: t.day,
    "Hour": lambda t: t.hour,
    "Minute": lambda t: t.minute,
    "Second": lambda t: t.second,
    "YearDay": lambda t: t.timetuple().tm_yday,
    "Weekday": lambda t: t.isoweekday() % 7,
    "UTC": lambda t: _aware(t).astimezone(UTC),
    "IsZero": lambda t: t.year == 1 and t.month == 1 and t.day == 1 and t.hour == 0 and t.minute == 0,
    "String": lambda t: format_layout("2006-01-02 15:04:05.999999999 -0700 MST", _aware(t)),
}


def _aware(value: _dt.datetime) -> _dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def call_method(obj: Any, method: str, args: list[Any]) -> Any:
    """The few Go methods of time values that Argo users call (``(now() - t).Seconds()``...)."""
    if isinstance(obj, _dt.timedelta):
        if method in _DURATION_METHODS and not args:
            return _DURATION_METHODS[method](obj)
        if method == "Round" or method == "Truncate":
            unit = args[0] if args and isinstance(args[0], _dt.timedelta) else None
            if unit is None or not unit:
                return obj
            count = obj / unit
            whole = _round(count) if method == "Round" else float(math.trunc(count))
            return unit * whole
    if isinstance(obj, _dt.datetime):
        if method in _TIME_METHODS and not args:
            return _TIME_METHODS[method](obj)
        if method == "Format" and len(args) == 1:
            return format_layout(_str(args[0], "Format"), obj)
        if method == "Sub" and len(args) == 1 and isinstance(args[0], _dt.datetime):
            return _aware(obj) - _aware(args[0])
        if method == "Add" and len(args) == 1 and isinstance(args[0], _dt.timedelta):
            return obj + args[0]
        if method in ("Before", "After", "Equal") and len(args) == 1 and isinstance(args[0], _dt.datetime):
            a, b = _aware(obj), _aware(args[0])
            return a < b if method == "Before" else a > b if method == "After" else a == b
    if is_map(obj) and method in obj:
        raise Fail(f"{method} is not a function")
    raise Fail(f"type {type_name(obj)} has no method {method}")
