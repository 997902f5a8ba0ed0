"""The lexer and parser of the Go ``text/template`` subset Argo Events' Sensors use (see :mod:`.gotemplate`).

A template is read into nodes: text, and actions made of pipelines of commands (fields such as
``.Input.body.key``, literals, function calls, parenthesised pipelines); ``if``/``else``/``end``,
``range`` and ``with`` blocks; comments and whitespace trimming (``{{-``, ``-}}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ExpressionError
from .functions import lookup_sprig
from .limits import MAX_NESTING_DEPTH

MAX_TEMPLATE_LENGTH = 20_000


_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}


_BUILTINS = {
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "urlquery",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
}


class TemplateError(ExpressionError):
    """A template that cannot be parsed, or an action that failed while rendering."""


class _NoValue:
    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE: Any = _NoValue()


# -- syntax tree ----------------------------------------------------------------------------------------
@dataclass
class _Term:
    kind: str  # dot, root, field, literal, func, pipe
    value: Any = None
    fields: list[str] = field(default_factory=list)


@dataclass
class _Command:
    operands: list[_Term]


@dataclass
class _Pipeline:
    commands: list[_Command]


Node = str | _Pipeline


# -- lexing -----------------------------------------------------------------------------------------------
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


class _Lexer:
    """Tokens of one action (the text between ``{{`` and ``}}``)."""

    def __init__(self, text: str, source: str, offset: int) -> None:
        self.text = text
        self.source = source
        self.offset = offset
        self.pos = 0

    def error(self, message: str) -> TemplateError:
        return TemplateError(message, self.source, self.offset + self.pos)

    def tokens(self) -> list[tuple[str, Any, bool]]:
        """``(kind, value, spaced)``: ``spaced`` tells whether whitespace preceded the token."""
        out: list[tuple[str, Any, bool]] = []
        text = self.text
        spaced = True
        while self.pos < len(text):
            ch = text[self.pos]
            if ch.isspace():
                self.pos += 1
                spaced = True
                continue
            start = self.pos
            if ch in "|()":
                out.append((ch, ch, spaced))
                self.pos += 1
            elif ch == ".":
                names = self._chain()
                out.append(("chain", names, spaced) if names else ("dot", None, spaced))
            elif ch == "$":
                self.pos += 1
                name = self._identifier()
                if name:
                    raise self.error(f"variables (${name}) are not supported")
                out.append(("root", None, spaced))
            elif ch == '"':
                out.append(("literal", self._string(), spaced))
            elif ch == "`":
                end = text.find("`", self.pos + 1)
                if end < 0:
                    raise self.error("unterminated raw string")
                out.append(("literal", text[self.pos + 1 : end], spaced))
                self.pos = end + 1
            elif ch == "'":
                out.append(("literal", self._char(), spaced))
            elif ch.isdigit() or (ch in "+-" and self.pos + 1 < len(text) and text[self.pos + 1].isdigit()):
                out.append(("literal", self._number(), spaced))
            elif ch.isalpha() or ch == "_":
                name = self._identifier()
                if name in _KEYWORDS:
                    self.pos = start
                    raise self.error(f"'{name}' actions are not supported (only expressions and pipes)")
                if name in ("true", "false"):
                    out.append(("literal", name == "true", spaced))
                elif name == "nil":
                    out.append(("literal", None, spaced))
                else:
                    out.append(("ident", name, spaced))
            elif ch == ":" or ch == "=":
                raise self.error("variable assignments are not supported")
            elif ch == ",":
                raise self.error("',' (range variables) is not supported")
            else:
                raise self.error(f"unexpected character {ch!r}")
            spaced = False
        return out

    def _identifier(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] == "_"):
            self.pos += 1
        return self.text[start : self.pos]

    def _chain(self) -> list[str]:
        names: list[str] = []
        while self.pos < len(self.text) and self.text[self.pos] == ".":
            self.pos += 1
            name = self._identifier()
            if not name:
                if names or (
                    self.pos < len(self.text) and not self.text[self.pos].isspace() and self.text[self.pos] not in "|)"
                ):
                    raise self.error("bad field name after '.'")
                return names
            if name[0].isdigit():
                raise self.error(f"'.{name}' is not a field name; use (index X {name})")
            names.append(name)
        return names

    def _string(self) -> str:
        out: list[str] = []
        self.pos += 1
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "\\":
                self.pos += 1
                if self.pos >= len(text):
                    break
                esc = text[self.pos]
                if esc in _ESCAPES:
                    out.append(_ESCAPES[esc])
                    self.pos += 1
                elif esc in "uUx":
                    width = {"u": 4, "U": 8, "x": 2}[esc]
                    digits = text[self.pos + 1 : self.pos + 1 + width]
                    try:
                        out.append(chr(int(digits, 16)))
                    except ValueError:
                        raise self.error(f"bad escape \\{esc}{digits}") from None
                    self.pos += 1 + width
                else:
                    raise self.error(f"unknown escape \\{esc}")
                continue
            if ch == "\n":
                break
            out.append(ch)
            self.pos += 1
        raise self.error("unterminated quoted string")

    def _char(self) -> int:
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            raise self.error("unterminated character constant")
        body = self.text[self.pos + 1 : end]
        if body.startswith("\\") and body[1:] in _ESCAPES:
            body = _ESCAPES[body[1:]]
        if len(body) != 1:
            raise self.error(f"bad character constant '{body}'")
        self.pos = end + 1
        return ord(body)

    def _number(self) -> Any:
        start = self.pos
        if self.text[self.pos] in "+-":
            self.pos += 1
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] in "._+-"):
            if self.text[self.pos] in "+-" and self.text[self.pos - 1] not in "eEpP":
                break
            self.pos += 1
        raw = self.text[start : self.pos].replace("_", "")
        try:
            return int(raw, 0)
        except ValueError:
            pass
        try:
            return float(raw)
        except ValueError:
            raise self.error(f"bad number syntax: {raw!r}") from None


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any, bool]], lexer: _Lexer) -> None:
        self.tokens = tokens
        self.lexer = lexer
        self.pos = 0
        self.depth = 0

    def peek(self) -> tuple[str, Any, bool] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def pipeline(self, closing: str | None) -> _Pipeline:
        self.depth += 1
        if self.depth > MAX_NESTING_DEPTH:
            raise self.lexer.error("template nested too deeply")
        commands = [self.command(closing)]
        while (token := self.peek()) is not None and token[0] == "|":
            self.pos += 1
            commands.append(self.command(closing))
        self.depth -= 1
        return _Pipeline(commands)

    def command(self, closing: str | None) -> _Command:
        operands: list[_Term] = []
        while (token := self.peek()) is not None and token[0] not in ("|", ")"):
            operands.append(self.operand())
        if not operands:
            raise self.lexer.error("missing value for command")
        return _Command(operands)

    def operand(self) -> _Term:
        kind, value, _ = self.tokens[self.pos]
        self.pos += 1
        term: _Term
        if kind == "chain":
            term = _Term("field", fields=list(value))
        elif kind == "dot":
            term = _Term("dot")
        elif kind == "root":
            term = _Term("root")
        elif kind == "literal":
            term = _Term("literal", value)
        elif kind == "ident":
            if value not in _BUILTINS and lookup_sprig(value) is None:
                raise self.lexer.error(f'function "{value}" not defined')
            term = _Term("func", value)
        elif kind == "(":
            inner = self.pipeline(")")
            if (token := self.peek()) is None or token[0] != ")":
                raise self.lexer.error("unclosed left paren")
            self.pos += 1
            term = _Term("pipe", inner)
        else:
            raise self.lexer.error(f"unexpected {value!r} in command")
        # A field chain written right after a term applies to it: (index x 0).key, $.Input
        while (token := self.peek()) is not None and token[0] == "chain" and not token[2]:
            if term.kind in ("func", "literal"):
                raise self.lexer.error("fields can only follow a parenthesised pipeline, '.', or '$'")
            term.fields.extend(token[1])
            self.pos += 1
        return term


def _parse(source: str) -> list[Node]:
    if len(source) > MAX_TEMPLATE_LENGTH:
        raise TemplateError(f"template longer than {MAX_TEMPLATE_LENGTH} characters", source[:100])
    nodes: list[Node] = []
    pos = 0
    trim_next = False
    while True:
        start = source.find("{{", pos)
        text = source[pos:] if start < 0 else source[pos:start]
        if trim_next:
            text = text.lstrip(" \t\r\n")
        if start < 0:
            if text:
                nodes.append(text)
            return nodes
        inner_start = start + 2
        if (
            source.startswith("- ", inner_start)
            or source.startswith("-\t", inner_start)
            or source.startswith("-\n", inner_start)
        ):
            text = text.rstrip(" \t\r\n")
            inner_start += 1
        if text:
            nodes.append(text)
        end = _action_end(source, inner_start)
        if end < 0:
            raise TemplateError("unclosed action", source, start)
        inner_end, trim_next = end, False
        if inner_end >= 2 and source[inner_end - 1] == "-" and source[inner_end - 2] in " \t\r\n":
            inner_end -= 1
            trim_next = True
        body = source[inner_start:inner_end]
        stripped = body.strip()
        if stripped.startswith("/*"):
            if not stripped.endswith("*/"):
                raise TemplateError("unclosed comment", source, start)
        else:
            lexer = _Lexer(body, source, inner_start)
            tokens = lexer.tokens()
            if not tokens:
                raise TemplateError("missing value for command", source, start)
            parser = _Parser(tokens, lexer)
            pipeline = parser.pipeline(None)
            if parser.pos != len(tokens):
                raise lexer.error(f"unexpected {tokens[parser.pos][1]!r} in operand")
            nodes.append(pipeline)
        pos = end + 2


def _action_end(source: str, pos: int) -> int:
    """Index of the ``}}`` closing the action that starts at ``pos`` (quotes skipped), or -1."""
    quote: str | None = None
    index = pos
    while index < len(source):
        ch = source[index]
        if quote is not None:
            if ch == "\\" and quote == '"':
                index += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"`'":
            quote = ch
        elif source.startswith("}}", index):
            return index
        elif source.startswith("/*", index):
            close = source.find("*/", index + 2)
            if close < 0:
                return -1
            index = close + 2
            continue
        index += 1
    return -1
