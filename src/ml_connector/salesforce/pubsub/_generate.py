"""Regenerate ``pubsub_api_pb2.py`` and ``pubsub_api_pb2_grpc.py`` from ``pubsub_api.proto``.

Run from the repository root: ``.venv/bin/python -m ml_connector.salesforce.pubsub._generate``.
It uses grpcio-tools (pinned to the grpcio floor in ``pyproject.toml``) with ``-I src`` so the
generated imports are package-absolute (``from ml_connector.salesforce.pubsub import pubsub_api_pb2``).
Commit both generated files with the proto.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["main"]

_PROTO = "ml_connector/salesforce/pubsub/pubsub_api.proto"


def main() -> int:
    """Run protoc; returns its exit status."""
    from grpc_tools import protoc  # type: ignore[import-untyped,unused-ignore]  # dev dependency only

    src = Path(__file__).resolve().parents[3]
    return int(
        protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{src}",
                f"--python_out={src}",
                f"--grpc_python_out={src}",
                str(src / _PROTO),
            ]
        )
    )


if __name__ == "__main__":
    sys.exit(main())
