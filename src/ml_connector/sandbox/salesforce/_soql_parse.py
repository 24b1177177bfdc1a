"""SOQL for the sandbox, part one: the lark grammar and the parse into a small AST.

Covers what the connector and ordinary clients send (reference §3, §9 item 4): field lists with
parent relationship paths of any depth, child subqueries, ``COUNT()``, WHERE with AND/OR/NOT and
parentheses, ``= != <> < <= > >=``, ``IN``/``NOT IN``, ``LIKE``, ``null``, unquoted date and dateTime
literals, a few relative date literals (``TODAY``, ``YESTERDAY``, ``TOMORROW``, ``LAST_N_DAYS:n``,
``NEXT_N_DAYS:n``), escaped string literals (§3.5), ORDER BY with ASC/DESC and NULLS FIRST/LAST,
LIMIT and OFFSET. String comparisons are case-insensitive, as in Salesforce.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

__all__ = ["FieldPath", "Literal", "ParsedQuery", "QueryError", "SubQuery", "parse_query", "with_caret"]

_GRAMMAR = r"""
start: query
query: _SELECT select_list _FROM NAME where_clause? order_clause? limit_clause? offset_clause?
select_list: _select_item ("," _select_item)*
_select_item: field_path | subquery | count_call
count_call: COUNT "(" ")"
subquery: "(" _SELECT field_list _FROM NAME where_clause? order_clause? limit_clause? ")"
field_list: field_path ("," field_path)*
field_path: NAME ("." NAME)*
where_clause: _WHERE or_expr
or_expr: and_expr (_OR and_expr)*
and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> negate
         | "(" or_expr ")"
         | comparison
comparison: field_path COMP_OP value -> compare
          | field_path _IN "(" value ("," value)* ")" -> in_list
          | field_path _NOT _IN "(" value ("," value)* ")" -> not_in_list
          | field_path _LIKE value -> like
value: STRING -> string
     | SIGNED_NUMBER -> number
     | DATETIME -> datetime_value
     | DATE -> date_value
     | TRUE -> true
     | FALSE -> false
     | NULL -> null
     | NAME (":" INT)? -> date_literal
order_clause: _ORDER _BY order_item ("," order_item)*
order_item: field_path DIRECTION? (_NULLS NULLS_POS)?
limit_clause: _LIMIT INT
offset_clause: _OFFSET INT

_SELECT: "select"i
_FROM: "from"i
_WHERE: "where"i
_AND: "and"i
_OR: "or"i
_NOT: "not"i
_IN: "in"i
_LIKE: "like"i
_ORDER: "order"i
_BY: "by"i
_LIMIT: "limit"i
_OFFSET: "offset"i
_NULLS: "nulls"i
COUNT: "count"i
TRUE: "true"i
FALSE: "false"i
NULL: "null"i
DIRECTION: "asc"i | "desc"i
NULLS_POS: "first"i | "last"i
COMP_OP: "=" | "!=" | "<>" | "<=" | ">=" | "<" | ">"
NAME: /[a-z_][a-z0-9_]*/i
STRING: /'(?:[^'\\]|\\.)*'/s
DATETIME.3: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})/
DATE.2: /\d{4}-\d{2}-\d{2}/
%import common.SIGNED_NUMBER
%import common.INT
%import common.WS
%ignore WS
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)


class QueryError(Exception):
    """A query the real API refuses; ``code`` is the errorCode (MALFORMED_QUERY, INVALID_FIELD, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- AST ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldPath:
    """A possibly dotted field reference as written, with its source column for error messages."""

    parts: tuple[str, ...]
    column: int

    @property
    def text(self) -> str:
        """The path as written."""
        return ".".join(self.parts)


@dataclass(frozen=True)
class Literal:
    """A value in a WHERE clause; ``kind`` is string/number/boolean/null/date/datetime/relative."""

    kind: str
    value: Any
    raw: str = ""


@dataclass
class SubQuery:
    """``(SELECT … FROM Children …)`` inside the outer field list."""

    fields: list[FieldPath]
    relationship: str
    where: Any = None
    order: list[tuple[FieldPath, bool, bool]] = field(default_factory=list)
    limit: int | None = None


@dataclass
class ParsedQuery:
    """One parsed SOQL statement (not yet checked against the schema)."""

    select: list[FieldPath | SubQuery]
    object_name: str
    object_column: int
    where: Any = None
    order: list[tuple[FieldPath, bool, bool]] = field(default_factory=list)  # (path, descending, nulls_last)
    limit: int | None = None
    offset: int | None = None
    count_only: bool = False


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _decode_string(raw: str, *, like: bool) -> str:
    """Decode a quoted SOQL string (§3.5). In LIKE mode ``\\%``/``\\_`` stay escaped for the matcher."""
    body, out, i = raw[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt.lower() in _ESCAPES and nxt not in "\"'\\":
            out.append(_ESCAPES[nxt.lower()])
        elif nxt in "\"'\\":
            out.append("\\\\" if (like and nxt == "\\") else nxt)
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 4
        elif like and nxt in "%_":
            out.append("\\" + nxt)
        else:
            # §3.5: "Any other backslash use is an error."
            raise QueryError(
                "MALFORMED_QUERY", f"Invalid string literal '{raw}'. Illegal character sequence '\\{nxt}'"
            )
        i += 2
    return "".join(out)


@v_args(inline=True)
class _ToAst(Transformer[Token, Any]):
    def start(self, query: ParsedQuery) -> ParsedQuery:
        return query

    def query(self, select: list[Any], name: Token, *clauses: Any) -> ParsedQuery:
        parsed = ParsedQuery(select=[], object_name=str(name), object_column=name.column or 0)
        for item in select:
            if item == "COUNT()":
                parsed.count_only = True
            else:
                parsed.select.append(item)
        for kind, value in clauses:
            setattr(parsed, kind, value)
        return parsed

    def select_list(self, *items: Any) -> list[Any]:
        return list(items)

    def field_list(self, *items: FieldPath) -> list[FieldPath]:
        return list(items)

    def count_call(self, _token: Token) -> str:
        return "COUNT()"

    def subquery(self, fields: list[FieldPath], name: Token, *clauses: Any) -> SubQuery:
        sub = SubQuery(fields=fields, relationship=str(name))
        for kind, value in clauses:
            if kind == "offset":
                raise QueryError("MALFORMED_QUERY", "OFFSET is not allowed in a subquery")
            setattr(sub, kind, value)
        return sub

    def field_path(self, *names: Token) -> FieldPath:
        return FieldPath(tuple(str(n) for n in names), names[0].column or 0)

    def where_clause(self, expr: Any) -> tuple[str, Any]:
        return ("where", expr)

    def or_expr(self, *parts: Any) -> Any:
        return parts[0] if len(parts) == 1 else ("or", list(parts))

    def and_expr(self, *parts: Any) -> Any:
        return parts[0] if len(parts) == 1 else ("and", list(parts))

    def negate(self, inner: Any) -> Any:
        return ("not", inner)

    def compare(self, path: FieldPath, op: Token, value: Literal) -> Any:
        return ("cmp", path, "!=" if str(op) == "<>" else str(op), _plain(value))

    def in_list(self, path: FieldPath, *values: Literal) -> Any:
        return ("in", path, [_plain(v) for v in values], False)

    def not_in_list(self, path: FieldPath, *values: Literal) -> Any:
        return ("in", path, [_plain(v) for v in values], True)

    def like(self, path: FieldPath, value: Literal) -> Any:
        if value.kind != "string":
            raise QueryError("MALFORMED_QUERY", "LIKE needs a string literal")
        return ("like", path, Literal("like", _decode_string(value.raw, like=True), value.raw))

    def string(self, token: Token) -> Literal:
        # Decoded later: the escapes allowed depend on whether the literal is a LIKE pattern (§3.5).
        return Literal("string", None, str(token))

    def number(self, token: Token) -> Literal:
        return Literal("number", float(token), str(token))

    def datetime_value(self, token: Token) -> Literal:
        text = str(token)
        if "." in text:
            # UNVERIFIED (reference §3.4): fractional seconds are not in the documented literal formats;
            # the sandbox refuses them so the connector keeps emitting whole seconds.
            raise QueryError(
                "MALFORMED_QUERY", f"line 1:{token.column} no viable alternative at character '.' in {text}"
            )
        return Literal("datetime", datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC), text)

    def date_value(self, token: Token) -> Literal:
        return Literal("date", date.fromisoformat(str(token)), str(token))

    def true(self, _token: Token) -> Literal:
        return Literal("boolean", True, "true")

    def false(self, _token: Token) -> Literal:
        return Literal("boolean", False, "false")

    def null(self, _token: Token) -> Literal:
        return Literal("null", None, "null")

    def date_literal(self, name: Token, amount: Token | None = None) -> Literal:
        key = str(name).upper()
        if key not in _RELATIVE or (amount is None) != (key in {"TODAY", "YESTERDAY", "TOMORROW"}):
            raise QueryError("MALFORMED_QUERY", f"unexpected token: '{name}'")
        return Literal("relative", (key, int(amount) if amount is not None else 0), str(name))

    def order_clause(self, *items: tuple[FieldPath, bool, bool]) -> tuple[str, Any]:
        return ("order", list(items))

    def order_item(self, path: FieldPath, *rest: Token) -> tuple[FieldPath, bool, bool]:
        descending = any(t.type == "DIRECTION" and str(t).lower() == "desc" for t in rest)
        nulls = [str(t).lower() for t in rest if t.type == "NULLS_POS"]
        # SOQL default: ASC → NULLS FIRST, DESC → NULLS LAST.
        nulls_last = nulls[0] == "last" if nulls else descending
        return (path, descending, nulls_last)

    def limit_clause(self, token: Token) -> tuple[str, int]:
        return ("limit", int(token))

    def offset_clause(self, token: Token) -> tuple[str, int]:
        return ("offset", int(token))


def _plain(literal: Literal) -> Literal:
    """A string literal outside LIKE, decoded with the ordinary escapes."""
    if literal.kind != "string":
        return literal
    return Literal("string", _decode_string(literal.raw, like=False), literal.raw)


_RELATIVE = {"TODAY", "YESTERDAY", "TOMORROW", "LAST_N_DAYS", "NEXT_N_DAYS"}


def parse_query(soql: str) -> ParsedQuery:
    """Parse ``soql`` or raise :class:`QueryError` with the MALFORMED_QUERY message of §3.6."""
    try:
        tree = _PARSER.parse(soql)
    except UnexpectedToken as exc:
        shown = "<EOF>" if exc.token.type == "$END" else str(exc.token)
        raise QueryError("MALFORMED_QUERY", _echo(soql, exc, f"unexpected token: '{shown}'")) from None
    except UnexpectedCharacters as exc:
        raise QueryError("MALFORMED_QUERY", _echo(soql, exc, f"unexpected token: '{exc.char}'")) from None
    except UnexpectedEOF as exc:
        raise QueryError("MALFORMED_QUERY", _echo(soql, exc, "unexpected token: '<EOF>'")) from None
    try:
        result: ParsedQuery = _ToAst().transform(tree)
    except Exception as exc:  # lark wraps transformer errors in VisitError
        inner = getattr(exc, "orig_exc", exc)
        if isinstance(inner, QueryError):
            raise inner from None
        raise
    return result


def _echo(soql: str, exc: UnexpectedInput, message: str) -> str:
    column = getattr(exc, "column", 0) or 0
    return with_caret(soql, column, message)


def with_caret(soql: str, column: int, message: str) -> str:
    """The long error form of §3.6: the SOQL echoed, a caret line, ``ERROR at Row:1:Column:n``."""
    line = soql.replace("\n", " ")
    return f"\n{line}\n{' ' * max(column - 1, 0)}^\nERROR at Row:1:Column:{column}\n{message}"
