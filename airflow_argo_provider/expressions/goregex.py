"""A linear-time regular-expression engine for Go's RE2 syntax.

Argo's expression languages use Go's ``regexp`` package, which guarantees time linear in the input.
Python's ``re`` backtracks: ``.*a.*a.*b`` against a few thousand characters already takes seconds.
Because patterns and the text they are matched against come from untrusted manifests and run-time
values, this module implements RE2 syntax with a Pike virtual machine (Thompson NFA simulation with
leftmost-first priorities), so matching is ``O(len(pattern) * len(text))`` whatever the pattern.

Supported: literals and escapes, ``.``, bracket classes (ranges, negation, ``[:alpha:]`` names,
``\\d \\w \\s`` and negations, ``\\pL``/``\\p{Lu}`` general categories), anchors ``^ $ \\A \\z \\b \\B``,
groups (capturing, ``(?:...)``, ``(?P<name>...)``, ``(?<name>...)``), flags ``i m s U`` (also scoped),
alternation and the quantifiers ``* + ? {n} {n,} {n,m}`` with their lazy forms. Like RE2, there are no
back-references and no look-around (they are syntax errors).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .errors import ExpressionError
from .limits import (
    MAX_REGEX_INPUT_LENGTH,
    MAX_REGEX_PATTERN_LENGTH,
    MAX_REGEX_PROGRAM_SIZE,
    Budget,
)

__all__ = ["Regex", "compile_regex"]

Pred = Callable[[str], bool]

_MAX_REPEAT = 1000
_MAX_GROUP_DEPTH = 100

_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_DIGIT = frozenset("0123456789")
_SPACE = frozenset("\t\n\f\r ")

_POSIX: dict[str, Pred] = {
    "alnum": lambda c: c.isascii() and c.isalnum(),
    "alpha": lambda c: c.isascii() and c.isalpha(),
    "ascii": lambda c: ord(c) < 128,
    "blank": lambda c: c in " \t",
    "cntrl": lambda c: ord(c) < 32 or ord(c) == 127,
    "digit": lambda c: c in _DIGIT,
    "graph": lambda c: 33 <= ord(c) <= 126,
    "lower": lambda c: "a" <= c <= "z",
    "print": lambda c: 32 <= ord(c) <= 126,
    "punct": lambda c: 33 <= ord(c) <= 126 and not c.isalnum(),
    "space": lambda c: c in " \t\n\r\f\v",
    "upper": lambda c: "A" <= c <= "Z",
    "word": lambda c: c in _WORD,
    "xdigit": lambda c: c in "0123456789abcdefABCDEF",
}

_SIMPLE_ESCAPES = {"a": "\a", "f": "\f", "t": "\t", "n": "\n", "r": "\r", "v": "\v"}
_META = set("\\.+*?()|[]{}^$")


def _err(message: str, pattern: str) -> ExpressionError:
    return ExpressionError(f"error parsing regexp: {message}", pattern)


# --------------------------------------------------------------------------------------------- parser


@dataclass
class _Flags:
    i: bool = False
    m: bool = False
    s: bool = False
    U: bool = False

    def copy(self) -> _Flags:
        return _Flags(self.i, self.m, self.s, self.U)


# Nodes are tuples: ("char", pred), ("empty",), ("cat", [nodes]), ("alt", [nodes]),
# ("group", index or None, node), ("rep", node, min, max or None, greedy), ("assert", kind).
Node = tuple


@dataclass
class _Parser:
    pattern: str
    pos: int = 0
    ngroups: int = 0
    names: dict[str, int] = field(default_factory=dict)
    depth: int = 0

    def error(self, message: str) -> ExpressionError:
        return _err(message, self.pattern)

    def peek(self) -> str:
        return self.pattern[self.pos] if self.pos < len(self.pattern) else ""

    def parse(self) -> Node:
        node = self.parse_alt(_Flags())
        if self.pos < len(self.pattern):
            raise self.error(f"unexpected ): `{self.pattern}`")
        return node

    def parse_alt(self, flags: _Flags) -> Node:
        branches = [self.parse_concat(flags)]
        while self.peek() == "|":
            self.pos += 1
            branches.append(self.parse_concat(flags))
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def parse_concat(self, flags: _Flags) -> Node:
        items: list[Node] = []
        while self.pos < len(self.pattern):
            ch = self.peek()
            if ch in "|)":
                break
            if ch == "(" and self.pattern.startswith("(?", self.pos):
                # A bare flag group such as (?i) changes the flags for the rest of the concatenation.
                end = self.pattern.find(")", self.pos)
                body = self.pattern[self.pos + 2 : end] if end > 0 else ""
                if end > 0 and body and all(c in "imsU-" for c in body):
                    flags = flags.copy()
                    self.apply_flags(body, flags)
                    self.pos = end + 1
                    continue
            atom = self.parse_atom(flags)
            items.append(self.parse_quantifiers(atom, flags))
        if not items:
            return ("empty",)
        return items[0] if len(items) == 1 else ("cat", items)

    def apply_flags(self, body: str, flags: _Flags) -> None:
        value = True
        seen_dash = False
        for c in body:
            if c == "-":
                if seen_dash:
                    raise self.error(f"invalid or unsupported Perl syntax: `(?{body}`")
                seen_dash = True
                value = False
            else:
                setattr(flags, c, value)
        if body.endswith("-"):
            raise self.error(f"invalid or unsupported Perl syntax: `(?{body}`")

    def parse_quantifiers(self, atom: Node, flags: _Flags) -> Node:
        node = atom
        quantified = False
        while self.pos < len(self.pattern):
            ch = self.peek()
            start = self.pos
            if ch in "*+?":
                self.pos += 1
                lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[ch]
            elif ch == "{":
                parsed = self.parse_braces()
                if parsed is None:
                    break
                lo, hi = parsed
            else:
                break
            if quantified:
                raise self.error(f"invalid nested repetition operator: `{self.pattern[start - 1 : self.pos]}`")
            greedy = True
            if self.peek() == "?":
                self.pos += 1
                greedy = False
            if flags.U:
                greedy = not greedy
            node = ("rep", node, lo, hi, greedy)
            quantified = True
        return node

    def parse_braces(self) -> tuple[int, int | None] | None:
        text = self.pattern
        end = text.find("}", self.pos)
        if end < 0:
            return None
        body = text[self.pos + 1 : end]
        lo_text, comma, hi_text = body.partition(",")
        if not lo_text.isdigit() or (hi_text and not hi_text.isdigit()):
            return None  # a literal "{" as in Go
        lo = int(lo_text)
        hi: int | None = int(hi_text) if hi_text else (None if comma else lo)
        if lo > _MAX_REPEAT or (hi is not None and (hi > _MAX_REPEAT or hi < lo)):
            raise self.error(f"invalid repeat count: `{{{body}}}`")
        self.pos = end + 1
        return lo, hi

    def parse_atom(self, flags: _Flags) -> Node:
        ch = self.peek()
        if ch == "(":
            return self.parse_group(flags)
        if ch == "[":
            return ("char", self.parse_class(flags))
        if ch in "*+?":
            raise self.error(f"missing argument to repetition operator: `{ch}`")
        self.pos += 1
        if ch == ".":
            return ("char", (lambda c: True) if flags.s else (lambda c: c != "\n"))
        if ch == "^":
            return ("assert", "bol" if flags.m else "bot")
        if ch == "$":
            return ("assert", "eol" if flags.m else "eot")
        if ch == "\\":
            return self.parse_escape(flags, in_class=False)
        return ("char", _literal(ch, flags.i))

    def parse_group(self, flags: _Flags) -> Node:
        self.depth += 1
        if self.depth > _MAX_GROUP_DEPTH:
            raise self.error("expression nests too deeply")
        text = self.pattern
        self.pos += 1
        index: int | None = None
        inner_flags = flags
        if text.startswith("?", self.pos):
            if text.startswith("?P<", self.pos) or text.startswith("?<", self.pos):
                start = self.pos + (3 if text[self.pos + 1] == "P" else 2)
                end = text.find(">", start)
                name = text[start:end] if end > 0 else ""
                if end < 0 or not name or not all(c.isalnum() or c == "_" for c in name):
                    raise self.error(f"invalid named capture: `{text[self.pos - 1 : end + 1]}`")
                if name in self.names:
                    raise self.error(f"duplicate capture group name: `{name}`")
                self.ngroups += 1
                index = self.ngroups
                self.names[name] = index
                self.pos = end + 1
            else:
                colon = text.find(":", self.pos)
                close = text.find(")", self.pos)
                body = text[self.pos + 1 : colon] if colon > 0 else ""
                if colon < 0 or (0 <= close < colon) or not all(c in "imsU-" for c in body):
                    raise self.error(f"invalid or unsupported Perl syntax: `{text[self.pos - 1 : self.pos + 2]}`")
                inner_flags = flags.copy()
                self.apply_flags(body, inner_flags)
                self.pos = colon + 1
        else:
            self.ngroups += 1
            index = self.ngroups
        node = self.parse_alt(inner_flags)
        if self.peek() != ")":
            raise self.error(f"missing closing ): `{text}`")
        self.pos += 1
        self.depth -= 1
        return ("group", index, node)

    def parse_escape(self, flags: _Flags, *, in_class: bool) -> Node:
        text = self.pattern
        if self.pos >= len(text):
            raise self.error("trailing backslash at end of expression: ``")
        ch = text[self.pos]
        self.pos += 1
        if ch in "dDwWsS":
            return ("char", _set_pred({"d": _DIGIT, "w": _WORD, "s": _SPACE}[ch.lower()], ch.islower()))
        if ch in "pP":
            return ("char", self.parse_unicode_class(ch == "P"))
        if not in_class:
            if ch == "A":
                return ("assert", "bot")
            if ch == "z":
                return ("assert", "eot")
            if ch == "b":
                return ("assert", "word")
            if ch == "B":
                return ("assert", "nonword")
            if ch == "Q":
                end = text.find("\\E", self.pos)
                literal = text[self.pos :] if end < 0 else text[self.pos : end]
                self.pos = len(text) if end < 0 else end + 2
                if not literal:
                    return ("empty",)
                return ("cat", [("char", _literal(c, flags.i)) for c in literal])
        return ("char", _literal(self.escape_char(ch), flags.i))

    def escape_char(self, ch: str) -> str:
        text = self.pattern
        if ch in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[ch]
        if ch in "01234567":
            digits = ch
            while len(digits) < 3 and self.peek() and self.peek() in "01234567":
                digits += self.peek()
                self.pos += 1
            if ch != "0" and len(digits) == 1:
                raise self.error(f"invalid escape sequence: `\\{ch}`")
            return chr(int(digits, 8))
        if ch == "x":
            if self.peek() == "{":
                end = text.find("}", self.pos)
                hexdigits = text[self.pos + 1 : end] if end > 0 else ""
                self.pos = end + 1 if end > 0 else len(text)
            else:
                hexdigits = text[self.pos : self.pos + 2]
                self.pos += 2
            try:
                code = int(hexdigits, 16)
                if not hexdigits or code > 0x10FFFF:
                    raise ValueError
            except ValueError:
                raise self.error(f"invalid escape sequence: `\\x{hexdigits}`") from None
            return chr(code)
        if not ch.isalnum() and ord(ch) < 128:
            return ch
        raise self.error(f"invalid escape sequence: `\\{ch}`")

    def parse_unicode_class(self, negate: bool) -> Pred:
        text = self.pattern
        if self.peek() == "{":
            end = text.find("}", self.pos)
            name = text[self.pos + 1 : end] if end > 0 else ""
            self.pos = end + 1 if end > 0 else len(text)
        else:
            name = self.peek()
            self.pos += 1
        if name.startswith("^"):
            negate = not negate
            name = name[1:]
        if name == "Any":
            base: Pred = _set_pred(frozenset(), False)
        elif len(name) in (1, 2) and name[:1] in "CLMNPSZ" and name.isalpha():
            base = _category_pred(name)
        else:
            raise self.error(f"invalid character class range: `\\p{{{name}}}`")
        return _negate(base) if negate else base

    def parse_class(self, flags: _Flags) -> Pred:
        text = self.pattern
        self.pos += 1
        negate = False
        if self.peek() == "^":
            negate = True
            self.pos += 1
        ranges: list[tuple[str, str]] = []
        preds: list[Pred] = []
        first = True
        while True:
            if self.pos >= len(text):
                raise self.error(f"missing closing ]: `{text}`")
            ch = text[self.pos]
            if ch == "]" and not first:
                self.pos += 1
                break
            first = False
            if text.startswith("[:", self.pos):
                end = text.find(":]", self.pos + 2)
                if end > 0:
                    name = text[self.pos + 2 : end]
                    neg_posix = name.startswith("^")
                    name = name.lstrip("^")
                    if name not in _POSIX:
                        raise self.error(f"invalid character class range: `[:{name}:]`")
                    base = _POSIX[name]
                    preds.append(_negate(base) if neg_posix else base)
                    self.pos = end + 2
                    continue
            lo = self.class_char(flags, preds)
            if lo is None:
                continue
            if self.peek() == "-" and self.pos + 1 < len(text) and text[self.pos + 1] != "]":
                self.pos += 1
                hi = self.class_char(flags, preds)
                if hi is None or hi < lo:
                    raise self.error("invalid character class range")
                ranges.append((lo, hi))
            else:
                ranges.append((lo, lo))
        return _class_pred(ranges, preds, negate, flags.i)

    def class_char(self, flags: _Flags, preds: list[Pred]) -> str | None:
        ch = self.pattern[self.pos]
        self.pos += 1
        if ch != "\\":
            return ch
        node = self.parse_escape(flags, in_class=True)
        pred = node[1]
        # A class escape such as \d contributes a predicate; a character escape a single char.
        literal = getattr(pred, "_literal", None)
        if literal is not None:
            return str(literal)
        preds.append(pred)
        return None


def _set_pred(members: frozenset[str], inside: bool) -> Pred:
    def pred(c: str) -> bool:
        return (c in members) == inside

    return pred


def _category_pred(category: str) -> Pred:
    def pred(c: str) -> bool:
        return unicodedata.category(c).startswith(category)

    return pred


def _negate(base: Pred) -> Pred:
    def pred(c: str) -> bool:
        return not base(c)

    return pred


def _literal(ch: str, fold: bool) -> Pred:
    if fold and ch.lower() != ch.upper():
        lower, upper = ch.lower(), ch.upper()

        def pred(c: str) -> bool:
            return c == ch or c.lower() == lower or c.upper() == upper

    else:

        def pred(c: str) -> bool:
            return c == ch

    pred._literal = ch  # type: ignore[attr-defined]
    pred._fold = fold and ch.lower() != ch.upper()  # type: ignore[attr-defined]
    return pred


def _class_pred(ranges: list[tuple[str, str]], preds: list[Pred], negate: bool, fold: bool) -> Pred:
    singles = frozenset(lo for lo, hi in ranges if lo == hi)
    spans = tuple((lo, hi) for lo, hi in ranges if lo != hi)
    extra = tuple(preds)

    def raw(c: str) -> bool:
        if c in singles:
            return True
        for lo, hi in spans:
            if lo <= c <= hi:
                return True
        return any(p(c) for p in extra)

    if fold:

        def folded(c: str) -> bool:
            return raw(c) or raw(c.lower()) or raw(c.upper())

        base = folded
    else:
        base = raw
    if negate:
        return lambda c: not base(c)
    return base


# -------------------------------------------------------------------------------------------- compiler

# Instructions: ("c", pred) consume a char; ("s", x, y) split preferring x; ("j", x) jump;
# ("v", slot) save position; ("a", kind) assertion; ("m",) match.
Instr = tuple


class _Compiler:
    def __init__(self, pattern: str) -> None:
        self.prog: list[list[object]] = []
        self.pattern = pattern

    def emit(self, *instr: object) -> int:
        self.prog.append(list(instr))
        if len(self.prog) > MAX_REGEX_PROGRAM_SIZE:
            raise _err("expression too large", self.pattern)
        return len(self.prog) - 1

    def compile(self, node: Node) -> None:
        kind = node[0]
        if kind == "char":
            self.emit("c", node[1])
        elif kind == "empty":
            pass
        elif kind == "cat":
            for item in node[1]:
                self.compile(item)
        elif kind == "alt":
            jumps = []
            branches = node[1]
            for branch in branches[:-1]:
                split = self.emit("s", 0, 0)
                self.prog[split][1] = len(self.prog)
                self.compile(branch)
                jumps.append(self.emit("j", 0))
                self.prog[split][2] = len(self.prog)
            self.compile(branches[-1])
            for jump in jumps:
                self.prog[jump][1] = len(self.prog)
        elif kind == "group":
            index = node[1]
            if index is not None:
                self.emit("v", 2 * index)
            self.compile(node[2])
            if index is not None:
                self.emit("v", 2 * index + 1)
        elif kind == "assert":
            self.emit("a", node[1])
        elif kind == "rep":
            self.compile_rep(node[1], node[2], node[3], node[4])
        else:  # pragma: no cover - the parser builds no other node
            raise _err("internal error", self.pattern)

    def compile_rep(self, sub: Node, lo: int, hi: int | None, greedy: bool) -> None:
        for _ in range(lo):
            self.compile(sub)
        if hi is None:
            split = self.emit("s", 0, 0)
            self.compile(sub)
            self.emit("j", split)
            self.set_split(split, split + 1, len(self.prog), greedy)
            return
        pending: list[int] = []
        for _ in range(hi - lo):
            split = self.emit("s", 0, 0)
            pending.append(split)
            self.compile(sub)
            self.set_split(split, split + 1, -1, greedy)
        end = len(self.prog)
        for split in pending:
            instr = self.prog[split]
            if instr[1] == -1:
                instr[1] = end
            else:
                instr[2] = end

    def set_split(self, split: int, body: int, exit_: int, greedy: bool) -> None:
        self.prog[split][1:3] = [body, exit_] if greedy else [exit_, body]


# ---------------------------------------------------------------------------------------------- runner


class Regex:
    """A compiled RE2-syntax pattern matched with a Pike VM."""

    def __init__(self, pattern: str) -> None:
        if len(pattern) > MAX_REGEX_PATTERN_LENGTH:
            raise _err(f"pattern longer than {MAX_REGEX_PATTERN_LENGTH} characters", pattern[:100])
        parser = _Parser(pattern)
        tree = ("group", 0, parser.parse())
        compiler = _Compiler(pattern)
        compiler.compile(tree)
        compiler.emit("m")
        self.pattern = pattern
        self.ngroups = parser.ngroups
        self.names = dict(parser.names)
        self.prog: tuple[tuple[Any, ...], ...] = tuple(tuple(i) for i in compiler.prog)
        self._literal = _literal_text(tree)

    # -- public API --------------------------------------------------------------------------------

    def search(self, text: str, budget: Budget | None = None) -> bool:
        """Whether the pattern matches anywhere in ``text`` (Go's ``MatchString``)."""
        _check_input(text)
        if self._literal is not None:
            return self._literal in text
        return self._run(text, 0, budget, captures=False) is not None

    def find(self, text: str, start: int = 0, budget: Budget | None = None) -> list[int] | None:
        """Leftmost-first match at or after ``start``: the capture slots, or ``None``."""
        _check_input(text)
        return self._run(text, start, budget, captures=True)

    def find_all(self, text: str, limit: int = -1, budget: Budget | None = None) -> list[list[int]]:
        """All successive non-overlapping matches, as Go's ``FindAllStringSubmatchIndex``."""
        _check_input(text)
        matches: list[list[int]] = []
        pos = 0
        prev_end = -1
        while pos <= len(text) and (limit < 0 or len(matches) < limit):
            found = self._run(text, pos, budget, captures=True)
            if found is None:
                break
            start, end = found[0], found[1]
            if end == start and start == prev_end:
                # An empty match right after the previous match is skipped, as in Go.
                pos = start + 1
                continue
            matches.append(found)
            prev_end = end
            pos = end if end > start else end + 1
        return matches

    # -- VM ----------------------------------------------------------------------------------------

    def _run(self, text: str, start: int, budget: Budget | None, *, captures: bool) -> list[int] | None:
        prog = self.prog
        nslots = 2 * (self.ngroups + 1)
        length = len(text)
        marks = [-1] * len(prog)
        clist: list[tuple[int, tuple[int, ...]]] = []
        matched: tuple[int, ...] | None = None
        empty: tuple[int, ...] = (-1,) * nslots if captures else ()

        def add(lst: list[tuple[int, tuple[int, ...]]], pc0: int, caps0: tuple[int, ...], pos: int, gen: int) -> bool:
            stack = [(pc0, caps0)]
            while stack:
                pc, caps = stack.pop()
                if marks[pc] == gen:
                    continue
                marks[pc] = gen
                instr = prog[pc]
                op = instr[0]
                if op == "j":
                    stack.append((instr[1], caps))
                elif op == "s":
                    stack.append((instr[2], caps))
                    stack.append((instr[1], caps))
                elif op == "v":
                    if captures:
                        slot = instr[1]
                        caps = caps[:slot] + (pos,) + caps[slot + 1 :]
                    stack.append((pc + 1, caps))
                elif op == "a":
                    if _assert(instr[1], text, pos, length):
                        stack.append((pc + 1, caps))
                elif op == "m" and not captures:
                    return True
                else:
                    lst.append((pc, caps))
            return False

        pos = start
        while True:
            # Threads for position ``pos`` are marked with generation ``pos``; the new thread that
            # starts a match here has the lowest priority, so it is added after the carried ones.
            if matched is None and add(clist, 0, empty, pos, pos):
                return [pos, pos]
            if not clist:
                if matched is not None or pos >= length:
                    break
                pos += 1
                continue
            if budget is not None:
                budget.spend(len(clist))
            nlist: list[tuple[int, tuple[int, ...]]] = []
            ch = text[pos] if pos < length else None
            for pc, caps in clist:
                instr = prog[pc]
                if instr[0] == "m":
                    matched = caps
                    break  # lower-priority threads are cut off (leftmost-first)
                if ch is not None and instr[1](ch) and add(nlist, pc + 1, caps, pos + 1, pos + 1):
                    return [start, pos + 1]
            if pos >= length:
                break
            clist = nlist
            pos += 1
        if matched is None:
            return None
        return list(matched)


def _assert(kind: str, text: str, pos: int, length: int) -> bool:
    if kind == "bot":
        return pos == 0
    if kind == "eot":
        return pos == length
    if kind == "bol":
        return pos == 0 or text[pos - 1] == "\n"
    if kind == "eol":
        return pos == length or text[pos] == "\n"
    before = pos > 0 and text[pos - 1] in _WORD
    after = pos < length and text[pos] in _WORD
    return (before != after) if kind == "word" else (before == after)


def _literal_text(node: Node) -> str | None:
    """The text of a pattern made only of case-sensitive literal characters, else ``None``."""
    kind = node[0]
    if kind == "char":
        pred = node[1]
        literal = getattr(pred, "_literal", None)
        if literal is None or getattr(pred, "_fold", False):
            return None
        return str(literal)
    if kind == "group":
        return _literal_text(node[2])
    if kind == "cat":
        parts = [_literal_text(item) for item in node[1]]
        if any(p is None for p in parts):
            return None
        return "".join(p for p in parts if p is not None)
    if kind == "empty":
        return ""
    return None


def _check_input(text: str) -> None:
    if len(text) > MAX_REGEX_INPUT_LENGTH:
        raise ExpressionError(
            f"text of {len(text)} characters is too long for a regular expression (limit {MAX_REGEX_INPUT_LENGTH})"
        )


@lru_cache(maxsize=256)
def compile_regex(pattern: str) -> Regex:
    """Compile (and cache) an RE2-syntax pattern; raises :class:`ExpressionError` on bad syntax."""
    return Regex(pattern)
