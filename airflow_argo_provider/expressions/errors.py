"""The single exception type raised by the expressions package."""

from __future__ import annotations

__all__ = ["ExpressionError"]

_SHOWN_EXPRESSION_CHARS = 200


class ExpressionError(Exception):
    """Any failure while parsing, checking or evaluating an expression or template.

    Attributes:
        expression: the text that failed (an expression, a ``when`` condition, a template...).
        position: 0-based character offset into ``expression`` when known, else ``None``.
        message: what went wrong, without the expression.

    ``str()`` gives a one-line message naming the expression and the position.
    """

    def __init__(self, message: str, expression: str = "", position: int | None = None) -> None:
        self.message = message
        self.expression = expression
        self.position = position
        super().__init__(self._render())

    def _render(self) -> str:
        shown = self.expression
        if len(shown) > _SHOWN_EXPRESSION_CHARS:
            shown = shown[:_SHOWN_EXPRESSION_CHARS] + "..."
        shown = shown.replace("\r", "\\r").replace("\n", "\\n")
        text = self.message.replace("\n", " ")
        if not self.expression:
            return text
        where = f" at position {self.position}" if self.position is not None else ""
        return f"{text} (in {shown!r}{where})"

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self) -> tuple[type, tuple[str, str, int | None]]:
        return (type(self), (self.message, self.expression, self.position))
