"""A faithful fake of the Salesforce Pub/Sub API streaming Change Data Capture events (reference §6).

``PubSubSandbox.for_salesforce(sf_sandbox)`` turns every change committed through the REST sandbox
into an Avro change event; ``await ps.start()`` serves ``eventbus.v1.PubSub`` on loopback.
"""

from __future__ import annotations

from ml_connector.sandbox.pubsub._events import (
    CDC_ENTITIES,
    OVERFLOW_RECORD_ID,
    ChangeSource,
    CommittedChange,
    EventBus,
)
from ml_connector.sandbox.pubsub._schema import EntityField, EventSchema
from ml_connector.sandbox.pubsub._server import PubSubSandbox, SalesforceChangeSource, pubsub_control_routes

__all__ = [
    "CDC_ENTITIES",
    "OVERFLOW_RECORD_ID",
    "ChangeSource",
    "CommittedChange",
    "EntityField",
    "EventBus",
    "EventSchema",
    "PubSubSandbox",
    "SalesforceChangeSource",
    "pubsub_control_routes",
]
