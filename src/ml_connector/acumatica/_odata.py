"""Build ``$filter`` expressions without ever pasting a raw value into the text.

Literals follow OData v3 as §5.1 of the reference describes: strings in single quotes with a quote
doubled (``'O''Brien'``), ``datetimeoffset'…'`` with an explicit offset (naive datetimes are refused,
because what the server compares them with depends on its time zone, §9.1), ``guid'…'``, numbers,
``true``/``false``/``null``. URL encoding (``&`` -> ``%26``, ``#`` -> ``%23``, ``+`` -> ``%2B``) is
left to the HTTP layer, which encodes query parameters.

    >>> from ml_connector.acumatica import odata
    >>> str(odata.field("CustomerOrder").eq("CRM-1") & odata.field("MainContact/Email").startswith("a"))
    "(CustomerOrder eq 'CRM-1' and startswith(MainContact/Email,'a'))"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

__all__ = ["Expr", "Field", "all_of", "any_of", "field", "literal", "matching"]

_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")


def literal(value: Any) -> str:
    """The OData v3 literal for a Python value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetimeoffset literals need an aware datetime (the offset matters, §9.1)")
        return f"datetimeoffset'{value.isoformat(timespec='milliseconds')}'"
    if isinstance(value, date):
        return f"datetimeoffset'{value.isoformat()}T00:00:00+00:00'"
    if isinstance(value, UUID):
        return f"guid'{value}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no OData literal for {type(value).__name__}")


class Expr:
    """A boolean filter expression; combine with ``&``, ``|`` and ``~``; ``str()`` is the text."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def __and__(self, other: Expr) -> Expr:
        return Expr(f"({self._text} and {other._text})")

    def __or__(self, other: Expr) -> Expr:
        return Expr(f"({self._text} or {other._text})")

    def __invert__(self) -> Expr:
        return Expr(f"not ({self._text})")

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Expr({self._text!r})"


class Field:
    """A field path (``CustomerID``, ``MainContact/Email``); its methods build comparisons."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        if not _PATH.match(path):
            raise ValueError(f"not a field path: {path!r}")
        self.path = path

    def _cmp(self, op: str, value: Any) -> Expr:
        return Expr(f"{self.path} {op} {literal(value)}")

    def eq(self, value: Any) -> Expr:
        """``path eq value``."""
        return self._cmp("eq", value)

    def ne(self, value: Any) -> Expr:
        """``path ne value``."""
        return self._cmp("ne", value)

    def gt(self, value: Any) -> Expr:
        """``path gt value``."""
        return self._cmp("gt", value)

    def ge(self, value: Any) -> Expr:
        """``path ge value``."""
        return self._cmp("ge", value)

    def lt(self, value: Any) -> Expr:
        """``path lt value``."""
        return self._cmp("lt", value)

    def le(self, value: Any) -> Expr:
        """``path le value``."""
        return self._cmp("le", value)

    def startswith(self, value: str) -> Expr:
        """``startswith(path,'value')``."""
        return Expr(f"startswith({self.path},{literal(value)})")

    def endswith(self, value: str) -> Expr:
        """``endswith(path,'value')``."""
        return Expr(f"endswith({self.path},{literal(value)})")

    def contains(self, value: str) -> Expr:
        """``substringof('value',path)`` (OData v3; ``contains`` is not documented, §5.1)."""
        return Expr(f"substringof({literal(value)},{self.path})")


def field(path: str) -> Field:
    """A field of the entity (``/`` walks into linked entities; details cannot be filtered, §5.1)."""
    return Field(path)


def all_of(*exprs: Expr) -> Expr:
    """All conditions (``and``)."""
    if not exprs:
        raise ValueError("all_of needs at least one condition")
    result = exprs[0]
    for expr in exprs[1:]:
        result = result & expr
    return result


def any_of(*exprs: Expr) -> Expr:
    """Any condition (``or``)."""
    if not exprs:
        raise ValueError("any_of needs at least one condition")
    result = exprs[0]
    for expr in exprs[1:]:
        result = result | expr
    return result


def matching(values: Mapping[str, Any]) -> Expr:
    """``a eq 1 and b eq 'x'`` for every pair."""
    return all_of(*(field(name).eq(value) for name, value in values.items()))
