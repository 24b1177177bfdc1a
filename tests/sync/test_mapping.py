from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector.config import MappingSettings
from ml_connector.errors import RecordError
from ml_connector.sync import (
    account_to_customer,
    contact_to_acumatica,
    content_hash,
    country_code,
    credit_to_account,
    customer_id_for,
    order_to_invoice,
)

MAPPING = MappingSettings()
ACCOUNT = {
    "Id": "001Dn00000AbCdEIAV",
    "Name": "Harbor Lumber & Supply",
    "AccountNumber": "hls-0042",
    "BillingStreet": "12 Dock Rd\nUnit 4",
    "BillingCity": "Tacoma",
    "BillingState": "WA",
    "BillingPostalCode": "98402",
    "BillingCountry": "United States",
    "Phone": "(253) 555-0101",
    "Website": "https://harborlumber.example",
}


@pytest.mark.parametrize(
    ("given_country", "code"),
    [
        ("United States", "US"),
        ("USA", "US"),
        ("us", "US"),
        ("Canada", "CA"),
        ("Germany", "DE"),
        ("Mexico", "MX"),
        ("UK", "GB"),
        ("", None),
    ],
)
def test_country_names_become_iso_codes(given_country: str, code: str | None) -> None:
    assert country_code(given_country) == code


def test_unknown_country_is_a_record_error_with_a_hint() -> None:
    with pytest.raises(RecordError, match="Narnia") as info:
        country_code("Narnia")
    assert info.value.field_errors == {"BillingCountry": "unknown country"} and info.value.hint


def test_account_maps_to_customer_with_address_and_reference() -> None:
    mapped = account_to_customer(ACCOUNT, MAPPING, "HLS-0042")
    assert mapped.payload["CustomerID"] == "HLS-0042"
    assert mapped.payload["AccountRef"] == ACCOUNT["Id"]
    assert mapped.payload["CustomerClass"] == "DEFAULT"
    assert mapped.payload["MainContact"]["Address"] == {
        "AddressLine1": "12 Dock Rd",
        "AddressLine2": "Unit 4",
        "City": "Tacoma",
        "State": "WA",
        "PostalCode": "98402",
        "Country": "US",
    }
    assert mapped.truncated == []


def test_customer_id_strategies() -> None:
    assert customer_id_for(ACCOUNT, "account_number") == "HLS-0042"
    derived = customer_id_for(
        {**ACCOUNT, "AccountNumber": "has spaces and is far too long"}, "account_number"
    )
    assert derived is not None and derived.startswith("S") and len(derived) == 10
    assert derived == customer_id_for(ACCOUNT, "salesforce_id")  # deterministic from the Id alone
    assert customer_id_for({**ACCOUNT, "Id": "001Dn00000AbCdFIAV"}, "salesforce_id") != derived
    assert customer_id_for(ACCOUNT, "auto") is None


def test_long_names_are_cut_and_the_cut_is_reported() -> None:
    mapped = account_to_customer({**ACCOUNT, "Name": "N" * 10_000, "BillingCity": "C" * 80}, MAPPING, None)
    assert len(mapped.payload["CustomerName"]) == 255 and "CustomerID" not in mapped.payload
    assert mapped.truncated == [
        "CustomerName cut from 10000 to 255 characters",
        "MainContact/Address/City cut from 80 to 50 characters",
    ]


def test_control_characters_are_removed_and_blank_name_parks() -> None:
    assert (
        account_to_customer({**ACCOUNT, "Name": "Ac\x00me\x1b"}, MAPPING, None).payload["CustomerName"]
        == "Acme"
    )
    with pytest.raises(RecordError, match="no name"):
        account_to_customer({**ACCOUNT, "Name": " \x07 "}, MAPPING, None)


def test_hash_ignores_customer_class_and_sees_real_changes() -> None:
    a = account_to_customer(ACCOUNT, MAPPING, "X")
    b = account_to_customer(ACCOUNT, MAPPING.model_copy(update={"customer_class": "OTHER"}), "X")
    c = account_to_customer({**ACCOUNT, "Phone": "1"}, MAPPING, "X")
    assert a.hash == b.hash != c.hash


def test_content_hash_compares_decimals_by_value() -> None:
    assert content_hash({"q": Decimal("2.50")}) == content_hash({"q": Decimal("2.5")})
    assert content_hash({"q": Decimal("2")}) == content_hash({"q": Decimal("2.000")})
    assert content_hash({"q": Decimal("2")}) != content_hash({"q": Decimal("3")})


def test_contact_maps_with_ext_ref_and_business_account() -> None:
    contact = {
        "Id": "003Dn00000XyZaBIAV",
        "FirstName": "Ana",
        "LastName": "Ruiz",
        "Email": "ana@x.example",
        "Title": "Buyer",
    }
    payload = contact_to_acumatica(contact, "HLS-0042").payload
    assert payload["ExtRefNbr"] == contact["Id"] and payload["BusinessAccount"] == "HLS-0042"
    assert payload["JobTitle"] == "Buyer" and payload["Active"] is True and "Address" not in payload
    with pytest.raises(RecordError, match="no last name"):
        contact_to_acumatica({**contact, "LastName": None}, "HLS-0042")


ORDER = {"Id": "801Dn000001AbCdIAK", "OrderNumber": "00000107", "EffectiveDate": "2026-11-20"}


def _item(item_no: str | None, qty: object, price: object = "4.98") -> dict[str, object]:
    return {
        "Id": "802x",
        "Quantity": qty,
        "UnitPrice": price,
        "Description": None,
        "PricebookEntry": {"Product2": {"Name": "Lumber", "ERP_Item_No__c": item_no}},
    }


def test_order_maps_to_invoice_lines() -> None:
    mapped = order_to_invoice(
        ORDER,
        [_item("LUM2X4-8", 10), _item("OSB-7/16", "2.5", 18.75)],
        "HLS-0042",
        MAPPING,
        with_external_ref=True,
    )
    payload = mapped.payload
    assert payload["CustomerOrder"] == "00000107" and payload["ExternalRef"] == ORDER["Id"]
    assert payload["Hold"] is False and payload["Type"] == "Invoice" and payload["Date"] == "2026-11-20"
    assert [(d["InventoryID"], d["Qty"], d["UnitPrice"]) for d in payload["Details"]] == [
        ("LUM2X4-8", Decimal(10), Decimal("4.98")),
        ("OSB-7/16", Decimal("2.5"), Decimal("18.75")),
    ]
    assert payload["Details"][0]["TransactionDescr"] == "Lumber"
    older = order_to_invoice(ORDER, [_item("LUM2X4-8", 1)], "HLS-0042", MAPPING, with_external_ref=False)
    assert "ExternalRef" not in older.payload


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "no products"),
        ([_item(None, 1)], "has no ERP_Item_No__c"),
        ([_item("X", 0)], "above zero"),
        ([_item("X", -3)], "above zero"),
        ([_item("X", "lots")], "not a number"),
        ([_item("X", "NaN")], "not a finite"),
    ],
)
def test_unmappable_orders_are_record_errors(items: list[dict[str, object]], message: str) -> None:
    with pytest.raises(RecordError, match=message):
        order_to_invoice(ORDER, items, "C", MAPPING, with_external_ref=True)


def test_credit_fields_use_the_configured_names() -> None:
    fields = credit_to_account(
        {"Status": "Credit Hold", "CreditLimit": Decimal("5000")}, Decimal("1234.50"), MAPPING
    )
    assert fields == {
        "Acumatica_Status__c": "Credit Hold",
        "Acumatica_Credit_Limit__c": Decimal("5000"),
        "Acumatica_AR_Balance__c": Decimal("1234.50"),
    }


@given(
    st.dictionaries(st.sampled_from(["Name", "BillingStreet", "BillingCity", "Phone", "Website"]), st.text())
)
def test_any_account_text_maps_or_parks_never_crashes(overrides: dict[str, str]) -> None:
    try:
        mapped = account_to_customer({**ACCOUNT, **overrides}, MAPPING, None)
    except RecordError as exc:
        assert exc.field_errors
    else:
        assert 0 < len(mapped.payload["CustomerName"]) <= 255
