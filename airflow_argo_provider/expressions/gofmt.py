"""Rendering values the way Argo's Go code does.

Argo keeps parameter values as strings and renders everything else with Go's ``encoding/json``
(``json.Marshal``: compact, map keys sorted, ``<``, ``>``, ``&`` escaped as ``\\u003c`` etc.) or with
``fmt``'s ``%v``. This module reproduces both, plus a bounded JSON reader that behaves like Go's
``json.Unmarshal`` into ``interface{}`` (every number becomes a float).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from .errors import ExpressionError
from .limits import MAX_JSON_DEPTH, MAX_STRING_LENGTH

__all__ = [
    "format_float_json",
    "format_float_v",
    "format_v",
    "go_json",
    "load_json",
    "render_value",
]

_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of a finite, non-zero ``value`` and the decimal-point position."""
    dec = Decimal(repr(abs(value))).normalize()
    sign, digits, exponent = dec.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(str(d) for d in digits)
    return text, len(text) + exponent


def _fmt_e(digits: str, point: int) -> str:
    exp = point - 1
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    sign = "-" if exp < 0 else "+"
    return f"{mantissa}e{sign}{abs(exp):02d}"


def _fmt_f(digits: str, point: int) -> str:
    if point <= 0:
        return "0." + "0" * (-point) + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def format_float_v(value: float) -> str:
    """Format a float like Go's ``fmt.Sprintf("%v", f)`` (``1``, ``1.5``, ``1e+06``, ``1e-05``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits, point = _shortest_digits(value)
    exp = point - 1
    # strconv 'g' with the shortest precision switches to the exponent form outside [1e-4, 1e6).
    body = _fmt_e(digits, point) if exp < -4 or exp >= 6 else _fmt_f(digits, point)
    return ("-" if value < 0 else "") + body


def format_float_json(value: float) -> str:
    """Format a float like Go's ``encoding/json`` (``1``, ``1.5``, ``1000000``, ``1e+21``, ``1e-7``)."""
    if math.isnan(value) or math.isinf(value):
        raise ExpressionError(f"json: unsupported value: {format_float_v(value)}")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits, point = _shortest_digits(value)
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        body = _fmt_e(digits, point)
        # Go cleans up e-09 to e-9 (but keeps e+21).
        if len(body) >= 4 and body[-4:-1] == "e-0":
            body = body[:-2] + body[-1]
    else:
        body = _fmt_f(digits, point)
    return ("-" if value < 0 else "") + body


def _json_string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    if any(ch in encoded for ch in "<>&\u2028\u2029"):
        encoded = "".join(_ESCAPES.get(ch, ch) for ch in encoded)
    # Lone surrogates cannot come from valid UTF-8; Go writes the replacement character.
    try:
        encoded.encode("utf-8")
    except UnicodeEncodeError:
        encoded = encoded.encode("utf-8", "replace").decode("utf-8").replace("?", "\ufffd")
    return encoded


def _format_time(value: _dt.datetime) -> str:
    """Go's ``time.Time`` RFC 3339 with nanoseconds, trailing zeros trimmed."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    offset = value.utcoffset() or _dt.timedelta(0)
    if offset == _dt.timedelta(0):
        return text + "Z"
    total = int(offset.total_seconds()) // 60
    sign = "-" if total < 0 else "+"
    total = abs(total)
    return f"{text}{sign}{total // 60:02d}:{total % 60:02d}"


def _duration_nanos(value: _dt.timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * 1_000_000_000 + value.microseconds * 1_000


def format_duration(value: _dt.timedelta) -> str:
    """Go's ``time.Duration.String()`` (``1h0m0s``, ``1.5s``, ``300ms``)."""
    nanos = _duration_nanos(value)
    if nanos == 0:
        return "0s"
    neg = nanos < 0
    nanos = abs(nanos)
    if nanos < 1_000_000_000:
        if nanos < 1_000:
            text = f"{nanos}ns"
        elif nanos < 1_000_000:
            text = _trim_frac(nanos, 1_000) + "µs"
        else:
            text = _trim_frac(nanos, 1_000_000) + "ms"
    else:
        hours, rem = divmod(nanos, 3_600_000_000_000)
        minutes, rem = divmod(rem, 60_000_000_000)
        seconds = _trim_frac(rem, 1_000_000_000) + "s"
        if hours:
            text = f"{hours}h{minutes}m{seconds}"
        elif minutes:
            text = f"{minutes}m{seconds}"
        else:
            text = seconds
    return ("-" if neg else "") + text


def _trim_frac(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    width = len(str(unit)) - 1
    return f"{whole}." + f"{frac:0{width}d}".rstrip("0")


def go_json(value: Any, *, indent: str | None = None) -> str:
    """Encode ``value`` like Go's ``json.Marshal`` (or ``json.MarshalIndent(v, "", indent)``)."""
    parts: list[str] = []
    _encode(value, parts, indent, 0)
    text = "".join(parts)
    if len(text) > MAX_STRING_LENGTH:
        raise ExpressionError(f"JSON output exceeds the limit of {MAX_STRING_LENGTH} characters")
    return text


def _encode(value: Any, out: list[str], indent: str | None, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ExpressionError(f"value nested deeper than {MAX_JSON_DEPTH} levels cannot be encoded as JSON")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(format_float_json(value))
    elif isinstance(value, str):
        out.append(_json_string(value))
    elif isinstance(value, _dt.datetime):
        out.append(_json_string(_format_time(value)))
    elif isinstance(value, _dt.timedelta):
        out.append(str(_duration_nanos(value)))
    elif isinstance(value, Mapping):
        if not value:
            out.append("{}")
            return
        items = sorted((str(k), v) for k, v in value.items())
        out.append("{")
        for index, (key, item) in enumerate(items):
            if index:
                out.append(",")
            if indent is not None:
                out.append("\n" + indent * (depth + 1))
            out.append(_json_string(key))
            out.append(": " if indent is not None else ":")
            _encode(item, out, indent, depth + 1)
        if indent is not None:
            out.append("\n" + indent * depth)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            if indent is not None:
                out.append("\n" + indent * (depth + 1))
            _encode(item, out, indent, depth + 1)
        if indent is not None:
            out.append("\n" + indent * depth)
        out.append("]")
    else:
        raise ExpressionError(f"json: unsupported type: {type_name(value)}")


def format_v(value: Any, _depth: int = 0) -> str:
    """Format ``value`` like Go's ``fmt.Sprintf("%v", v)`` for JSON-like data."""
    if _depth > MAX_JSON_DEPTH:
        raise ExpressionError("value nested too deeply to format")
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float_v(value)
    if isinstance(value, str):
        return value
    if isinstance(value, _dt.datetime):
        return _format_time(value)
    if isinstance(value, _dt.timedelta):
        return format_duration(value)
    if isinstance(value, Mapping):
        inner = " ".join(f"{k}:{format_v(v, _depth + 1)}" for k, v in sorted((str(k), v) for k, v in value.items()))
        return f"map[{inner}]"
    if isinstance(value, Sequence):
        return "[" + " ".join(format_v(v, _depth + 1) for v in value) + "]"
    return f"<{type_name(value)}>"


def render_value(value: Any) -> str:
    """Render a value into template text as Argo does: strings raw, anything else as Go JSON."""
    if isinstance(value, str):
        return value
    return go_json(value)


def type_name(value: Any) -> str:
    """The Go type name expr-lang would report for ``value``."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, _dt.datetime):
        return "time.Time"
    if isinstance(value, _dt.timedelta):
        return "time.Duration"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    if callable(value):
        return "func"
    return "unknown"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def load_json(text: str, *, float_numbers: bool = True) -> Any:
    """Parse JSON like Go's ``json.Unmarshal`` into ``interface{}``; bounded in size and depth.

    With ``float_numbers`` (the default, as in Go) every number becomes a float.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"cannot parse JSON from {type_name(text)}")
    if len(text) > MAX_STRING_LENGTH:
        raise ExpressionError(f"JSON text exceeds the limit of {MAX_STRING_LENGTH} characters")
    try:
        value = json.loads(
            text,
            parse_int=float if float_numbers else int,
            parse_constant=_reject_constant,
        )
    except RecursionError:
        raise ExpressionError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:
        raise ExpressionError(f"invalid JSON: {exc}") from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ExpressionError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def json_depth(value: Any) -> int:
    """Nesting depth of lists/maps in ``value`` (iterative, so safe on any input)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > MAX_JSON_DEPTH:
                return deepest
        if isinstance(item, Mapping):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)
    return deepest
