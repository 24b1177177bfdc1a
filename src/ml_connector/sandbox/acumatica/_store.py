"""Tenant data of the fake: records, auto-numbering, upsert, validation and the AR business rules.

Records are kept as plain Python dicts (Decimal, int, bool, str, aware UTC datetimes); linked entities
are nested dicts and detail entities lists of dicts, each with its own ``id``. The wire shape is made
by :mod:`._wire`; here live the rules of §4.1 (upsert), §6 (entities) and §9 (traps):

* a PUT without the auto-numbered key or ``id`` inserts a new record every time (§4.1, pitfall 2);
* detail rows without ``id`` are added, so resending ``Details`` duplicates lines (§3.3);
* releasing an invoice or a payment changes the customer's balance **without** touching the
  customer's ``LastModifiedDateTime`` (DESIGN.md "credit" flow; the balance lives in other tables).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from . import _rules as rules
from ._entities import ENTITIES, EntitySchema
from ._odata import FilterExpr, UnknownField
from ._rules import ZERO
from ._wire import Patch, ServerTime

__all__ = ["AcumaticaStore", "PreconditionFailed", "TenantData", "ValidationFailed", "new_id"]


# Computed fields that are never part of the change check (they move on their own).
_AUDIT = {"LastModifiedDateTime", "LastModified", "LastModifiedDate", "CreatedDate", "CreatedDateTime"}


class ValidationFailed(Exception):
    """422: the record with ``error`` on it and on the offending fields (§4.3)."""

    def __init__(self, record: dict[str, Any], errors: dict[str, str], *, inserting: bool) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.record = record
        self.errors = errors
        self.inserting = inserting


class PreconditionFailed(Exception):
    """412: ``If-None-Match: *`` found a record, or ``If-Match: *`` found none (§4.1)."""


@dataclass
class TenantData:
    """The records of one tenant plus its number sequences and reference lists."""

    records: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {
            name: [] for name in ("Customer", "Contact", "StockItem", "SalesInvoice", "Payment")
        }
    )
    counters: dict[str, int] = field(
        default_factory=lambda: {"SalesInvoice": 0, "Payment": 0, "Contact": 100100, "BAccountID": 7000}
    )
    customer_classes: set[str] = field(default_factory=lambda: {"DEFAULT"})
    warehouses: set[str] = field(default_factory=lambda: {"WHOLESALE"})
    payment_methods: set[str] = field(default_factory=lambda: {"CHECK"})


def new_id() -> str:
    """A NoteID-style GUID (the record's ``id``, §3.2)."""
    return str(uuid.uuid4())


class AcumaticaStore:
    """All tenants' data and the rules that apply when it changes."""

    def __init__(
        self,
        tenants: Iterable[str],
        *,
        now: Callable[[], datetime],
        server_time: ServerTime,
        hold_on_entry: bool = True,
        advanced_so_invoices: bool = True,
        validate_document_totals: bool = False,
    ) -> None:
        self.tenant_names = tuple(tenants)
        self.now = now
        self.server_time = server_time
        self.hold_on_entry = hold_on_entry
        self.advanced_so_invoices = advanced_so_invoices
        self.validate_document_totals = validate_document_totals
        self.tenants: dict[str, TenantData] = {}
        self.reset()

    def reset(self) -> None:
        """Empty every tenant."""
        self.tenants = {name.lower(): TenantData() for name in self.tenant_names}

    def tenant(self, name: str) -> TenantData:
        """The data of a tenant (names are case-insensitive)."""
        return self.tenants[name.lower()]

    # --- reading ----------------------------------------------------------------------------------

    def records(self, tenant: str, entity: str) -> list[dict[str, Any]]:
        """Stored records of one entity in key order (§5.3: in practice key order)."""
        schema = ENTITIES[entity]
        return sorted(
            self.tenant(tenant).records[entity], key=lambda r: tuple(_sort_key(r.get(k)) for k in schema.keys)
        )

    def by_id(self, tenant: str, entity: str, rid: str) -> dict[str, Any] | None:
        """The record whose ``id`` (NoteID) is ``rid``."""
        rid = rid.lower()
        return next((r for r in self.tenant(tenant).records[entity] if r["id"] == rid), None)

    def by_keys(self, tenant: str, entity: str, keys: list[str]) -> dict[str, Any] | None:
        """The record with these key values, compared like SQL Server does (no case, no padding)."""
        schema = ENTITIES[entity]
        if len(keys) != len(schema.keys):
            return None
        wanted = [str(k).strip().casefold() for k in keys]
        for rec in self.tenant(tenant).records[entity]:
            if [str(rec.get(k, "")).strip().casefold() for k in schema.keys] == wanted:
                return rec
        return None

    def query(self, tenant: str, entity: str, expr: FilterExpr | None) -> list[dict[str, Any]]:
        """Materialised records matching ``expr``; an unknown field raises :class:`UnknownField`."""
        out = []
        for rec in self.records(tenant, entity):
            view = self.materialize(tenant, entity, rec)
            if expr is None or expr.matches(
                lambda path, view=view: self._resolve(entity, view, path),  # type: ignore[misc]
                field_datetime=lambda v: v,
                literal_datetime=self.server_time.literal_view,
            ):
                out.append(view)
        return out

    def _resolve(self, entity: str, view: dict[str, Any], path: tuple[str, ...]) -> Any:
        schema: EntitySchema = ENTITIES[entity]
        node: Any = view
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if last:
                if part not in {f.name for f in schema.fields} and part != "id":
                    raise UnknownField(part)
                value = node.get(part) if isinstance(node, dict) else None
                if isinstance(value, datetime):
                    return self.server_time.field_view(part, value)
                return value
            link = next((lk for lk in schema.links if lk.name == part and not lk.detail), None)
            if link is None:
                raise UnknownField(part)
            schema = ENTITIES[link.schema]
            node = node.get(part) if isinstance(node, dict) else None
        return None

    def materialize(self, tenant: str, entity: str, rec: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``rec`` with computed and mirrored fields filled in (what a GET shows)."""
        # Customer and SalesInvoice views change nested parts; the others only top-level keys.
        view = copy.deepcopy(rec) if entity in ("Customer", "SalesInvoice") else dict(rec)
        view["NoteID"] = rec["id"]
        if entity == "Customer":
            balances = self.customer_balances(tenant, rec["CustomerID"])
            main = view.setdefault("MainContact", {"id": new_id()})
            view["Email"] = main.get("Email")
            # MainContact is the account's own contact: its names are the account name (§6.1).
            main["DisplayName"] = main["CompanyName"] = rec.get("CustomerName")
            main.setdefault("Phone1Type", "Business 1")
            rules = view.setdefault("CreditVerificationRules", {"id": new_id()})
            rules["CreditLimit"] = rec.get("CreditLimit")
            rules["OpenOrdersBalance"] = ZERO
            rules["UnreleasedBalance"] = balances["UnreleasedBalance"]
            # RemainingCreditLimit = CreditLimit - balance - open orders [Inf, §11].
            rules["RemainingCreditLimit"] = (rec.get("CreditLimit") or ZERO) - balances["Balance"]
            view["Contacts"] = [
                {
                    "id": c["id"],
                    "ContactID": c["ContactID"],
                    "LastModifiedDateTime": c.get("LastModifiedDateTime"),
                }
                for c in self.records(tenant, "Contact")
                if str(c.get("BusinessAccount") or "").casefold() == str(rec["CustomerID"]).casefold()
            ]
        elif entity == "Contact":
            names = (rec.get("FirstName"), rec.get("MiddleName"), rec.get("LastName"))
            view["DisplayName"] = " ".join(n for n in names if n) or None  # computed by CR302000
            account = (
                self.by_keys(tenant, "Customer", [rec["BusinessAccount"]])
                if rec.get("BusinessAccount")
                else None
            )
            if account is not None:
                view.setdefault("CompanyName", account.get("CustomerName"))
                view["FullName"] = account.get(
                    "CustomerName"
                )  # META maps FullName to the account [Inf, §10.2]
        elif entity == "StockItem":
            # LastModified and LastModifiedDateTime map to the same column (§1.4, §10.3).
            view["LastModified"] = rec.get("LastModifiedDateTime")
        elif entity == "SalesInvoice":
            view["LastModifiedDate"] = rec.get("LastModifiedDateTime")
            view["CreatedDate"] = rec.get("CreatedDateTime")
            for row in view.get("Details", []):
                row["NoteID"] = row["id"]
        return view

    def put(
        self,
        tenant: str,
        entity: str,
        patch: Patch,
        *,
        matches: list[dict[str, Any]] | None = None,
        if_match: bool = False,
        if_none_match: bool = False,
        touch: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """PUT upsert of §4.1; returns the stored record and whether it was inserted.

        ``touch`` (PATCH, §4.2) sets the fields even when equal, so the record counts as modified.
        """
        schema = ENTITIES[entity]
        data = self.tenant(tenant)
        existing = self.locate(tenant, entity, patch, matches)
        if if_none_match and existing is not None:
            raise PreconditionFailed("A record with these keys already exists.")
        if if_match and existing is None:
            raise PreconditionFailed("The record does not exist.")
        inserting = existing is None
        work = copy.deepcopy(existing) if existing is not None else self._new_record(tenant, entity, patch)
        errors: dict[str, str] = {}
        _apply(schema, work, patch, errors, "")
        errors.update(rules.validate(self, tenant, entity, work, inserting))
        if entity == "SalesInvoice":
            entered = work.get("Amount")
            rules.compute_invoice(work)
            # AR Preferences "Validate Document Totals on Entry": the entered Amount must match the
            # computed total or the invoice cannot leave hold (§6.4). The text is an [assumption].
            checked = self.validate_document_totals and not work.get("Hold") and not work.get("Released")
            if checked and (entered is None or Decimal(entered) != work["DetailTotal"]):
                errors["Amount"] = "The document is out of balance."
                errors.setdefault("", f"Inserting '{entity}' record raised at least one error.")
        elif entity == "Payment" and not work.get("Released"):
            work["Status"] = "On Hold" if work.get("Hold") else "Balanced"
            work["UnappliedBalance"] = work.get("PaymentAmount") or ZERO
        if errors:
            if inserting and schema.auto_key:
                work[schema.auto_key] = "<NEW>"  # the failed insert shows the placeholder (§4.1)
            raise ValidationFailed(self.materialize(tenant, entity, work), errors, inserting=inserting)
        if inserting:
            if schema.auto_key and entity in ("SalesInvoice", "Payment"):
                data.counters[entity] += 1
                prefix = "INV" if entity == "SalesInvoice" else "PMT"
                work[schema.auto_key] = f"{prefix}{data.counters[entity]:06d}"
            elif entity == "Contact":
                data.counters["Contact"] += 1
                work["ContactID"] = data.counters["Contact"]
            work["LastModifiedDateTime"] = work["CreatedDateTime"] = self.now()
            data.records[entity].append(work)
            return work, True
        assert existing is not None
        if touch or _changed(existing, work):
            work["LastModifiedDateTime"] = self.now()
        existing.clear()
        existing.update(work)
        return existing, False

    def locate(
        self, tenant: str, entity: str, patch: Patch, matches: list[dict[str, Any]] | None = None
    ) -> dict[str, Any] | None:
        """The record a PUT addresses: by ``id``, by the ``$filter`` matches, or by all key fields."""
        schema = ENTITIES[entity]
        if patch.id:
            return self.by_id(tenant, entity, patch.id)
        if matches is not None:
            return self.by_id(tenant, entity, matches[0]["id"]) if matches else None
        if all(patch.values.get(k) not in (None, "") for k in schema.keys):
            return self.by_keys(tenant, entity, [str(patch.values[k]) for k in schema.keys])
        return None

    def customer_balances(self, tenant: str, customer_id: str) -> dict[str, Decimal]:
        """``Balance`` (released open documents) and ``UnreleasedBalance`` of one customer."""
        return rules.customer_balances(self, tenant, customer_id)

    def release_invoice(self, tenant: str, rec: dict[str, Any]) -> None:
        """``ReleaseSalesInvoice``: Balanced -> Open (the customer record is not touched)."""
        rules.release_invoice(self, tenant, rec)

    def release_payment(self, tenant: str, rec: dict[str, Any]) -> None:
        """``ReleasePayment``: apply to invoices, closing those paid in full."""
        rules.release_payment(self, tenant, rec)

    def delete(self, tenant: str, entity: str, rec: dict[str, Any]) -> None:
        """Remove a record (DELETE by keys or id, §4.5)."""
        self.tenant(tenant).records[entity].remove(rec)

    def _new_record(self, tenant: str, entity: str, patch: Patch) -> dict[str, Any]:
        now = self.now()
        today = datetime(now.year, now.month, now.day, tzinfo=now.tzinfo)
        rec: dict[str, Any] = {"id": new_id(), "note": ""}
        if entity == "Customer":
            data = self.tenant(tenant)
            data.counters["BAccountID"] += 1
            rec.update(
                Status="Active",
                CurrencyID="USD",
                StatementCycleID="EOM",
                StatementType="Open Item",
                Terms="30D",
                LocationName="Primary Location",
                CustomerCategory="Organization",
                ApplyOverdueCharges=False,
                AutoApplyPayments=False,
                BillingAddressOverride=False,
                BillingContactOverride=False,
                EnableCurrencyOverride=False,
                EnableRateOverride=False,
                EnableWriteOffs=True,
                IsGuestCustomer=False,
                CreditLimit=ZERO,
                WriteOffLimit=ZERO,
                BAccountID=data.counters["BAccountID"],
                MainContact={"id": new_id(), "Address": {"id": new_id(), "Country": "US"}},
                CreditVerificationRules={
                    "id": new_id(),
                    "CreditVerification": "Credit Limit",
                    "CreditDaysPastDue": 0,
                },
            )
        elif entity == "Contact":
            rec.update(
                Active=True,
                Status="Active",
                Type="Contact",
                ContactMethod="Any",
                DoNotCall=False,
                DoNotEmail=False,
                DoNotFax=False,
                DoNotMail=False,
                AddressValidated=False,
                OverrideAccountAddress=False,
                Phone1Type="Business 1",
                Phone2Type="Cell",
                Address={"id": new_id(), "Country": "US", "Validated": False},
            )
        elif entity == "StockItem":
            rec.update(
                ItemStatus="Active",
                ItemType="Finished Good",
                ValuationMethod="Average",
                BaseUOM="EA",
                SalesUOM="EA",
                PurchaseUOM="EA",
                IsAKit=False,
                DefaultWarehouseID="WHOLESALE",
                TaxCategory="TAXABLE",
                DefaultPrice=ZERO,
                Availability="Store Default",
                WarehouseDetails=[],
            )
        elif entity == "SalesInvoice":
            rec.update(
                Type="Invoice",
                Hold=self.hold_on_entry,
                Currency="USD",
                Date=today,
                DueDate=today + timedelta(days=30),
                Project="X",
                TaxCalcMode="Tax Settings",
                CreditHold=False,
                BillToAddressOverride=False,
                BillToContactOverride=False,
                Details=[],
                Released=False,
            )
        elif entity == "Payment":
            rec.update(
                Type="Payment",
                Hold=self.hold_on_entry,
                ApplicationDate=today,
                PaymentMethod="CHECK",
                PaymentAmount=ZERO,
                DocumentsToApply=[],
                Released=False,
            )
        return rec

    def counts(self) -> dict[str, int]:
        """Records by entity over all tenants (for ``/_sandbox/stats``)."""
        out: dict[str, int] = {}
        for data in self.tenants.values():
            for entity, rows in data.records.items():
                out[entity] = out.get(entity, 0) + len(rows)
        return out


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, int):
        return (0, value)
    return (1, str(value or "").casefold())


def _apply(
    schema: EntitySchema, target: dict[str, Any], patch: Patch, errors: dict[str, str], prefix: str
) -> None:
    """Set the patch's values on ``target``: read-only fields are ignored, detail rows merged."""
    if patch.note is not None:
        target["note"] = patch.note
    for view, custom_fields in patch.custom.items():
        # User-defined fields written through a ``custom`` block (§3.4) are kept as (type, value).
        target.setdefault("custom", {}).setdefault(view, {}).update(custom_fields)
    for name, value in patch.values.items():
        spec = schema._by_name[name]
        if spec.read_only:
            continue  # [Inf] disabled fields are not written; the graph keeps its own value (§4.1)
        if schema.name == "Customer" and name == "Email":
            target.setdefault("MainContact", {"id": new_id()})["Email"] = value
            continue
        if schema.auto_key == name and value is None:
            continue
        target[name] = value
    for name, sub in patch.links.items():
        link = next(lk for lk in schema.links if lk.name == name)
        if schema.name == "Customer" and name == "CreditVerificationRules" and "CreditLimit" in sub.values:
            target["CreditLimit"] = sub.values.pop("CreditLimit")  # the same DB field (§6.1)
        node = target.setdefault(name, {"id": new_id()})
        _apply(ENTITIES[link.schema], node, sub, errors, f"{prefix}{name}/")
    for name, rows in patch.details.items():
        link = next(lk for lk in schema.links if lk.name == name)
        if schema.name == "Customer":
            continue  # writes through Customer.Contacts are undocumented [Unverified]; ignored
        current: list[dict[str, Any]] = target.setdefault(name, [])
        for row in rows:
            found = next((r for r in current if row.id and r["id"] == row.id), None)
            if found is None and row.delete and "LineNbr" in row.values:
                found = next((r for r in current if r.get("LineNbr") == row.values["LineNbr"]), None)
            if row.delete:
                if found is not None:
                    current.remove(found)
                    target["_touched_details"] = True
                continue
            if found is None:
                # No id: a new line, even if an identical one exists (§3.3).
                found = {"id": new_id(), "note": ""}
                current.append(found)
            _apply(ENTITIES[link.schema], found, row, errors, f"{prefix}{name}/")
            target["_touched_details"] = True
        if schema.name == "SalesInvoice":
            for i, line in enumerate(current):
                line["LineNbr"] = i + 1
                line.setdefault("Description", "Sales")  # the sales account's description
                line.setdefault("BranchID", "HEADOFFICE")
                line.setdefault("Account", "40000")
                line.setdefault("SubAccount", "000000")
                line.setdefault("DiscountAmount", ZERO)
                line.setdefault("DiscountPercent", ZERO)
                line.setdefault("ManualDiscount", False)
                line.setdefault("ManualPrice", line.get("UnitPrice") is not None)
    if schema.name != "SalesInvoice":
        target.pop("_touched_details", None)


def _changed(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Did anything but the audit fields change (PUT skips equal values, §4.1)?"""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in _AUDIT}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return bool(strip(before) != strip(after))
