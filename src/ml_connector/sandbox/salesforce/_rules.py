"""Object-specific behaviour: Contact names, price book entries and the Order rules of §5.3–5.4.

Order lifecycle (reference §5.3): created only as Draft; activation (Status → Activated) must change
nothing but Status and needs a price book and at least one order product; AccountId changes only while
Draft; a price book, once set, stays; only Draft orders can be deleted. Order products (§5.4): only
through a PricebookEntry of the order's price book, never added to or removed from an activated order;
ListPrice comes from the entry, TotalPrice = UnitPrice × Quantity, Order.TotalAmount is their sum.
"""

from __future__ import annotations

from typing import Any

from ml_connector.sandbox.salesforce._store import Transaction, _ObjectRules, register_rules
from ml_connector.sandbox.salesforce._values import ApiError, SaveFailed

__all__ = ["install"]


def _integrity(message: str, *fields: str) -> SaveFailed:
    return SaveFailed([ApiError("FIELD_INTEGRITY_EXCEPTION", message, fields)])


class _ContactRules(_ObjectRules):
    def before_insert(self, tx: Transaction, record: dict[str, Any]) -> None:
        record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)

    def before_update(
        self, tx: Transaction, old: dict[str, Any], new: dict[str, Any], touched: set[str]
    ) -> None:
        self.before_insert(tx, new)


class _PricebookEntryRules(_ObjectRules):
    def before_insert(self, tx: Transaction, record: dict[str, Any]) -> None:
        product = tx.org.live("Product2", record["Product2Id"]) or {}
        record["Name"] = product.get("Name")
        record["ProductCode"] = product.get("ProductCode")
        for other in tx.org.rows("PricebookEntry", False):
            if (
                other["Product2Id"] == record["Product2Id"]
                and other["Pricebook2Id"] == record["Pricebook2Id"]
            ):
                raise SaveFailed(
                    [
                        ApiError(
                            "DUPLICATE_VALUE", "This price definition already exists in this price book", ()
                        )
                    ]
                )
        standard = tx.org.standard_pricebook_id
        if standard and record["Pricebook2Id"] != standard:
            has_standard = any(
                e["Product2Id"] == record["Product2Id"] and e["Pricebook2Id"] == standard
                for e in tx.org.rows("PricebookEntry", False)
            )
            if not has_standard:
                raise _integrity("Before creating a custom price, create a standard price.")


class _OrderRules(_ObjectRules):
    def before_insert(self, tx: Transaction, record: dict[str, Any]) -> None:
        if record["Status"] != "Draft":
            # §5.3: "a new order must be created with a Status whose StatusCode is Draft".
            # UNVERIFIED: the exact error code/text; FIELD_INTEGRITY_EXCEPTION is our assumption.
            raise _integrity("You can't create an order with a status other than Draft.", "Status")
        record["StatusCode"] = "Draft"
        record["OrderNumber"] = tx.org.next_order_number()
        record["TotalAmount"] = 0.0

    def before_update(
        self, tx: Transaction, old: dict[str, Any], new: dict[str, Any], touched: set[str]
    ) -> None:
        activating = old["StatusCode"] == "Draft" and new["Status"] == "Activated"
        if activating:
            others = sorted(f for f in touched if f != "Status" and old.get(f) != new.get(f))
            if others:
                # §5.3: "Status is the only field you can change in the activating update".
                # UNVERIFIED: exact error text.
                raise _integrity(
                    f"You can't change other fields when you activate an order: {', '.join(others)}", *others
                )
            items = [i for i in tx.org.rows("OrderItem", False) if i["OrderId"] == old["Id"]]
            if not new.get("Pricebook2Id") or not items:
                # UNVERIFIED (reference §5.3): wording used by a third-party fake.
                raise SaveFailed(
                    [ApiError("FAILED_ACTIVATION", "an order must include at least one product", ("Status",))]
                )
            new["StatusCode"] = "Activated"
            new["ActivatedDate"] = tx.now
            new["ActivatedById"] = tx.user_id
            return
        if old["StatusCode"] == "Activated" and new["Status"] == "Draft":
            new["StatusCode"] = "Draft"
            new["ActivatedDate"] = None
            new["ActivatedById"] = None
        if old["StatusCode"] == "Activated" and old.get("AccountId") != new.get("AccountId"):
            raise _integrity(
                "Account ID: you can change the account only while the order is a draft", "AccountId"
            )
        if old.get("Pricebook2Id") and old["Pricebook2Id"] != new.get("Pricebook2Id"):
            raise _integrity(
                "Price Book ID: a price book can't be changed or removed once set", "Pricebook2Id"
            )

    def before_delete(self, tx: Transaction, row: dict[str, Any]) -> None:
        if row["StatusCode"] != "Draft":
            # §5.3: orders can be deleted only while Draft. UNVERIFIED: exact error code.
            raise _integrity("You can't delete an activated order. Set the status to Draft first.")


def _order_of(tx: Transaction, order_id: str) -> dict[str, Any]:
    order = tx.org.live("Order", order_id)
    if order is None:
        raise SaveFailed(
            [ApiError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ("OrderId",))]
        )
    return order


def _round_money(value: float) -> float:
    return round(value + 0.0, 2)


class _OrderItemRules(_ObjectRules):
    def before_insert(self, tx: Transaction, record: dict[str, Any]) -> None:
        order = _order_of(tx, record["OrderId"])
        if order["StatusCode"] != "Draft":
            # UNVERIFIED (reference §5.3/§10): no documented error for adding a product to an activated
            # order; FIELD_INTEGRITY_EXCEPTION is what a third-party fake uses.
            raise _integrity("You can't add products to an activated order.", "OrderId")
        if not order.get("Pricebook2Id"):
            raise _integrity(
                "An order product can be added only to an order with a price book (Pricebook2Id).", "OrderId"
            )
        entry = tx.org.live("PricebookEntry", record["PricebookEntryId"]) or {}
        if entry.get("Pricebook2Id") != order["Pricebook2Id"]:
            # §5.4, exact message.
            raise _integrity(
                "Order Products must have a Price Book Entry that belongs to the Price Book related to the "
                "parent Order.",
                "PricebookEntryId",
            )
        if record.get("Product2Id") and record["Product2Id"] != entry["Product2Id"]:
            raise _integrity("Product ID: doesn't match the price book entry's product", "Product2Id")
        record["Product2Id"] = entry["Product2Id"]
        record["ListPrice"] = entry["UnitPrice"]
        record["TotalPrice"] = _round_money(record["UnitPrice"] * record["Quantity"])
        record["OrderItemNumber"] = tx.org.next_order_item_number()

    def before_update(
        self, tx: Transaction, old: dict[str, Any], new: dict[str, Any], touched: set[str]
    ) -> None:
        order = _order_of(tx, old["OrderId"])
        changed = {f for f in touched if old.get(f) != new.get(f)}
        if order["StatusCode"] != "Draft" and changed & {"Quantity", "UnitPrice"}:
            # UNVERIFIED: editing activated order products needs "Edit Activated Orders" (Help); refused here.
            raise _integrity("You can't change quantities or prices of an activated order.", *sorted(changed))
        new["TotalPrice"] = _round_money(new["UnitPrice"] * new["Quantity"])

    def before_delete(self, tx: Transaction, row: dict[str, Any]) -> None:
        order = tx.org.live("Order", row["OrderId"])
        if order is not None and order["StatusCode"] != "Draft":
            raise _integrity("You can't remove products from an activated order.")

    def after_write(self, tx: Transaction, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        order_id = (new or old or {}).get("OrderId")
        order = tx.org.live("Order", order_id) if order_id else None
        if order is None:
            return
        total = sum(
            i["TotalPrice"] or 0.0 for i in tx.org.rows("OrderItem", False) if i["OrderId"] == order_id
        )
        tx.set_computed("Order", order["Id"], {"TotalAmount": _round_money(total)})


class _AccountRules(_ObjectRules):
    def before_delete(self, tx: Transaction, row: dict[str, Any]) -> None:
        orders = [o["OrderNumber"] for o in tx.org.rows("Order", False) if o["AccountId"] == row["Id"]]
        if orders:
            # UNVERIFIED: wording; Salesforce refuses to delete accounts that still have orders.
            raise SaveFailed(
                [
                    ApiError(
                        "DELETE_FAILED",
                        f"Your attempt to delete {row['Name']} could not be completed because it is associated "
                        f"with the following orders.: {', '.join(orders[:5])}",
                    )
                ]
            )


class _Product2Rules(_ObjectRules):
    def before_delete(self, tx: Transaction, row: dict[str, Any]) -> None:
        if any(i["Product2Id"] == row["Id"] for i in tx.org.rows("OrderItem", False)):
            raise SaveFailed(
                [
                    ApiError(
                        "DELETE_FAILED", "This product can't be deleted because it's used on order products."
                    )
                ]
            )


def install() -> None:
    """Register every object's rules with the store."""
    register_rules("Contact", _ContactRules())
    register_rules("PricebookEntry", _PricebookEntryRules())
    register_rules("Order", _OrderRules())
    register_rules("OrderItem", _OrderItemRules())
    register_rules("Account", _AccountRules())
    register_rules("Product2", _Product2Rules())
