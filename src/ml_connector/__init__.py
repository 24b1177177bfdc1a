"""ml-connector: keeps a Salesforce org and an Acumatica tenant in step."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ml-connector")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
