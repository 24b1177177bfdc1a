"""A faithful fake of Acumatica's contract-based REST API (shared/reference/acumatica-api.md, §11).

Served under an optional instance path: ``GET /entity``, OAuth (``/identity/connect/token``) and
cookie sign-in with licence seats, Customer / Contact / StockItem / SalesInvoice / Payment with the
real record shape, PUT upsert, ``$filter``/``$select``/``$expand``/``$custom``/``$top``/``$skip``,
actions with 202 polling, the licence request limits of §7, and ``/_sandbox/`` controls.

Typical use in a test::

    sb = AcumaticaSandbox()
    sb.seed()
    transport = SandboxTransport(sb.app)
"""

from ._auth import Credentials
from ._limits import LicenceLimits, LimitStats
from ._sandbox import DEFAULT_ENDPOINTS, AcumaticaSandbox
from ._wire import ServerTime

__all__ = [
    "DEFAULT_ENDPOINTS",
    "AcumaticaSandbox",
    "Credentials",
    "LicenceLimits",
    "LimitStats",
    "ServerTime",
]
