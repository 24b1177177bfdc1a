"""Contract schemas of the entities the fake serves, per Default endpoint version.

Field names and types come from Appendix A of shared/reference/acumatica-api.md (Default/24.200.001);
the version gates are §1.4. Only a representative subset of the ~60 top-level fields of each entity is
modelled (every field of the §10 examples is present), so a GET without ``$select`` returns all of
these, like the real API returns all of its contract fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

__all__ = [
    "DATETIME_AUDIT_FIELDS",
    "ENTITIES",
    "EntitySchema",
    "FieldSpec",
    "LinkSpec",
    "version_key",
]

FIRST = "20.200.001"


@cache
def version_key(version: str) -> tuple[int, ...]:
    """``"24.200.001"`` -> ``(24, 200, 1)`` so versions compare in release order."""
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One contract field: value type (String, Int, Short, Decimal, Boolean, DateTime, Guid)."""

    name: str
    kind: str = "String"
    since: str = FIRST
    read_only: bool = False
    max_length: int | None = None
    until: str | None = None  # removed in this version (exclusive), e.g. Contact.SalesTerritoryID


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """A linked entity (one object) or a detail entity (array of rows)."""

    name: str
    schema: str
    detail: bool = False
    since: str = FIRST


@dataclass(frozen=True)
class EntitySchema:
    """One contract entity: its fields, links, keys and the screen graph used in ``_links``."""

    name: str
    fields: tuple[FieldSpec, ...]
    links: tuple[LinkSpec, ...] = ()
    keys: tuple[str, ...] = ()
    auto_key: str | None = None
    graph: str = ""
    view: str = ""
    actions: tuple[str, ...] = ()
    _by_name: dict[str, FieldSpec] = field(default_factory=dict, init=False, repr=False, compare=False)
    _by_version: dict[str, list[FieldSpec]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self._by_name.update({f.name: f for f in self.fields})

    def fields_for(self, version: str) -> list[FieldSpec]:
        """The fields this endpoint version exposes (§1.4 gates)."""
        cached = self._by_version.get(version)
        if cached is None:
            v = version_key(version)
            cached = [
                f
                for f in self.fields
                if version_key(f.since) <= v and (f.until is None or v < version_key(f.until))
            ]
            self._by_version[version] = cached
        return cached

    def links_for(self, version: str) -> list[LinkSpec]:
        """The linked and detail entities this version exposes."""
        v = version_key(version)
        return [link for link in self.links if version_key(link.since) <= v]

    def field(self, name: str, version: str) -> FieldSpec | None:
        """The field called ``name`` if this version has it."""
        spec = self._by_name.get(name)
        if spec is None:
            return None
        v = version_key(version)
        if version_key(spec.since) > v or (spec.until is not None and v >= version_key(spec.until)):
            return None
        return spec

    def link(self, name: str, version: str) -> LinkSpec | None:
        """The link called ``name`` if this version has it."""
        return next((link for link in self.links_for(version) if link.name == name), None)


def _f(spec: str, **kwargs: object) -> FieldSpec:
    """``"Name:Kind"`` shorthand for a field (kind defaults to String)."""
    name, _, kind = spec.partition(":")
    return FieldSpec(name, kind or "String", **kwargs)  # type: ignore[arg-type]


# System audit fields whose values and filters follow the server time zone (§9 pitfall 1).
DATETIME_AUDIT_FIELDS = frozenset(
    {"LastModifiedDateTime", "LastModified", "CreatedDateTime", "CreatedDate", "LastModifiedDate"}
)

ADDRESS = EntitySchema(
    "Address",
    tuple(
        _f(s)
        for s in (
            "AddressLine1",
            "AddressLine2",
            "City",
            "Country",
            "PostalCode",
            "State",
            "Validated:Boolean",
        )
    ),
)

CONTACT_FIELDS = (
    _f("Active:Boolean"),
    _f("AddressValidated:Boolean", read_only=True),
    _f("Attention"),
    _f("BusinessAccount"),
    _f("CompanyName"),
    _f("ContactClass"),
    _f("ContactID:Int"),
    _f("ContactMethod"),
    _f("DisplayName", read_only=True),
    _f("DoNotCall:Boolean"),
    _f("DoNotEmail:Boolean"),
    _f("DoNotFax:Boolean"),
    _f("DoNotMail:Boolean"),
    _f("Email", max_length=255),
    _f("ExtRefNbr", since="24.200.001", max_length=255),
    _f("Fax"),
    _f("FirstName", max_length=50),
    _f("FullName", since="22.200.001"),
    _f("JobTitle"),
    _f("LastModifiedDateTime:DateTime", read_only=True),
    _f("LastName", max_length=100),
    _f("MiddleName"),
    _f("NoteID:Guid", read_only=True),
    _f("OverrideAccountAddress:Boolean"),
    _f("Phone1"),
    _f("Phone1Type"),
    _f("Phone2"),
    _f("Phone2Type"),
    _f("SalesTerritoryID", until="23.200.001"),
    _f("Status"),
    _f("Title"),
    _f("Type"),
    _f("WebSite"),
)

CONTACT = EntitySchema(
    "Contact",
    CONTACT_FIELDS,
    links=(LinkSpec("Address", "Address"),),
    keys=("ContactID",),
    auto_key="ContactID",
    graph="PX.Objects.CR.ContactMaint",
    view="Contact",
)

# MainContact of a Customer is the account's own contact record (DefContact, §6.1).
CUSTOMER_MAIN_CONTACT = EntitySchema(
    "Contact",
    tuple(
        _f(s)
        for s in (
            "Attention",
            "CompanyName",
            "DisplayName",
            "Email",
            "Fax",
            "FirstName",
            "LastName",
            "Phone1",
            "Phone1Type",
            "Phone2",
            "Phone2Type",
            "WebSite",
        )
    ),
    links=(LinkSpec("Address", "Address"),),
)

CREDIT_RULES = EntitySchema(
    "CreditVerificationRules",
    (
        _f("CreditDaysPastDue:Short"),
        _f("CreditLimit:Decimal"),
        _f("CreditVerification"),
        _f("FirstDueDate:DateTime", read_only=True),
        _f("OpenOrdersBalance:Decimal", read_only=True),
        _f("RemainingCreditLimit:Decimal", read_only=True),
        _f("UnreleasedBalance:Decimal", read_only=True),
    ),
)

CUSTOMER_CONTACT = EntitySchema(
    "CustomerContact",
    (_f("ContactID:Int"), _f("LastModifiedDateTime:DateTime", since="23.200.001", read_only=True)),
)

CUSTOMER = EntitySchema(
    "Customer",
    (
        _f("AccountRef", max_length=50),
        _f("ApplyOverdueCharges:Boolean"),
        _f("AutoApplyPayments:Boolean"),
        _f("BAccountID:Int", since="22.200.001", read_only=True),
        _f("BillingAddressOverride:Boolean"),
        _f("BillingContactOverride:Boolean"),
        _f("CreatedDateTime:DateTime", read_only=True),
        _f("CreditLimit:Decimal", since="22.200.001"),
        _f("CurrencyID"),
        _f("CurrencyRateType"),
        _f("CustomerCategory", since="23.200.001"),
        _f("CustomerClass"),
        _f("CustomerID", max_length=30),
        _f("CustomerName", max_length=255),
        _f("Email", since="23.200.001"),
        _f("EnableCurrencyOverride:Boolean"),
        _f("EnableRateOverride:Boolean"),
        _f("EnableWriteOffs:Boolean"),
        _f("EntityUsageType", since="22.200.001"),
        _f("IsGuestCustomer:Boolean", since="22.200.001"),
        _f("LastModifiedDateTime:DateTime", read_only=True),
        _f("LocationName"),
        _f("NoteID:Guid", since="22.200.001", read_only=True),
        _f("ParentRecord"),
        _f("PriceClassID"),
        _f("PrimaryContactID:Int", since="23.200.001"),
        _f("RestrictVisibilityTo", since="22.200.001"),
        _f("StatementCycleID"),
        _f("StatementType"),
        _f("Status"),
        _f("TaxExemptionNumber", since="22.200.001"),
        _f("TaxZone"),
        _f("Terms"),
        _f("WriteOffLimit:Decimal"),
    ),
    links=(
        LinkSpec("MainContact", "CustomerMainContact"),
        LinkSpec("CreditVerificationRules", "CreditVerificationRules"),
        LinkSpec("Contacts", "CustomerContact", detail=True),
    ),
    keys=("CustomerID",),
    graph="PX.Objects.AR.CustomerMaint",
    view="BAccount",
    actions=("CreateContactFromCustomer",),
)

WAREHOUSE_DETAIL = EntitySchema(
    "StockItemWarehouseDetail",
    (_f("IsDefault:Boolean"), _f("QtyOnHand:Decimal", read_only=True), _f("WarehouseID")),
)

STOCK_ITEM = EntitySchema(
    "StockItem",
    (
        _f("ABCCode"),
        _f("AutoIncrementalValue"),
        _f("Availability"),
        _f("AverageCost:Decimal", read_only=True),
        _f("BaseUOM"),
        _f("COGSAccount"),
        _f("COGSSubaccount"),
        _f("CountryOfOrigin"),
        _f("CurrentStdCost:Decimal", read_only=True),
        _f("DefaultIssueLocationID"),
        _f("DefaultPrice:Decimal"),
        _f("DefaultReceiptLocationID"),
        _f("DefaultWarehouseID"),
        _f("Description", max_length=255),
        _f("DimensionVolume:Decimal"),
        _f("DimensionWeight:Decimal"),
        _f("ImageUrl"),
        _f("InventoryID", max_length=30),
        _f("IsAKit:Boolean"),
        _f("ItemClass"),
        _f("ItemStatus"),
        _f("ItemType"),
        _f("LastCost:Decimal", read_only=True),
        _f("LastModified:DateTime", read_only=True),
        _f("LastModifiedDateTime:DateTime", since="24.200.001", read_only=True),
        _f("LotSerialClass"),
        _f("MSRP:Decimal"),
        _f("NoteID:Guid", read_only=True),
        _f("PostingClass"),
        _f("PriceClass"),
        _f("PurchaseUOM"),
        _f("SalesUOM"),
        _f("TaxCategory"),
        _f("ValuationMethod"),
        _f("WeightUOM"),
    ),
    links=(LinkSpec("WarehouseDetails", "StockItemWarehouseDetail", detail=True),),
    keys=("InventoryID",),
    graph="PX.Objects.IN.InventoryItemMaint",
    view="Item",
)

INVOICE_DETAIL = EntitySchema(
    "SalesInvoiceDetail",
    (
        _f("Account", since="24.200.001"),
        _f("Amount:Decimal", read_only=True),
        _f("BranchID"),
        _f("CalculateDiscountsOnImport:Boolean"),
        _f("CostCode"),
        # Read-only: the *sales account's* description, not the line text (§6.4, §9 pitfall 6).
        _f("Description", read_only=True),
        _f("DiscountAmount:Decimal"),
        _f("DiscountPercent:Decimal"),
        _f("ExpirationDate:DateTime"),
        _f("ExternalRef", since="24.200.001"),
        _f("InventoryDocType"),
        _f("InventoryID"),
        _f("InventoryRefNbr"),
        _f("LineNbr:Int", read_only=True),
        _f("Location"),
        _f("LotSerialNbr"),
        _f("ManualDiscount:Boolean"),
        _f("ManualPrice:Boolean", since="24.200.001"),
        _f("NoteID:Guid", since="24.200.001", read_only=True),
        _f("OrderLineNbr:Int"),
        _f("OrderNbr"),
        _f("OrderType"),
        _f("OrigInvLineNbr:Int"),
        _f("OrigInvNbr"),
        _f("OrigInvType"),
        _f("ProjectTask"),
        _f("Qty:Decimal"),
        _f("ShipmentNbr"),
        _f("SubAccount", since="24.200.001"),
        _f("Subitem"),
        _f("TaxCategory"),
        _f("TransactionDescr", max_length=256),
        _f("UnitPrice:Decimal"),
        _f("UOM"),
        _f("WarehouseID"),
    ),
)

SALES_INVOICE = EntitySchema(
    "SalesInvoice",
    (
        _f("Amount:Decimal"),
        _f("Balance:Decimal", read_only=True),
        _f("BillToAddressOverride:Boolean", since="24.200.001"),
        _f("BillToContactOverride:Boolean", since="24.200.001"),
        _f("CashDiscount:Decimal", read_only=True),
        _f("CreatedDate:DateTime", since="24.200.001", read_only=True),
        _f("CreditHold:Boolean", read_only=True),
        _f("Currency"),
        _f("CustomerID"),
        _f("CustomerOrder", max_length=40),
        _f("Date:DateTime"),
        _f("Description", max_length=256),
        _f("DetailTotal:Decimal", read_only=True),
        _f("DiscountTotal:Decimal", read_only=True),
        _f("DueDate:DateTime"),
        _f("ExternalRef", since="24.200.001", max_length=40),
        _f("FreightPrice:Decimal", read_only=True),
        _f("Hold:Boolean"),
        _f("IsTaxValid:Boolean", since="22.200.001", read_only=True),
        _f("LastModifiedDate:DateTime", since="24.200.001", read_only=True),
        _f("LastModifiedDateTime:DateTime", since="23.200.001", read_only=True),
        _f("PaymentTotal:Decimal", read_only=True),
        _f("Project"),
        _f("ReferenceNbr", max_length=15),
        _f("Status", read_only=True),
        _f("TaxCalcMode", since="24.200.001"),
        _f("TaxTotal:Decimal", read_only=True),
        _f("Type"),
        _f("VATExemptTotal:Decimal", read_only=True),
        _f("VATTaxableTotal:Decimal", read_only=True),
    ),
    links=(LinkSpec("Details", "SalesInvoiceDetail", detail=True),),
    keys=("Type", "ReferenceNbr"),
    auto_key="ReferenceNbr",
    graph="PX.Objects.SO.SOInvoiceEntry",
    view="Document",
    actions=("ReleaseSalesInvoice",),
)

PAYMENT_APPLICATION = EntitySchema(
    "PaymentDetail",
    (_f("AmountPaid:Decimal"), _f("Balance:Decimal", read_only=True), _f("DocType"), _f("ReferenceNbr")),
)

# A minimal AR Payment (the issue asks for "a minimal Payment" so balances also fall). The reference
# sheet has no field list for it: the names below are those of the Default contract's Payment entity
# (PaymentAmount, DocumentsToApply with DocType/ReferenceNbr/AmountPaid, ReleasePayment) as commonly
# documented; treat them as an assumption.
PAYMENT = EntitySchema(
    "Payment",
    (
        _f("ApplicationDate:DateTime"),
        _f("CustomerID"),
        _f("Description"),
        _f("Hold:Boolean"),
        _f("LastModifiedDateTime:DateTime", read_only=True),
        _f("PaymentAmount:Decimal"),
        _f("PaymentMethod"),
        _f("PaymentRef"),
        _f("ReferenceNbr"),
        _f("Status", read_only=True),
        _f("Type"),
        _f("UnappliedBalance:Decimal", read_only=True),
    ),
    links=(LinkSpec("DocumentsToApply", "PaymentDetail", detail=True),),
    keys=("Type", "ReferenceNbr"),
    auto_key="ReferenceNbr",
    graph="PX.Objects.AR.ARPaymentEntry",
    view="Document",
    actions=("ReleasePayment",),
)

ENTITIES: dict[str, EntitySchema] = {
    "Customer": CUSTOMER,
    "Contact": CONTACT,
    "StockItem": STOCK_ITEM,
    "SalesInvoice": SALES_INVOICE,
    "Payment": PAYMENT,
    # linked and detail schemas, addressed by LinkSpec.schema
    "Address": ADDRESS,
    "CustomerMainContact": CUSTOMER_MAIN_CONTACT,
    "CreditVerificationRules": CREDIT_RULES,
    "CustomerContact": CUSTOMER_CONTACT,
    "StockItemWarehouseDetail": WAREHOUSE_DETAIL,
    "SalesInvoiceDetail": INVOICE_DETAIL,
    "PaymentDetail": PAYMENT_APPLICATION,
}
TOP_LEVEL = ("Customer", "Contact", "StockItem", "SalesInvoice", "Payment")
