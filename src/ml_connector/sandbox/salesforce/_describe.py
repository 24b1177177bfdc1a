"""``describe`` and ``describeGlobal`` bodies built from the sandbox schema."""

from __future__ import annotations

from typing import Any

from ml_connector.sandbox.salesforce._schema import SCHEMA, ObjectSpec, child_relationships

__all__ = ["describe_global", "describe_object"]


def _urls(obj: ObjectSpec, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def _object_flags(obj: ObjectSpec, version: str) -> dict[str, Any]:
    return {
        "name": obj.name,
        "label": obj.label,
        "labelPlural": obj.plural,
        "keyPrefix": obj.key_prefix,
        "custom": False,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "replicateable": True,
        "triggerable": True,
        "undeletable": obj.name != "OrderItem",
        "urls": _urls(obj, version),
    }


def describe_object(obj: ObjectSpec, version: str) -> dict[str, Any]:
    """``GET /sobjects/{type}/describe`` for one object."""
    body = _object_flags(obj, version)
    body["fields"] = [spec.describe() for spec in obj.fields.values()]
    body["childRelationships"] = [
        {
            "childSObject": rel.child_object,
            "field": rel.field,
            "relationshipName": rel.name,
            "cascadeDelete": rel.cascade_delete,
            "deprecatedAndHidden": False,
            "restrictedDelete": not rel.cascade_delete,
        }
        for rel in child_relationships(obj.name)
    ]
    body["recordTypeInfos"] = []
    return body


def describe_global(version: str) -> dict[str, Any]:
    """``GET /sobjects`` — every object, without fields."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [_object_flags(obj, version) for obj in SCHEMA.values()],
    }
