"""Change Data Capture over the Salesforce Pub/Sub API (reference salesforce-api.md §6, §8).

:class:`CdcSubscriber` keeps one ``Subscribe`` stream open, decodes events with fastavro (schemas
cached by id), hands them over in :class:`CdcBatch` es and stores the replay position only after
the handler returned. :func:`should_process` is the echo filter.

The gRPC stubs ``pubsub_api_pb2*.py`` are generated from ``pubsub_api.proto``; regenerate with
``.venv/bin/python -m ml_connector.salesforce.pubsub._generate``.
"""

from __future__ import annotations

from ml_connector.salesforce.pubsub._avro import EventSchema, SchemaCache, decode_bitmap
from ml_connector.salesforce.pubsub._events import (
    OVERFLOW_RECORD_ID,
    CdcBatch,
    ChangeEvent,
    decode_change_event,
    should_process,
)
from ml_connector.salesforce.pubsub._subscriber import (
    DEFAULT_ENDPOINT,
    CdcSubscriber,
    MemoryReplayStore,
    ReplayStore,
    TokenProvider,
    error_code_of,
)

__all__ = [
    "DEFAULT_ENDPOINT",
    "OVERFLOW_RECORD_ID",
    "CdcBatch",
    "CdcSubscriber",
    "ChangeEvent",
    "EventSchema",
    "MemoryReplayStore",
    "ReplayStore",
    "SchemaCache",
    "TokenProvider",
    "decode_bitmap",
    "decode_change_event",
    "error_code_of",
    "should_process",
]
