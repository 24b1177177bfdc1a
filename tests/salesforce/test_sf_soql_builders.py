"""SOQL literal builders: escaping per reference §3.4–3.5, checked against the sandbox's parser."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector.salesforce import soql
from ml_connector.sandbox.salesforce._soql import parse_query


def parsed_value(literal_text: str) -> object:
    query = parse_query(f"SELECT Id FROM Account WHERE Name = {literal_text}")
    return query.where[3].value


def test_quote_escapes_reserved_characters() -> None:
    assert soql.quote("O'Brien") == "'O\\'Brien'"
    assert soql.quote('a\\b"c\n\r\t\b\f') == "'a\\\\b\\\"c\\n\\r\\t\\b\\f'"


@given(st.text())
def test_quoted_text_parses_back_to_itself(text: str) -> None:
    assert parsed_value(soql.quote(text)) == text


def test_datetime_literal_is_utc_whole_seconds_unquoted() -> None:
    local = datetime(2024, 1, 1, 2, 30, 15, 999_000, tzinfo=timezone(timedelta(hours=2)))
    assert soql.datetime_literal(local) == "2024-01-01T00:30:15Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        soql.datetime_literal(datetime(2024, 1, 1))
    assert soql.date_literal(date(2024, 2, 29)) == "2024-02-29"
    with pytest.raises(TypeError):
        soql.date_literal(datetime(2024, 1, 1, tzinfo=UTC))


def test_literal_dispatches_on_type() -> None:
    assert soql.literal(None) == "null"
    assert soql.literal(True) == "true"
    assert soql.literal(12) == "12"
    assert soql.literal(Decimal("4.50")) == "4.50"
    assert soql.literal(1.5) == "1.5"
    assert soql.literal(date(2024, 1, 2)) == "2024-01-02"
    with pytest.raises(TypeError):
        soql.literal(object())
    with pytest.raises(ValueError):
        soql.literal(float("nan"))


def test_in_list_quotes_every_item_and_refuses_empty() -> None:
    assert soql.in_list(["a'b", "c"]) == "('a\\'b','c')"
    with pytest.raises(ValueError):
        soql.in_list([])


def test_like_escapes_wildcards() -> None:
    assert soql.like("100%_x'") == "'%100\\%\\_x\\'%'"
    assert soql.like("ab", "starts") == "'ab%'"
    assert soql.like("ab", "exact") == "'ab'"


def test_format_fills_placeholders_with_literals() -> None:
    text = soql.format(
        "SELECT Id FROM Account WHERE Name = {name} AND SystemModstamp > {since} AND Id IN {ids:raw_in}",
        name="O'Brien",
        since=datetime(2024, 1, 1, tzinfo=UTC),
        ids=["001", "002"],
    )
    assert text == (
        "SELECT Id FROM Account WHERE Name = 'O\\'Brien' AND SystemModstamp > 2024-01-01T00:00:00Z "
        "AND Id IN ('001','002')"
    )
    parse_query(text)  # the sandbox grammar accepts what the builders emit
