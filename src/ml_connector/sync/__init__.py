"""The sync domain: mapping (pure), flows, ledger operations, echo suppression."""

from ml_connector.sync._mapping import (
    ACUMATICA_LENGTHS,
    Mapped,
    account_to_customer,
    contact_to_acumatica,
    content_hash,
    country_code,
    credit_to_account,
    customer_id_for,
    order_to_invoice,
)

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
