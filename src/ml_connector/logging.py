"""Structured logs (structlog) on stderr, console or JSON, with secrets redacted at every level.

The redaction processor replaces the value of any key that looks like it holds a secret (password,
token, secret, authorization, cookie, …) at any depth of the event, and any pydantic ``SecretStr``.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

import structlog
from pydantic import SecretBytes, SecretStr

__all__ = ["REDACTED", "configure_logging", "get_logger", "redact", "redact_secrets"]

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"(pass(word)?|secret|token|authori[sz]ation|cookie|api[_-]?key|private[_-]?key|credential|session[_-]?id|signature)",
    re.IGNORECASE,
)


def redact(value: Any, key: str | None = None) -> Any:
    """Return ``value`` with secret-like keys and SecretStr values replaced, recursively."""
    if key is not None and _SECRET_KEY.search(key) and value not in (None, "", {}):
        return REDACTED
    if isinstance(value, SecretStr | SecretBytes):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact secret-like keys anywhere in the event."""
    for key in list(event_dict):
        if key != "event":
            event_dict[key] = redact(event_dict[key], key)
    return event_dict


def configure_logging(*, debug: bool = False, log_format: Literal["console", "json"] = "console") -> None:
    """Set up structlog (and the stdlib loggers of the libraries we use) for the CLI."""
    level = logging.DEBUG if debug else logging.INFO
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info if log_format == "json" else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Library loggers (httpx2 logs request lines with URLs only; never bodies or headers) go through
    # the same redaction and renderer, so ``--log-format json`` gives one JSON object per line.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                redact_secrets,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *([structlog.processors.format_exc_info] if log_format == "json" else []),
                renderer,
            ],
        )
    )
    logging.basicConfig(level=logging.WARNING if not debug else logging.DEBUG, handlers=[handler], force=True)
    for noisy in ("httpcore2", "httpcore", "hpack", "grpc", "asyncio", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger bound to ``name``."""
    return structlog.get_logger(name)
