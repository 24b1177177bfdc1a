"""The config file ``ml-connector.toml``, validated by pydantic, with ``ML_CONNECTOR_…`` overrides.

Environment variables override the file, nested keys joined by ``__``:
``ML_CONNECTOR_ACUMATICA__ENDPOINT_VERSION=24.200.001``. No secret is ever read from the file (or
from these variables): secrets live in the encrypted vault (``ml-connector credentials set``).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ml_connector.errors import ConfigError

__all__ = [
    "AcumaticaSettings",
    "ConnectorConfig",
    "DatabaseSettings",
    "FlowSettings",
    "FlowsSettings",
    "MappingSettings",
    "SalesforceSettings",
    "default_config_path",
    "load_config",
    "render_template",
]

CONFIG_FILENAME = "ml-connector.toml"
ENV_PREFIX = "ML_CONNECTOR_"

# Keys that would hold a secret. They are refused in the file with a pointer to the vault.
SECRET_KEYS = frozenset(
    {
        "client_secret",
        "password",
        "refresh_token",
        "access_token",
        "secret",
        "token",
        "api_key",
        "private_key",
    }
)

_INTERVAL = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_INTERVAL_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    """Where the state store lives."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite file data/state.db beside the config file",
    )

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("only sqlite:/// and postgresql+psycopg:// URLs are supported")
        return value


class SalesforceSettings(_Section):
    """The Salesforce org: My Domain login URL, API version and the connected app's client id."""

    my_domain_url: HttpUrl = Field(description="https://<yourdomain>.my.salesforce.com (token endpoint host)")
    api_version: str = "62.0"
    client_id: str = Field(min_length=1, description="the connected app's consumer key")
    call_options_client: str = Field(default="ml-connector", pattern=r"^[A-Za-z0-9_\-]{1,40}$")
    api_budget_percent: float = Field(default=80.0, gt=0, le=100)
    session_timeout_seconds: float | None = Field(default=None, gt=0)
    pubsub_endpoint: str = Field(
        default="api.pubsub.salesforce.com:7443",
        pattern=r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$",
        description="host:port of the Pub/Sub API (Change Data Capture)",
    )

    @field_validator("api_version")
    @classmethod
    def _version_shape(cls, value: str) -> str:
        if not re.fullmatch(r"\d{2,3}\.0", value):
            raise ValueError("API version looks like 62.0")
        return value


class AcumaticaSettings(_Section):
    """The Acumatica tenant: instance URL (with any path), endpoint, OAuth client, API user."""

    instance_url: HttpUrl = Field(description="e.g. https://erp.example.com/AcumaticaERP")
    endpoint_name: str = "Default"
    endpoint_version: str = "24.200.001"
    tenant: str = Field(min_length=1)
    client_id: str = Field(description="the connected application's id, <GUID>@<Tenant>")
    username: str = Field(min_length=1)
    requests_per_minute: int | None = Field(default=None, gt=0, description="the licence's per-minute figure")
    max_concurrent_requests: int = Field(default=8, gt=0, le=200)

    @field_validator("endpoint_version")
    @classmethod
    def _endpoint_version_shape(cls, value: str) -> str:
        if not re.fullmatch(r"\d{2}\.\d{3}\.\d{3}", value):
            raise ValueError("endpoint version looks like 24.200.001")
        return value

    @model_validator(mode="after")
    def _client_id_names_tenant(self) -> AcumaticaSettings:
        guid, sep, tenant = self.client_id.partition("@")
        if not sep or not re.fullmatch(r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}", guid):
            raise ValueError(
                "acumatica.client_id must be <GUID>@<Tenant> as shown on the Connected Applications screen"
            )
        if tenant != self.tenant:
            raise ValueError(
                f"acumatica.client_id names tenant {tenant!r} but acumatica.tenant is {self.tenant!r}"
            )
        return self


class FlowSettings(_Section):
    """One flow: on or off, and how often its safety-net poll runs (``5m`` or a cron line)."""

    enabled: bool = True
    schedule: str = "5m"

    @field_validator("schedule")
    @classmethod
    def _schedule_shape(cls, value: str) -> str:
        if _INTERVAL.match(value) or croniter.is_valid(value):
            return value
        raise ValueError("use an interval such as '5m', '30s', '1h' or a cron line such as '*/5 * * * *'")

    @property
    def interval_seconds(self) -> int | None:
        """The poll interval in seconds, or None when the schedule is a cron line."""
        match = _INTERVAL.match(self.schedule)
        return int(match.group(1)) * _INTERVAL_SECONDS[match.group(2)] if match else None


class FlowsSettings(_Section):
    """The four flows of DESIGN.md."""

    accounts: FlowSettings = FlowSettings()
    contacts: FlowSettings = FlowSettings()
    orders: FlowSettings = FlowSettings(schedule="2m")
    credit: FlowSettings = FlowSettings(schedule="15m")
    overlap_minutes: float = Field(default=5.0, ge=0, description="re-read window behind each cursor")
    max_attempts: int = Field(default=5, ge=1, description="attempts before a parked record stops retrying")


class MappingSettings(_Section):
    """Field names on both sides; the defaults are the custom fields the install guide creates."""

    account_customer_id_field: str = "Acumatica_Customer_ID__c"
    account_status_field: str = "Acumatica_Status__c"
    account_credit_limit_field: str = "Acumatica_Credit_Limit__c"
    account_ar_balance_field: str = "Acumatica_AR_Balance__c"
    account_synced_at_field: str = "Acumatica_Synced_At__c"
    product_item_field: str = "ERP_Item_No__c"
    order_invoice_nbr_field: str | None = "Acumatica_Invoice_Nbr__c"
    order_invoice_status_field: str | None = "Acumatica_Invoice_Status__c"
    customer_class: str = "DEFAULT"
    customer_id_strategy: Literal["account_number", "salesforce_id", "auto"] = "account_number"
    deleted_account_action: Literal["inactivate", "ignore"] = "inactivate"
    release_invoices: bool = False
    warehouse_id: str | None = None

    @field_validator(
        "account_customer_id_field",
        "account_status_field",
        "account_credit_limit_field",
        "account_ar_balance_field",
        "account_synced_at_field",
        "product_item_field",
        "order_invoice_nbr_field",
        "order_invoice_status_field",
    )
    @classmethod
    def _field_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,79}", value):
            raise ValueError("a Salesforce field API name, such as ERP_Item_No__c")
        return value


class ConnectorConfig(BaseSettings):
    """The whole configuration of one connection (one SF org ⇄ one Acumatica tenant)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    connection: str = Field(default="default", pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    data_dir: Path = Path("data")
    key_file: Path | None = None
    database: DatabaseSettings = DatabaseSettings()
    salesforce: SalesforceSettings
    acumatica: AcumaticaSettings
    flows: FlowsSettings = FlowsSettings()
    mapping: MappingSettings = MappingSettings()
    # Where the file was read from; paths in it are relative to its folder.
    config_path: Path | None = Field(default=None, exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first, then the file's values (passed in as init kwargs)."""
        return (env_settings, init_settings)

    @property
    def base_dir(self) -> Path:
        """The folder relative paths are resolved against (the config file's folder)."""
        return self.config_path.parent if self.config_path else Path.cwd()

    @property
    def data_path(self) -> Path:
        """The data directory (state DB, key file by default)."""
        return self.data_dir if self.data_dir.is_absolute() else self.base_dir / self.data_dir

    @property
    def key_path(self) -> Path:
        """Where the master key file lives."""
        if self.key_file is None:
            return self.data_path / "master.key"
        return self.key_file if self.key_file.is_absolute() else self.base_dir / self.key_file

    @property
    def database_url(self) -> str:
        """The state store URL; relative SQLite paths are taken from the config file's folder."""
        url = self.database.url
        if url is None:
            return f"sqlite:///{self.data_path / 'state.db'}"
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and ":memory:" not in url:
            return f"sqlite:///{self.base_dir / url.removeprefix('sqlite:///')}"
        return url


def default_config_path() -> Path:
    """``$ML_CONNECTOR_CONFIG`` or ``./ml-connector.toml``."""
    import os

    return Path(os.environ.get(f"{ENV_PREFIX}CONFIG", CONFIG_FILENAME))


def _secret_paths(data: Any, prefix: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if str(key).lower() in SECRET_KEYS:
                found.append(path)
            found.extend(_secret_paths(value, path))
    return found


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; `ml-connector init` writes a commented template)"
        elif item["type"] == "missing":
            message = "required key is missing"
        parts.append(f"{path}: {message}")
    return "; ".join(parts)


def load_config(path: Path | None = None) -> ConnectorConfig:
    """Read, check and return the config; every problem is a ConfigError naming the key path."""
    path = path or default_config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found",
            hint="run `ml-connector init` to create one, or pass --config PATH",
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}", hint="fix the syntax at the position shown"
        ) from None
    secrets = _secret_paths(data)
    if secrets:
        raise ConfigError(
            f"{path}: {', '.join(secrets)}: secrets are never read from the config file",
            hint="remove them and store them encrypted with `ml-connector credentials set salesforce|acumatica`",
        )
    try:
        return ConnectorConfig(**data, config_path=path.resolve())
    except ValidationError as exc:
        raise ConfigError(
            f"{path}: {_describe(exc)}", hint="correct the key(s) named and run again"
        ) from None


CONFIG_TEMPLATE = """\
# ml-connector configuration. Secrets are NOT kept here: store them encrypted with
#   ml-connector credentials set salesforce
#   ml-connector credentials set acumatica
# Any key can be overridden from the environment: ML_CONNECTOR_<SECTION>__<KEY>, e.g.
#   ML_CONNECTOR_ACUMATICA__ENDPOINT_VERSION=24.200.001

# Name of this connection (one Salesforce org <-> one Acumatica tenant).
connection = "default"
# Folder for the state database and the master key file, relative to this file.
data_dir = "data"

[database]
# Default: SQLite file data/state.db. For production and scale-out use PostgreSQL:
# url = "postgresql+psycopg://ml_connector@db.internal:5432/ml_connector"

[salesforce]
# Your org's My Domain login URL (Setup > My Domain). The token is fetched here; API calls then go to
# the instance_url the token response names.
my_domain_url = "{sf_url}"
api_version = "62.0"
# Consumer key of the connected app with the client credentials flow enabled.
client_id = "{sf_client_id}"
# Shown as changeOrigin on CDC events, so the connector can ignore its own writes.
call_options_client = "ml-connector"
# Change Data Capture arrives over the Pub/Sub API (gRPC); `ml-connector run` subscribes here.
pubsub_endpoint = "{sf_pubsub}"
# Stop starting new work above this share of the org's daily API allocation.
api_budget_percent = 80

[acumatica]
# The instance URL including any path (e.g. /AcumaticaERP).
instance_url = "{acu_url}"
# Contract-based endpoint and its exact version (see System > Web Service Endpoints).
endpoint_name = "Default"
endpoint_version = "{acu_version}"
tenant = "{acu_tenant}"
# Client ID from the Connected Applications screen: <GUID>@<Tenant>.
client_id = "{acu_client_id}"
# The API user the connector signs in as.
username = "{acu_username}"
# Your licence's API request limit per minute (leave out to let the server pace us).
# requests_per_minute = 1200
max_concurrent_requests = 8

[flows]
# Minutes re-read behind each cursor (absorbed by content hashes); attempts before a record stays parked.
overlap_minutes = 5
max_attempts = 5

[flows.accounts]   # Salesforce Account -> Acumatica Customer
enabled = true
schedule = "5m"

[flows.contacts]   # Salesforce Contact -> Acumatica Contact
enabled = true
schedule = "5m"

[flows.orders]     # activated Salesforce Order -> Acumatica Sales Invoice
enabled = true
schedule = "2m"

[flows.credit]     # Acumatica status, credit limit, AR balance -> Salesforce Account
enabled = true
schedule = "15m"   # or a cron line: "*/15 * * * *"

[mapping]
account_customer_id_field = "Acumatica_Customer_ID__c"
account_status_field = "Acumatica_Status__c"
account_credit_limit_field = "Acumatica_Credit_Limit__c"
account_ar_balance_field = "Acumatica_AR_Balance__c"
account_synced_at_field = "Acumatica_Synced_At__c"
product_item_field = "ERP_Item_No__c"
order_invoice_nbr_field = "Acumatica_Invoice_Nbr__c"
order_invoice_status_field = "Acumatica_Invoice_Status__c"
customer_class = "DEFAULT"
# account_number (when valid for the CustomerID key), salesforce_id, or auto (Acumatica numbers it)
customer_id_strategy = "account_number"
deleted_account_action = "inactivate"
# Releasing posts the invoice to the general ledger: off unless your finance team wants it.
release_invoices = false
"""

TEMPLATE_DEFAULTS = {
    "sf_url": "https://yourcompany.my.salesforce.com",
    "sf_client_id": "your-connected-app-consumer-key",
    "sf_pubsub": "api.pubsub.salesforce.com:7443",
    "acu_url": "https://yourcompany.acumatica.com/AcumaticaERP",
    "acu_version": "24.200.001",
    "acu_tenant": "Company",
    "acu_client_id": "00000000-0000-0000-0000-000000000000@Company",
    "acu_username": "api-user",
}


def render_template(**values: str) -> str:
    """The commented config template, with the given values filled in."""
    return CONFIG_TEMPLATE.format(**{**TEMPLATE_DEFAULTS, **values})
