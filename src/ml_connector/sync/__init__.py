"""The sync domain: mapping (pure), the four flows, ledger operations, echo suppression."""

from ml_connector.sync._connect import Transports, open_clients, open_sync
from ml_connector.sync._context import PlannedWrite, RunTally, SyncContext
from ml_connector.sync._gateways import AcumaticaGateway, CallCounter, SalesforceGateway
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
from ml_connector.sync._runner import FLOW_NAMES, FlowResult, Flows, run_flows
from ml_connector.sync._service import (
    FlowStatus,
    SyncReport,
    flow_status,
    parked_records,
    retry_parked,
    run_sync,
    skip_parked,
)

__all__ = [
    "ACUMATICA_LENGTHS",
    "FLOW_NAMES",
    "AcumaticaGateway",
    "CallCounter",
    "FlowResult",
    "FlowStatus",
    "Flows",
    "Mapped",
    "PlannedWrite",
    "RunTally",
    "SalesforceGateway",
    "SyncContext",
    "SyncReport",
    "Transports",
    "account_to_customer",
    "contact_to_acumatica",
    "content_hash",
    "country_code",
    "credit_to_account",
    "customer_id_for",
    "flow_status",
    "open_clients",
    "open_sync",
    "order_to_invoice",
    "parked_records",
    "retry_parked",
    "run_flows",
    "run_sync",
    "skip_parked",
]
