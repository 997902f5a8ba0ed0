"""Go ``time`` behaviour needed by the expression languages: durations, layouts and strftime."""

from __future__ import annotations

import datetime as _dt
import re

from .values import Fail

__all__ = ["format_layout", "parse_duration", "parse_layout", "parse_time", "strftime", "utc_now"]

UTC = _dt.timezone.utc

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_CHUNK = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")


def utc_now() -> _dt.datetime:
    return _dt.datetime.now(UTC)


def parse_duration(text: str) -> _dt.timedelta:
    """Go's ``time.ParseDuration`` (``"1h30m"``, ``"1.5s"``, ``"-300ms"``)."""
    original = text
    sign = 1
    if text[:1] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return _dt.timedelta(0)
    if not text:
        raise Fail(f'time: invalid duration "{original}"')
    total = 0
    pos = 0
    while pos < len(text):
        match = _DURATION_CHUNK.match(text, pos)
        if match is None or (not match.group(1) and not match.group(2)):
            raise Fail(f'time: invalid duration "{original}"')
        unit_name = match.group(3)
        if not unit_name:
            raise Fail(f'time: missing unit in duration "{original}"')
        if unit_name not in _UNITS:
            raise Fail(f'time: unknown unit "{unit_name}" in duration "{original}"')
        unit = _UNITS[unit_name]
        frac = match.group(2) or ""
        nanos = int(match.group(1) or "0") * unit
        if frac:
            nanos += int(frac) * unit // (10 ** len(frac))
        total += nanos
        if total > 2**63 - 1:
            raise Fail(f'time: invalid duration "{original}"')
        pos = match.end()
    return _dt.timedelta(microseconds=sign * total / 1000)


_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# Go layout elements, longest first where one is a prefix of another (as Go's nextStdChunk).
_LAYOUT_TOKENS = [
    "January",
    "Monday",
    "2006",
    "-07:00:00",
    "-0700",
    "-07:00",
    "Z07:00:00",
    "Z0700",
    "Z07:00",
    ".000000000",
    ".999999999",
    ".000000",
    ".999999",
    ".000",
    ".999",
    ",000",
    ",999",
    "Jan",
    "Mon",
    "MST",
    "002",
    "__2",
    "_2",
    "01",
    "02",
    "03",
    "04",
    "05",
    "06",
    "15",
    "-07",
    "Z07",
    "PM",
    "pm",
    "1",
    "2",
    "3",
    "4",
    "5",
]


#: Longest layout, and longest time text, read or written (real ones are a few dozen characters).
MAX_LAYOUT_LENGTH = 1_000


def _tokenize_layout(layout: str) -> list[tuple[bool, str]]:
    if len(layout) > MAX_LAYOUT_LENGTH:
        raise Fail(f"time layout of {len(layout)} characters is longer than the limit of {MAX_LAYOUT_LENGTH}")
    parts: list[tuple[bool, str]] = []
    pos = 0
    literal = ""
    while pos < len(layout):
        for token in _LAYOUT_TOKENS:
            if layout.startswith(token, pos):
                # "Jan"/"Mon" must not be followed by a lower-case letter ("January" handled first).
                if token in ("Jan", "Mon") and layout[pos + 3 : pos + 4].islower():
                    continue
                if literal:
                    parts.append((False, literal))
                    literal = ""
                parts.append((True, token))
                pos += len(token)
                break
        else:
            literal += layout[pos]
            pos += 1
    if literal:
        parts.append((False, literal))
    return parts


def _zone(value: _dt.datetime, token: str) -> str:
    offset = value.utcoffset() or _dt.timedelta(0)
    seconds = int(offset.total_seconds())
    if token.startswith("Z") and seconds == 0:
        return "Z"
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    hh, mm, ss = seconds // 3600, seconds // 60 % 60, seconds % 60
    core = token.lstrip("Z-")
    if core == "07":
        return f"{sign}{hh:02d}"
    if core == "0700":
        return f"{sign}{hh:02d}{mm:02d}"
    if core == "07:00":
        return f"{sign}{hh:02d}:{mm:02d}"
    return f"{sign}{hh:02d}:{mm:02d}:{ss:02d}"


def format_layout(layout: str, value: _dt.datetime) -> str:
    """Go's ``time.Time.Format(layout)``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    out: list[str] = []
    hour12 = value.hour % 12 or 12
    for is_token, text in _tokenize_layout(layout):
        if not is_token:
            out.append(text)
            continue
        if text == "2006":
            out.append(f"{value.year:04d}")
        elif text == "06":
            out.append(f"{value.year % 100:02d}")
        elif text == "January":
            out.append(_MONTHS[value.month - 1])
        elif text == "Jan":
            out.append(_MONTHS[value.month - 1][:3])
        elif text == "01":
            out.append(f"{value.month:02d}")
        elif text == "1":
            out.append(str(value.month))
        elif text == "Monday":
            out.append(_DAYS[value.weekday()])
        elif text == "Mon":
            out.append(_DAYS[value.weekday()][:3])
        elif text == "02":
            out.append(f"{value.day:02d}")
        elif text == "2":
            out.append(str(value.day))
        elif text == "_2":
            out.append(f"{value.day:2d}")
        elif text == "002":
            out.append(f"{value.timetuple().tm_yday:03d}")
        elif text == "__2":
            out.append(f"{value.timetuple().tm_yday:3d}")
        elif text == "15":
            out.append(f"{value.hour:02d}")
        elif text == "03":
            out.append(f"{hour12:02d}")
        elif text == "3":
            out.append(str(hour12))
        elif text == "04":
            out.append(f"{value.minute:02d}")
        elif text == "4":
            out.append(str(value.minute))
        elif text == "05":
            out.append(f"{value.second:02d}")
        elif text == "5":
            out.append(str(value.second))
        elif text in ("PM", "pm"):
            mark = "PM" if value.hour >= 12 else "AM"
            out.append(mark if text == "PM" else mark.lower())
        elif text == "MST":
            name = value.tzname() or "UTC"
            out.append(name if name[:1].isalpha() else _zone(value, "-0700"))
        elif text[0] in ".,":
            digits = len(text) - 1
            frac = f"{value.microsecond:06d}000"[:digits]
            if text[1] == "9":
                frac = frac.rstrip("0")
                out.append(text[0] + frac if frac else "")
            else:
                out.append(text[0] + frac)
        else:
            out.append(_zone(value, text))
    return "".join(out)


_PARSE_PATTERNS = {
    "2006": r"(?P<year>\d{4})",
    "06": r"(?P<year2>\d{2})",
    "January": "(?P<month_name>" + "|".join(_MONTHS) + ")",
    "Jan": "(?P<month_abbr>" + "|".join(m[:3] for m in _MONTHS) + ")",
    "01": r"(?P<month>\d{2})",
    "1": r"(?P<month>\d{1,2})",
    "Monday": "(?:" + "|".join(_DAYS) + ")",
    "Mon": "(?:" + "|".join(d[:3] for d in _DAYS) + ")",
    "02": r"(?P<day>\d{2})",
    "2": r"(?P<day>\d{1,2})",
    "_2": r" ?(?P<day>\d{1,2})",
    "002": r"(?P<yday>\d{3})",
    "__2": r" {0,2}(?P<yday>\d{1,3})",
    "15": r"(?P<hour>\d{1,2})",
    "03": r"(?P<hour12>\d{2})",
    "3": r"(?P<hour12>\d{1,2})",
    "04": r"(?P<minute>\d{2})",
    "4": r"(?P<minute>\d{1,2})",
    "05": r"(?P<second>\d{2})",
    "5": r"(?P<second>\d{1,2})",
    "PM": r"(?P<ampm>AM|PM)",
    "pm": r"(?P<ampm>am|pm)",
    "MST": r"(?P<zone_name>[A-Z]{3,5}|[+-]\d{4})",
    "-0700": r"(?P<tz>[+-]\d{4})",
    "-07:00": r"(?P<tz>[+-]\d{2}:\d{2})",
    "-07": r"(?P<tz>[+-]\d{2})",
    "-07:00:00": r"(?P<tz>[+-]\d{2}:\d{2}:\d{2})",
    "Z0700": r"(?P<tz>Z|[+-]\d{4})",
    "Z07:00": r"(?P<tz>Z|[+-]\d{2}:\d{2})",
    "Z07": r"(?P<tz>Z|[+-]\d{2})",
    "Z07:00:00": r"(?P<tz>Z|[+-]\d{2}:\d{2}:\d{2})",
}


def parse_layout(layout: str, text: str, default_tz: _dt.tzinfo = UTC) -> _dt.datetime:
    """Go's ``time.Parse(layout, text)`` for the common layout elements."""
    regex = ""
    seen: set[str] = set()
    for is_token, part in _tokenize_layout(layout):
        if not is_token:
            regex += re.escape(part)
            continue
        if part[0] in ".,":
            if "frac" not in seen:
                regex += r"(?:[.,](?P<frac>\d+))" + ("?" if part[1] == "9" else "")
                seen.add("frac")
            continue
        pattern = _PARSE_PATTERNS[part]
        group = re.search(r"\?P<(\w+)>", pattern)
        if group and group.group(1) in seen:
            pattern = pattern.replace(f"?P<{group.group(1)}>", "?:")
        elif group:
            seen.add(group.group(1))
        regex += pattern
        if part in ("05", "5") and "frac" not in seen:
            # Go accepts fractional seconds after the seconds field even when the layout has none.
            regex += r"(?:[.,](?P<frac>\d+))?"
            seen.add("frac")
    match = re.fullmatch(regex, text)
    if not match:
        raise Fail(f'parsing time "{text}" as "{layout}": cannot parse')
    fields = match.groupdict()
    try:
        year = int(fields.get("year") or 0)
        if fields.get("year2"):
            short = int(fields["year2"])
            year = 1900 + short if short >= 69 else 2000 + short
        if fields.get("month_name"):
            month = _MONTHS.index(fields["month_name"]) + 1
        elif fields.get("month_abbr"):
            month = [m[:3] for m in _MONTHS].index(fields["month_abbr"]) + 1
        else:
            month = int(fields.get("month") or 1)
        day = int(fields.get("day") or 1)
        hour = int(fields.get("hour") or 0)
        if fields.get("hour12"):
            hour = int(fields["hour12"]) % 12
            if (fields.get("ampm") or "").upper() == "PM":
                hour += 12
        minute = int(fields.get("minute") or 0)
        second = int(fields.get("second") or 0)
        micro = int((fields.get("frac") or "0")[:6].ljust(6, "0"))
        tz: _dt.tzinfo = default_tz
        zone = fields.get("tz") or fields.get("zone_name")
        if zone and zone != "Z" and zone[0] in "+-":
            digits = zone[1:].replace(":", "")
            offset = _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0), seconds=int(digits[4:6] or 0))
            tz = _dt.timezone(-offset if zone[0] == "-" else offset)
        elif zone:
            tz = UTC
        if year == 0:
            raise ValueError("year 0")
        value = _dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
        if fields.get("yday"):
            value = value.replace(month=1, day=1) + _dt.timedelta(days=int(fields["yday"]) - 1)
        return value
    except ValueError:
        raise Fail(f'parsing time "{text}": value out of range') from None


_DEFAULT_LAYOUTS = [
    "2006-01-02T15:04:05Z07:00",
    "2006-01-02T15:04:05.999999999Z07:00",
    "2006-01-02 15:04:05Z07:00",
    "2006-01-02T15:04:05",
    "2006-01-02 15:04:05",
    "2006-01-02T15:04",
    "2006-01-02 15:04",
    "2006-01-02",
    "Mon Jan _2 15:04:05 2006",
    "Mon Jan _2 15:04:05 MST 2006",
    "Mon, 02 Jan 2006 15:04:05 MST",
    "Mon, 02 Jan 2006 15:04:05 -0700",
    "02 Jan 06 15:04 MST",
    "15:04:05",
    "15:04",
]


def parse_time(text: str, layout: str | None = None, tz: _dt.tzinfo = UTC) -> _dt.datetime:
    """expr-lang's ``date(text[, layout])``: try the given layout or the usual ones."""
    if len(text) > MAX_LAYOUT_LENGTH:
        raise Fail(f"time text of {len(text)} characters is longer than the limit of {MAX_LAYOUT_LENGTH}")
    if layout is not None:
        return parse_layout(layout, text, tz)
    for candidate in _DEFAULT_LAYOUTS:
        try:
            return parse_layout(candidate, text, tz)
        except Fail:
            continue
    raise Fail(f'invalid date "{text}"')


_STRFTIME = {
    "a": "Mon",
    "A": "Monday",
    "b": "Jan",
    "B": "January",
    "c": "Mon Jan _2 15:04:05 2006",
    "d": "02",
    "D": "01/02/06",
    "e": "_2",
    "F": "2006-01-02",
    "h": "Jan",
    "H": "15",
    "I": "03",
    "m": "01",
    "M": "04",
    "n": "\n",
    "p": "PM",
    "r": "03:04:05 PM",
    "R": "15:04",
    "S": "05",
    "t": "\t",
    "T": "15:04:05",
    "v": "_2-Jan-2006",
    "x": "01/02/06",
    "X": "15:04:05",
    "y": "06",
    "Y": "2006",
    "z": "-0700",
    "Z": "MST",
}


def strftime(spec: str, value: _dt.datetime) -> str | None:
    """One ``%X`` conversion as ``github.com/argoproj/pkg/strftime`` does, or ``None`` if unknown."""
    if spec in _STRFTIME:
        return format_layout(_STRFTIME[spec], value)
    if spec == "C":
        return f"{value.year // 100:02d}"
    if spec == "j":
        return f"{value.timetuple().tm_yday:03d}"
    if spec == "k":
        return f"{value.hour:2d}"
    if spec == "l":
        return f"{value.hour % 12 or 12:2d}"
    if spec == "u":
        return str(value.isoweekday())
    if spec == "w":
        return str(value.isoweekday() % 7)
    if spec == "U":
        return value.strftime("%U")
    if spec == "W":
        return value.strftime("%W")
    if spec == "V":
        return f"{value.isocalendar()[1]:02d}"
    if spec == "G":
        return str(value.isocalendar()[0])
    if spec == "g":
        return f"{value.isocalendar()[0] % 100:02d}"
    if spec == "L":
        return f"{value.microsecond // 1000:03d}"
    if spec == "f":
        return f"{value.microsecond:06d}"
    return None
