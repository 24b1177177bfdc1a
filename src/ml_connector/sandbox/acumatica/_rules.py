"""The receivables rules of the fake: validation, totals, statuses, release and balances.

* Validation answers per-field errors in the documented ``'X' cannot be found in the system.``
  style (§4.3); a new invoice for a customer on ``Credit Hold`` or ``Inactive`` is refused (§6.1);
  lines with unknown, ``No Sales`` or ``Inactive`` items are refused per line (§6.3).
* ``Hold=false`` gives ``Balanced``; release gives ``Open``; paid in full gives ``Closed`` (§6.4).
* The AR balance is the balance of released open documents minus unapplied payments (§6.1's
  ``CustomerBalance.Balance`` assumption). Releasing documents never touches the customer record,
  so ``Customer.LastModifiedDateTime`` stays put while the balance moves (the trap of the credit flow).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ._entities import ENTITIES

if TYPE_CHECKING:
    from ._store import AcumaticaStore

__all__ = [
    "CREDIT_VERIFICATION",
    "CUSTOMER_STATUSES",
    "INVOICE_TYPES",
    "ITEM_STATUSES",
    "ZERO",
    "ActionFailed",
    "compute_invoice",
    "customer_balances",
    "release_invoice",
    "release_payment",
    "set_invoice_status",
    "validate",
]

CUSTOMER_STATUSES = ("Active", "On Hold", "Credit Hold", "Inactive", "One-Time")  # §6.1
ITEM_STATUSES = (
    "Active",
    "No Sales",
    "No Purchases",
    "No Request",
    "Inactive",
    "Marked for Deletion",
)  # §6.3
INVOICE_TYPES = ("Invoice", "Debit Memo", "Credit Memo", "Cash Sale", "Cash Return")  # §6.4
CREDIT_VERIFICATION = ("Days Past Due", "Credit Limit", "Limit and Days Past Due", "Disabled")  # §6.1
ZERO = Decimal("0")


class ActionFailed(Exception):
    """A long operation (release) ended in an error; its status poll answers 500."""


def validate(
    store: AcumaticaStore, tenant: str, entity: str, rec: dict[str, Any], inserting: bool
) -> dict[str, str]:
    """Per-field errors; texts follow the documented ``'X' cannot be found in the system.`` style."""
    errors: dict[str, str] = {}
    data = store.tenant(tenant)
    schema = ENTITIES[entity]
    for spec in schema.fields:
        value = rec.get(spec.name)
        if spec.max_length and isinstance(value, str) and len(value) > spec.max_length:
            # [assumption] real screens truncate or refuse depending on the field; the fake refuses.
            errors[spec.name] = f"'{spec.name}' is too long (maximum {spec.max_length} characters)."
    if entity == "Customer":
        if not rec.get("CustomerID"):
            errors["CustomerID"] = "'Customer ID' cannot be empty."
        if not rec.get("CustomerClass"):
            errors["CustomerClass"] = "'Customer Class' cannot be empty."  # required on create (§6.1)
        elif str(rec["CustomerClass"]).upper() not in data.customer_classes:
            errors["CustomerClass"] = "'Customer Class' cannot be found in the system."
        if rec.get("Status") not in CUSTOMER_STATUSES:
            errors["Status"] = f"The value '{rec.get('Status')}' is not in the list of allowed values."
        rules = rec.get("CreditVerificationRules") or {}
        if rules.get("CreditVerification") not in (None, *CREDIT_VERIFICATION):
            errors["CreditVerificationRules/CreditVerification"] = (
                "The value is not in the list of allowed values."
            )
    elif entity == "Contact":
        if not rec.get("LastName"):
            errors["LastName"] = "'Last Name' cannot be empty."  # [assumption] CR302000 requires it
        account = rec.get("BusinessAccount")
        if account and store.by_keys(tenant, "Customer", [account]) is None:
            errors["BusinessAccount"] = "'Business Account' cannot be found in the system."
    elif entity == "StockItem":
        if not rec.get("InventoryID"):
            errors["InventoryID"] = "'Inventory ID' cannot be empty."
        if rec.get("ItemStatus") not in ITEM_STATUSES:
            errors["ItemStatus"] = "The value is not in the list of allowed values."
    elif entity == "SalesInvoice":
        errors.update(validate_invoice(store, tenant, rec, inserting))
    elif entity == "Payment":
        customer = store.by_keys(tenant, "Customer", [rec.get("CustomerID") or ""])
        if customer is None:
            errors["CustomerID"] = "'Customer' cannot be found in the system."
        for i, row in enumerate(rec.get("DocumentsToApply", [])):
            inv = store.by_keys(
                tenant, "SalesInvoice", [row.get("DocType") or "Invoice", row.get("ReferenceNbr") or ""]
            )
            if inv is None or inv.get("Status") != "Open":
                errors[f"DocumentsToApply/{i}/ReferenceNbr"] = (
                    "'Reference Nbr.' cannot be found in the system."
                )
    if errors:
        errors.setdefault(
            "", f"Inserting '{entity}' record raised at least one error. Please review the errors."
        )
    return errors


def validate_invoice(
    store: AcumaticaStore, tenant: str, rec: dict[str, Any], inserting: bool
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if rec.get("Type") not in INVOICE_TYPES:
        errors["Type"] = "The value is not in the list of allowed values."
    customer = store.by_keys(tenant, "Customer", [rec.get("CustomerID") or ""])
    if customer is None:
        errors["CustomerID"] = "'Customer' cannot be found in the system."  # doc text (§4.3)
    elif inserting and customer.get("Status") in ("Credit Hold", "Inactive"):
        # "Credit Hold: new invoices cannot be entered; Inactive: processing documents errors out"
        # (§6.1). The exact texts are unknown [assumption].
        errors["CustomerID"] = f"The customer status is '{customer['Status']}'."
    if rec.get("Released") and rec.get("_touched_details"):
        errors[""] = "The document has been released and cannot be edited."
    rec.pop("_touched_details", None)
    for i, row in enumerate(rec.get("Details", [])):
        where = f"Details/{i}/"
        inventory_id = row.get("InventoryID")
        if not inventory_id:
            continue
        item = store.by_keys(tenant, "StockItem", [inventory_id])
        if item is None or not store.advanced_so_invoices:
            # Stock items on a direct SO invoice need "Advanced SO Invoices" (§6.4).
            errors[f"{where}InventoryID"] = "'Inventory ID' cannot be found in the system."
            continue
        status = item.get("ItemStatus")
        if status in ("No Sales", "Inactive", "Marked for Deletion"):
            # [assumption] the texts; the rule is §6.3 (No Sales blocks sales documents).
            errors[f"{where}InventoryID"] = f"The status of the '{item['InventoryID']}' item is {status}."
            continue
        row.setdefault("UOM", item.get("SalesUOM") or item.get("BaseUOM"))
        if row.get("UOM") is None:
            row["UOM"] = item.get("BaseUOM")
        if row.get("UnitPrice") is None:
            row["UnitPrice"] = item.get("DefaultPrice") or ZERO
        if row.get("WarehouseID") is None:
            row["WarehouseID"] = item.get("DefaultWarehouseID")
        if row.get("TaxCategory") is None:
            row["TaxCategory"] = item.get("TaxCategory")
        if row["WarehouseID"] and str(row["WarehouseID"]).upper() not in store.tenant(tenant).warehouses:
            errors[f"{where}WarehouseID"] = "'Warehouse' cannot be found in the system."
    return errors


# --- actions ----------------------------------------------------------------------------------


def release_invoice(store: AcumaticaStore, tenant: str, rec: dict[str, Any]) -> None:
    """``ReleaseSalesInvoice``: Balanced -> Open; the customer record itself is not touched."""
    if rec.get("Status") != "Balanced":
        raise ActionFailed(f"The document is in the '{rec.get('Status')}' status and cannot be released.")
    rec["Released"] = True
    rec["Balance"] = rec.get("Amount") or ZERO
    set_invoice_status(rec)
    rec["LastModifiedDateTime"] = store.now()


def release_payment(store: AcumaticaStore, tenant: str, rec: dict[str, Any]) -> None:
    """``ReleasePayment``: applies amounts to invoices; closes those paid in full."""
    if rec.get("Status") != "Balanced":
        raise ActionFailed(f"The document is in the '{rec.get('Status')}' status and cannot be released.")
    applied = ZERO
    for row in rec.get("DocumentsToApply", []):
        inv = store.by_keys(
            tenant, "SalesInvoice", [row.get("DocType") or "Invoice", row.get("ReferenceNbr") or ""]
        )
        if inv is None or inv.get("Status") != "Open":
            raise ActionFailed(f"Document '{row.get('ReferenceNbr')}' cannot be found among open documents.")
        amount = min(row.get("AmountPaid") or ZERO, inv.get("Balance") or ZERO)
        inv["Balance"] = (inv.get("Balance") or ZERO) - amount
        inv["PaymentTotal"] = (inv.get("PaymentTotal") or ZERO) + amount
        set_invoice_status(inv)
        inv["LastModifiedDateTime"] = store.now()
        applied += amount
    rec["Released"] = True
    rec["UnappliedBalance"] = (rec.get("PaymentAmount") or ZERO) - applied
    rec["Status"] = "Closed" if rec["UnappliedBalance"] <= 0 else "Open"
    rec["LastModifiedDateTime"] = store.now()


def customer_balances(store: AcumaticaStore, tenant: str, customer_id: str) -> dict[str, Decimal]:
    """AR balance of released open documents minus unapplied payments, and the unreleased total."""
    key = str(customer_id).casefold()
    data = store.tenant(tenant)
    balance = unreleased = ZERO
    for inv in data.records["SalesInvoice"]:
        if str(inv.get("CustomerID", "")).casefold() != key:
            continue
        sign = -1 if inv.get("Type") in ("Credit Memo", "Cash Return") else 1
        if inv.get("Status") == "Open":
            balance += sign * (inv.get("Balance") or ZERO)
        elif inv.get("Status") in ("Balanced", "On Hold"):
            unreleased += sign * (inv.get("Amount") or ZERO)
    for pay in data.records["Payment"]:
        if str(pay.get("CustomerID", "")).casefold() == key and pay.get("Status") == "Open":
            balance -= pay.get("UnappliedBalance") or ZERO
    return {"Balance": balance, "UnreleasedBalance": unreleased}


# --- writing ----------------------------------------------------------------------------------


def compute_invoice(rec: dict[str, Any]) -> None:
    total = ZERO
    for row in rec.get("Details", []):
        qty = row.get("Qty") or ZERO
        price = row.get("UnitPrice") or ZERO
        row["Amount"] = (qty * price - (row.get("DiscountAmount") or ZERO)).quantize(Decimal("0.01"))
        total += row["Amount"]
    rec["DetailTotal"] = total
    rec["DiscountTotal"] = ZERO
    rec["FreightPrice"] = ZERO
    rec["TaxTotal"] = ZERO  # taxes are out of the fake's scope; Amount = DetailTotal
    rec["VATExemptTotal"] = ZERO
    rec["VATTaxableTotal"] = ZERO
    rec["CashDiscount"] = ZERO
    rec["PaymentTotal"] = rec.get("PaymentTotal") or ZERO
    if not rec.get("Released"):
        rec["Amount"] = total
        rec["Balance"] = total
    set_invoice_status(rec)


def set_invoice_status(rec: dict[str, Any]) -> None:
    if rec.get("Released"):
        rec["Status"] = "Closed" if (rec.get("Balance") or ZERO) <= 0 else "Open"
    else:
        rec["Status"] = "On Hold" if rec.get("Hold") else "Balanced"  # Hold=false -> Balanced (§6.4)
