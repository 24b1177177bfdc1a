"""Deterministic seed data: a building-products distributor's org.

Accounts (contractors, builders, retailers) with billing and shipping addresses whose countries are
spelled out, contacts, the standard price book with every catalogue product (``ERP_Item_No__c`` =
Acumatica ``InventoryID``), and orders with several lines — some still Draft, some Activated.
"""

from __future__ import annotations

import random
from datetime import timedelta

from ml_connector.sandbox.catalog import CatalogItem, salesforce_products
from ml_connector.sandbox.salesforce._schema import SCHEMA
from ml_connector.sandbox.salesforce._store import SalesforceOrg

__all__ = ["seed_org"]

_FIRST = (
    "Summit",
    "Granite",
    "Cedar",
    "Harbor",
    "Prairie",
    "Ironwood",
    "Bluewater",
    "Redstone",
    "Northgate",
    "Maple",
    "Pioneer",
    "Lakeside",
    "Keystone",
    "Sierra",
    "Timberline",
    "Coastal",
    "Frontier",
    "Oakridge",
)
_SECOND = (
    "Framing",
    "Builders",
    "Roofing",
    "Drywall",
    "Construction",
    "Homes",
    "Contracting",
    "Renovations",
    "Concrete",
    "Carpentry",
    "Remodeling",
    "Supply",
)
_SUFFIX = ("Inc.", "LLC", "Co.", "Ltd.", "Group", "& Sons")
_PLACES = (
    ("Denver", "CO", "80202", "United States"),
    ("Austin", "TX", "78701", "United States"),
    ("Portland", "OR", "97205", "United States"),
    ("Columbus", "OH", "43215", "United States"),
    ("Raleigh", "NC", "27601", "United States"),
    ("Phoenix", "AZ", "85004", "United States"),
    ("Toronto", "ON", "M5H 2N2", "Canada"),
    ("Calgary", "AB", "T2P 1J9", "Canada"),
    ("Vancouver", "BC", "V6B 1A1", "Canada"),
    ("Monterrey", "NL", "64000", "Mexico"),
)
_STREETS = ("Industrial Pkwy", "Commerce Dr", "Main St", "Lumberyard Rd", "Quarry Ln", "Depot Ave", "Mill St")
_PEOPLE_FIRST = (
    "Maria",
    "James",
    "Aisha",
    "Tom",
    "Chen",
    "Sofia",
    "Liam",
    "Priya",
    "Diego",
    "Emma",
    "Noah",
    "Fatima",
    "Olga",
    "Kenji",
    "Grace",
    "Omar",
)
_PEOPLE_LAST = (
    "Garcia",
    "Smith",
    "Okafor",
    "Nguyen",
    "Murphy",
    "Kowalski",
    "Patel",
    "Hernandez",
    "Larsen",
    "O'Brien",
    "Tanaka",
    "Rossi",
    "Dubois",
    "Schmidt",
    "Haddad",
    "Novak",
)
_TITLES = ("Purchasing Manager", "Owner", "Project Manager", "Site Superintendent", "Accounts Payable")
_FAMILIES = {"LUM": "Lumber", "PLY": "Sheet Goods", "OSB": "Sheet Goods", "DRY": "Sheet Goods", "CEM": "Concrete",
             "CON": "Concrete", "REB": "Concrete", "INS": "Insulation", "SHG": "Roofing", "FLT": "Roofing",
             "NAIL": "Hardware", "SCR": "Hardware", "HNG": "Hardware", "WRAP": "Roofing", "PVC": "Plumbing",
             "TRIM": "Finishing", "CAULK": "Finishing", "TILE": "Finishing", "SKY": "Roofing"}  # fmt: skip


def _family(item: CatalogItem) -> str:
    return _FAMILIES.get(item.item_no.split("-")[0], "Hardware")


def seed_org(
    org: SalesforceOrg,
    *,
    seed: int = 7,
    accounts: int = 20,
    contacts_per_account: int = 2,
    orders: int = 30,
    activated_ratio: float = 0.6,
) -> dict[str, int]:
    """Fill ``org`` (after whatever it holds) and return how many records of each object were made."""
    rng = random.Random(seed)
    made = {"Account": 0, "Contact": 0, "Product2": 0, "Pricebook2": 0, "PricebookEntry": 0, "Order": 0,
            "OrderItem": 0}  # fmt: skip
    with org.transaction(client="sandbox-seed") as tx:
        standard_id = org.standard_pricebook_id
        if standard_id is None:
            standard_id = tx.create("Pricebook2", {"Name": "Standard Price Book", "IsActive": True})
            row = dict(org.tables["Pricebook2"][standard_id], IsStandard=True)
            org.put("Pricebook2", row)
            org.standard_pricebook_id = standard_id
            made["Pricebook2"] += 1
        entries: list[tuple[str, float]] = []
        erp_item_no = SCHEMA["Product2"].fields["ERP_Item_No__c"]
        for item in salesforce_products():
            if tx.find_by_external_id(SCHEMA["Product2"], erp_item_no, item.item_no):
                continue  # seeding twice adds accounts and orders, not a second catalogue
            product_id = tx.create(
                "Product2",
                {
                    "Name": item.name,
                    "ProductCode": item.item_no,
                    "ERP_Item_No__c": item.item_no,
                    "IsActive": True,
                    "Family": _family(item),
                    "QuantityUnitOfMeasure": item.uom,
                },
            )
            entry_id = tx.create(
                "PricebookEntry",
                {
                    "Pricebook2Id": standard_id,
                    "Product2Id": product_id,
                    "UnitPrice": float(item.price),
                    "IsActive": True,
                },
            )
            entries.append((entry_id, float(item.price)))
            made["Product2"] += 1
            made["PricebookEntry"] += 1
        if not entries:
            entries = [(e["Id"], e["UnitPrice"]) for e in org.rows("PricebookEntry", False)]
        account_ids: list[str] = []
        for n in range(accounts):
            city, state, postal, country = rng.choice(_PLACES)
            street = f"{rng.randint(100, 9999)} {rng.choice(_STREETS)}"
            name = f"{rng.choice(_FIRST)} {rng.choice(_SECOND)} {rng.choice(_SUFFIX)}"
            account_id = tx.create(
                "Account",
                {
                    "Name": name if n < len(_FIRST) * 2 else f"{name} #{n}",
                    "AccountNumber": f"SF-{10000 + n}",
                    "Type": "Customer",
                    "Industry": "Construction",
                    "Phone": f"+1 {rng.randint(200, 989)} 555 {rng.randint(1000, 9999)}",
                    "BillingStreet": street,
                    "BillingCity": city,
                    "BillingState": state,
                    "BillingPostalCode": postal,
                    "BillingCountry": country,
                    "ShippingStreet": street,
                    "ShippingCity": city,
                    "ShippingState": state,
                    "ShippingPostalCode": postal,
                    "ShippingCountry": country,
                },
            )
            account_ids.append(account_id)
            made["Account"] += 1
            for _ in range(contacts_per_account):
                first, last = rng.choice(_PEOPLE_FIRST), rng.choice(_PEOPLE_LAST)
                tx.create(
                    "Contact",
                    {
                        "AccountId": account_id,
                        "FirstName": first,
                        "LastName": last,
                        "Title": rng.choice(_TITLES),
                        "Email": f"{first}.{last}@example.com".lower().replace("'", ""),
                        "Phone": f"+1 {rng.randint(200, 989)} 555 {rng.randint(1000, 9999)}",
                        "MailingCity": city,
                        "MailingCountry": country,
                    },
                )
                made["Contact"] += 1
        today = tx.now.date()
        for _ in range(orders if account_ids else 0):
            account_id = rng.choice(account_ids)
            order_id = tx.create(
                "Order",
                {
                    "AccountId": account_id,
                    "Status": "Draft",
                    "EffectiveDate": (today - timedelta(days=rng.randint(0, 60))).isoformat(),
                    "Pricebook2Id": standard_id,
                    "PoNumber": f"PO-{rng.randint(10000, 99999)}",
                },
            )
            made["Order"] += 1
            for entry_id, price in rng.sample(entries, k=min(len(entries), rng.randint(2, 5))):
                tx.create(
                    "OrderItem",
                    {
                        "OrderId": order_id,
                        "PricebookEntryId": entry_id,
                        "Quantity": float(rng.choice((1, 2, 5, 10, 12, 24, 40, 100))),
                        "UnitPrice": price,
                    },
                )
                made["OrderItem"] += 1
            if rng.random() < activated_ratio:
                tx.update("Order", order_id, {"Status": "Activated"})
    return made
