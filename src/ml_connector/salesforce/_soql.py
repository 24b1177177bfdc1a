"""SOQL literal builders: the only way a value gets into a query (reference §3.4–3.5).

Strings are single-quoted with backslash escapes for ``\\ ' " \\n \\r \\t \\b \\f``; LIKE patterns also
escape ``%`` and ``_``; dateTimes are unquoted UTC with whole seconds and a ``Z`` (the ``+`` of an
offset would need URL-encoding, and fractional seconds are not a documented literal form); dates are
unquoted ``YYYY-MM-DD``. :func:`format` fills ``{}`` placeholders of a template with escaped literals,
so callers never concatenate a raw value into SOQL.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

__all__ = ["date_literal", "datetime_literal", "format", "in_list", "like", "literal", "quote"]

_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def _escape(text: str) -> str:
    return "".join(_ESCAPES.get(char, char) for char in text)


def quote(text: str) -> str:
    """A SOQL string literal: ``O'Brien`` → ``'O\\'Brien'``."""
    if not isinstance(text, str):
        raise TypeError(f"quote() takes a str, got {type(text).__name__}; use literal() for other types")
    return f"'{_escape(text)}'"


def datetime_literal(value: datetime) -> str:
    """An unquoted dateTime literal in UTC with whole seconds: ``2024-01-01T00:00:00Z``."""
    if value.tzinfo is None:
        raise ValueError("a SOQL dateTime needs a timezone-aware datetime (naive times are ambiguous)")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def date_literal(value: date) -> str:
    """An unquoted date literal: ``2024-01-31``."""
    if isinstance(value, datetime):
        raise TypeError("date_literal() takes a date; use datetime_literal() for a datetime")
    return value.isoformat()


def literal(value: Any) -> str:
    """Any supported Python value as a SOQL literal (str, bool, int, float, Decimal, date, datetime, None)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, datetime):
        return datetime_literal(value)
    if isinstance(value, date):
        return date_literal(value)
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and infinity have no SOQL literal")
        return repr(value)
    raise TypeError(f"no SOQL literal for {type(value).__name__}")


def in_list(values: Iterable[Any]) -> str:
    """``('a','b')`` for ``IN``; an empty list is refused (SOQL has no empty ``IN ()``)."""
    items = [literal(v) for v in values]
    if not items:
        raise ValueError("IN needs at least one value; skip the query when there is nothing to match")
    return "(" + ",".join(items) + ")"


def like(text: str, match: Literal["contains", "starts", "ends", "exact"] = "contains") -> str:
    """A LIKE pattern matching ``text`` literally (``%`` and ``_`` in it escaped)."""
    escaped = _escape(text).replace("%", "\\%").replace("_", "\\_")
    pattern = {"contains": f"%{escaped}%", "starts": f"{escaped}%", "ends": f"%{escaped}", "exact": escaped}[
        match
    ]
    return f"'{pattern}'"


class _LiteralFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec == "raw_in":
            return in_list(value)
        if format_spec:
            raise ValueError(f"unsupported format spec {format_spec!r} in a SOQL template")
        return literal(value)


def format(template: str, *args: Any, **kwargs: Any) -> str:
    """Fill ``{}``/``{name}`` in ``template`` with escaped literals; ``{name:raw_in}`` takes a list for IN.

    >>> format("SELECT Id FROM Account WHERE Name = {}", "O'Brien")
    "SELECT Id FROM Account WHERE Name = 'O\\\\'Brien'"
    """
    mapping: Mapping[str, Any] = kwargs
    return _LiteralFormatter().vformat(template, args, mapping)
