"""Go's ``regexp`` (RE2 syntax, linear-time matching) through Google's RE2 library (``google-re2``).

Argo's expression languages use Go's ``regexp`` package, which guarantees time linear in the input.
Python's ``re`` backtracks (``.*a.*a.*b`` against a few thousand characters already takes seconds),
and patterns and texts come from untrusted manifests and run-time values, so every pattern goes
through RE2 instead: the same syntax as Go (no back-references, no look-around) and the same
leftmost-first semantics.

What this module adds to the library: the provider's size limits (pattern length, program size,
input length), Go's error messages (``error parsing regexp: missing closing ): `(```), and Go's
rules for successive matches (an empty match right after the previous match is skipped).
Positions are character offsets in the Python string.
"""

from __future__ import annotations

from functools import lru_cache

import re2

from .errors import ExpressionError
from .limits import (
    MAX_REGEX_INPUT_LENGTH,
    MAX_REGEX_PATTERN_LENGTH,
    MAX_REGEX_PROGRAM_SIZE,
    Budget,
)

__all__ = ["Regex", "compile_regex"]

# RE2's messages (``missing ): (a``) as Go's regexp/syntax words them (``missing closing )``).
_GO_MESSAGES = (
    ("missing )", "missing closing )"),
    ("missing ]", "missing closing ]"),
    ("unexpected )", "unexpected )"),
    ("bad repetition operator", "invalid nested repetition operator"),
    ("no argument for repetition operator", "missing argument to repetition operator"),
    ("invalid repetition size", "invalid repeat count"),
    ("invalid perl operator", "invalid or unsupported Perl syntax"),
    ("invalid named capture group", "invalid named capture"),
    ("duplicate capture group name", "duplicate capture group name"),
    ("trailing \\", "trailing backslash at end of expression"),
    ("invalid escape sequence", "invalid escape sequence"),
    ("invalid character class range", "invalid character class range"),
    ("invalid character class", "invalid character class"),
    ("invalid UTF-8", "invalid UTF-8"),
    ("pattern too large", "expression too large"),
)
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are raised, never printed by the library
_OPTIONS.max_mem = 8 << 20


def _err(message: str, pattern: str) -> ExpressionError:
    return ExpressionError(f"error parsing regexp: {message}", pattern)


def _go_message(raw: object, pattern: str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    for prefix, go in _GO_MESSAGES:
        if text.startswith(prefix):
            rest = text[len(prefix) :].lstrip(": ").strip()
            return f"{go}: `{rest or pattern}`"
    return text


def _utf8(text: str) -> bytes:
    """UTF-8 bytes of ``text``; lone surrogates (from JSON such as ``"\\ud800"``) become U+FFFD, as Go reads them."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text).encode("utf-8")


class _Offsets:
    """Byte offsets of the UTF-8 text to character offsets (identity for ASCII)."""

    __slots__ = ("_chars",)

    def __init__(self, data: bytes, ascii_only: bool) -> None:
        self._chars: list[int] | None = None
        if not ascii_only:
            # mapped[i]: the index of the character that starts at byte i (or that byte i is in).
            mapped = [0] * (len(data) + 1)
            count = 0
            for index, byte in enumerate(data):
                if byte & 0xC0 != 0x80:  # not a continuation byte: a character starts here
                    count += 1
                mapped[index] = count - 1
            mapped[len(data)] = count
            self._chars = mapped

    def char(self, position: int) -> int:
        return position if self._chars is None or position < 0 else self._chars[position]


class Regex:
    """A compiled RE2 pattern, matched as Go's ``regexp`` does."""

    __slots__ = ("_compiled", "names", "ngroups", "pattern")

    def __init__(self, pattern: str) -> None:
        if len(pattern) > MAX_REGEX_PATTERN_LENGTH:
            raise _err(f"pattern longer than {MAX_REGEX_PATTERN_LENGTH} characters", pattern[:100])
        try:
            compiled = re2.compile(_utf8(pattern), _OPTIONS)
        except re2.error as exc:
            raise _err(_go_message(exc.args[0] if exc.args else exc, pattern), pattern) from None
        if compiled.programsize > MAX_REGEX_PROGRAM_SIZE:
            raise _err("expression too large", pattern)
        self._compiled = compiled
        self.pattern = pattern
        self.ngroups: int = compiled.groups
        self.names: dict[str, int] = {
            (k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k)): int(v)
            for k, v in compiled.groupindex.items()
        }

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r})"

    # -- public API --------------------------------------------------------------------------------

    def search(self, text: str, budget: Budget | None = None) -> bool:
        """Whether the pattern matches anywhere in ``text`` (Go's ``MatchString``)."""
        _check_input(text)
        if budget is not None:
            budget.spend(len(text) + 1)
        return self._compiled.search(_utf8(text)) is not None

    def find(self, text: str, start: int = 0, budget: Budget | None = None) -> list[int] | None:
        """Leftmost-first match at or after ``start``: the capture slots (character offsets), or ``None``."""
        _check_input(text)
        data = _utf8(text)
        offsets = _Offsets(data, len(data) == len(text))
        begin = start if len(data) == len(text) else len(_utf8(text[:start]))
        if budget is not None:
            budget.spend(len(text) + 1)
        return self._slots(data, begin, offsets)

    def find_all(self, text: str, limit: int = -1, budget: Budget | None = None) -> list[list[int]]:
        """All successive non-overlapping matches, as Go's ``FindAllStringSubmatchIndex``."""
        _check_input(text)
        data = _utf8(text)
        ascii_only = len(data) == len(text)
        offsets = _Offsets(data, ascii_only)
        matches: list[list[int]] = []
        pos = 0
        prev_end = -1
        while pos <= len(data) and (limit < 0 or len(matches) < limit):
            if budget is not None:
                budget.spend(len(data) - pos + 1)
            found = self._raw(data, pos)
            if found is None:
                break
            start, end = found[0], found[1]
            if end == start and start == prev_end:
                # An empty match right after the previous match is skipped, as in Go.
                pos = _next_char(data, start, ascii_only)
                continue
            matches.append([offsets.char(p) for p in found])
            prev_end = end
            pos = end if end > start else _next_char(data, end, ascii_only)
        return matches

    # -- matching ----------------------------------------------------------------------------------

    def _raw(self, data: bytes, pos: int) -> list[int] | None:
        match = self._compiled.search(data, pos)
        if match is None:
            return None
        slots: list[int] = []
        for group in range(self.ngroups + 1):
            begin, end = match.span(group)
            slots += [begin, end]
        return slots

    def _slots(self, data: bytes, pos: int, offsets: _Offsets) -> list[int] | None:
        found = self._raw(data, pos)
        return None if found is None else [offsets.char(p) for p in found]


def _next_char(data: bytes, pos: int, ascii_only: bool) -> int:
    """The byte offset of the character after the one at ``pos`` (Go steps over a whole rune)."""
    pos += 1
    if not ascii_only:
        while pos < len(data) and data[pos] & 0xC0 == 0x80:
            pos += 1
    return pos


def _check_input(text: str) -> None:
    if len(text) > MAX_REGEX_INPUT_LENGTH:
        raise ExpressionError(
            f"text of {len(text)} characters is too long for a regular expression (limit {MAX_REGEX_INPUT_LENGTH})"
        )


@lru_cache(maxsize=256)
def compile_regex(pattern: str) -> Regex:
    """Compile (and cache) an RE2-syntax pattern; raises :class:`ExpressionError` on bad syntax."""
    return Regex(pattern)
