"""Argo's durations (``"5s"``, ``"1m30s"``, ``"2h"``, ``"1d"``, or a number of seconds).

Read when manifests are checked (a malformed ``retryStrategy`` or ``suspend`` duration is a problem
with a line) and when steps run (retry backoff, suspend, deadlines), so both agree on what a duration
means.
"""

from __future__ import annotations

import re

__all__ = ["DurationError", "parse_duration"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class DurationError(ValueError):
    pass


def parse_duration(text: str | int | float | None) -> float | None:
    """Seconds in an Argo duration: ``"5s"``, ``"1m30s"``, ``"2h"``, ``"1d"``, or a bare number of seconds."""
    if text is None or text == "":
        return None
    if isinstance(text, (int, float)):
        return float(text)
    raw = str(text).strip()
    try:
        return float(raw)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _DURATION.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(raw) or pos == 0:
        raise DurationError(f"invalid duration {raw!r} (use e.g. 5s, 1m30s, 2h)")
    return total
