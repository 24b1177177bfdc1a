"""Pure mapping: a source record plus the mapping config gives a target payload and its content hash.

No I/O here. Payloads are plain Python (str, Decimal, bool, date, nested dicts for linked entities,
lists for detail rows); the Acumatica client wraps them as ``{"value": …}`` on the wire.
Every function raises :class:`RecordError` with the field and a hint when a record cannot be mapped,
so the flow parks it with a reason a person understands.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import pycountry

from ml_connector.config import MappingSettings
from ml_connector.errors import RecordError

__all__ = [
    "ACUMATICA_LENGTHS",
    "Mapped",
    "account_to_customer",
    "contact_to_acumatica",
    "content_hash",
    "country_code",
    "credit_to_account",
    "customer_id_for",
    "order_to_invoice",
]

# Field lengths on the Acumatica side. The reference (acumatica-api.md Appendix A) lists types but not
# lengths: these are the DAC sizes as commonly seen (UNVERIFIED); longer values are cut and the cut is
# recorded in the ledger (Mapped.truncated).
ACUMATICA_LENGTHS: dict[str, int] = {
    "CustomerName": 255,
    "AccountRef": 50,
    "AddressLine1": 50,
    "AddressLine2": 50,
    "City": 50,
    "State": 50,
    "PostalCode": 20,
    "Phone1": 50,
    "Email": 255,
    "WebSite": 255,
    "FirstName": 50,
    "LastName": 100,
    "JobTitle": 255,
    "ExtRefNbr": 40,
    "CustomerOrder": 40,
    "ExternalRef": 40,
    "Description": 256,
    "TransactionDescr": 256,
}

_COUNTRY_ALIASES = {
    "USA": "US",
    "U.S.": "US",
    "U.S.A.": "US",
    "UNITED STATES OF AMERICA": "US",
    "AMERICA": "US",
    "UK": "GB",
    "U.K.": "GB",
    "GREAT BRITAIN": "GB",
    "ENGLAND": "GB",
    "SCOTLAND": "GB",
    "WALES": "GB",
}
_CUSTOMER_ID = re.compile(r"^[A-Z0-9][A-Z0-9\-_]{0,9}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class Mapped:
    """A target payload, its content hash, and what was cut to fit the target's lengths."""

    payload: dict[str, Any]
    hash: str
    truncated: list[str] = field(default_factory=list)


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        normal = value.normalize()
        return format(normal, "f") if normal == normal.to_integral() else str(normal)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def content_hash(payload: Mapping[str, Any]) -> str:
    """A stable hash of a payload: equal data gives an equal hash (decimals compared by value)."""
    text = json.dumps(_canonical(payload), separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Fitter:
    """Cleans text for Acumatica: strips control characters and cuts to the field's length."""

    def __init__(self) -> None:
        self.truncated: list[str] = []

    def text(self, name: str, value: Any, *, path: str | None = None) -> str | None:
        if value is None:
            return None
        cleaned = _CONTROL.sub("", str(value)).strip()
        if not cleaned:
            return None
        limit = ACUMATICA_LENGTHS.get(name)
        if limit is not None and len(cleaned) > limit:
            self.truncated.append(f"{path or name} cut from {len(cleaned)} to {limit} characters")
            cleaned = cleaned[:limit].rstrip()
        return cleaned


def country_code(value: str | None) -> str | None:
    """ISO 3166 alpha-2 code for a country name or code (``United States`` → ``US``); None if blank.

    Raises RecordError for a value that is no country, so the record parks with the reason.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    alias = _COUNTRY_ALIASES.get(text.upper())
    if alias:
        return alias
    try:
        found = pycountry.countries.lookup(text)
    except LookupError:
        try:
            found = pycountry.countries.search_fuzzy(text)[0]
        except LookupError:
            raise RecordError(
                f"BillingCountry {text[:80]!r} is not a country Acumatica knows",
                field_errors={"BillingCountry": "unknown country"},
                hint="correct the country on the Salesforce record (a name such as 'Canada' or a code such as 'CA')",
            ) from None
    return str(found.alpha_2)


def customer_id_for(account: Mapping[str, Any], strategy: str) -> str | None:
    """The CustomerID to create the account's customer under (None: let Acumatica number it).

    ``account_number``: the AccountNumber when it fits the default customer key (upper-case letters,
    digits, ``-`` and ``_``, up to 10 characters), else falls back to ``salesforce_id``.
    ``salesforce_id``: ``S`` + 9 base-32 characters of a hash of the 18-character Id — the same account
    always gets the same code, so a lost state database cannot create a second customer.
    ``auto``: None.
    """
    if strategy == "auto":
        return None
    if strategy == "account_number":
        number = str(account.get("AccountNumber") or "").strip().upper()
        if _CUSTOMER_ID.fullmatch(number):
            return number
    digest = hashlib.sha256(str(account["Id"]).encode("ascii")).digest()
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    number_value = int.from_bytes(digest[:8], "big")
    code = "".join(alphabet[(number_value >> (5 * i)) & 31] for i in range(9))
    return "S" + code


def account_to_customer(
    account: Mapping[str, Any], mapping: MappingSettings, customer_id: str | None
) -> Mapped:
    """Salesforce Account → Acumatica Customer payload (create/update; CustomerClass only matters on create)."""
    fit = _Fitter()
    name = fit.text("CustomerName", account.get("Name"))
    if not name:
        raise RecordError(
            "the account has no name",
            field_errors={"Name": "required"},
            hint="give the Salesforce account a name",
        )
    street = str(account.get("BillingStreet") or "")
    lines = [line for line in (part.strip() for part in street.splitlines()) if line]
    address = {
        "AddressLine1": fit.text(
            "AddressLine1", lines[0] if lines else None, path="MainContact/Address/AddressLine1"
        ),
        "AddressLine2": fit.text(
            "AddressLine2",
            ", ".join(lines[1:]) if len(lines) > 1 else None,
            path="MainContact/Address/AddressLine2",
        ),
        "City": fit.text("City", account.get("BillingCity"), path="MainContact/Address/City"),
        "State": fit.text("State", account.get("BillingState"), path="MainContact/Address/State"),
        "PostalCode": fit.text(
            "PostalCode", account.get("BillingPostalCode"), path="MainContact/Address/PostalCode"
        ),
        "Country": country_code(account.get("BillingCountry")),
    }
    main_contact: dict[str, Any] = {
        "Phone1": fit.text("Phone1", account.get("Phone"), path="MainContact/Phone1"),
        "WebSite": fit.text("WebSite", account.get("Website"), path="MainContact/WebSite"),
        "Address": address,
    }
    payload: dict[str, Any] = {
        "CustomerName": name,
        "AccountRef": str(account["Id"]),
        "CustomerClass": mapping.customer_class,
        "MainContact": main_contact,
    }
    if customer_id is not None:
        payload["CustomerID"] = customer_id
    return Mapped(
        payload, content_hash({k: v for k, v in payload.items() if k != "CustomerClass"}), fit.truncated
    )


def contact_to_acumatica(contact: Mapping[str, Any], customer_id: str) -> Mapped:
    """Salesforce Contact → Acumatica Contact linked to the customer; ExtRefNbr = the Contact Id."""
    fit = _Fitter()
    last = fit.text("LastName", contact.get("LastName"))
    if not last:
        raise RecordError(
            "the contact has no last name",
            field_errors={"LastName": "required"},
            hint="give the Salesforce contact a last name",
        )
    street = str(contact.get("MailingStreet") or "")
    lines = [line for line in (part.strip() for part in street.splitlines()) if line]
    payload: dict[str, Any] = {
        "BusinessAccount": customer_id,
        "FirstName": fit.text("FirstName", contact.get("FirstName")),
        "LastName": last,
        "Email": fit.text("Email", contact.get("Email")),
        "Phone1": fit.text("Phone1", contact.get("Phone")),
        "JobTitle": fit.text("JobTitle", contact.get("Title")),
        "ExtRefNbr": str(contact["Id"]),
        "Active": True,
    }
    if any(contact.get(f) for f in ("MailingStreet", "MailingCity", "MailingPostalCode", "MailingCountry")):
        payload["Address"] = {
            "AddressLine1": fit.text(
                "AddressLine1", lines[0] if lines else None, path="Address/AddressLine1"
            ),
            "City": fit.text("City", contact.get("MailingCity"), path="Address/City"),
            "State": fit.text("State", contact.get("MailingState"), path="Address/State"),
            "PostalCode": fit.text("PostalCode", contact.get("MailingPostalCode"), path="Address/PostalCode"),
            "Country": country_code(contact.get("MailingCountry")),
        }
    return Mapped(payload, content_hash(payload), fit.truncated)


def _decimal(value: Any, field_name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise RecordError(
            f"{field_name} {value!r} is not a number", field_errors={field_name: "not a number"}
        ) from None
    if not number.is_finite():
        raise RecordError(
            f"{field_name} {value!r} is not a finite number", field_errors={field_name: "not finite"}
        )
    return number


def order_to_invoice(
    order: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    customer_id: str,
    mapping: MappingSettings,
    *,
    with_external_ref: bool,
) -> Mapped:
    """Activated Salesforce Order + its OrderItems → Acumatica SalesInvoice payload (lines without ids).

    Each line carries the product's item number (``mapping.product_item_field``) as InventoryID.
    A line without an item number, or with a quantity that is not above zero, is a RecordError.
    """
    fit = _Fitter()
    if not items:
        raise RecordError(
            "the order has no products",
            field_errors={"OrderItems": "no lines"},
            hint="add products to the order in Salesforce",
        )
    details: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        product = item.get("Product2") or (item.get("PricebookEntry") or {}).get("Product2") or {}
        item_no = product.get(mapping.product_item_field)
        if not item_no or not str(item_no).strip():
            raise RecordError(
                f"line {index + 1} ({product.get('Name') or item.get('Id')}) has no {mapping.product_item_field}",
                field_errors={f"Details/{index}/InventoryID": "no item number"},
                hint=f"fill {mapping.product_item_field} on the Salesforce product with its Acumatica InventoryID",
            )
        qty = _decimal(item.get("Quantity"), f"Details/{index}/Qty")
        if qty <= 0:
            raise RecordError(
                f"line {index + 1} has quantity {qty}; an invoice line needs a quantity above zero",
                field_errors={f"Details/{index}/Qty": "not above zero"},
                hint="correct the quantity on the order product (returns are credit memos, not invoices)",
            )
        price = _decimal(
            item.get("UnitPrice") if item.get("UnitPrice") is not None else 0, f"Details/{index}/UnitPrice"
        )
        line: dict[str, Any] = {
            "InventoryID": str(item_no).strip(),
            "Qty": qty,
            "UnitPrice": price,
            "TransactionDescr": fit.text(
                "TransactionDescr",
                item.get("Description") or product.get("Name"),
                path=f"Details/{index}/TransactionDescr",
            ),
        }
        if mapping.warehouse_id:
            line["WarehouseID"] = mapping.warehouse_id
        details.append(line)
    order_number = fit.text("CustomerOrder", order.get("OrderNumber"))
    if not order_number:
        raise RecordError("the order has no OrderNumber", field_errors={"OrderNumber": "missing"})
    payload: dict[str, Any] = {
        "Type": "Invoice",
        "CustomerID": customer_id,
        "CustomerOrder": order_number,
        "Date": order.get("EffectiveDate"),
        "Description": fit.text(
            "Description", order.get("Description") or f"Salesforce order {order_number}"
        ),
        "Hold": False,
        "Details": details,
    }
    if with_external_ref:
        payload["ExternalRef"] = str(order["Id"])
    return Mapped(payload, content_hash(payload), fit.truncated)


def credit_to_account(
    customer: Mapping[str, Any], balance: Decimal | None, mapping: MappingSettings
) -> dict[str, Any]:
    """Acumatica customer status, credit limit and AR balance → the Salesforce Account's fields.

    The timestamp field is left to the caller (stamped only when something changed).
    """
    limit = customer.get("CreditLimit")
    return {
        mapping.account_status_field: customer.get("Status"),
        mapping.account_credit_limit_field: None if limit is None else _decimal(limit, "CreditLimit"),
        mapping.account_ar_balance_field: balance,
    }
