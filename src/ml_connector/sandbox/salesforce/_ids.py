"""Salesforce record ids: 15-character case-sensitive ids plus the 3-character case-safe suffix.

An id is a 3-character key prefix naming the object (``001`` Account, ``801`` Order, ...), a
2-character instance/pod part, one reserved character and a 9-character base-62 sequence. The
18-character form appends a checksum that encodes, for each 5-character chunk, which characters are
upper-case letters — so the id survives case-insensitive systems.
"""

from __future__ import annotations

import re
import string

__all__ = [
    "KEY_PREFIXES",
    "IdFactory",
    "case_safe_suffix",
    "is_valid_id",
    "to_18",
]

KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "Order": "801",
    "OrderItem": "802",
    "Product2": "01t",
    "Pricebook2": "01s",
    "PricebookEntry": "01u",
    "Organization": "00D",
    "User": "005",
    "QueryLocator": "01g",
}

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX_ALPHABET = string.ascii_uppercase + "012345"
_ID_SHAPE = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Z]{3})?$")


def case_safe_suffix(id15: str) -> str:
    """The three checksum characters that turn a 15-character id into its 18-character form."""
    if len(id15) != 15:
        raise ValueError(f"expected a 15-character id, got {id15!r}")
    suffix = []
    for chunk_start in range(0, 15, 5):
        bits = 0
        for position, char in enumerate(id15[chunk_start : chunk_start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix.append(_SUFFIX_ALPHABET[bits])
    return "".join(suffix)


def to_18(record_id: str) -> str:
    """Normalise a 15- or 18-character id to 18 characters (the REST API always returns 18)."""
    if len(record_id) == 18:
        return record_id[:15] + case_safe_suffix(record_id[:15])
    return record_id + case_safe_suffix(record_id)


def is_valid_id(record_id: str) -> bool:
    """True for a well-formed 15- or 18-character id whose checksum (if present) matches."""
    if not _ID_SHAPE.match(record_id):
        return False
    return len(record_id) == 15 or record_id[15:] == case_safe_suffix(record_id[:15])


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(_BASE62[rem])
    if number:
        raise OverflowError("id sequence exhausted")
    return "".join(reversed(chars))


class IdFactory:
    """Hands out fresh 18-character ids per key prefix, deterministic from a start number."""

    def __init__(self, pod: str = "Dn", start: int = 1_000_000) -> None:
        if len(pod) != 2:
            raise ValueError("pod must be two characters")
        self._pod = pod
        self._start = start
        self._next: dict[str, int] = {}

    def new(self, key_prefix: str) -> str:
        """A new id with ``key_prefix`` (``001``, ``801``, ...)."""
        sequence = self._next.get(key_prefix, self._start)
        self._next[key_prefix] = sequence + 1
        id15 = f"{key_prefix}{self._pod}0{_base62(sequence, 9)}"
        return id15 + case_safe_suffix(id15)

    def for_object(self, object_name: str) -> str:
        """A new id for a record of ``object_name``."""
        return self.new(KEY_PREFIXES[object_name])

    def reset(self) -> None:
        """Start every sequence over (used by the sandbox reset)."""
        self._next.clear()
