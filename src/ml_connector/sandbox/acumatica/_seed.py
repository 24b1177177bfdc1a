"""Deterministic seed data: the distributor's stock items (shared catalogue) and some customers.

Stock items come from :func:`ml_connector.sandbox.catalog.acumatica_items`, so ``InventoryID`` equals
the Salesforce sandbox's ``Product2.ERP_Item_No__c``; two catalogue products are missing here and one
item is ``No Sales``. Customers: one is on ``Credit Hold`` so the unhappy invoice path exists, and the
first two carry a released open invoice so balances are not all zero.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

from ..catalog import acumatica_items
from ._store import AcumaticaStore
from ._wire import Patch

__all__ = ["seed_tenant"]

_NAMES = (
    "Summit Builders Supply",
    "Cascade Framing Co",
    "Riverbend Contractors",
    "Granite Peak Homes",
    "Lakeside Roofing",
    "Northgate Drywall",
    "Pioneer Concrete Works",
    "Harbor View Remodeling",
    "Oakridge Custom Homes",
    "Prairie Insulation Inc",
)
_CITIES = (
    ("Kirkland", "WA", "98033"),
    ("Boise", "ID", "83702"),
    ("Spokane", "WA", "99201"),
    ("Bend", "OR", "97701"),
)
_FIRST = ("Ava", "Liam", "Noah", "Mia", "Ethan", "Zoe", "Lucas", "Ella")
_LAST = ("Nguyen", "Patel", "Garcia", "Smith", "Kowalski", "Okafor", "Larsen", "Brennan")


def seed_tenant(
    store: AcumaticaStore, tenant: str, *, seed: int = 7, customers: int = 5, **options: Any
) -> dict[str, int]:
    """Fill one tenant; the same ``seed`` always gives the same records."""
    rng = random.Random(seed)
    data = store.tenant(tenant)
    data.customer_classes.update({"DEFAULT", "WHOLESALE", "RETAIL"})
    data.warehouses.update({"WHOLESALE", "RETAIL"})
    data.payment_methods.update({"CHECK", "ACH", "CARD"})
    long_ago = store.now() - timedelta(days=30)
    counts = {"StockItem": 0, "Customer": 0, "Contact": 0, "SalesInvoice": 0}
    for item in acumatica_items():
        if store.by_keys(tenant, "StockItem", [item.item_no]) is not None:
            continue
        rec, _ = store.put(
            tenant,
            "StockItem",
            Patch(
                values={
                    "InventoryID": item.item_no,
                    "Description": item.name,
                    "BaseUOM": item.uom,
                    "SalesUOM": item.uom,
                    "PurchaseUOM": item.uom,
                    "DefaultPrice": item.price,
                    "ItemStatus": item.acumatica_status,
                    "ItemClass": "BUILDING",
                    "PostingClass": "BUILDING",
                    "DefaultWarehouseID": "WHOLESALE",
                }
            ),
        )
        rec["LastModifiedDateTime"] = rec["CreatedDateTime"] = long_ago
        counts["StockItem"] += 1
    sellable = [i for i in acumatica_items() if i.acumatica_status == "Active"]
    for n in range(customers):
        name = _NAMES[n % len(_NAMES)] + ("" if n < len(_NAMES) else f" {n // len(_NAMES) + 1}")
        customer_id = "C" + f"{n + 1:05d}"
        if store.by_keys(tenant, "Customer", [customer_id]) is not None:
            continue
        city, state, postal = _CITIES[rng.randrange(len(_CITIES))]
        domain = name.lower().replace(" ", "") + ".example"
        customer, _ = store.put(
            tenant,
            "Customer",
            Patch(
                values={
                    "CustomerID": customer_id,
                    "CustomerName": name,
                    "CustomerClass": "WHOLESALE",
                    "CreditLimit": Decimal(rng.choice((5000, 10000, 25000, 50000))),
                    "Status": "Credit Hold" if n == 2 else "Active",
                },
                links={
                    "MainContact": Patch(
                        values={
                            "Email": f"ap@{domain}",
                            "Phone1": f"+1 (425) 555-{rng.randrange(10000):04d}",
                        },
                        links={
                            "Address": Patch(
                                values={
                                    "AddressLine1": f"{rng.randrange(100, 9999)} Industrial Way",
                                    "City": city,
                                    "State": state,
                                    "PostalCode": postal,
                                    "Country": "US",
                                }
                            )
                        },
                    )
                },
            ),
        )
        customer["LastModifiedDateTime"] = customer["CreatedDateTime"] = long_ago
        counts["Customer"] += 1
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        contact, _ = store.put(
            tenant,
            "Contact",
            Patch(
                values={
                    "BusinessAccount": customer_id,
                    "FirstName": first,
                    "LastName": last,
                    "Email": f"{first.lower()}.{last.lower()}@{domain}",
                    "JobTitle": "Purchasing Manager",
                }
            ),
        )
        contact["LastModifiedDateTime"] = contact["CreatedDateTime"] = long_ago
        counts["Contact"] += 1
        if n < 2 and sellable:
            picked = [(item, Decimal(rng.randrange(1, 20))) for item in rng.sample(sellable, 2)]
            lines = [Patch(values={"InventoryID": item.item_no, "Qty": qty}) for item, qty in picked]
            amount = sum((item.price * qty for item, qty in picked), Decimal(0))
            invoice, _ = store.put(
                tenant,
                "SalesInvoice",
                Patch(
                    values={
                        "CustomerID": customer_id,
                        "CustomerOrder": f"SEED-{n + 1:04d}",
                        "Hold": False,
                        "Amount": amount,  # matches, for tenants that validate document totals
                    },
                    details={"Details": lines},
                ),
            )
            store.release_invoice(tenant, invoice)
            invoice["LastModifiedDateTime"] = invoice["CreatedDateTime"] = long_ago
            counts["SalesInvoice"] += 1
    return counts
