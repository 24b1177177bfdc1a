"""Salesforce for the connector: an async REST client with OAuth client credentials.

``SalesforceClient`` does queries (paged), reads, describe, upserts by external id and collection
writes with retries, API-budget tracking and ``Sforce-Call-Options`` tagging; ``soql`` builds every
literal that goes into a query.
"""

from ml_connector.salesforce import _soql as soql
from ml_connector.salesforce._auth import SalesforceAuth, SalesforceToken, TokenManager
from ml_connector.salesforce._client import (
    COLLECTION_LIMIT,
    QueryPage,
    RecordResult,
    SalesforceClient,
    UpsertResult,
)

__all__ = [
    "COLLECTION_LIMIT",
    "QueryPage",
    "RecordResult",
    "SalesforceAuth",
    "SalesforceClient",
    "SalesforceToken",
    "TokenManager",
    "UpsertResult",
    "soql",
]
