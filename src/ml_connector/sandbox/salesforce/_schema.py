"""Field metadata of the sandbox org: the standard fields of the reference §5 plus our custom fields.

Every object gets the system fields (Id, IsDeleted, CreatedDate, CreatedById, LastModifiedDate,
LastModifiedById, SystemModstamp). The flags mirror the Object Reference letters: C (createable),
U (updateable), N (nillable); ``required`` means "must be given on create".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ml_connector.sandbox.salesforce._ids import KEY_PREFIXES

__all__ = ["SCHEMA", "ChildRelationship", "FieldSpec", "ObjectSpec", "child_relationships"]

TEXT_TYPES = frozenset({"string", "textarea", "picklist", "phone", "url", "email"})


@dataclass(frozen=True)
class FieldSpec:
    """One field as describe reports it."""

    name: str
    type: str  # id string textarea picklist phone url email reference boolean date datetime double currency
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    required: bool = False  # required on create (not nillable, not defaulted)
    external_id: bool = False
    unique: bool = False
    id_lookup: bool = False
    auto_number: bool = False
    calculated: bool = False
    defaulted: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    restricted_picklist: bool = False
    custom: bool = False
    label: str = ""

    def describe(self) -> dict[str, object]:
        """The field's entry in a describe result."""
        precision, scale = (
            (18, 2) if self.type == "currency" else (18, 0) if self.type == "double" else (0, 0)
        )
        return {
            "name": self.name,
            "label": self.label or self.name.removesuffix("__c").replace("_", " "),
            "type": self.type,
            "length": self.length,
            "precision": precision,
            "scale": scale,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.id_lookup or self.name == "Id",
            "autoNumber": self.auto_number,
            "calculated": self.calculated,
            "defaultedOnCreate": self.defaulted,
            "custom": self.custom,
            "referenceTo": [self.reference_to] if self.reference_to else [],
            "relationshipName": self.relationship_name,
            "restrictedPicklist": self.restricted_picklist,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
                for v in self.picklist
            ],
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "filterable": True,
            "sortable": self.type != "textarea",
            "groupable": self.type not in {"textarea", "double", "currency", "datetime"},
        }


_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "double": "xsd:double",
    "currency": "xsd:double",
}


@dataclass(frozen=True)
class ChildRelationship:
    """A child relationship usable as a SOQL subquery (``(SELECT … FROM OrderItems)``)."""

    name: str
    child_object: str
    field: str
    cascade_delete: bool = False


@dataclass
class ObjectSpec:
    """One sObject: its fields by name and its key prefix."""

    name: str
    label: str
    plural: str
    fields: dict[str, FieldSpec] = field(default_factory=dict)

    @property
    def key_prefix(self) -> str:
        """The three-character id prefix."""
        return KEY_PREFIXES[self.name]

    def field_ci(self, name: str) -> FieldSpec | None:
        """A field by case-insensitive name (SOQL and REST accept any case)."""
        exact = self.fields.get(name)
        if exact is not None:
            return exact
        lowered = name.lower()
        return next((f for n, f in self.fields.items() if n.lower() == lowered), None)

    def relationship_ci(self, name: str) -> FieldSpec | None:
        """The reference field whose relationship name is ``name`` (``Account`` → ``AccountId``)."""
        lowered = name.lower()
        return next(
            (
                f
                for f in self.fields.values()
                if f.relationship_name and f.relationship_name.lower() == lowered
            ),
            None,
        )


def _s(name: str, length: int, **kw: Any) -> FieldSpec:
    return FieldSpec(name, "string", length, **kw)


def _ref(name: str, target: str, **kw: Any) -> FieldSpec:
    return FieldSpec(
        name, "reference", 18, reference_to=target, relationship_name=name.removesuffix("Id"), **kw
    )


def _ro(name: str, type_: str, length: int = 0, **kw: Any) -> FieldSpec:
    return FieldSpec(name, type_, length, createable=False, updateable=False, **kw)


def _system_fields() -> list[FieldSpec]:
    return [
        FieldSpec("Id", "id", 18, nillable=False, createable=False, updateable=False, defaulted=True),
        _ro("IsDeleted", "boolean", nillable=False, defaulted=True),
        _ro("CreatedDate", "datetime", nillable=False, defaulted=True),
        FieldSpec(
            "CreatedById", "reference", 18, nillable=False, createable=False, updateable=False,
            defaulted=True, reference_to="User", relationship_name="CreatedBy",
        ),
        _ro("LastModifiedDate", "datetime", nillable=False, defaulted=True),
        FieldSpec(
            "LastModifiedById", "reference", 18, nillable=False, createable=False, updateable=False,
            defaulted=True, reference_to="User", relationship_name="LastModifiedBy",
        ),
        _ro("SystemModstamp", "datetime", nillable=False, defaulted=True),
    ]  # fmt: skip


def _address(prefix: str, *, state_len: int = 80) -> list[FieldSpec]:
    return [
        FieldSpec(f"{prefix}Street", "textarea", 255),
        _s(f"{prefix}City", 40),
        _s(f"{prefix}State", state_len),
        _s(f"{prefix}PostalCode", 20),
        _s(f"{prefix}Country", 80),
    ]


def _object(name: str, label: str, plural: str, specs: list[FieldSpec]) -> ObjectSpec:
    obj = ObjectSpec(name, label, plural)
    for spec in [*_system_fields(), *specs]:
        obj.fields[spec.name] = spec
    return obj


def _owner() -> FieldSpec:
    return FieldSpec(
        "OwnerId",
        "reference",
        18,
        nillable=False,
        defaulted=True,
        reference_to="User",
        relationship_name="Owner",
    )


ACCOUNT = _object(
    "Account",
    "Account",
    "Accounts",
    [
        _s("Name", 255, nillable=False, required=True, id_lookup=False),
        _s("AccountNumber", 40),
        *_address("Billing"),
        *_address("Shipping"),
        FieldSpec("Phone", "phone", 40),
        FieldSpec("Fax", "phone", 40),
        FieldSpec("Website", "url", 255),
        FieldSpec("Type", "picklist", 255, picklist=("Customer", "Prospect", "Partner", "Competitor", "Other")),
        FieldSpec("Industry", "picklist", 40, picklist=("Construction", "Manufacturing", "Retail", "Other")),
        FieldSpec("Description", "textarea", 32000),
        _owner(),
        _s("Acumatica_Customer_ID__c", 30, external_id=True, unique=True, id_lookup=True, custom=True,
           label="Acumatica Customer ID"),
        FieldSpec("Acumatica_Status__c", "picklist", 255, custom=True,
                  picklist=("Active", "On Hold", "Credit Hold", "Inactive", "One-Time")),
        FieldSpec("Acumatica_Credit_Limit__c", "currency", custom=True),
        FieldSpec("Acumatica_AR_Balance__c", "currency", custom=True),
        FieldSpec("Acumatica_Synced_At__c", "datetime", custom=True),
    ],
)  # fmt: skip

CONTACT = _object(
    "Contact",
    "Contact",
    "Contacts",
    [
        _ref("AccountId", "Account"),
        _s("FirstName", 40),
        _s("LastName", 80, nillable=False, required=True),
        _ro("Name", "string", 121, nillable=False, calculated=True),
        _s("Salutation", 40),
        FieldSpec("Email", "email", 80),
        FieldSpec("Phone", "phone", 40),
        FieldSpec("MobilePhone", "phone", 40),
        _s("Title", 128),
        *_address("Mailing"),
        _owner(),
    ],
)

PRODUCT2 = _object(
    "Product2",
    "Product",
    "Products",
    [
        _s("Name", 255, nillable=False, required=True, id_lookup=True),
        _s("ProductCode", 255),
        FieldSpec("IsActive", "boolean", nillable=False, defaulted=True),
        _s("StockKeepingUnit", 180),
        _s("ExternalId", 255),
        FieldSpec("Family", "picklist", 40, picklist=("Lumber", "Sheet Goods", "Concrete", "Roofing", "Hardware",
                                                      "Insulation", "Plumbing", "Finishing")),
        FieldSpec("Description", "textarea", 4000),
        FieldSpec("QuantityUnitOfMeasure", "picklist", 255, picklist=("EA", "BAG", "BOX", "ROLL", "BNDL")),
        _s("ERP_Item_No__c", 30, external_id=True, unique=True, id_lookup=True, custom=True, label="ERP Item No"),
    ],
)  # fmt: skip

PRICEBOOK2 = _object(
    "Pricebook2",
    "Price Book",
    "Price Books",
    [
        _s("Name", 255, nillable=False, required=True, id_lookup=True),
        FieldSpec("IsActive", "boolean", nillable=False, defaulted=True),
        _ro("IsStandard", "boolean", nillable=False, defaulted=True),
        FieldSpec("Description", "textarea", 255),
    ],
)

PRICEBOOK_ENTRY = _object(
    "PricebookEntry",
    "Price Book Entry",
    "Price Book Entries",
    [
        FieldSpec("Pricebook2Id", "reference", 18, nillable=False, required=True, updateable=False,
                  reference_to="Pricebook2", relationship_name="Pricebook2"),
        FieldSpec("Product2Id", "reference", 18, nillable=False, required=True, updateable=False,
                  reference_to="Product2", relationship_name="Product2"),
        FieldSpec("UnitPrice", "currency", nillable=False, required=True),
        FieldSpec("IsActive", "boolean", nillable=False, defaulted=True),
        FieldSpec("UseStandardPrice", "boolean", nillable=False, defaulted=True),
        _ro("Name", "string", 255),
        _ro("ProductCode", "string", 255),
    ],
)  # fmt: skip

ORDER = _object(
    "Order",
    "Order",
    "Orders",
    [
        _ref("AccountId", "Account", nillable=False, required=True),
        FieldSpec("Status", "picklist", 40, nillable=False, required=True, picklist=("Draft", "Activated"),
                  restricted_picklist=True),
        _ro("StatusCode", "picklist", 40, nillable=False, defaulted=True, picklist=("Draft", "Activated")),
        FieldSpec("EffectiveDate", "date", nillable=False, required=True),
        FieldSpec("EndDate", "date"),
        _ro("OrderNumber", "string", 30, nillable=False, auto_number=True, defaulted=True, id_lookup=True),
        _ref("Pricebook2Id", "Pricebook2", defaulted=True),
        _ro("TotalAmount", "currency", nillable=False, calculated=True),
        _ro("ActivatedDate", "datetime"),
        FieldSpec("ActivatedById", "reference", 18, createable=False, updateable=False, reference_to="User",
                  relationship_name="ActivatedBy"),
        _s("PoNumber", 80),
        FieldSpec("PoDate", "date"),
        _s("Name", 80),
        FieldSpec("Type", "picklist", 255, picklist=("Standard", "Return")),
        FieldSpec("Description", "textarea", 32000),
        _ref("BillToContactId", "Contact"),
        _ref("ShipToContactId", "Contact"),
        *_address("Billing"),
        *_address("Shipping"),
        _owner(),
        _s("Acumatica_Invoice_Nbr__c", 30, custom=True, label="Acumatica Invoice Nbr"),
        FieldSpec("Acumatica_Invoice_Status__c", "picklist", 255, custom=True,
                  picklist=("Balanced", "Open", "Closed", "Voided", "On Hold")),
    ],
)  # fmt: skip

ORDER_ITEM = _object(
    "OrderItem",
    "Order Product",
    "Order Products",
    [
        FieldSpec("OrderId", "reference", 18, nillable=False, required=True, updateable=False,
                  reference_to="Order", relationship_name="Order"),
        FieldSpec("PricebookEntryId", "reference", 18, nillable=False, required=True, updateable=False,
                  reference_to="PricebookEntry", relationship_name="PricebookEntry"),
        FieldSpec("Product2Id", "reference", 18, updateable=False, reference_to="Product2",
                  relationship_name="Product2"),
        FieldSpec("Quantity", "double", nillable=False, required=True),
        # UNVERIFIED (reference §5.4): UnitPrice "required in practice for standard orders"; we require it.
        FieldSpec("UnitPrice", "currency", nillable=False, required=True),
        _ro("ListPrice", "currency"),
        _ro("TotalPrice", "currency", calculated=True),
        FieldSpec("Description", "string", 255),
        FieldSpec("ServiceDate", "date"),
        FieldSpec("EndDate", "date"),
        _ro("OrderItemNumber", "string", 10, nillable=False, auto_number=True, defaulted=True, id_lookup=True),
    ],
)  # fmt: skip

SCHEMA: dict[str, ObjectSpec] = {
    o.name: o for o in (ACCOUNT, CONTACT, PRODUCT2, PRICEBOOK2, PRICEBOOK_ENTRY, ORDER, ORDER_ITEM)
}

_CHILDREN: dict[str, list[ChildRelationship]] = {
    "Account": [
        ChildRelationship("Contacts", "Contact", "AccountId", cascade_delete=True),
        ChildRelationship("Orders", "Order", "AccountId"),
    ],
    "Order": [ChildRelationship("OrderItems", "OrderItem", "OrderId", cascade_delete=True)],
    "Pricebook2": [
        ChildRelationship("PricebookEntries", "PricebookEntry", "Pricebook2Id", cascade_delete=True)
    ],
    "Product2": [ChildRelationship("PricebookEntries", "PricebookEntry", "Product2Id", cascade_delete=True)],
    "PricebookEntry": [ChildRelationship("OrderItems", "OrderItem", "PricebookEntryId")],
}


def child_relationships(object_name: str) -> list[ChildRelationship]:
    """The child relationships of ``object_name``."""
    return _CHILDREN.get(object_name, [])
