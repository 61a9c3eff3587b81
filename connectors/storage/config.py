"""How the service reaches Azure Storage: one :class:`StorageConfig`, read from the environment.

Locally: a connection string (Azurite's well-known dev account; ``UseDevelopmentStorage=true``
is accepted and expanded). In Azure: identity-based access, an account name (or service URIs)
plus ``DefaultAzureCredential`` (managed identity, optionally a user-assigned client id), so no
key is ever deployed.

Environment, first match wins:

1. ``TAP365_STORAGE_CONNECTION_STRING``
2. ``TAP365_STORAGE_ACCOUNT_NAME`` or ``TAP365_STORAGE_BLOB_URI``/``_QUEUE_URI``/``_TABLE_URI``
   (with ``TAP365_STORAGE_CLIENT_ID`` for a user-assigned managed identity)
3. ``AzureWebJobsStorage`` (the Functions host's own connection string)
4. ``AzureWebJobsStorage__accountName`` or ``AzureWebJobsStorage__blobServiceUri``/
   ``__queueServiceUri``/``__tableServiceUri`` (with ``AzureWebJobsStorage__clientId``)
5. nothing: ``UseDevelopmentStorage=true`` (Azurite on its default ports)

Plus ``TAP365_STORAGE_PREFIX`` (table/container/queue name prefix, default ``tap``),
``TAP365_STORAGE_MAX_DEQUEUE_COUNT`` and ``TAP365_STORAGE_MAX_ARTEFACT_BYTES``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

#: Azurite's well-known development account (public, documented by Microsoft; not a secret).
DEV_ACCOUNT_NAME = "devstoreaccount1"
DEV_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_DEV_SHORTCUT = re.compile(r"^\s*UseDevelopmentStorage\s*=\s*true\s*;?\s*$", re.IGNORECASE)
_PREFIX = re.compile(r"^[a-z][a-z0-9]{0,19}$")


def azurite_connection_string(blob_port: int = 10000, queue_port: int = 10001, table_port: int = 10002,
                              *, host: str = "127.0.0.1") -> str:
    """The explicit Azurite connection string (what ``UseDevelopmentStorage=true`` stands for)."""
    base = f"http://{host}:{{}}/{DEV_ACCOUNT_NAME}"
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT_NAME};AccountKey={DEV_ACCOUNT_KEY};"
        f"BlobEndpoint={base.format(blob_port)};QueueEndpoint={base.format(queue_port)};"
        f"TableEndpoint={base.format(table_port)};"
    )


class StorageConfig(BaseModel):
    """Where the stores live and how to authenticate. Secrets are :class:`SecretStr` (never in reprs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: A full connection string (local development, tests). Takes precedence over identity.
    connection_string: SecretStr | None = None
    #: Storage account name for identity-based access (service URIs derived from it).
    account_name: str | None = None
    blob_uri: str | None = None
    queue_uri: str | None = None
    table_uri: str | None = None
    #: Client id of a user-assigned managed identity (empty: system-assigned / developer login).
    managed_identity_client_id: str | None = None
    #: Prefix of every table, container and queue name, so several deployments (or test runs)
    #: can share one account. Lowercase letters and digits, starting with a letter.
    prefix: str = "tap"
    #: Dequeues after which the local host moves a queue message to ``<queue>-poison``
    #: (the Functions default, ``host.json`` ``extensions.queues.maxDequeueCount``).
    max_dequeue_count: int = Field(default=5, ge=1, le=100)
    #: Largest raw artefact (e.g. an original attachment) the blob store accepts.
    max_artefact_bytes: int = Field(default=150 * 1024 * 1024, ge=1)

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError(
                "storage prefix must be 1-20 lowercase letters/digits starting with a letter "
                "(it becomes part of table, container and queue names)"
            )
        return value

    @model_validator(mode="after")
    def _check_target(self) -> StorageConfig:
        identity = self.account_name or (self.blob_uri and self.queue_uri and self.table_uri)
        if self.connection_string is None and not identity:
            raise ValueError(
                "storage needs a connection string, an account name, or all three service URIs "
                "(set TAP365_STORAGE_CONNECTION_STRING or TAP365_STORAGE_ACCOUNT_NAME)"
            )
        return self

    # -- resource names (the Functions bindings name the queues too) -------------------------
    @property
    def notifications_queue(self) -> str:
        return f"{self.prefix}-notifications"

    @property
    def delayed_queue(self) -> str:
        return f"{self.prefix}-delayed"

    def table_name(self, store: str) -> str:
        return f"{self.prefix}{store}"

    def container_name(self, store: str) -> str:
        return f"{self.prefix}-{store}"

    # -- reading the environment -------------------------------------------------------------
    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> StorageConfig:
        """Build from environment variables (see the module docstring for names and precedence)."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        values: dict[str, Any] = {}
        for name, field in (("PREFIX", "prefix"), ("MAX_DEQUEUE_COUNT", "max_dequeue_count"),
                            ("MAX_ARTEFACT_BYTES", "max_artefact_bytes")):
            if get(f"TAP365_STORAGE_{name}"):
                values[field] = get(f"TAP365_STORAGE_{name}")

        own = {f: get(f"TAP365_STORAGE_{n}") for n, f in (
            ("ACCOUNT_NAME", "account_name"), ("BLOB_URI", "blob_uri"), ("QUEUE_URI", "queue_uri"),
            ("TABLE_URI", "table_uri"), ("CLIENT_ID", "managed_identity_client_id"))}
        functions = {f: get(f"AzureWebJobsStorage__{n}") for n, f in (
            ("accountName", "account_name"), ("blobServiceUri", "blob_uri"),
            ("queueServiceUri", "queue_uri"), ("tableServiceUri", "table_uri"),
            ("clientId", "managed_identity_client_id"))}
        if get("TAP365_STORAGE_CONNECTION_STRING"):
            values["connection_string"] = get("TAP365_STORAGE_CONNECTION_STRING")
        elif own["account_name"] or own["blob_uri"]:
            values.update({k: v for k, v in own.items() if v})
        elif get("AzureWebJobsStorage"):
            values["connection_string"] = get("AzureWebJobsStorage")
        elif functions["account_name"] or functions["blob_uri"]:
            values.update({k: v for k, v in functions.items() if v})
        else:
            values["connection_string"] = "UseDevelopmentStorage=true"
        values.update(overrides)
        return cls(**values)

    # -- clients -------------------------------------------------------------------------------
    def _connection_string(self) -> str | None:
        if self.connection_string is None:
            return None
        value = self.connection_string.get_secret_value()
        # The SDKs accept the shortcut too, but expanding it here gives one code path and lets
        # the explicit form carry other ports.
        return azurite_connection_string() if _DEV_SHORTCUT.match(value) else value

    def _uri(self, service: str) -> str:
        explicit = {"blob": self.blob_uri, "queue": self.queue_uri, "table": self.table_uri}[service]
        if explicit:
            return explicit.rstrip("/")
        return f"https://{self.account_name}.{service}.core.windows.net"

    def credential(self) -> TokenCredential:
        """``DefaultAzureCredential``: managed identity in Azure, the developer's login elsewhere."""
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential(managed_identity_client_id=self.managed_identity_client_id)

    def blob_service(self) -> BlobServiceClient:
        from azure.storage.blob import BlobServiceClient

        conn = self._connection_string()
        if conn:
            return BlobServiceClient.from_connection_string(conn)
        return BlobServiceClient(self._uri("blob"), credential=self.credential())

    def queue_service(self) -> QueueServiceClient:
        from azure.storage.queue import QueueServiceClient

        conn = self._connection_string()
        if conn:
            return QueueServiceClient.from_connection_string(conn)
        return QueueServiceClient(self._uri("queue"), credential=self.credential())

    def table_service(self) -> TableServiceClient:
        from azure.data.tables import TableServiceClient

        conn = self._connection_string()
        if conn:
            return TableServiceClient.from_connection_string(conn)
        return TableServiceClient(self._uri("table"), credential=self.credential())

    def describe(self) -> str:
        """Where the stores are, for logs: never a key or a connection string."""
        conn = self._connection_string()
        if conn:
            parts = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
            where = parts.get("BlobEndpoint") or parts.get("AccountName", "?")
            return f"storage {where} (connection string), prefix {self.prefix!r}"
        return f"storage {self._uri('blob')} (managed identity), prefix {self.prefix!r}"
