"""Turning JSON field values from a request into stored values, with Salesforce's error bodies.

Stored values are Python types: ``str``, ``float``, ``bool``, ``date``, aware UTC ``datetime`` or None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from ml_connector.sandbox.salesforce._ids import is_valid_id, to_18
from ml_connector.sandbox.salesforce._schema import TEXT_TYPES, FieldSpec

__all__ = ["ApiError", "SaveFailed", "coerce_value", "parse_datetime"]


@dataclass(frozen=True)
class ApiError:
    """One REST error: ``errorCode`` (``statusCode`` in collection results), message, fields."""

    code: str
    message: str
    fields: tuple[str, ...] = ()

    def rest(self) -> dict[str, Any]:
        """The top-level REST form (§2.3): ``{"message", "errorCode", "fields"}``."""
        return {"message": self.message, "errorCode": self.code, "fields": list(self.fields)}

    def per_record(self) -> dict[str, Any]:
        """The per-record form inside collection results (§4.3): ``statusCode`` not ``errorCode``."""
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields)}


@dataclass
class SaveFailed(Exception):
    """A record write was refused; ``status`` is the HTTP status of a single-record call."""

    errors: list[ApiError]
    status: int = 400
    matches: list[str] = field(default_factory=list)  # for 300 Multiple Choices

    def __str__(self) -> str:
        return "; ".join(f"{e.code}: {e.message}" for e in self.errors)


_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(Z|[+-]\d{2}:?\d{2})?$")


def parse_datetime(text: str) -> datetime:
    """Parse the dateTime strings the REST API accepts (``…Z``, ``…+0000``, ``…+00:00``, with ms)."""
    match = _DATETIME.match(text.strip())
    if not match:
        raise ValueError(text)
    day, clock, zone = match.groups()
    zone = zone or "Z"
    if zone != "Z" and ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    parsed = datetime.fromisoformat(f"{day}T{clock}{'+00:00' if zone == 'Z' else zone}")
    return parsed.astimezone(UTC)


def _json_error(spec: FieldSpec, value: Any) -> ApiError:
    kind = {"datetime": "datetime", "date": "date", "boolean": "boolean", "double": "double"}.get(
        spec.type, "double" if spec.type == "currency" else "String"
    )
    token = (
        "VALUE_STRING"
        if isinstance(value, str)
        else "VALUE_NUMBER_INT"
        if isinstance(value, int)
        else "VALUE"
    )
    return ApiError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from {token} value {value} or request may be missing a "
        f"required field at [line:1, column:1]",
    )


def coerce_value(spec: FieldSpec, value: Any) -> Any:
    """The stored form of ``value`` for ``spec``, or raise :class:`SaveFailed` with the API's error."""
    if value is None:
        return None
    ftype = spec.type
    if ftype in TEXT_TYPES:
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int | float):
            value = str(value)
        elif not isinstance(value, str):
            raise SaveFailed([_json_error(spec, value)])
        if spec.restricted_picklist and value not in spec.picklist:
            raise SaveFailed(
                [
                    ApiError(
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        f"{spec.label or spec.name}: bad value for restricted picklist field: {value}",
                        (spec.name,),
                    )
                ]
            )
        if spec.length and len(value) > spec.length:
            raise SaveFailed(
                [
                    ApiError(
                        "STRING_TOO_LONG",
                        f"{spec.label or spec.name}: data value too large: {value} (max length={spec.length})",
                        (spec.name,),
                    )
                ]
            )
        if ftype == "email" and value and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise SaveFailed(
                [ApiError("INVALID_EMAIL_ADDRESS", f"Email: invalid email address: {value}", (spec.name,))]
            )
        return value
    if ftype == "boolean":
        if not isinstance(value, bool):
            raise SaveFailed([_json_error(spec, value)])
        return value
    if ftype in {"double", "currency"}:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise SaveFailed([_json_error(spec, value)])
        try:
            return float(value)
        except ValueError:
            raise SaveFailed([_json_error(spec, value)]) from None
    if ftype == "date":
        if not isinstance(value, str):
            raise SaveFailed([_json_error(spec, value)])
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise SaveFailed([_json_error(spec, value)]) from None
    if ftype == "datetime":
        if not isinstance(value, str):
            raise SaveFailed([_json_error(spec, value)])
        try:
            return parse_datetime(value)
        except ValueError:
            raise SaveFailed([_json_error(spec, value)]) from None
    if ftype in {"reference", "id"}:
        if not isinstance(value, str):
            raise SaveFailed([_json_error(spec, value)])
        if not is_valid_id(value):
            label = (spec.relationship_name or spec.name).replace("__r", "")
            raise SaveFailed(
                [ApiError("MALFORMED_ID", f"{label} ID: id value of incorrect type: {value}", (spec.name,))]
            )
        return to_18(value)
    return value
