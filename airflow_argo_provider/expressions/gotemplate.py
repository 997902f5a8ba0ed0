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
from .gotemplate_parse import _BUILTINS, NO_VALUE, Node, TemplateError, _Command, _parse, _Pipeline, _Term
from .limits import MAX_STRING_LENGTH, Budget
from .values import Fail

__all__ = ["NO_VALUE", "GoTemplate", "TemplateError", "as_go_data", "check_template", "render"]


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
