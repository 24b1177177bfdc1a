"""The ``$filter`` language of the contract-based API: a lark grammar and an evaluator.

Covers what §5.1 of the reference lists: ``eq ne gt ge lt le``, ``and or not``, parentheses,
``substringof``/``startswith``/``endswith``, string literals with doubled quotes, numbers, booleans,
``null``, ``datetimeoffset'…'`` (offsets honoured or not, see the store), ``datetime'…'``,
``date'…'``, ``guid'…'`` and linked paths such as ``MainContact/Email``.

String comparisons are case-insensitive because the tenant database is SQL Server with its default
case-insensitive collation [Inf; keys in errors are padded like SQL Server ``char`` columns, §4.3].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError

__all__ = ["FilterError", "FilterExpr", "UnknownField", "parse_filter"]

_GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*       -> or_
?and_expr: not_expr (_AND not_expr)*     -> and_
?not_expr: _NOT not_expr                 -> not_
         | comparison
?comparison: operand COMPARE operand     -> compare
           | operand
?operand: function
        | literal
        | path
        | "(" or_expr ")"
function: FUNC "(" operand ("," operand)* ")"
path: NAME ("/" NAME)*
literal: STRING -> string
       | DATETIMEOFFSET -> datetimeoffset
       | DATETIME -> datetime
       | DATE -> date
       | GUID -> guid
       | NUMBER -> number
       | TRUE -> true
       | FALSE -> false
       | NULL -> null

_OR.2: /or(?![A-Za-z0-9_])/
_AND.2: /and(?![A-Za-z0-9_])/
_NOT.2: /not(?![A-Za-z0-9_])/
COMPARE.2: /(eq|ne|gt|ge|lt|le)(?![A-Za-z0-9_])/
TRUE.2: /true(?![A-Za-z0-9_])/
FALSE.2: /false(?![A-Za-z0-9_])/
NULL.2: /null(?![A-Za-z0-9_])/
FUNC.3: /(substringof|startswith|endswith|tolower|toupper)(?=\s*\()/
DATETIMEOFFSET.3: /datetimeoffset'[^']*'/
DATETIME.3: /datetime'[^']*'/
DATE.3: /date'[^']*'/
GUID.3: /guid'[^']*'/
STRING: /'(?:[^']|'')*'/
NUMBER: /-?\d+(\.\d+)?[mMdDfFlL]?/
NAME: /[A-Za-z_][A-Za-z0-9_]*/

%import common.WS
%ignore WS
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", lexer="contextual")


class FilterError(ValueError):
    """The ``$filter`` text is not valid OData (the server answers 500, see the app)."""


class UnknownField(KeyError):
    """A path in the filter names a field the entity does not have."""


@dataclass(frozen=True)
class _Literal:
    value: Any


@dataclass(frozen=True)
class _Path:
    parts: tuple[str, ...]


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class _Compare:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class _Bool:
    op: str  # "and" | "or" | "not"
    args: tuple[Any, ...]


def _parse_offset_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value


@v_args(inline=True)
class _ToAst(Transformer[Token, Any]):
    def string(self, token: Token) -> _Literal:
        return _Literal(str(token)[1:-1].replace("''", "'"))

    def datetimeoffset(self, token: Token) -> _Literal:
        return _Literal(_parse_offset_datetime(str(token)[len("datetimeoffset'") : -1]))

    def datetime(self, token: Token) -> _Literal:
        return _Literal(_parse_offset_datetime(str(token)[len("datetime'") : -1]))

    def date(self, token: Token) -> _Literal:
        day = date.fromisoformat(str(token)[len("date'") : -1])
        return _Literal(datetime(day.year, day.month, day.day))

    def guid(self, token: Token) -> _Literal:
        return _Literal(str(token)[len("guid'") : -1].lower())

    def number(self, token: Token) -> _Literal:
        return _Literal(Decimal(str(token).rstrip("mMdDfFlL")))

    def true(self, token: Token) -> _Literal:
        return _Literal(True)

    def false(self, token: Token) -> _Literal:
        return _Literal(False)

    def null(self, token: Token) -> _Literal:
        return _Literal(None)

    def path(self, *names: Token) -> _Path:
        return _Path(tuple(str(n) for n in names))

    def function(self, name: Token, *args: Any) -> _Call:
        return _Call(str(name), args)

    def compare(self, left: Any, op: Token, right: Any) -> _Compare:
        return _Compare(str(op), left, right)

    def and_(self, *args: Any) -> _Bool:
        return _Bool("and", args)

    def or_(self, *args: Any) -> _Bool:
        return _Bool("or", args)

    def not_(self, arg: Any) -> _Bool:
        return _Bool("not", (arg,))


Resolver = Callable[[tuple[str, ...]], Any]
DateKey = Callable[[datetime], Any]


class FilterExpr:
    """A parsed ``$filter``; :meth:`matches` evaluates it against one record."""

    def __init__(self, text: str, tree: Any) -> None:
        self.text = text
        self._tree = tree

    def paths(self) -> list[tuple[str, ...]]:
        """Every field path the filter reads (to check them against the schema)."""
        found: list[tuple[str, ...]] = []

        def walk(node: Any) -> None:
            if isinstance(node, _Path):
                found.append(node.parts)
            elif isinstance(node, _Compare):
                walk(node.left)
                walk(node.right)
            elif isinstance(node, _Call | _Bool):
                for arg in node.args:
                    walk(arg)

        walk(self._tree)
        return found

    def matches(self, resolve: Resolver, *, field_datetime: DateKey, literal_datetime: DateKey) -> bool:
        """True when the record behind ``resolve`` satisfies the filter.

        ``field_datetime``/``literal_datetime`` map a stored datetime and a filter literal onto
        comparable keys, which is where the server time-zone behaviour plugs in (§9 pitfall 1).
        """
        return bool(_Evaluator(resolve, field_datetime, literal_datetime).eval(self._tree))


class _Evaluator:
    def __init__(self, resolve: Resolver, field_dt: DateKey, literal_dt: DateKey) -> None:
        self.resolve = resolve
        self.field_dt = field_dt
        self.literal_dt = literal_dt

    def eval(self, node: Any) -> Any:
        if isinstance(node, _Literal):
            value = node.value
            return self.literal_dt(value) if isinstance(value, datetime) else value
        if isinstance(node, _Path):
            value = self.resolve(node.parts)
            if isinstance(value, datetime):
                return self.field_dt(value)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return Decimal(str(value))
            return value
        if isinstance(node, _Bool):
            if node.op == "not":
                return not self.eval(node.args[0])
            results = (bool(self.eval(arg)) for arg in node.args)
            return all(results) if node.op == "and" else any(results)
        if isinstance(node, _Call):
            return self._call(node)
        if isinstance(node, _Compare):
            return _compare(node.op, self.eval(node.left), self.eval(node.right))
        raise FilterError(f"cannot evaluate {node!r}")

    def _call(self, node: _Call) -> Any:
        args = [self.eval(arg) for arg in node.args]
        if node.name in ("tolower", "toupper"):
            (text,) = args
            return None if text is None else (text.lower() if node.name == "tolower" else text.upper())
        if len(args) != 2:
            raise FilterError(f"{node.name} takes two arguments")
        if node.name == "substringof":
            needle, haystack = args
        else:
            haystack, needle = args
        if haystack is None or needle is None:
            return False
        haystack, needle = str(haystack).casefold(), str(needle).casefold()
        if node.name == "substringof":
            return needle in haystack
        if node.name == "startswith":
            return haystack.startswith(needle)
        return haystack.endswith(needle)


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        left, right = left.casefold().rstrip(), right.casefold().rstrip()
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False  # SQL: comparing with NULL is never true
    try:
        if op == "gt":
            return bool(left > right)
        if op == "ge":
            return bool(left >= right)
        if op == "lt":
            return bool(left < right)
        return bool(left <= right)
    except TypeError as exc:
        raise FilterError(f"cannot compare {left!r} with {right!r}") from exc


def parse_filter(text: str) -> FilterExpr:
    """Parse a ``$filter`` value; raise :class:`FilterError` when it is not valid."""
    try:
        tree = _ToAst().transform(_PARSER.parse(text))
    except (LarkError, ValueError) as exc:
        raise FilterError(f"Invalid $filter: {text!r} ({exc.__class__.__name__})") from exc
    return FilterExpr(text, tree)


def utc_key(value: datetime) -> datetime:
    """Default datetime key: naive values are taken as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
