"""Writes to the sandbox org: validation, system fields, object rules, the per-request transaction.

Every write goes through a :class:`Transaction` (one per API request): it stamps the same
``SystemModstamp`` on every record the request touches, records the writer's
``Sforce-Call-Options`` client, and on commit appends :class:`Change` entries to the change log the
later Pub/Sub (CDC) server streams. Every table write is journalled, so a failed request, a failed
record of a collection and an ``allOrNone`` rollback undo exactly what they wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from ml_connector.sandbox.salesforce._ids import is_valid_id
from ml_connector.sandbox.salesforce._org import Change, ChangeListener, PendingChange, SalesforceOrg
from ml_connector.sandbox.salesforce._schema import SCHEMA, FieldSpec, ObjectSpec, child_relationships
from ml_connector.sandbox.salesforce._values import ApiError, SaveFailed, coerce_value

__all__ = ["Change", "ChangeListener", "SalesforceOrg", "Transaction", "register_rules"]

_SYSTEM_FIELDS = frozenset(
    {
        "Id",
        "IsDeleted",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
    }
)


class Transaction:
    """The writes of one API request: same timestamp, same client tag, one commit (or rollback)."""

    def __init__(
        self, org: SalesforceOrg, *, client: str | None, api_version: str | None, user_id: str
    ) -> None:
        self.org = org
        self.client = client
        self.api_version = api_version
        self.user_id = user_id
        # Salesforce dateTime values have whole seconds (REST prints ".000"); one stamp per request.
        self.now = org.clock.now().replace(microsecond=0)
        self.key = str(uuid.uuid4())
        self.pending: list[PendingChange] = []
        self._start = (0, 0, 0, 0)

    def __enter__(self) -> Transaction:
        self.org.lock.acquire()
        self.org.journal.clear()
        self._start = self.savepoint()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if exc_type is not None:
                self.rollback_to(self._start)  # a failed request leaves no trace
            self.org._commit(self)
        finally:
            self.org.journal.clear()
            self.org.lock.release()

    # --- savepoints (allOrNone, failed records) ---------------------------------------------------

    def savepoint(self) -> tuple[int, int, int, int]:
        """A point to roll back to: journal length, auto-number counters, pending changes."""
        org = self.org
        return (len(org.journal), org._order_number, org._order_item_number, len(self.pending))

    def rollback_to(self, point: tuple[int, int, int, int]) -> None:
        """Undo every write since ``point``."""
        journal, order_no, item_no, pending = point
        self.org.undo(journal)
        self.org._order_number, self.org._order_item_number = order_no, item_no
        del self.pending[pending:]

    # --- public write operations ------------------------------------------------------------------

    def create(self, object_name: str, body: dict[str, Any]) -> str:
        """Insert one record; returns its id or raises :class:`SaveFailed`."""
        obj = SCHEMA[object_name]
        if any(k.lower() == "id" for k in body if k != "attributes"):
            raise SaveFailed([ApiError("INVALID_FIELD", "cannot specify Id in an insert call", ("Id",))])
        values = self._values_from_body(obj, body, creating=True)
        missing = [f.name for f in obj.fields.values() if f.required and values.get(f.name) in (None, "")]
        if missing:
            raise SaveFailed(
                [
                    ApiError(
                        "REQUIRED_FIELD_MISSING",
                        f"Required fields are missing: [{', '.join(missing)}]",
                        tuple(missing),
                    )
                ]
            )
        record: dict[str, Any] = {name: None for name in obj.fields}
        record.update(values)
        record_id = self.org.ids.for_object(object_name)
        record.update(
            Id=record_id,
            IsDeleted=False,
            CreatedDate=self.now,
            CreatedById=self.user_id,
            LastModifiedDate=self.now,
            LastModifiedById=self.user_id,
            SystemModstamp=self.now,
        )
        if "OwnerId" in obj.fields and record["OwnerId"] is None:
            record["OwnerId"] = self.user_id
        for spec in obj.fields.values():
            if spec.type == "boolean" and record[spec.name] is None:
                record[spec.name] = (
                    spec.name in {"IsActive", "UseStandardPrice"} and object_name == "PricebookEntry"
                )
        _rules(object_name).before_insert(self, record)
        self._check_unique(obj, record, None)
        self.org.put(object_name, record)
        self._log("CREATE", obj, record_id, changed=(), nulled=(), values=self._event_values(obj, record))
        _rules(object_name).after_write(self, record, None)
        return record_id

    def update(self, object_name: str, record_id: str, body: dict[str, Any]) -> None:
        """Update one record by id (PATCH semantics: only the fields in ``body``)."""
        obj = SCHEMA[object_name]
        old = self._existing(object_name, record_id)
        values = self._values_from_body(obj, body, creating=False)
        required_nulls = [n for n, v in values.items() if v in (None, "") and not obj.fields[n].nillable]
        if required_nulls:
            raise SaveFailed(
                [
                    ApiError(
                        "REQUIRED_FIELD_MISSING",
                        f"Required fields are missing: [{', '.join(required_nulls)}]",
                        tuple(required_nulls),
                    )
                ]
            )
        new = dict(old)
        new.update(values)
        _rules(object_name).before_update(self, old, new, set(values))
        self._check_unique(obj, new, old["Id"])
        self._save_update(obj, old, new)

    def delete(self, object_name: str, record_id: str) -> None:
        """Soft-delete one record (to the recycle bin) with the cascades Salesforce applies."""
        obj = SCHEMA[object_name]
        old = self._existing(object_name, record_id)
        _rules(object_name).before_delete(self, old)
        for rel in child_relationships(object_name):
            if not rel.cascade_delete:
                continue
            for child in list(self.org.rows(rel.child_object, False)):
                if child.get(rel.field) == old["Id"]:
                    self._remove(SCHEMA[rel.child_object], child)
        self._remove(obj, old)
        _rules(object_name).after_write(self, None, old)

    def upsert(
        self,
        object_name: str,
        ext_field: FieldSpec,
        ext_value: str,
        body: dict[str, Any],
        *,
        update_only: bool = False,
    ) -> tuple[str, bool]:
        """Upsert by external id (§4.2): ``(id, created)``; 300 on several matches."""
        obj = SCHEMA[object_name]
        for key in body:
            if key.lower() in {"id", ext_field.name.lower()}:
                # UNVERIFIED (reference §4.2): older docs say putting Id or the external-ID field in the
                # body "generates an error"; the sandbox refuses with 400 to keep the connector honest.
                raise SaveFailed(
                    [
                        ApiError(
                            "INVALID_FIELD",
                            f"Unable to create/update fields: {key}. Do not specify Id or an external ID field "
                            "in the request body.",
                            (key,),
                        )
                    ]
                )
        matches = self.find_by_external_id(obj, ext_field, ext_value)
        if len(matches) > 1:
            raise SaveFailed(
                [
                    ApiError(
                        "MULTIPLE_CHOICES", f"More than one record found for {ext_field.name}: {ext_value}"
                    )
                ],
                status=300,
                matches=[f"/services/data/v{self.api_version}/sobjects/{object_name}/{m}" for m in matches],
            )
        if matches:
            self.update(object_name, matches[0], body)
            return matches[0], False
        if update_only:
            # UNVERIFIED (reference §4.2): status of updateOnly=true without a match; we answer 404.
            raise SaveFailed([ApiError("NOT_FOUND", "The requested resource does not exist")], status=404)
        new_body = dict(body)
        if ext_field.name != "Id":
            new_body[ext_field.name] = ext_value
        return self.create(object_name, new_body), True

    def find_by_external_id(self, obj: ObjectSpec, ext_field: FieldSpec, value: Any) -> list[str]:
        """Ids of live records whose external-id field equals ``value`` (case-insensitive)."""
        if ext_field.name == "Id":
            row = self.org.live(obj.name, str(value)) if is_valid_id(str(value)) else None
            return [row["Id"]] if row else []
        folded = str(value).lower()
        index = self.org.unique_index.get((obj.name, ext_field.name))
        if index is not None:
            return [index[folded]] if folded in index else []
        return [
            r["Id"]
            for r in self.org.rows(obj.name, False)
            if r.get(ext_field.name) is not None and str(r[ext_field.name]).lower() == folded
        ]

    # --- internals --------------------------------------------------------------------------------

    def _existing(self, object_name: str, record_id: str) -> dict[str, Any]:
        row = self.org.lookup(object_name, record_id)
        if row is None:
            raise SaveFailed([ApiError("NOT_FOUND", "The requested resource does not exist")], status=404)
        if row["IsDeleted"]:
            raise SaveFailed([ApiError("ENTITY_IS_DELETED", "entity is deleted")], status=404)
        return row

    def _values_from_body(self, obj: ObjectSpec, body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, raw in body.items():
            if key == "attributes":
                continue
            spec = obj.field_ci(key)
            if spec is None and isinstance(raw, dict):
                ref = obj.relationship_ci(key)
                if ref is not None:
                    values[ref.name] = self._resolve_relationship(ref, raw)
                    continue
            if spec is None:
                raise SaveFailed(
                    [
                        ApiError(
                            "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", (key,)
                        )
                    ]
                )
            allowed = spec.createable if creating else spec.updateable
            if not allowed:
                raise SaveFailed(
                    [
                        ApiError(
                            "INVALID_FIELD_FOR_INSERT_UPDATE",
                            f"Unable to create/update fields: {spec.name}. Please check the security settings "
                            "of this field and verify that it is read/write for your profile or permission set.",
                            (spec.name,),
                        )
                    ]
                )
            value = coerce_value(spec, raw)
            if spec.type == "reference" and value is not None:
                self._check_reference(spec, value)
            values[spec.name] = value
        return values

    def _resolve_relationship(self, ref: FieldSpec, raw: dict[str, Any]) -> str:
        """``"Account": {"Ext__c": "C1"}`` → the Account's id (§4.2 relationship by external id)."""
        target = SCHEMA[ref.reference_to or ""]
        keys = [k for k in raw if k != "attributes"]
        spec = target.field_ci(keys[0]) if len(keys) == 1 else None
        if spec is None or not (spec.external_id or spec.id_lookup or spec.name == "Id"):
            raise SaveFailed(
                [
                    ApiError(
                        "INVALID_FIELD",
                        f"Invalid foreign key relationship name {ref.relationship_name}",
                        (ref.name,),
                    )
                ]
            )
        value = raw[keys[0]]
        matches = self.find_by_external_id(target, spec, value)
        if not matches:
            raise SaveFailed(
                [
                    ApiError(
                        "INVALID_FIELD",
                        f"Foreign key external ID: {value} not found for field {spec.name} in entity {target.name}",
                        (ref.name,),
                    )
                ]
            )
        if len(matches) > 1:
            raise SaveFailed(
                [
                    ApiError(
                        "INVALID_FIELD",
                        f"Foreign key external ID: {value} has multiple matches for field {spec.name} in entity "
                        f"{target.name}",
                        (ref.name,),
                    )
                ]
            )
        return matches[0]

    def _check_reference(self, spec: FieldSpec, value: str) -> None:
        target = spec.reference_to or ""
        if target == "User":
            if value != self.org.user_id:
                raise SaveFailed(
                    [ApiError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", (spec.name,))]
                )
            return
        if self.org.object_of(value) != target:
            label = spec.relationship_name or spec.name
            raise SaveFailed(
                [
                    ApiError(
                        "FIELD_INTEGRITY_EXCEPTION",
                        f"{label} ID: id value of incorrect type: {value}",
                        (spec.name,),
                    )
                ]
            )
        if self.org.live(target, value) is None:
            raise SaveFailed(
                [ApiError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", (spec.name,))]
            )

    def _check_unique(self, obj: ObjectSpec, record: dict[str, Any], own_id: str | None) -> None:
        for spec in obj.fields.values():
            value = record.get(spec.name)
            if not spec.unique or value is None:
                continue
            holder = self.org.unique_index[(obj.name, spec.name)].get(str(value).lower())
            if holder is not None and holder != own_id:
                raise SaveFailed(
                    [
                        ApiError(
                            "DUPLICATE_VALUE",
                            f"duplicate value found: {spec.name} duplicates value on record with id: {holder}",
                            (spec.name,),
                        )
                    ]
                )

    def _save_update(self, obj: ObjectSpec, old: dict[str, Any], new: dict[str, Any]) -> None:
        changed = tuple(n for n in obj.fields if n not in _SYSTEM_FIELDS and old.get(n) != new.get(n))
        new.update(LastModifiedDate=self.now, LastModifiedById=self.user_id, SystemModstamp=self.now)
        self.org.put(obj.name, new)
        nulled = tuple(n for n in changed if new.get(n) is None)
        self._log(
            "UPDATE",
            obj,
            old["Id"],
            changed=(*changed, "LastModifiedDate"),
            nulled=nulled,
            values={n: new.get(n) for n in (*changed, "LastModifiedDate", "LastModifiedById")},
        )
        _rules(obj.name).after_write(self, new, old)

    def set_computed(self, object_name: str, record_id: str, computed: dict[str, Any]) -> None:
        """Store system-computed values (roll-ups, activation stamps) as an update of this request."""
        obj = SCHEMA[object_name]
        old = self.org.tables[object_name][record_id]
        if all(old.get(k) == v for k, v in computed.items()):
            return
        new = dict(old)
        new.update(computed)
        self._save_update(obj, old, new)

    def _remove(self, obj: ObjectSpec, row: dict[str, Any]) -> None:
        if obj.name == "OrderItem":
            # §5.4: directly deleted order products skip the recycle bin.
            self.org.drop(obj.name, row["Id"])
        else:
            self.org.put(
                obj.name,
                {
                    **row,
                    "IsDeleted": True,
                    "LastModifiedDate": self.now,
                    "LastModifiedById": self.user_id,
                    "SystemModstamp": self.now,
                },
            )
        self._log("DELETE", obj, row["Id"], changed=(), nulled=(), values={})

    def _event_values(self, obj: ObjectSpec, record: dict[str, Any]) -> dict[str, Any]:
        return {n: record.get(n) for n in obj.fields if n not in {"IsDeleted", "SystemModstamp"}}

    def _log(
        self,
        change_type: str,
        obj: ObjectSpec,
        record_id: str,
        *,
        changed: tuple[str, ...],
        nulled: tuple[str, ...],
        values: dict[str, Any],
    ) -> None:
        self.pending.append(PendingChange(obj.name, change_type, record_id, changed, nulled, values))


class _ObjectRules:
    """Hooks for object-specific behaviour; the default object has none."""

    def before_insert(self, tx: Transaction, record: dict[str, Any]) -> None:
        """Adjust or refuse a record about to be inserted."""

    def before_update(
        self, tx: Transaction, old: dict[str, Any], new: dict[str, Any], touched: set[str]
    ) -> None:
        """Adjust or refuse an update (``touched`` = fields named in the request body)."""

    def before_delete(self, tx: Transaction, row: dict[str, Any]) -> None:
        """Refuse a delete."""

    def after_write(self, tx: Transaction, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        """Maintain computed values elsewhere (order totals)."""


_RULES: dict[str, _ObjectRules] = {}


def register_rules(object_name: str, rules: _ObjectRules) -> None:
    """Install the rules for one object (done by ``_rules.py``)."""
    _RULES[object_name] = rules


_DEFAULT_RULES = _ObjectRules()


def _rules(object_name: str) -> _ObjectRules:
    return _RULES.get(object_name, _DEFAULT_RULES)


def iter_live(org: SalesforceOrg, object_name: str) -> Iterable[dict[str, Any]]:
    """Live records of one object."""
    return org.rows(object_name, False)
