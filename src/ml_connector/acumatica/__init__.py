"""Async client of Acumatica's contract-based REST API (shared/reference/acumatica-api.md).

``AcumaticaClient`` talks to ``<instance>/entity/<endpoint>/<version>/`` with OAuth (rotating refresh
tokens), returns plain Python records (Decimals, offset-aware datetimes, ``None`` for ``{}``) and maps
the API's failures onto :mod:`ml_connector.errors`. ``odata`` builds ``$filter`` expressions with
escaped literals.
"""

from . import _odata as odata
from ._auth import AcumaticaAuth, SeatsExhausted
from ._client import KEY_FIELDS, AcumaticaClient
from ._values import unwrap_record, wrap_record

__all__ = [
    "KEY_FIELDS",
    "AcumaticaAuth",
    "AcumaticaClient",
    "SeatsExhausted",
    "odata",
    "unwrap_record",
    "wrap_record",
]
