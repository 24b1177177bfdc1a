"""Pure parts of the client: value wrapping and the ``$filter`` builder."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector.acumatica import odata, unwrap_record, wrap_record
from ml_connector.acumatica._values import dumps, field_errors, loads


def test_wrap_record_wraps_fields_nests_links_and_details_and_keeps_system_keys_bare():
    wrapped = wrap_record(
        {
            "id": "abc",
            "CustomerID": "C1",
            "CreditLimit": Decimal("1234.50"),
            "Date": date(2024, 7, 1),
            "MainContact": {"Email": "a@b.c", "Address": {"City": "Boise"}},
            "Details": [{"id": "row1", "delete": True}, {"Qty": Decimal("2")}],
            "note": "hello",
            "custom": {"Document": {"UsrFlag": True}},
        }
    )
    assert wrapped == {
        "id": "abc",
        "CustomerID": {"value": "C1"},
        "CreditLimit": {"value": Decimal("1234.50")},
        "Date": {"value": "2024-07-01T00:00:00"},
        "MainContact": {"Email": {"value": "a@b.c"}, "Address": {"City": {"value": "Boise"}}},
        "Details": [{"id": "row1", "delete": True}, {"Qty": {"value": Decimal("2")}}],
        "note": {"value": "hello"},
        "custom": {"Document": {"UsrFlag": {"type": "CustomBooleanField", "value": True}}},
    }


def test_decimals_go_out_as_exact_json_numbers_or_numeric_strings():
    assert json.loads(
        dumps({"a": Decimal("4.98"), "b": Decimal("0.1000000000000000055511151231257827")})
    ) == {
        "a": 4.98,
        "b": "0.1000000000000000055511151231257827",
    }


def test_unwrap_keeps_decimals_offsets_and_turns_empty_wrappers_into_none():
    raw = loads(
        b'{"id": "x", "rowNumber": 1, "note": {"value": ""}, "Amount": {"value": 540.10}, "Qty": {"value": 10},'
        b' "LineNbr": {"value": 3}, "AccountRef": {}, "LastModifiedDateTime": {"value": "2024-07-01T15:20:11.37+02:00"},'
        b' "Description": {"value": "2024-01-01T00:00:00+00:00"},'
        b' "MainContact": {"id": "m", "rowNumber": 1, "note": null, "Email": {"value": "a@b.c"}, "custom": {}},'
        b' "Details": [{"id": "d", "rowNumber": 1, "UnitPrice": {"value": 5}}],'
        b' "custom": {"CustomerBalance": {"Balance": {"type": "CustomDecimalField", "value": 12.5}}},'
        b' "_links": {"self": "/x"}}'
    )
    record = unwrap_record(raw)
    assert record["Amount"] == Decimal("540.10") and isinstance(record["Amount"], Decimal)
    assert record["Qty"] == Decimal(10) and isinstance(record["Qty"], Decimal)
    assert record["LineNbr"] == 3 and isinstance(record["LineNbr"], int)
    assert record["AccountRef"] is None
    assert record["LastModifiedDateTime"] == datetime(
        2024, 7, 1, 15, 20, 11, 370000, tzinfo=timezone(timedelta(hours=2))
    )
    assert record["LastModifiedDateTime"].utcoffset() == timedelta(hours=2)
    assert record["Description"] == "2024-01-01T00:00:00+00:00"  # a text field stays text
    assert record["MainContact"] == {"id": "m", "note": None, "Email": "a@b.c", "custom": {}}
    assert record["Details"] == [{"id": "d", "UnitPrice": Decimal(5)}]
    assert record["custom"] == {"CustomerBalance": {"Balance": Decimal("12.5")}}
    assert "_links" not in record and "rowNumber" not in record


def test_field_errors_collects_record_field_and_detail_row_errors():
    body = {
        "error": "Inserting record raised at least one error.",
        "CustomerID": {"value": "X", "error": "'Customer' cannot be found in the system."},
        "Details": [
            {"id": "1", "InventoryID": {"value": "Y"}},
            {"id": "2", "InventoryID": {"value": "Z", "error": "bad"}},
        ],
    }
    assert field_errors(body) == {
        "": "Inserting record raised at least one error.",
        "CustomerID": "'Customer' cannot be found in the system.",
        "Details/1/InventoryID": "bad",
    }


def test_filter_builder_escapes_quotes_and_never_concatenates_raw_values():
    expr = odata.field("CustomerName").eq("O'Brien & Sons #1") & odata.field("MainContact/Email").startswith(
        "x'y"
    )
    assert str(expr) == "(CustomerName eq 'O''Brien & Sons #1' and startswith(MainContact/Email,'x''y'))"
    assert str(~odata.field("Status").ne("Active")) == "not (Status ne 'Active')"
    assert str(odata.field("Name").contains("a")) == "substringof('a',Name)"
    assert str(odata.any_of(odata.field("A").eq(1), odata.field("B").eq(True))) == "(A eq 1 or B eq true)"
    assert (
        str(odata.matching({"CustomerOrder": "SO-1", "Amount": Decimal("1.50")}))
        == "(CustomerOrder eq 'SO-1' and Amount eq 1.50)"
    )


def test_filter_builder_renders_datetimeoffset_with_offset_and_refuses_naive_datetimes():
    when = datetime(2024, 7, 15, 10, 31, 28, 402000, tzinfo=timezone(timedelta(hours=3)))
    assert (
        str(odata.field("LastModifiedDateTime").gt(when))
        == "LastModifiedDateTime gt datetimeoffset'2024-07-15T10:31:28.402+03:00'"
    )
    assert odata.literal(datetime(2024, 1, 1, tzinfo=UTC)) == "datetimeoffset'2024-01-01T00:00:00.000+00:00'"
    assert odata.literal(None) == "null"
    with pytest.raises(ValueError):
        odata.literal(datetime(2024, 1, 1))


def test_field_paths_are_validated():
    with pytest.raises(ValueError):
        odata.field("Name eq 'x' or 1 eq 1")
    with pytest.raises(ValueError):
        odata.field("")


def test_builder_output_parses_with_the_sandbox_grammar():
    from ml_connector.sandbox.acumatica._odata import parse_filter, utc_key

    expr = odata.field("CustomerName").eq("O'Brien & Sons #1") & ~odata.field("Amount").le(Decimal("2.5"))
    parsed = parse_filter(str(expr))
    record = {"CustomerName": "O'Brien & Sons #1", "Amount": Decimal("3")}
    assert parsed.matches(lambda p: record[p[0]], field_datetime=utc_key, literal_datetime=utc_key)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_string_literal_round_trips_through_the_sandbox_parser(value):
    from ml_connector.sandbox.acumatica._odata import parse_filter, utc_key

    parsed = parse_filter(str(odata.field("CustomerName").eq(value)))
    records = {"same": {"CustomerName": value}, "other": {"CustomerName": value + "x"}}
    hits = [
        name
        for name, rec in records.items()
        if parsed.matches(lambda p, rec=rec: rec[p[0]], field_datetime=utc_key, literal_datetime=utc_key)
    ]
    assert hits == ["same"]  # exactly the quoted value, whatever quotes, & or # it holds
