"""Argo Events' ``dataTemplate``: Go ``text/template`` with sprig, as a small safe evaluator.

Argo Events renders ``dataTemplate`` (and ``filters.data[].template``) with Go's ``text/template``
over ``{"Input": event data}``. Templates in sensors are untrusted text, so this is not a general
template engine and nothing is passed to Python's ``eval`` or to Jinja: the actions are parsed
into a small tree and evaluated over plain JSON data with a work budget.

Supported inside ``{{ }}``: field chains (``.Input.body.Records``, ``$.Input``), the dot, string,
raw-string, number, boolean and ``nil`` literals, parenthesised pipelines followed by fields
(``(index .Input.body.Records 0).s3.object.key``), pipes (``| lower``), the builtins ``index``,
``len``, ``slice``, ``print``, ``printf``, ``println``, ``urlquery``, ``and``, ``or``, ``not``,
``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge``, every sprig function the expression engine has,
comments, and the ``{{-``/``-}}`` whitespace trimming. Control structures (``if``, ``range``,
``with``, ``define``, ``template``, ``block``) and variables (``$x :=``) are rejected with a clear
message when the manifest is loaded. Values print like Go's ``fmt.Print``: a missing map key is
``<no value>``, JSON null is ``<nil>``, numbers are Go ``float64`` (``1e+06``).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from .errors import ExpressionError
from .exprlang import Context
from .functions import lookup_sprig
from .gofmt import format_v
from .limits import MAX_NESTING_DEPTH, MAX_STRING_LENGTH, Budget
from .values import Fail

MAX_TEMPLATE_LENGTH = 20_000

__all__ = ["NO_VALUE", "GoTemplate", "TemplateError", "as_go_data", "check_template", "render"]

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


# -- evaluation -------------------------------------------------------------------------------------------
def _truth(value: Any) -> bool:
    if value is None or value is NO_VALUE or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return True


def _type(value: Any) -> str:
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "string"
    return "interface {}"


def _sprint(values: list[Any], spaces: bool = False) -> str:
    parts: list[str] = []
    previous_string = True
    for index, value in enumerate(values):
        is_string = isinstance(value, str)
        if index and (spaces or (not is_string and not previous_string)):
            parts.append(" ")
        parts.append(_print(value))
        previous_string = is_string
    return "".join(parts)


def _print(value: Any) -> str:
    if value is NO_VALUE:
        return "<no value>"
    return format_v(value)


def _printf(fmt: Any, args: list[Any]) -> str:
    if not isinstance(fmt, str):
        raise Fail(f"printf: format is {_type(fmt)}, not string")
    out: list[str] = []
    index = 0
    used = 0
    while index < len(fmt):
        ch = fmt[index]
        if ch != "%":
            out.append(ch)
            index += 1
            continue
        index += 1
        if index >= len(fmt):
            out.append("%!(NOVERB)")
            break
        verb = fmt[index]
        index += 1
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[used]
        used += 1
        if verb in "sv":
            out.append(_print(arg))
        elif verb == "d" and isinstance(arg, (int, float)) and float(arg).is_integer():
            out.append(str(int(arg)))
        elif verb == "q":
            out.append('"' + _print(arg).replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif verb == "t" and isinstance(arg, bool):
            out.append("true" if arg else "false")
        elif verb == "f" and isinstance(arg, (int, float)):
            out.append(f"{float(arg):f}")
        else:
            out.append(f"%!{verb}({_type(arg)}={_print(arg)})")
    if used < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{_type(a)}={_print(a)}" for a in args[used:]) + ")")
    return "".join(out)


def _index(value: Any, keys: list[Any]) -> Any:
    for key in keys:
        if isinstance(value, dict):
            if not isinstance(key, str):
                raise Fail(f"index: value has type {_type(key)}; should be string")
            value = value.get(key, NO_VALUE)
        elif isinstance(value, (list, str)):
            if isinstance(key, float) and key.is_integer():
                key = int(key)
            if not isinstance(key, int) or isinstance(key, bool):
                raise Fail(f"index: cannot index slice/array with type {_type(key)}")
            if key < 0 or key >= len(value):
                raise Fail(f"index: index out of range: {key}")
            value = value[key] if isinstance(value, list) else ord(value[key])
        elif value is None or value is NO_VALUE:
            raise Fail("index of untyped nil")
        else:
            raise Fail(f"can't index item of type {_type(value)}")
    return value


def _compare(name: str, a: Any, b: Any) -> bool:
    numeric = (int, float)
    if isinstance(a, numeric) and isinstance(b, numeric) and not isinstance(a, bool) and not isinstance(b, bool):
        pass
    elif type(a) is not type(b) or not isinstance(a, (str, bool, int, float)):
        if name in ("eq", "ne") and (a is None or b is None):
            return (a is b) == (name == "eq")
        raise Fail(f"{name}: incompatible types for comparison ({_type(a)} and {_type(b)})")
    if name == "eq":
        return bool(a == b)
    if name == "ne":
        return bool(a != b)
    if isinstance(a, bool):
        raise Fail(f"{name}: invalid type for comparison (bool)")
    if name == "lt":
        return bool(a < b)
    if name == "le":
        return bool(a <= b)
    if name == "gt":
        return bool(a > b)
    return bool(a >= b)


class _Evaluator:
    def __init__(self, source: str, data: Any) -> None:
        self.source = source
        self.data = data
        self.budget = Budget(source)
        self.context = Context({}, self.budget)

    def pipeline(self, pipeline: _Pipeline, dot: Any) -> Any:
        value: Any = NO_VALUE
        piped = False
        for command in pipeline.commands:
            value = self.command(command, dot, value if piped else NO_VALUE, piped)
            piped = True
        return value

    def command(self, command: _Command, dot: Any, piped_value: Any, piped: bool) -> Any:
        self.budget.spend()
        first = command.operands[0]
        if first.kind == "func":
            args = command.operands[1:]
            return self.call(str(first.value), args, dot, piped_value, piped)
        if len(command.operands) > 1 or piped:
            raise Fail(f"can't give argument to non-function {self._describe(first)}")
        return self.operand(first, dot)

    def _describe(self, term: _Term) -> str:
        if term.kind == "field":
            return "." + ".".join(term.fields)
        if term.kind == "literal":
            return _print(term.value)
        return term.kind

    def operand(self, term: _Term, dot: Any) -> Any:
        if term.kind == "func":
            return self.call(str(term.value), [], dot, NO_VALUE, False)
        if term.kind == "literal":
            value = term.value
        elif term.kind == "dot" or term.kind == "field":
            value = dot
        elif term.kind == "root":
            value = self.data
        else:
            value = self.pipeline(term.value, dot)
        for name in term.fields:
            value = self.field(value, name)
        return value

    def field(self, value: Any, name: str) -> Any:
        self.budget.spend()
        if isinstance(value, dict):
            return value.get(name, NO_VALUE)
        if value is None or value is NO_VALUE:
            raise Fail(f"nil pointer evaluating interface {{}}.{name}")
        raise Fail(f"can't evaluate field {name} in type {_type(value)}")

    def call(self, name: str, arg_terms: list[_Term], dot: Any, piped_value: Any, piped: bool) -> Any:
        if name in ("and", "or"):
            values = [*arg_terms, None] if piped else arg_terms
            if not values:
                raise Fail(f"wrong number of args for {name}: want at least 1 got 0")
            result: Any = NO_VALUE
            for term in values:
                result = piped_value if term is None else self.operand(term, dot)
                if _truth(result) != (name == "and"):
                    return result
            return result
        args = [self.operand(term, dot) for term in arg_terms]
        if piped:
            args.append(piped_value)
        if name in _BUILTINS:
            return self.builtin(name, args)
        spec = lookup_sprig(name)
        if spec is None:
            raise Fail(f'function "{name}" not defined')
        try:
            return spec.impl(self.context, *[None if a is NO_VALUE else a for a in args])
        except TypeError:
            raise Fail(f"wrong number of args for {name}: got {len(args)}") from None

    def builtin(self, name: str, args: list[Any]) -> Any:
        def want(count: int) -> None:
            if len(args) != count:
                raise Fail(f"wrong number of args for {name}: want {count} got {len(args)}")

        if name == "not":
            want(1)
            return not _truth(args[0])
        if name == "len":
            want(1)
            if isinstance(args[0], (str, list, dict)):
                return len(args[0])
            raise Fail(f"len of type {_type(args[0])}")
        if name == "index":
            if not args:
                raise Fail("wrong number of args for index: want at least 1 got 0")
            return _index(args[0], args[1:])
        if name == "slice":
            if not args or not isinstance(args[0], (str, list)):
                raise Fail("slice: can't slice item")
            bounds = [int(b) for b in args[1:3]]
            return args[0][slice(*bounds)] if bounds else args[0]
        if name == "print":
            return _sprint(args)
        if name == "println":
            return _sprint(args, spaces=True) + "\n"
        if name == "printf":
            if not args:
                raise Fail("wrong number of args for printf: want at least 1 got 0")
            return _printf(args[0], args[1:])
        if name == "urlquery":
            return urllib.parse.quote_plus(_sprint(args), safe="")
        if len(args) < 2:
            raise Fail(f"wrong number of args for {name}: want 2 got {len(args)}")
        if name == "eq":
            return any(_compare("eq", args[0], other) for other in args[1:])
        want(2)
        return _compare(name, args[0], args[1])


@dataclass
class GoTemplate:
    """A parsed template; :meth:`render` evaluates it over ``{"Input": data}``-style data."""

    source: str
    nodes: list[Node] = field(default_factory=list)

    @classmethod
    def parse(cls, source: str) -> GoTemplate:
        return cls(source, _parse(source))

    def render(self, data: Any) -> str:
        evaluator = _Evaluator(self.source, data)
        out: list[str] = []
        size = 0
        for node in self.nodes:
            if isinstance(node, str):
                piece = node
            else:
                try:
                    piece = _print(evaluator.pipeline(node, data))
                except Fail as exc:
                    raise TemplateError(exc.message, self.source) from None
                except ExpressionError as exc:
                    raise TemplateError(exc.message, self.source) from None
            size += len(piece)
            if size > MAX_STRING_LENGTH:
                raise TemplateError(f"template output exceeds the limit of {MAX_STRING_LENGTH} characters", self.source)
            out.append(piece)
        return "".join(out)


def check_template(source: str) -> None:
    """Raise :class:`TemplateError` unless ``source`` is a template this evaluator runs."""
    GoTemplate.parse(source)


def render(source: str, data: Any) -> str:
    return GoTemplate.parse(source).render(data)


def as_go_data(value: Any) -> Any:
    """Decoded JSON the way Go's ``gjson ... .Value()`` hands it to a template: every number a float64."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        return {str(k): as_go_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_go_data(v) for v in value]
    return value
